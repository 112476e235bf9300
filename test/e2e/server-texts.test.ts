// Server texts in the user's language, in Debian's Chromium (playwright-core): a Brazilian user whose mailbox's
// password was changed on the server (the suite's Dovecot) reads on Settings › E-mail settings why it stopped in
// Portuguese — the reconnect banner, the status detail and the last error, said from their codes, never the server's
// English sentence — and a wrong password in the reconnect form is explained in Portuguese too. A screenshot goes to
// test-artifacts/screenshots/server-texts.pt-BR.png.
//
// Needs the built web app (dist/web, `npm run build`) and /usr/bin/chromium, like web-app.test.ts.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WEB_INDEX } from '../support/chromium.js';

const dovecot = useDovecot();

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
// The refused mailbox login of the reconnect form (422) is met on purpose.
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of (401|422)/];

async function textOf(locator: Locator, timeout = WAIT_MS): Promise<string> {
  await locator.first().waitFor({ state: 'visible', timeout });
  return (await locator.first().textContent()) ?? '';
}

describe('server texts in Brazilian Portuguese, in Chromium', () => {
  let conversa: TestConversa;
  let browser: Browser;
  let page: Page;
  let mailbox: Credentials;
  let crmUser: { email: string; password: string; token: string };
  let accountId: string;
  const consoleProblems: string[] = [];

  beforeAll(async () => {
    if (!fs.existsSync(WEB_INDEX)) {
      throw new Error(`The web app is not built (${WEB_INDEX} is missing): run \`npm run build\` first.`);
    }
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium`);
    }
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    conversa = await startTestConversa();
    const user = await conversa.addUser();
    crmUser = { email: user.email, password: 'crm user password', token: user.token };
    const settings = await conversa.api('PATCH', '/api/me/settings', { locale: 'pt-BR' }, user.token);
    expect(settings.status, settings.text).toBe(200);

    // A mailbox that worked, then whose password was changed on the server: the sync stops with needs_reconnect.
    mailbox = await dovecot.addUser();
    const created = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, mailbox), user.token);
    expect(created.status, created.text).toBe(201);
    accountId = created.body.id;
    const status = async () =>
      (await conversa.api('GET', `/api/email-accounts/${accountId}`, undefined, user.token)).body;
    await waitFor('the mailbox to be active', async () => (await status()).status === 'active', 30_000);
    await dovecot.setPassword(mailbox.user, `${mailbox.password}-changed`);
    await dovecot.kick(mailbox.user);
    const broken = await waitFor(
      'the mailbox to need reconnecting',
      async () => {
        const body = await status();
        return body.status === 'needs_reconnect' ? body : undefined;
      },
      30_000,
    );
    expect(broken.statusDetailCode).toBe('SYNC_PASSWORD_REFUSED');

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const context = await browser.newContext({ locale: 'pt-BR', viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(WAIT_MS);
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      if (EXPECTED_CONSOLE.some((re) => re.test(message.text()))) return;
      consoleProblems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => consoleProblems.push(`pageerror: ${error.message}`));
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await conversa?.stop();
  });

  it('shows why the mailbox stopped in Portuguese on the e-mail settings page', async () => {
    await page.goto(`${conversa.url}/settings/email`);
    await page.getByLabel('E-mail').fill(crmUser.email);
    await page.getByLabel('Senha', { exact: true }).fill(crmUser.password);
    await page.getByRole('button', { name: 'Entrar' }).click();
    await page.getByRole('heading', { level: 1, name: 'Configurações de e-mail' }).waitFor();

    const portuguese = 'O servidor de e-mail recusou a senha salva';
    const english = 'The mail server refused the saved password';
    const card = page.locator(`article[data-account-email="${mailbox.user}"]`);
    const banner = page.locator('[data-testid="reconnect-banner"]', { hasText: mailbox.user });
    const texts = [
      await textOf(banner.getByTestId('reconnect-detail')),
      await textOf(card.getByTestId('status-detail')),
      await textOf(card.getByTestId('last-error')),
    ];
    for (const text of texts) {
      expect(text).toContain(portuguese);
      expect(text).toContain('Editar');
      expect(text).not.toContain(english);
    }
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: `${SCREENSHOTS}server-texts.pt-BR.png`, fullPage: true });
  }, 60_000);

  it('explains a wrong password in the reconnect form in Portuguese, naming the server, without the password', async () => {
    const banner = page.locator('[data-testid="reconnect-banner"]', { hasText: mailbox.user });
    await banner.getByRole('button', { name: 'Reconectar' }).click();
    const edit = page.getByTestId('edit-account-form');
    const wrong = 'uma senha errada';
    await edit.getByLabel('Senha', { exact: true }).fill(wrong);
    await edit.getByRole('button', { name: 'Conectar' }).click();
    const notice = edit.locator('[data-error-code="AUTH_FAILED"]');
    const text = await textOf(notice.locator('.notice-detail'), 20_000);
    expect(text).toContain(`O servidor de recebimento (IMAP) ${dovecot.host}:${dovecot.imapPort} recusou o login`);
    expect(text).not.toContain('refused the sign-in');
    expect(text).not.toContain(wrong);
    expect(consoleProblems).toEqual([]);
  }, 60_000);
});
