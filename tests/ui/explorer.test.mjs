// The explorer in a real browser (Debian's chromium through playwright-core)
// against a real `evident serve` loaded with the audit logs of shared/data
// (imported with `evident import auto`) and a few events sent now.
//
//   EVIDENT_BIN=target/debug/evident node --test tests/ui/
//
// Screenshots go to $EVIDENT_UI_ARTIFACTS (default target/ui-artifacts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as support from './support.mjs';

const { ARTIFACTS, API_KEY, BIN, SHARED } = support;
// The shared logs are from 2019–2024: the views below look at all of it.
const ALL_TIME = 'from=2015-01-01T00:00:00.000Z&to=now';

let server;
let base;
let dataDir;
let browser;

const api = (pathname, body) => support.api(base, pathname, body);

async function count(query, from = '2015-01-01T00:00:00.000Z', to = 'now') {
  const answer = await api('/api/v2/logs/analytics/aggregate', { filter: { query, from, to }, compute: [{ aggregation: 'count' }] });
  return answer.data.buckets[0]?.computes.c0 ?? 0;
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(path.join(tmpdir(), 'evident-ui-'));
  server = await support.startEvident(dataDir);
  base = server.base;
  const folders = ['aws-cloudtrail', 'okta', 'github-audit', 'gcp-audit', 'azure', 'kubernetes-audit'].map((name) => path.join(SHARED, 'data', name));
  const imported = spawnSync(BIN, ['import', 'auto', ...folders, '--server', base], {
    env: { ...process.env, EVIDENT_API_KEY: API_KEY }, encoding: 'utf8',
  });
  // Some shared files hold records of no source (READMEs, digests): dead letters, exit 1.
  assert.ok([0, 1].includes(imported.status), imported.stderr);
  await api('/api/v2/logs', [1, 2, 3].map((index) => ({
    ddsource: 'datadog', service: 'web', status: index === 3 ? 'error' : 'info', message: `ui test event ${index}`,
    usr: { email: `ui${index}@example.com` }, evt: { name: 'api_key' }, action: 'created',
  })));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await support.stopEvident(server);
  rmSync(dataDir, { recursive: true, force: true });
});

async function signedIn(viewport = { width: 1280, height: 800 }, url = `/?${ALL_TIME}`) {
  const signed = await support.signedIn(browser, base, viewport, url);
  await signed.page.waitForSelector('#explorer:not([hidden])');
  await signed.page.waitForSelector('#results tbody tr');
  return signed;
}

async function shownCount(page) {
  await page.waitForFunction(() => document.querySelector('#count').dataset.count !== undefined);
  return Number(await page.getAttribute('#count', 'data-count'));
}

const runQuery = support.runQuery;

test('a wrong application key is refused at sign-in', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(base);
  await page.fill('#app-key', 'not-the-key');
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#sign-in-error:not(:empty)');
  assert.match(await page.textContent('#sign-in-error'), /not an application key/);
  await context.close();
});

test('typing a query shows the right count', async () => {
  const { context, page } = await signedIn();
  const expected = await count('source:okta');
  assert.ok(expected > 0);
  await runQuery(page, 'source:okta');
  assert.equal(await shownCount(page), expected);
  const rows = await page.locator('#results tbody tr').count();
  assert.equal(rows, Math.min(expected, 100));
  await page.screenshot({ path: path.join(ARTIFACTS, 'explorer-1280x800.png'), fullPage: false });
  await context.close();
});

test('a query run while the previous page is still loading shows its own rows', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // The first search (the view opened at sign-in) answers only after the next query is submitted.
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  let held = false;
  await page.route('**/api/v2/logs/events/search', async (route) => {
    if (held) return route.continue();
    held = true;
    await released;
    return route.continue();
  });
  await page.goto(`${base}/?${ALL_TIME}`);
  await page.fill('#app-key', support.APP_KEY);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('#explorer:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#count').dataset.view !== undefined);
  assert.ok(held, 'the first page was requested');
  await page.fill('#query', 'source:okta');
  await page.press('#query', 'Enter');
  await page.waitForFunction(() => (document.querySelector('#count').dataset.view ?? '').startsWith('source:okta|'));
  release();
  await page.waitForSelector('#results tbody tr', { timeout: 10000 });
  const sources = await page.locator('#results tbody tr').evaluateAll((rows) => rows.length);
  assert.equal(sources, Math.min(await count('source:okta'), 100));
  await context.close();
});

