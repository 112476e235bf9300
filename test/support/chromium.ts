// Debian's Chromium driven by playwright-core, for the e2e tests (never a downloaded browser): where the built web
// app and the browser are, the flags this machine needs, a page that records unexpected console errors, and the
// sign-in form. playwright-core has no test runner, so no auto-waiting `expect(locator)`: `shows` waits instead.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

export const WEB_INDEX = fileURLToPath(new URL('../../dist/web/index.html', import.meta.url));
export const CHROMIUM = process.env.CONVERSA_CHROMIUM ?? '/usr/bin/chromium';
// No sandbox as root, no GPU, no calls home on a closed network. Playwright gives each launch a fresh profile.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const WAIT_MS = 15_000;

export async function shows(locator: Locator, timeout = WAIT_MS): Promise<void> {
  await locator.waitFor({ state: 'visible', timeout });
}

/** Chromium, once the built web app and the browser are both there (a clear error when either is missing). */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(WEB_INDEX)) throw new Error(`The web app is not built (${WEB_INDEX}): run \`npm run build\`.`);
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}.`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** A new page (en-US, 1280×900) whose console errors and warnings, but the `expected` ones, go to `problems`. */
export async function watchedPage(browser: Browser, expected: RegExp[], problems: string[]): Promise<Page> {
  const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    if (expected.some((re) => re.test(message.text()))) return;
    problems.push(`${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  return page;
}

/** Signs in through the form at `url` + /inbox, in English, and waits for the inbox. */
export async function signInToInbox(page: Page, url: string, email: string, password = 'crm user password') {
  await page.goto(`${url}/inbox`);
  await shows(page.getByRole('heading', { name: 'Sign in' }));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await shows(page.getByRole('heading', { level: 1, name: 'Inbox' }));
}
