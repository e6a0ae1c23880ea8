// evident's explorer: plain JavaScript over the server's JSON APIs, signed
// in by a session cookie. The URL holds the view (query, range, columns),
// so a link reproduces it.
'use strict';

const FACETS = [
  ['service', 'Service'],
  ['source', 'Source'],
  ['status', 'Status'],
  ['@evt.name', 'Event'],
  ['@usr.email', 'User'],
  ['@asset.type', 'Asset type'],
  ['@action', 'Action'],
  ['@network.client.geoip.country.name', 'Country'],
];
// `user` and `asset` are derived columns (the export has them too): the
// first of several fields an event may keep them in, so GitHub, IAM and
// evident's own events show their actor and what they acted on.
const DEFAULT_COLUMNS = ['timestamp', 'user', '@evt.name', '@action', 'asset', '@network.client.ip', 'status', 'message'];
const COLUMN_TITLES = {
  timestamp: 'Time', user: 'User', '@usr.email': 'User email', '@evt.name': 'Event', '@action': 'Action',
  asset: 'Asset', '@asset.name': 'Asset name', '@network.client.ip': 'IP', status: 'Status', service: 'Service',
  source: 'Source', message: 'Message',
};
const STATUS_COLORS = { error: '#d33', critical: '#a00', warn: '#e9a23b', warning: '#e9a23b', info: '#3b82c4', ok: '#3a9d5d', debug: '#999' };
const PAGE = 100;
const RESERVED_FIELDS = ['service', 'source', 'status', 'host', 'message', 'timestamp'];
const USER_FACETS_KEY = 'evident.facets';
const LIVE_EVERY_MS = 2000;
// Live tail keeps this many rows on screen, newest first.
const LIVE_ROWS = 500;

const $ = (selector) => document.querySelector(selector);
const element = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
};

// ---- state and URL -------------------------------------------------------

const state = {
  query: '', from: 'now-15m', to: 'now', columns: DEFAULT_COLUMNS, live: false,
  cursor: null, loading: null, generation: 0, hits: [], seen: new Set(),
  // The histogram's time axis (ms), for drag-to-select.
  axis: null,
};

function readUrl() {
  const params = new URLSearchParams(location.search);
  state.query = params.get('q') ?? '';
  state.from = params.get('from') ?? 'now-15m';
  state.to = params.get('to') ?? 'now';
  const columns = params.get('cols');
  state.columns = columns ? columns.split(',').filter(Boolean) : DEFAULT_COLUMNS;
  state.live = params.get('live') === '1' && state.to === 'now';
}

function writeUrl(replace) {
  const params = new URLSearchParams();
  params.set('view', 'explorer');
  if (state.query) params.set('q', state.query);
  params.set('from', state.from);
  params.set('to', state.to);
  if (state.columns.join(',') !== DEFAULT_COLUMNS.join(',')) params.set('cols', state.columns.join(','));
  if (state.live) params.set('live', '1');
  const url = `/?${params}`;
  if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
}

// ---- API -----------------------------------------------------------------

class SignedOut extends Error {}

// The signed-in session: who, what they may do, and the token every
// change made with the session cookie must carry (X-CSRF-Token).
let session = null;