test('an invalid query shows an inline error at its position', async () => {
  const { context, page } = await signedIn();
  await page.fill('#query', '@usr.email:a@b.com AND (');
  await page.waitForSelector('#query-error:not([hidden])');
  const error = await page.textContent('#query-error');
  assert.match(error, /column \d+/);
  assert.equal(await page.getAttribute('#query', 'aria-invalid'), 'true');
  await page.screenshot({ path: path.join(ARTIFACTS, 'explorer-invalid-query.png') });
  await page.fill('#query', '@usr.email:a@b.com');
  await page.waitForSelector('#query-error', { state: 'hidden' });
  await context.close();
});

test('clicking a facet value adds its filter', async () => {
  const { context, page } = await signedIn();
  const value = page.locator('[data-facet="source"] .facet-value[data-value="github"]');
  await value.waitFor();
  await value.click();
  await page.waitForFunction(() => new URLSearchParams(location.search).get('q') === 'source:github');
  await page.waitForLoadState('networkidle');
  assert.equal(await page.inputValue('#query'), 'source:github');
  assert.equal(await shownCount(page), await count('source:github'));
  await context.close();
});

test('an event opens with its attributes, and a value filters the view', async () => {
  const { context, page } = await signedIn();
  await runQuery(page, 'source:cloudtrail');
  await page.click('#results tbody tr >> nth=0');
  await page.waitForSelector('#event-panel:not([hidden])');
  const field = page.locator('#event-attributes .leaf[data-field="@evt.name"]');
  await field.waitFor();
  const name = await field.locator('.value').textContent();
  await page.screenshot({ path: path.join(ARTIFACTS, 'event-panel.png') });
  await field.locator('.filter-by').click();
  await page.waitForFunction(() => (new URLSearchParams(location.search).get('q') ?? '').includes('@evt.name:'));
  await page.waitForLoadState('networkidle');
  const query = await page.inputValue('#query');
  assert.ok(query.startsWith('source:cloudtrail @evt.name:'), query);
  assert.equal(await shownCount(page), await count(query));
  assert.ok(name.length > 0);
  await page.click('[data-tab="raw"]');
  assert.match(await page.textContent('#event-raw'), /"attributes"/);
  // Any attribute becomes a column from the panel.
  await page.click('[data-tab="attributes"]');
  await page.click('#event-attributes .leaf[data-field="service"] .add-column');
  await page.waitForFunction(() => (new URLSearchParams(location.search).get('cols') ?? '').endsWith(',service'));
  assert.equal(await page.locator('#results thead th').last().textContent(), 'Service');
  await context.close();
});

test('the URL reproduces the view', async () => {
  const { context, page } = await signedIn();
  await runQuery(page, 'source:github');
  const url = page.url();
  const shown = await shownCount(page);
  const other = await context.newPage();
  await other.goto(url);
  await other.waitForSelector('#results tbody tr');
  assert.equal(await other.inputValue('#query'), 'source:github');
  assert.equal(await shownCount(other), shown);
  await context.close();
});

test('dragging across the histogram selects that time range', async () => {
  const { context, page } = await signedIn();
  await page.waitForFunction(() => document.querySelectorAll('#histogram rect').length > 0);
  const box = await page.locator('#histogram').boundingBox();
  await page.mouse.move(box.x + box.width * 0.55, box.y + 40);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + 40, { steps: 5 });
  await page.mouse.move(box.x + box.width * 0.95, box.y + 40, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => new URLSearchParams(location.search).get('to') !== 'now');
  const params = new URL(page.url()).searchParams;
  const [from, to] = [params.get('from'), params.get('to')];
  assert.match(from, /^\d{4}-\d\d-\d\dT/);
  assert.ok(Date.parse(from) > Date.parse('2015-01-01') && Date.parse(to) < Date.now() && Date.parse(from) < Date.parse(to), `${from} .. ${to}`);
  assert.equal(await page.inputValue('#range'), 'custom');
  await page.waitForFunction((view) => document.querySelector('#count').dataset.view === view, `|${from}|${to}`);
  assert.equal(await shownCount(page), await count('*', from, to));
  await page.screenshot({ path: path.join(ARTIFACTS, 'histogram-selected-range.png') });
  await context.close();
});

