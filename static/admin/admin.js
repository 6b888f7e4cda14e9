/* Uplift admin dashboard: no dependencies, no globals, DOM by createElement/textContent only.
 *
 * The admin key lives in sessionStorage (this tab only) and is sent as a bearer token to this
 * server's admin API; nothing else is stored and no other origin is contacted. Money arrives in
 * integer minor units per currency and is formatted with Intl.NumberFormat from a decimal
 * string (never through a float), with Stripe's exponent for the currency (0 for JPY, 3 for
 * KWD), which the server writes on <html>.
 */
(function () {
  'use strict';

  var KEY = 'uplift.adminKey';
  var SVG = 'http://www.w3.org/2000/svg';
  var DAY = 86400;
  var root = document.documentElement;
  var ZERO = (root.getAttribute('data-zero-decimal') || '').split(' ');
  var THREE = (root.getAttribute('data-three-decimal') || '').split(' ');
  var KINDS = [
    // [series, css key, label, sign]
    ['new_mrr', 'new', 'New', 1],
    ['expansion_mrr', 'expansion', 'Expansion', 1],
    ['reactivation_mrr', 'reactivation', 'Reactivation', 1],
    ['contraction_mrr', 'contraction', 'Contraction', -1],
    ['churned_mrr', 'churn', 'Churn', -1]
  ];
  var AMOUNTS = [
    ['mrr_start', 'MRR at start'],
    ['mrr_end', 'MRR at end'],
    ['new_mrr', 'New MRR'],
    ['expansion_mrr', 'Expansion MRR'],
    ['reactivation_mrr', 'Reactivation MRR'],
    ['contraction_mrr', 'Contraction MRR'],
    ['churned_mrr', 'Churned MRR'],
    ['net_new_mrr', 'Net new MRR'],
    ['cross_sell_recurring', 'Cross-sell MRR'],
    ['cross_sell_one_off', 'Cross-sell charged today']
  ];
  var MONEY_FIGURES = [
    ['arpu_start', 'ARPU at start'],
    ['arpu_end', 'ARPU at end'],
    ['average_upgrade_value', 'Average upgrade value (MRR)']
  ];

  function $(id) { return document.getElementById(id); }

  function el(tag, props) {
    var node = document.createElement(tag);
    var key;
    for (key in props || {}) {
      if (key === 'text') node.textContent = props[key];
      else if (key === 'className') node.className = props[key];
      else if (props[key] !== null && props[key] !== undefined) node.setAttribute(key, props[key]);
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svg(tag, attrs) {
    var node = document.createElementNS(SVG, tag);
    for (var key in attrs) node.setAttribute(key, String(attrs[key]));
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  // Money ----------------------------------------------------------------------------------

  function exponent(currency) {
    var code = currency.toLowerCase();
    if (ZERO.indexOf(code) >= 0) return 0;
    if (THREE.indexOf(code) >= 0) return 3;
    return 2;
  }

  /** "1234" minor units of USD -> "12.34", exactly (no float). */
  function decimal(minor, digits) {
    var negative = minor < 0;
    var s = String(Math.abs(minor));
    if (digits > 0) {
      while (s.length <= digits) s = '0' + s;
      s = s.slice(0, s.length - digits) + '.' + s.slice(s.length - digits);
    }
    return (negative ? '-' : '') + s;
  }

  var formats = {};
  function money(minor, currency) {
    if (minor === null || minor === undefined) return '—';
    var digits = exponent(currency);
    var code = currency.toUpperCase();
    if (!formats[code]) {
      formats[code] = new Intl.NumberFormat(undefined, {
        style: 'currency', currency: code,
        minimumFractionDigits: digits, maximumFractionDigits: digits
      });
    }
    // Intl formats a decimal string exactly (ECMA-402 "Intl.NumberFormat v3").
    return formats[code].format(decimal(Math.round(minor), digits));
  }

  function percent(value) {
    if (value === null || value === undefined) return '—';
    return (value * 100).toFixed(1) + ' %';
  }

  function count(n) { return new Intl.NumberFormat().format(n); }

  function day(t) { return new Date(t * 1000).toISOString().slice(0, 10); }

  function when(t) { return new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC'; }

  // API ------------------------------------------------------------------------------------

  function AuthError(message) { this.message = message; }

  function api(path, key) {
    return fetch(path, {
      headers: { Authorization: 'Bearer ' + key, Accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store'
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.status === 401 || response.status === 403) {
          throw new AuthError(body.error && body.error.message || 'Not signed in.');
        }
        if (!response.ok) {
          throw new Error(body.error && body.error.message || 'HTTP ' + response.status);
        }
        return body;
      });
    });
  }

  // Period ---------------------------------------------------------------------------------

  function today() { return new Date().toISOString().slice(0, 10); }

  function addDays(isoDay, n) {
    return new Date(Date.parse(isoDay + 'T00:00:00Z') + n * DAY * 1000).toISOString().slice(0, 10);
  }

  /** The API's [from, to): `to` is the day after the last day shown. */
  function period() {
    var from = $('period-from').value;
    var to = $('period-to').value;
    return { from: from, to: addDays(to, 1), query: 'from=' + from + '&to=' + addDays(to, 1) };
  }

  function interval(p) {
    var days = (Date.parse(p.to) - Date.parse(p.from)) / 86400000;
    if (days <= 62) return 'day';
    if (days <= 7 * 104) return 'week';
    return 'month';
  }

  // Rendering ------------------------------------------------------------------------------

  function table(caption, headers, rows, numeric) {
    var head = el('tr');
    headers.forEach(function (h, i) {
      head.appendChild(el('th', { scope: 'col', className: numeric && numeric[i] ? 'num' : null, text: h }));
    });
    var body = el('tbody');
    rows.forEach(function (row) { body.appendChild(row); });
    return el('table', null, caption ? el('caption', { text: caption }) : null, el('thead', null, head), body);
  }

  function cell(text, attrs) {
    var props = { text: text };
    for (var k in attrs || {}) props[k] = attrs[k];
    return el('td', props);
  }

  function empty(text) { return el('p', { className: 'empty', text: text }); }

  function how(figure) {
    if (figure.denominator === null || figure.denominator === undefined) return figure.note || '';
    return figure.numerator + ' / ' + figure.denominator + (figure.note ? ' — ' + figure.note : '');
  }

  // A figure's row: its name (the definition on hover, as a title), its value, and how it was
  // computed (numerator / denominator) one column away. `key` is data-metric: the business
  // family's names as the API spells them, Uplift's prefixed with `uplift_`.
  // `shown` is text, or the nodes of a value with parts of its own (an interval's ends).
  function figureRow(label, key, cur, shown, raw, howText, definition) {
    var attrs = { className: 'num', 'data-metric': key, 'data-value': rawValue(raw) };
    if (cur) attrs['data-currency'] = cur;
    var value = typeof shown === 'string' ? cell(shown, attrs) : el.apply(null, ['td', attrs].concat(shown));
    return el('tr', null,
      el('th', { scope: 'row', text: label, title: definition || '' }),
      value,
      cell(howText, { className: 'how' }));
  }

  function rawValue(v) { return v === null || v === undefined ? '' : String(v); }

  function ratioRow(label, key, f, definition) {
    return figureRow(label, key, null, percent(f.value), f.value, how(f), definition);
  }

  function moneyRow(label, key, cur, f, definition) {
    return figureRow(label, key, cur, money(f.value === null ? null : Math.round(f.value), cur), f.value, how(f), definition);
  }

  function renderBusiness(business) {
    var defs = business.definitions || {};
    var family = el('div', { className: 'family', 'data-family': 'business' }, el('h3', { text: 'Business (every movement)' }));
    var overall = [
      ratioRow('Upsell conversion', 'upsell_conversion', business.upsell_conversion, defs.upsell_conversion),
      figureRow('Upgraded customers', 'upgraded_customers', null, count(business.upgraded_customers.value), business.upgraded_customers.value, business.upgraded_customers.note, defs.upgraded_customers),
      ratioRow('Cross-sell rate', 'cross_sell_rate', business.cross_sell_rate, defs.cross_sell_rate)
    ];
    [['median', 'Time to upsell, median'], ['p90', 'Time to upsell, 90th percentile']].forEach(function (pair) {
      var f = business.time_to_upsell_days[pair[0]];
      overall.push(figureRow(pair[1], 'time_to_upsell_' + pair[0], null, f.value === null ? '—' : f.value.toFixed(1) + ' days', f.value, f.numerator + ' ' + (f.note || ''), defs.time_to_upsell_days));
    });
    var ltv = business.ltv || { currencies: {} };
    if (ltv.gross_margin) overall.push(ratioRow('Gross margin (for LTV)', 'gross_margin', ltv.gross_margin, defs.gross_margin));
    family.appendChild(table('All currencies', ['Metric', 'Value', 'How'], overall, [false, true, false]));

    if (!Object.keys(business.currencies).length) family.appendChild(empty('No revenue recorded in this period.'));
    var cards = el('div', { className: 'cards' });
    var seen = {};
    Object.keys(business.currencies).concat(Object.keys(ltv.currencies)).forEach(function (c) { seen[c] = true; });
    Object.keys(seen).sort().forEach(function (cur) {
      var card = el('div');
      cards.appendChild(card);
      if (ltv.currencies[cur]) card.appendChild(ltvTable(cur, ltv.currencies[cur], ltv.gross_margin, defs));
      var m = business.currencies[cur];
      if (!m) return;
      var rows = AMOUNTS.map(function (pair) {
        return figureRow(pair[1], pair[0], cur, money(m[pair[0]], cur), m[pair[0]], '', defs[pair[0]]);
      });
      rows.push(figureRow('Net dollar retention', 'ndr', cur, percent(m.ndr.value), m.ndr.value, how(m.ndr), defs.ndr));
      MONEY_FIGURES.forEach(function (pair) { rows.push(moneyRow(pair[1], pair[0], cur, m[pair[0]], defs[pair[0]])); });
      rows.push(figureRow('Upgrades', 'upgrades', cur, count(m.upgrades), m.upgrades, '', defs.upgrades));
      var attach = (business.attach_rate || {})[cur] || {};
      Object.keys(attach).sort().forEach(function (product) {
        var f = attach[product];
        rows.push(figureRow('Attach rate, ' + product, 'attach_rate_' + product, cur, percent(f.value), f.value, how(f), defs.attach_rate));
      });
      card.insertBefore(table(cur.toUpperCase(), ['Metric', 'Value', 'How'], rows, [false, true, false]), card.firstChild);
    });
    family.appendChild(cards);
    if (Object.keys(ltv.currencies).length) {
      family.appendChild(el('p', { className: 'note', text: 'LTV = ARPU × gross margin ÷ monthly churn rate, for the customers paying at the start of the period: those who upgraded in it against the others, with 95 % intervals carried from the churn rate\'s (Wilson). A customer who churned early had less time to upgrade, so the upgraded group\'s churn is lower partly by construction; compare periods before reading much into a small difference.' }));
    }
    return family;
  }

  // LTV, one currency: upgraded against not upgraded, the uplift, then what each LTV is made of.
  // The data-metric names are the CSV's (plugin/api/ltv.py `rows`).
  var LTV_GROUPS = [['upgraded', 'upgraded'], ['not_upgraded', 'not upgraded']];

  /** A value's part with a name of its own (an interval's end), inside the value's cell. */
  function part(key, cur, text, value) {
    return el('span', { 'data-metric': key, 'data-currency': cur, 'data-value': rawValue(value), text: text });
  }

  function between(key, cur, low, high, format) {
    return [' (95 %: ', part(key + '_low', cur, format(low), low), ' – ',
      part(key + '_high', cur, high === null || high === undefined ? 'no upper bound' : format(high), high), ')'];
  }

  function ltvTable(cur, per, margin, defs) {
    var formatMoney = function (v) { return money(v, cur); };
    var rows = LTV_GROUPS.map(function (pair) {
      var g = per[pair[0]], key = 'ltv_' + pair[0], v = g.ltv;
      var shown = [v.value === null ? 'not enough data' : money(v.value, cur)];
      if (v.value !== null || v.low !== null) shown = shown.concat(between(key, cur, v.low, v.high, formatMoney));
      var howText = v.reason || money(g.arpu.value, cur) + ' × ' + percent(margin ? margin.value : 1) + ' ÷ ' + percent(g.monthly_churn_rate.value) + ' a month';
      return figureRow('LTV, ' + pair[1], key, cur, shown, v.value, howText, defs.ltv);
    });
    var u = per.uplift;
    rows.push(figureRow('LTV uplift (upgraded − not upgraded)', 'ltv_uplift_difference', cur,
      u.difference === null ? 'not enough data' : money(u.difference, cur), u.difference, u.reason || '', defs.ltv_uplift_difference));
    rows.push(figureRow('LTV ratio (upgraded ÷ not upgraded)', 'ltv_uplift_ratio', cur,
      u.ratio ? u.ratio.value.toFixed(2) + '×' : 'not enough data', u.ratio ? u.ratio.value : null,
      u.ratio ? money(u.ratio.numerator, cur) + ' / ' + money(u.ratio.denominator, cur) : u.reason || '', defs.ltv_uplift_ratio));
    LTV_GROUPS.forEach(function (pair) {
      var g = per[pair[0]], key = 'ltv_' + pair[0], label = ', ' + pair[1];
      rows.push(figureRow('Customers paying at start' + label, key + '_customers', cur, count(g.customers), g.customers, '', defs.ltv_customers));
      rows.push(figureRow('Churned' + label, key + '_churned', cur, count(g.churned), g.churned, '', defs.ltv_churned));
      rows.push(figureRow('Churn rate over the period' + label, key + '_churn_rate', cur, percent(g.churn_rate.value), g.churn_rate.value, how(g.churn_rate), defs.ltv_churn_rate));
      var rate = g.monthly_churn_rate;
      rows.push(figureRow('Monthly churn rate' + label, key + '_monthly_churn_rate', cur,
        rate.value === null ? ['—'] : [percent(rate.value)].concat(between(key + '_monthly_churn_rate', cur, rate.low, rate.high, percent)),
        rate.value, '', defs.ltv_monthly_churn_rate));
      rows.push(moneyRow('ARPU at end' + label, key + '_arpu', cur, g.arpu, defs.ltv_arpu));
    });
    return table(cur.toUpperCase() + ' lifetime value', ['Metric', 'Value', 'How'], rows, [false, true, false]);
  }

  function renderUplift(uplift) {
    var defs = uplift.definitions || {};
    var family = el('div', { className: 'family', 'data-family': 'uplift' }, el('h3', { text: "Uplift's impact" }));
    family.appendChild(table('All currencies', ['Metric', 'Value', 'How'], [
      ratioRow('Upsell conversion through Uplift', 'uplift_upsell_conversion', uplift.upsell_conversion, defs.upsell_conversion),
      ratioRow('Offer conversion', 'uplift_offer_conversion', uplift.offer_conversion, defs.offer_conversion)
    ], [false, true, false]));
    var cards = el('div', { className: 'cards' });
    Object.keys(uplift.currencies).sort().forEach(function (cur) {
      var m = uplift.currencies[cur];
      cards.appendChild(el('div', null, table(cur.toUpperCase(), ['Metric', 'Value', 'How'], [
        figureRow('Uplift upgrades', 'uplift_upgrades', cur, count(m.upgrades), m.upgrades, '', defs.upgrades),
        moneyRow('Average Uplift upgrade value (MRR)', 'uplift_average_upgrade_value', cur, m.average_upgrade_value, defs.average_upgrade_value),
        figureRow('Expansion credited to offers', 'uplift_attributed_expansion_mrr', cur, money(m.attributed_expansion_mrr, cur), m.attributed_expansion_mrr, '', defs.attributed_expansion_mrr)
      ], [false, true, false])));
    });
    family.appendChild(cards);
    if (uplift.lift.length) {
      family.appendChild(table('Lift against the holdout', ['Offer', 'Shown', 'Held out', 'Lift'], uplift.lift.map(function (l) {
        return el('tr', { 'data-lift': l.offer_id },
          el('th', { scope: 'row', text: l.offer_id, title: defs.lift || '' }),
          cell(percent(l.treated.value) + ' (' + how(l.treated).split(' — ')[0] + ')', { className: 'num' }),
          cell(percent(l.held_out.value) + ' (' + how(l.held_out).split(' — ')[0] + ')', { className: 'num' }),
          cell(l.difference === null ? '—' : (l.difference > 0 ? '+' : '') + (l.difference * 100).toFixed(1) + ' pts',
            { className: 'num', 'data-metric': 'uplift_lift', 'data-value': l.difference === null ? '' : String(l.difference) }));
      }), [false, true, true, true]));
    }
    return family;
  }

  function renderMetrics(doc) {
    var body = clear($('metrics-body'));
    body.appendChild(el('div', { className: 'families' }, renderBusiness(doc.business), renderUplift(doc.uplift)));
  }

  function renderChart(seriesByKind, p, iv) {
    var body = clear($('mrr-body'));
    var buckets = seriesByKind.new_mrr.buckets;
    var currencies = {};
    KINDS.forEach(function (k) {
      Object.keys(seriesByKind[k[0]].currencies).forEach(function (c) { currencies[c] = true; });
    });
    var list = Object.keys(currencies).sort();
    var legend = el('ul', { className: 'legend', 'aria-label': 'Legend' });
    KINDS.forEach(function (k) {
      legend.appendChild(el('li', { className: 'key-' + k[1] }, el('span', { text: k[2] + (k[3] < 0 ? ' (below the line)' : '') })));
    });
    body.appendChild(el('p', { className: 'note', text: 'Per ' + iv + ', ' + p.from + ' to ' + addDays(p.to, -1) + '.' }));
    if (!list.length) { body.appendChild(empty('No MRR movements in this period.')); return; }
    body.appendChild(legend);
    list.forEach(function (cur) { body.appendChild(chartFor(cur, seriesByKind, buckets)); });
  }

  function chartFor(cur, seriesByKind, buckets) {
    var W = 720, H = 260, left = 72, right = 8, top = 12, bottom = 28;
    var n = buckets.length;
    var up = [], down = [];
    for (var i = 0; i < n; i++) {
      up.push(0); down.push(0);
      KINDS.forEach(function (k) {
        var values = seriesByKind[k[0]].currencies[cur];
        var v = values ? values[i] : 0;
        if (k[3] > 0) up[i] += v; else down[i] += v;
      });
    }
    var maxUp = Math.max.apply(null, up.concat([0]));
    var maxDown = Math.max.apply(null, down.concat([0]));
    var span = Math.max(maxUp + maxDown, 1);
    var plotH = H - top - bottom;
    var zero = top + plotH * maxUp / span;
    var step = (W - left - right) / n;
    var barW = Math.max(step * 0.7, 1);
    var id = 'chart-' + cur;
    var figure = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-labelledby': id + '-title', 'data-currency': cur });
    figure.setAttribute('class', 'chart');
    var title = svg('title', { id: id + '-title' });
    title.textContent = 'MRR movements in ' + cur.toUpperCase() + ' per bucket: gains above the line, losses below. The table after the chart has the numbers.';
    figure.appendChild(title);
    for (var b = 0; b < n; b++) {
      var x = left + b * step + (step - barW) / 2;
      var yUp = zero, yDown = zero;
      KINDS.forEach(function (k) {
        var values = seriesByKind[k[0]].currencies[cur];
        var v = values ? values[b] : 0;
        if (!v) return;
        var h = plotH * v / span;
        var y;
        if (k[3] > 0) { yUp -= h; y = yUp; } else { y = yDown; yDown += h; }
        var rect = svg('rect', { x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2), height: Math.max(h, 0.5).toFixed(2), 'data-kind': k[0], 'data-bucket': String(buckets[b].start), 'data-value': String(v) });
        rect.setAttribute('class', 'bar-' + k[1]);
        var tip = svg('title', {});
        tip.textContent = day(buckets[b].start) + ': ' + k[2] + ' ' + money(k[3] * v, cur);
        rect.appendChild(tip);
        figure.appendChild(rect);
      });
    }
    var axis = svg('line', { x1: left, x2: W - right, y1: zero.toFixed(2), y2: zero.toFixed(2) });
    axis.setAttribute('class', 'axis');
    figure.appendChild(axis);
    [[maxUp, top], [-maxDown, H - bottom]].forEach(function (pair) {
      if (!pair[0]) return;
      var label = svg('text', { x: left - 6, y: pair[1] + 4, 'text-anchor': 'end' });
      label.setAttribute('class', 'label');
      label.textContent = money(pair[0], cur);
      figure.appendChild(label);
    });
    (n > 1 ? [0, n - 1] : [0]).forEach(function (b) {
      var label = svg('text', { x: left + b * step + step / 2, y: H - 8, 'text-anchor': b === 0 ? 'start' : 'end' });
      label.setAttribute('class', 'label');
      label.textContent = day(buckets[b].start);
      figure.appendChild(label);
    });
    var rows = [];
    for (var r = 0; r < n; r++) {
      var tr = el('tr', null, el('th', { scope: 'row', text: day(buckets[r].start) }));
      KINDS.forEach(function (k) {
        var values = seriesByKind[k[0]].currencies[cur];
        tr.appendChild(cell(money(values ? values[r] : 0, cur), { className: 'num' }));
      });
      rows.push(tr);
    }
    var details = el('details', null, el('summary', { text: 'Numbers behind the ' + cur.toUpperCase() + ' chart' }),
      table(null, ['Bucket'].concat(KINDS.map(function (k) { return k[2]; })), rows, [false, true, true, true, true, true]));
    return el('div', { className: 'chart-block' }, el('h3', { text: cur.toUpperCase() }), figure, details);
  }

  // Cohorts --------------------------------------------------------------------------------
  //
  // GET /api/v1/admin/metrics/cohorts for the period's `to`: per currency a heat map (rows the
  // signup months, columns the months since) and, for MRR retention, each cohort's NDR curve.
  // The heat map's table is the curves' text alternative; every cell keeps the API's value,
  // numerator and denominator in data attributes.

  var SERIES = 6; // colours in admin.css (.series-0 … .series-5); dashed after the sixth cohort

  function kindName(kind) {
    return kind === 'mrr' ? 'MRR retention (NDR)' : 'Adoption of ' + kind.slice('feature:'.length);
  }

  function syncKinds(features, kind) {
    var select = $('cohort-kind');
    var wanted = ['mrr'].concat(features.map(function (f) { return 'feature:' + f; }));
    var have = [];
    for (var i = 0; i < select.options.length; i++) have.push(select.options[i].value);
    if (have.join('\n') !== wanted.join('\n')) {
      clear(select);
      wanted.forEach(function (k) { select.appendChild(el('option', { value: k, text: kindName(k) })); });
    }
    select.value = kind;
  }

  /** heat-0 (lightest) … heat-9: adoption in steps of 10 points, NDR in steps of 20 (so a
   * cell at or above 100 % is dark, below it light). */
  function heatClass(value, mrr) {
    if (value === null || value === undefined) return 'heat-none';
    var bucket = Math.floor(value / (mrr ? 2 : 1) * 10);
    return 'heat-' + Math.max(0, Math.min(9, bucket));
  }

  function parts(m, cur, mrr) {
    return mrr ? money(m.numerator, cur) + ' / ' + money(m.denominator, cur) : count(m.numerator) + ' / ' + count(m.denominator);
  }

  function customers(n) { return count(n) + (n === 1 ? ' customer' : ' customers'); }

  function cellTitle(c, m, cur, mrr) {
    return c.cohort + ' cohort, month ' + m.month + ': ' + percent(m.value) + ' = ' + parts(m, cur, mrr) +
      (m.complete ? '' : ' (to date: the month had not ended by ' + when(m.at) + ')');
  }

  function heatTable(cur, list, mrr, name, definition) {
    var width = 0;
    list.forEach(function (c) { width = Math.max(width, c.months.length); });
    var head = el('tr', null, el('th', { scope: 'col', text: 'Signup month' }));
    for (var k = 0; k < width; k++) head.appendChild(el('th', { scope: 'col', className: 'num', text: 'Month ' + k }));
    var body = el('tbody');
    list.forEach(function (c) {
      var tr = el('tr', { 'data-cohort': c.cohort }, el('th', { scope: 'row', text: c.cohort + ' (' + customers(c.customers) + ')' }));
      c.months.forEach(function (m) {
        tr.appendChild(el('td', {
          className: 'num heat ' + heatClass(m.value, mrr) + (m.complete ? '' : ' partial'),
          'data-cohort': c.cohort, 'data-month': String(m.month), 'data-currency': cur,
          'data-value': rawValue(m.value), 'data-numerator': String(m.numerator),
          'data-denominator': String(m.denominator), title: cellTitle(c, m, cur, mrr)
        }, percent(m.value) + (m.complete ? '' : ' *'), el('span', { className: 'nd', text: parts(m, cur, mrr) })));
      });
      for (var rest = c.months.length; rest < width; rest++) tr.appendChild(el('td', { className: 'heat-empty' }));
      body.appendChild(tr);
    });
    var caption = cur.toUpperCase() + ': ' + name + ' by signup month and months since signup';
    return el('div', { className: 'scroll', tabindex: '0', role: 'region', 'aria-label': caption },
      el('table', { className: 'heatmap', 'data-currency': cur },
        el('caption', { text: caption, title: definition || '' }), el('thead', null, head), body));
  }

  function curvesFor(cur, list) {
    var W = 720, H = 260, left = 64, right = 64, top = 12, bottom = 28;
    var width = 1, highest = 1;
    list.forEach(function (c) {
      width = Math.max(width, c.months.length);
      c.months.forEach(function (m) { if (m.value !== null) highest = Math.max(highest, m.value); });
    });
    var yMax = Math.ceil(highest * 10) / 10 + 0.1;
    var plotW = W - left - right, plotH = H - top - bottom;
    var x = function (k) { return width > 1 ? left + plotW * k / (width - 1) : left + plotW / 2; };
    var y = function (v) { return top + plotH * (1 - v / yMax); };
    var figure = svg('svg', {
      viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'data-currency': cur,
      'aria-label': 'NDR curves in ' + cur.toUpperCase() + ': one line per signup month, months since signup across, ' +
        'MRR against the signup month\'s up, a reference line at 100 %. The table above has every value.'
    });
    figure.setAttribute('class', 'chart curves');
    var base = svg('line', { x1: left, x2: W - right, y1: y(0).toFixed(2), y2: y(0).toFixed(2) });
    base.setAttribute('class', 'axis');
    figure.appendChild(base);
    var reference = svg('line', { x1: left, x2: W - right, y1: y(1).toFixed(2), y2: y(1).toFixed(2), 'data-reference': '1' });
    reference.setAttribute('class', 'reference');
    figure.appendChild(reference);
    [[0, '0 %'], [1, '100 %'], [yMax, percent(yMax)]].forEach(function (pair) {
      var label = svg('text', { x: left - 6, y: (y(pair[0]) + 4).toFixed(2), 'text-anchor': 'end' });
      label.setAttribute('class', 'label');
      label.textContent = pair[1];
      figure.appendChild(label);
    });
    for (var k = 0; k < width; k++) {
      if (width > 13 && k % 3 && k !== width - 1) continue;
      var tick = svg('text', { x: x(k).toFixed(2), y: H - 8, 'text-anchor': 'middle' });
      tick.setAttribute('class', 'label');
      tick.textContent = 'month ' + k;
      figure.appendChild(tick);
    }
    list.forEach(function (c, i) {
      var series = 'series-' + (i % SERIES) + (i >= SERIES ? ' dashed' : '');
      var points = c.months.filter(function (m) { return m.value !== null; });
      if (!points.length) return;
      var line = svg('polyline', {
        points: points.map(function (m) { return x(m.month).toFixed(2) + ',' + y(m.value).toFixed(2); }).join(' '),
        'data-cohort': c.cohort
      });
      line.setAttribute('class', 'curve ' + series);
      figure.appendChild(line);
      points.forEach(function (m) {
        var dot = svg('circle', {
          cx: x(m.month).toFixed(2), cy: y(m.value).toFixed(2), r: 4, 'data-cohort': c.cohort,
          'data-month': String(m.month), 'data-currency': cur, 'data-value': rawValue(m.value)
        });
        dot.setAttribute('class', 'point ' + series + (m.complete ? '' : ' partial'));
        var tip = svg('title', {});
        tip.textContent = cellTitle(c, m, cur, true);
        dot.appendChild(tip);
        figure.appendChild(dot);
      });
    });
    var legend = el('ul', { className: 'legend', 'aria-label': 'Cohorts in ' + cur.toUpperCase() });
    list.forEach(function (c, i) {
      var none = c.months.every(function (m) { return m.value === null; });
      legend.appendChild(el('li', { className: 'key-series-' + (i % SERIES) + (i >= SERIES ? ' dashed' : ''), 'data-cohort': c.cohort },
        el('span', { text: c.cohort + ' (' + customers(c.customers) + ')' + (none ? ': no MRR at its signup month\'s end, no curve' : '') })));
    });
    return el('div', { className: 'chart-block' }, figure, legend);
  }

  function renderCohorts(doc) {
    syncKinds(doc.features, doc.kind);
    var body = clear($('cohorts-body'));
    var mrr = doc.kind === 'mrr';
    var defs = doc.definitions || {};
    var definition = mrr ? defs.mrr : defs.feature;
    var name = kindName(doc.kind);
    body.appendChild(el('p', { className: 'note', 'data-definition': doc.kind }, name + ': ' + (definition || '') + '.'));
    body.appendChild(el('p', { className: 'note' },
      'Signups from ' + day(doc.from) + ' to ' + day(doc.to - 1) + ', followed to ' + when(doc.to) + '. ' +
      'A cohort: ' + (defs.cohort || '') + '. A month: ' + (defs.month || '') + '. ' +
      'Darker cells are higher (' + (mrr ? 'steps of 20 points: dark from 100 %' : 'steps of 10 points') + '); ' +
      'a cell marked * and outlined is a month not over yet, measured to date.'));
    var currencies = Object.keys(doc.currencies).sort();
    if (!currencies.length) body.appendChild(empty('No signups from ' + day(doc.from) + ' to ' + day(doc.to - 1) + '.'));
    currencies.forEach(function (cur) {
      var list = doc.currencies[cur];
      var block = el('div', { className: 'cohort-block', 'data-currency': cur }, el('h3', { text: cur.toUpperCase() }),
        heatTable(cur, list, mrr, name, definition));
      if (mrr) block.appendChild(curvesFor(cur, list));
      body.appendChild(block);
    });
    body.setAttribute('data-kind', doc.kind);
    body.setAttribute('data-to', String(doc.to));
    body.removeAttribute('aria-busy');
  }

  var cohortGeneration = 0;
  var cohortTo = null; // the period's `to` the cohorts follow

  /** `current` says whether the answer is still wanted (the same key, the same load). */
  function loadCohorts(key, current) {
    var mine = ++cohortGeneration;
    var body = $('cohorts-body');
    var kind = $('cohort-kind').value || 'mrr';
    body.removeAttribute('data-kind');
    body.setAttribute('aria-busy', 'true');
    var wanted = function () { return mine === cohortGeneration && current(); };
    return api('/api/v1/admin/metrics/cohorts?kind=' + encodeURIComponent(kind) + '&to=' + cohortTo, key).then(function (doc) {
      if (wanted()) renderCohorts(doc);
    }, function (error) {
      if (error instanceof AuthError) { signOut('Your admin key is no longer accepted. Sign in again.'); return; }
      if (wanted()) { sectionError('cohorts-body', error); body.removeAttribute('aria-busy'); }
    });
  }

  function armTotals(arms) {
    var t = { exposed: 0, clicked: 0, accepted: 0, paid: 0 };
    arms.forEach(function (a) {
      if (a.arm === 'holdout') return; // held out customers never see the offer
      t.exposed += a.exposed; t.clicked += a.clicked; t.accepted += a.accepted; t.paid += a.paid;
    });
    return t;
  }

  function step(n, of) {
    return count(n) + (of ? ' (' + percent(n / of) + ')' : '');
  }

  function renderFunnel(offers) {
    var body = clear($('funnel-body'));
    if (!offers.length) { body.appendChild(empty('No offers yet.')); return; }
    var rows = offers.map(function (o) {
      var t = armTotals(o.results.arms);
      return el('tr', { 'data-offer': o.offer.id },
        el('th', { scope: 'row', text: (o.offer.name || o.offer.id) + ' (' + o.offer.status + ')' }),
        cell(count(t.exposed), { className: 'num', 'data-step': 'exposed', 'data-value': String(t.exposed) }),
        cell(step(t.clicked, t.exposed), { className: 'num', 'data-step': 'clicked', 'data-value': String(t.clicked) }),
        cell(step(t.accepted, t.clicked), { className: 'num', 'data-step': 'accepted', 'data-value': String(t.accepted) }),
        cell(step(t.paid, t.accepted), { className: 'num', 'data-step': 'paid', 'data-value': String(t.paid) }));
    });
    body.appendChild(el('p', { className: 'note', text: 'Customers at each step, all variants (holdout excluded), each step as a share of the one before. All time.' }));
    body.appendChild(table(null, ['Offer', 'Exposed', 'Clicked', 'Accepted', 'Paid'], rows, [false, true, true, true, true]));
  }

  function interval95(pair) {
    return pair ? percent(pair[0]) + ' – ' + percent(pair[1]) : '—';
  }

  function renderResults(offers) {
    var body = clear($('results-body'));
    if (!offers.length) { body.appendChild(empty('No offers yet.')); return; }
    offers.forEach(function (o) {
      var rows = o.results.arms.map(function (a) {
        return el('tr', { 'data-arm': a.arm },
          el('th', { scope: 'row', text: a.arm + (a.control ? ' (control)' : '') }),
          cell(count(a.exposed), { className: 'num' }),
          cell(count(a.paid), { className: 'num' }),
          cell(percent(a.conversion_rate), { className: 'num', 'data-value': a.conversion_rate === null ? '' : String(a.conversion_rate) }),
          cell(interval95(a.interval_95), { className: 'num' }),
          cell(a.p_value_vs_control === null ? '—' : a.p_value_vs_control.toFixed(3), { className: 'num' }),
          cell(a.always_valid_p_value === null ? '—' : a.always_valid_p_value.toFixed(3), { className: 'num' }),
          cell(a.lift_vs_holdout === null ? '—' : (a.lift_vs_holdout * 100).toFixed(1) + ' pts', { className: 'num' }));
      });
      body.appendChild(table(o.offer.name || o.offer.id,
        ['Arm', 'Exposed', 'Paid', 'Conversion', '95 % interval', 'p vs control', 'Always-valid p', 'Lift vs holdout'],
        rows, [false, true, true, true, true, true, true, true]));
      if (o.results.warning) body.appendChild(el('p', { className: 'warning', text: o.results.warning }));
    });
  }

  function renderUpgrades(list) {
    var body = clear($('upgrades-body'));
    if (!list.data.length) { body.appendChild(empty('No upgrades yet.')); return; }
    var rows = list.data.map(function (u) {
      return el('tr', { 'data-upgrade': u.id },
        cell(when(u.created)),
        cell(u.customer_id ? u.customer_id + ' (' + u.customer + ')' : u.customer),
        cell(u.offer_id ? u.offer_id + (u.variant ? ' / ' + u.variant : '') : '—'),
        cell(u.status + (u.failure_reason ? ': ' + u.failure_reason : '')),
        cell(u.amount_paid === null ? '— (quoted ' + money(u.amount_quoted, u.currency) + ')' : money(u.amount_paid, u.currency), { className: 'num' }),
        // A failed upgrade changed no MRR (the API sends 0): show that, not a zero amount.
        cell(u.status === 'failed' ? '—' : money(u.mrr_delta, u.currency), { className: 'num' }));
    });
    body.appendChild(table(null, ['Created', 'Customer', 'Offer', 'Status', 'Charged', 'MRR change'], rows, [false, false, false, false, true, true]));
  }

  function renderWebhooks(list) {
    var body = clear($('webhooks-body'));
    if (!list.data.length) { body.appendChild(empty('No failed webhook events.')); return; }
    var rows = list.data.map(function (e) {
      return el('tr', { 'data-event': e.id },
        cell(e.id), cell(e.type), cell(when(e.created)),
        cell(count(e.attempts), { className: 'num' }), cell(e.last_error || ''));
    });
    body.appendChild(table(null, ['Event', 'Type', 'Created', 'Attempts', 'Last error'], rows, [false, false, false, true, false]));
  }

  function sectionError(id, error) {
    clear($(id)).appendChild(el('p', { className: 'error', text: 'Could not load: ' + error.message }));
  }

  // Flow -----------------------------------------------------------------------------------

  var generation = 0;

  function load(key) {
    var mine = ++generation;
    var p = period();
    var iv = interval(p);
    $('period-note').textContent = 'Period ' + p.from + ' to ' + addDays(p.to, -1) + ' (UTC), charts per ' + iv + '.';
    $('dashboard').setAttribute('data-from', p.from);
    $('dashboard').setAttribute('data-to', p.to);
    $('dashboard').removeAttribute('data-loaded');
    $('status').textContent = 'Loading…';
    cohortTo = p.to;
    var current = function () { return mine === generation && sessionStorage.getItem(KEY) === key; };
    var jobs = [
      api('/api/v1/admin/metrics?' + p.query, key).then(function (doc) {
        if (current()) renderMetrics(doc);
      }, fail('metrics-body')),
      Promise.all(KINDS.map(function (k) {
        return api('/api/v1/admin/metrics/timeseries?metric=' + k[0] + '&interval=' + iv + '&' + p.query, key);
      })).then(function (all) {
        if (!current()) return;
        var byKind = {};
        KINDS.forEach(function (k, i) { byKind[k[0]] = all[i]; });
        renderChart(byKind, p, iv);
      }, fail('mrr-body')),
      loadCohorts(key, current),
      api('/api/v1/admin/offers?limit=100', key).then(function (list) {
        return Promise.all(list.data.map(function (offer) {
          return api('/api/v1/admin/offers/' + encodeURIComponent(offer.id) + '/results', key)
            .then(function (results) { return { offer: offer, results: results }; });
        }));
      }).then(function (offers) {
        if (!current()) return;
        renderFunnel(offers);
        renderResults(offers);
      }, function (error) { fail('funnel-body')(error); fail('results-body')(error); }),
      api('/api/v1/admin/upgrades?limit=10', key).then(function (list) {
        if (current()) renderUpgrades(list);
      }, fail('upgrades-body')),
      api('/api/v1/admin/webhook-events?status=failed&limit=10', key).then(function (list) {
        if (current()) renderWebhooks(list);
      }, fail('webhooks-body'))
    ];
    return Promise.all(jobs).then(function () {
      if (current()) {
        $('status').textContent = 'Updated ' + new Date().toISOString().slice(11, 19) + ' UTC.';
        $('dashboard').setAttribute('data-loaded', String(mine));
      }
    });

    function fail(id) {
      return function (error) {
        if (error instanceof AuthError) { signOut('Your admin key is no longer accepted. Sign in again.'); return; }
        if (current()) sectionError(id, error);
      };
    }
  }

  var BODIES = ['metrics-body', 'mrr-body', 'cohorts-body', 'funnel-body', 'results-body', 'upgrades-body', 'webhooks-body'];

  function showDashboard(key) {
    $('login').hidden = true;
    $('dashboard').hidden = false;
    $('logout').hidden = false;
    load(key);
    // console.js shows the other screens (offers, customers, keys) from here on.
    document.dispatchEvent(new CustomEvent('uplift-admin:signed-in'));
  }

  function signOut(message) {
    generation++;
    sessionStorage.removeItem(KEY);
    BODIES.forEach(function (id) { clear($(id)); });
    $('dashboard').removeAttribute('data-loaded');
    $('cohorts-body').removeAttribute('data-kind');
    $('status').textContent = '';
    $('dashboard').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('admin-key').value = '';
    document.dispatchEvent(new CustomEvent('uplift-admin:signed-out'));
    $('admin-key').focus();
  }

  function signIn(event) {
    event.preventDefault();
    var key = $('admin-key').value.trim();
    var error = $('login-error');
    error.textContent = '';
    if (!key) { error.textContent = 'Enter an admin key.'; $('admin-key').focus(); return; }
    var button = event.target.querySelector('button');
    button.disabled = true;
    api('/api/v1/admin/upgrades?limit=1', key).then(function () {
      sessionStorage.setItem(KEY, key);
      $('admin-key').value = '';
      showDashboard(key);
      $('period-from').focus();
    }, function (e) {
      error.textContent = e instanceof AuthError
        ? 'That admin key was not accepted.'
        : 'Could not reach the server: ' + e.message;
      $('admin-key').select();
    }).then(function () { button.disabled = false; });
  }

  function start() {
    var to = today();
    $('period-to').value = to;
    $('period-from').value = addDays(to, -29);
    $('login-form').addEventListener('submit', signIn);
    $('logout').addEventListener('click', function () { signOut('Signed out.'); });
    $('cohort-kind').addEventListener('change', function () {
      var key = sessionStorage.getItem(KEY);
      if (!key) { signOut(''); return; }
      if (!cohortTo) return;
      loadCohorts(key, function () { return sessionStorage.getItem(KEY) === key; });
    });
    $('cohort-numbers').addEventListener('click', function () {
      var on = $('cohort-numbers').getAttribute('aria-pressed') !== 'true';
      $('cohort-numbers').setAttribute('aria-pressed', String(on));
      $('cohorts-body').classList.toggle('show-numbers', on);
    });
    $('period').addEventListener('submit', function (event) {
      event.preventDefault();
      var key = sessionStorage.getItem(KEY);
      if (!key) { signOut(''); return; }
      if (!$('period-from').value || !$('period-to').value || $('period-from').value > $('period-to').value) {
        $('status').textContent = 'Choose a start day on or before the end day.';
        return;
      }
      load(key);
    });
    var key = sessionStorage.getItem(KEY);
    if (key) showDashboard(key);
    else $('admin-key').focus();
  }

  start();
})();
