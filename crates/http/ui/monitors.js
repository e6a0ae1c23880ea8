// evident's monitors pages: the list, one monitor (groups and state
// history from evident's own audit events), and the editor (fields that
// write the monitor query, a preview of the last day with the threshold
// drawn, a test notification). Loaded before app.js, whose helpers ($,
// element, api, may) it uses once the page has started.

const MONITOR_TYPES = { threshold: 'threshold', 'no-data': 'no data', 'new-value': 'new value' };

/** What a monitor query watches: threshold, no data or new value. */
function monitorKind(query) {
  if (/\.new_value\(/.test(query)) return 'new-value';
  if (/\)\s*<=?\s*[\d.]+\s*$/.test(query)) return 'no-data';
  return 'threshold';
}

function stateBadge(state, muted) {
  const text = muted ? `${state} (muted)` : state;
  return element('span', { class: `state state-${String(state).replace(/ /g, '-')}`, 'data-state': state, text });
}

function lastTriggered(monitor) {
  const times = Object.values(monitor.state?.groups ?? {}).map((group) => group.last_triggered_ts).filter((time) => time);
  return times.length ? new Date(Math.max(...times) * 1000).toISOString().replace('.000', '') : '—';
}

async function showMonitorsView(view, params) {
  if (view === 'monitor') {
    $('#monitor-page').hidden = false;
    await showMonitor(params.get('id'));
  } else if (view === 'monitor-edit') {
    $('#monitor-editor').hidden = false;
    await showEditor(params.get('id'));
  } else {
    $('#monitors-page').hidden = false;
    await showMonitorList();
  }
}

async function showMonitorList() {
  const monitors = await api('GET', '/api/v1/monitor');
  $('#new-monitor').hidden = !may('monitors_write');
  $('#new-monitor').onclick = () => { location.href = '/?view=monitor-edit'; };
  $('#monitors tbody').replaceChildren(...(monitors.length ? monitors.map((monitor) => element('tr', { 'data-id': monitor.id },
    element('td', {}, element('a', { href: `/?view=monitor&id=${monitor.id}`, text: monitor.name })),
    element('td', { text: MONITOR_TYPES[monitorKind(monitor.query)] }),
    element('td', {}, stateBadge(monitor.overall_state, monitor.muted)),
    element('td', { text: lastTriggered(monitor) }),
    element('td', {}, element('code', { text: monitor.query })))) : [element('tr', {}, element('td', { colspan: '5', class: 'hint', text: 'No monitors yet.' }))]));
}

async function showMonitor(id) {
  const monitor = await api('GET', `/api/v1/monitor/${encodeURIComponent(id)}`);
  document.title = `${monitor.name} · evident`;
  $('#monitor-title').textContent = monitor.name;
  $('#monitor-summary').replaceChildren(stateBadge(monitor.overall_state, monitor.muted),
    element('span', { text: ` ${MONITOR_TYPES[monitorKind(monitor.query)]} monitor · last triggered ${lastTriggered(monitor)}` }));
  $('#monitor-query').textContent = monitor.query;
  $('#monitor-message').textContent = monitor.message || '(no message)';
  const last = monitor.last_notification;
  $('#monitor-last-notification').textContent = last
    ? `@${last.handle} ${last.ok ? 'delivered' : `failed: ${last.error}`} at ${last.at}` : 'none since the server started';
  const writable = may('monitors_write');
  for (const button of ['#monitor-edit', '#monitor-mute', '#monitor-delete']) $(button).hidden = !writable;
  $('#monitor-edit').onclick = () => { location.href = `/?view=monitor-edit&id=${monitor.id}`; };
  $('#monitor-mute').textContent = monitor.muted ? 'Unmute' : 'Mute';
  $('#monitor-mute').onclick = async () => {
    await api('POST', `/api/v1/monitor/${monitor.id}/${monitor.muted ? 'unmute' : 'mute'}`, { scope: '*' });
    await showMonitor(id);
  };
  $('#monitor-delete').onclick = async () => {
    if (!confirm(`Delete the monitor "${monitor.name}"?`)) return;
    await api('DELETE', `/api/v1/monitor/${monitor.id}`);
    location.href = '/?view=monitors';
  };
  const groups = Object.values(monitor.state?.groups ?? {});
  $('#monitor-groups tbody').replaceChildren(...(groups.length ? groups.map((group) => element('tr', {},
    element('td', { text: group.name }),
    element('td', {}, stateBadge(group.status)),
    element('td', { text: group.value ?? '' }),
    element('td', { text: group.last_triggered_ts ? new Date(group.last_triggered_ts * 1000).toISOString() : '' }))) : [element('tr', {}, element('td', { colspan: '4', class: 'hint', text: 'No group has been evaluated yet.' }))]));
  const history = await api('POST', '/api/v2/logs/events/search', {
    filter: { query: `source:evident @evt.name:monitor_alert @monitor.id:${monitor.id}`, from: 'now-90d', to: 'now' },
    sort: '-timestamp', page: { limit: 100 },
  });
  $('#monitor-history tbody').replaceChildren(...(history.data.length ? history.data.map((hit) => {
    const alert = hit.attributes.attributes.monitor ?? {};
    return element('tr', { 'data-transition': alert.transition },
      element('td', { text: hit.attributes.timestamp }),
      element('td', { text: alert.transition ?? '' }),
      element('td', { text: alert.group ?? '' }),
      element('td', { text: `${alert.previous_state} → ${alert.state}` }),
      element('td', { text: alert.value ?? '' }),
      element('td', { text: alert.muted ? 'muted' : (alert.handles ?? []).map((handle) => `@${handle}`).join(' ') }));
  }) : [element('tr', {}, element('td', { colspan: '6', class: 'hint', text: 'No state change yet.' }))]));
}

