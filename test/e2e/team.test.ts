// The team features end to end in Debian's Chromium (playwright-core) from an EMPTY data dir — no user, so the web
// app opens on the setup page: set up the organisation (a common password refused first), invite a colleague and
// read the link from the page, the colleague accepts it in a second browser context and connects a mailbox (the
// suite's Dovecot), a member finds no way to Settings › Users, the last administrator cannot be demoted, API tokens
// are made and revoked from Profile / Security, and deactivating the colleague signs them out until they are
// reactivated. Screenshots of the setup page, Users, Profile / Security and the invite page in English and
// Brazilian Portuguese go to test-artifacts/screenshots/. The tests run in order and share the browser contexts.
//
// Needs the built web app (dist/web, `npm run build`) and /usr/bin/chromium, like web-app.test.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.js';
import { startServer, type RunningServer } from '../../src/app/start-server.js';
import { freePort } from '../servers/free-port.js';
import { TEST_ALLOWED_HOSTS } from '../support/outbound.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WEB_INDEX, shows } from '../support/chromium.js';

const dovecot = useDovecot();

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));

// The API's 4xx answers the app meets on purpose: the signed-out probe (401), a refused password (400), the last
// admin's demotion (409), a refused mailbox login (422).
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of (400|401|403|404|409|422)/];

const tag = Math.random().toString(36).slice(2, 8);
const orgName = `Acme ${tag}`;
const admin = { name: 'Alice Admin', email: `alice.${tag}@acme.test`, password: 'correct horse battery staple' };
const colleague = { name: 'Bruno Colega', email: `bruno.${tag}@acme.test`, password: 'violet mountain river song' };

async function hasText(locator: Locator, text: string | RegExp, timeout = WAIT_MS): Promise<void> {
  const poll = expect.poll(
    async () => ((await locator.count()) > 0 ? ((await locator.first().textContent()) ?? '') : ''),
    { timeout, interval: 100 },
  );
  await (typeof text === 'string' ? poll.toContain(text) : poll.toMatch(text));
}

