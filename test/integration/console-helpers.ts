/** Headless Chromium for the web console's tests (console.test.ts, console-ceph.test.ts). */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { ROOT } from './helpers.js';

/** Debian's chromium: puppeteer-core downloads no browser. */
export const CHROMIUM = '/usr/bin/chromium';
/** Where the tests save their screenshots. */
export const SHOTS = join(ROOT, 'dist', 'console');

/** A browser with a 1280x800 page that answers the console's Basic challenge (admin/admin). */
export async function launch(): Promise<{ browser: Browser; page: Page }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  if (!existsSync(join(ROOT, 'dist', 'ui', 'index.html'))) throw new Error('dist/ui is missing: the console is built by npm install / npm run build:ui');
  await mkdir(SHOTS, { recursive: true });
  // As root in CI: no sandbox (as dashboard.test.ts); no GPU and no /dev/shm in containers.
  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  // As a user typing admin/admin into the browser's prompt.
  await page.authenticate({ username: 'admin', password: 'admin' });
  return { browser, page };
}
