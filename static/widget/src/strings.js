// Every word the widget itself says, replaceable through Uplift.init({strings}); offer copy
// comes from the server. `{name}` is filled in by phrase().
import { LOCALES } from 'uplift:build';

export const STRINGS = {
  upgrade: 'Upgrade',
  preparing: 'Preparing your price\u2026',
  details: 'Show details',
  hide: 'Hide details',
  pay: 'Confirm and pay',
  startTrial: 'Start trial',
  trialTitle: 'Start your {days}-day {plan} trial',
  confirmTitle: 'Confirm your upgrade',
  due: 'Due today',
  then: 'Then {price}',
  from: ' from {date}',
  held: 'This price is held for {time}',
  cancel: 'Cancel',
  processing: 'Processing your payment\u2026',
  expired: 'That price expired, so here is a fresh one.',
  stale: 'Your subscription changed, so the price was updated.',
  done: 'Done',
  upgraded: 'You\u2019re upgraded',
  switchedYear: 'You\u2019re now billed yearly',
  switchedMonth: 'You\u2019re now billed monthly',
  nothingDue: 'Nothing to pay today.',
  trialEnds: 'Your trial runs until {date}.',
  discounted: '{now}{months}, then {later}',
  forMonths: ' for {n} months',
  total: 'Total {price}',
  saveYear: 'Save {amount} a year',
  monthsFree: '{n} months free',
  monthFree: '1 month free',
  savePercent: 'Save {percent}',
  saveAmount: 'Save {amount}',
  perDay: ' / day',
  perWeek: ' / week',
  perMonth: ' / month',
  perYear: ' / year',
  everyDay: ' every {n} days',
  everyWeek: ' every {n} weeks',
  everyMonth: ' every {n} months',
  everyYear: ' every {n} years',
  lineUnused: 'Unused time on {product} after {date}',
  lineRemaining: 'Remaining time on {product} after {date}',
  lineNew: '{product} from {date}',
  added: 'Added to your subscription',
  trialStarted: 'Your trial has started',
  applying: 'Your change is being applied.',
  paid: 'Paid {amount}. Thank you!',
  open3ds: 'Open secure payment page',
  waiting: 'Waiting for your bank\u2026',
  bankTitle: 'Confirm with your bank',
  bankBody: 'Your bank asks you to confirm this payment in a new window.',
  stillWaiting:
    'Your bank has not confirmed yet. The upgrade completes as soon as it does; you may close ' +
    'this window.',
  again: 'Try again',
  declined: 'Payment declined',
  cardDeclined: 'Your card was declined.',
  nothingCharged: 'Nothing was charged. Update your card and try again.',
  close: 'Close',
  dismiss: 'Dismiss',
  retry: 'Retry',
  wrong: 'Something went wrong',
  tryLater: 'Please try again.',
  offline: 'We could not reach the server. Check your connection and try again.',
  tooMany: 'That was a lot of tries. Please wait a moment and try again.',
  noSubscription: 'This needs an active subscription.',
  alreadyHave: 'You already have this on your subscription.',
  discountRunning: 'A discount is already running on your subscription.',
  yes: 'Yes, add it',
  no: 'No thanks',
  oneMore: 'One more thing',
  ended: 'This offer has ended.',
  endsIn: 'Offer ends in {time}',
  keep: 'Keep my plan',
  downgrade: 'Downgrade to {plan}',
  downgradeTitle: 'Downgrade to {plan}?',
  lose: 'You will lose the features of your current plan at the end of the billing period.',
  takeOffer: 'Take the offer',
  beforeYouGo: 'Before you go',
  used: 'You\u2019ve used {used} of {limit}',
  lostTitle: 'What you would give up on {plan}',
  lostLimit: '{metric}: you use {used}; {plan} allows {limit}',
  lostCap: '{metric}: {plan} allows {limit}',
  usedTimes: '{feature}: used {n} times',
  usedOnce: '{feature}: used once',
  lastUsed: '{feature}: last used {date}',
  notIn: '{feature}: not in {plan}',
  saved: 'Includes {amount} off',
  until: ' until {date}, then {price}',
  keepFor: 'You keep your plan and pay {price} instead of {full}{until}.',
  keepUntil: ' until {date}',
  keepTitle: 'Confirm your discount',
  confirm: 'Confirm',
  why: 'Mind telling us why?',
  more: 'Anything to add? (optional)',
  send: 'Send',
  skip: 'Skip',
  confirmDowngrade: 'Confirm downgrade',
  submit: 'Submit',
  scaleHint: '1 is the lowest, 5 the highest.',
  thanks: 'Thank you for your answer!',
  plans: 'Plans',
  billing: 'Billing period',
  monthly: 'Monthly',
  yearly: 'Yearly',
  currentPlan: 'Current plan',
  limit: '{metric}: {limit}',
  unlimited: '{metric}: unlimited',
};

