// Asking the customer: why they said no (an offer's `reasons`), and the radio group and
// free-text field a survey's question shares with it. Every label is the server's text (or
// the customer's), so it only ever becomes a text node.
import { track } from './api.js';
import { element, button } from './dom.js';
import { emit, once, safely } from './events.js';
import { refreshPlacements } from './placements.js';
import { phrase } from './strings.js';

// plugin/offers/model.py MAX_REASON_TEXT: the server refuses a longer text.
const MAX_TEXT = 500;

let groups = 0; // radio groups drawn: each gets its own name

// A fieldset of radio buttons under `legend`, one per option ({key, label}), and `hint`
// (if any, a scale's: its options are drawn in a row) as its description; `onPick` (if any)
// runs when one is chosen, `picked()` is its key.
export function radioGroup(legend, options, onPick, hint) {
  const name = `uplift-choice-${(groups += 1)}`;
  const inputs = options.map((option) =>
    element('input', { type: 'radio', name, value: option.key }),
  );
  const fieldset = element(
    'fieldset',
    { class: hint ? 'scale' : null, 'aria-describedby': hint ? `${name}-hint` : null },
    element('legend', null, legend),
    hint && element('p', { class: 'muted', id: `${name}-hint` }, hint),
    ...options.map((option, i) => element('label', null, inputs[i], option.label)),
  );
  if (onPick) fieldset.addEventListener('change', safely(onPick, 'choice'));
  return { fieldset, first: inputs[0], picked: () => inputs.find((input) => input.checked)?.value };
}

// The optional free text ("Anything to add?"); `text()` is what was typed, or undefined.
export function commentField() {
  const area = element('textarea', { rows: '3', maxlength: String(MAX_TEXT) });
  const node = element('label', { class: 'comment' }, phrase('more'), area);
  return { node, text: () => area.value.trim() || undefined };
}

// The reasons of `offer` and the free text; `reason()` is {key, text?} once one is picked.
export function reasonFields(offer, onPick) {
  const group = radioGroup(phrase('why'), offer.reasons, onPick);
  const comment = commentField();
  const reason = () => {
    const key = group.picked();
    return key && { key, text: comment.text() };
  };
  return { nodes: [group.fieldset, comment.node], first: group.first, reason };
}

// The "why?" step: the reason fields, Skip and Send (enabled once a reason is picked);
// `finish(reason)` runs with the reason on Send, without on Skip.
export function askWhy(offer, finish) {
  const send = button(phrase('send'), 'primary', () => finish(fields.reason()), {
    disabled: '',
  });
  const fields = reasonFields(offer, () => {
    send.disabled = false;
  });
  const skip = button(phrase('skip'), null, () => finish());
  return { ...fields, nodes: [...fields.nodes, element('div', { class: 'actions' }, skip, send)] };
}

// The customer said no to `offer` (`type` 'dismiss' or 'decline'), maybe saying why: told
// to the server and the page (`uplift:dismissed` / `uplift:declined`), once; then, the
// server told, every placement draws again: without the offer for the rest of the page when
// the customer closed the offer itself (`hide`: a banner's ×, post-order No), as the server
// says otherwise (a Cancel in the upgrade modal is "not now", not "never here").
export const saidNo = (type, offer, detail, hide = true) =>
  once((reason) => {
    const told = track(offer.offer_id, offer.variant, type, { reason });
    const event = type === 'dismiss' ? 'dismissed' : 'declined';
    emit(event, { offer_id: offer.offer_id, ...detail, reason });
    told.finally(() => refreshPlacements(hide ? offer.offer_id : null));
  });

// A "no" in `dialog` (Cancel, No): for an offer with reasons it first asks why in place,
// the heading kept; then `say(reason)` and the dialog closes with `why`. Closing the dialog
// on the "why?" step instead is the dialog's onClose, which says the no without a reason.
export function noInDialog(dialog, offer, say, why) {
  const finish = (reason) => {
    say(reason);
    dialog.close(why);
  };
  if (!offer?.reasons?.length) return finish();
  dialog.stopTimers(); // a countdown must not replace the question
  const step = askWhy(offer, finish);
  return dialog.show(dialog.title.textContent, step.nodes, step.first);
}
