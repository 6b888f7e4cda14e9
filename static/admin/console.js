/* Uplift admin console: offers (list, an editor for every kind with a rule builder, the real
 * widget previewing the draft, its audience counted as the admin types), customers (search,
 * history, why an offer is not shown) and admin keys. A module: nothing global, DOM by
 * createElement/textContent only (the page requires Trusted Types and has no policy).
 *
 * admin.js signs in and keeps the key in sessionStorage (this tab only); this module reads it
 * from there for each call and routes on the URL's fragment (#/offers, #/offers/ID,
 * #/customers/ID, #/keys). Every check of a draft is the server's own: the editor sends the
 * draft to POST /api/v1/admin/offers/audience as it changes, and shows the 422's message
 * beside the field it names.
 */
const KEY = 'uplift.adminKey';
const KINDS = [
  ['upgrade', 'Upgrade to a higher plan'],
  ['interval_switch', 'Monthly to annual switch'],
  ['cross_sell', 'Add-on (cross-sell)'],
  ['bundle', 'Bundle of add-ons'],
  ['post_order', 'Post-order offer'],
  ['trial', 'Trial of a higher plan'],
  ['retention', 'Retention (downgrade save)'],
];
// Where each kind is usually placed, and which widget screen previews it first.
const DEFAULTS = {
  upgrade: ['upgrade_banner', 'banner'],
  interval_switch: ['billing_page', 'button'],
  cross_sell: ['billing_page', 'banner'],
  bundle: ['billing_page', 'banner'],
  post_order: ['post_order', 'post_order'],
  trial: ['feature_gate', 'banner'],
  retention: ['downgrade', 'retention'],
};
const SCREENS = [
  ['banner', 'Banner'],
  ['button', 'Button'],
  ['modal', 'Upgrade modal'],
  ['post_order', 'Post-order popup'],
  ['retention', 'Retention screen'],
];
const CONDITIONS = [
  ['plan', 'Plan is'],
  ['usage', 'Usage near a limit'],
  ['feature_hit', 'Hit a gated feature'],
  ['attribute_in', 'Attribute is one of'],
  ['attribute_range', 'Attribute between'],
  ['tenure', 'Customer for at least'],
  ['order', 'Ordered within'],
  ['group', 'Group of rules'],
];
const DAY = 86400;

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'className') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

const clear = (node) => {
  node.replaceChildren();
  return node;
};

let ids = 0;
const fresh = (stem) => `${stem}-${++ids}`;

const when = (t) =>
  t ? new Date(t * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : '—';
const count = (n) => new Intl.NumberFormat('en').format(n);
const percent = (n, of) => (of ? `${((100 * n) / of).toFixed(1)} %` : '—');

// The API -----------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.field = error.field;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  let json = null;
  try {
    json = await response.json();
  } catch {
    // no JSON body (a 204)
  }
  if (!response.ok) {
    const error = new ApiError(response.status, json?.error || {});
    // A key revoked meanwhile: admin.js signs out (its own check answers 401 too).
    if (response.status === 401) $('logout').click();
    throw error;
  }
  return json;
}

const q = encodeURIComponent;

function say(text) {
  $('console-status').textContent = text;
}

function failed(error) {
  say(error instanceof ApiError ? error.message : `Could not reach the server: ${error.message}`);
}

function table(caption, headers, rows) {
  return el(
    'table',
    null,
    caption ? el('caption', { text: caption }) : null,
    el(
      'thead',
      null,
      el(
        'tr',
        null,
        headers.map((h) => el('th', { scope: 'col', text: h })),
      ),
    ),
    el('tbody', null, rows),
  );
}

// Routing -----------------------------------------------------------------------------------

const VIEWS = ['dashboard', 'offers-view', 'editor-view', 'customers-view', 'keys-view'];

function show(view, title) {
  for (const id of VIEWS) $(id).hidden = id !== view;
  for (const link of $('nav').querySelectorAll('a')) {
    const current =
      link.getAttribute('data-view') === view ||
      (view === 'editor-view' && link.getAttribute('data-view') === 'offers-view');
    if (current) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${title} · Uplift admin`;
}

function route() {
  if (!sessionStorage.getItem(KEY)) return;
  $('nav').hidden = false;
  say('');
  const [top, id, extra] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (top === 'offers' && id === 'new') return newOffer(extra);
  if (top === 'offers' && id) return editOffer(id);
  if (top === 'offers') return offerList();
  if (top === 'customers') return customers(id);
  if (top === 'keys') return keys();
  show('dashboard', 'Dashboard');
}

// Offers ------------------------------------------------------------------------------------

async function offerList() {
  show('offers-view', 'Offers');
  const body = clear($('offers-body'));
  let list;
  try {
    list = await api('GET', '/api/v1/admin/offers?limit=100');
  } catch (error) {
    return failed(error);
  }
  if (!list.data.length) {
    body.appendChild(el('p', { className: 'empty', text: 'No offers yet.' }));
  }
  const rows = list.data.map((offer) => {
    const audience = el('td', { className: 'num', 'data-audience': '' }, '…');
    const conversion = el('td', { className: 'num', 'data-conversion': '' }, '…');
    const paused = offer.status === 'paused';
    const actions = el(
      'td',
      null,
      el('button', { type: 'button', className: 'small', onclick: () => clone(offer) }, 'Clone'),
      ' ',
      offer.status === 'archived'
        ? null
        : el(
            'button',
            {
              type: 'button',
              className: 'small',
              onclick: () =>
                setStatus(offer, paused || offer.status === 'draft' ? 'active' : 'paused'),
            },
            paused || offer.status === 'draft' ? 'Activate' : 'Pause',
          ),
    );
    fillAudience(offer, audience);
    fillConversion(offer, conversion);
    return el(
      'tr',
      { 'data-offer': offer.id },
      el('th', { scope: 'row' }, el('a', { href: `#/offers/${q(offer.id)}` }, offer.name)),
      el('td', { text: kindName(offer.kind) }),
      el('td', { 'data-status': '', text: offer.status }),
      el('td', { text: offer.placements.join(', ') }),
      audience,
      conversion,
      actions,
    );
  });
  if (rows.length) {
    body.appendChild(
      table(
        null,
        ['Offer', 'Kind', 'Status', 'Placements', 'Audience now', 'Conversion', 'Actions'],
        rows,
      ),
    );
  }
}

