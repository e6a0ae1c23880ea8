// The Monitors pages in a real browser: a monitor written with the editor
// (its preview chart of the last day with the threshold drawn, a test
// notification received by a real HTTP receiver), listed with its state,
// alerting when events cross the threshold, and its state history read
// from evident's own audit events.
//
//   EVIDENT_BIN=target/debug/evident node --test tests/ui/monitors.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as support from './support.mjs';

let server;
let dataDir;
let browser;
let receiver;
const received = [];

before(async () => {
  mkdirSync(support.ARTIFACTS, { recursive: true });
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      received.push({ path: request.url, body: JSON.parse(body || '{}') });
      response.writeHead(200).end('{}');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  dataDir = mkdtempSync(path.join(tmpdir(), 'evident-monitors-ui-'));
  server = await support.startEvident(dataDir);
  await support.api(server.base, '/api/v1/integration/webhooks/configuration/webhooks', {
    name: 'secops', url: `http://127.0.0.1:${receiver.address().port}/hook`, payload: JSON.stringify({ title: '$EVENT_TITLE', text: '$TEXT_ONLY_MSG' }),
  });
  // A day of history for the preview: 30 blocked decisions two hours ago, 3 an hour ago.
  const now = Date.now();
  await support.api(server.base, '/api/v2/logs', [
    ...Array.from({ length: 30 }, (_, index) => ({ ddsource: 'aegis', timestamp: now - 2 * 3.6e6 + index, message: 'blocked', aegis: { decision: 'BLOCKED' } })),
    ...Array.from({ length: 3 }, (_, index) => ({ ddsource: 'aegis', timestamp: now - 3.6e6 + index, message: 'blocked', aegis: { decision: 'BLOCKED' } })),
  ]);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await support.stopEvident(server);
  receiver?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a monitor is written in the editor, tested, alerts, and shows its history', async () => {
  const { context, page } = await support.signedIn(browser, server.base, { width: 1280, height: 900 }, '/?view=monitors');
  await page.waitForSelector('#monitors-page:not([hidden])');
  assert.match(await page.textContent('#monitors tbody'), /No monitors yet/);
  await page.click('#new-monitor');
  await page.waitForSelector('#monitor-editor:not([hidden])');

  await page.fill('#monitor-name', 'Spike in blocked decisions');
  await page.fill('#monitor-search', '@aegis.decision:BLOCKED');
  await page.selectOption('#monitor-window', '5m');
  await page.fill('#monitor-critical', '10');
  await page.fill('#monitor-message-input', '{{#is_alert}}Blocked decisions spiking {{value}}{{/is_alert}} @webhook-secops');
  assert.equal(await page.textContent('#monitor-query-preview'), 'audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10');
  // The preview: the last day in 5-minute windows, the threshold drawn, the spike two hours ago past it.
  await page.waitForSelector('#monitor-preview line.threshold', { state: 'attached' });
  await page.waitForFunction(() => Number(document.querySelector('#monitor-preview').dataset.breaches) === 1);
  assert.equal(await page.getAttribute('#monitor-preview line.threshold', 'data-value'), '10');
  assert.match(await page.textContent('#monitor-preview-status'), /1 of \d+ windows past the threshold/);
  await page.screenshot({ path: path.join(support.ARTIFACTS, 'monitor-editor.png'), fullPage: true });

  // A bad search is shown at its column before anything is saved.
  await page.fill('#monitor-search', '@aegis.decision:');
  await page.waitForSelector('#monitor-search[aria-invalid=true]');
  assert.match(await page.textContent('#monitor-search-error'), /column 17/);
  await page.fill('#monitor-search', '@aegis.decision:BLOCKED');

  await page.click('#monitor-test');
  await page.waitForFunction(() => /sent \(200\)/.test(document.querySelector('#monitor-test-result').textContent));
  assert.equal(received.length, 1);
  assert.equal(received[0].body.title, '[Test] [Triggered] Spike in blocked decisions');
  assert.match(received[0].body.text, /Blocked decisions spiking 11/);

  await page.click('#monitor-save');
  await page.waitForSelector('#monitor-page:not([hidden])');
  assert.equal(await page.textContent('#monitor-title'), 'Spike in blocked decisions');
  assert.equal(await page.getAttribute('#monitor-summary .state', 'data-state'), 'OK');
  const id = new URL(page.url()).searchParams.get('id');

  // Eleven blocked decisions now: the monitor alerts, the receiver is told.
  await support.api(server.base, '/api/v2/logs', Array.from({ length: 11 }, () => ({ ddsource: 'aegis', message: 'blocked', aegis: { decision: 'BLOCKED' } })));
  const deadline = Date.now() + 10000;
  while (!received.some((item) => item.body.title === '[Triggered] Spike in blocked decisions') && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.ok(received.some((item) => item.body.title === '[Triggered] Spike in blocked decisions'), JSON.stringify(received));

  await page.goto(`${server.base}/?view=monitors`);
  await page.waitForSelector(`#monitors tr[data-id="${id}"] .state[data-state=Alert]`);
  assert.match(await page.textContent(`#monitors tr[data-id="${id}"]`), /threshold/);
  await page.screenshot({ path: path.join(support.ARTIFACTS, 'monitors-list.png'), fullPage: true });

  await page.click(`#monitors tr[data-id="${id}"] a`);
  await page.waitForSelector('#monitor-history tr[data-transition=Triggered]');
  assert.match(await page.textContent('#monitor-history'), /OK → Alert/);
  assert.match(await page.textContent('#monitor-history'), /@webhook-secops/);
  assert.match(await page.textContent('#monitor-groups'), /Alert/);
  await page.screenshot({ path: path.join(support.ARTIFACTS, 'monitor-page.png'), fullPage: true });

  // Edit: the fields come back from the query; a new threshold is saved.
  await page.click('#monitor-edit');
  await page.waitForSelector('#monitor-editor:not([hidden])');
  assert.equal(await page.inputValue('#monitor-search'), '@aegis.decision:BLOCKED');
  assert.equal(await page.inputValue('#monitor-critical'), '10');
  await page.fill('#monitor-critical', '50');
  await page.click('#monitor-save');
  await page.waitForSelector('#monitor-page:not([hidden])');
  assert.match(await page.textContent('#monitor-query'), /> 50$/);

  // Mute, as the list then shows it.
  await page.click('#monitor-mute');
  await page.waitForFunction(() => document.querySelector('#monitor-mute').textContent === 'Unmute');
  assert.match(await page.textContent('#monitor-summary'), /muted/);

  // The notification options: no data, renotify, delay. Editing keeps the mute.
  await page.click('#monitor-edit');
  await page.waitForSelector('#monitor-editor:not([hidden])');
  assert.equal(await page.isDisabled('#monitor-no-data-minutes'), true);
  await page.check('#monitor-no-data');
  await page.fill('#monitor-no-data-minutes', '30');
  await page.selectOption('#monitor-renotify', '60');
  await page.fill('#monitor-delay', '300');
  await page.fill('#monitor-warning', '40');
  await page.click('#monitor-save');
  await page.waitForSelector('#monitor-page:not([hidden])');
  const stored = await support.api(server.base, `/api/v1/monitor/${id}`, undefined, 'GET');
  assert.equal(stored.options.notify_no_data, true);
  assert.equal(stored.options.no_data_timeframe, 30);
  assert.equal(stored.options.renotify_interval, 60);
  assert.equal(stored.options.evaluation_delay, 300);
  assert.deepEqual(stored.options.thresholds, { critical: 50, warning: 40 });
  assert.ok('*' in stored.options.silenced, JSON.stringify(stored.options));
  assert.match(await page.textContent('#monitor-summary'), /muted/);
  // And they come back in the editor.
  await page.click('#monitor-edit');
  await page.waitForSelector('#monitor-editor:not([hidden])');
  assert.equal(await page.isChecked('#monitor-no-data'), true);
  assert.equal(await page.inputValue('#monitor-no-data-minutes'), '30');
  assert.equal(await page.inputValue('#monitor-renotify'), '60');
  assert.equal(await page.inputValue('#monitor-delay'), '300');
  await context.close();
});
