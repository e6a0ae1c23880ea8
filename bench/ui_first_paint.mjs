// The explorer's first paint on a loaded server, in Debian's chromium:
// milliseconds from navigation until the count, the histogram, all facets
// and the first page of events are on screen. Used by bench/ui.py.
//
//   node bench/ui_first_paint.mjs <base URL> <application key> <runs>
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests/ui/package.json'));
const { chromium } = require('playwright-core');

const [base, key, runsText] = process.argv.slice(2);
const runs = Number(runsText ?? 5);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const url = `${base}/?from=now-7d&to=now`;
await page.goto(url);
await page.fill('#app-key', key);
await page.click('#sign-in button[type=submit]');
const ready = () => page.waitForFunction(() => document.querySelector('#count')?.dataset.count !== undefined
  && document.querySelectorAll('#results tbody tr').length > 0
  && document.querySelectorAll('#facets section').length === 8
  && document.querySelectorAll('#histogram rect').length > 0, null, { timeout: 120000, polling: 'raf' });
await ready();
const times = [];
for (let run = 0; run < runs; run++) {
  await page.goto(url);
  await ready();
  times.push(await page.evaluate(() => performance.now()));
}
const count = await page.getAttribute('#count', 'data-count');
await browser.close();
console.log(JSON.stringify({ times, count: Number(count) }));