const kindName = (kind) => (KINDS.find(([k]) => k === kind) || [kind, kind])[1];

async function fillAudience(offer, cell) {
  try {
    const found = await api('GET', `/api/v1/admin/offers/${q(offer.id)}/audience`);
    cell.textContent = `${count(found.eligible.total)} of ${count(found.considered)}`;
    cell.setAttribute('data-audience', String(found.eligible.total));
  } catch (error) {
    cell.textContent = '—';
  }
}

async function fillConversion(offer, cell) {
  try {
    const results = await api('GET', `/api/v1/admin/offers/${q(offer.id)}/results`);
    let exposed = 0;
    let paid = 0;
    for (const arm of results.arms) {
      if (arm.arm === 'holdout') continue;
      exposed += arm.exposed;
      paid += arm.paid;
    }
    cell.textContent = exposed ? `${percent(paid, exposed)} (${paid} / ${exposed})` : '—';
  } catch (error) {
    cell.textContent = '—';
  }
}

async function clone(offer) {
  try {
    const copy = await api('POST', `/api/v1/admin/offers/${q(offer.id)}/clone`, {});
    location.hash = `#/offers/${q(copy.id)}`;
    say(`Cloned ${offer.name} as a draft: ${copy.name}.`);
  } catch (error) {
    failed(error);
  }
}

async function setStatus(offer, status) {
  try {
    await api('PATCH', `/api/v1/admin/offers/${q(offer.id)}`, { status });
    await offerList();
    say(`${offer.name} is now ${status}.`);
  } catch (error) {
    failed(error);
  }
}

// The editor: a draft offer as plain data, the form built from it ---------------------------

let draft = null; // {doc fields..., rules: group}
let saved = null; // the offer's id once saved
let refreshTimer = 0;
let refreshes = 0;

function blankDraft(kind) {
  const [placement] = DEFAULTS[kind] || DEFAULTS.upgrade;
  return {
    id: '',
    name: '',
    kind,
    status: 'draft',
    priority: '0',
    placements: placement,
    target_prices: '',
    proration: 'now',
    discount: { percent_off: '', amount_off: '', duration_months: '' },
    trial_days: kind === 'trial' ? '14' : '',
    rules: { type: 'group', op: 'all', negate: false, items: [] },
    schedule: { starts_at: '', ends_at: '' },
    frequency: {
      max_impressions: '',
      per_seconds: String(DAY),
      dismiss_cooldown: '0',
      decline_cooldown: String(7 * DAY),
      max_declines: '3',
    },
    holdout: '0',
    variants: [
      { key: 'a', weight: '1', title: '', body: '', cta: 'Upgrade', decline: 'No thanks' },
    ],
  };
}

const text = (v) => (v === null || v === undefined ? '' : String(v));

// A stored offer as the editor's data.
function fromOffer(offer) {
  const d = offer.discount || {};
  return {
    id: offer.id,
    name: offer.name,
    kind: offer.kind,
    status: offer.status,
    priority: text(offer.priority),
    placements: offer.placements.join(', '),
    target_prices: offer.target_prices.join(', '),
    proration: offer.proration,
    discount: {
      percent_off: text(d.percent_off),
      amount_off: text(d.amount_off),
      duration_months: text(d.duration_months),
    },
    trial_days: text(offer.trial_days),
    rules: rootRule(offer.targeting),
    schedule: {
      starts_at: toLocal(offer.schedule?.starts_at),
      ends_at: toLocal(offer.schedule?.ends_at),
    },
    frequency: Object.fromEntries(
      Object.entries(offer.frequency || {}).map(([k, v]) => [k, text(v)]),
    ),
    holdout: text((offer.holdout_bp || 0) / 100),
    variants: offer.variants.map((v) => ({
      key: v.key,
      weight: text(v.weight),
      title: v.copy.title,
      body: v.copy.body,
      cta: v.copy.cta,
      decline: v.copy.decline,
    })),
  };
}

// The builder's root is always a group: a lone rule becomes all(rule), which means the same.
function rootRule(doc) {
  const rule = fromRule(doc);
  return rule.type === 'group' ? rule : { type: 'group', op: 'all', negate: false, items: [rule] };
}

function fromRule(doc) {
  const [kind] = Object.keys(doc || { all: [] });
  const value = doc?.[kind];
  if (kind === 'all' || kind === 'any') {
    return { type: 'group', op: kind, negate: false, items: value.map(fromRule) };
  }
  if (kind === 'not') {
    const inner = fromRule(value);
    if (inner.type === 'group' && !inner.negate) return { ...inner, negate: true };
    return { type: 'group', op: 'all', negate: true, items: [inner] };
  }
  if (kind === 'plan')
    return { type: 'plan', plans: (value.in || []).join(', '), interval: value.interval || '' };
  if (kind === 'usage')
    return { type: 'usage', metric: value.metric, percent: text(value.at_least_percent) };
  if (kind === 'feature_hit')
    return { type: 'feature_hit', feature: value.feature, days: text(value.within_days) };
  if (kind === 'tenure') return { type: 'tenure', days: text(value.min_days) };
  if (kind === 'order') return { type: 'order', minutes: text(value.within_minutes) };
  if (kind === 'attribute' && 'in' in value) {
    return { type: 'attribute_in', name: value.name, values: value.in.join(', ') };
  }
  return { type: 'attribute_range', name: value.name, gte: text(value.gte), lte: text(value.lte) };
}

