/* Uplift admin console: offers (list, an editor for every kind with a rule builder, reasons,
 * a survey's question and the lifecycle email, the real widget previewing the draft, its
 * audience counted as the admin types), customers (search, history, why an offer is not
 * shown), what customers answered (feedback), outbound webhook endpoints and their
 * deliveries, the lifecycle emails sent, and admin keys. A module: nothing global, DOM by
 * createElement/textContent only (the page requires Trusted Types and has no policy), so
 * whatever a customer typed is only ever a text node.
 *
 * admin.js signs in and keeps the key in sessionStorage (this tab only); this module reads it
 * from there for each call and routes on the URL's fragment (#/offers, #/offers/ID,
 * #/customers/ID, #/feedback?offer=ID, #/webhooks, #/email, #/keys). The key travels in the
 * Authorization header only, never in a URL (a CSV is fetched, then saved from a Blob).
 * Every check of a draft is the server's own: the editor sends the draft to
 * POST /api/v1/admin/offers/audience as it changes, and shows the 422's message beside the
 * field it names. Secrets the server shows once stay in the page until the admin moves on.
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
  ['survey', 'Survey (one question)'],
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
  survey: ['survey_banner', 'banner'],
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
  ['event', 'Product event count'],
  ['attribute_in', 'Attribute is one of'],
  ['attribute_range', 'Attribute between'],
  ['tenure', 'Customer for at least'],
  ['order', 'Ordered within'],
  ['feedback', 'Answered an offer'],
  ['group', 'Group of rules'],
];
const DAY = 86400;
const MAX_REASONS = 10; // plugin/offers/model.py MAX_REASONS: reasons, and a survey's choices
// What an email's copy may name (plugin/offers/model.py EMAIL_VARIABLES).
const EMAIL_VARIABLES = [
  'customer_id', 'name', 'email', 'title', 'body', 'cta', 'plan', 'price', 'metric', 'used',
  'limit', 'trial_days', 'link', 'unsubscribe_url',
]; // prettier-ignore
// The outbound event types, in plugin/outbound/events.py's order (docs/contract.md).
const EVENT_TYPES = [
  'upgrade.succeeded', 'upgrade.failed', 'upgrade.requires_action', 'offer.accepted',
  'offer.declined', 'offer.dismissed', 'cross_sell.accepted', 'trial.started', 'trial.ending',
  'trial.ended', 'usage.threshold_crossed', 'downgrade.requested', 'retention.saved',
  'feedback.submitted',
]; // prettier-ignore
const FEEDBACK_KINDS = {
  decline: 'decline',
  dismiss: 'dismiss',
  survey: 'survey answer',
  downgrade: 'downgrade',
};

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

// One call to the admin API, its answer unread; an error answer is thrown as an ApiError.
async function send(method, path, { body, accept } = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ''}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (accept) headers.Accept = accept;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  });
  if (!response.ok) {
    const json = await readJson(response);
    const error = new ApiError(response.status, json?.error || {});
    // A key revoked meanwhile: admin.js signs out (its own check answers 401 too).
    if (response.status === 401) $('logout').click();
    throw error;
  }
  return response;
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null; // no JSON body (a 204)
  }
}

async function api(method, path, body) {
  return readJson(await send(method, path, { body }));
}

const q = encodeURIComponent;

// Query parameters from the filters given, the empty ones left out.
const queryOf = (filters) => new URLSearchParams(Object.entries(filters).filter(([, v]) => v));

// A list's query: the filters, a page size and the cursor.
function pageQuery(filters, after, limit) {
  const params = queryOf(filters);
  params.set('limit', String(limit));
  if (after) params.set('starting_after', after);
  return params;
}

function say(text) {
  $('console-status').textContent = text;
}

function failed(error) {
  say(error instanceof ApiError ? error.message : `Could not reach the server: ${error.message}`);
}

const none = (text) => el('p', { className: 'empty', text });
const customerLink = (id) => el('a', { href: `#/customers/${q(id)}` }, id);

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

// A list the API pages (newest first, `starting_after`) as a table in `host` (replacing what
// it held), and under it a "Load more" button while the API has more. `fetchPage(after)`
// answers one page; `more` null: the API does not page this list, so the newest page is all
// it shows. A load overtaken by a newer one fills a box no longer in the page.
async function pagedTable(host, options) {
  const { headers, fetchPage, row, empty, more = 'Load more' } = options;
  const cursor = options.cursor || ((item) => item.id);
  const body = clear(host).appendChild(el('div'));
  let rows = null;
  let next = null;
  const button = el('button', { type: 'button', className: 'secondary more' }, more || '');
  const load = async (after) => {
    let page;
    try {
      page = await fetchPage(after);
    } catch (error) {
      return failed(error);
    }
    if (!rows) {
      if (!page.data.length) return body.appendChild(none(empty));
      const shown = table(null, headers, []);
      shown.setAttribute('tabindex', '-1');
      rows = shown.querySelector('tbody');
      body.appendChild(shown);
    }
    rows.append(...page.data.map(row));
    next = page.has_more ? cursor(page.data[page.data.length - 1]) : null;
    if (next && more) return body.appendChild(button);
    // The last page: keyboard focus, if it was on the button, goes to the table it filled.
    if (document.activeElement === button) rows.closest('table').focus();
    button.remove();
    if (page.has_more) body.appendChild(none(`The newest ${page.data.length} only.`));
  };
  button.addEventListener('click', () => load(next));
  return load(null);
}

// A file made from an answer of the API (fetched with the key in its header), saved by the
// browser from a Blob: the key never goes in a URL.
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el('a', { href: url, download: name, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// A secret the server shows once (an admin key, an endpoint's signing secret): in the page
// until the admin moves on, with a button to copy it, kept nowhere else.
function showSecret(out, note, secret, copyLabel) {
  const copied = el('span', { className: 'hint', role: 'status' });
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      copied.textContent = 'Copied.';
    } catch {
      copied.textContent = 'Could not copy: select the text and copy it.';
    }
  };
  out.replaceChildren(
    el('p', { className: 'once', text: note }),
    el('code', { className: 'secret', text: secret }),
    el(
      'p',
      null,
      el('button', { type: 'button', className: 'small', onclick: copy }, copyLabel),
      ' ',
      copied,
    ),
  );
}

// The server's message beside what it names: a control is marked invalid (its
// aria-errormessage the message), a group of fields gets the message under its legend.
function showFieldError(target, message) {
  const note = el('p', { id: fresh('e'), className: 'error field-error', text: message });
  if (target.matches('input, select, textarea')) {
    target.setAttribute('aria-invalid', 'true');
    target.setAttribute('aria-errormessage', note.id);
    const box = target.closest('.field');
    if (box) box.appendChild(note);
    else target.after(note);
  } else {
    const legend = target.querySelector(':scope > legend');
    if (legend) legend.after(note);
    else target.prepend(note);
  }
}

function clearFieldErrors(scope) {
  for (const node of scope.querySelectorAll('[aria-invalid]')) {
    node.removeAttribute('aria-invalid');
    node.removeAttribute('aria-errormessage');
  }
  for (const node of scope.querySelectorAll('.field-error')) node.remove();
}

// Routing -----------------------------------------------------------------------------------

const VIEWS = [
  'dashboard',
  'offers-view',
  'editor-view',
  'customers-view',
  'feedback-view',
  'webhooks-view',
  'email-view',
  'keys-view',
];

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
  const [where, query = ''] = location.hash.replace(/^#\/?/, '').split('?');
  const [top, id, extra] = where.split('/').map(decodeURIComponent);
  if (top === 'offers' && id === 'new') return newOffer(extra);
  if (top === 'offers' && id) return editOffer(id);
  if (top === 'offers') return offerList();
  if (top === 'customers') return customers(id);
  if (top === 'feedback') return feedback(new URLSearchParams(query));
  if (top === 'webhooks') return webhooks();
  if (top === 'email') return emails();
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
      kind === 'survey'
        ? { key: 'a', weight: '1', title: '', body: '', cta: 'Send', decline: 'Not now' }
        : { key: 'a', weight: '1', title: '', body: '', cta: 'Upgrade', decline: 'No thanks' },
    ],
    reasons: [],
    survey: blankSurvey(),
    email: blankEmail(),
  };
}

// Kept in every draft, sent only for a survey offer: switching kinds loses nothing typed.
const blankSurvey = () => ({
  question: '',
  type: 'choice',
  choices: [
    { key: '', label: '' },
    { key: '', label: '' },
  ],
  comment: false,
  display: 'banner',
});
const blankEmail = () => ({ enabled: false, subject: '', text: '', html: '', link_url: '' });
const pair = ({ key, label }) => ({ key, label });

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
      locales: v.copy.locales, // not edited here: kept as the API has them
    })),
    reasons: (offer.reasons || []).map(pair),
    survey: offer.survey
      ? { ...offer.survey, choices: offer.survey.choices.map(pair) }
      : blankSurvey(),
    email: offer.email ? { enabled: true, ...offer.email } : blankEmail(),
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
  if (kind === 'feature_hit') {
    const { feature, within_days: days, at_least: times } = value;
    return { type: 'feature_hit', feature, days: text(days), times: text(times) };
  }
  if (kind === 'event') {
    const { name, at_least: times, within_days: days } = value;
    return { type: 'event', name, times: text(times), days: text(days) };
  }
  if (kind === 'tenure') return { type: 'tenure', days: text(value.min_days) };
  if (kind === 'order') return { type: 'order', minutes: text(value.within_minutes) };
  if (kind === 'feedback') {
    const { offer, answer, within_days: days } = value;
    return { type: 'feedback', offer, answer: answer || '', days: text(days) };
  }
  if (kind === 'attribute' && 'in' in value) {
    return { type: 'attribute_in', name: value.name, values: value.in.join(', ') };
  }
  return { type: 'attribute_range', name: value.name, gte: text(value.gte), lte: text(value.lte) };
}

function blankRule(type) {
  if (type === 'group') return { type, op: 'any', negate: false, items: [] };
  if (type === 'plan') return { type, plans: '', interval: '' };
  if (type === 'usage') return { type, metric: '', percent: '80' };
  if (type === 'feature_hit') return { type, feature: '', days: '7', times: '' };
  if (type === 'event') return { type, name: '', times: '1', days: '30' };
  if (type === 'attribute_in') return { type, name: '', values: '' };
  if (type === 'attribute_range') return { type, name: '', gte: '', lte: '' };
  if (type === 'tenure') return { type, days: '14' };
  if (type === 'feedback') return { type, offer: '', answer: '', days: '30' };
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
  if (rule.type === 'feature_hit') {
    const hit = { feature: rule.feature.trim(), within_days: number(rule.days) };
    if (String(rule.times ?? '').trim() !== '') hit.at_least = number(rule.times);
    return { feature_hit: hit };
  }
  if (rule.type === 'event') {
    const counted = { name: rule.name.trim(), at_least: number(rule.times) };
    return { event: { ...counted, within_days: number(rule.days) } };
  }
  if (rule.type === 'tenure') return { tenure: { min_days: number(rule.days) } };
  if (rule.type === 'order') return { order: { within_minutes: number(rule.minutes) } };
  if (rule.type === 'feedback') {
    const answered = { offer: rule.offer.trim(), within_days: number(rule.days) };
    if (rule.answer.trim()) answered.answer = rule.answer.trim();
    return { feedback: answered };
  }
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
      copy: { title: v.title, body: v.body, cta: v.cta, decline: v.decline, locales: v.locales },
    })),
    reasons: d.reasons.map(pair),
    // null, not left out: PATCH keeps a top-level field it is not given.
    survey: d.kind === 'survey' ? surveyDocument(d.survey) : null,
    email: d.email.enabled ? emailDocument(d.email) : null,
  };
  if (d.kind === 'survey') doc.target_prices = []; // a survey sells nothing (no price field)
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
  if (Object.keys(discount).length && d.kind !== 'survey') doc.discount = discount;
  if (String(d.trial_days).trim() !== '') doc.trial_days = number(d.trial_days);
  if (Number.isNaN(doc.holdout_bp)) doc.holdout_bp = d.holdout;
  return doc;
}

function surveyDocument(survey) {
  return {
    question: survey.question,
    type: survey.type,
    choices: survey.type === 'choice' ? survey.choices.map(pair) : [],
    comment: survey.comment,
    display: survey.display,
  };
}

function emailDocument(email) {
  const { subject, text, html, link_url: linkUrl } = email;
  return { subject, text, html, link_url: linkUrl.trim() };
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

function checkbox(label, path, checked, set, options = {}) {
  const id = fresh('f');
  const input = el('input', { id, type: 'checkbox', 'data-field': path, checked });
  input.addEventListener('change', () => {
    set(input.checked);
    if (options.rebuild) renderEditor();
    changed();
  });
  return el('div', { className: 'field check' }, input, el('label', { for: id, text: label }));
}

function changed() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 250);
}

// A change of the draft's shape (an item added or removed): the form again, then a check.
function rebuilt() {
  renderEditor();
  changed();
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
  form.append(
    basics,
    d.kind === 'survey' ? surveyFields(d.survey) : pricing,
    who,
    when,
    test,
    reasonFields(d.reasons),
    emailFields(d.email),
  );
  syncPreviewChoices();
}

// {key, label} pairs (an offer's reasons, a survey's choices): each pair a group of its own,
// removable; adding stops at the server's limit. `path` is the list's JSON path.
function pairList(items, path, { legend, noun, hint }) {
  const name = noun[0].toUpperCase() + noun.slice(1);
  return el(
    'fieldset',
    { 'data-field': path },
    el('legend', { text: legend }),
    hint ? el('p', { className: 'hint', text: hint }) : null,
    items.map((item, i) =>
      el(
        'div',
        { className: 'pair', role: 'group', 'aria-label': `${name} ${i + 1}` },
        field(`${name} key`, `${path}[${i}].key`, item.key, (v) => (item.key = v), {
          placeholder: 'a_key',
        }),
        field(`${name} label`, `${path}[${i}].label`, item.label, (v) => (item.label = v)),
        el(
          'button',
          {
            type: 'button',
            className: 'small secondary',
            onclick: () => {
              items.splice(i, 1);
              rebuilt();
            },
          },
          `Remove ${noun} ${i + 1}`,
        ),
      ),
    ),
    el(
      'button',
      {
        type: 'button',
        className: 'small secondary',
        disabled: items.length >= MAX_REASONS,
        onclick: () => {
          items.push({ key: '', label: '' });
          rebuilt();
        },
      },
      `Add a ${noun}`,
    ),
    items.length >= MAX_REASONS ? none(`At most ${MAX_REASONS}.`) : null,
  );
}

function reasonFields(reasons) {
  return pairList(reasons, 'reasons', {
    legend: 'Reasons a customer can give',
    noun: 'reason',
    hint:
      'Asked when a customer declines or dismisses the offer (and before a downgrade on the ' +
      'retention screen), with room for a comment. None: the widget asks nothing.',
  });
}

function surveyFields(survey) {
  return el(
    'fieldset',
    { 'data-field': 'survey' },
    el('legend', { text: 'The question' }),
    field('Question', 'survey.question', survey.question, (v) => (survey.question = v), {
      multiline: true,
    }),
    field('Answered with', 'survey.type', survey.type, (v) => (survey.type = v), {
      choices: [
        ['choice', 'one of the choices'],
        ['scale', 'a score from 1 to 5'],
      ],
      rebuild: true,
    }),
    survey.type === 'choice'
      ? pairList(survey.choices, 'survey.choices', { legend: 'Choices', noun: 'choice' })
      : null,
    checkbox('Ask for a comment', 'survey.comment', survey.comment, (v) => (survey.comment = v)),
    field(
      'Shown as',
      'survey.display',
      survey.display,
      (v) => {
        survey.display = v;
        syncScreens(v);
      },
      {
        choices: [
          ['banner', 'a banner'],
          ['modal', 'a dialog (modal)'],
        ],
      },
    ),
  );
}

function emailFields(email) {
  const set = (key) => (v) => (email[key] = v);
  return el(
    'fieldset',
    { 'data-field': 'email' },
    el('legend', { text: 'Lifecycle email' }),
    checkbox('Send an email', 'email.enabled', email.enabled, set('enabled'), { rebuild: true }),
    email.enabled
      ? [
          el('p', {
            className: 'hint',
            text:
              'Sent once to each customer with an email attribute, when the rules first ' +
              `hold for them. Jinja2 copy: ${EMAIL_VARIABLES.map((v) => `{{ ${v} }}`).join(', ')}.`,
          }),
          field('Email subject', 'email.subject', email.subject, set('subject')),
          field('Email text', 'email.text', email.text, set('text'), {
            multiline: true,
            hint: 'The plain-text body.',
          }),
          field('Email HTML', 'email.html', email.html, set('html'), {
            multiline: true,
            hint: 'Optional; the variables are escaped in it.',
          }),
          field('Email link URL', 'email.link_url', email.link_url, set('link_url'), {
            type: 'url',
            hint: 'The page the email links to: the widget there opens this offer.',
          }),
        ]
      : null,
  );
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
      field('At least times', `${path}.feature_hit.at_least`, rule.times, set('times'), {
        numeric: true,
        hint: 'Empty: once. More than once: counted per UTC day, within 90 days.',
      }),
    ];
  } else if (rule.type === 'event') {
    fields = [
      field('Event', `${path}.event.name`, rule.name, set('name'), {
        placeholder: 'login',
      }),
      field('At least times', `${path}.event.at_least`, rule.times, set('times'), {
        numeric: true,
      }),
      field('Within days', `${path}.event.within_days`, rule.days, set('days'), {
        numeric: true,
        hint: 'The last N UTC days, today included; at most 90.',
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
  } else if (rule.type === 'feedback') {
    fields = [
      field('Answered offer', `${path}.feedback.offer`, rule.offer, set('offer'), {
        placeholder: 'offer_…',
      }),
      field('With the answer', `${path}.feedback.answer`, rule.answer, set('answer'), {
        hint: 'A reason’s or a choice’s key; empty: any answer.',
      }),
      field('Within days', `${path}.feedback.within_days`, rule.days, set('days'), {
        numeric: true,
      }),
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
      markInvalid(error);
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

function markInvalid(error) {
  const form = $('editor-form');
  clearFieldErrors(form);
  const path = (error?.field || '').replace(/^offer\.?/, '');
  if (!path) return;
  const target = fieldAt(form, path);
  if (target) showFieldError(target, ownWords(error, path));
}

// The message without the path it may lead with ("name: …"), for beside that field.
function ownWords(error, path) {
  const lead = [error.field, path].find((p) => p && error.message.startsWith(`${p}: `));
  return lead ? error.message.slice(lead.length + 2) : error.message;
}

// The control for a JSON path, else the nearest one: the deepest that the path lies inside
// (`targeting.all[0].usage` for its percent), else the list or group the path names.
function fieldAt(form, path) {
  const nodes = [...form.querySelectorAll('[data-field]')];
  const name = (node) => node.getAttribute('data-field');
  const inside = nodes.filter((node) => path.startsWith(name(node)));
  inside.sort((a, b) => name(b).length - name(a).length);
  return inside[0] || nodes.find((node) => name(node).startsWith(path)) || null;
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

// A survey previews as it will show: a banner, or the dialog when its display is "modal".
// A survey is shown in a banner or in the modal (its question, not a price).
const SURVEY_SCREENS = [
  ['banner', 'Banner'],
  ['modal', 'Modal'],
];
const screensOf = (kind) => (kind === 'survey' ? SURVEY_SCREENS : SCREENS);
const firstScreen = (d) =>
  d.kind === 'survey' ? d.survey.display : (DEFAULTS[d.kind] || DEFAULTS.upgrade)[1];

// The screens the draft's kind can be previewed on, `wanted` (else the one chosen) selected.
function syncScreens(wanted) {
  const select = $('preview-screen');
  const screens = screensOf(draft.kind);
  const keep = wanted || select.value;
  const chosen = screens.some(([s]) => s === keep) ? keep : firstScreen(draft);
  clear(select).append(
    ...screens.map(([value, name]) => el('option', { value, selected: value === chosen }, name)),
  );
  select.value = chosen;
}

function syncPreviewChoices() {
  syncScreens();
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
  syncScreens(firstScreen(draft));
  linkFeedback();
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

// A saved offer's page links to what customers answered it.
function linkFeedback() {
  const link = $('editor-feedback');
  link.hidden = !saved;
  if (saved) link.setAttribute('href', `#/feedback?${queryOf({ offer: saved })}`);
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
    linkFeedback();
    renderEditor();
  } catch (error) {
    if (error instanceof ApiError && error.status === 422) {
      $('editor-errors').textContent = problem(error);
      markInvalid(error);
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
  await search(lastSearch);
}

async function search(query) {
  lastSearch = query;
  $('customer-q').value = query;
  await pagedTable($('customer-results'), {
    headers: ['Customer', 'Stripe customer', 'Email', 'Signed up'],
    fetchPage: (after) =>
      api('GET', `/api/v1/admin/customers?${pageQuery({ q: query }, after, 20)}`),
    row: (c) =>
      el(
        'tr',
        { 'data-customer': c.id },
        el('th', { scope: 'row' }, el('a', { href: `#/customers/${q(c.id)}` }, c.id)),
        el('td', { text: c.stripe_customer || '—' }),
        el('td', { text: String(c.attrs.email || '—') }),
        el('td', { text: when(c.signup_at) }),
      ),
    empty: query ? `No customer matches “${query}”.` : 'No customers yet.',
    more: 'More customers',
  });
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
    el(
      'p',
      { className: 'inline' },
      el('a', { href: '#/customers' }, 'All customers'),
      el(
        'a',
        { href: `#/feedback?${queryOf({ customer: c.id })}` },
        'Feedback from this customer',
      ),
    ),
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

// Feedback: what customers answered ----------------------------------------------------------

let feedbackListed = {}; // the filters of the answers listed, which Download CSV saves

async function feedback(params) {
  show('feedback-view', 'Feedback');
  const filters = {
    offer: params.get('offer') || '',
    customer: params.get('customer') || '',
    kind: params.get('kind') || '',
  };
  feedbackListed = filters;
  $('feedback-customer').value = filters.customer;
  $('feedback-kind').value = filters.kind;
  await Promise.all([
    offerChoices($('feedback-offer'), filters.offer),
    pagedTable($('feedback-body'), {
      headers: ['When', 'Customer', 'Offer', 'Kind', 'Answer', 'What they wrote'],
      fetchPage: (after) => api('GET', `/api/v1/admin/feedback?${pageQuery(filters, after, 50)}`),
      row: feedbackRow,
      empty: 'No answers for these filters.',
    }),
  ]);
}

// Every offer, for a filter; the one chosen stays chosen even when the list leaves it out.
async function offerChoices(select, chosen) {
  let offers = [];
  try {
    offers = (await api('GET', '/api/v1/admin/offers?limit=100')).data;
  } catch (error) {
    failed(error);
  }
  const options = offers.map((o) => [o.id, `${o.name} (${o.id})`]);
  if (chosen && !offers.some((o) => o.id === chosen)) options.push([chosen, chosen]);
  clear(select).append(
    el('option', { value: '' }, 'every offer'),
    ...options.map(([value, name]) => el('option', { value, selected: value === chosen }, name)),
  );
  select.value = chosen;
}

// The customer's own text is only ever a text node (el's `text`), never markup.
function feedbackRow(f) {
  return el(
    'tr',
    { 'data-feedback': f.id, 'data-kind': f.kind },
    el('th', { scope: 'row', text: when(f.at) }),
    el('td', null, customerLink(f.customer_id)),
    el('td', null, el('a', { href: `#/offers/${q(f.offer_id)}` }, f.offer_id)),
    el('td', { text: FEEDBACK_KINDS[f.kind] || f.kind }),
    el('td', { 'data-answer': f.answer || '', text: answerText(f) }),
    el('td', { className: 'typed', 'data-text': '', text: f.text || '—' }),
  );
}

// A score, else the label the offer gives the key now (else the key as it was answered).
function answerText(f) {
  if (f.score !== null && f.score !== undefined) return `${f.score} of 5`;
  return f.label || f.answer || '—';
}

function feedbackFilters() {
  return {
    offer: $('feedback-offer').value,
    customer: $('feedback-customer').value.trim(),
    kind: $('feedback-kind').value,
  };
}

function filterFeedback(event) {
  event.preventDefault();
  const wanted = `#/feedback?${queryOf(feedbackFilters())}`;
  if (location.hash === wanted) route();
  else location.hash = wanted;
}

// Every answer the filters match (all of it, not only the pages loaded): the API's CSV is an
// export, one answer for the whole list.
async function downloadFeedback() {
  let csv;
  try {
    const path = `/api/v1/admin/feedback?${queryOf(feedbackListed)}`;
    csv = await (await send('GET', path, { accept: 'text/csv' })).text();
  } catch (error) {
    return failed(error);
  }
  saveBlob(new Blob([csv], { type: 'text/csv' }), 'feedback.csv');
  say('Feedback downloaded as feedback.csv.');
}

// Outbound webhooks: the SaaS's endpoints, their deliveries ----------------------------------

let deliveriesOf = null; // the endpoint whose deliveries are shown

async function webhooks() {
  show('webhooks-view', 'Outbound webhooks');
  clear($('endpoint-secret'));
  $('deliveries').hidden = true;
  deliveriesOf = null;
  await endpointList();
}

async function endpointList() {
  let page;
  try {
    page = await api('GET', '/api/v1/admin/webhook-endpoints');
  } catch (error) {
    return failed(error);
  }
  const body = clear($('endpoints-body'));
  if (!page.data.length) return body.appendChild(none('No endpoints yet.'));
  body.appendChild(
    table(null, ['URL', 'Events', 'Enabled', 'Actions'], page.data.map(endpointRow)),
  );
}

function endpointRow(endpoint) {
  const named = fresh('endpoint');
  const actions = el('td', { className: 'actions' });
  endpointActions(endpoint, actions, named);
  const enabled = endpoint.enabled ? 'yes' : `no${endpoint.disabled_reason ? ': ' : ''}`;
  const failing = endpoint.failing_since ? `, failing since ${when(endpoint.failing_since)}` : '';
  return el(
    'tr',
    { 'data-endpoint': endpoint.id },
    el(
      'th',
      { scope: 'row', id: named },
      el('code', { text: endpoint.url }),
      endpoint.description
        ? el('span', { className: 'hint', text: ` ${endpoint.description}` })
        : null,
    ),
    el('td', { text: endpoint.events.includes('*') ? 'every event' : endpoint.events.join(', ') }),
    el(
      'td',
      { 'data-enabled': String(endpoint.enabled) },
      enabled,
      endpoint.disabled_reason || '',
      failing,
    ),
    actions,
  );
}

// Each button is described by its row's URL: "Disable", then which endpoint.
function endpointActions(endpoint, cell, named) {
  const button = (label, action, className = 'small secondary') =>
    el('button', { type: 'button', className, onclick: action, 'aria-describedby': named }, label);
  cell.replaceChildren(
    button(endpoint.enabled ? 'Disable' : 'Enable', () => setEnabled(endpoint, !endpoint.enabled)),
    ' ',
    button('Rotate secret', () => rotate(endpoint)),
    ' ',
    button('Deliveries', () => openDeliveries(endpoint)),
    ' ',
    button('Delete', () => confirmDelete(endpoint, cell, named), 'small danger'),
  );
}

// Asked in the page, not with confirm(): the row's actions give way to the question.
function confirmDelete(endpoint, cell, named) {
  const yes = el(
    'button',
    { type: 'button', className: 'small danger', onclick: () => deleteEndpoint(endpoint) },
    'Yes, delete it',
  );
  cell.replaceChildren(
    el('span', {
      text: 'Delete this endpoint? Its pending deliveries fail; its history is kept. ',
    }),
    yes,
    ' ',
    el(
      'button',
      {
        type: 'button',
        className: 'small secondary',
        onclick: () => {
          endpointActions(endpoint, cell, named);
          cell.querySelector('button.danger').focus();
        },
      },
      'Cancel',
    ),
  );
  yes.focus();
}

async function deleteEndpoint(endpoint) {
  try {
    await api('DELETE', `/api/v1/admin/webhook-endpoints/${q(endpoint.id)}`);
  } catch (error) {
    return failed(error);
  }
  if (deliveriesOf?.id === endpoint.id) $('deliveries').hidden = true;
  await endpointList();
  say(`Deleted the endpoint ${endpoint.url}.`);
  $('endpoints-title').focus();
}

async function setEnabled(endpoint, enabled) {
  try {
    await api('PATCH', `/api/v1/admin/webhook-endpoints/${q(endpoint.id)}`, { enabled });
  } catch (error) {
    return failed(error);
  }
  await endpointList();
  say(`${endpoint.url} is now ${enabled ? 'enabled' : 'disabled'}.`);
  // Focus stays on the toggle, now the other way round.
  const row = `tr[data-endpoint="${CSS.escape(endpoint.id)}"]`;
  $('endpoints-body').querySelector(`${row} button`)?.focus();
}

async function rotate(endpoint) {
  let made;
  try {
    made = await api('POST', `/api/v1/admin/webhook-endpoints/${q(endpoint.id)}/rotate-secret`);
  } catch (error) {
    return failed(error);
  }
  showSecret(
    $('endpoint-secret'),
    `The new signing secret of ${made.url}. Copy it now: you won't see it again. ` +
      'The old secret keeps signing beside it for 24 hours.',
    made.secret,
    'Copy secret',
  );
  say(`Rotated the secret of ${made.url}.`);
}

function chosenEvents() {
  const boxes = [...$('endpoint-events').querySelectorAll('input[type="checkbox"]')];
  return boxes.filter((box) => box.checked).map((box) => box.value);
}

async function addEndpoint(event) {
  event.preventDefault();
  const form = $('endpoint-form');
  const url = $('endpoint-url');
  clearFieldErrors(form);
  $('endpoint-error').textContent = '';
  let made;
  try {
    made = await api('POST', '/api/v1/admin/webhook-endpoints', {
      url: url.value.trim(),
      description: $('endpoint-description').value.trim(),
      events: chosenEvents(),
    });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 422) return failed(error);
    $('endpoint-error').textContent = problem(error);
    const at = error.field === 'url' ? url : error.field === 'events' ? $('endpoint-events') : null;
    if (at) showFieldError(at, error.message);
    return;
  }
  url.value = '';
  $('endpoint-description').value = '';
  await endpointList();
  showSecret(
    $('endpoint-secret'),
    `The signing secret of ${made.url}. Copy it now: you won't see it again.`,
    made.secret,
    'Copy secret',
  );
  say(`Added the endpoint ${made.url}.`);
}

// "Every event" (including types added later) or a choice of types: one excludes the other.
function eventBoxes() {
  const out = $('endpoint-events');
  const box = (value, label, checked) => {
    const id = fresh('ev');
    return el(
      'div',
      { className: 'check' },
      el('input', { id, type: 'checkbox', value, checked }),
      el('label', { for: id }, label),
    );
  };
  out.append(
    box('*', 'Every event, including types added later', true),
    ...EVENT_TYPES.map((type) => box(type, el('code', { text: type }), false)),
  );
  out.addEventListener('change', (event) => {
    if (!event.target.checked) return;
    const every = event.target.value === '*';
    for (const other of out.querySelectorAll('input[type="checkbox"]')) {
      if (other !== event.target && (every || other.value === '*')) other.checked = false;
    }
  });
}

async function openDeliveries(endpoint) {
  deliveriesOf = endpoint;
  $('deliveries').hidden = false;
  $('deliveries-title').textContent = `Deliveries to ${endpoint.url}`;
  await deliveries();
  $('deliveries-title').focus();
}

async function deliveries() {
  const endpoint = deliveriesOf;
  const path = `/api/v1/admin/webhook-endpoints/${q(endpoint.id)}/deliveries`;
  $('deliveries').setAttribute('data-endpoint', endpoint.id);
  await pagedTable($('deliveries-body'), {
    headers: ['Event', 'Status', 'Attempts', 'Next attempt', ''],
    fetchPage: (after) => api('GET', `${path}?${pageQuery({}, after, 25)}`),
    row: (d) => deliveryRow(endpoint, d),
    empty: 'Nothing sent to this endpoint yet.',
  });
}

function deliveryRow(endpoint, d) {
  const retryable = d.status === 'failed' || (d.status === 'pending' && d.attempts.length > 0);
  return el(
    'tr',
    { 'data-delivery': d.id, 'data-status': d.status },
    el('th', { scope: 'row' }, d.event_type, ' ', el('code', { text: d.event_id })),
    el('td', { text: d.status }),
    el('td', null, d.attempts.length ? attemptList(d.attempts) : 'none yet'),
    el('td', { text: d.next_attempt_at ? when(d.next_attempt_at) : '—' }),
    el(
      'td',
      null,
      retryable
        ? el(
            'button',
            { type: 'button', className: 'small', onclick: () => retryDelivery(endpoint, d) },
            'Retry now',
          )
        : null,
    ),
  );
}

function attemptList(attempts) {
  return el(
    'ol',
    { className: 'attempts' },
    attempts.map((a) =>
      el(
        'li',
        { 'data-status-code': a.status_code === null ? 'none' : String(a.status_code) },
        `${when(a.at)}: ${a.status_code === null ? 'no answer' : `HTTP ${a.status_code}`}, ` +
          `${count(a.latency_ms)} ms${a.error ? `, ${a.error}` : ''}`,
      ),
    ),
  );
}

async function retryDelivery(endpoint, delivery) {
  try {
    await api(
      'POST',
      `/api/v1/admin/webhook-endpoints/${q(endpoint.id)}/deliveries/${q(delivery.id)}/retry`,
    );
  } catch (error) {
    return failed(error);
  }
  say(`Delivery of ${delivery.event_type} ${delivery.event_id} is due again now.`);
  await deliveries();
  $('deliveries-title').focus();
}

// Lifecycle email: what was sent, who gets none (read only) ---------------------------------

async function emails() {
  show('email-view', 'Lifecycle email');
  await Promise.all([
    pagedTable($('sends-body'), {
      headers: ['Email', 'Offer', 'Customer', 'Status', 'Attempts', 'Decided', 'Sent'],
      fetchPage: () => api('GET', '/api/v1/admin/email/sends?limit=100'),
      row: sendRow,
      empty: 'No email decided yet.',
      more: null, // the API gives the newest sends only
    }),
    pagedTable($('suppressions-body'), {
      headers: ['Customer', 'Why', 'Since'],
      fetchPage: (after) =>
        api('GET', `/api/v1/admin/email/suppressions?${pageQuery({}, after, 100)}`),
      row: suppressionRow,
      empty: 'Nobody is suppressed.',
      cursor: (s) => s.customer_id,
    }),
  ]);
}

function suppressionRow(s) {
  return el(
    'tr',
    { 'data-suppressed': s.customer_id },
    el('th', { scope: 'row' }, customerLink(s.customer_id)),
    el('td', { text: s.reason === 'admin' ? 'an admin' : 'unsubscribed' }),
    el('td', { text: when(s.at) }),
  );
}

function sendRow(e) {
  return el(
    'tr',
    { 'data-send': e.id },
    el('th', { scope: 'row' }, el('code', { text: e.id })),
    el('td', null, el('a', { href: `#/offers/${q(e.offer_id)}` }, `${e.offer_id} / ${e.variant}`)),
    el('td', null, customerLink(e.customer_id)),
    el('td', { text: e.status + (e.last_error ? `: ${e.last_error}` : '') }),
    el('td', { className: 'num', text: count(e.attempts) }),
    el('td', { text: when(e.created) }),
    el('td', { text: when(e.sent_at) }),
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
  const out = clear($('new-key'));
  try {
    const made = await api('POST', '/api/v1/admin/keys', {
      name: $('key-name').value,
      role: $('key-role').value,
    });
    $('key-name').value = '';
    await keys();
    showSecret(
      $('new-key'),
      `The new key for ${made.name}. Copy it now: it is not shown again.`,
      made.key,
      'Copy key',
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
    search($('customer-q').value.trim());
  });
  $('key-form').addEventListener('submit', createKey);
  $('feedback-filters').addEventListener('submit', filterFeedback);
  $('feedback-csv').addEventListener('click', downloadFeedback);
  $('endpoint-form').addEventListener('submit', addEndpoint);
  $('deliveries-refresh').addEventListener('click', deliveries);
  eventBoxes();
  const picker = $('new-kind');
  for (const [kind, name] of KINDS) picker.appendChild(el('option', { value: kind }, name));
  $('new-offer').addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = `#/offers/new/${q(picker.value)}`;
  });
  if (sessionStorage.getItem(KEY)) route();
}

start();