// ---- the editor ---------------------------------------------------------------

const quoteArgument = (text) => `"${String(text).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** The monitor query the editor's fields describe. */
function editorQuery() {
  const search = $('#monitor-search').value.trim() || '*';
  const kind = $('#monitor-kind').value;
  const groupBy = $('#monitor-group-by').value.trim();
  const by = groupBy ? `.by(${quoteArgument(groupBy)})` : '';
  if (kind === 'new-value') {
    return `audits(${quoteArgument(search)}).new_value(${quoteArgument($('#monitor-new-field').value.trim())})${by}.learning(${quoteArgument($('#monitor-learning').value)})`;
  }
  const rollup = $('#monitor-rollup').value;
  const measure = rollup === 'count' ? '"count"' : `"${rollup}", ${quoteArgument($('#monitor-measure').value.trim())}`;
  const comparator = $('#monitor-comparator').value;
  return `audits(${quoteArgument(search)}).rollup(${measure})${by}.last(${quoteArgument($('#monitor-window').value)}) ${comparator} ${$('#monitor-critical').value || 0}`;
}

/** The monitor being edited, as stored: options the editor shows no field for (mutes, recovery thresholds) are kept. */
let editedMonitor = null;

function editorBody() {
  const body = { name: $('#monitor-name').value.trim(), type: 'audit alert', query: editorQuery(), message: $('#monitor-message-input').value };
  const options = { ...(editedMonitor?.options ?? {}) };
  if ($('#monitor-kind').value === 'new-value') {
    delete options.thresholds;
    options.notify_no_data = false;
    delete options.no_data_timeframe;
  } else {
    // The critical threshold is the query's.
    const { critical, ...thresholds } = options.thresholds ?? {};
    const warning = $('#monitor-warning').value;
    if (warning === '') delete thresholds.warning; else thresholds.warning = Number(warning);
    options.thresholds = thresholds;
    options.notify_no_data = $('#monitor-no-data').checked;
    if (options.notify_no_data) options.no_data_timeframe = Number($('#monitor-no-data-minutes').value); else delete options.no_data_timeframe;
  }
  const renotify = $('#monitor-renotify').value;
  if (renotify === '') delete options.renotify_interval; else options.renotify_interval = Number(renotify);
  const delay = Number($('#monitor-delay').value || 0);
  if (delay > 0) options.evaluation_delay = delay; else delete options.evaluation_delay;
  body.options = options;
  return body;
}

function showKindFields() {
  const kind = $('#monitor-kind').value;
  for (const node of document.querySelectorAll('.threshold-only')) node.hidden = kind === 'new-value';
  for (const node of document.querySelectorAll('.new-value-only')) node.hidden = kind !== 'new-value';
  $('#monitor-critical').required = kind !== 'new-value';
  $('#monitor-measure').hidden = $('#monitor-rollup').value === 'count';
  $('#monitor-new-field').required = kind === 'new-value';
  $('#monitor-no-data-minutes').disabled = !$('#monitor-no-data').checked;
}

/** Fills the fields from a query the editor wrote (or one of the same forms). */
function fillEditor(monitor) {
  $('#monitor-name').value = monitor.name;
  $('#monitor-message-input').value = monitor.message;
  const query = monitor.query;
  const argument = (name) => {
    const found = new RegExp(`\\.${name}\\(\\s*"((?:[^"\\\\]|\\\\.)*)"(?:\\s*,\\s*"((?:[^"\\\\]|\\\\.)*)")?\\s*\\)`).exec(query);
    const unquote = (text) => text?.replace(/\\(["\\])/g, '$1');
    return found ? [unquote(found[1]), unquote(found[2])] : [];
  };
  const search = /^\s*(?:audits|logs)\(\s*"((?:[^"\\]|\\.)*)"/.exec(query);
  $('#monitor-search').value = search ? search[1].replace(/\\(["\\])/g, '$1') : '';
  const kind = monitorKind(query);
  $('#monitor-kind').value = kind;
  $('#monitor-group-by').value = argument('by')[0] ?? '';
  if (kind === 'new-value') {
    $('#monitor-new-field').value = argument('new_value')[0] ?? '';
    $('#monitor-learning').value = argument('learning')[0] ?? '30d';
  } else {
    const [rollup, measure] = argument('rollup');
    $('#monitor-rollup').value = rollup ?? 'count';
    $('#monitor-measure').value = measure ?? '';
    $('#monitor-window').value = argument('last')[0] ?? '5m';
    const comparison = /(>=|<=|>|<)\s*([-\d.e+]+)\s*$/.exec(query);
    if (comparison) { $('#monitor-comparator').value = comparison[1]; $('#monitor-critical').value = comparison[2]; }
    $('#monitor-warning').value = monitor.options?.thresholds?.warning ?? '';
  }
  const options = monitor.options ?? {};
  $('#monitor-no-data').checked = Boolean(options.notify_no_data);
  if (options.no_data_timeframe) $('#monitor-no-data-minutes').value = options.no_data_timeframe;
  const renotify = String(options.renotify_interval ?? '');
  if (renotify && ![...$('#monitor-renotify').options].some((option) => option.value === renotify)) {
    $('#monitor-renotify').append(element('option', { value: renotify, text: `every ${renotify} minutes` }));
  }
  $('#monitor-renotify').value = renotify === '0' ? '' : renotify;
  $('#monitor-delay').value = options.evaluation_delay || '';
  showKindFields();
}

let previewTimer = null;

function editorChanged() {
  showKindFields();
  $('#monitor-query-preview').textContent = editorQuery();
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => drawPreview().catch((error) => { $('#monitor-preview-status').textContent = error.message; }), 300);
}

const WINDOW_MS = { '1m': 6e4, '5m': 3e5, '15m': 9e5, '30m': 1.8e6, '1h': 3.6e6, '4h': 1.44e7, '1d': 8.64e7 };

/** The measure over the last day, one point a window (an hour for new values), and the thresholds. */
async function drawPreview() {
  const search = $('#monitor-search').value.trim() || '*';
  const check = await api('GET', `/api/v1/query/validate?query=${encodeURIComponent(search)}`);
  $('#monitor-search').setAttribute('aria-invalid', String(!check.valid));
  $('#monitor-search-error').textContent = check.valid ? '' : `column ${check.column}: ${check.error}`;
  if (!check.valid) return;
  const kind = $('#monitor-kind').value;
  const rollup = kind === 'new-value' ? 'count' : $('#monitor-rollup').value;
  const measure = $('#monitor-measure').value.trim();
  if (rollup !== 'count' && !measure) return;
  const window = kind === 'new-value' ? '1h' : $('#monitor-window').value;
  const interval = WINDOW_MS[window] ?? 3e5;
  const compute = { aggregation: rollup, type: 'timeseries', interval: window };
  if (rollup !== 'count') compute.metric = measure;
  const now = Date.now();
  const answer = await api('POST', '/api/v2/logs/analytics/aggregate', { filter: { query: search, from: 'now-1d', to: 'now' }, compute: [compute] });
  const points = (answer.data.buckets[0]?.computes.c0 ?? []).map((point) => [Date.parse(point.time), Number(point.value ?? 0)]);
  const critical = kind === 'new-value' ? null : Number($('#monitor-critical').value);
  const warning = kind === 'new-value' || $('#monitor-warning').value === '' ? null : Number($('#monitor-warning').value);
  const svg = $('#monitor-preview');
  const width = svg.clientWidth || 800;
  const height = 120;
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const highest = Math.max(1, ...points.map(([, value]) => value), ...[critical, warning].filter((value) => Number.isFinite(value)).map((value) => value * 1.1));
  const x = (at) => ((at - (now - 8.64e7)) / 8.64e7) * width;
  const y = (value) => height - 4 - (value / highest) * (height - 8);
  const shapes = [];
  const svgNode = (tag, attributes) => {
    const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  };
  const barWidth = Math.max(1, (interval / 8.64e7) * width - 1);
  let breaches = 0;
  for (const [at, value] of points) {
    const breached = critical !== null && Number.isFinite(critical) && (
      { '>': value > critical, '>=': value >= critical, '<': value < critical, '<=': value <= critical })[$('#monitor-comparator').value];
    if (breached) breaches += 1;
    const bar = svgNode('rect', { x: x(at).toFixed(1), y: y(value).toFixed(1), width: barWidth.toFixed(1), height: Math.max(0, height - 4 - y(value)).toFixed(1), fill: breached ? '#e03131' : '#748ffc' });
    bar.append(svgNode('title', {}));
    bar.firstChild.textContent = `${new Date(at).toISOString()}: ${value}`;
    shapes.push(bar);
  }
  for (const [value, name] of [[critical, 'threshold'], [warning, 'warning']]) {
    if (value === null || !Number.isFinite(value)) continue;
    shapes.push(svgNode('line', { class: name, 'data-value': value, x1: 0, x2: width, y1: y(value).toFixed(1), y2: y(value).toFixed(1) }));
  }
  svg.replaceChildren(...shapes);
  svg.dataset.points = points.length;
  svg.dataset.breaches = breaches;
  $('#monitor-preview-status').textContent = kind === 'new-value'
    ? `(${points.reduce((sum, [, value]) => sum + value, 0)} matching events)`
    : `(${breaches} of ${points.length} windows past the threshold)`;
}

async function showEditor(id) {
  const editing = id !== null && id !== undefined && id !== '';
  $('#editor-title').textContent = editing ? 'Edit monitor' : 'New monitor';
  editedMonitor = editing ? await api('GET', `/api/v1/monitor/${encodeURIComponent(id)}`) : null;
  if (editedMonitor) fillEditor(editedMonitor);
  for (const field of document.querySelectorAll('#monitor-form input, #monitor-form select, #monitor-form textarea')) {
    field.addEventListener('input', editorChanged);
  }
  $('#monitor-form').onsubmit = async (event) => {
    event.preventDefault();
    $('#monitor-form-error').textContent = '';
    try {
      const saved = editing
        ? await api('PUT', `/api/v1/monitor/${encodeURIComponent(id)}`, editorBody())
        : await api('POST', '/api/v1/monitor', editorBody());
      location.href = `/?view=monitor&id=${saved.id}`;
    } catch (error) {
      if (error instanceof SignedOut) throw error;
      $('#monitor-form-error').textContent = error.message;
    }
  };
  $('#monitor-test').onclick = async () => {
    $('#monitor-form-error').textContent = '';
    $('#monitor-test-result').textContent = '';
    try {
      const answer = await api('POST', '/api/v1/monitor/notify_test', editorBody());
      $('#monitor-test-result').textContent = answer.results.length
        ? answer.results.map((result) => `@${result.handle}: ${result.ok ? `sent (${result.status_code})` : `failed: ${result.error}`}`).join(' · ')
        : 'The message names no @handle: nothing to send.';
      $('#monitor-test-result').dataset.results = JSON.stringify(answer.results);
    } catch (error) {
      $('#monitor-form-error').textContent = error.message;
    }
  };
  editorChanged();
}