async function api(method, path, body) {
  const headers = body === undefined ? {} : { 'Content-Type': 'application/json' };
  if (method !== 'GET' && session?.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (response.status === 401) throw new SignedOut();
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((answer.errors ?? [response.statusText]).join('; '));
  return answer;
}

const may = (permission) => session?.permissions?.includes(permission) ?? false;

const filter = () => ({ query: state.query || '*', from: state.from, to: state.to });

// ---- sign in ---------------------------------------------------------------

async function ensureSignedIn() {
  try {
    session = await api('GET', '/api/v1/ui/session');
    return true;
  } catch (error) {
    if (!(error instanceof SignedOut)) throw error;
  }
  const sso = await fetch('/api/v1/ui/sso', { credentials: 'same-origin' }).then((r) => r.json()).catch(() => ({}));
  $('#sso').hidden = !sso.enabled;
  if (sso.label) $('#sso').textContent = sso.label;
  // A single sign-on that failed comes back with its reason.
  const failed = new URLSearchParams(location.search).get('sign_in_error');
  if (failed) $('#sign-in-error').textContent = failed;
  const dialog = $('#sign-in');
  if (!dialog.open) dialog.showModal();
  return false;
}

async function postSignIn(body) {
  const response = await fetch('/api/v1/ui/session', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body), credentials: 'same-origin',
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((answer.errors ?? ['sign-in failed']).join('; '));
  session = answer;
}

async function signIn(event) {
  event.preventDefault();
  try {
    await postSignIn({ application_key: $('#app-key').value.trim() });
    $('#app-key').value = '';
    $('#sign-in').close();
    start();
  } catch (error) {
    $('#sign-in-error').textContent = error.message;
  }
}

async function signInWithPassword(event) {
  event.preventDefault();
  try {
    await postSignIn({ email: $('#email').value.trim(), password: $('#password').value });
    $('#password').value = '';
    $('#sign-in').close();
    start();
  } catch (error) {
    $('#sign-in-error').textContent = error.message;
  }
}

async function signOut() {
  await api('DELETE', '/api/v1/ui/session').catch(() => {});
  session = null;
  location.href = '/';
}

// ---- query bar -------------------------------------------------------------

let validation = 0;
async function validateQuery() {
  const mine = ++validation;
  const text = $('#query').value;
  const answer = await api('GET', `/api/v1/query/validate?query=${encodeURIComponent(text)}`).catch(() => null);
  if (mine !== validation || !answer) return answer?.valid ?? true;
  showQueryError(answer.valid ? null : answer);
  return answer.valid;
}

function showQueryError(error) {
  const box = $('#query-error');
  const input = $('#query');
  if (!error) {
    box.hidden = true;
    box.textContent = '';
    input.removeAttribute('aria-invalid');
    return;
  }
  const text = input.value;
  const before = text.slice(0, error.offset);
  box.replaceChildren(
    element('span', { class: 'position', text: `column ${error.column}: ` }),
    element('span', { class: 'message', text: error.error }),
    element('code', { class: 'excerpt' }, before, element('mark', { text: text.slice(error.offset, error.offset + 1) || ' ' }), text.slice(error.offset + 1)),
  );
  box.hidden = false;
  input.setAttribute('aria-invalid', 'true');
}

function rangeFromForm() {
  const range = $('#range').value;
  if (range !== 'custom') return [range, 'now'];
  const iso = (value) => (value ? new Date(value).toISOString() : null);
  return [iso($('#from').value) ?? 'now-1h', iso($('#to').value) ?? 'now'];
}

function fillForm() {
  $('#query').value = state.query;
  const preset = [...$('#range').options].some((option) => option.value === state.from) && state.to === 'now';
  $('#range').value = preset ? state.from : 'custom';
  $('#custom-range').hidden = preset;
  if (!preset) {
    const local = (text) => {
      const date = new Date(text);
      if (Number.isNaN(date.getTime())) return '';
      return new Date(date.getTime() - date.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
    };
    $('#from').value = local(state.from);
    $('#to').value = state.to === 'now' ? '' : local(state.to);
  }
}

async function submitQuery(event) {
  event?.preventDefault();
  if (!(await validateQuery())) return;
  state.query = $('#query').value.trim();
  [state.from, state.to] = rangeFromForm();
  if (state.to !== 'now') state.live = false;
  writeUrl(false);
  run();
}

/** Adds `field:value` (or its exclusion) to the query and runs it. */
function addFilter(field, value, exclude = false) {
  const quoted = /^[\w.@:/-]+$/.test(String(value)) ? String(value) : `"${String(value).replace(/["\\]/g, '\\$&')}"`;
  const clause = `${exclude ? '-' : ''}${field}:${quoted}`;
  const current = $('#query').value.trim();
  $('#query').value = current && current !== '*' ? `${current} ${clause}` : clause;
  submitQuery();
}

// ---- running a query -----------------------------------------------------

/** The export links follow the view: every matching event, streamed by the server. */
function updateExportLinks() {
  for (const format of ['csv', 'json']) {
    const params = new URLSearchParams({ query: state.query || '*', from: state.from, to: state.to, format });
    if (format === 'csv') params.set('columns', ['id', ...state.columns].join(','));
    $(`#export-${format}`).href = `/api/v1/export?${params}`;
  }
}

function run() {
  const generation = ++state.generation;
  updateExportLinks();
  state.cursor = null;
  state.hits = [];
  state.seen = new Set();
  $('#results tbody').replaceChildren();
  $('#results-end').textContent = '';
  renderHeader();
  renderColumnList();
  showLive();
  Promise.all([loadCount(generation), loadHistogram(generation), loadFacets(generation), loadPage(generation)])
    .catch(handleError);
}

function handleError(error) {
  if (error instanceof SignedOut) { ensureSignedIn(); return; }
  showQueryError({ error: error.message, column: 1, offset: 0 });
}

async function loadCount(generation) {
  const answer = await api('POST', '/api/v2/logs/analytics/aggregate', { filter: filter(), compute: [{ aggregation: 'count' }] });
  if (generation !== state.generation) return;
  const count = answer.data.buckets[0]?.computes.c0 ?? 0;
  $('#count').textContent = `${count.toLocaleString('en-US')} ${count === 1 ? 'event' : 'events'}`;
  $('#count').dataset.count = count;
  // Which view the count belongs to (a page, or a test, waits for it).
  $('#count').dataset.view = `${state.query}|${state.from}|${state.to}`;
}

/** The facets a user added in this browser (kept in localStorage). */
function userFacets() {
  try {
    const fields = JSON.parse(localStorage.getItem(USER_FACETS_KEY) ?? '[]');
    return Array.isArray(fields) ? fields.filter((field) => typeof field === 'string') : [];
  } catch {
    return [];
  }
}

function saveUserFacets(fields) {
  localStorage.setItem(USER_FACETS_KEY, JSON.stringify(fields));
}

/** A field as the query syntax names it: reserved names bare, attributes with `@`. */
function fieldName(text) {
  const field = text.trim();
  if (!/^@?[\w.-]+$/.test(field)) return null;
  return field.startsWith('@') || RESERVED_FIELDS.includes(field) ? field : `@${field}`;
}

function addFacet(event) {
  event.preventDefault();
  const field = fieldName($('#facet-field').value);
  $('#facet-error').textContent = '';
  if (!field) {
    $('#facet-error').textContent = 'a facet is a field: @usr.id, @http.method, host…';
    return;
  }
  const known = [...FACETS.map(([name]) => name), ...userFacets()];
  if (!known.includes(field)) saveUserFacets([...userFacets(), field]);
  $('#facet-field').value = '';
  loadFacets(state.generation).catch(handleError);
}

function removeFacet(field) {
  saveUserFacets(userFacets().filter((name) => name !== field));
  loadFacets(state.generation).catch(handleError);
}

async function loadFacets(generation) {
  const container = $('#facets');
  const facets = [...FACETS, ...userFacets().map((field) => [field, field, true])];
  const answers = await Promise.all(facets.map(([field]) => api('POST', '/api/v2/logs/analytics/aggregate', {
    filter: filter(), compute: [{ aggregation: 'count' }], group_by: [{ facet: field, limit: 10 }],
  }).catch(() => null)));
  if (generation !== state.generation) return;
  container.replaceChildren(...facets.map(([field, title, added], index) => {
    const buckets = answers[index]?.data.buckets ?? [];
    const values = buckets.filter((bucket) => bucket.by[field] !== null && bucket.by[field] !== undefined);
    const item = (bucket) => {
      const value = bucket.by[field];
      const button = element('button', {
        type: 'button', class: 'facet-value', 'data-value': value, title: `${field}:${value}`,
        onclick: () => addFilter(field, value),
      }, element('span', { class: 'value', text: String(value) }),
      element('span', { class: 'n', text: Number(bucket.computes.c0).toLocaleString('en-US') }));
      return element('li', {}, button);
    };
    const list = values.length === 0
      ? element('p', { class: 'hint', text: 'no values' })
      : element('ul', {}, ...values.map(item));
    const heading = element('h3', { title: field }, element('span', { text: title }));
    if (added) heading.append(element('button', { type: 'button', class: 'quiet remove-facet', title: `Remove the facet ${field}`, text: '×', onclick: () => removeFacet(field) }));
    return element('section', { class: 'facet', 'data-facet': field }, heading, list);
  }));
}

/** Milliseconds of `from`/`to` as the server reads them, for the histogram's axis. */
function toMillis(text, now) {
  const math = /^now(?:([+-])(\d+)([smhdw]))?$/.exec(text);
  if (math) {
    if (!math[1]) return now;
    const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[math[3]];
    return now + (math[1] === '-' ? -1 : 1) * Number(math[2]) * unit;
  }
  if (/^\d+$/.test(text)) return Number(text);
  return Date.parse(text);
}

async function loadHistogram(generation) {
  const now = Date.now();
  const start = toMillis(state.from, now);
  const end = toMillis(state.to, now);
  const interval = Math.max(1000, Math.ceil((end - start) / 60 / 1000) * 1000);
  const answer = await api('POST', '/api/v2/logs/analytics/aggregate', {
    filter: filter(), compute: [{ aggregation: 'count', type: 'timeseries', interval: `${interval}` }],
    group_by: [{ facet: 'status', limit: 10 }],
  });
  if (generation !== state.generation) return;
  state.axis = { start, end };
  drawHistogram(answer.data.buckets, start, end, interval);
}

/** Dragging across the histogram selects that time range. */
function watchHistogramDrags() {
  const svg = $('#histogram');
  let drag = null;
  const xOf = (event) => Math.min(Math.max(event.clientX - svg.getBoundingClientRect().left, 0), svg.clientWidth);
  svg.addEventListener('pointerdown', (event) => {
    if (!state.axis || event.button !== 0) return;
    svg.setPointerCapture(event.pointerId);
    const band = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    band.setAttribute('class', 'selection');
    band.setAttribute('y', '0');
    band.setAttribute('height', '80');
    svg.append(band);
    drag = { from: xOf(event), band };
  });
  svg.addEventListener('pointermove', (event) => {
    if (!drag) return;
    const x = xOf(event);
    drag.band.setAttribute('x', String(Math.min(drag.from, x)));
    drag.band.setAttribute('width', String(Math.abs(x - drag.from)));
  });
  const finish = (event) => {
    if (!drag) return;
    const [left, right] = [drag.from, xOf(event)].sort((a, b) => a - b);
    drag.band.remove();
    drag = null;
    // A click is not a selection.
    if (right - left < 4 || !state.axis) return;
    const { start, end } = state.axis;
    const at = (x) => new Date(Math.round(start + (x / svg.clientWidth) * (end - start))).toISOString();
    state.from = at(left);
    state.to = at(right);
    state.live = false;
    writeUrl(false);
    fillForm();
    run();
  };
  svg.addEventListener('pointerup', finish);
  svg.addEventListener('pointercancel', () => { drag?.band.remove(); drag = null; });
}

function drawHistogram(buckets, start, end, interval, svg = $('#histogram')) {
  const width = svg.clientWidth || 800;
  const height = 80;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const slots = new Map();
  for (const bucket of buckets) {
    const status = bucket.by.status ?? 'info';
    for (const point of bucket.computes.c0 ?? []) {
      const at = Date.parse(point.time);
      const slot = slots.get(at) ?? [];
      slot.push([status, point.value]);
      slots.set(at, slot);
    }
  }
  const highest = Math.max(1, ...[...slots.values()].map((slot) => slot.reduce((sum, [, value]) => sum + value, 0)));
  const scale = (at) => ((at - start) / Math.max(1, end - start)) * width;
  const barWidth = Math.max(1, (interval / Math.max(1, end - start)) * width - 1);
  const bars = [];
  for (const [at, slot] of slots) {
    let top = height;
    for (const [status, value] of slot) {
      const barHeight = (value / highest) * (height - 4);
      top -= barHeight;
      const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      rect.setAttribute('x', scale(at).toFixed(1));
      rect.setAttribute('y', top.toFixed(1));
      rect.setAttribute('width', barWidth.toFixed(1));
      rect.setAttribute('height', barHeight.toFixed(1));
      rect.setAttribute('fill', STATUS_COLORS[status] ?? '#888');
      rect.setAttribute('data-status', status);
      const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      title.textContent = `${new Date(at).toISOString()} ${status}: ${value}`;
      rect.append(title);
      bars.push(rect);
    }
  }
  svg.replaceChildren(...bars);
  const axis = svg.nextElementSibling;
  if (axis?.classList.contains('axis')) {
    // Dates alone over more than two days; times within them.
    const long = end - start > 2 * 8.64e7;
    const label = (at) => new Date(at).toLocaleString('en-US', long
      ? { year: 'numeric', month: 'short', day: 'numeric' }
      : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
    axis.replaceChildren(...[start, (start + end) / 2, end].map((at) => element('span', { text: label(at) })));
  }
}

// ---- results -------------------------------------------------------------

function renderHeader() {
  $('#results thead tr').replaceChildren(...state.columns.map((column) => element('th', { text: COLUMN_TITLES[column] ?? column, title: column })));
}

/** A hit's value for a column: reserved fields at the top, `@path` in the attributes. */
function valueOf(hit, column) {
  const attributes = hit.attributes;
  if (column === 'user') return valueOf(hit, '@usr.email') ?? valueOf(hit, '@usr.name') ?? valueOf(hit, '@usr.id');
  if (column === 'asset') {
    const named = valueOf(hit, '@asset.name');
    if (named !== undefined && named !== null) return named;
    const parts = [valueOf(hit, '@asset.type'), valueOf(hit, '@asset.id')].filter((part) => part !== undefined && part !== null);
    return parts.length ? parts.join('/') : undefined;
  }
  if (!column.startsWith('@')) return attributes[column] ?? attributes.attributes?.[column];
  let value = attributes.attributes;
  for (const part of column.slice(1).split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = value[part];
  }
  return value;
}

async function loadPage(generation) {
  // One page at a time per view; a page still loading for an earlier view
  // must not hold back the first page of a new one.
  if (state.loading === generation || state.cursor === false) return;
  state.loading = generation;
  try {
    const page = { limit: PAGE };
    if (state.cursor) page.cursor = state.cursor;
    const answer = await api('POST', '/api/v2/logs/events/search', { filter: filter(), sort: '-timestamp', page });
    if (generation !== state.generation) return;
    const fresh = answer.data.filter((hit) => !state.seen.has(hit.id));
    for (const hit of fresh) { state.hits.push(hit); state.seen.add(hit.id); }
    $('#results tbody').append(...fresh.map(rowOf));
    learnFields(fresh);
    state.cursor = answer.meta?.page?.after ?? false;
    $('#results-end').textContent = state.cursor === false ? (state.hits.length ? 'End of results.' : 'No events match.') : '';
  } finally {
    if (state.loading === generation) state.loading = null;
  }
}

/** A result row: the view's columns of one hit. */
function rowOf(hit) {
  return element('tr', { tabindex: '0', 'data-id': hit.id, onclick: () => openEvent(hit), onkeydown: (event) => { if (event.key === 'Enter') openEvent(hit); } },
    ...state.columns.map((column) => {
      const value = valueOf(hit, column);
      const text = value === undefined || value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
      const cell = element('td', { text, title: text });
      if (column === 'status') cell.classList.add(`status-${text}`);
      return cell;
    }));
}

/** Offers the fields seen in results when adding a column or a facet. */
function learnFields(hits) {
  const list = $('#known-fields');
  const known = new Set([...list.options].map((option) => option.value));
  const visit = (value, path) => {
    for (const [key, child] of Object.entries(value)) {
      const field = `${path}.${key}`;
      if (child !== null && typeof child === 'object' && !Array.isArray(child)) visit(child, field);
      else known.add(`@${field.slice(1)}`);
    }
  };
  for (const hit of hits) visit(hit.attributes.attributes ?? {}, '');
  for (const field of RESERVED_FIELDS) known.add(field);
  if (known.size !== list.options.length) list.replaceChildren(...[...known].sort().map((field) => element('option', { value: field })));
}

// ---- columns ---------------------------------------------------------------

function setColumns(columns) {
  state.columns = columns.length ? columns : DEFAULT_COLUMNS;
  writeUrl(false);
  run();
}

function renderColumnList() {
  const columns = state.columns;
  $('#column-list').replaceChildren(...columns.map((column, index) => {
    const up = element('button', {
      type: 'button', class: 'quiet move-up', title: `Move ${column} left`, text: '↑',
      onclick: () => setColumns(columns.map((name, at) => (at === index - 1 ? column : at === index ? columns[index - 1] : name))),
    });
    up.disabled = index === 0;
    return element('li', { 'data-column': column }, element('span', { text: column }), up,
      element('button', { type: 'button', class: 'quiet remove-column', title: `Remove ${column}`, text: '×', onclick: () => setColumns(columns.filter((name) => name !== column)) }));
  }));
}

function addColumn(event) {
  event.preventDefault();
  const field = fieldName($('#column-field').value);
  if (!field) return;
  $('#column-field').value = '';
  if (!state.columns.includes(field)) setColumns([...state.columns, field]);
}

// ---- live tail ---------------------------------------------------------------

let liveTimer = null;
let liveSince = 0;
// The log position the next poll starts from (null until the server said).
let livePosition = null;
let livePolling = false;

function toggleLive() {
  state.live = !state.live;
  if (state.live && (state.to !== 'now' || !/^now-/.test(state.from))) {
    state.from = 'now-15m';
    state.to = 'now';
    fillForm();
  }
  writeUrl(false);
  run();
}

/**
 * Live tail: every two seconds, the matching events that arrived since the
 * last poll (in log order, whatever their timestamps) go on top.
 */
function showLive() {
  clearInterval(liveTimer);
  liveTimer = null;
  livePosition = null;
  $('#live').setAttribute('aria-pressed', String(state.live));
  $('#live-status').hidden = !state.live;
  if (!state.live) return;
  liveSince = 0;
  $('#live-status').textContent = 'Live: new events appear on top as they arrive.';
  const generation = state.generation;
  // Where following starts; asked for as the first page is, and an event in both shows once.
  api('POST', '/api/v1/live', { query: state.query || '*' })
    .then((answer) => { if (generation === state.generation) livePosition = answer.meta.position; })
    .catch(handleError);
  liveTimer = setInterval(() => pollLive(generation).catch(handleError), LIVE_EVERY_MS);
}

async function pollLive(generation) {
  if (generation !== state.generation || document.hidden || livePosition === null || livePolling) return;
  livePolling = true;
  try {
    const answer = await api('POST', '/api/v1/live', { query: state.query || '*', position: livePosition, limit: 1000 });
    if (generation !== state.generation) return;
    livePosition = answer.meta.position;
    // Oldest first from the server; newest on top here.
    const fresh = answer.data.filter((hit) => !state.seen.has(hit.id)).reverse();
    if (fresh.length === 0) return;
    for (const hit of fresh) state.seen.add(hit.id);
    state.hits.unshift(...fresh);
    const rows = fresh.map((hit) => { const row = rowOf(hit); row.classList.add('fresh'); return row; });
    const body = $('#results tbody');
    body.prepend(...rows);
    while (body.rows.length > LIVE_ROWS) body.lastElementChild.remove();
    liveSince += fresh.length;
    $('#live-status').textContent = `Live: ${liveSince.toLocaleString('en-US')} new ${liveSince === 1 ? 'event' : 'events'} since ${new Date().toLocaleTimeString()}.`;
    learnFields(fresh);
    await Promise.all([loadCount(generation), loadHistogram(generation)]);
  } finally {
    livePolling = false;
  }
}

function watchScrolling() {
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && state.cursor) loadPage(state.generation).catch(handleError);
  }, { rootMargin: '400px' });
  observer.observe($('#results-end'));
}

