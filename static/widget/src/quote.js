// The upgrade modal: a quote when it opens, the charge today, the line items on demand, the
// hold countdown with a re-quote when it runs out, then Confirm → progress → the outcome
// (success, declined card, 3-D Secure, or an error with Retry on the same Idempotency-Key).
import { request, track } from './api.js';
import { openDialog, showFailure, startCountdown } from './dialog.js';
import { element, button } from './dom.js';
import { emit, safely } from './events.js';
import { noInDialog, saidNo } from './feedback.js';
import { formatDate, idempotencyKey, money, perInterval } from './format.js';
import { refreshPlacements } from './placements.js';
import { phrase } from './strings.js';

// An offer that stopped applying (`offer_unavailable`: the customer upgraded meanwhile, or is
// no longer targeted) closes the modal quietly and leaves every placement.
const GONE = ['offer_unavailable', 'offer_already_accepted', 'offer_not_found'];

// A quote line in the customer's words: what it is for (unused or remaining time, a new
// period), its product and from when; Stripe's English description if it is none of those.
const LINE = { credit: 'lineUnused', debit: 'lineRemaining', subscription: 'lineNew' };

function lineText(line) {
  if (!LINE[line.type] || !line.product) return line.description;
  return phrase(LINE[line.type], { product: line.product, date: formatDate(line.period.start) });
}

const THREE_DS_POLL_MS = 3000;
const THREE_DS_POLLS = 200; // ten minutes; after that the host hears through webhooks

