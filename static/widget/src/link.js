// Lifecycle email links: an offer's email links to the SaaS's page with
// `uplift_offer=<signed token>` added, and the widget on that page opens the offer.
import { localized, request, track } from './api.js';
import { takeOffer } from './take.js';
import { openSurvey } from './survey-dialog.js';

const PARAMETER = 'uplift_offer';

// The page's link token, or null; taken out of the address bar at once (every other
// parameter, as written, and the hash kept), so that a reload does not open the offer again
// and no Referer carries the token.
export function takeLinkToken() {
  const token = new URLSearchParams(location.search).get(PARAMETER);
  if (token === null) return null;
  const kept = location.search
    .slice(1)
    .split('&')
    .filter((part) => part && !new URLSearchParams(part).has(PARAMETER));
  const query = kept.length ? `?${kept.join('&')}` : '';
  try {
    history.replaceState(history.state, '', location.pathname + query + location.hash);
  } catch {
    // A page whose history refuses (a sandboxed frame) still gets its offer.
  }
  return token;
}

// Opens the offer the link names (`GET /link`): the upgrade modal for a kind Uplift quotes,
// the survey's modal for a survey. A link that is not this customer's, or gone or expired
// (404, 410), rejects: the caller's `uplift:error`, and nothing is shown.
export async function openLink(token) {
  const offer = localized(await request('GET', `/link?token=${encodeURIComponent(token)}`));
  if (offer.kind !== 'survey') return takeOffer(offer, null);
  track(offer.offer_id, offer.variant, 'impression');
  return openSurvey(offer, null);
}
