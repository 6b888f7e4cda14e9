// The widget API (/api/v1/widget/*) with the customer's token: the only server the widget
// talks to, and only with the token as credential (no cookies).
import { settings } from './config.js';
import { reportError, widgetError } from './events.js';

let tokenSource = null; // what Uplift.init({token}) gave: a string, or a function returning one
let token = null;
let pendingToken = null;

export function setTokenSource(source) {
  tokenSource = source;
  token = null;
}

// Concurrent callers (the offer list, telemetry, two 401s at once) share one call of the
// page's token function.
async function customerToken(fresh) {
  if (typeof tokenSource === 'function') {
    if (fresh || !token) {
      pendingToken ||= Promise.resolve()
        .then(tokenSource)
        .finally(() => {
          pendingToken = null;
        });
      token = await pendingToken;
    }
  } else {
    token = tokenSource;
  }
  if (!token) {
    throw widgetError('Uplift has no customer token; call Uplift.init({token}).', {
      code: 'no_token',
    });
  }
  return String(token);
}

// Uplift.preview(): the admin console's draft offer, answered here instead of by the server.
// The offer list and its quote are the preview's; telemetry is dropped; anything that would
// change something (accepting, charging) is refused, so a preview never buys.
let preview = null;

export function setPreview(answers) {
  preview = answers;
}

function previewAnswer(method, path) {
  if (path.startsWith('/offers')) return { data: preview.offers, downgrade: preview.downgrade };
  if (path === '/events') return null;
  if (path === '/quotes' && preview.quote) return preview.quote;
  throw widgetError('This is a preview: nothing is quoted or charged.', {
    status: 409,
    code: 'preview',
    own: true, // the widget's own words, for the admin looking at the preview
  });
}

// One request; a 401 asks a token function for a new token, once. An error answer rejects
// with the API's {code, message} and the HTTP status.
export async function request(method, path, { body, headers, retried = false } = {}) {
  if (preview) return previewAnswer(method, path);
  const sent = { Authorization: `Bearer ${await customerToken(retried)}`, ...headers };
  if (body) sent['Content-Type'] = 'application/json';
  const response = await fetch(settings.api + path, {
    method,
    headers: sent,
    body: body ? JSON.stringify(body) : undefined,
    credentials: 'omit',
    // Telemetry outlives the page: a click that navigates away still gets its event through.
    keepalive: path === '/events',
  });
  if (response.status === 401 && !retried && typeof tokenSource === 'function') {
    return request(method, path, { body, headers, retried: true });
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    // not JSON
  }
  if (!response.ok) {
    const error = json?.error || {};
    throw widgetError(error.message || `HTTP ${response.status}`, {
      status: response.status,
      code: error.code || `http_${response.status}`,
      detail: error,
    });
  }
  return json;
}

// Telemetry (impression, click, dismiss, decline), `extra` being a decline's or dismiss's
// `reason` and `to_plan`. sendBeacon cannot carry the Authorization header, so events go with
// fetch and keepalive (see request). Resolves once the server answered (or failed).
export function track(offerId, variant, type, extra) {
  if (!offerId || !variant) return Promise.resolve();
  return request('POST', '/events', { body: { offer_id: offerId, variant, type, ...extra } }).catch(
    (error) => reportError(error, 'event'),
  );
}

// An offer in the customer's language: each field of its copy that `copy.locales` gives for
// that language, the rest as the admin wrote it.
export function localized(offer) {
  const language = String(settings.locale).toLowerCase().split('-')[0];
  const local = offer?.copy?.locales?.[language];
  return local ? { ...offer, copy: { ...offer.copy, ...local } } : offer;
}

export async function offersFor(placement) {
  const query = placement ? `?placement=${encodeURIComponent(placement)}` : '';
  const list = await request('GET', `/offers${query}`);
  return (list?.data || []).map(localized);
}
