'use strict';
// The Uplift widget: upgrade buttons, banners, the upgrade modal, post-order and retention
// screens. esbuild bundles these modules into one IIFE, the served static/widget/uplift.js
// (static/widget/build.mjs); the other modules only declare, this one acts. Safe in any host
// page: Shadow DOM, one constructable stylesheet, text through text nodes only, and no
// exception ever reaches the host (failures become `uplift:error` events on document).
// See static/widget/README.md for the embed snippet, the JS API, events and CSP.
import { setPreview, setTokenSource } from './api.js';
import { configure, settings } from './config.js';
import { confirmDowngrade } from './downgrade.js';
import { defineElements } from './elements.js';
import { reportError, safely, widgetError } from './events.js';
import { openLink, takeLinkToken } from './link.js';
import { prefetch } from './parts.js';
import { mount } from './mount.js';
import { postOrder } from './post-order.js';
import { openQuote } from './quote.js';
import { phrase, replaceStrings, useLocale, worded } from './strings.js';
import { applyTheme } from './styles.js';
import { openSurvey } from './survey-dialog.js';

// Captured synchronously: document.currentScript is null once this first run is over.
const script = document.currentScript;
const stub = window.Uplift;

let linkToken = null; // an email link's token, opened once the page gives a customer token

// The words of settings.locale, fetched if the widget ships that language (strings.js).
const speak = () =>
  useLocale(settings.locale, settings.api, (error) => reportError(error, 'locale'));

// Settings take effect at once; what draws waits for its words.
const AT_ONCE = ['init', 'token'];

function init(options) {
  const { token, locale, strings, theme } = options || {};
  if (strings) replaceStrings(strings);
  if (locale) {
    settings.locale = locale;
    speak();
  }
  if (theme) applyTheme(theme);
  if (token != null) {
    setTokenSource(token);
    const link = linkToken;
    linkToken = null;
    if (link) safely(openLink, 'link')(link);
  }
}

// Every method is also a queue command: Uplift('mount', el, opts) = Uplift.mount(el, opts).
const METHODS = {
  init,
  token: (source) => init({ token: source }),
  mount,
  open: (offerId, opener) => {
    openQuote(offerId, opener || document.activeElement, null);
  },
  postOrder,
  // Never rejects: if the retention screen cannot be loaded, the browser's own confirmation.
  confirmDowngrade: (options) =>
    confirmDowngrade(options).catch((error) => {
      reportError(error, 'downgrade');
      return { choice: window.confirm(phrase('confirmDowngrade')) ? 'downgrade' : 'stay' };
    }),
  // The admin console's live preview: the real widget drawing a draft offer document
  // (POST /api/v1/admin/offers/preview) as `screen`, with no request to the server.
  preview: (target, { screen, offer, quote } = {}) => {
    // A survey is drawn as `screen` says, whatever its `display`.
    const survey = offer?.survey;
    const shown = survey ? { ...offer, survey: { ...survey, display: 'banner' } } : offer;
    setPreview({ offers: shown ? [shown] : [], quote });
    if (screen === 'post_order') return postOrder();
    if (screen === 'retention') return confirmDowngrade();
    if (screen === 'modal' && survey) return openSurvey(offer, target);
    if (screen === 'modal') return openQuote(offer.offer_id, target, offer);
    return mount(target, { style: screen === 'button' ? 'button' : 'banner' });
  },
};

function start() {
  configure(script);
  speak();
  linkToken = safely(takeLinkToken, 'link')();

  // Declarative buttons: <button data-uplift-offer="OFFER_ID"> opens the upgrade modal (which
  // starts loading now if the page has one).
  if (document.querySelector('[data-uplift-offer]')) prefetch('modal');
  document.addEventListener(
    'click',
    safely((event) => {
      const declared = event.target?.closest?.('[data-uplift-offer]');
      if (!declared) return;
      event.preventDefault();
      worded(openQuote)(declared.getAttribute('data-uplift-offer'), declared, null);
    }, 'click'),
  );

  const Uplift = (name, ...args) => {
    if (!Object.prototype.hasOwnProperty.call(METHODS, name)) {
      return reportError(widgetError(`Uplift: unknown command ${name}`), 'queue');
    }
    return Uplift[name](...args);
  };
  for (const [name, method] of Object.entries(METHODS)) {
    // confirmDowngrade never rejects (it resolves with the customer's choice); every other
    // method turns its failure into `uplift:error`.
    const run = AT_ONCE.includes(name) ? method : worded(method);
    Uplift[name] = name === 'confirmDowngrade' ? run : safely(run, name);
  }
  Uplift.version = '1';
  // The only global: it replaces the host's queue stub, then runs what was queued.
  window.Uplift = Uplift;
  for (const queued of stub?.q || []) Uplift(...queued);
  // After the queue, so that an element already in the page meets the token it set.
  defineElements({ mount: Uplift.mount, open: Uplift.open });
}

// Last, once everything above is defined. Loaded twice, the first copy stays in charge;
// without a script tag there is no origin to talk to.
if (script && !stub?.version) start();