function blankRule(type) {
  if (type === 'group') return { type, op: 'any', negate: false, items: [] };
  if (type === 'plan') return { type, plans: '', interval: '' };
  if (type === 'usage') return { type, metric: '', percent: '80' };
  if (type === 'feature_hit') return { type, feature: '', days: '7' };
  if (type === 'attribute_in') return { type, name: '', values: '' };
  if (type === 'attribute_range') return { type, name: '', gte: '', lte: '' };
  if (type === 'tenure') return { type, days: '14' };
  return { type: 'order', minutes: '30' };
}

// A whole number as a number; anything else as typed, so that the server names the problem.
function number(value) {
  const trimmed = String(value).trim();
  return /^-?\d+$/.test(trimmed) ? Number(trimmed) : trimmed;
}
const optional = (value) => (String(value).trim() === '' ? null : number(value));
const list = (value) =>
  String(value)
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

function ruleDocument(rule) {
  if (rule.type === 'group') {
    const inner = { [rule.op]: rule.items.map(ruleDocument) };
    return rule.negate ? { not: inner } : inner;
  }
  if (rule.type === 'plan') {
    const plan = { in: list(rule.plans) };
    if (rule.interval) plan.interval = rule.interval;
    return { plan };
  }
  if (rule.type === 'usage')
    return { usage: { metric: rule.metric.trim(), at_least_percent: number(rule.percent) } };
  if (rule.type === 'feature_hit')
    return { feature_hit: { feature: rule.feature.trim(), within_days: number(rule.days) } };
  if (rule.type === 'tenure') return { tenure: { min_days: number(rule.days) } };
  if (rule.type === 'order') return { order: { within_minutes: number(rule.minutes) } };
  if (rule.type === 'attribute_in')
    return { attribute: { name: rule.name.trim(), in: list(rule.values) } };
  const range = { name: rule.name.trim() };
  if (String(rule.gte).trim() !== '') range.gte = number(rule.gte);
  if (String(rule.lte).trim() !== '') range.lte = number(rule.lte);
  return { attribute: range };
}

function toLocal(t) {
  return t ? new Date(t * 1000).toISOString().slice(0, 16) : '';
}
function fromLocal(value) {
  if (!value) return null;
  const ms = Date.parse(`${value}:00Z`);
  return Number.isNaN(ms) ? value : Math.floor(ms / 1000);
}

// The draft as POST /api/v1/admin/offers takes it.
function offerDocument() {
  const d = draft;
  const doc = {
    name: d.name,
    kind: d.kind,
    status: d.status,
    priority: number(d.priority || '0'),
    placements: list(d.placements),
    target_prices: list(d.target_prices),
    proration: d.proration,
    targeting: ruleDocument(d.rules),
    schedule: {
      starts_at: fromLocal(d.schedule.starts_at),
      ends_at: fromLocal(d.schedule.ends_at),
    },
    frequency: {},
    holdout_bp: Math.round(Number(d.holdout || '0') * 100),
    variants: d.variants.map((v) => ({
      key: v.key,
      weight: number(v.weight || '1'),
      copy: { title: v.title, body: v.body, cta: v.cta, decline: v.decline },
    })),
  };
  if (d.id) doc.id = d.id;
  for (const [key, value] of Object.entries(d.frequency)) {
    const given = optional(value);
    if (given !== null) doc.frequency[key] = given;
    else if (key === 'max_impressions' || key === 'max_declines') doc.frequency[key] = null;
  }
  const discount = {};
  for (const [key, value] of Object.entries(d.discount)) {
    const given = optional(value);
    if (given !== null) discount[key] = given;
  }
  if (Object.keys(discount).length) doc.discount = discount;
  if (String(d.trial_days).trim() !== '') doc.trial_days = number(d.trial_days);
  if (Number.isNaN(doc.holdout_bp)) doc.holdout_bp = d.holdout;
  return doc;
}

// Form controls bound to the draft: each sets its value and schedules a check.

function field(label, path, value, set, options = {}) {
  const id = fresh('f');
  const input = options.choices
    ? el(
        'select',
        { id, 'data-field': path },
        options.choices.map(([v, name]) => el('option', { value: v, selected: v === value }, name)),
      )
    : el(options.multiline ? 'textarea' : 'input', {
        id,
        'data-field': path,
        type: options.multiline ? null : options.type || 'text',
        inputmode: options.numeric ? 'numeric' : null,
        placeholder: options.placeholder,
        autocomplete: 'off',
        rows: options.multiline ? 2 : null,
      });
  if (!options.choices) input.value = value;
  const describedBy = options.hint ? fresh('h') : null;
  if (describedBy) input.setAttribute('aria-describedby', describedBy);
  input.addEventListener(options.choices ? 'change' : 'input', () => {
    set(input.value);
    if (options.rebuild) renderEditor();
    changed();
  });
  return el(
    'div',
    { className: 'field' },
    el('label', { for: id, text: label }),
    input,
    describedBy ? el('p', { id: describedBy, className: 'hint', text: options.hint }) : null,
  );
}

function changed() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 250);
}