// ---- the event panel -----------------------------------------------------

function openEvent(hit) {
  const panel = $('#event-panel');
  const attributes = hit.attributes;
  $('#event-title').textContent = attributes.message ?? hit.id;
  const reserved = Object.fromEntries(['timestamp', 'service', 'source', 'status', 'host', 'tags'].filter((name) => attributes[name] !== undefined).map((name) => [name, attributes[name]]));
  $('#event-attributes').replaceChildren(tree(reserved, ''), tree(attributes.attributes ?? {}, '@'));
  $('#event-raw').textContent = JSON.stringify(hit, null, 2);
  panel.dataset.id = hit.id;
  panel.hidden = false;
  verifyEvent(hit.id);
}

// ---- integrity: checked in the browser, trusting only the public key ----

const bytesOf = (base64) => Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
};
const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
const same = (a, b) => a.length === b.length && a.every((byte, index) => byte === b[index]);

/** Checks a C2SP signed note against a `name+hash+key` Ed25519 verifier key; returns the note's text. */
async function openNote(note, verifierKey) {
  // `name+hash+key`: the key's base64 may itself hold '+'.
  const first = verifierKey.indexOf('+');
  const second = verifierKey.indexOf('+', first + 1);
  const [name, hashHex, keyBase64] = [verifierKey.slice(0, first), verifierKey.slice(first + 1, second), verifierKey.slice(second + 1)];
  const key = bytesOf(keyBase64);
  if (key[0] !== 1 || key.length !== 33) throw new Error('the public key is not an Ed25519 note key');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('the checkpoint is not a signed note');
  const text = note.slice(0, split + 1);
  const publicKey = await crypto.subtle.importKey('raw', key.slice(1), { name: 'Ed25519' }, false, ['verify']);
  for (const line of note.slice(split + 2).split('\n')) {
    const found = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!found || found[1] !== name) continue;
    const signature = bytesOf(found[2]);
    const keyHash = [...signature.slice(0, 4)].map((byte) => byte.toString(16).padStart(2, '0')).join('');
    if (keyHash !== hashHex) continue;
    if (await crypto.subtle.verify({ name: 'Ed25519' }, publicKey, signature.slice(4), new TextEncoder().encode(text))) return text;
  }
  throw new Error('the checkpoint signature does not verify with the public key');
}

