// Numbers, money, dates and durations in the customer's locale (settings.locale), through
// Intl; each falls back to something plain if the locale or currency is one Intl refuses.
import { settings } from './config.js';
import { phrase } from './strings.js';

const fractionDigits = new Map(); // currency → its minor units (JPY 0, USD 2, KWD 3)

// An amount in the currency's minor units, e.g. money(2320, 'usd') → "$23.20".
export function money(amount, currency) {
  const code = String(currency || 'usd').toUpperCase();
  try {
    const format = new Intl.NumberFormat(settings.locale, { style: 'currency', currency: code });
    if (!fractionDigits.has(code)) {
      fractionDigits.set(code, format.resolvedOptions().maximumFractionDigits);
    }
    return format.format(amount / 10 ** fractionDigits.get(code));
  } catch {
    return `${(amount / 100).toFixed(2)} ${code}`;
  }
}

const PER = { day: 'perDay', week: 'perWeek', month: 'perMonth', year: 'perYear' };
const EVERY = { day: 'everyDay', week: 'everyWeek', month: 'everyMonth', year: 'everyYear' };

// A price's billing interval: " / month", " every 3 months", or '' for a one-off price.
export function perInterval(price) {
  if (!PER[price?.interval]) return '';
  const count = price.interval_count || 1;
  return count === 1 ? phrase(PER[price.interval]) : phrase(EVERY[price.interval], { n: count });
}

// A Unix time as a medium date, e.g. "Nov 23, 2026".
export function formatDate(unixSeconds) {
  try {
    const format = new Intl.DateTimeFormat(settings.locale, { dateStyle: 'medium' });
    return format.format(new Date(unixSeconds * 1000));
  } catch {
    return '';
  }
}

// Seconds left as a countdown shows them: 75 → "1:15", 3725 → "1:02:05".
export function formatDuration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor(whole / 60) % 60;
  const twoDigits = (n) => String(n).padStart(2, '0');
  return `${hours ? `${hours}:${twoDigits(minutes)}` : minutes}:${twoDigits(whole % 60)}`;
}

const UNITS = new Map([
  ['gb', 'gigabyte'],
  ['tb', 'terabyte'],
]);

// A formatter for amounts of `metric`: "9 GB" for *_gb and *_tb metrics, else "5 users"
// (or "5" when called with `bare`).
export function quantityFormatter(metric) {
  const unit = UNITS.get(metric.split('_').pop());
  let format;
  try {
    format = new Intl.NumberFormat(settings.locale, unit && { style: 'unit', unit });
  } catch {
    format = { format: String };
  }
  return (amount, bare) =>
    format.format(amount) + (unit || bare ? '' : ` ${metric.replace(/_/g, ' ')}`);
}

// A metric or feature id in words: storage_gb → "Storage", audit_log → "Audit log".
export function humanize(id) {
  const words = id.replace(/_[gt]b$/, '').replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// "You've used 9 GB of 10 GB" for an offer's `usage`; other metrics: "4 of 5 users".
export function usageSentence(usage) {
  if (!usage) return null;
  const quantity = quantityFormatter(usage.metric);
  return phrase('used', { used: quantity(usage.used, true), limit: quantity(usage.limit) });
}

// One price in the customer's locale (from its minor units), with its interval and any
// discount.
function onePrice(price) {
  const interval = perInterval(price);
  const full = money(price.unit_amount, price.currency) + interval;
  if (price.discounted_amount == null) return full;
  return phrase('discounted', {
    now: money(price.discounted_amount, price.currency) + interval,
    months: price.discount_months ? phrase('forMonths', { n: price.discount_months }) : '',
    later: full,
  });
}

// What a yearly price saves against twelve monthly payments ({amount, free_months}, worked
// out by the server from the plan's prices): "Save $58.00 a year, 2 months free".
export function yearlySaving({ amount, free_months: free }, currency) {
  const months = free > 1 ? phrase('monthsFree', { n: free }) : free === 1 && phrase('monthFree');
  const saved = phrase('saveYear', { amount: money(amount, currency) });
  return saved + (months ? `, ${months}` : '');
}

// What the offer saves: a switch to yearly billing against twelve monthly payments
// (`saving`, worked out by the server from the plan's prices), or its discount.
function saving(offer, first) {
  if (first.saving) return yearlySaving(first.saving, first.currency);
  const discount = offer.discount;
  if (discount?.percent_off) {
    let percent = `${discount.percent_off} %`;
    try {
      const format = new Intl.NumberFormat(settings.locale, { style: 'percent' });
      percent = format.format(discount.percent_off / 100);
    } catch {
      // the plain form above
    }
    return phrase('savePercent', { percent });
  }
  if (discount?.amount_off) {
    return phrase('saveAmount', { amount: money(discount.amount_off, first.currency) });
  }
  return '';
}

// An offer's prices as one line: each item (a bundle's all), their total when they share a
// currency and an interval, and what the offer saves.
export function priceLine(offer) {
  const prices = offer?.prices || [];
  if (!prices.length) return '';
  const [first] = prices;
  const parts = [prices.map(onePrice).join(' + ')];
  const alike = prices.every(
    (p) => p.currency === first.currency && perInterval(p) === perInterval(first),
  );
  if (prices.length > 1 && alike) {
    const sum = prices.reduce((total, p) => total + (p.discounted_amount ?? p.unit_amount), 0);
    parts.push(phrase('total', { price: money(sum, first.currency) + perInterval(first) }));
  }
  const saved = saving(offer, first);
  if (saved) parts.push(saved);
  return parts.join(' \u00b7 ');
}

// An Idempotency-Key: one per quote, so that a retried Confirm never charges twice.
export function idempotencyKey() {
  try {
    return crypto.randomUUID();
  } catch {
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
}