// What the customer reads about a failed request: the widget's own words for what they can
// act on, else "Please try again." Never the server's message, which is for the developer
// (it goes to `uplift:error`) and may name ids or rules; an error the widget made to be read
// (`own`: the admin's preview refusing to charge) says its own message.
const SAID_FOR = {
  rate_limited: 'tooMany',
  no_subscription: 'noSubscription',
  addon_already_subscribed: 'alreadyHave',
  retention_discount_active: 'discountRunning',
};

export const customerMessage = (error) =>
  error?.own
    ? error.message
    : phrase(error?.status ? SAID_FOR[error.code] || 'tryLater' : 'offline');

// The string `key` with its `{name}` placeholders filled from `values` (a missing one is '').
export const phrase = (key, values) =>
  String(STRINGS[key]).replace(/\{(\w+)\}/g, (_, name) => values?.[name] ?? '');

const ENGLISH = { ...STRINGS };
const hosts = {}; // what the page gave through init({strings}): it wins over any catalogue

// Only known keys, only strings.
function assign(words) {
  for (const [key, value] of Object.entries(words || {})) {
    if (Object.prototype.hasOwnProperty.call(STRINGS, key) && typeof value === 'string') {
      STRINGS[key] = value;
    }
  }
}

// Uplift.init({strings}).
export function replaceStrings(strings) {
  Object.assign(hosts, strings);
  assign(strings);
}

// The languages the widget ships besides English (static/widget/locales/), each by the hash of
// its catalogue, fetched from the Uplift that served the script on first use at that immutable
// URL: the core the page loads carries only English.
let wanted = 'en';

// Everything the widget draws waits for this: the words of the locale asked for last.
let wordsReady = Promise.resolve();

// `method`, run once the words of the locale asked for last are there.
export const worded =
  (method) =>
  async (...args) => {
    let ready;
    do {
      ready = wordsReady;
      await ready;
    } while (ready !== wordsReady);
    return method(...args);
  };

// Use `locale`'s words (its language's catalogue; English if the widget does not ship it,
// or if it cannot be fetched, which `onError` hears of).
export function useLocale(locale, api, onError) {
  const language = String(locale || 'en').toLowerCase().split('-')[0];
  if (language === wanted) return wordsReady;
  wanted = language;
  if (!Object.prototype.hasOwnProperty.call(LOCALES, language)) {
    Object.assign(STRINGS, ENGLISH);
    assign(hosts);
    wordsReady = Promise.resolve();
    return wordsReady;
  }
  const url = `${api}/locales/${language}?v=${LOCALES[language]}`;
  wordsReady = fetch(url, { credentials: 'omit' })
    .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
    .then((words) => {
      if (wanted !== language) return; // another locale was asked for meanwhile
      Object.assign(STRINGS, ENGLISH);
      assign(words);
      assign(hosts);
    })
    .catch((error) => onError?.(error));
  return wordsReady;
}