test('columns are added, moved, removed, kept in the URL and reset', async () => {
  const { context, page } = await signedIn();
  const headers = () => page.locator('#results thead th').allTextContents();
  await page.click('#columns summary');
  await page.fill('#column-field', 'service');
  await page.press('#column-field', 'Enter');
  await page.waitForFunction(() => (new URLSearchParams(location.search).get('cols') ?? '').endsWith(',service'));
  assert.equal((await headers()).at(-1), 'Service');
  // The list stays open while it is edited.
  await page.click('#column-list li[data-column=service] .move-up');
  await page.waitForFunction(() => (new URLSearchParams(location.search).get('cols') ?? '').endsWith(',service,message'));
  await page.click('#column-list li[data-column="asset"] .remove-column');
  await page.waitForFunction(() => !(new URLSearchParams(location.search).get('cols') ?? '').split(',').includes('asset'));
  const shown = await headers();
  assert.ok(!shown.includes('Asset') && shown.includes('Service'), shown.join(', '));
  // The link reproduces the columns, and the rows follow them.
  await page.reload();
  await page.waitForSelector('#results tbody tr');
  assert.deepEqual(await headers(), shown);
  assert.equal(await page.locator('#results tbody tr >> nth=0 >> td').count(), shown.length);
  await page.screenshot({ path: path.join(ARTIFACTS, 'columns.png') });
  await page.click('#columns summary');
  await page.click('#reset-columns');
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('cols'));
  assert.deepEqual(await headers(), ['Time', 'User', 'Event', 'Action', 'Asset', 'IP', 'Status', 'Message']);
  await context.close();
});

test('a facet added by the user shows the top values of the query and stays', async () => {
  const { context, page } = await signedIn();
  await runQuery(page, 'source:cloudtrail');
  await page.fill('#facet-field', 'network.client.ip');
  await page.press('#facet-field', 'Enter');
  const facet = page.locator('.facet[data-facet="@network.client.ip"]');
  await facet.locator('.facet-value').first().waitFor();
  const answer = await api('/api/v2/logs/analytics/aggregate', {
    filter: { query: 'source:cloudtrail', from: '2015-01-01T00:00:00.000Z', to: 'now' },
    compute: [{ aggregation: 'count' }], group_by: [{ facet: '@network.client.ip', limit: 10 }],
  });
  const expected = answer.data.buckets.filter((bucket) => bucket.by['@network.client.ip'] !== null).map((bucket) => bucket.by['@network.client.ip']);
  assert.ok(expected.length > 0);
  assert.deepEqual(await facet.locator('.facet-value .value').allTextContents(), expected);
  await page.reload();
  await page.waitForSelector('.facet[data-facet="@network.client.ip"] .facet-value');
  await page.screenshot({ path: path.join(ARTIFACTS, 'user-facet.png') });
  await page.click('.facet[data-facet="@network.client.ip"] .remove-facet');
  await page.waitForSelector('.facet[data-facet="@network.client.ip"]', { state: 'detached' });
  await context.close();
});

test('live tail puts new events on top as they arrive', async () => {
  // evident's own records (the tail's start is one) are not what this test counts.
  const { context, page } = await signedIn({ width: 1280, height: 800 }, '/?q=service%3Aweb&from=now-1h&to=now');
  await page.click('#live');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('live') === '1');
  assert.equal(await page.getAttribute('#live', 'aria-pressed'), 'true');
  await page.waitForLoadState('networkidle');
  // Two arrivals: one stamped now, one stamped years ago (a late delivery); both show, in arrival order.
  await api('/api/v2/logs', [{ ddsource: 'datadog', service: 'web', message: 'live tail event', usr: { email: 'live@example.com' } }]);
  await api('/api/v2/logs', [{ ddsource: 'datadog', service: 'web', message: 'late live tail event', timestamp: '2020-05-01T00:00:00Z', usr: { email: 'late@example.com' } }]);
  await page.waitForSelector('#results tbody tr >> nth=0 >> text=late@example.com', { timeout: 15000 });
  await page.waitForSelector('#results tbody tr >> nth=1 >> text=live@example.com');
  assert.match(await page.textContent('#live-status'), /Live: 2 new events/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'live-tail.png') });
  await page.click('#live');
  await page.waitForFunction(() => !new URLSearchParams(location.search).has('live'));
  assert.ok(await page.isHidden('#live-status'));
  await context.close();
});

