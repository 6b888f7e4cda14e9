// Uplift.postOrder(): the first post_order offer as a popup with Yes / No and its countdown.
import { offersFor, track } from './api.js';
import { openDialog, startCountdown } from './dialog.js';
import { element, button } from './dom.js';
import { emit } from './events.js';
import { priceLine } from './format.js';
import { OPENS_QUOTE, openQuote } from './quote.js';
import { phrase } from './strings.js';

// Resolves true if a popup was shown.
export async function postOrder(options) {
  const orderId = options?.orderId;
  const [offer] = await offersFor('post_order');
  if (!offer) return false;
  const copy = offer.copy || {};
  let answered = false;
  const dialog = openDialog(document.activeElement, (why) => {
    if (!answered && why === 'dismiss') {
      track(offer.offer_id, offer.variant, 'dismiss');
      emit('dismissed', { offer_id: offer.offer_id, order_id: orderId });
    }
  });
  track(offer.offer_id, offer.variant, 'impression');

  const yes = button(copy.cta || phrase('yes'), 'primary', () => {
    answered = true;
    track(offer.offer_id, offer.variant, 'click');
    dialog.close('yes');
    if (OPENS_QUOTE.includes(offer.kind)) openQuote(offer.offer_id, null, offer);
    else emit('accepted', { offer_id: offer.offer_id, kind: offer.kind, order_id: orderId });
  });
  const no = button(copy.decline || phrase('no'), null, () => {
    answered = true;
    track(offer.offer_id, offer.variant, 'decline');
    emit('declined', { offer_id: offer.offer_id, order_id: orderId });
    dialog.close('no');
  });
  const countdown = offer.countdown_seconds ? element('p', { class: 'muted' }) : null;
  dialog.show(
    copy.title || phrase('oneMore'),
    [
      copy.body ? element('p', null, copy.body) : null,
      element('p', null, priceLine(offer)),
      countdown,
      element('div', { class: 'actions' }, no, yes),
    ],
    yes,
  );
  if (countdown) {
    startCountdown(dialog, countdown, {
      seconds: offer.countdown_seconds,
      label: (time) => phrase('endsIn', { time }),
      onEnd: () => {
        countdown.textContent = phrase('ended');
        yes.disabled = true;
      },
    });
  }
  return true;
}
