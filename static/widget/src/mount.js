// Uplift.mount(): the offers eligible now at a placement, as banners or as buttons.
import { offersFor, track } from './api.js';
import { scriptData } from './config.js';
import { element, button, shadowHost } from './dom.js';
import { emit, safely, widgetError } from './events.js';
import { askWhy, saidNo } from './feedback.js';
import { priceLine, usageSentence } from './format.js';
import { isHidden, remember } from './placements.js';
import { drawPricing } from './pricing.js';
import { takeOffer, willTake } from './take.js';
import { phrase } from './strings.js';
import { openSurvey } from './survey-dialog.js';
import { surveyForm, thanks } from './survey.js';

// Resolves with the number of offers shown. A survey is drawn as its `display` says: in a
// banner here, or in the modal dialog. With nothing to show it draws nothing and tells the
// page (`uplift:empty`, with the placement). It draws again after any accept, decline or
// dismiss on the page (placements.js). The `plans` placement (or `style: 'pricing'`) is the
// pricing table (pricing.js).
const empty = new WeakSet(); // the placements whose last drawing was empty

export async function mount(target, options, redraw = false) {
  const node = typeof target === 'string' ? document.querySelector(target) : target;
  if (!node) throw widgetError(`Uplift.mount: no element ${target}`, { code: 'no_element' });
  const placement = options?.placement || scriptData('placement');
  remember(node, safely(() => mount(node, options, true), 'mount'));
  if (placement === 'plans' || options?.style === 'pricing') {
    return drawPricing(node, placement || 'plans', redraw);
  }
  const offers = (await offersFor(placement)).filter((offer) => !isHidden(offer.offer_id));
  // Mounting again (a single-page app re-rendering) replaces what the last mount drew.
  for (const old of node.querySelectorAll(':scope > [data-uplift]')) old.remove();
  if (!offers.length) {
    // Once per placement that becomes empty: a redraw of one already empty says nothing new.
    if (!(redraw && empty.has(node))) emit('empty', { placement: placement || null }, node);
    empty.add(node);
    return 0;
  }
  empty.delete(node);
  const root = shadowHost(node);
  const container = element('div', { class: 'uplift' });
  root.appendChild(container);
  const asBanner = options?.style ? options.style === 'banner' : /banner/.test(placement);
  for (const offer of offers) {
    if (offer.survey?.display === 'modal') openSurvey(offer, document.activeElement);
    else container.appendChild(asBanner || offer.survey ? banner(offer) : offerButton(offer));
    if (!redraw) track(offer.offer_id, offer.variant, 'impression'); // a redraw is no new view
  }
  return offers.length;
}

function callToAction(offer) {
  willTake(offer);
  const cta = button(
    offer.copy?.cta || phrase('upgrade'),
    'primary',
    () => takeOffer(offer, cta),
    { 'data-uplift-cta': offer.offer_id },
  );
  return cta;
}

function offerButton(offer) {
  const cta = callToAction(offer);
  cta.setAttribute('title', offer.copy?.title || '');
  return cta;
}

// Title, body, then usage with its bar, price and the call to action, or a survey's
// question; and a dismiss button. With reasons, dismissing first asks why in place (the
// dismiss button or Escape then skips it); a survey answered says thanks, and its dismiss
// button then only closes it.
function banner(offer) {
  const copy = offer.copy || {};
  const usage = usageSentence(offer.usage);
  const text = element(
    'div',
    { class: 'banner-text' },
    element('p', { class: 'heading' }, copy.title),
    copy.body ? element('p', null, copy.body) : null,
  );
  const said = saidNo('dismiss', offer);
  let cta = null;
  let answered = false; // a survey's
  let asking = false; // on the "why?" step
  const close = (reason) => {
    region.remove();
    if (!answered) said(reason);
  };
  const dismiss = button(
    '\u00d7',
    'close',
    () => {
      if (asking || !offer.reasons?.length) return close();
      asking = true;
      const step = askWhy(offer, close);
      cta?.remove();
      text.replaceChildren(...step.nodes);
      return step.first.focus();
    },
    { 'aria-label': phrase('dismiss') },
  );
  if (offer.survey) {
    const form = surveyForm(offer, () => {
      answered = true;
      text.replaceChildren(thanks());
      dismiss.focus();
    });
    text.append(...form.nodes);
  } else {
    cta = callToAction(offer);
    text.append(
      ...[
        usage && element('p', null, usage),
        usage &&
          element('progress', {
            max: offer.usage.limit,
            value: offer.usage.used,
            'aria-hidden': 'true',
          }),
        element('p', { class: 'muted' }, priceLine(offer)),
      ].filter(Boolean),
    );
  }
  const region = element(
    'div',
    { class: 'banner', role: 'region', 'aria-label': copy.title },
    text,
    cta,
    dismiss,
  );
  region.addEventListener('keydown', (event) => {
    if (asking && event.key === 'Escape') close();
  });
  return region;
}