function renderEditor() {
  const d = draft;
  const form = clear($('editor-form'));
  const basics = el(
    'fieldset',
    null,
    el('legend', { text: 'Offer' }),
    field('Name', 'name', d.name, (v) => (d.name = v)),
    saved
      ? null
      : field('Id (optional)', 'id', d.id, (v) => (d.id = v), {
          placeholder: 'offer_…',
          hint: 'Left empty, the server makes one.',
        }),
    field('Kind', 'kind', d.kind, (v) => (d.kind = v), { choices: KINDS, rebuild: true }),
    field('Status', 'status', d.status, (v) => (d.status = v), {
      choices: ['draft', 'active', 'paused', 'archived'].map((s) => [s, s]),
    }),
    field('Placements', 'placements', d.placements, (v) => (d.placements = v), {
      hint: 'Where the widget shows it, comma-separated (e.g. upgrade_banner, billing_page).',
    }),
    field('Priority', 'priority', d.priority, (v) => (d.priority = v), { numeric: true }),
  );
  const pricing = el(
    'fieldset',
    null,
    el('legend', { text: 'What it sells' }),
    d.kind === 'retention'
      ? null
      : field('Stripe prices', 'target_prices', d.target_prices, (v) => (d.target_prices = v), {
          hint: priceHint(d.kind),
        }),
    ['upgrade', 'interval_switch', 'retention'].includes(d.kind)
      ? field('Proration', 'proration', d.proration, (v) => (d.proration = v), {
          choices: [
            ['now', 'Charge the difference now'],
            ['period_end', 'Change at the period end'],
            ['stripe', 'Let Stripe prorate'],
          ],
        })
      : null,
    d.kind === 'trial'
      ? field('Trial days', 'trial_days', d.trial_days, (v) => (d.trial_days = v), {
          numeric: true,
        })
      : null,
    field(
      'Discount, percent off',
      'discount.percent_off',
      d.discount.percent_off,
      (v) => (d.discount.percent_off = v),
      { numeric: true },
    ),
    field(
      'Discount, amount off (minor units)',
      'discount.amount_off',
      d.discount.amount_off,
      (v) => (d.discount.amount_off = v),
      { numeric: true, hint: 'In cents (or yen): 500 is $5.00.' },
    ),
    field(
      'Discount, months',
      'discount.duration_months',
      d.discount.duration_months,
      (v) => (d.discount.duration_months = v),
      { numeric: true, hint: 'Empty: once.' },
    ),
  );
  const who = el(
    'fieldset',
    { className: 'rules' },
    el('legend', { text: 'Who sees it' }),
    ruleGroup(d.rules, 'targeting', null),
  );
  const when = el(
    'fieldset',
    null,
    el('legend', { text: 'When and how often' }),
    field(
      'Starts (UTC)',
      'schedule.starts_at',
      d.schedule.starts_at,
      (v) => (d.schedule.starts_at = v),
      { type: 'datetime-local' },
    ),
    field('Ends (UTC)', 'schedule.ends_at', d.schedule.ends_at, (v) => (d.schedule.ends_at = v), {
      type: 'datetime-local',
    }),
    field(
      'Impressions at most',
      'frequency.max_impressions',
      d.frequency.max_impressions,
      (v) => (d.frequency.max_impressions = v),
      { numeric: true, hint: 'Empty: no cap.' },
    ),
    field(
      '…per seconds',
      'frequency.per_seconds',
      d.frequency.per_seconds,
      (v) => (d.frequency.per_seconds = v),
      { numeric: true },
    ),
    field(
      'Quiet after a dismissal (s)',
      'frequency.dismiss_cooldown',
      d.frequency.dismiss_cooldown,
      (v) => (d.frequency.dismiss_cooldown = v),
      { numeric: true },
    ),
    field(
      'Quiet after a decline (s)',
      'frequency.decline_cooldown',
      d.frequency.decline_cooldown,
      (v) => (d.frequency.decline_cooldown = v),
      { numeric: true },
    ),
    field(
      'Declines before it stops',
      'frequency.max_declines',
      d.frequency.max_declines,
      (v) => (d.frequency.max_declines = v),
      { numeric: true, hint: 'Empty: never stops.' },
    ),
  );
  const test = el(
    'fieldset',
    null,
    el('legend', { text: 'Variants and holdout' }),
    field('Holdout, percent of customers', 'holdout_bp', d.holdout, (v) => (d.holdout = v), {
      hint: 'They never see the offer; the lift is measured against them.',
    }),
    d.variants.map((variant, i) => variantFields(variant, i)),
    el(
      'button',
      {
        type: 'button',
        className: 'small secondary',
        onclick: () => {
          const key = String.fromCharCode(97 + d.variants.length);
          d.variants.push({ ...d.variants[d.variants.length - 1], key });
          renderEditor();
          changed();
        },
      },
      'Add a variant',
    ),
  );
  form.append(basics, pricing, who, when, test);
  syncPreviewChoices();
}

function priceHint(kind) {
  if (kind === 'upgrade' || kind === 'trial') return 'The higher plan’s price, e.g. price_…';
  if (kind === 'interval_switch') return 'The same plan’s yearly price.';
  return 'The add-on prices, comma-separated.';
}

function variantFields(variant, i) {
  const d = draft;
  const base = `variants[${i}]`;
  return el(
    'fieldset',
    { className: 'variant' },
    el('legend', { text: `Variant ${variant.key || i + 1}` }),
    field('Key', `${base}.key`, variant.key, (v) => (variant.key = v)),
    field('Weight', `${base}.weight`, variant.weight, (v) => (variant.weight = v), {
      numeric: true,
    }),
    field('Title', `${base}.copy.title`, variant.title, (v) => (variant.title = v)),
    field('Body', `${base}.copy.body`, variant.body, (v) => (variant.body = v), {
      multiline: true,
    }),
    field('Button', `${base}.copy.cta`, variant.cta, (v) => (variant.cta = v)),
    field('Decline', `${base}.copy.decline`, variant.decline, (v) => (variant.decline = v)),
    d.variants.length > 1
      ? el(
          'button',
          {
            type: 'button',
            className: 'small secondary',
            onclick: () => {
              d.variants.splice(i, 1);
              renderEditor();
              changed();
            },
          },
          `Remove variant ${variant.key || i + 1}`,
        )
      : null,
  );
}