describe('setting up a team in Chromium, from an empty data dir', () => {
  let server: RunningServer;
  let url: string;
  let dataDir: string;
  let browser: Browser;
  let adminContext: BrowserContext;
  let colleagueContext: BrowserContext;
  let adminPage: Page;
  let colleaguePage: Page;
  let inviteUrl: string;
  let mailbox: Credentials;
  const consoleProblems: string[] = [];

  const shoot = async (target: Page, name: string) => {
    await target.evaluate('window.scrollTo(0, 0)');
    await target.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  };
  const watch = (target: Page) => {
    target.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      if (EXPECTED_CONSOLE.some((re) => re.test(message.text()))) return;
      consoleProblems.push(`${message.type()}: ${message.text()}`);
    });
    target.on('pageerror', (error) => consoleProblems.push(`pageerror: ${error.message}`));
  };
  const newContext = async (locale: string, viewport = { width: 1280, height: 860 }) => {
    const context = await browser.newContext({ locale, viewport });
    context.setDefaultTimeout(WAIT_MS);
    return context;
  };

  beforeAll(async () => {
    if (!fs.existsSync(WEB_INDEX)) {
      throw new Error(`The web app is not built (${WEB_INDEX} is missing): run \`npm run build\` first.`);
    }
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium`);
    }
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    // As test/support/conversa-server.ts starts it, but without creating a first user: the empty data dir a
    // newcomer starts from.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-team-'));
    const config = loadConfig({
      CONVERSA_DATA_DIR: dataDir,
      PORT: String(await freePort()),
      DATABASE_URL: '',
      LOG_LEVEL: 'debug',
      BCC_SMTP_PORT: '0',
      CONVERSA_ALLOWED_HOSTS: TEST_ALLOWED_HOSTS,
      CONVERSA_CHECK_RESPONSES: '1',
    });
    const logStream = new Writable({ write: (_chunk, _encoding, done) => done() });
    server = await startServer(config, { backoffBaseMs: 200, backoffMaxMs: 1_000, pollIntervalMs: 1_000, logStream });
    url = server.url;
    mailbox = await dovecot.addUser();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    adminContext = await newContext('en-US');
    adminPage = await adminContext.newPage();
    watch(adminPage);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('opens on the setup page on every path, in both languages, and sets up once', async () => {
    const before = await fetch(`${url}/api/setup`);
    expect(await before.json()).toEqual({ needsSetup: true });

    // Any path shows the setup page, not the sign-in page.
    await adminPage.goto(`${url}/contacts`);
    await shows(adminPage.getByRole('heading', { level: 1, name: 'Set up Conversa' }));
    await shows(adminPage.getByText(/At least 10 characters, and not one of the most common passwords/));
    await shoot(adminPage, 'setup.en');

    const portuguese = await newContext('pt-BR');
    const ptPage = await portuguese.newPage();
    watch(ptPage);
    await ptPage.goto(`${url}/`);
    await shows(ptPage.getByRole('heading', { level: 1, name: 'Configurar o Conversa' }));
    await shows(ptPage.getByText(/Pelo menos 10 caracteres/));
    await shoot(ptPage, 'setup.pt-BR');
    await portuguese.close();

    await adminPage.getByLabel('Organization name').fill(orgName);
    await adminPage.getByLabel('Your name').fill(admin.name);
    await adminPage.getByLabel('Email').fill(admin.email);
    // Long enough, but one of the most common passwords: the server says no and the form says why.
    await adminPage.getByLabel('Password', { exact: true }).fill('password123');
    await shows(adminPage.getByText('Long enough'));
    await adminPage.getByRole('button', { name: 'Create and sign in' }).click();
    await shows(adminPage.locator('[data-error-code="VALIDATION_FAILED"]'));
    expect(await adminPage.getByLabel('Password', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await shows(adminPage.getByText(/one of the most common passwords, which attackers try first/));

    await adminPage.getByLabel('Password', { exact: true }).fill(admin.password);
    await adminPage.getByRole('button', { name: 'Create and sign in' }).click();
    // Signed in, on the way to connecting a mailbox.
    await shows(adminPage.getByRole('heading', { level: 1, name: 'Email settings' }));

    const after = await fetch(`${url}/api/setup`);
    expect(await after.json()).toEqual({ needsSetup: false });
    await adminPage.goto(`${url}/`);
    await shows(adminPage.getByRole('heading', { level: 1, name: 'Inbox' }));
  });

  it('invites a colleague from Settings › Users and shows the link to copy', async () => {
    await adminPage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await adminPage.getByRole('link', { name: 'Manage users' }).click();
    await shows(adminPage.getByRole('heading', { level: 1, name: 'Users' }));
    const team = adminPage.getByTestId('team-list');
    await hasText(team, admin.email);

    await adminPage.getByLabel('Email', { exact: true }).fill(colleague.email);
    await adminPage.getByLabel('Name (optional)').fill(colleague.name);
    await adminPage.getByLabel('Role', { exact: true }).selectOption('member');
    await adminPage.getByRole('button', { name: 'Invite', exact: true }).click();
    const invitation = adminPage.getByTestId('invitation');
    await shows(invitation);
    // No app relay in this test: the admin is told to send the link.
    await hasText(invitation, 'It was not emailed');
    await shows(invitation.getByRole('button', { name: 'Copy the invitation link' }));
    inviteUrl = await invitation.getByTestId('invite-link').inputValue();
    expect(inviteUrl).toMatch(new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/invite/[^/]+$`));
    const row = team.locator(`[data-email="${colleague.email}"]`);
    await shows(row);
    await shoot(adminPage, 'users.en');

    // The last administrator cannot be demoted: the server's 409 in words, and the choice goes back.
    const me = team.locator(`[data-email="${admin.email}"]`);
    await me.getByLabel(`Role of ${admin.email}`).selectOption('member');
    await hasText(me.locator('[data-error-code]'), 'Conversa needs at least one active administrator');
    expect(await me.getByLabel(`Role of ${admin.email}`).inputValue()).toBe('admin');
  });

  it('shows the invitation in both languages; the colleague accepts it in a second browser context', async () => {
    const portuguese = await newContext('pt-BR', { width: 390, height: 844 });
    const ptPage = await portuguese.newPage();
    watch(ptPage);
    await ptPage.goto(inviteUrl);
    await shows(ptPage.getByRole('heading', { level: 1, name: `Entrar em ${orgName}` }));
    await hasText(ptPage.locator('main'), colleague.email);
    await shoot(ptPage, 'invite.pt-BR');
    await portuguese.close();

    colleagueContext = await newContext('en-US');
    colleaguePage = await colleagueContext.newPage();
    watch(colleaguePage);
    await colleaguePage.goto(inviteUrl);
    await shows(colleaguePage.getByRole('heading', { level: 1, name: `Join ${orgName}` }));
    await hasText(colleaguePage.locator('main'), colleague.email);
    await shoot(colleaguePage, 'invite.en');
    await colleaguePage.getByLabel('Your name').fill(colleague.name);
    await colleaguePage.getByLabel('Password', { exact: true }).fill(colleague.password);
    await colleaguePage.getByRole('button', { name: 'Accept and sign in' }).click();
    await shows(colleaguePage.getByRole('heading', { level: 1, name: 'Inbox' }));

    // Used once: the link now leads nowhere.
    const again = await fetch(`${url}/api/invites/${inviteUrl.split('/invite/')[1]}`);
    expect(again.status).toBe(404);

    // A member has no way to Settings › Users.
    await colleaguePage.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await shows(colleaguePage.getByRole('link', { name: 'Open profile and security' }));
    expect(await colleaguePage.getByRole('link', { name: 'Manage users' }).count()).toBe(0);
    await colleaguePage.goto(`${url}/settings/users`);
    await shows(colleaguePage.getByText('Only administrators manage users.'));
  });

  it('the colleague connects their mailbox', async () => {
    await colleaguePage.goto(`${url}/settings/email`);
    await shows(colleaguePage.getByRole('heading', { level: 1, name: 'Email settings' }));
    await colleaguePage.getByRole('button', { name: 'Connect email' }).first().click();
    const form = colleaguePage.getByTestId('connect-form');
    await form.getByLabel('Email service', { exact: true }).selectOption('other');
    await form.getByLabel('Email address', { exact: true }).fill(mailbox.user);
    await form.getByLabel('IMAP server').fill(dovecot.host);
    await form.getByLabel('IMAP port').fill(String(dovecot.imapPort));
    await form.getByLabel('IMAP over SSL/TLS').setChecked(false);
    await form.getByLabel('SMTP server').fill(dovecot.host);
    await form.getByLabel('SMTP port').fill(String(dovecot.submissionPort));
    await form.getByLabel(/SMTP over SSL\/TLS/).setChecked(false);
    await form.getByLabel('Password', { exact: true }).fill(mailbox.password);
    await form.getByRole('button', { name: 'Connect' }).click();
    await shows(colleaguePage.getByText(`Mailbox ${mailbox.user} connected`), 30_000);
  });

  it('makes and revokes an API token from Profile / Security, in both languages', async () => {
    await adminPage.goto(`${url}/settings/profile`);
    await shows(adminPage.getByRole('heading', { level: 1, name: 'Profile and security' }));
    await adminPage.getByLabel('Token name').fill('ci');
    await adminPage.getByLabel('Expires after (days, optional)').fill('30');
    await adminPage.getByRole('button', { name: 'Create token' }).click();
    const shown = adminPage.getByTestId('new-token');
    await hasText(shown, 'it will not be shown again');
    const token = ((await adminPage.getByTestId('new-token-value').textContent()) ?? '').trim();
    const withToken = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    const rows = adminPage.getByTestId('token-row');
    await hasText(rows.first(), 'ci');
    await shoot(adminPage, 'profile.en');

    await adminPage.getByRole('button', { name: 'Revoke token ci' }).click();
    await adminPage.getByRole('alertdialog').getByRole('button', { name: 'Revoke' }).click();
    await shows(adminPage.getByText('Token “ci” revoked.'));
    const revoked = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(revoked.status).toBe(401);

    // Brazilian Portuguese: the language is chosen on the same page.
    await adminPage.getByLabel('Interface language').selectOption('pt-BR');
    await shows(adminPage.getByRole('heading', { level: 1, name: 'Perfil e segurança' }));
    await shoot(adminPage, 'profile.pt-BR');
    await adminPage.goto(`${url}/settings/users`);
    await shows(adminPage.getByRole('heading', { level: 1, name: 'Usuários' }));
    await hasText(adminPage.getByTestId('team-list'), colleague.email);
    await shoot(adminPage, 'users.pt-BR');
  });

  it('deactivating the colleague signs them out until they are reactivated', async () => {
    const row = adminPage.getByTestId('team-list').locator(`[data-email="${colleague.email}"]`);
    await row.getByRole('button', { name: `Desativar ${colleague.email}` }).click();
    await row.getByRole('alertdialog').getByRole('button', { name: 'Desativar' }).click();
    await hasText(row.getByTestId('member-state'), 'Desativado');

    await colleaguePage.goto(`${url}/inbox`);
    await shows(colleaguePage.getByRole('heading', { name: 'Sign in' }));
    await colleaguePage.getByLabel('Email').fill(colleague.email);
    await colleaguePage.getByLabel('Password', { exact: true }).fill(colleague.password);
    await colleaguePage.getByRole('button', { name: 'Sign in' }).click();
    await shows(colleaguePage.getByRole('alert'));
    expect(await colleaguePage.getByRole('heading', { level: 1, name: 'Inbox' }).count()).toBe(0);

    await row.getByRole('button', { name: `Reativar ${colleague.email}` }).click();
    await row.getByRole('alertdialog').getByRole('button', { name: 'Reativar' }).click();
    await hasText(row.getByTestId('member-state'), 'Ativo');
    await colleaguePage.getByRole('button', { name: 'Sign in' }).click();
    await shows(colleaguePage.getByRole('heading', { level: 1, name: 'Inbox' }));
  });

  it('logged nothing unexpected in the browser console', () => {
    expect(consoleProblems).toEqual([]);
  });
});
