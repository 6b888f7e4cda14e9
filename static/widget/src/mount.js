// Uplift.mount(): the offers eligible now at a placement, as banners or as buttons.
import { offersFor, track } from './api.js';
import { scriptData } from './config.js';
import { element, button, shadowHost } from './dom.js';
import { emit, widgetError } from './events.js';
import { priceLine, usageSentence } from './format.js';
import { OPENS_QUOTE, openQuote } from './quote.js';
import { phrase } from './strings.js';

// Resolves with the number of offers shown.
export async function mount(target, options) {
  const node = typeof target === 'string' ? document.querySelector(target) : target;
  if (!node) throw widgetError(`Uplift.mount: no element ${target}`, { code: 'no_element' });
  const placement = options?.placement || scriptData('placement');
  // Mounting again (a single-page app re-rendering) replaces what the last mount drew.
  for (const old of node.querySelectorAll(':scope > [data-uplift]')) old.remove();
  const root = shadowHost(node);
  const container = element('div', { class: 'uplift' });
  root.appendChild(container);
  const offers = await offersFor(placement);
  const asBanner = options?.style ? options.style === 'banner' : /banner/.test(placement);
  for (const offer of offers) {
    container.appendChild(asBanner ? banner(offer) : offerButton(offer));
    track(offer.offer_id, offer.variant, 'impression');
  }
  return offers.length;
}

function callToAction(offer) {
  const cta = button(
    offer.copy?.cta || phrase('upgrade'),
    'primary',
    () => {
      track(offer.offer_id, offer.variant, 'click');
      if (OPENS_QUOTE.includes(offer.kind)) openQuote(offer.offer_id, cta, offer);
      else emit('accepted', { offer_id: offer.offer_id, kind: offer.kind });
    },
    { 'data-uplift-cta': offer.offer_id },
  );
  return cta;
}

function offerButton(offer) {
  const cta = callToAction(offer);
  cta.setAttribute('title', offer.copy?.title || '');
  return cta;
}

// Title, body, usage with its bar, price, the call to action and a dismiss button.
function banner(offer) {
  const copy = offer.copy || {};
  const usage = usageSentence(offer.usage);
  const dismiss = () => {
    region.remove();
    track(offer.offer_id, offer.variant, 'dismiss');
    emit('dismissed', { offer_id: offer.offer_id });
  };
  const region = element(
    'div',
    { class: 'banner', role: 'region', 'aria-label': copy.title },
    element(
      'div',
      { class: 'banner-text' },
      element('p', { class: 'heading' }, copy.title),
      copy.body ? element('p', null, copy.body) : null,
      usage && element('p', null, usage),
      usage &&
        element('progress', {
          max: offer.usage.limit,
          value: offer.usage.used,
          'aria-hidden': 'true',
        }),
      element('p', { class: 'muted' }, priceLine(offer)),
    ),
    callToAction(offer),
    button('\u00d7', 'close', dismiss, { 'aria-label': phrase('dismiss') }),
  );
  return region;
}