test('keyboard: / focuses the query bar and Enter runs it', async () => {
  const { context, page } = await signedIn();
  await page.click('.summary');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'query');
  await page.keyboard.type('source:kubernetes');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('q') === 'source:kubernetes');
  await page.waitForLoadState('networkidle');
  assert.equal(await shownCount(page), await count('source:kubernetes'));
  await context.close();
});

for (const [width, height] of [[1280, 800], [390, 844]]) {
  test(`no horizontal scrolling at ${width}×${height}`, async () => {
    const { context, page } = await signedIn({ width, height });
    await page.waitForLoadState('networkidle');
    const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth} px wide in a ${innerWidth} px window`);
    await page.screenshot({ path: path.join(ARTIFACTS, `explorer-${width}x${height}-full.png`), fullPage: true });
    await context.close();
  });
}

async function openOwnEvent(page, text) {
  await runQuery(page, `"${text}"`);
  return support.openFirstEvent(page);
}

test('an event is verified in the browser against the signed checkpoint', async () => {
  // A checkpoint is signed every second while events arrive.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const { context, page } = await signedIn({ width: 1280, height: 800 }, '/?from=now-1h&to=now');
  const result = await openOwnEvent(page, 'ui test event 2');
  assert.equal(result.state, 'verified', `${result.text}`);
  assert.match(result.text, /Verified: event \d+ of [\d,]+ in the checkpoint signed by evident/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'event-verified.png') });
  await context.close();
});

test('the browser does not trust the server: altered bytes in a proof fail the check', async () => {
  // A server (or anything between) answering with changed event bytes.
  const { context, page } = await signedIn({ width: 1280, height: 800 }, '/?from=now-1h&to=now');
  await page.route('**/api/v1/integrity/proof/inclusion*', async (route) => {
    const response = await route.fetch();
    const proof = await response.json();
    proof.event = proof.event.replace('ui test event 1', 'ui test event 7');
    await route.fulfill({ response, json: proof });
  });
  const result = await openOwnEvent(page, 'ui test event 1');
  assert.equal(result.state, 'failed', result.text);
  assert.match(result.text, /altered/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'event-failed.png') });
  await context.close();
});

/** Every hit of a query through the search API, newest first, page by page. */
async function allHits(query, from, to) {
  const hits = [];
  let cursor;
  do {
    const page = { limit: 1000, ...(cursor ? { cursor } : {}) };
    const answer = await api('/api/v2/logs/events/search', { filter: { query, from, to }, sort: '-timestamp', page });
    hits.push(...answer.data);
    cursor = answer.meta.page?.after;
  } while (cursor);
  return hits;
}

function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') { field += '"'; index++; } else if (char === '"') quoted = false; else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') { row.push(field); field = ''; }
    else if (char === '\r') { /* part of \r\n */ }
    else if (char === '\n') { row.push(field); rows.push(row); row = []; field = ''; }
    else field += char;
  }
  return rows;
}

test('export CSV and JSON of the current query match the API', async () => {
  const to = new Date().toISOString();
  const { context, page } = await signedIn({ width: 1280, height: 800 }, `/?from=2015-01-01T00:00:00.000Z&to=${to}`);
  const expected = await allHits('*', '2015-01-01T00:00:00.000Z', to);
  assert.ok(expected.length > 1000, 'more than one page');
  const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const rows = parseCsv(readFileSync(await csvDownload.path(), 'utf8'));
  assert.deepEqual(rows[0], ['id', 'timestamp', 'user', '@evt.name', '@action', 'asset', '@network.client.ip', 'status', 'message']);
  assert.deepEqual(rows.slice(1).map((row) => row[0]), expected.map((hit) => hit.id), 'the same events in the same order');
  const byId = new Map(expected.map((hit) => [hit.id, hit]));
  for (const row of rows.slice(1)) {
    const hit = byId.get(row[0]);
    assert.equal(row[1], hit.attributes.timestamp);
    assert.equal(row[3], hit.attributes.attributes.evt?.name ?? '');
    assert.equal(row[7], hit.attributes.status ?? '');
    const usr = hit.attributes.attributes.usr ?? {};
    assert.equal(row[2], String(usr.email ?? usr.name ?? usr.id ?? ''), 'user falls back to the name, then the id');
    assert.equal(row[8], hit.attributes.message ?? '');
  }
  const [jsonDownload] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const exported = JSON.parse(readFileSync(await jsonDownload.path(), 'utf8'));
  assert.deepEqual(exported, expected);
  await context.close();
});

test('a view is saved, reopened after a reload, renamed and deleted', async () => {
  const { context, page } = await signedIn();
  page.on('dialog', (dialog) => dialog.type() === 'prompt' ? dialog.accept('Okta errors (renamed)') : dialog.accept());
  await runQuery(page, 'source:okta status:error');
  await page.click('#views summary');
  await page.fill('#view-name', 'Okta errors');
  await page.click('#save-view button');
  await page.waitForSelector('#view-list .view-open:text("Okta errors")');
  await page.screenshot({ path: path.join(ARTIFACTS, 'saved-views.png') });

  await page.goto(`${base}/`);
  await page.waitForSelector('#explorer:not([hidden])');
  assert.equal(await page.inputValue('#query'), '');
  await page.click('#views summary');
  await page.click('#view-list .view-open:text("Okta errors")');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('q') === 'source:okta status:error');
  await page.waitForLoadState('networkidle');
  assert.equal(await page.inputValue('#query'), 'source:okta status:error');
  assert.equal(new URL(page.url()).searchParams.get('from'), '2015-01-01T00:00:00.000Z');
  assert.equal(await shownCount(page), await count('source:okta status:error'));

  await page.click('#views summary');
  await page.click('#view-list li:has-text("Okta errors") .view-rename');
  await page.waitForSelector('#view-list .view-open:text("Okta errors (renamed)")');
  await page.click('#view-list li:has-text("Okta errors (renamed)") .view-delete');
  await page.waitForSelector('#view-list li.hint');
  // Each change is an audit event of evident's own.
  const recorded = await allHits('source:evident @evt.name:saved_view', 'now-1h', 'now');
  assert.deepEqual(recorded.map((hit) => hit.attributes.attributes.action).sort(), ['created', 'deleted', 'modified']);
  await context.close();
});

test('retention is set on the settings page, per source too, and each change recorded', async () => {
  const { context, page } = await signedIn();
  await page.goto(`${base}/?view=settings`);
  await page.waitForSelector('#settings-page:not([hidden])');
  assert.equal(await page.inputValue('#retention-days'), '90');
  await page.fill('#retention-days', '365');
  await page.fill('#retention-new-source', 'github');
  await page.fill('#retention-new-days', '30');
  await page.click('#retention-add');
  await page.click('#retention-save');
  await page.waitForSelector('#retention-status:text("Retention saved.")');
  await page.screenshot({ path: path.join(ARTIFACTS, 'settings.png') });
  const stored = await (await fetch(`${base}/api/v1/settings/retention`, { headers: { 'DD-API-KEY': API_KEY, 'DD-APPLICATION-KEY': support.APP_KEY } })).json();
  assert.deepEqual(stored, { days: 365, sources: { github: 30 } });
  const recorded = await allHits('source:evident @evt.name:audit_trail_settings', 'now-1h', 'now');
  assert.equal(recorded.length, 1);
  const asset = recorded[0].attributes.attributes.asset;
  assert.deepEqual(asset.prev_value, { days: 90, sources: {} });
  assert.deepEqual(asset.new_value, { days: 365, sources: { github: 30 } });
  assert.equal(recorded[0].attributes.attributes.usr.email, 'admin@localhost');
  await context.close();
});

test('the overview shows the last 24 hours', async () => {
  const { context, page } = await signedIn();
  await page.goto(`${base}/?view=overview`);
  await page.waitForSelector('#overview:not([hidden])');
  await page.waitForSelector('#top-users li a');
  const top = async (facet) => {
    const answer = await api('/api/v2/logs/analytics/aggregate', {
      filter: { query: '*', from: 'now-1d', to: 'now' }, compute: [{ aggregation: 'count' }], group_by: [{ facet, limit: 10 }],
    });
    return answer.data.buckets.map((bucket) => bucket.by[facet]).filter((value) => value !== null && value !== undefined);
  };
  assert.deepEqual(await page.locator('#top-users li a').allTextContents(), await top('@usr.email'));
  assert.deepEqual(await page.locator('#top-events li a').allTextContents(), await top('@evt.name'));
  assert.ok(await page.locator('#overview-histogram rect').count() > 0);
  // Key and role changes, by exact event names: the events sent with @evt.name:api_key, and Kubernetes role changes.
  await page.waitForSelector('#key-changes li');
  const changes = await page.textContent('#key-changes');
  assert.match(changes, /api_key/);
  assert.doesNotMatch(changes, /\b(get|list|watch)\b/);
  for (const [width, height] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width, height });
    const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scrollWidth <= innerWidth, `overview is ${scrollWidth} px wide at ${width}`);
    await page.screenshot({ path: path.join(ARTIFACTS, `overview-${width}x${height}.png`), fullPage: true });
  }
  await context.close();
});

test('the first public key seen is pinned: a changed one fails every check, with both fingerprints', async () => {
  const { context, page } = await signedIn();
  await page.goto(`${base}/?view=integrity`);
  await page.waitForSelector('#integrity-summary[data-state]');
  assert.equal(await page.getAttribute('#integrity-summary', 'data-state'), 'verified', await page.textContent('#integrity-summary'));
  assert.match(await page.textContent('#key-pinned'), /pinned now/);
  const fingerprint = (await page.textContent('#key-fingerprint')).trim();
  assert.match(fingerprint, /^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
  assert.equal(fingerprint, server.fingerprint, 'the fingerprint serve printed at start');
  // This browser pinned another key before: the server's key changed since.
  const earlierKey = 'evident.local/ffff+00000000+AQ' + 'A'.repeat(42) + '=';
  await page.evaluate((key) => localStorage.setItem('evident.pinned_public_key', JSON.stringify({ key, at: Date.now() - 86400000 })), earlierKey);
  await page.reload();
  await page.waitForSelector('#integrity-summary[data-state]');
  assert.equal(await page.getAttribute('#integrity-summary', 'data-state'), 'failed');
  const text = await page.textContent('#integrity-summary');
  assert.match(text, /public key changed/);
  assert.ok(text.includes(fingerprint), `the server's fingerprint is shown: ${text}`);
  assert.equal(await page.isVisible('#forget-key'), true);
  await page.screenshot({ path: path.join(ARTIFACTS, 'integrity-key-changed.png'), fullPage: true });
  // The event panel refuses it too.
  const explorer = await signedIn({ width: 1280, height: 800 }, '/?from=now-1h&to=now');
  await explorer.page.evaluate((key) => localStorage.setItem('evident.pinned_public_key', JSON.stringify({ key, at: Date.now() })), earlierKey);
  const result = await openOwnEvent(explorer.page, 'ui test event 2');
  assert.equal(result.state, 'failed', result.text);
  assert.match(result.text, /public key changed/);
  await explorer.context.close();
  // After comparing the fingerprints out of band, the new key is trusted.
  await page.click('#forget-key');
  await page.waitForFunction(() => document.querySelector('#integrity-summary').dataset.state === 'verified');
  assert.match(await page.textContent('#key-pinned'), /pinned now/);
  await context.close();
});

