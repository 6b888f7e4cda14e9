// The modal dialog every screen uses (upgrade, post-order, retention), and the two parts
// those screens share: the error screen with its Retry, and the countdown.
import { element, button, shadowHost } from './dom.js';
import { reportError, safely } from './events.js';
import { formatDuration } from './format.js';
import { customerMessage, phrase } from './strings.js';

const FOCUSABLE = 'button:not([disabled]),a[href],[tabindex]:not([tabindex="-1"])';

let current = null; // one dialog at a time: a new one replaces the open one

// A modal dialog in its own shadow root: labelled by its heading, focus moved in and kept
// inside, Escape, the close button and a click on the backdrop close it (`onClose('dismiss')`),
// and focus goes back to `opener`.
export function openDialog(opener, onClose) {
  current?.close('replaced');
  const root = shadowHost(document.body);
  const title = element('h2', { id: 'uplift-title', tabindex: '-1' });
  const live = element('div', {
    class: 'visually-hidden',
    'aria-live': 'polite',
    'aria-atomic': 'true',
  });
  const body = element('div');
  const closeButton = button('\u00d7', 'close', () => dialog.close('dismiss'), {
    'aria-label': phrase('close'),
  });
  const box = element(
    'div',
    { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'uplift-title' },
    closeButton,
    title,
    live,
    body,
  );
  const overlay = element('div', { class: 'uplift overlay' }, box);
  const timers = [];
  let closed = false;

  overlay.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      dialog.close('dismiss');
      return;
    }
    if (event.key !== 'Tab') return;
    const focusable = [...box.querySelectorAll(FOCUSABLE)];
    if (!focusable.length) {
      event.preventDefault();
      return;
    }
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const active = root.activeElement;
    const outside = !box.contains(active);
    if (event.shiftKey && (active === first || outside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || outside)) {
      event.preventDefault();
      first.focus();
    }
  });
  overlay.addEventListener('click', (event) => {
    if (event.target === overlay) dialog.close('dismiss');
  });
  // Focus that lands outside (a host script, a click we did not see) is brought back in.
  const keepFocus = (event) => {
    if (event.target !== root.host) title.focus();
  };
  document.addEventListener('focusin', keepFocus);
  root.appendChild(overlay);

  const dialog = {
    title,
    live,
    // Replace the dialog's content; focus `focus` (or the title) so the change is heard.
    show(heading, nodes, focus) {
      title.textContent = heading;
      body.replaceChildren(...nodes.filter(Boolean));
      box.setAttribute('aria-busy', 'false');
      (focus || title).focus();
    },
    busy(text) {
      body.replaceChildren(element('p', { class: 'muted' }, text));
      box.setAttribute('aria-busy', 'true');
    },
    every(milliseconds, fn) {
      timers.push(setInterval(safely(fn, 'timer'), milliseconds));
    },
    stopTimers() {
      timers.splice(0).forEach(clearInterval);
    },
    close(why) {
      if (closed) return;
      closed = true;
      current = null;
      dialog.stopTimers();
      document.removeEventListener('focusin', keepFocus);
      root.host.remove();
      if (opener?.isConnected && opener.focus) opener.focus();
      onClose?.(why);
    },
  };
  current = dialog;
  return dialog;
}

// The error screen: reported as `uplift:error` (`where`), the customer's words for it
// (`said`, else `customerMessage`) shown as an alert, and a Retry button that calls `retry`;
// `alongside` are buttons shown before it (e.g. "Keep my plan" on the retention screen).
export function showFailure(dialog, error, { where, retry, alongside = [], said }) {
  reportError(error, where);
  const retryButton = button(phrase('retry'), 'primary', retry);
  dialog.show(
    phrase('wrong'),
    [
      element('p', { class: 'danger', role: 'alert' }, said || customerMessage(error)),
      element('div', { class: 'actions' }, ...alongside, retryButton),
    ],
    retryButton,
  );
}

// Counts `seconds` down in `node`, once a second, as `label(time)` ("1:15"). Counted on the
// monotonic clock, which a wall-clock change on the page does not move. At zero the dialog's
// timers stop and `onEnd` runs.
export function startCountdown(dialog, node, { seconds, label, onEnd }) {
  const deadline = performance.now() / 1000 + seconds;
  let ended = false;
  const tick = () => {
    const left = deadline - performance.now() / 1000;
    if (left > 0) {
      node.textContent = label(formatDuration(left));
      return undefined;
    }
    ended = true;
    dialog.stopTimers();
    return onEnd();
  };
  tick();
  if (!ended) dialog.every(1000, tick);
}