// The rule builder: a group is all/any of its rules, optionally negated (not); a rule is one
// condition. `path` is the rule's JSON path in the document the server checks.
function ruleGroup(group, path, remove) {
  const inner = group.negate ? `${path}.not.${group.op}` : `${path}.${group.op}`;
  const opId = fresh('op');
  const negateId = fresh('not');
  const addId = fresh('add');
  const picker = el(
    'select',
    { id: addId },
    CONDITIONS.map(([value, name]) => el('option', { value }, name)),
  );
  return el(
    'div',
    {
      className: 'group',
      role: 'group',
      'aria-label': remove ? 'Group of rules' : 'Targeting rules',
    },
    el(
      'div',
      { className: 'group-head' },
      el('label', { for: opId, text: 'Match' }),
      el(
        'select',
        {
          id: opId,
          'data-field': inner,
          onchange: (event) => {
            group.op = event.target.value;
            renderEditor();
            changed();
          },
        },
        el('option', { value: 'all', selected: group.op === 'all' }, 'all of these (and)'),
        el('option', { value: 'any', selected: group.op === 'any' }, 'any of these (or)'),
      ),
      el('input', {
        id: negateId,
        type: 'checkbox',
        checked: group.negate,
        onchange: (event) => {
          group.negate = event.target.checked;
          renderEditor();
          changed();
        },
      }),
      el('label', { for: negateId, text: 'Not (customers who do not match)' }),
      remove
        ? el(
            'button',
            { type: 'button', className: 'small secondary', onclick: remove },
            'Remove group',
          )
        : null,
    ),
    group.items.length
      ? el(
          'ol',
          { className: 'conditions' },
          group.items.map((rule, i) => {
            const removeThis = () => {
              group.items.splice(i, 1);
              renderEditor();
              changed();
            };
            const here = `${inner}[${i}]`;
            return el(
              'li',
              null,
              rule.type === 'group'
                ? ruleGroup(rule, here, removeThis)
                : condition(rule, here, removeThis),
            );
          }),
        )
      : el('p', {
          className: 'hint',
          text: group.op === 'all' ? 'No rules: every customer.' : 'No rules: no customer.',
        }),
    el(
      'div',
      { className: 'group-add' },
      el('label', { for: addId, text: 'Add' }),
      picker,
      el(
        'button',
        {
          type: 'button',
          className: 'small secondary',
          onclick: () => {
            group.items.push(blankRule(picker.value));
            renderEditor();
            changed();
          },
        },
        'Add rule',
      ),
    ),
  );
}

function condition(rule, path, remove) {
  const name = (CONDITIONS.find(([t]) => t === rule.type) || ['', rule.type])[1];
  const set = (key) => (v) => (rule[key] = v);
  let fields;
  if (rule.type === 'plan') {
    fields = [
      field('Plans', `${path}.plan.in`, rule.plans, set('plans'), {
        hint: 'Plan ids, comma-separated.',
      }),
      field('Billed', `${path}.plan.interval`, rule.interval, set('interval'), {
        choices: [
          ['', 'any interval'],
          ['month', 'monthly'],
          ['year', 'yearly'],
        ],
      }),
    ];
  } else if (rule.type === 'usage') {
    fields = [
      field('Metric', `${path}.usage.metric`, rule.metric, set('metric')),
      field(
        'At least % of the limit',
        `${path}.usage.at_least_percent`,
        rule.percent,
        set('percent'),
        { numeric: true },
      ),
    ];
  } else if (rule.type === 'feature_hit') {
    fields = [
      field('Feature', `${path}.feature_hit.feature`, rule.feature, set('feature')),
      field('Within days', `${path}.feature_hit.within_days`, rule.days, set('days'), {
        numeric: true,
      }),
    ];
  } else if (rule.type === 'attribute_in') {
    fields = [
      field('Attribute', `${path}.attribute.name`, rule.name, set('name')),
      field('Values', `${path}.attribute.in`, rule.values, set('values'), {
        hint: 'Comma-separated.',
      }),
    ];
  } else if (rule.type === 'attribute_range') {
    fields = [
      field('Attribute', `${path}.attribute.name`, rule.name, set('name')),
      field('At least', `${path}.attribute.gte`, rule.gte, set('gte'), { numeric: true }),
      field('At most', `${path}.attribute.lte`, rule.lte, set('lte'), { numeric: true }),
    ];
  } else if (rule.type === 'tenure') {
    fields = [
      field('Days since signup', `${path}.tenure.min_days`, rule.days, set('days'), {
        numeric: true,
      }),
    ];
  } else {
    fields = [
      field(
        'Minutes since the order',
        `${path}.order.within_minutes`,
        rule.minutes,
        set('minutes'),
        { numeric: true },
      ),
    ];
  }
  return el(
    'div',
    { className: 'condition', role: 'group', 'aria-label': name },
    el('p', { className: 'condition-name', text: name }),
    fields,
    el(
      'button',
      { type: 'button', className: 'small secondary', onclick: remove },
      `Remove “${name}”`,
    ),
  );
}

// Checking the draft as it changes: the audience (also the server's validation) and, with a
// customer chosen, the preview.

async function refresh() {
  const mine = ++refreshes;
  const doc = offerDocument();
  const errors = $('editor-errors');
  const audienceOut = $('audience');
  try {
    const found = await api('POST', '/api/v1/admin/offers/audience', { offer: doc });
    if (mine !== refreshes) return;
    markInvalid(null);
    errors.textContent = '';
    showAudience(found);
  } catch (error) {
    if (mine !== refreshes) return;
    audienceOut.removeAttribute('data-eligible');
    if (error instanceof ApiError && error.status === 422) {
      errors.textContent = problem(error);
      markInvalid(error.field);
      clear($('audience-body')).appendChild(
        el('p', { className: 'empty', text: 'Fix the error to count the audience.' }),
      );
      return;
    }
    errors.textContent = '';
    return failed(error);
  }
  if ($('preview-customer').value.trim()) await preview(false);
}

// The server's message, led by the field it names (in the draft's own terms) when it does not
// say so itself.
function problem(error) {
  const path = (error.field || '').replace(/^offer\.?/, '');
  return path && !error.message.includes(path) ? `${path}: ${error.message}` : error.message;
}

