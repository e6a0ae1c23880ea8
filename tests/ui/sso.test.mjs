// Single sign-on in a real browser: evident's sign-in page sends chromium
// to a real OpenID Connect issuer (oauth2-mock-server, authorization code
// with PKCE) and back; the person becomes a user with the default role,
// the sign-in is recorded, and sign-out ends the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as support from './support.mjs';

const { ROOT, API_KEY, APP_KEY } = support;

let issuer;
let issuerProcess;
let server;
let dataDir;
let browser;

function startIssuer() {
  issuerProcess = spawn('node', [path.join(ROOT, 'tests/clients/oidc/issuer.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let text = '';
    issuerProcess.stdout.on('data', (chunk) => {
      text += chunk;
      const line = text.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) resolve(JSON.parse(line));
    });
    issuerProcess.on('exit', (code) => reject(new Error(`the issuer exited with ${code}`)));
  });
}

async function keyed(method, pathname) {
  const response = await fetch(`${server.base}${pathname}`, {
    method, headers: { 'DD-API-KEY': API_KEY, 'DD-APPLICATION-KEY': APP_KEY },
  });
  assert.ok(response.ok, `${pathname}: ${response.status}`);
  return response.json();
}

before(async () => {
  issuer = await startIssuer();
  dataDir = mkdtempSync(path.join(tmpdir(), 'evident-sso-'));
  const config = path.join(dataDir, 'sso.toml');
  writeFileSync(config, `client_id = "evident-ui"\ndefault_role = "Read Only"\nlabel = "Sign in with the test issuer"\n[group_roles]\nsecops = "Standard"\n[oidc]\nissuer = "${issuer.issuer}"\n`);
  server = await support.startEvident(path.join(dataDir, 'data'), ['--sso-config', config]);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
});

after(async () => {
  await browser?.close();
  await support.stopEvident(server);
  issuerProcess?.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('single sign-on makes the user, signs in, and signs out on the server', async () => {
  await fetch(`${issuer.control}/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ claims: { sub: 'okta|dana', email: 'Dana@Example.com', name: 'Dana', groups: ['secops'] } }),
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.base);
  await page.waitForSelector('#sso:not([hidden])');
  await page.click('#sso');
  await page.waitForSelector('#me:not([hidden])');
  assert.equal(await page.textContent('#me'), 'dana@example.com');
  assert.ok(!(await page.isVisible('#access-link')), 'Standard manages no users');

  const users = await keyed('GET', '/api/v2/users?filter=dana');
  assert.equal(users.data.length, 1);
  assert.deepEqual(users.data[0].relationships.roles.data.map((role) => role.id), ['standard'], 'mapped from the group');

  // The session works for the API calls the page makes, then ends at sign-out.
  await page.click('a[data-view=profile]');
  await page.waitForSelector('#profile-page:not([hidden])');
  assert.equal(await page.textContent('#profile-email'), 'dana@example.com');
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in[open]');
  const status = await page.evaluate(async () => (await fetch('/api/v1/ui/session')).status);
  assert.equal(status, 401);

  const search = await fetch(`${server.base}/api/v2/logs/events/search`, {
    method: 'POST',
    headers: { 'DD-API-KEY': API_KEY, 'DD-APPLICATION-KEY': APP_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ filter: { query: 'source:evident @evt.name:authentication @usr.email:dana@example.com', from: 'now-1h' } }),
  }).then((response) => response.json());
  const actions = search.data.map((hit) => `${hit.attributes.attributes.action}/${hit.attributes.attributes.auth_method}`).sort();
  assert.deepEqual(actions, ['login/sso', 'logout/session_cookie']);
  await context.close();
});

test('a callback that this browser did not start is refused and recorded', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${server.base}/api/v1/ui/sso/callback?code=stolen&state=${'x'.repeat(43)}`);
  await page.waitForSelector('#sign-in[open]');
  await page.waitForSelector('#sign-in-error:not(:empty)');
  assert.match(await page.textContent('#sign-in-error'), /not started in this browser/);
  const search = await fetch(`${server.base}/api/v2/logs/events/search`, {
    method: 'POST',
    headers: { 'DD-API-KEY': API_KEY, 'DD-APPLICATION-KEY': APP_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ filter: { query: 'source:evident @evt.name:authentication @auth_method:sso status:error', from: 'now-1h' } }),
  }).then((response) => response.json());
  assert.equal(search.data.length, 1, JSON.stringify(search));
  await context.close();
});