// The first public key this browser saw from this server is pinned: a key
// the server changes later fails every check until someone compares the
// fingerprints out of band and forgets the pinned one on purpose.
const PINNED_KEY = 'evident.pinned_public_key';

/** SHA-256 of a verifier key's text, as 16 groups of 4 hex digits. */
async function fingerprint(verifierKey) {
  const digest = await sha256(new TextEncoder().encode(verifierKey));
  const hex = [...digest].map((byte) => byte.toString(16).padStart(2, '0')).join('');
  return hex.match(/.{4}/g).join(' ');
}

/** Checks `publicKey` against the pinned one (pinning it on a first visit). */
async function checkPinnedKey(publicKey) {
  const pinned = JSON.parse(localStorage.getItem(PINNED_KEY) ?? 'null');
  if (!pinned) {
    localStorage.setItem(PINNED_KEY, JSON.stringify({ key: publicKey, at: Date.now() }));
    return { first: true };
  }
  if (pinned.key !== publicKey) {
    throw new Error(`the server's public key changed. This browser pinned the key with fingerprint ${await fingerprint(pinned.key)} on ${new Date(pinned.at).toLocaleString()}; the server now signs with ${await fingerprint(publicKey)}. Compare both with the key the server's operator publishes before trusting it`);
  }
  return { first: false, at: pinned.at };
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to. */
async function rootFrom(leaf, index, size, path) {
  if (index >= size) throw new Error('the leaf index is beyond the tree');
  let fn = index;
  let sn = size - 1;
  let hash = leaf;
  for (const sibling of path) {
    if (sn === 0) throw new Error('the proof is longer than the tree');
    if (fn % 2 === 1 || fn === sn) {
      hash = await sha256(concat([1], sibling, hash));
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      hash = await sha256(concat([1], hash, sibling));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new Error('the proof is shorter than the tree');
  return hash;
}

async function verifyEvent(id) {
  const box = $('#integrity');
  box.dataset.state = 'checking';
  box.textContent = 'Checking integrity…';
  try {
    const proof = await api('GET', `/api/v1/integrity/proof/inclusion?id=${encodeURIComponent(id)}`);
    await checkPinnedKey(proof.public_key);
    const text = await openNote(proof.checkpoint, proof.public_key);
    const [origin, sizeLine, rootLine] = text.split('\n');
    const size = Number(sizeLine);
    const leaf = await sha256(concat([0], new TextEncoder().encode(proof.event)));
    const root = await rootFrom(leaf, proof.leaf_index, size, proof.proof.map(bytesOf));
    if (!same(root, bytesOf(rootLine))) throw new Error('the stored event does not hash to the signed tree: it was altered');
    if (JSON.parse(proof.event).id !== id) throw new Error('the proof is for another event');
    box.dataset.state = 'verified';
    box.textContent = `Verified: event ${proof.leaf_index + 1} of ${size.toLocaleString('en-US')} in the checkpoint signed by ${origin}.`;
  } catch (error) {
    if (error instanceof SignedOut) { ensureSignedIn(); return; }
    box.dataset.state = 'failed';
    box.textContent = `Integrity check failed: ${error.message}`;
  }
}

/** Nested attributes as a tree; every leaf can be filtered on or excluded. */
function tree(value, path) {
  const list = element('ul');
  for (const [key, child] of Object.entries(value)) {
    const field = path === '' ? key : path === '@' ? `@${key}` : `${path}.${key}`;
    if (child !== null && typeof child === 'object' && !Array.isArray(child)) {
      list.append(element('li', {}, element('details', { open: '' }, element('summary', { text: key }), tree(child, field))));
    } else {
      const shown = Array.isArray(child) ? child.join(', ') : String(child);
      const filterable = field !== 'timestamp' && !Array.isArray(child) && child !== null;
      list.append(element('li', { class: 'leaf', 'data-field': field },
        element('span', { class: 'key', text: key }),
        element('span', { class: 'value', text: shown }),
        ...(filterable ? [
          element('button', { type: 'button', class: 'quiet filter-by', title: `Filter by ${field}:${shown}`, text: '+', onclick: () => addFilter(field, child) }),
          element('button', { type: 'button', class: 'quiet exclude', title: `Exclude ${field}:${shown}`, text: '−', onclick: () => addFilter(field, child, true) }),
        ] : []),
        ...(field !== 'tags' && !state.columns.includes(field) ? [
          element('button', { type: 'button', class: 'quiet add-column', title: `Show ${field} as a column`, text: '⊞', onclick: () => setColumns([...state.columns, field]) }),
        ] : [])));
    }
  }
  return list;
}

function showTab(name) {
  for (const tab of document.querySelectorAll('#event-panel [role=tab]')) tab.setAttribute('aria-selected', String(tab.dataset.tab === name));
  $('#event-attributes').hidden = name !== 'attributes';
  $('#event-raw').hidden = name !== 'raw';
}

// ---- overview: the last 24 hours ------------------------------------------

const DAY = { from: 'now-1d', to: 'now' };

async function topValues(query, facet, limit = 10) {
  const answer = await api('POST', '/api/v2/logs/analytics/aggregate', {
    filter: { query, ...DAY }, compute: [{ aggregation: 'count' }], group_by: [{ facet, limit }],
  });
  return answer.data.buckets.filter((bucket) => bucket.by[facet] !== null && bucket.by[facet] !== undefined)
    .map((bucket) => [bucket.by[facet], bucket.computes.c0]);
}

function ranking(list, rows, field, query) {
  list.replaceChildren(...(rows.length ? rows.map(([value, n]) => element('li', {},
    element('a', { href: `/?${new URLSearchParams({ view: 'explorer', q: `${query === '*' ? '' : `${query} `}${field}:"${value}"`, ...DAY })}`, text: String(value) }),
    element('span', { class: 'n', text: Number(n).toLocaleString('en-US') }))) : [element('li', { class: 'hint', text: 'none' })]));
}

// Event names of key and role changes, across sources (Datadog `api_key`,
// CloudTrail `CreateAccessKey`, Kubernetes `rolebindings.create`, ...), and of reads to leave out.
const KEY_OR_ROLE = /api.?key|access.?key|application.?key|service.?account.?key|role/i;
const READ = /(^|[._/])(get|list|describe|watch)/i;

/**
 * The newest key and role changes of the day: the day's event names are
 * counted from columns, the matching ones picked here, and their newest
 * events asked for by exact name (a wildcard would read every event).
 */
async function keyAndRoleChanges() {
  const names = (await topValues('*', '@evt.name', 10000)).map(([name]) => String(name))
    .filter((name) => KEY_OR_ROLE.test(name) && !READ.test(name));
  if (names.length === 0) return [];
  const quoted = names.slice(0, 200).map((name) => `"${name.replace(/["\\]/g, '\\$&')}"`);
  const answer = await api('POST', '/api/v2/logs/events/search', {
    filter: { query: `@evt.name:(${quoted.join(' OR ')})`, ...DAY }, sort: '-timestamp', page: { limit: 10 },
  });
  return answer.data;
}

async function showOverview() {
  const now = Date.now();
  const histogram = await api('POST', '/api/v2/logs/analytics/aggregate', {
    filter: { query: '*', ...DAY }, compute: [{ aggregation: 'count', type: 'timeseries', interval: '1h' }], group_by: [{ facet: 'status', limit: 10 }],
  });
  drawHistogram(histogram.data.buckets, now - 8.64e7, now, 3.6e6, $('#overview-histogram'));
  const total = await api('POST', '/api/v2/logs/analytics/aggregate', { filter: { query: '*', ...DAY }, compute: [{ aggregation: 'count' }] });
  $('#overview-count').textContent = `(${Number(total.data.buckets[0]?.computes.c0 ?? 0).toLocaleString('en-US')})`;
  const failedAuth = '@action:authenticated status:error';
  const [users, events, countries] = await Promise.all([
    topValues('*', '@usr.email'), topValues('*', '@evt.name'), topValues(failedAuth, '@network.client.geoip.country.name'),
  ]);
  ranking($('#top-users'), users, '@usr.email', '*');
  ranking($('#top-events'), events, '@evt.name', '*');
  ranking($('#failed-auth'), countries, '@network.client.geoip.country.name', failedAuth);
  const changes = await keyAndRoleChanges();
  $('#key-changes').replaceChildren(...(changes.length ? changes.map((hit) => element('li', {},
    element('time', { text: hit.attributes.timestamp }),
    element('span', { text: ` ${valueOf(hit, '@usr.email') ?? valueOf(hit, '@usr.id') ?? ''} ${valueOf(hit, '@evt.name') ?? ''}` }))) : [element('li', { class: 'hint', text: 'none' })]));
}

// ---- integrity: the latest checkpoint, and consistency with the last one seen --

/** RFC 9162 §2.1.4.2: does `proof` show the old tree is a prefix of the new one? */
async function consistent(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize === newSize) return proof.length === 0 && same(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0;
  if (oldSize > newSize || proof.length === 0) return false;
  const path = (oldSize & (oldSize - 1)) === 0 ? [oldRoot, ...proof] : [...proof];
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
  let fr = path[0];
  let sr = path[0];
  for (const node of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = await sha256(concat([1], node, fr));
      sr = await sha256(concat([1], node, sr));
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      sr = await sha256(concat([1], sr, node));
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return same(fr, oldRoot) && same(sr, newRoot) && sn === 0;
}

/** What the last `evident verify` of the data directory found. */
function showLastVerify(last) {
  const shown = $('#last-verify');
  if (!last) {
    shown.dataset.state = 'none';
    shown.textContent = 'none recorded: run evident verify (below) to re-hash every stored event';
    return;
  }
  const when = new Date(last.finished_at).toLocaleString();
  const count = Number(last.events).toLocaleString('en-US');
  shown.dataset.state = last.ok ? 'verified' : 'failed';
  if (last.ok) {
    shown.textContent = `passed on ${when}: ${count} events re-hashed, ${Number(last.checkpoints).toLocaleString('en-US')} checkpoints checked`;
    return;
  }
  const position = last.first_bad_position === null ? '' : `, first bad position ${last.first_bad_position}`;
  shown.replaceChildren(
    element('span', { text: `FAILED on ${when} (${count} events${position})` }),
    element('ul', {}, ...last.problems.map((problem) => element('li', { text: problem }))));
}

async function showIntegrity() {
  const checkpoint = await api('GET', '/api/v1/integrity/checkpoint');
  $('#tree-size').textContent = Number(checkpoint.tree_size).toLocaleString('en-US');
  $('#root-hash').textContent = checkpoint.root_hash;
  $('#origin').textContent = checkpoint.origin;
  $('#checkpoint-note').textContent = checkpoint.checkpoint;
  $('#public-key').textContent = checkpoint.public_key;
  $('#key-fingerprint').textContent = await fingerprint(checkpoint.public_key);
  $('#verify-command').textContent = `evident verify --data-dir <dir> --public-key '${checkpoint.public_key}'`;
  showLastVerify(checkpoint.last_verify);
  const summary = $('#integrity-summary');
  try {
    const pin = await checkPinnedKey(checkpoint.public_key);
    $('#key-pinned').textContent = pin.first
      ? 'pinned now, on this first visit: a different key later fails every check'
      : `the key this browser pinned on ${new Date(pin.at).toLocaleString()}`;
    const text = await openNote(checkpoint.checkpoint, checkpoint.public_key);
    const [, sizeLine, rootLine] = text.split('\n');
    const size = Number(sizeLine);
    const root = bytesOf(rootLine);
    // One remembered checkpoint for this server, whatever key it shows.
    const seenKey = 'evident.checkpoint';
    const seen = JSON.parse(localStorage.getItem(seenKey) ?? localStorage.getItem(`evident.checkpoint.${checkpoint.public_key}`) ?? 'null');
    if (seen && seen.size <= size) {
      const proof = await api('GET', `/api/v1/integrity/proof/consistency?from=${seen.size}&to=${size}`);
      if (!(await consistent(seen.size, size, bytesOf(seen.root), root, proof.proof.map(bytesOf)))) {
        throw new Error(`the log is not an extension of the one this browser saw at size ${seen.size}: history was rewritten`);
      }
      $('#consistency').textContent = `an extension of the log this browser saw on ${new Date(seen.at).toLocaleString()} (size ${Number(seen.size).toLocaleString('en-US')})`;
    } else if (seen) {
      throw new Error(`the log is smaller (${size}) than when this browser saw it (${seen.size}): events were removed`);
    } else {
      $('#consistency').textContent = 'first visit from this browser: remembered for the next one';
    }
    localStorage.setItem(seenKey, JSON.stringify({ size, root: rootLine, at: Date.now() }));
    summary.dataset.state = 'verified';
    summary.textContent = `Verified: the checkpoint is signed by the public key below, and the log holds ${size.toLocaleString('en-US')} events.`;
  } catch (error) {
    summary.dataset.state = 'failed';
    summary.textContent = `Integrity check failed: ${error.message}`;
    $('#forget-key').hidden = !String(error.message).startsWith("the server's public key changed");
  }
}

/** After comparing fingerprints out of band: trust the server's key anew. */
function forgetPinnedKey() {
  localStorage.removeItem(PINNED_KEY);
  localStorage.removeItem('evident.checkpoint');
  $('#forget-key').hidden = true;
  showIntegrity();
}

// ---- saved views -----------------------------------------------------------

async function loadViews() {
  const answer = await api('GET', '/api/v1/views');
  $('#view-list').replaceChildren(...answer.data.map((view) => element('li', { 'data-view-id': view.id },
    element('a', { href: viewUrl(view), class: 'view-open', text: view.name, onclick: (event) => { event.preventDefault(); openView(view); } }),
    element('button', { type: 'button', class: 'quiet view-rename', text: 'Rename', onclick: () => renameView(view) }),
    element('button', { type: 'button', class: 'quiet view-delete', text: 'Delete', onclick: () => deleteView(view) }))));
  if (answer.data.length === 0) $('#view-list').replaceChildren(element('li', { class: 'hint', text: 'No saved views yet.' }));
}

function viewUrl(view) {
  const params = new URLSearchParams({ view: 'explorer', q: view.query, from: view.from, to: view.to });
  if (view.columns.length) params.set('cols', view.columns.join(','));
  return `/?${params}`;
}

function openView(view) {
  history.pushState(null, '', viewUrl(view));
  readUrl();
  fillForm();
  $('#views').open = false;
  run();
}

async function changeViews(work) {
  $('#view-error').textContent = '';
  try {
    await work();
    await loadViews();
  } catch (error) {
    if (error instanceof SignedOut) ensureSignedIn(); else $('#view-error').textContent = error.message;
  }
}

function saveView(event) {
  event.preventDefault();
  changeViews(async () => {
    await api('POST', '/api/v1/views', { name: $('#view-name').value, query: state.query, from: state.from, to: state.to, columns: state.columns });
    $('#view-name').value = '';
  });
}

function renameView(view) {
  const name = prompt('New name of the view', view.name);
  if (name) changeViews(() => api('PATCH', `/api/v1/views/${encodeURIComponent(view.id)}`, { name }));
}

function deleteView(view) {
  if (confirm(`Delete the view "${view.name}"?`)) changeViews(() => api('DELETE', `/api/v1/views/${encodeURIComponent(view.id)}`));
}

// ---- users and keys ----------------------------------------------------------

const when = (text) => (text ? new Date(text).toLocaleString() : '—');

function button(text, onclick) {
  return element('button', { type: 'button', class: 'quiet', text, onclick });
}

/** Shows a key's text once, with a warning that it will not be shown again. */
function showNewKey(target, text) {
  target.replaceChildren(
    'New key (shown this once, copy it now): ', element('code', { text }),
  );
  target.hidden = false;
}

async function guarded(errorTarget, work) {
  $(errorTarget).textContent = '';
  try {
    await work();
  } catch (error) {
    if (error instanceof SignedOut) ensureSignedIn(); else $(errorTarget).textContent = error.message;
  }
}

async function showAccess() {
  if (may('user_access_manage')) {
    const [users, roles] = await Promise.all([api('GET', '/api/v2/users'), api('GET', '/api/v2/roles')]);
    const roleName = new Map(roles.data.map((role) => [role.id, role.attributes.name]));
    $('#new-user-role').replaceChildren(...roles.data.map((role) => element('option', { value: role.id, text: role.attributes.name })));
    $('#users tbody').replaceChildren(...users.data.map((user) => {
      const disabled = user.attributes.disabled;
      const toggle = button(disabled ? 'Enable' : 'Disable', () => guarded('#users-error', async () => {
        await api('PATCH', `/api/v2/users/${encodeURIComponent(user.id)}`, { data: { type: 'users', id: user.id, attributes: { disabled: !disabled } } });
        await showAccess();
      }));
      return element('tr', { 'data-email': user.attributes.email },
        element('td', { text: user.attributes.email }),
        element('td', { text: user.attributes.name ?? '' }),
        element('td', { text: user.relationships.roles.data.map((role) => roleName.get(role.id) ?? role.id).join(', ') }),
        element('td', { text: user.attributes.status }),
        element('td', {}, toggle));
    }));
  }
  if (may('api_keys_write')) {
    const [apiKeys, appKeys] = await Promise.all([api('GET', '/api/v2/api_keys'), api('GET', '/api/v2/application_keys')]);
    const revoke = (path) => button('Revoke', () => guarded('#keys-error', async () => {
      if (!confirm('Revoke this key? Whatever uses it stops working at once.')) return;
      await api('DELETE', path);
      await showAccess();
    }));
    $('#api-keys tbody').replaceChildren(...apiKeys.data.map((key) => element('tr', {},
      element('td', { text: key.attributes.name }),
      element('td', { text: key.attributes.last4 }),
      element('td', { text: when(key.attributes.created_at) }),
      element('td', { text: when(key.attributes.date_last_used) }),
      element('td', {}, revoke(`/api/v2/api_keys/${encodeURIComponent(key.id)}`)))));
    $('#app-keys tbody').replaceChildren(...appKeys.data.map((key) => element('tr', {},
      element('td', { text: key.attributes.name }),
      element('td', { text: key.relationships.owned_by.data.id }),
      element('td', { text: key.attributes.last4 }),
      element('td', { text: (key.attributes.scopes ?? ['all of the owner\'s']).join(', ') }),
      element('td', { text: when(key.attributes.last_used_at) }),
      element('td', {}, revoke(`/api/v2/application_keys/${encodeURIComponent(key.id)}`)))));
  }
}

function addUser(event) {
  event.preventDefault();
  guarded('#users-error', async () => {
    const attributes = { email: $('#new-user-email').value.trim(), name: $('#new-user-name').value.trim() };
    if ($('#new-user-password').value) attributes.password = $('#new-user-password').value;
    await api('POST', '/api/v2/users', { data: { type: 'users', attributes,
      relationships: { roles: { data: [{ type: 'roles', id: $('#new-user-role').value }] } } } });
    $('#new-user').reset();
    await showAccess();
  });
}

function addApiKey(event) {
  event.preventDefault();
  guarded('#keys-error', async () => {
    const created = await api('POST', '/api/v2/api_keys', { data: { type: 'api_keys', attributes: { name: $('#new-api-key-name').value.trim() } } });
    $('#new-api-key').reset();
    showNewKey($('#new-key'), created.data.attributes.key);
    await showAccess();
  });
}

async function showProfile() {
  $('#profile-email').textContent = session.user.email;
  $('#profile-name').textContent = session.user.name;
  $('#profile-permissions').textContent = session.permissions.join(', ');
  const keys = await api('GET', '/api/v2/current_user/application_keys');
  $('#my-keys tbody').replaceChildren(...keys.data.map((key) => element('tr', {},
    element('td', { text: key.attributes.name }),
    element('td', { text: key.attributes.last4 }),
    element('td', { text: (key.attributes.scopes ?? ['all of yours']).join(', ') }),
    element('td', { text: when(key.attributes.created_at) }),
    element('td', { text: when(key.attributes.last_used_at) }),
    element('td', {}, button('Revoke', () => guarded('#my-keys-error', async () => {
      if (!confirm('Revoke this key? Whatever uses it stops working at once.')) return;
      await api('DELETE', `/api/v2/current_user/application_keys/${encodeURIComponent(key.id)}`);
      await showProfile();
    }))))));
}

function addMyKey(event) {
  event.preventDefault();
  guarded('#my-keys-error', async () => {
    const scopes = $('#new-my-key-scopes').value.split(/[\s,]+/).filter(Boolean);
    const attributes = { name: $('#new-my-key-name').value.trim(), scopes: scopes.length ? scopes : null };
    const created = await api('POST', '/api/v2/current_user/application_keys', { data: { type: 'application_keys', attributes } });
    $('#new-my-key').reset();
    showNewKey($('#my-new-key'), created.data.attributes.key);
    await showProfile();
  });
}

function changePassword(event) {
  event.preventDefault();
  guarded('#password-status', async () => {
    await api('PUT', '/api/v1/current_user/password', {
      current_password: $('#current-password').value || null, new_password: $('#new-password').value,
    });
    $('#change-password').reset();
    $('#password-status').textContent = 'Your password is changed.';
  });
}

// ---- settings --------------------------------------------------------------

function retentionRow(source, days) {
  const editable = may('org_management');
  const input = element('input', { type: 'number', min: '0', max: '36500', value: String(days), 'aria-label': `Days of ${source}` });
  input.disabled = !editable;
  return element('tr', { 'data-source': source },
    element('td', { text: source }),
    element('td', {}, input),
    element('td', {}, editable ? button('Remove', (event) => event.target.closest('tr').remove()) : ''));
}

async function showSettings() {
  const retention = await api('GET', '/api/v1/settings/retention');
  const editable = may('org_management');
  $('#retention-days').value = retention.days;
  $('#retention-days').disabled = !editable;
  $('#retention-sources tbody').replaceChildren(...Object.entries(retention.sources).map(([source, days]) => retentionRow(source, days)));
  for (const id of ['#retention-new-source', '#retention-new-days', '#retention-add', '#retention-save']) $(id).hidden = !editable;
  if (!editable) $('#retention-status').textContent = 'Changing retention needs the org_management permission.';
}

function addRetentionSource() {
  const source = $('#retention-new-source').value.trim();
  if (!source) return;
  document.querySelector(`#retention-sources tr[data-source="${CSS.escape(source)}"]`)?.remove();
  $('#retention-sources tbody').append(retentionRow(source, Number($('#retention-new-days').value || 0)));
  $('#retention-new-source').value = '';
  $('#retention-new-days').value = '';
}

function saveRetention(event) {
  event.preventDefault();
  guarded('#retention-status', async () => {
    const sources = {};
    for (const row of document.querySelectorAll('#retention-sources tbody tr')) sources[row.dataset.source] = Number(row.querySelector('input').value);
    await api('PUT', '/api/v1/settings/retention', { days: Number($('#retention-days').value), sources });
    await showSettings();
    $('#retention-status').textContent = 'Retention saved.';
  });
}

// ---- start -----------------------------------------------------------------

let debounce;
function wire() {
  $('#sign-in-form').addEventListener('submit', signIn);
  $('#password-form').addEventListener('submit', signInWithPassword);
  $('#new-user').addEventListener('submit', addUser);
  $('#new-api-key').addEventListener('submit', addApiKey);
  $('#new-my-key').addEventListener('submit', addMyKey);
  $('#change-password').addEventListener('submit', changePassword);
  $('#retention').addEventListener('submit', saveRetention);
  $('#retention-add').addEventListener('click', addRetentionSource);
  $('#sign-out').addEventListener('click', signOut);
  $('#query-form').addEventListener('submit', submitQuery);
  $('#query').addEventListener('input', () => { clearTimeout(debounce); debounce = setTimeout(validateQuery, 150); });
  $('#range').addEventListener('change', () => {
    $('#custom-range').hidden = $('#range').value !== 'custom';
    if ($('#range').value !== 'custom') submitQuery();
  });
  $('#event-close').addEventListener('click', () => { $('#event-panel').hidden = true; });
  $('#add-facet').addEventListener('submit', addFacet);
  $('#add-column').addEventListener('submit', addColumn);
  $('#reset-columns').addEventListener('click', () => setColumns(DEFAULT_COLUMNS));
  $('#live').addEventListener('click', toggleLive);
  $('#forget-key').addEventListener('click', forgetPinnedKey);
  watchHistogramDrags();
  $('#save-view').addEventListener('submit', saveView);
  $('#views').addEventListener('toggle', () => { if ($('#views').open) changeViews(async () => {}); });
  for (const tab of document.querySelectorAll('#event-panel [role=tab]')) tab.addEventListener('click', () => showTab(tab.dataset.tab));
  document.addEventListener('keydown', (event) => {
    const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName);
    if (event.key === '/' && !typing) { event.preventDefault(); $('#query').focus(); }
    if (event.key === 'Escape' && !$('#event-panel').hidden) $('#event-panel').hidden = true;
  });
  window.addEventListener('popstate', () => { readUrl(); fillForm(); run(); });
  watchScrolling();
}

async function start() {
  try {
    if (!(await ensureSignedIn())) return;
  } catch (error) {
    $('#sign-in-error').textContent = error.message;
    return;
  }
  $('#sign-out').hidden = false;
  $('#me').hidden = false;
  $('#me').textContent = session.user.email;
  $('#access-link').hidden = !(may('user_access_manage') || may('api_keys_write'));
  const view = new URLSearchParams(location.search).get('view') ?? 'explorer';
  for (const link of document.querySelectorAll('.top nav a')) link.classList.toggle('current', link.dataset.view === view.replace(/^monitor(-edit)?$/, 'monitors'));
  try {
    if (view === 'access') {
      $('#access-page').hidden = false;
      await showAccess();
    } else if (view === 'settings') {
      $('#settings-page').hidden = false;
      await showSettings();
    } else if (view === 'profile') {
      $('#profile-page').hidden = false;
      await showProfile();
    } else if (view === 'overview') {
      $('#overview').hidden = false;
      await showOverview();
    } else if (view === 'integrity') {
      $('#integrity-page').hidden = false;
      await showIntegrity();
    } else if (view === 'monitors' || view === 'monitor' || view === 'monitor-edit') {
      await showMonitorsView(view, new URLSearchParams(location.search));
    } else {
      $('#explorer').hidden = false;
      readUrl();
      fillForm();
      writeUrl(true);
      run();
    }
  } catch (error) {
    if (error instanceof SignedOut) ensureSignedIn(); else document.body.append(element('p', { class: 'error', text: error.message }));
  }
}

wire();
start();
