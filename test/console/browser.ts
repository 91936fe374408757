import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildConsole } from '../../scripts/build-console.ts';
import { tempDir } from '../helpers.ts';

/**
 * The console's browser tests drive a real Chromium (Debian's `chromium` package; CI installs
 * it) with playwright-core, against a real `serve` over loopback. Where no Chromium is found they
 * skip loudly. BOARDS_TEST_CHROMIUM names another binary.
 */
const candidates = [process.env.BOARDS_TEST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].filter((p): p is string => !!p);
export const chromiumPath = candidates.find((p) => existsSync(p));
export const NO_CHROMIUM: string | false = chromiumPath ? false : 'SKIPPED: no Chromium here (CI installs it: apt-get install chromium; or set BOARDS_TEST_CHROMIUM)';
// CI installs Chromium (.ci/run), so there a missing one is a failure, not a skip.
if (NO_CHROMIUM && process.env.CI) throw new Error(`the console's browser tests need Chromium: ${NO_CHROMIUM}`);
if (NO_CHROMIUM) console.warn(`\n*** console browser tests ${NO_CHROMIUM} ***\n`);

/** The console built from the sources (a no-op when dist/console is current), and a headless Chromium closed after the file. */
export async function launchBrowser(): Promise<Browser> {
  await buildConsole();
  const browser = await chromium.launch({
    executablePath: chromiumPath!,
    headless: true,
    // Root in containers has no user namespaces for the sandbox; the pages are this test's own.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
  after(() => browser.close());
  return browser;
}

/** A fresh browser profile (no cookies, no storage) that collects console errors of the page. */
export async function newPage(browser: Browser, baseURL: string): Promise<{ context: BrowserContext; page: Page; pageErrors: string[] }> {
  const context = await browser.newContext({ baseURL, acceptDownloads: true, viewport: { width: 1280, height: 860 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseURL });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  return { context, page, pageErrors };
}

/** Where screenshots go: BOARDS_TEST_SCREENSHOTS, else a temporary directory. */
export async function screenshotDir(): Promise<string> {
  const dir = process.env.BOARDS_TEST_SCREENSHOTS ?? join(await tempDir('console-shots'));
  await mkdir(dir, { recursive: true });
  return dir;
}
