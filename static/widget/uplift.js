/*! Uplift widget: upgrade buttons, banners, the upgrade modal, post-order and retention
 * screens. One IIFE, one global (window.Uplift), no dependencies, no build step.
 * Safe in any host page: Shadow DOM, one constructable stylesheet, text via textContent only,
 * and no exception ever reaches the host (failures become `uplift:error` events on document).
 * See static/widget/README.md for the embed snippet, the JS API, events and CSP. */
(function () {
  'use strict';
  // Captured synchronously: document.currentScript is null once this first run is over.
  var script = document.currentScript;
  if (!script) return;
  var stub = window.Uplift;
  if (stub && stub.version) return; // loaded twice: the first copy stays in charge

  var data = function (name) { return script.getAttribute('data-' + name); };
  var API = (data('api') || new URL(script.src, location.href).origin).replace(/\/$/, '') + '/api/v1/widget';
  // Kinds whose Yes opens the quote modal (add-ons are charged by Uplift; post_order's Yes is still the host's).
  var QUOTABLE = ['upgrade', 'interval_switch', 'trial', 'cross_sell', 'bundle', 'post_order'];
  var tokenSource = null;
  var token = null;
  var locale = data('locale') || navigator.language || 'en';

  var CSS = [
    ':host{all:initial!important;display:contents!important}',
    '.u{font:14px/1.45 var(--uplift-font,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif);color:var(--uplift-fg,#111827);box-sizing:border-box;display:block}',
    '.u *{box-sizing:border-box;font:inherit;color:inherit}',
    '.card{display:flex;flex-wrap:wrap;align-items:center;gap:8px 16px;padding:12px 16px;margin:4px 0;background:var(--uplift-banner-bg,#eef2ff);border:1px solid var(--uplift-border,#c7d2fe);border-radius:var(--uplift-radius,8px)}',
    '.card .txt{flex:1 1 220px}',
    '.u h2{margin:0 32px 8px 0;font-weight:700;font-size:20px;line-height:1.3}',
    '.u .t{margin:0 0 4px;font-weight:600;font-size:16px}',
    '.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}',
    'p{margin:0 0 8px}',
    '.muted{color:var(--uplift-muted,#4b5563);font-size:13px}',
    'progress{display:block;width:100%;height:6px;margin:0 0 8px;accent-color:var(--uplift-accent,#4338ca)}',
    'button{cursor:pointer;border-radius:var(--uplift-radius,8px);padding:8px 14px;border:1px solid var(--uplift-border,#c7d2fe);background:var(--uplift-bg,#fff);display:inline-block;margin:0}',
    'button.p{background:var(--uplift-accent,#4338ca);border-color:var(--uplift-accent,#4338ca);color:var(--uplift-accent-fg,#fff);font-weight:600}',
    'button[disabled]{opacity:.6;cursor:progress}',
    'button.x{border:0;background:transparent;padding:4px 8px;font-size:18px;line-height:1}',
    'button.l{border:0;background:transparent;padding:0;text-decoration:underline}',
    ':focus-visible{outline:3px solid var(--uplift-focus,#2563eb)!important;outline-offset:2px}',
    '.ov{position:fixed;inset:0;z-index:2147483000;display:flex;align-items:center;justify-content:center;padding:16px;background:var(--uplift-backdrop,rgba(17,24,39,.55))}',
    '.dlg{position:relative;width:100%;max-width:440px;max-height:100%;overflow:auto;padding:24px;background:var(--uplift-bg,#fff);border-radius:var(--uplift-radius,12px);box-shadow:0 20px 50px rgba(0,0,0,.3);animation:uin .18s ease-out}',
    '.dlg>.x{position:absolute;top:8px;right:8px}',
    '.due{font-size:28px;font-weight:700;margin:8px 0}',
    '.row{display:flex;gap:8px;justify-content:flex-end;flex-wrap:wrap;margin-top:16px}',
    'ul{list-style:none;margin:8px 0;padding:0}',
    'li{display:flex;justify-content:space-between;gap:12px;padding:4px 0;border-top:1px solid #e5e7eb}',
    '.ok{color:var(--uplift-success,#047857)}.bad{color:var(--uplift-danger,#b91c1c)}',
    '@keyframes uin{from{opacity:0;transform:translateY(8px)}}',
    '@media (prefers-reduced-motion:reduce){.dlg{animation:none}*{transition:none!important}}',
  ].join('\n');
  // Every word the widget itself says, replaceable through Uplift.init({strings}); offer copy
  // comes from the server. `{name}` is filled in by t().
  var S = {
    upgrade: 'Upgrade', preparing: 'Preparing your price\u2026', details: 'Show details', hide: 'Hide details',
    pay: 'Confirm and pay', startTrial: 'Start trial', trialTitle: 'Start your {days}-day {plan} trial',
    confirmTitle: 'Confirm your upgrade', due: 'Due today', then: 'Then {price}', from: ' from {date}',
    held: 'This price is held for {time}', cancel: 'Cancel', processing: 'Processing your payment\u2026',
    expired: 'That price expired, so here is a fresh one.', stale: 'Your subscription changed, so the price was updated.',
    done: 'Done', upgraded: 'You\u2019re upgraded', added: 'Added to your subscription', trialStarted: 'Your trial has started',
    applying: 'Your change is being applied.', paid: 'Paid {amount}. Thank you!',
    open3ds: 'Open secure payment page', waiting: 'Waiting for your bank\u2026', bankTitle: 'Confirm with your bank',
    bankBody: 'Your bank asks you to confirm this payment in a new window.', stillWaiting: 'Still waiting for your bank; we will email you when it is done.',
    again: 'Try again', declined: 'Payment declined', cardDeclined: 'Your card was declined.',
    nothingCharged: 'Nothing was charged. Update your card and try again.', close: 'Close', dismiss: 'Dismiss',
    retry: 'Retry', wrong: 'Something went wrong', tryLater: 'Please try again.', yes: 'Yes, add it', no: 'No thanks',
    oneMore: 'One more thing', ended: 'This offer has ended.', endsIn: 'Offer ends in {time}',
    keep: 'Keep my plan', downgrade: 'Downgrade to {plan}', downgradeTitle: 'Downgrade to {plan}?',
    lose: 'You will lose the features of your current plan at the end of the billing period.',
    takeOffer: 'Take the offer', beforeYouGo: 'Before you go', used: 'You\u2019ve used {used} of {limit}',
    lostTitle: 'What you would give up on {plan}', lostLimit: '{metric}: you use {used}; {plan} allows {limit}',
    lostCap: '{metric}: {plan} allows {limit}', usedTimes: '{feature}: used {n} times', usedOnce: '{feature}: used once',
    lastUsed: '{feature}: last used {date}', notIn: '{feature}: not in {plan}',
    saved: 'Includes {amount} off', until: ' until {date}, then {price}',
    keepFor: 'You keep your plan and pay {price} instead of {full}{until}.', keepUntil: ' until {date}',
    keepTitle: 'Confirm your discount', confirm: 'Confirm',
  };
  function t(key, vars) {
    return String(S[key]).replace(/\{(\w+)\}/g, function (_, name) { return vars && vars[name] != null ? vars[name] : ''; });
  }

  var sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  var themeSheet = new CSSStyleSheet();

  // Helpers --------------------------------------------------------------------------------

  function emit(name, detail) {
    try { document.dispatchEvent(new CustomEvent('uplift:' + name, { detail: detail })); } catch (e) { /* never */ }
  }
  function fail(error, where) {
    emit('error', { code: (error && error.code) || 'widget_error', message: String((error && error.message) || error), where: where });
  }
  // Runs `fn`, turning a throw or a rejected promise into an `uplift:error` event.
  function safe(fn, where) {
    return function () {
      try {
        var r = fn.apply(null, arguments);
        return r && r.catch ? r.catch(function (e) { fail(e, where); }) : r;
      } catch (e) { fail(e, where); }
    };
  }

  // el('button', {class: 'p', type: 'button'}, 'text', child…): attributes and text only.
  function el(tag, attrs) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k.slice(0, 2) === 'on') continue; // never an inline handler
      if (attrs[k] != null) node.setAttribute(k, attrs[k]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c == null || c === false) continue;
      if (typeof c === 'object') node.appendChild(c);
      else node.appendChild(document.createTextNode(String(c)));
    }
    return node;
  }
  function button(text, cls, handler, attrs) {
    var b = el('button', Object.assign({ type: 'button', class: cls || null }, attrs), text);
    b.addEventListener('click', safe(handler, 'click'));
    return b;
  }
  function shadowHost(parent) {
    var host = el('div', { 'data-uplift': '' });
    var root = host.attachShadow({ mode: 'open' });
    root.adoptedStyleSheets = [sheet, themeSheet];
    parent.appendChild(host);
    return root;
  }

  var fractionDigits = {};
  function money(amount, currency) {
    var cur = String(currency || 'usd').toUpperCase();
    try {
      var f = new Intl.NumberFormat(locale, { style: 'currency', currency: cur });
      if (!(cur in fractionDigits)) fractionDigits[cur] = f.resolvedOptions().maximumFractionDigits;
      return f.format(amount / Math.pow(10, fractionDigits[cur]));
    } catch (e) { return (amount / 100).toFixed(2) + ' ' + cur; }
  }
  function per(price) {
    if (!price || !price.interval) return '';
    var n = price.interval_count || 1;
    return n === 1 ? ' / ' + price.interval : ' every ' + n + ' ' + price.interval + 's';
  }
  function date(unix) {
    try { return new Intl.DateTimeFormat(locale, { dateStyle: 'medium' }).format(new Date(unix * 1000)); } catch (e) { return ''; }
  }
  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    return (h ? h + ':' + String(m).padStart(2, '0') : m) + ':' + String(s).padStart(2, '0');
  }
  function uuid() {
    try { return crypto.randomUUID(); } catch (e) { return Date.now().toString(36) + Math.random().toString(36).slice(2); }
  }
  // A number of `metric` in the locale: "9 GB" for *_gb/*_tb, else "5 users" (`bare`: "5").
  function quantity(metric) {
    var unit = { gb: 'gigabyte', tb: 'terabyte' }[metric.split('_').pop()], f;
    try { f = new Intl.NumberFormat(locale, unit && { style: 'unit', unit: unit }); } catch (e) { f = { format: String }; }
    return function (n, bare) { return f.format(n) + (unit || bare ? '' : ' ' + metric.replace(/_/g, ' ')); };
  }
  // A metric or feature id in words: storage_gb → "Storage", audit_log → "Audit log".
  function label(id) {
    var s = id.replace(/_[gt]b$/, '').replace(/_/g, ' ');
    return s.charAt(0).toUpperCase() + s.slice(1);
  }
  // "You've used 9 GB of 10 GB" in the customer's locale; other metrics: "4 of 5 users".
  function usageLine(u) {
    if (!u) return null;
    var q = quantity(u.metric);
    return t('used', { used: q(u.used, 1), limit: q(u.limit) });
  }
  // The retention screen's list of what moving down to `plan` takes away (the API's
  // `downgrade`): limits the customer is over first, then features, used ones first.
  function lostList(down, plan) {
    var items = down ? down.limits.map(function (l) {
      var q = quantity(l.metric);
      return el('li', { class: l.over ? 'bad' : null }, t(l.used == null ? 'lostCap' : 'lostLimit', { metric: label(l.metric), plan: plan, used: q(l.used), limit: q(l.new_limit) }));
    }).concat(down.features.map(function (f) {
      var n = f.uses;
      return el('li', null, t(n ? (n === 1 ? 'usedOnce' : 'usedTimes') : f.last_used_at ? 'lastUsed' : 'notIn',
        { feature: label(f.feature), plan: plan, n: n && quantity('')(n, 1), date: date(f.last_used_at) }));
    })) : [];
    return items.length ? [el('p', { id: 'uplift-lost', class: 't' }, t('lostTitle', { plan: plan })), el('ul', { 'aria-labelledby': 'uplift-lost' }, ...items)] : [];
  }
  function priceLine(offer) {
    var p = offer && offer.prices && offer.prices[0];
    if (!p) return '';
    if (p.discounted_display != null) {
      return p.discounted_display + per(p) + (p.discount_months ? ' for ' + p.discount_months + ' months' : '') + ', then ' + p.display + per(p);
    }
    return p.display + per(p);
  }

  // Network ----------------------------------------------------------------------------------

  // Concurrent callers (the offer list, telemetry, two 401s at once) share one call of the
  // page's token function.
  var pending = null;
  async function getToken(fresh) {
    if (typeof tokenSource === 'function') {
      if (fresh || !token) {
        pending = pending || Promise.resolve().then(tokenSource).finally(function () { pending = null; });
        token = await pending;
      }
    } else token = tokenSource;
    if (!token) throw Object.assign(new Error('Uplift has no customer token; call Uplift.init({token}).'), { code: 'no_token' });
    return String(token);
  }

  // One request to the widget API; a 401 asks a token function for a new token, once.
  async function api(method, path, body, extra, retried) {
    var headers = Object.assign({ Authorization: 'Bearer ' + (await getToken(retried)) }, extra);
    if (body) headers['Content-Type'] = 'application/json';
    // keepalive for telemetry: a click that navigates away still gets its event through.
    var res = await fetch(API + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined, credentials: 'omit', keepalive: path === '/events' });
    if (res.status === 401 && !retried && typeof tokenSource === 'function') return api(method, path, body, extra, true);
    var json = null;
    try { json = await res.json(); } catch (e) { /* not JSON */ }
    if (!res.ok) {
      var err = (json && json.error) || {};
      throw Object.assign(new Error(err.message || 'HTTP ' + res.status), { status: res.status, code: err.code || 'http_' + res.status, detail: err });
    }
    return json;
  }

  // Telemetry: sendBeacon cannot carry the Authorization header, so events go with fetch
  // and keepalive (see api), which also survives the page being unloaded.
  function track(offerId, variant, type) {
    if (!offerId || !variant) return;
    api('POST', '/events', { offer_id: offerId, variant: variant, type: type }).catch(function (e) { fail(e, 'event'); });
  }

  async function offersFor(placement) {
    var list = await api('GET', '/offers' + (placement ? '?placement=' + encodeURIComponent(placement) : ''));
    return (list && list.data) || [];
  }

  // Dialogs ----------------------------------------------------------------------------------

  var FOCUSABLE = 'button:not([disabled]),a[href],[tabindex]:not([tabindex="-1"])';

  // A modal dialog in its own shadow root: labelled, focus moved in and trapped, Escape and the
  // close button call `onClose`, focus goes back to `opener` when it closes.
  var current = null; // one dialog at a time: a new one replaces the open one
  function dialog(opener, onClose) {
    if (current) current.close('replaced');
    var root = shadowHost(document.body);
    var title = el('h2', { id: 'uplift-title', tabindex: '-1' });
    var live = el('div', { class: 'sr', 'aria-live': 'polite', 'aria-atomic': 'true' });
    var body = el('div');
    var close = button('\u00d7', 'x', function () { d.close('dismiss'); }, { 'aria-label': t('close') });
    var box = el('div', { class: 'dlg', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'uplift-title' }, close, title, live, body);
    var overlay = el('div', { class: 'u ov' }, box);
    var timers = [];
    var closed = false;
    overlay.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') { e.stopPropagation(); d.close('dismiss'); return; }
      if (e.key !== 'Tab') return;
      var items = Array.prototype.slice.call(box.querySelectorAll(FOCUSABLE));
      if (!items.length) { e.preventDefault(); return; }
      var first = items[0], last = items[items.length - 1], active = root.activeElement;
      if (e.shiftKey && (active === first || !box.contains(active))) { e.preventDefault(); last.focus(); }
      else if (!e.shiftKey && (active === last || !box.contains(active))) { e.preventDefault(); first.focus(); }
    });
    overlay.addEventListener('click', function (e) { if (e.target === overlay) d.close('dismiss'); });
    // Focus that lands outside (a host script, a click we did not see) is brought back in.
    var keepFocus = function (e) { if (e.target !== root.host) title.focus(); };
    document.addEventListener('focusin', keepFocus);
    root.appendChild(overlay);
    var d = {
      root: root, title: title, live: live, body: body, box: box,
      // Replace the dialog's content; focus `focus` (or the title) so the change is heard.
      show: function (heading, nodes, focus) {
        title.textContent = heading;
        body.replaceChildren.apply(body, nodes.filter(Boolean));
        box.setAttribute('aria-busy', 'false');
        (focus || title).focus();
      },
      busy: function (text) {
        body.replaceChildren(el('p', { class: 'muted' }, text));
        box.setAttribute('aria-busy', 'true');
      },
      every: function (ms, fn) { timers.push(setInterval(safe(fn, 'timer'), ms)); },
      stopTimers: function () { timers.splice(0).forEach(clearInterval); },
      close: function (why) {
        if (closed) return;
        closed = true;
        current = null;
        d.stopTimers();
        document.removeEventListener('focusin', keepFocus);
        root.host.remove();
        if (opener && opener.isConnected && opener.focus) opener.focus();
        if (onClose) onClose(why);
      },
    };
    current = d;
    return d;
  }

  // The upgrade modal: quote on open, the charge today, details on demand, the hold countdown
  // with a re-quote when it runs out, then confirm → progress → the outcome.
  function openQuote(offerId, opener, offer) {
    var quote = null, key = null, done = false, variant = offer && offer.variant;
    var d = dialog(opener, function (why) {
      if (!done && why === 'dismiss') { track(offerId, variant, 'dismiss'); emit('dismissed', { offer_id: offerId }); }
    });
    d.title.textContent = (offer && offer.copy && offer.copy.title) || t('upgrade');
    d.title.focus();

    async function load(note) {
      d.stopTimers();
      d.busy(t('preparing'));
      try {
        quote = await api('POST', '/quotes', { offer_id: offerId });
      } catch (e) { return problem(e, function () { load(note); }); }
      key = uuid();
      if (!variant) { variant = quote.variant; track(offerId, variant, 'click'); }
      showQuote(note);
    }

    function showQuote(note) {
      var trial = quote.kind === 'trial';
      var renewal = quote.next_renewal_at || quote.next_invoice_at;
      var unit = per(offer && offer.prices && offer.prices[0]), disc = quote.discount;
      var recurring = quote.next_invoice_amount != null ? money(quote.next_invoice_amount, quote.currency) + unit : null;
      // A discounted renewal says until when, and the full price after it.
      var after = recurring && disc && disc.ends_at && quote.next_invoice_amount !== quote.recurring_amount
        ? t('until', { date: date(disc.ends_at), price: money(quote.recurring_amount, quote.currency) + unit }) : '';
      var details = el('ul', { id: 'uplift-lines', hidden: '' });
      quote.lines.forEach(function (l) { details.appendChild(el('li', null, el('span', null, l.description), el('span', null, l.display))); });
      var toggle = quote.lines.length ? button(t('details'), 'l', function () {
        var open = details.hasAttribute('hidden');
        details.toggleAttribute('hidden', !open);
        toggle.setAttribute('aria-expanded', String(open));
        toggle.textContent = t(open ? 'hide' : 'details');
      }, { 'aria-expanded': 'false', 'aria-controls': 'uplift-lines' }) : null;
      var countdown = el('p', { class: 'muted', 'data-uplift-countdown': '' });
      var confirm = button(t(trial ? 'startTrial' : 'pay'), 'p', accept);
      d.live.textContent = '';
      d.show(trial ? t('trialTitle', { days: quote.trial_days, plan: quote.plan && quote.plan.name }) : (offer && offer.copy && offer.copy.title) || t('confirmTitle'), [
        note ? el('p', { class: 'muted', role: 'status' }, note) : null,
        offer && offer.copy && offer.copy.body ? el('p', null, offer.copy.body) : null,
        el('p', { class: 'muted' }, t('due')),
        el('div', { class: 'due', 'data-uplift-due': '' }, quote.amount_due_now_display),
        disc && disc.amount_off_now ? el('p', { class: 'muted', 'data-uplift-saved': '' }, t('saved', { amount: money(disc.amount_off_now, quote.currency) })) : null,
        toggle, details,
        recurring ? el('p', { 'data-uplift-then': '' }, t('then', { price: recurring }) + (renewal ? t('from', { date: date(renewal) }) : '') + after) : null,
        countdown,
        el('div', { class: 'row' }, button(t('cancel'), null, function () { d.close('dismiss'); }), confirm),
      ], confirm);
      d.live.textContent = t('due') + ' ' + quote.amount_due_now_display;
      // The hold is counted on the monotonic clock from when the quote arrived. The page's
      // wall clock may be off from the server's: a clock that is far ahead would otherwise
      // re-quote forever, so the hold shown is at least 30 s (the server still refuses an
      // expired quote with a 410, which re-quotes too).
      var held = Math.min(Math.max(quote.expires_at - Date.now() / 1000, 30), 3600);
      var deadline = performance.now() / 1000 + held;
      var tick = function () {
        var left = deadline - performance.now() / 1000;
        if (left <= 0) return load(t('expired'));
        countdown.textContent = t('held', { time: clock(left) });
      };
      tick();
      d.every(1000, tick);
    }

    async function accept() {
      d.stopTimers();
      d.busy(t('processing'));
      var upgrade;
      try {
        upgrade = await api('POST', '/accept', { quote_id: quote.quote_id }, { 'Idempotency-Key': key });
      } catch (e) {
        if (e.status === 410) return load(t('expired'));
        if (e.status === 409 && e.detail && e.detail.fresh_quote_id) return load(t('stale'));
        // The same change made by another accept (another tab, a double click): show that one.
        if (e.status === 409 && e.detail && e.detail.upgrade_id) {
          try { upgrade = await api('GET', '/upgrades/' + encodeURIComponent(e.detail.upgrade_id)); } catch (e2) { return problem(e2, accept); }
          return outcome(upgrade);
        }
        return problem(e, accept);
      }
      outcome(upgrade);
    }

    function outcome(upgrade) {
      if (upgrade.status === 'succeeded' || upgrade.status === 'pending') {
        done = true;
        var paid = upgrade.amount_paid != null ? money(upgrade.amount_paid, upgrade.currency || quote.currency) : quote.amount_due_now_display;
        var ok = button(t('done'), 'p', function () { d.close('done'); });
        d.show(t(upgrade.object === 'trial' ? 'trialStarted' : quote.kind === 'add' ? 'added' : 'upgraded'), [
          el('p', { class: 'ok', role: 'status' }, upgrade.status === 'pending' ? t('applying') : t('paid', { amount: paid })),
          el('div', { class: 'row' }, ok),
        ], ok);
        emit('accepted', { offer_id: offerId, upgrade_id: upgrade.id, status: upgrade.status, amount_paid: upgrade.amount_paid });
      } else if (upgrade.status === 'requires_action') {
        var open = button(t('open3ds'), 'p', function () {
          window.open(upgrade.hosted_invoice_url, '_blank', 'noopener');
          d.busy(t('waiting'));
          var polls = 0;
          d.every(3000, async function () {
            // Ten minutes, then the host hears about it through webhooks and `uplift:error`.
            if (++polls > 200) { d.stopTimers(); return problem(new Error(t('stillWaiting')), function () { outcome(upgrade); }); }
            var now = await api('GET', '/upgrades/' + encodeURIComponent(upgrade.id));
            if (now.status !== 'requires_action') { d.stopTimers(); outcome(now); }
          });
        });
        d.show(t('bankTitle'), [el('p', null, t('bankBody')), el('div', { class: 'row' }, open)], open);
      } else {
        var again = button(t('again'), 'p', function () { load(); });
        d.show(t('declined'), [
          el('p', { class: 'bad', role: 'alert' }, upgrade.failure_reason || t('cardDeclined')),
          el('p', { class: 'muted' }, t('nothingCharged')),
          el('div', { class: 'row' }, button(t('close'), null, function () { d.close('declined'); }), again),
        ], again);
        emit('declined', { offer_id: offerId, upgrade_id: upgrade.id, reason: upgrade.failure_reason });
      }
    }

    function problem(e, retry) {
      fail(e, 'quote');
      var again = button(t('retry'), 'p', retry);
      d.show(t('wrong'), [el('p', { class: 'bad', role: 'alert' }, e.message || t('tryLater')), el('div', { class: 'row' }, again)], again);
    }

    load();
    return d;
  }

  // Mounted offers ---------------------------------------------------------------------------

  async function mount(target, options) {
    var node = typeof target === 'string' ? document.querySelector(target) : target;
    if (!node) throw Object.assign(new Error('Uplift.mount: no element ' + target), { code: 'no_element' });
    var placement = (options && options.placement) || data('placement');
    // Mounting again (a single-page app re-rendering) replaces what the last mount drew.
    Array.prototype.forEach.call(node.querySelectorAll(':scope > [data-uplift]'), function (old) { old.remove(); });
    var root = shadowHost(node);
    var wrap = el('div', { class: 'u' });
    root.appendChild(wrap);
    var offers = await offersFor(placement);
    offers.forEach(function (offer) {
      var copy = offer.copy || {};
      var asBanner = (options && options.style) ? options.style === 'banner' : /banner/.test(placement);
      var usage = usageLine(offer.usage);
      var cta = button(copy.cta || t('upgrade'), 'p', function () {
        track(offer.offer_id, offer.variant, 'click');
        if (QUOTABLE.indexOf(offer.kind) >= 0) openQuote(offer.offer_id, cta, offer);
        else emit('accepted', { offer_id: offer.offer_id, kind: offer.kind });
      }, { 'data-uplift-cta': offer.offer_id });
      var item;
      if (asBanner) {
        item = el('div', { class: 'card', role: 'region', 'aria-label': copy.title },
          el('div', { class: 'txt' }, el('p', { class: 't' }, copy.title), copy.body ? el('p', null, copy.body) : null,
            usage && el('p', null, usage), usage && el('progress', { max: offer.usage.limit, value: offer.usage.used, 'aria-hidden': 'true' }),
            el('p', { class: 'muted' }, priceLine(offer))),
          cta,
          button('\u00d7', 'x', function () {
            item.remove();
            track(offer.offer_id, offer.variant, 'dismiss');
            emit('dismissed', { offer_id: offer.offer_id });
          }, { 'aria-label': t('dismiss') }));
      } else {
        cta.setAttribute('title', copy.title || '');
        item = cta;
      }
      wrap.appendChild(item);
      track(offer.offer_id, offer.variant, 'impression');
    });
    return offers.length;
  }

  // Post-order popup: the first post_order offer with Yes / No and its countdown.
  async function postOrder(options) {
    var orderId = options && options.orderId;
    var offer = (await offersFor('post_order'))[0];
    if (!offer) return false;
    var copy = offer.copy || {}, answered = false;
    var d = dialog(document.activeElement, function (why) {
      if (!answered && why === 'dismiss') { track(offer.offer_id, offer.variant, 'dismiss'); emit('dismissed', { offer_id: offer.offer_id, order_id: orderId }); }
    });
    track(offer.offer_id, offer.variant, 'impression');
    var yes = button(copy.cta || t('yes'), 'p', function () {
      answered = true;
      track(offer.offer_id, offer.variant, 'click');
      d.close('yes');
      if (QUOTABLE.indexOf(offer.kind) >= 0) openQuote(offer.offer_id, null, offer);
      else emit('accepted', { offer_id: offer.offer_id, kind: offer.kind, order_id: orderId });
    });
    var no = button(copy.decline || t('no'), null, function () {
      answered = true;
      track(offer.offer_id, offer.variant, 'decline');
      emit('declined', { offer_id: offer.offer_id, order_id: orderId });
      d.close('no');
    });
    var countdown = offer.countdown_seconds ? el('p', { class: 'muted' }) : null;
    d.show(copy.title || t('oneMore'), [copy.body ? el('p', null, copy.body) : null, el('p', null, priceLine(offer)), countdown, el('div', { class: 'row' }, no, yes)], yes);
    if (countdown) {
      var ends = Date.now() / 1000 + offer.countdown_seconds;
      var tick = function () {
        var left = ends - Date.now() / 1000;
        if (left <= 0) { d.stopTimers(); countdown.textContent = t('ended'); yes.disabled = true; return; }
        countdown.textContent = t('endsIn', { time: clock(left) });
      };
      tick();
      d.every(1000, tick);
    }
    return true;
  }

  // Resolves with the customer's choice: {choice: 'downgrade' | 'stay' | 'offer', offer_id?}.
  // Never rejects: if the offer list cannot be read, the plain confirmation is shown.
  function confirmDowngrade(options) {
    var toPlan = options && options.toPlan;
    var opener = document.activeElement;
    var ask = function (plan) { return api('GET', '/offers?placement=downgrade' + (plan ? '&to_plan=' + encodeURIComponent(plan) : '')); };
    // A plan the server does not know (422) still gets the retention offer, without the list.
    return ask(toPlan).catch(function (e) { fail(e, 'downgrade'); if (e.status === 422) return ask(); }).catch(function (e) { fail(e, 'downgrade'); }).then(function (list) {
      var offers = (list && list.data) || [], down = list && list.downgrade;
      var plan = (down && down.to_plan_name) || toPlan || 'the lower plan';
      var lost = lostList(down, plan);
      var offer = offers.filter(function (o) { return o.kind === 'retention'; })[0] || offers[0];
      return new Promise(function (resolve) {
        var choice = { choice: 'stay' };
        var d = dialog(opener, function () {
          if (offer && choice.choice === 'downgrade') track(offer.offer_id, offer.variant, 'decline');
          if (offer && choice.choice === 'stay') track(offer.offer_id, offer.variant, 'dismiss');
          emit(choice.choice === 'offer' ? 'accepted' : choice.choice === 'downgrade' ? 'declined' : 'dismissed', Object.assign({ to_plan: toPlan }, choice));
          resolve(choice);
        });
        var pick = function (c) { return function () { choice = c; d.close(c.choice); }; };
        var keep = button(t('keep'), null, pick({ choice: 'stay' }));
        var go = button(t('downgrade', { plan: plan }), null, pick({ choice: 'downgrade' }));
        if (offer) {
          var copy = offer.copy || {};
          track(offer.offer_id, offer.variant, 'impression');
          var take = button(copy.cta || t('takeOffer'), 'p', function () {
            track(offer.offer_id, offer.variant, 'click');
            if (offer.discount) retain(); else pick({ choice: 'offer', offer_id: offer.offer_id })();
          });
          // A retention discount is quoted (the price kept, shown before it is confirmed) and
          // accepted like an upgrade; an offer without one is the host's to honour.
          var retain = async function () {
            var q, key = uuid();
            d.busy(t('preparing'));
            try { q = await api('POST', '/quotes', { offer_id: offer.offer_id }); } catch (e) { return again(e, retain); }
            var full = money(q.recurring_amount, q.currency), price = money(q.next_invoice_amount, q.currency);
            var yes = button(t('confirm'), 'p', async function confirm() {
              d.busy(t('processing'));
              try {
                var up = await api('POST', '/accept', { quote_id: q.quote_id }, { 'Idempotency-Key': key });
                pick({ choice: 'offer', offer_id: offer.offer_id, upgrade_id: up.id })();
              } catch (e) { again(e, confirm); }
            });
            d.show(t('keepTitle'), [el('p', { 'data-uplift-then': '' }, t('keepFor', { price: price, full: full, until: q.discount && q.discount.ends_at ? t('keepUntil', { date: date(q.discount.ends_at) }) : '' })),
              el('div', { class: 'row' }, keep, yes)], yes);
          };
          var again = function (e, retry) {
            fail(e, 'downgrade');
            var r = button(t('retry'), 'p', retry);
            d.show(t('wrong'), [el('p', { class: 'bad', role: 'alert' }, e.message || t('tryLater')), el('div', { class: 'row' }, keep, r)], r);
          };
          d.show(copy.title || t('beforeYouGo'), lost.concat([copy.body ? el('p', null, copy.body) : null, el('p', null, priceLine(offer)), el('div', { class: 'row' }, go, keep, take)]), take);
        } else {
          d.show(t('downgradeTitle', { plan: plan }), (lost.length ? lost : [el('p', null, t('lose'))]).concat([el('div', { class: 'row' }, keep, go)]), keep);
        }
      });
    });
  }

  function init(options) {
    options = options || {};
    if (options.token != null) { tokenSource = options.token; token = null; }
    if (options.locale) locale = options.locale;
    for (var k in options.strings || {}) if (k in S && typeof options.strings[k] === 'string') S[k] = options.strings[k];
    if (options.theme) {
      // Only custom properties, only plain values: a theme can recolour, never inject rules.
      var rules = Object.keys(options.theme).filter(function (k) { return /^--uplift-[a-z-]+$/.test(k) && /^[^;{}<>\\]*$/.test(String(options.theme[k])); })
        .map(function (k) { return k + ':' + options.theme[k]; });
      themeSheet.replaceSync('.u{' + rules.join(';') + '}');
    }
  }

  // Declarative buttons: <button data-uplift-offer="OFFER_ID"> opens the upgrade modal.
  document.addEventListener('click', safe(function (e) {
    var b = e.target && e.target.closest && e.target.closest('[data-uplift-offer]');
    if (!b) return;
    e.preventDefault();
    openQuote(b.getAttribute('data-uplift-offer'), b, null);
  }, 'click'));

  var methods = {
    init: init,
    token: function (source) { init({ token: source }); },
    mount: mount,
    open: function (offerId, opener) { openQuote(offerId, opener || document.activeElement, null); },
    postOrder: postOrder,
    confirmDowngrade: confirmDowngrade,
  };
  var Uplift = function (name) {
    var method = Uplift[name];
    if (typeof method !== 'function') return fail(new Error('Uplift: unknown command ' + name), 'queue');
    return method.apply(null, Array.prototype.slice.call(arguments, 1));
  };
  Object.keys(methods).forEach(function (name) {
    Uplift[name] = name === 'confirmDowngrade' ? methods[name] : safe(methods[name], name);
  });
  Uplift.version = '1';
  window.Uplift = Uplift;
  var queued = (stub && stub.q) || [];
  for (var i = 0; i < queued.length; i++) Uplift.apply(null, queued[i]);
})();
