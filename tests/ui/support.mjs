// What the UI tests share: a real `evident serve` on a temporary data
// directory, the API with both Datadog keys, and a signed-in browser page.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHARED = process.env.EVIDENT_SHARED_DIR ?? path.resolve(ROOT, '../shared');
export const BIN = process.env.EVIDENT_BIN ?? path.join(ROOT, 'target/debug/evident');
export const ARTIFACTS = process.env.EVIDENT_UI_ARTIFACTS ?? path.join(ROOT, 'target/ui-artifacts');
export const API_KEY = 'ui-test-api-key';
export const APP_KEY = 'ui-test-app-key';
export const KEYS_ENV = { ...process.env, EVIDENT_API_KEY: API_KEY, EVIDENT_APP_KEY: APP_KEY, EVIDENT_LOG: 'warn' };

/** `evident serve` on `dataDir`; resolves once it listens, with its URL. */
export function startEvident(dataDir, extraArgs = []) {
  const process = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extraArgs], {
    env: KEYS_ENV,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const listening = new Promise((resolve, reject) => {
    let text = '';
    process.stdout.on('data', (chunk) => {
      text += chunk;
      const found = /evident listening on (\S+)/.exec(text);
      const key = /\(fingerprint ([0-9a-f ]+):/.exec(text);
      if (found && key) resolve({ base: found[1], fingerprint: key[1] });
    });
    process.on('exit', (code) => reject(new Error(`evident exited with ${code}`)));
  });
  return listening.then(({ base, fingerprint }) => ({ process, base, fingerprint }));
}

/** Stops a server the way an operator does (it seals and signs first). */
export async function stopEvident(server) {
  if (!server || server.process.exitCode !== null) return;
  const exited = new Promise((resolve) => server.process.on('exit', resolve));
  server.process.kill('SIGTERM');
  await exited;
}

/** A request to the API with both keys (a POST unless `method` says); the JSON answer (null for a 202). */
export async function api(base, pathname, body, method = 'POST') {
  const response = await fetch(`${base}${pathname}`, {
    method,
    headers: { 'DD-API-KEY': API_KEY, 'DD-APPLICATION-KEY': APP_KEY, 'Content-Type': 'application/json' },
    body: method === 'GET' ? undefined : JSON.stringify(body),
  });
  if (!response.ok) assert.fail(`${pathname}: ${response.status} ${await response.text()}`);
  return response.status === 202 ? null : response.json();
}

/** A new browser context at `url`, signed in with the application key. */
export async function signedIn(browser, base, viewport, url) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.goto(`${base}${url}`);
  await page.fill('#app-key', APP_KEY);
  await page.click('#sign-in-form button[type=submit]');
  await page.waitForSelector('main:not([hidden])');
  return { context, page };
}

/** Types a query, presses Enter and waits for its count. */
export async function runQuery(page, query) {
  await page.fill('#query', query);
  await page.press('#query', 'Enter');
  // The count shown is the one of this query.
  await page.waitForFunction((wanted) => (document.querySelector('#count').dataset.view ?? '').startsWith(`${wanted}|`), query);
  await page.waitForLoadState('networkidle');
}

/** Opens the first result in the side panel; the integrity check's state and text. */
export async function openFirstEvent(page) {
  await page.click('#results tbody tr >> nth=0');
  await page.waitForSelector('#event-panel:not([hidden])');
  await page.waitForSelector('#integrity[data-state=verified], #integrity[data-state=failed]');
  return { state: await page.getAttribute('#integrity', 'data-state'), text: await page.textContent('#integrity') };
}
