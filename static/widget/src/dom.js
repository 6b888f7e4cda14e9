// Building the widget's DOM: createElement, setAttribute and text nodes only, never HTML
// from a string, never an inline handler (tests/widget/test_widget_source.py).
import { safely } from './events.js';
import { styleSheets } from './styles.js';

// element('p', {class: 'muted'}, 'text', childNode, …): attributes, then children; a child
// that is null or false is left out, a string becomes a text node.
export function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (name.startsWith('on')) continue; // never an inline handler
    if (value != null) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function button(label, className, handleClick, attributes) {
  const attributesWithType = { type: 'button', class: className || null, ...attributes };
  const node = element('button', attributesWithType, label);
  node.addEventListener('click', safely(handleClick, 'click'));
  return node;
}

// A `<div data-uplift>` appended to `parent`, with an open shadow root wearing the widget's
// stylesheets; the root is returned. Nothing of the page's CSS reaches in, nothing leaks out.
export function shadowHost(parent) {
  const host = element('div', { 'data-uplift': '' });
  const root = host.attachShadow({ mode: 'open' });
  root.adoptedStyleSheets = styleSheets();
  parent.appendChild(host);
  return root;
}
