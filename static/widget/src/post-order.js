// Uplift.postOrder(): the first post_order offer as a popup with Yes / No and its countdown.
import { offersFor, track } from './api.js';
import { openDialog, startCountdown } from './dialog.js';
import { element, button } from './dom.js';
import { noInDialog, saidNo } from './feedback.js';
import { priceLine } from './format.js';
import { takeOffer } from './take.js';
import { phrase } from './strings.js';

// Resolves true if a popup was shown.
export async function postOrder(options) {
  const orderId = options?.orderId;
  const [offer] = await offersFor('post_order');
  if (!offer) return false;
  const copy = offer.copy || {};
  const detail = { order_id: orderId };
  const declined = saidNo('decline', offer, detail);
  const dismissed = saidNo('dismiss', offer, detail);
  let answer = null; // 'yes' or 'no'
  // Closed after No (on the "why?" step) is still the No; closed before any answer, a dismiss.
  const dialog = openDialog(document.activeElement, (why) => {
    if (answer === 'no') declined();
    else if (!answer && why === 'dismiss') dismissed();
  });
  track(offer.offer_id, offer.variant, 'impression');

  const yes = button(copy.cta || phrase('yes'), 'primary', () => {
    answer = 'yes';
    dialog.close('yes');
    takeOffer(offer, null, detail);
  });
  const no = button(copy.decline || phrase('no'), null, () => {
    answer = 'no';
    noInDialog(dialog, offer, declined, 'no');
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