// `offer` is the offer's document when the opener has it (a banner, an email's link): its
// copy, and its reasons for Cancel; a declarative button has only the id.
export function openQuote(offerId, opener, offer) {
  let quote = null;
  let key = null;
  let done = false;
  const shown = { offer_id: offerId, variant: offer?.variant }; // variant: else the quote's
  const copy = offer?.copy;
  const dismissed = saidNo('dismiss', shown, undefined, false);
  const dialog = openDialog(opener, (why) => {
    if (!done && why === 'dismiss') dismissed();
  });
  dialog.title.textContent = copy?.title || phrase('upgrade');
  dialog.title.focus();

  async function load(note) {
    dialog.stopTimers();
    dialog.busy(phrase('preparing'));
    try {
      quote = await request('POST', '/quotes', { body: { offer_id: offerId } });
    } catch (error) {
      if (GONE.includes(error.code)) {
        done = true; // not the customer's "no"
        dialog.close('unavailable');
        return refreshPlacements(offerId);
      }
      return showFailure(dialog, error, { where: 'quote', retry: () => load(note) });
    }
    key = idempotencyKey();
    // Opened from a declarative button: the quote says which variant the customer saw.
    if (!shown.variant) {
      shown.variant = quote.variant;
      track(offerId, shown.variant, 'click');
    }
    return showQuote(note);
  }

  function showQuote(note) {
    const trial = quote.kind === 'trial';
    const renewal = quote.next_renewal_at || quote.next_invoice_at;
    const unit = perInterval(offer?.prices?.[0]);
    const discount = quote.discount;
    const recurring =
      quote.next_invoice_amount != null
        ? money(quote.next_invoice_amount, quote.currency) + unit
        : null;
    // A discounted renewal says until when, and the full price after it.
    const discountedUntil =
      recurring && discount?.ends_at && quote.next_invoice_amount !== quote.recurring_amount
        ? phrase('until', {
            date: formatDate(discount.ends_at),
            price: money(quote.recurring_amount, quote.currency) + unit,
          })
        : '';

    const lines = element('ul', { id: 'uplift-lines', hidden: '' });
    for (const line of quote.lines) {
      const description = element('span', null, lineText(line));
      const amount = element('span', null, money(line.amount, quote.currency));
      lines.appendChild(element('li', null, description, amount));
    }
    const due = money(quote.amount_due_now, quote.currency);
    const toggle = quote.lines.length
      ? button(
          phrase('details'),
          'link',
          () => {
            const open = lines.hasAttribute('hidden');
            lines.toggleAttribute('hidden', !open);
            toggle.setAttribute('aria-expanded', String(open));
            toggle.textContent = phrase(open ? 'hide' : 'details');
          },
          { 'aria-expanded': 'false', 'aria-controls': 'uplift-lines' },
        )
      : null;
    const countdown = element('p', { class: 'muted', 'data-uplift-countdown': '' });
    const confirm = button(phrase(trial ? 'startTrial' : 'pay'), 'primary', accept);
    const heading = trial
      ? phrase('trialTitle', { days: quote.trial_days, plan: quote.plan?.name })
      : copy?.title || phrase('confirmTitle');
    const renews = renewal ? phrase('from', { date: formatDate(renewal) }) : '';

    dialog.live.textContent = '';
    dialog.show(
      heading,
      [
        note ? element('p', { class: 'muted', role: 'status' }, note) : null,
        copy?.body ? element('p', null, copy.body) : null,
        element('p', { class: 'muted' }, phrase('due')),
        element(
          'div',
          { class: 'amount-due', 'data-uplift-due': '' },
          due,
        ),
        discount?.amount_off_now
          ? element(
              'p',
              { class: 'muted', 'data-uplift-saved': '' },
              phrase('saved', { amount: money(discount.amount_off_now, quote.currency) }),
            )
          : null,
        toggle,
        lines,
        recurring
          ? element(
              'p',
              { 'data-uplift-then': '' },
              phrase('then', { price: recurring }) + renews + discountedUntil,
            )
          : null,
        countdown,
        element(
          'div',
          { class: 'actions' },
          button(phrase('cancel'), null, () => noInDialog(dialog, offer, dismissed, 'dismiss')),
          confirm,
        ),
      ],
      confirm,
    );
    dialog.live.textContent = `${phrase('due')} ${due}`;
    // The hold is counted from when the quote arrived. The page's wall clock may be off from
    // the server's: a clock that is far ahead would otherwise re-quote forever, so the hold
    // shown is at least 30 s (the server still refuses an expired quote with a 410, which
    // re-quotes too).
    startCountdown(dialog, countdown, {
      seconds: Math.min(Math.max(quote.expires_at - Date.now() / 1000, 30), 3600),
      label: (time) => phrase('held', { time }),
      onEnd: () => load(phrase('expired')),
    });
  }

  async function accept() {
    dialog.stopTimers();
    dialog.busy(phrase('processing'));
    let upgrade;
    try {
      upgrade = await request('POST', '/accept', {
        body: { quote_id: quote.quote_id },
        headers: { 'Idempotency-Key': key },
      });
    } catch (error) {
      if (error.status === 410) return load(phrase('expired'));
      if (error.status === 409 && error.detail?.fresh_quote_id) return load(phrase('stale'));
      // The same change made by another accept (another tab, a double click): show that one.
      if (error.status === 409 && error.detail?.upgrade_id) {
        try {
          const upgradeId = encodeURIComponent(error.detail.upgrade_id);
          upgrade = await request('GET', `/upgrades/${upgradeId}`);
        } catch (readError) {
          return showFailure(dialog, readError, { where: 'quote', retry: accept });
        }
        return outcome(upgrade);
      }
      return showFailure(dialog, error, { where: 'quote', retry: accept });
    }
    return outcome(upgrade);
  }

  function outcome(upgrade) {
    if (upgrade.status === 'succeeded' || upgrade.status === 'pending') {
      succeeded(upgrade);
    } else if (upgrade.status === 'requires_action') {
      confirmWithBank(upgrade);
    } else {
      declined(upgrade);
    }
  }

  // The heading says what happened (upgraded, switched to yearly billing, added, trial
  // started); the line under it what was paid, that nothing was, or until when a trial runs.
  function succeeded(upgrade) {
    done = true;
    const trial = upgrade.object === 'trial';
    const amount = upgrade.amount_paid ?? quote.amount_due_now;
    const currency = upgrade.currency || quote.currency;
    let heading = 'upgraded';
    if (trial) heading = 'trialStarted';
    else if (quote.kind === 'add') heading = 'added';
    else if (offer?.kind === 'interval_switch') {
      const interval = offer.prices?.[0]?.interval;
      if (interval === 'year' || interval === 'month') {
        heading = interval === 'year' ? 'switchedYear' : 'switchedMonth';
      }
    }
    let said = phrase('paid', { amount: money(amount, currency) });
    if (upgrade.status === 'pending') said = phrase('applying');
    else if (trial) {
      said = upgrade.ends_at ? phrase('trialEnds', { date: formatDate(upgrade.ends_at) }) : '';
    }
    else if (!(amount > 0)) said = phrase('nothingDue');
    const doneButton = button(phrase('done'), 'primary', () => dialog.close('done'));
    dialog.show(
      phrase(heading),
      [
        said && element('p', { class: 'success', role: 'status' }, said),
        element('div', { class: 'actions' }, doneButton),
      ],
      doneButton,
    );
    emit('accepted', {
      offer_id: offerId,
      upgrade_id: upgrade.id,
      status: upgrade.status,
      amount_paid: upgrade.amount_paid,
    });
    refreshPlacements(offerId);
  }

  // 3-D Secure: the invoice's hosted page in a new window, then poll until the bank answers.
  function confirmWithBank(upgrade) {
    const openPage = button(phrase('open3ds'), 'primary', () => {
      window.open(upgrade.hosted_invoice_url, '_blank', 'noopener');
      dialog.busy(phrase('waiting'));
      let polls = 0;
      dialog.every(THREE_DS_POLL_MS, async () => {
        polls += 1;
        if (polls > THREE_DS_POLLS) {
          dialog.stopTimers();
          const error = new Error('3-D Secure: the bank has not confirmed within ten minutes');
          const said = phrase('stillWaiting');
          const retry = () => outcome(upgrade);
          return showFailure(dialog, error, { where: 'quote', retry, said });
        }
        const now = await request('GET', `/upgrades/${encodeURIComponent(upgrade.id)}`);
        if (now.status !== 'requires_action') {
          dialog.stopTimers();
          outcome(now);
        }
        return undefined;
      });
    });
    dialog.show(
      phrase('bankTitle'),
      [element('p', null, phrase('bankBody')), element('div', { class: 'actions' }, openPage)],
      openPage,
    );
  }

  function declined(upgrade) {
    const again = button(phrase('again'), 'primary', () => load());
    dialog.show(
      phrase('declined'),
      [
        element(
          'p',
          { class: 'danger', role: 'alert' },
          upgrade.failure_reason || phrase('cardDeclined'),
        ),
        element('p', { class: 'muted' }, phrase('nothingCharged')),
        element(
          'div',
          { class: 'actions' },
          button(phrase('close'), null, () => dialog.close('declined')),
          again,
        ),
      ],
      again,
    );
    emit('declined', { offer_id: offerId, upgrade_id: upgrade.id, reason: upgrade.failure_reason });
  }

  safely(load, 'quote')();
  return dialog;
}
