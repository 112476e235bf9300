// Settings › Audit log in Debian's Chromium (issue 19): an administrator who reads Portuguese signs in, finds the
// link under Settings, sees the entries (a member's sign-in and failed sign-in) with the actions in Portuguese and the
// time in the browser's locale, filters by action and by person, and loads older entries; a member finds no link and
// the page says it is for administrators. Screenshots go to test-artifacts/screenshots/.
//
// Needs the built web app (dist/web, `npm run build:web`) and /usr/bin/chromium, like web-app.test.ts.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { CHROMIUM, CHROMIUM_ARGS, WEB_INDEX } from '../support/chromium.js';

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
const PASSWORD = 'crm user password';

async function shows(locator: Locator): Promise<void> {
  await locator.waitFor({ state: 'visible', timeout: 15_000 });
}

describe('the audit log page in Chromium', () => {
  let conversa: TestConversa;
  let browser: Browser;
  let admin: { id: string; email: string; token: string };
  let member: { id: string; email: string; token: string };

  beforeAll(async () => {
    if (!fs.existsSync(WEB_INDEX)) throw new Error('dist/web is missing: run `npm run build:web` first');
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    conversa = await startTestConversa();
    admin = await conversa.addUser({ admin: true, displayName: 'Ana Admin' });
    member = await conversa.addUser({ displayName: 'Marcos Membro' });
    // The administrator reads Portuguese (the user's language setting wins over the browser's).
    expect((await conversa.api('PATCH', '/api/me', { locale: 'pt-BR' }, admin.token)).status).toBe(200);
    // Something to read: a failed and a good sign-in of the member, and 60 settings changes to page through.
    const login = (password: string) =>
      fetch(`${conversa.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: conversa.url },
        body: JSON.stringify({ email: member.email, password }),
      });
    expect((await login('wrong password for sure')).status).toBe(401);
    expect((await login(PASSWORD)).status).toBe(200);
    for (let i = 0; i < 60; i++) {
      await conversa.api('PATCH', '/api/me/settings', { trackingEnabled: i % 2 === 0 }, admin.token);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await conversa?.stop();
  });

  async function signIn(email: string, locale: string): Promise<Page> {
    const context = await browser.newContext({ locale, viewport: { width: 1280, height: 860 } });
    context.setDefaultTimeout(15_000);
    const page = await context.newPage();
    await page.goto(`${conversa.url}/settings`);
    await page.locator('input[type="email"]').fill(email);
    await page.locator('input[type="password"]').fill(PASSWORD);
    await page.locator('button[type="submit"]').click();
    return page;
  }

  it('shows an administrator the entries in Portuguese, filters them and loads older ones', async () => {
    const page = await signIn(admin.email, 'pt-BR');
    await page.getByRole('link', { name: 'Abrir o registro de auditoria' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Registro de auditoria' }));
    const rows = page.getByTestId('audit-entry');
    await shows(rows.first());
    expect(await rows.count()).toBe(50);
    await page.screenshot({ path: `${SCREENSHOTS}audit-log.pt-BR.png`, fullPage: true });

    // Load more: the rest of the entries (the admin's own sign-in in the browser is one of them).
    await page.getByRole('button', { name: 'Carregar mais' }).click();
    await expect.poll(() => rows.count()).toBeGreaterThan(60);
    await expect.poll(() => page.getByRole('button', { name: 'Carregar mais' }).count()).toBe(0);

    // By action: the failed sign-in, translated, with the address as typed and a time in Brazilian format.
    await page.getByLabel('Ação', { exact: true }).selectOption('auth.sign_in_failed');
    await expect.poll(() => rows.count()).toBe(1);
    const failed = rows.first();
    expect(await failed.textContent()).toContain('Falha ao entrar');
    expect(await failed.textContent()).toContain(member.email);
    expect(await failed.locator('time').textContent()).toMatch(/\d{2}\/\d{2}\/\d{4}|de \w+\.? de \d{4}/);

    // By person: the member's sign-in only, under their name.
    // Back to every action: the newest page again, each entry once (the older pages are dropped or kept whole).
    await page.getByLabel('Ação', { exact: true }).selectOption('');
    await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(50);
    const ids = await rows.evaluateAll((cells) => cells.map((cell) => cell.getAttribute('data-id')));
    expect(new Set(ids).size).toBe(ids.length);
    await page.getByLabel('Pessoa').selectOption(member.id);
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain('Entrou');
    expect(await rows.first().textContent()).toContain('Marcos Membro');
    // Nothing on the page changes an entry.
    expect(await page.locator('[data-testid="audit-log"] button').count()).toBe(0);
    await page.context().close();
  });

  it('gives a member no link and no entries', async () => {
    const page = await signIn(member.email, 'en-US');
    await shows(page.getByRole('heading', { level: 1, name: 'Settings' }));
    expect(await page.getByRole('link', { name: 'Open the audit log' }).count()).toBe(0);
    await page.goto(`${conversa.url}/settings/audit-log`);
    await shows(page.getByText('Only administrators can read the audit log.'));
    expect(await page.getByTestId('audit-entry').count()).toBe(0);
    await page.context().close();
  });
});
