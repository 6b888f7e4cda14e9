// Uplift.confirmDowngrade(): the retention screen. What the lower plan would take away, the
// `downgrade` placement's retention offer if there is one (a discount is quoted and applied
// on Confirm), else a plain confirmation.
import { request, track } from './api.js';
import { openDialog, showFailure } from './dialog.js';
import { element, button } from './dom.js';
import { emit, reportError } from './events.js';
import { reasonFields } from './feedback.js';
import {
  formatDate,
  humanize,
  idempotencyKey,
  money,
  priceLine,
  quantityFormatter,
} from './format.js';
import { phrase } from './strings.js';

const EVENT_FOR_CHOICE = { offer: 'accepted', downgrade: 'declined', stay: 'dismissed' };

// Resolves with the customer's choice: {choice: 'downgrade' | 'stay' | 'offer', offer_id?,
// upgrade_id?}. Never rejects: if the offer list cannot be read, the plain confirmation is shown.
export function confirmDowngrade(options) {
  const toPlan = options?.toPlan;
  const opener = document.activeElement;
  const ask = (plan) => {
    const lowerPlan = plan ? `&to_plan=${encodeURIComponent(plan)}` : '';
    return request('GET', `/offers?placement=downgrade${lowerPlan}`);
  };
  // A plan the server does not know (422) still gets the retention offer, without the list.
  return ask(toPlan)
    .catch((error) => {
      reportError(error, 'downgrade');
      return error.status === 422 ? ask() : undefined;
    })
    .catch((error) => reportError(error, 'downgrade'))
    .then((list) => retentionScreen(list, toPlan, opener));
}

function retentionScreen(list, toPlan, opener) {
  const offers = list?.data || [];
  const downgrade = list?.downgrade;
  const plan = downgrade?.to_plan_name || toPlan || 'the lower plan';
  const lost = whatWouldBeLost(downgrade, plan);
  const offer = offers.find((o) => o.kind === 'retention') || offers[0];

  return new Promise((resolve) => {
    let choice = { choice: 'stay' };
    const dialog = openDialog(opener, () => {
      if (offer && choice.choice === 'downgrade') {
        // The plan's id as the server resolved it (`toPlan` may be its name).
        const extra = { reason: choice.reason, to_plan: downgrade?.to_plan || toPlan };
        track(offer.offer_id, offer.variant, 'decline', extra);
      }
      if (offer && choice.choice === 'stay') track(offer.offer_id, offer.variant, 'dismiss');
      emit(EVENT_FOR_CHOICE[choice.choice], { to_plan: toPlan, ...choice });
      resolve(choice);
    });
    const choose = (chosen) => {
      choice = chosen;
      dialog.close(chosen.choice);
    };
    const keep = button(phrase('keep'), null, () => choose({ choice: 'stay' }));
    // With reasons, "Downgrade to X" asks why first (optional, as Stripe's customer portal
    // asks), then "Confirm downgrade" decides.
    const go = button(phrase('downgrade', { plan }), null, () => {
      if (!offer?.reasons?.length) return choose({ choice: 'downgrade' });
      const fields = reasonFields(offer);
      const confirm = button(phrase('confirmDowngrade'), 'primary', () =>
        choose({ choice: 'downgrade', reason: fields.reason() }),
      );
      const actions = element('div', { class: 'actions' }, keep, confirm);
      const heading = phrase('downgradeTitle', { plan });
      return dialog.show(heading, [...fields.nodes, actions], fields.first);
    });

    if (!offer) {
      const body = lost.length ? lost : [element('p', null, phrase('lose'))];
      dialog.show(
        phrase('downgradeTitle', { plan }),
        [...body, element('div', { class: 'actions' }, keep, go)],
        keep,
      );
      return;
    }

    const copy = offer.copy || {};
    const failed = (error, retry) =>
      showFailure(dialog, error, { where: 'downgrade', retry, alongside: [keep] });
    // A retention discount is quoted (the price kept, shown before it is confirmed) and
    // accepted like an upgrade; an offer without one is the host's to honour.
    const quoteDiscount = async () => {
      const key = idempotencyKey();
      dialog.busy(phrase('preparing'));
      let quote;
      try {
        quote = await request('POST', '/quotes', { body: { offer_id: offer.offer_id } });
      } catch (error) {
        return failed(error, quoteDiscount);
      }
      const confirm = async () => {
        dialog.busy(phrase('processing'));
        try {
          const upgrade = await request('POST', '/accept', {
            body: { quote_id: quote.quote_id },
            headers: { 'Idempotency-Key': key },
          });
          choose({ choice: 'offer', offer_id: offer.offer_id, upgrade_id: upgrade.id });
        } catch (error) {
          failed(error, confirm);
        }
      };
      const confirmButton = button(phrase('confirm'), 'primary', confirm);
      const endsAt = quote.discount?.ends_at;
      const keptPrice = phrase('keepFor', {
        price: money(quote.next_invoice_amount, quote.currency),
        full: money(quote.recurring_amount, quote.currency),
        until: endsAt ? phrase('keepUntil', { date: formatDate(endsAt) }) : '',
      });
      dialog.show(
        phrase('keepTitle'),
        [
          element('p', { 'data-uplift-then': '' }, keptPrice),
          element('div', { class: 'actions' }, keep, confirmButton),
        ],
        confirmButton,
      );
      return undefined;
    };
    const take = button(copy.cta || phrase('takeOffer'), 'primary', () => {
      track(offer.offer_id, offer.variant, 'click');
      if (offer.discount) return quoteDiscount();
      return choose({ choice: 'offer', offer_id: offer.offer_id });
    });

    track(offer.offer_id, offer.variant, 'impression');
    dialog.show(
      copy.title || phrase('beforeYouGo'),
      [
        ...lost,
        copy.body ? element('p', null, copy.body) : null,
        element('p', null, priceLine(offer)),
        element('div', { class: 'actions' }, go, keep, take),
      ],
      take,
    );
  });
}

// What moving down to `plan` takes away (the API's `downgrade`), in the server's order: limits
// the customer is over first, then features, used ones first. A heading and a list, or nothing
// when there is nothing to lose.
function whatWouldBeLost(downgrade, plan) {
  if (!downgrade) return [];
  const limits = downgrade.limits.map((limit) => {
    const quantity = quantityFormatter(limit.metric);
    const sentence = phrase(limit.used == null ? 'lostCap' : 'lostLimit', {
      metric: humanize(limit.metric),
      plan,
      used: quantity(limit.used),
      limit: quantity(limit.new_limit),
    });
    return element('li', { class: limit.over ? 'danger' : null }, sentence);
  });
  const count = quantityFormatter('');
  const features = downgrade.features.map((feature) => {
    const uses = feature.uses;
    let key = 'notIn';
    if (uses) key = uses === 1 ? 'usedOnce' : 'usedTimes';
    else if (feature.last_used_at) key = 'lastUsed';
    const sentence = phrase(key, {
      feature: humanize(feature.feature),
      plan,
      n: uses && count(uses, true),
      date: formatDate(feature.last_used_at),
    });
    return element('li', null, sentence);
  });
  const items = [...limits, ...features];
  if (!items.length) return [];
  return [
    element('p', { id: 'uplift-lost', class: 'heading' }, phrase('lostTitle', { plan })),
    element('ul', { 'aria-labelledby': 'uplift-lost' }, ...items),
  ];
}