function markInvalid(path) {
  for (const node of $('editor-form').querySelectorAll('[aria-invalid]')) {
    node.removeAttribute('aria-invalid');
    node.removeAttribute('aria-errormessage');
  }
  if (!path) return;
  const inDraft = path.replace(/^offer\./, '');
  const exact = $('editor-form').querySelector(`[data-field="${CSS.escape(inDraft)}"]`);
  const near =
    exact ||
    [...$('editor-form').querySelectorAll('[data-field]')].find((node) =>
      inDraft.startsWith(node.getAttribute('data-field')),
    );
  if (near) {
    near.setAttribute('aria-invalid', 'true');
    near.setAttribute('aria-errormessage', 'editor-errors');
  }
}

function showAudience(found) {
  const out = $('audience');
  out.setAttribute('data-eligible', String(found.eligible.total));
  out.setAttribute('data-considered', String(found.considered));
  const body = clear($('audience-body'));
  body.appendChild(
    el(
      'p',
      { className: 'big' },
      el('strong', { text: count(found.eligible.total) }),
      ` of ${count(found.considered)} customers would see it now`,
    ),
  );
  if (found.eligible.held_out) {
    body.appendChild(
      el('p', { text: `${count(found.eligible.held_out)} more are in the holdout.` }),
    );
  }
  const placements = Object.entries(found.eligible.by_placement);
  if (placements.length) {
    body.appendChild(
      table(
        'Shown at each placement',
        ['Placement', 'Customers'],
        placements.map(([p, n]) =>
          el(
            'tr',
            null,
            el('th', { scope: 'row', text: p }),
            el('td', { className: 'num', text: count(n) }),
          ),
        ),
      ),
    );
  }
  const excluded = Object.entries(found.excluded).filter(([, n]) => n > 0);
  if (excluded.length) {
    body.appendChild(
      table(
        'Kept out, by the first gate',
        ['Gate', 'Customers'],
        excluded.map(([gate, n]) =>
          el(
            'tr',
            { 'data-gate': gate },
            el('th', { scope: 'row', text: gate }),
            el('td', { className: 'num', text: count(n) }),
          ),
        ),
      ),
    );
  }
}

// The preview: POST /api/v1/admin/offers/preview, then the real widget draws its document.
// Several changes can ask for a preview at once (the customer, the screen, the draft): only
// the newest answer is drawn.
let previews = 0;

async function preview(open) {
  const mine = ++previews;
  const customer = $('preview-customer').value.trim();
  const host = $('preview-host');
  if (!customer) {
    const gates = clear($('preview-gates'));
    gates.appendChild(el('p', { className: 'hint', text: 'Choose a customer to preview for.' }));
    return;
  }
  const body = { offer: offerDocument(), customer };
  const placement = $('preview-placement').value;
  const variant = $('preview-variant').value;
  if (placement) body.placement = placement;
  if (variant) body.variant = variant;
  let shown;
  try {
    shown = await api('POST', '/api/v1/admin/offers/preview', body);
  } catch (error) {
    if (mine !== previews) return;
    if (!(error instanceof ApiError) || error.status !== 422) return failed(error);
    clear($('preview-gates')).appendChild(el('p', { className: 'error', text: problem(error) }));
    return;
  }
  if (mine !== previews) return;
  const gates = clear($('preview-gates'));
  gates.appendChild(
    el(
      'p',
      { 'data-shown': String(shown.shown) },
      shown.shown
        ? `${customer} would see this offer now.`
        : `${customer} would not see it now: ${firstFailed(shown.gates)}.`,
    ),
  );
  gates.appendChild(gateTable(shown.gates));
  if (shown.quote_unavailable) {
    gates.appendChild(el('p', { className: 'hint', text: `No quote: ${shown.quote_unavailable}` }));
  }
  const screen = $('preview-screen').value;
  const locale = $('preview-locale').value.trim();
  const widget = window.Uplift;
  if (!widget?.preview) {
    gates.appendChild(el('p', { className: 'error', text: 'The widget script did not load.' }));
    return;
  }
  if (locale) widget.init({ locale });
  if (screen === 'banner' || screen === 'button') {
    const drawn = await widget.preview(host, { screen, offer: shown.offer });
    host.setAttribute('data-rendered', String(drawn));
  } else if (open) {
    clear(host).removeAttribute('data-rendered');
    widget.preview(host, { screen, offer: shown.offer, quote: shown.quote });
  } else {
    clear(host).removeAttribute('data-rendered');
    host.appendChild(
      el('p', { className: 'hint', text: 'Press “Open preview” to see it as a dialog.' }),
    );
  }
}

const firstFailed = (gates) => {
  const gate = gates.find((g) => !g.passed);
  return gate ? gate.detail : 'it is in the holdout';
};

function gateTable(gates) {
  return table(
    'Every gate, in order',
    ['Gate', 'Passed', 'What it read'],
    gates.map((g) =>
      el(
        'tr',
        { 'data-gate': g.gate, 'data-passed': String(g.passed) },
        el('th', { scope: 'row', text: g.gate }),
        el('td', { text: g.passed ? 'yes' : 'no' }),
        el('td', { text: g.detail }),
      ),
    ),
  );
}

function syncPreviewChoices() {
  const placements = $('preview-placement');
  const keep = placements.value;
  clear(placements).appendChild(el('option', { value: '' }, 'its first placement'));
  for (const p of list(draft.placements))
    placements.appendChild(el('option', { value: p, selected: p === keep }, p));
  const variants = $('preview-variant');
  const keepVariant = variants.value;
  clear(variants).appendChild(el('option', { value: '' }, 'the customer’s own'));
  for (const v of draft.variants) {
    if (v.key)
      variants.appendChild(el('option', { value: v.key, selected: v.key === keepVariant }, v.key));
  }
}

function openEditor(title) {
  show('editor-view', title);
  $('editor-title').textContent = title;
  $('editor-errors').textContent = '';
  clear($('audience-body'));
  clear($('preview-gates'));
  clear($('preview-host'));
  $('preview-host').removeAttribute('data-rendered');
  $('audience').removeAttribute('data-eligible');
  $('preview-screen').value = (DEFAULTS[draft.kind] || DEFAULTS.upgrade)[1];
  renderEditor();
  refresh();
}

