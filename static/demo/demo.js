// Acme Analytics, the demo SaaS app's own script: it embeds the Uplift widget exactly as a
// customer's frontend would (queue stub, token function, mount, postOrder, confirmDowngrade)
// and calls its own backend (/demo/api/*) for what a SaaS does itself. External, no inline
// code, DOM through textContent only: the pages run under a strict CSP with Trusted Types.
window.Uplift = window.Uplift || function () { (window.Uplift.q = window.Uplift.q || []).push(arguments); };
(function () {
  'use strict';
  var params = new URLSearchParams(location.search);
  var customer = params.get('customer') || 'demo-customer';
  var page = document.body.getAttribute('data-page');
  var $ = function (id) { return document.getElementById(id); };
  var current = null;

  function api(method, path, body) {
    return fetch('/demo/api/' + path, {
      method: method,
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (res) {
      return res.json().then(function (json) {
        if (!res.ok) throw new Error((json.error && json.error.message) || 'HTTP ' + res.status);
        return json;
      });
    });
  }
  function session() {
    return api('GET', 'session?customer=' + encodeURIComponent(customer)).then(function (s) { current = s; return s; });
  }
  function withCustomer(path, extra) {
    var query = new URLSearchParams(Object.assign({ customer: customer }, extra || {}));
    return path + '?' + query.toString();
  }
  function formatPaid(minor) {  // the demo's catalog is in US dollars
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(minor / 100);
  }
  function say(id, text) { var node = $(id); if (node) node.textContent = text; }

  // The widget asks for a token when it first needs one and again after a 401 (expired).
  window.Uplift('init', { token: function () { return session().then(function (s) { return s.token; }); } });

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  // The app's header: brand, navigation (links keep the signed-in demo customer) and the
  // customer switcher, the same on every page.
  var top = $('top');
  var nav = el('nav', { 'aria-label': 'Main' });
  [['/demo', 'Dashboard', 'dashboard'], ['/demo/billing', 'Billing', 'billing']].forEach(function (link) {
    var a = el('a', { href: withCustomer(link[0]) }, link[1]);
    if (link[2] === page) a.setAttribute('aria-current', 'page');
    nav.appendChild(a);
  });
  var who = el('select', { id: 'who' });
  var label = el('label', { class: 'who' }, 'Signed in as ');
  label.appendChild(who);
  top.append(el('a', { class: 'brand', href: withCustomer('/demo') }, 'Acme Analytics'), nav, label);

  // The customer switcher.
  api('GET', 'customers').then(function (list) {
    list.data.forEach(function (c) {
      var option = document.createElement('option');
      option.value = c.id;
      option.textContent = c.name;
      option.selected = c.id === customer;
      who.appendChild(option);
    });
  });
  who.addEventListener('change', function () { location.assign(location.pathname + '?customer=' + encodeURIComponent(who.value)); });

  function showAccount(s) {
    var plan = s.plan ? s.plan.name + (s.interval === 'year' ? ' (annual)' : ' (monthly)') : 'no plan';
    say('plan', s.name.split(',')[0] + ' is on ' + plan + '.');
    var used = s.usage.storage_gb, limit = s.limits.storage_gb;
    if (used != null) say('storage-text', used + ' GB used' + (limit != null ? ' of ' + limit + ' GB.' : '.'));
    var down = $('downgrade');
    if (down) {
      down.hidden = !s.lower_plan;
      if (s.lower_plan) down.textContent = 'Downgrade to ' + s.lower_plan.name;
    }
  }
  // After a change, Stripe's webhooks bring the new state to Uplift a moment later: ask again
  // every second until the plan changes (for at most 20 s).
  function refreshSoon() {
    var before = current && current.plan && current.plan.id + current.interval, tries = 0;
    var again = function () {
      session().then(function (s) {
        showAccount(s);
        if (s.plan && s.plan.id + s.interval === before && ++tries < 20) setTimeout(again, 1000);
      });
    };
    setTimeout(again, 1000);
  }
  session().then(showAccount).catch(function (e) { say('plan', 'Could not load your account: ' + e.message); });

  document.addEventListener('uplift:accepted', function (event) {
    var detail = event.detail || {};
    // Stripe (here the emulator) now sends `customer.subscription.updated` to Uplift; the
    // account shows the new plan once Uplift has processed it.
    if (detail.upgrade_id) refreshSoon();
    // The cross-sell was quoted and charged by Uplift (an add-on item of the same subscription,
    // prorated for the rest of the period); the page only says so.
    if (page === 'order' && detail.upgrade_id && detail.status === 'succeeded') {
      say('cross-sell-status', 'Advanced Reports added to your subscription: ' + formatPaid(detail.amount_paid) + ' charged today for the rest of this period.');
    }
  });
  document.addEventListener('uplift:declined', function (event) {
    if (page === 'order' && event.detail && event.detail.order_id) say('cross-sell-status', 'No problem. Enjoy your order!');
  });

  if (page === 'dashboard') {
    window.Uplift('mount', '#storage-banner', { placement: 'storage_banner' });
    var buy = $('buy');
    buy.addEventListener('click', function () {
      buy.disabled = true;
      say('shop-status', 'Placing your order…');
      api('POST', 'orders', { customer: customer, product: buy.getAttribute('data-product') }).then(function (order) {
        location.assign(withCustomer('/demo/order', { order: order.order, paid: order.display }));
      }).catch(function (e) { buy.disabled = false; say('shop-status', 'Order failed: ' + e.message); });
    });
  }

  if (page === 'order' && params.get('order')) {
    say('order-text', 'Extra Storage 100 GB is yours: ' + (params.get('paid') || '') + ' paid (order ' + params.get('order') + ').');
    window.Uplift('postOrder', { orderId: params.get('order') });
  }

  if (page === 'billing') {
    window.Uplift('mount', '#billing-offers', { placement: 'billing', style: 'banner' });
    var down = $('downgrade');
    down.addEventListener('click', function () {
      var lower = current && current.lower_plan;
      if (!lower) return;
      window.Uplift.confirmDowngrade({ toPlan: lower.id }).then(function (choice) {
        if (choice.choice === 'downgrade') {
          say('downgrade-status', 'Downgrading…');
          return api('POST', 'downgrades', { customer: customer, plan: lower.id }).then(function () {
            say('downgrade-status', 'You are now on ' + lower.name + ' from your next invoice.');
            refreshSoon();
          });
        }
        if (choice.choice === 'offer') {
          // Uplift applied the discount (a coupon on the plan item in Stripe) before resolving.
          say('downgrade-status', 'Thanks for staying on ' + current.plan.name + ': your discount is applied.');
        } else say('downgrade-status', 'You are still on ' + current.plan.name + '.');
      }).catch(function (e) { say('downgrade-status', 'Could not downgrade: ' + e.message); });
    });
  }
})();
