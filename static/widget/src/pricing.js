// The pricing table (`Uplift.mount(el, {placement: 'plans'})`, `<uplift-pricing>`): the plan
// ladder from `GET /plans` (features and limits, the customer's plan marked), a monthly /
// yearly switch with what a year saves, and on each price an eligible offer of the placement
// leads to, its call to action, which opens the upgrade modal (the offer's exact quote).
import { offersFor, request, track } from './api.js';
import { element, button, shadowHost } from './dom.js';
import { emit } from './events.js';
import { humanize, money, perInterval, quantityFormatter, yearlySaving } from './format.js';
import { isHidden } from './placements.js';
import { phrase } from './strings.js';
import { takeOffer, willTake } from './take.js';
import CSS from './pricing.css';

let sheet = null; // the table's own stylesheet, beside the core's
const chosen = new Map(); // offer id → the price its call to action here was for
// The price the customer just bought from a table, until the server's ladder says so (it
// follows Stripe's webhooks, which may land after the redraw that follows the purchase).
let bought = null;
let listening = false;

function listen() {
  if (listening) return;
  listening = true;
  document.addEventListener('uplift:accepted', (event) => {
    const price = chosen.get(event.detail?.offer_id);
    if (price && event.detail.status !== 'pending') bought = price;
  });
}

// The ladder as it stands once what was bought here counts: its plan and price current.
function withBought(ladder) {
  const plans = ladder?.plans || [];
  const isBought = (price) => price.price === bought?.price;
  const owns = (plan) => plan.prices.some(isBought);
  if (!bought || plans.some((plan) => plan.prices.some((p) => p.current && isBought(p)))) {
    bought = null; // the server knows
    return ladder;
  }
  return {
    ...ladder,
    current_interval: bought.interval,
    plans: plans.map((plan) => ({
      ...plan,
      current: owns(plan),
      prices: plan.prices.map((p) => ({ ...p, current: isBought(p) })),
    })),
  };
}

const yearly = (price) => price.interval === 'year' && price.interval_count === 1;
const monthly = (price) => price.interval === 'month' && price.interval_count === 1;

// Draws the table into `node` (replacing what a mount drew there) and resolves with the number
// of plans shown; with none it draws nothing and emits `uplift:empty`.
export async function drawPricing(node, placement, redraw) {
  listen();
  const answers = await Promise.all([request('GET', '/plans'), offersFor(placement)]);
  const [ladder, offers] = [withBought(answers[0]), answers[1]];
  for (const old of node.querySelectorAll(':scope > [data-uplift]')) old.remove();
  const plans = ladder?.plans || [];
  if (!plans.length) {
    emit('empty', { placement }, node);
    return 0;
  }
  const open = offers.filter((offer) => !isHidden(offer.offer_id));
  const offerFor = (price) => open.find((o) => o.prices?.some((p) => p.price === price.price));
  const both = plans.some((plan) => plan.prices.some(yearly) && plan.prices.some(monthly));
  let period = ladder.current_interval === 'year' ? 'year' : 'month';

  const root = shadowHost(node);
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
  }
  root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  const list = element('ul', { class: 'plans' });
  const draw = () => list.replaceChildren(...plans.map((plan) => card(plan, period, offerFor)));
  const region = element('div', { class: 'uplift pricing', role: 'region' });
  region.setAttribute('aria-label', phrase('plans'));
  if (both) {
    const choices = {};
    const choose = (choice) => {
      period = choice;
      for (const [name, node] of Object.entries(choices)) {
        node.setAttribute('aria-pressed', String(name === choice));
      }
      draw();
    };
    for (const choice of ['month', 'year']) {
      const label = phrase(choice === 'year' ? 'yearly' : 'monthly');
      choices[choice] = button(label, 'period', () => choose(choice));
    }
    const group = element('div', { class: 'periods', role: 'group' }, choices.month, choices.year);
    group.setAttribute('aria-label', phrase('billing'));
    region.appendChild(group);
    choose(period);
  }
  draw();
  region.appendChild(list);
  root.appendChild(region);
  if (!redraw) {
    for (const offer of new Set(plans.flatMap((p) => p.prices.map(offerFor)).filter(Boolean))) {
      track(offer.offer_id, offer.variant, 'impression');
    }
  }
  return plans.length;
}

// One plan: its name (and "Current plan"), its price for `period` and what a year saves, its
// limits and features, and the call to action of the offer that leads to that price.
function card(plan, period, offerFor) {
  const price = plan.prices.find(period === 'year' ? yearly : monthly);
  const saving = period === 'year' && plan.yearly_saving;
  const offer = price && !price.current && offerFor(price);
  const limits = Object.entries(plan.limits || {}).map(([metric, limit]) => {
    const amount = limit != null && quantityFormatter(metric)(limit, true);
    const values = { metric: humanize(metric), limit: amount };
    return element('li', null, phrase(limit == null ? 'unlimited' : 'limit', values));
  });
  const features = (plan.features || []).map((feature) => element('li', null, humanize(feature)));
  let cta = null;
  if (offer) {
    willTake(offer);
    cta = button(offer.copy?.cta || phrase('upgrade'), 'primary', () => {
      chosen.set(offer.offer_id, price);
      return takeOffer(offer, cta);
    });
  }
  const amount = price && money(price.unit_amount, price.currency) + perInterval(price);
  return element(
    'li',
    { class: plan.current ? 'plan current' : 'plan', 'aria-current': plan.current ? 'true' : null },
    element('p', { class: 'heading' }, plan.name),
    plan.current && element('p', { class: 'badge' }, phrase('currentPlan')),
    amount && element('p', { class: 'price' }, amount),
    saving && element('p', { class: 'muted' }, yearlySaving(saving, price.currency)),
    element('ul', { class: 'limits' }, ...limits, ...features),
    cta,
  );
}