function newOffer(kind) {
  const chosen = KINDS.some(([k]) => k === kind) ? kind : 'upgrade';
  draft = blankDraft(chosen);
  saved = null;
  openEditor('New offer');
}

async function editOffer(id) {
  let offer;
  try {
    offer = await api('GET', `/api/v1/admin/offers/${q(id)}`);
  } catch (error) {
    show('editor-view', 'Offer');
    return failed(error);
  }
  draft = fromOffer(offer);
  saved = offer.id;
  openEditor(`Edit ${offer.name}`);
}

async function save(event) {
  event.preventDefault();
  const doc = offerDocument();
  try {
    const offer = saved
      ? await api('PATCH', `/api/v1/admin/offers/${q(saved)}`, doc)
      : await api('POST', '/api/v1/admin/offers', doc);
    say(`Saved ${offer.name} (${offer.status}).`);
    saved = offer.id;
    draft.id = offer.id;
    if (location.hash !== `#/offers/${q(offer.id)}`)
      history.replaceState(null, '', `#/offers/${q(offer.id)}`);
    $('editor-title').textContent = `Edit ${offer.name}`;
    renderEditor();
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      $('editor-errors').textContent = problem(error);
      markInvalid(error.field);
      say('Not saved: fix the error shown.');
      return;
    }
    failed(error);
  }
}

// Customers ---------------------------------------------------------------------------------

let lastSearch = '';

async function customers(id) {
  show('customers-view', id ? `Customer ${id}` : 'Customers');
  if (id) return customerDetail(id);
  clear($('customer-detail'));
  $('customer-search').hidden = false;
  await search(lastSearch, null);
}

async function search(query, after) {
  lastSearch = query;
  $('customer-q').value = query;
  const body = $('customer-results');
  if (!after) clear(body);
  let page;
  try {
    const params = new URLSearchParams({ limit: '20' });
    if (query) params.set('q', query);
    if (after) params.set('starting_after', after);
    page = await api('GET', `/api/v1/admin/customers?${params}`);
  } catch (error) {
    return failed(error);
  }
  body.querySelector('.more')?.remove();
  let rows = body.querySelector('tbody');
  if (!rows) {
    if (!page.data.length) {
      body.appendChild(
        el('p', {
          className: 'empty',
          text: query ? `No customer matches “${query}”.` : 'No customers yet.',
        }),
      );
      return;
    }
    body.appendChild(table(null, ['Customer', 'Stripe customer', 'Email', 'Signed up'], []));
    rows = body.querySelector('tbody');
  }
  for (const c of page.data) {
    rows.appendChild(
      el(
        'tr',
        { 'data-customer': c.id },
        el('th', { scope: 'row' }, el('a', { href: `#/customers/${q(c.id)}` }, c.id)),
        el('td', { text: c.stripe_customer || '—' }),
        el('td', { text: String(c.attrs.email || '—') }),
        el('td', { text: when(c.signup_at) }),
      ),
    );
  }
  if (page.has_more) {
    const last = page.data[page.data.length - 1].id;
    body.appendChild(
      el(
        'button',
        { type: 'button', className: 'secondary more', onclick: () => search(query, last) },
        'More customers',
      ),
    );
  }
}

async function customerDetail(id) {
  $('customer-search').hidden = true;
  const body = clear($('customer-detail'));
  let detail;
  let offerList;
  try {
    [detail, offerList] = await Promise.all([
      api('GET', `/api/v1/admin/customers/${q(id)}`),
      api('GET', '/api/v1/admin/offers?limit=100'),
    ]);
  } catch (error) {
    body.appendChild(el('p', null, el('a', { href: '#/customers' }, 'All customers')));
    return failed(error);
  }
  const c = detail.customer;
  const facts = [
    ['Customer', c.id],
    ['Stripe customer', c.stripe_customer || '—'],
    ['Plan', detail.plan ? `${detail.plan.name} (${detail.plan.id})` : 'none known'],
    ['Billed', detail.interval || '—'],
    ['Subscription', detail.subscription || '—'],
    ['Signed up', when(c.signup_at)],
    ...Object.entries(c.attrs).map(([k, v]) => [k, String(v)]),
  ];
  body.append(
    el('p', null, el('a', { href: '#/customers' }, 'All customers')),
    el('h2', { id: 'customer-title', text: c.id }),
    el(
      'dl',
      { className: 'facts' },
      facts.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]),
    ),
    table(
      'Usage',
      ['Metric', 'Used', 'Limit'],
      Object.entries(detail.usage).map(([metric, used]) =>
        el(
          'tr',
          null,
          el('th', { scope: 'row', text: metric }),
          el('td', { className: 'num', text: count(used) }),
          el('td', {
            className: 'num',
            text: detail.limits[metric] == null ? 'unlimited' : count(detail.limits[metric]),
          }),
        ),
      ),
    ),
    table(
      'Gated features hit',
      ['Feature', 'Hits', 'Last'],
      detail.features.map((f) =>
        el(
          'tr',
          null,
          el('th', { scope: 'row', text: f.feature }),
          el('td', { className: 'num', text: count(f.hits) }),
          el('td', { text: when(f.last_at) }),
        ),
      ),
    ),
    table(
      'Offer history (90 days)',
      ['Offer', 'Variant', 'Impressions', 'Dismissed', 'Declined', 'Accepted'],
      detail.offers.map((o) =>
        el(
          'tr',
          null,
          el('th', { scope: 'row', text: o.offer_id }),
          el('td', { text: o.variant || '—' }),
          el('td', { className: 'num', text: count(o.impressions) }),
          el('td', { text: when(o.dismissed_at) }),
          el('td', { text: o.declines ? `${o.declines}, last ${when(o.declined_at)}` : '—' }),
          el('td', { text: when(o.accepted_at) }),
        ),
      ),
    ),
    table(
      'Upgrades',
      ['Upgrade', 'Status', 'Offer', 'From', 'To', 'Charged'],
      detail.upgrades.map((u) =>
        el(
          'tr',
          null,
          el('th', { scope: 'row', text: u.id }),
          el('td', { text: u.status }),
          el('td', { text: u.offer_id || 'outside Uplift' }),
          el('td', { text: u.from.price }),
          el('td', { text: u.to.price }),
          el('td', {
            className: 'num',
            text:
              u.amount_paid == null
                ? '—'
                : `${u.amount_paid} ${u.currency.toUpperCase()} (minor units)`,
          }),
        ),
      ),
    ),
    whyNot(c.id, offerList.data),
  );
}

