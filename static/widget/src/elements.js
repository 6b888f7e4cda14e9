// The widget as custom elements, for pages and frameworks (React, Vue, Svelte) that render
// markup rather than call a script: attributes in, DOM events out (`uplift:*` events bubble
// from the element up to the document). The same core as Uplift.mount and Uplift.open:
//
//   <uplift-offers placement="billing" display="banner"></uplift-offers>
//   <uplift-pricing></uplift-pricing>                 (the `plans` placement's pricing table)
//   <uplift-upgrade offer="offer_basic_to_pro">Upgrade to Pro</uplift-upgrade>
import { element } from './dom.js';
import { prefetch } from './parts.js';
import { phrase } from './strings.js';
import { styleSheets } from './styles.js';

// A placement's element: drawn when connected, and again when an attribute changes (once per
// turn of the event loop, however many change together).
function placementElement(mount, pricing) {
  return class extends HTMLElement {
    static get observedAttributes() {
      return ['placement', 'display'];
    }

    connectedCallback() {
      this.schedule();
    }

    attributeChangedCallback() {
      this.schedule();
    }

    schedule() {
      if (this.pending) return;
      this.pending = true;
      queueMicrotask(() => {
        this.pending = false;
        if (!this.isConnected) return;
        const placement = this.getAttribute('placement') || (pricing ? 'plans' : undefined);
        const style = pricing ? 'pricing' : this.getAttribute('display') || undefined;
        mount(this, { placement, style });
      });
    }
  };
}

// <uplift-upgrade offer="ID">: a button (its text the element's content, else "Upgrade") that
// opens the upgrade modal for the offer.
function upgradeElement(open) {
  return class extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const root = this.attachShadow({ mode: 'open' });
      root.adoptedStyleSheets = styleSheets();
      const label = element('slot', null, phrase('upgrade'));
      const action = element('button', { type: 'button', class: 'primary', part: 'button' }, label);
      action.addEventListener('click', () => open(this.getAttribute('offer'), action));
      prefetch('modal'); // so that the click opens it at once
      root.appendChild(element('span', { class: 'uplift inline' }, action));
    }
  };
}

// Registers the elements, unless the page (or another copy of the widget) already has them.
export function defineElements({ mount, open }) {
  const registry = window.customElements;
  if (!registry) return;
  const elements = {
    'uplift-offers': () => placementElement(mount, false),
    'uplift-pricing': () => placementElement(mount, true),
    'uplift-upgrade': () => upgradeElement(open),
  };
  for (const [name, make] of Object.entries(elements)) {
    if (!registry.get(name)) registry.define(name, make());
  }
}