test('the integrity page verifies the checkpoint and its consistency with the last one seen', async () => {
  const { context, page } = await signedIn();
  await page.goto(`${base}/?view=integrity`);
  await page.waitForSelector('#integrity-summary[data-state]');
  assert.equal(await page.getAttribute('#integrity-summary', 'data-state'), 'verified', await page.textContent('#integrity-summary'));
  assert.match(await page.textContent('#consistency'), /first visit/);
  assert.match(await page.textContent('#last-verify'), /none recorded: run evident verify/);
  assert.match(await page.textContent('#public-key'), /^evident\.local\/[0-9a-f]+\+[0-9a-f]{8}\+/);
  // More events, a newer checkpoint: the page proves the new log extends the one it saw.
  await api('/api/v2/logs', [{ message: 'one more', service: 'web' }]);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await page.reload();
  await page.waitForSelector('#integrity-summary[data-state]');
  assert.equal(await page.getAttribute('#integrity-summary', 'data-state'), 'verified', await page.textContent('#integrity-summary'));
  assert.match(await page.textContent('#consistency'), /an extension of the log this browser saw/);
  for (const [width, height] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width, height });
    const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scrollWidth <= innerWidth, `integrity page is ${scrollWidth} px wide at ${width}`);
    await page.screenshot({ path: path.join(ARTIFACTS, `integrity-${width}x${height}.png`), fullPage: true });
  }
  await context.close();
});