function whyNot(customerId, offerList) {
  const offerId = fresh('why');
  const placementId = fresh('wp');
  const out = el('div', { id: 'why-result', 'aria-live': 'polite' });
  const select = el(
    'select',
    { id: offerId },
    offerList.map((o) => el('option', { value: o.id }, `${o.name} (${o.status})`)),
  );
  const placement = el('input', { id: placementId, type: 'text', autocomplete: 'off' });
  const form = el(
    'form',
    {
      className: 'inline',
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        clear(out);
        const params = new URLSearchParams({ customer: customerId });
        if (placement.value.trim()) params.set('placement', placement.value.trim());
        try {
          const found = await api(
            'GET',
            `/api/v1/admin/offers/${q(select.value)}/explain?${params}`,
          );
          out.append(
            el(
              'p',
              { 'data-eligible': String(found.eligible) },
              found.eligible && found.shown !== false
                ? `${customerId} is shown this offer.`
                : `${customerId} is not shown this offer: ${firstFailed(found.gates)}.`,
            ),
            gateTable(found.gates),
          );
        } catch (error) {
          out.appendChild(el('p', { className: 'error', text: error.message }));
        }
      },
    },
    el('label', { for: offerId, text: 'Offer to explain' }),
    select,
    el('label', { for: placementId, text: 'Placement (optional)' }),
    placement,
    el('button', { type: 'submit' }, 'Explain'),
  );
  return el(
    'section',
    { 'aria-labelledby': 'why-title' },
    el('h3', { id: 'why-title', text: 'Why is an offer not shown?' }),
    offerList.length ? form : el('p', { className: 'empty', text: 'No offers yet.' }),
    out,
  );
}

// Admin keys --------------------------------------------------------------------------------

async function keys() {
  show('keys-view', 'Admin keys');
  clear($('new-key'));
  const body = clear($('keys-body'));
  let page;
  try {
    page = await api('GET', '/api/v1/admin/keys?limit=100');
  } catch (error) {
    return failed(error);
  }
  if (!page.data.length) {
    body.appendChild(
      el('p', {
        className: 'empty',
        text: 'No keys made here yet (the bootstrap key is set in the server’s settings).',
      }),
    );
    return;
  }
  body.appendChild(
    table(
      null,
      ['Name', 'Role', 'Starts with', 'Created', 'Last used', 'Revoked', ''],
      page.data.map((k) =>
        el(
          'tr',
          { 'data-key': k.id },
          el('th', { scope: 'row', text: k.name }),
          el('td', { text: k.role === 'read_only' ? 'read only' : 'admin' }),
          el('td', null, el('code', { text: `${k.prefix}…` })),
          el('td', { text: when(k.created) }),
          el('td', { text: when(k.last_used) }),
          el('td', {
            'data-revoked': k.revoked ? 'yes' : 'no',
            text: k.revoked ? when(k.revoked) : 'no',
          }),
          el(
            'td',
            null,
            k.revoked
              ? null
              : el(
                  'button',
                  {
                    type: 'button',
                    className: 'small danger',
                    onclick: () => revoke(k),
                  },
                  `Revoke ${k.name}`,
                ),
          ),
        ),
      ),
    ),
  );
}

async function revoke(key) {
  try {
    await api('DELETE', `/api/v1/admin/keys/${q(key.id)}`);
    await keys();
    say(`Revoked ${key.name}: it is refused from now on.`);
  } catch (error) {
    failed(error);
  }
}

async function createKey(event) {
  event.preventDefault();
  let out = clear($('new-key'));
  try {
    const made = await api('POST', '/api/v1/admin/keys', {
      name: $('key-name').value,
      role: $('key-role').value,
    });
    $('key-name').value = '';
    await keys();
    out = $('new-key');
    out.append(
      el('p', { text: `The new key for ${made.name}. Copy it now: it is not shown again.` }),
      el('code', { className: 'secret', text: made.key }),
    );
  } catch (error) {
    out.appendChild(el('p', { className: 'error', text: error.message }));
  }
}

// Start -------------------------------------------------------------------------------------

function start() {
  window.addEventListener('hashchange', route);
  document.addEventListener('uplift-admin:signed-in', route);
  document.addEventListener('uplift-admin:signed-out', () => {
    $('nav').hidden = true;
    for (const id of VIEWS.slice(1)) $(id).hidden = true;
  });
  $('editor').addEventListener('submit', save);
  $('preview-show').addEventListener('click', () => preview(true));
  $('preview-customer').addEventListener('change', () => preview(false));
  $('preview-screen').addEventListener('change', () => preview(false));
  $('preview-placement').addEventListener('change', () => preview(false));
  $('preview-variant').addEventListener('change', () => preview(false));
  $('customer-search').addEventListener('submit', (event) => {
    event.preventDefault();
    search($('customer-q').value.trim(), null);
  });
  $('key-form').addEventListener('submit', createKey);
  const picker = $('new-kind');
  for (const [kind, name] of KINDS) picker.appendChild(el('option', { value: kind }, name));
  $('new-offer').addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/offers/new/${q(picker.value)}`;
  });
  for (const [value, name] of SCREENS)
    $('preview-screen').appendChild(el('option', { value }, name));
  if (sessionStorage.getItem(KEY)) route();
}

start();
