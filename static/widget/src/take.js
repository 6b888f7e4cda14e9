// The customer took an offer (a call to action, a post-order Yes, an email's link).
import { track } from './api.js';
import { emit } from './events.js';
import { prefetch } from './parts.js';
import { refreshPlacements } from './placements.js';
import { openQuote } from './quote.js';

// Offer kinds whose call to action opens the upgrade modal: Uplift quotes and charges them,
// add-ons (cross_sell, bundle, post_order) included. Any other kind goes to the host as
// `uplift:accepted` for it to fulfil.
export const OPENS_QUOTE = [
  'upgrade',
  'interval_switch',
  'trial',
  'cross_sell',
  'bundle',
  'post_order',
];

// `offer` taken: the upgrade modal for a kind Uplift quotes, else `uplift:accepted` (with
// `detail`) for the host to fulfil.
export function takeOffer(offer, opener, detail) {
  track(offer.offer_id, offer.variant, 'click');
  if (OPENS_QUOTE.includes(offer.kind)) return openQuote(offer.offer_id, opener, offer);
  emit('accepted', { offer_id: offer.offer_id, kind: offer.kind, ...detail });
  return refreshPlacements(offer.offer_id);
}

// A call to action for `offer` is on the page: the upgrade modal it would open starts loading
// now, so that the click opens it at once (and still does if the connection drops meanwhile).
export function willTake(offer) {
  if (OPENS_QUOTE.includes(offer.kind)) prefetch('modal');
}
