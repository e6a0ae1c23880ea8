// An attacker with write access to the data directory rewrites one stored
// event inside a sealed segment (re-encoded, so the server reads it without
// complaint); the browser's check of that event fails, its neighbours still
// verify, and `evident verify`'s finding shows on the Integrity page.
//
//   EVIDENT_BIN=target/debug/evident node --test tests/ui/tampered.test.mjs
//
// The change is made by crates/store/examples/alter_event.rs
// ($EVIDENT_ALTER_EVENT, default beside the binary in examples/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as support from './support.mjs';

const ALTER_EVENT = process.env.EVIDENT_ALTER_EVENT ?? path.join(path.dirname(support.BIN), 'examples', 'alter_event');
// Small segments, so that a few hundred events are sealed.
const SERVE_ARGS = ['--seal-rows', '100'];

let server;
let dataDir;
let browser;

before(async () => {
  mkdirSync(support.ARTIFACTS, { recursive: true });
  dataDir = mkdtempSync(path.join(tmpdir(), 'evident-tampered-'));
  server = await support.startEvident(dataDir, SERVE_ARGS);
  await support.api(server.base, '/api/v2/logs', Array.from({ length: 250 }, (_, index) => ({
    ddsource: 'okta', service: 'idp', message: `tamper test event ${index}`,
    usr: { email: index === 7 ? 'carol@example.com' : 'alice@example.com' }, evt: { name: 'role' }, action: 'modified',
  })));
  // Stopping seals every full segment and signs a last checkpoint.
  await support.stopEvident(server);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await support.stopEvident(server);
  rmSync(dataDir, { recursive: true, force: true });
});

test('an event altered on disk fails the check in the browser and in evident verify', async () => {
  const altered = spawnSync(ALTER_EVENT, [dataDir, 'carol@example.com', 'mallory@example.com'], { encoding: 'utf8' });
  assert.equal(altered.status, 0, altered.stderr);
  const position = Number(altered.stdout.trim());

  const verify = spawnSync(support.BIN, ['verify', '--data-dir', dataDir], { encoding: 'utf8' });
  assert.equal(verify.status, 1, verify.stdout + verify.stderr);
  assert.match(verify.stdout, new RegExp(`FAIL at position ${position}: the event at position ${position} was altered`));

  // The server opens the directory as before: the tree comes from the leaf hashes kept at ingest.
  server = await support.startEvident(dataDir, SERVE_ARGS);
  const { context, page } = await support.signedIn(browser, server.base, { width: 1280, height: 800 }, '/?from=now-1h&to=now');
  await page.waitForSelector('#explorer:not([hidden])');

  await support.runQuery(page, '"tamper test event 7"');
  const tampered = await support.openFirstEvent(page);
  assert.equal(tampered.state, 'failed', tampered.text);
  assert.match(tampered.text, /altered/);
  assert.match(await page.textContent('#event-panel'), /mallory@example\.com/);
  await page.screenshot({ path: path.join(support.ARTIFACTS, 'event-altered-on-disk.png') });

  // Its neighbour in the same segment is intact.
  await page.click('#event-close');
  await support.runQuery(page, '"tamper test event 8"');
  const intact = await support.openFirstEvent(page);
  assert.equal(intact.state, 'verified', intact.text);

  await page.goto(`${server.base}/?view=integrity`);
  await page.waitForSelector('#integrity-summary[data-state]');
  assert.equal(await page.getAttribute('#last-verify', 'data-state'), 'failed');
  assert.match(await page.textContent('#last-verify'), new RegExp(`FAILED .*first bad position ${position}`));
  assert.match(await page.textContent('#last-verify'), /was altered/);
  await page.screenshot({ path: path.join(support.ARTIFACTS, 'integrity-after-tampering.png'), fullPage: true });
  await context.close();
});
