// A page's use of every declaration in static/widget/uplift.d.ts, compiled with `tsc --strict`
// by tests/widget/test_widget_types.py (and one misuse, which must not compile, in misuse.ts).
/// <reference path="../../../static/widget/uplift.d.ts" />

const uplift = window.Uplift as UpliftApi;
uplift.init({ token: () => fetch('/uplift-token').then((r) => r.text()), locale: 'ko' });
uplift.init({ theme: { '--uplift-accent': '#0a7' }, strings: { upgrade: 'Go' } });
uplift('mount', '#banner', { placement: 'storage_banner' });
uplift.token('a-token');

async function page(): Promise<void> {
  const shown: number | undefined = await uplift.mount('#plans', { placement: 'plans' });
  await uplift.open('offer_basic_to_pro');
  const popup: boolean | undefined = await uplift.postOrder({ orderId: 'ord_1' });
  const { choice, reason } = await uplift.confirmDowngrade({ toPlan: 'basic' });
  if (choice === 'downgrade' && reason) console.log(reason.key, shown, popup);
  console.log(uplift.version);
}

document.addEventListener('uplift:accepted', (event) => {
  console.log(event.detail.offer_id, event.detail.amount_paid);
});
document.addEventListener('uplift:error', (event) => {
  const where: string = event.detail.where;
  console.log(event.detail.code, where);
});

const pricing: UpliftPricingElement = document.createElement('uplift-pricing');
pricing.setAttribute('placement', 'plans');
pricing.addEventListener('uplift:empty', (event) => console.log(event.detail.placement));
const button = document.createElement('uplift-upgrade');
button.setAttribute('offer', 'offer_basic_to_pro');
const offers: UpliftOffersElement | null = document.querySelector('uplift-offers');
const attributes: UpliftElementAttributes['uplift-offers'] = { placement: 'billing' };
console.log(offers, attributes, page);
