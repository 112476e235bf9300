// The web app end to end, in Debian's Chromium driven by playwright-core, against an in-process Conversa, the
// suite's Dovecot and a local OAuth 2 server: sign in, add a contact, connect the mailbox through the form (a
// wrong password first), read the contact's mail on their page and in the inbox, reply with an attachment and
// find the reply in the mailbox's Sent folder, open a hostile HTML mail that must run nothing, reconnect after a
// server-side password change, connect through "Sign in with Google" (and come back from a refused consent),
// delete, Edit SMTP, the plan rule of one-way sync, a CSV import, and screenshots of the main pages in English
// and Brazilian Portuguese (test-artifacts/screenshots/). The tests run in order and share one browser page.
//
// Needs the built web app (dist/web, `npm run build`; `npm test` builds first) and /usr/bin/chromium
// (`apt-get install chromium`): without either, every test here fails with a message saying so.
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import { chromium, type Browser, type BrowserContext, type Frame, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../servers/free-port.js';
import { startOAuth2Server, type OAuth2TestServer } from '../servers/oauth2-server.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot, useRadicale, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WEB_INDEX, shows } from '../support/chromium.js';

const dovecot = useDovecot();
const radicale = useRadicale();

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));

// Console errors the app causes on purpose: the API's own 4xx answers (the signed-out probe, meetings routes not
// there yet, a refused password) and the remote image the user asked to see, on a closed port.
const EXPECTED_CONSOLE = [
  /Failed to load resource: the server responded with a status of (401|404|422)/,
  /Failed to load resource: net::ERR_CONNECTION_REFUSED/,
];

const tag = Math.random().toString(36).slice(2, 8);
const contact = { first: 'Ana', last: 'Souza', email: `ana.${tag}@client.test` };
const proposalSubject = `Proposal ${tag}`;
const hostileSubject = `Hostile ${tag}`;
const attachmentText = `Price list ${tag}\n`;

async function hasText(locator: Locator, text: string | RegExp, timeout = WAIT_MS): Promise<void> {
  const poll = expect.poll(
    async () => ((await locator.count()) > 0 ? ((await locator.first().textContent()) ?? '') : ''),
    { timeout, interval: 100 },
  );
  await (typeof text === 'string' ? poll.toContain(text) : poll.toMatch(text));
}

async function hasExactText(locator: Locator, text: string, timeout = WAIT_MS): Promise<void> {
  await expect
    .poll(async () => ((await locator.count()) > 0 ? ((await locator.first().textContent()) ?? '').trim() : null), {
      timeout,
      interval: 100,
    })
    .toBe(text);
}

async function hasCount(locator: Locator, count: number, timeout = WAIT_MS): Promise<void> {
  await expect.poll(() => locator.count(), { timeout, interval: 100 }).toBe(count);
}

/** A listener every payload of the hostile mail tries to reach: it must hear nothing. */
function startBeacon(): Promise<{ port: number; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.writeHead(204).end();
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ port, hits, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

function hostileMessage(to: string, beacon: number, closedPort: number, date: Date): string {
  const b = `http://127.0.0.1:${beacon}`;
  const html = `<html><head><title>t</title>
<script>window.top.pwned='head-script'</script>
<meta http-equiv="refresh" content="0;url=${b}/refresh">
<base href="${b}/">
<link rel="stylesheet" href="${b}/style.css">
<style>@import url("${b}/import.css"); body { background: url(${b}/bg.png) }</style>
</head><body onload="window.top.pwned='onload'">
<p>Visible hostile body ${tag}</p>
<script>window.top.pwned='script'; document.title='pwned'; fetch('${b}/script')</script>
<img src="x" onerror="window.top.pwned='onerror'; top.document.title='pwned'; fetch('${b}/onerror')">
<img src="${b}/track.png" alt="tracker">
<img src="https://127.0.0.1:${closedPort}/remote.png" alt="remote">
<svg onload="window.top.pwned='svg'"><script>window.top.pwned='svg-script'</script></svg>
<a href="javascript:window.top.pwned='href'">a javascript link</a>
<iframe src="${b}/iframe" srcdoc="<script>top.pwned='srcdoc'</script>"></iframe>
<object data="${b}/object"></object><embed src="${b}/embed">
<form action="${b}/form"><input autofocus onfocus="window.top.pwned='autofocus'; fetch('${b}/autofocus')" name="q"><button>go</button></form>
<details open ontoggle="window.top.pwned='toggle'"><summary>s</summary>d</details>
<div style="background-image:url(${b}/style-attr.png); width: expression(alert(1))">styled</div>
<video poster="${b}/poster.png"></video><audio src="${b}/audio.mp3" autoplay></audio>
<math><mtext><table><mglyph><style><img src=x onerror="window.top.pwned='mxss'">
</body></html>`;
  return [
    `From: "${contact.first} ${contact.last}" <${contact.email}>`,
    `To: ${to}`,
    `Subject: ${hostileSubject}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: ${makeMessageId()}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="hostile-b"',
    '',
    '--hostile-b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Plain part <script>window.top.pwned='text'</script>`,
    '--hostile-b',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    html,
    '--hostile-b--',
    '',
  ].join('\r\n');
}

/** The last message in the mailbox's Sent folder with this subject, as raw source. */
async function sentCopy(creds: Credentials, subject: string): Promise<string | null> {
  const client = new ImapFlow(dovecot.imapOptions(creds));
  client.on('error', () => undefined);
  await client.connect();
  try {
    const lock = await client.getMailboxLock('Sent');
    try {
      const uids = await client.search({ subject }, { uid: true });
      if (!uids || uids.length === 0) return null;
      const message = await client.fetchOne(String(uids[uids.length - 1]), { source: true }, { uid: true });
      return message && message.source ? message.source.toString('utf8') : null;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
}

/** Reloads the page until `locator` shows up (the contact page and inbox do not poll). */
async function reloadUntilVisible(page: Page, locator: Locator, what: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    what,
    async () => {
      if (await locator.first().isVisible()) return true;
      await page.reload();
      return locator
        .first()
        .waitFor({ state: 'visible', timeout: 1_500 })
        .then(() => true)
        .catch(() => false);
    },
    timeoutMs,
    250,
  );
}

describe('the web app in Chromium', () => {
  let conversa: TestConversa;
  let oauth: OAuth2TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let beacon: Awaited<ReturnType<typeof startBeacon>>;
  let closedPort: number;
  let crmUser: { email: string; password: string; token: string };
  let mailbox: Credentials;
  const consoleProblems: string[] = [];
  const consoleExpected: string[] = [];
  const beaconRequests: string[] = [];

  const shoot = async (target: Page, name: string) => {
    // From the top, or the sticky header lands in the middle of a full-page picture.
    await target.evaluate('window.scrollTo(0, 0)');
    await target.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  };
  const go = (target: Page, route: string) => target.goto(`${conversa.url}${route}`);
  /** The connect form's server settings, pointed at the test Dovecot (plain IMAP and submission on loopback). */
  const pointAtDovecot = async (form: Locator) => {
    await form.getByLabel('IMAP server').fill(dovecot.host);
    await form.getByLabel('IMAP port').fill(String(dovecot.imapPort));
    await form.getByLabel('IMAP over SSL/TLS').setChecked(false);
    await form.getByLabel('SMTP server').fill(dovecot.host);
    await form.getByLabel('SMTP port').fill(String(dovecot.submissionPort));
    await form.getByLabel(/SMTP over SSL\/TLS/).setChecked(false);
  };

  beforeAll(async () => {
    // Loud, not a skip: a missing build or browser must fail the run that was meant to test the web app.
    if (!fs.existsSync(WEB_INDEX)) {
      throw new Error(
        `The web app is not built (${WEB_INDEX} is missing): run \`npm run build\` first (npm test does).`,
      );
    }
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium`);
    }
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    beacon = await startBeacon();
    // Nothing listens there: the image the user asks to see fails at once, without leaving the machine.
    closedPort = await freePort();
    // A local OAuth 2 server stands in for Google's and Microsoft's sign-in pages.
    oauth = await startOAuth2Server();
    // The operator points Google's mail servers at the local Dovecot: the browser can no longer name them.
    conversa = await startTestConversa({
      ...oauth.env(),
      GOOGLE_IMAP_URL: `imap://${dovecot.host}:${dovecot.imapPort}`,
      GOOGLE_SMTP_URL: `smtp://${dovecot.host}:${dovecot.submissionPort}`,
    });
    const user = await conversa.addUser();
    crmUser = { email: user.email, password: 'crm user password', token: user.token };
    mailbox = await dovecot.addUser();
    const now = Date.now();
    await dovecot.fillMailbox(
      mailbox.user,
      'INBOX',
      [
        makeMessage({
          from: `"${contact.first} ${contact.last}" <${contact.email}>`,
          to: [mailbox.user],
          subject: proposalSubject,
          date: new Date(now - 2 * 3600_000),
          body: `Hello! Here is our proposal ${tag}.`,
          attachment: { filename: 'price-list.txt', contentType: 'text/plain', content: Buffer.from(attachmentText) },
        }),
        hostileMessage(mailbox.user, beacon.port, closedPort, new Date(now - 3600_000)),
        // Nobody from the CRM in it: never synced, never shown.
        makeMessage({
          from: 'stranger@elsewhere.test',
          to: [mailbox.user],
          subject: `Stranger ${tag}`,
          date: new Date(now - 1800_000),
        }),
      ],
      { dates: [new Date(now - 2 * 3600_000), new Date(now - 3600_000), new Date(now - 1800_000)] },
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    context = await browser.newContext({
      locale: 'en-US',
      viewport: { width: 1280, height: 860 },
      acceptDownloads: true,
    });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      if (EXPECTED_CONSOLE.some((re) => re.test(message.text()))) return void consoleExpected.push(message.text());
      consoleProblems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => consoleProblems.push(`pageerror: ${error.message}`));
    page.on('request', (request) => {
      if (request.url().includes(`:${beacon.port}`)) beaconRequests.push(request.url());
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await conversa?.stop();
    await oauth?.stop();
    await beacon?.close();
  });

  it('signs in, adds a contact, and connects the mailbox through the form after showing why a wrong password failed', async () => {
    await go(page, '/inbox');
    await shows(page.getByRole('heading', { name: 'Sign in' }));
    await shoot(page, 'login.en');
    await page.getByLabel('Email').fill(crmUser.email);
    await page.getByLabel('Password', { exact: true }).fill(crmUser.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Inbox' }));

    // A contact, through the Contacts page.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('button', { name: 'New contact' }).click();
    await page.getByLabel('First name').fill(contact.first);
    await page.getByLabel('Last name').fill(contact.last);
    await page.getByLabel('Email addresses').fill(contact.email);
    await page.getByRole('button', { name: 'Create contact' }).click();
    await shows(page.getByRole('heading', { level: 1, name: `${contact.first} ${contact.last}` }));

    // Settings › Email settings › Connect email.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('link', { name: 'Open email settings' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Email settings' }));
    await page.getByRole('button', { name: 'Connect email' }).first().click();
    const form = page.getByTestId('connect-form');
    const fillServers = () => pointAtDovecot(form);

    // Yahoo's preset pointed at the local server: a refused password brings the app-password advice and link.
    await form.getByLabel('Email service', { exact: true }).selectOption('yahoo');
    await shows(form.getByText(/app password/i).first());
    await form.getByLabel('Email address', { exact: true }).fill(mailbox.user);
    await form.getByLabel('Password or app password').fill('not-the-password');
    await form.getByText('Server settings').click();
    await fillServers();
    await form.getByRole('button', { name: 'Connect' }).click();
    const yahooError = form.locator('[data-error-code="AUTH_FAILED"]');
    await hasText(yahooError, 'The mail server refused the email or the password');
    await hasText(yahooError, 'Your provider may require an app password');
    expect(await yahooError.getByRole('link', { name: /Yahoo Mail’s instructions/ }).getAttribute('href')).toMatch(
      /^https:\/\/help\.yahoo\.com\//,
    );
    await hasText(yahooError, /What to do:.*app password/i);

    // Any other provider: the servers are typed in; a wrong password says what failed.
    await form.getByLabel('Email service', { exact: true }).selectOption('other');
    await hasCount(form.locator('[data-error-code]'), 0);
    await fillServers();
    await form.getByLabel('Password', { exact: true }).fill('still-not-the-password');
    await form.getByRole('button', { name: 'Connect' }).click();
    const otherError = form.locator('[data-error-code="AUTH_FAILED"]');
    await hasText(otherError, 'The mail server refused the email or the password');
    await hasText(otherError, /What to do:|Check the email address and the password/);
    await shoot(page, 'connect-error.en');
    expect(await page.locator('article[data-account-email]').count()).toBe(0);

    // Two-way is the default; the right password connects.
    expect(await form.getByLabel(/Two-way sync/).isChecked()).toBe(true);
    await form.getByLabel('Password', { exact: true }).fill(mailbox.password);
    await form.getByRole('button', { name: 'Connect' }).click();
    await shows(page.getByText(`Mailbox ${mailbox.user} connected`));
    const card = page.locator(`article[data-account-email="${mailbox.user}"]`);
    await hasExactText(card.getByTestId('account-status'), 'Active', 20_000);
    await hasText(card, /@bcc\.localhost/);
    await shoot(page, 'settings-email.en');
  }, 60_000);

  it("shows the contact's mail on their page and in the inbox, and a reply with an attachment reaches the Sent folder", async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('link', { name: new RegExp(`${contact.first} ${contact.last}`) }).click();
    const timelineLink = page.getByRole('link', { name: proposalSubject, exact: true });
    await reloadUntilVisible(page, timelineLink, 'the synced mail on the contact page');
    await shows(page.getByRole('link', { name: hostileSubject }));
    await shoot(page, 'contact.en');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Inbox/ }).click();
    const list = page.getByRole('list', { name: 'Received mail, newest first' });
    await hasCount(list.getByRole('listitem'), 2);
    // Newest first; unread until read in the mailbox; the stranger's mail was never synced.
    await hasText(list.getByRole('listitem').first(), hostileSubject);
    await hasCount(list.locator('li.unread', { hasText: proposalSubject }), 1);
    expect(await list.textContent()).not.toContain(`Stranger ${tag}`);
    await shoot(page, 'inbox.en');

    // Search, then the mailbox filter.
    await page.getByLabel('Search mail').fill('Proposal');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await hasCount(list.getByRole('listitem'), 1);
    await hasText(list, proposalSubject);
    await page.getByLabel('Search mail').fill('');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByLabel('Mailbox', { exact: true }).selectOption({ label: mailbox.user });
    await hasCount(list.getByRole('listitem'), 2);

    // The thread: body, attachment download, reply with an attachment.
    await list.getByRole('link', { name: new RegExp(proposalSubject) }).click();
    await shows(page.getByRole('heading', { level: 1, name: proposalSubject }));
    await shows(page.getByText(`Here is our proposal ${tag}.`));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: /price-list\.txt/ }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('price-list.txt');
    expect(fs.readFileSync(await download.path(), 'utf8')).toBe(attachmentText);
    await shoot(page, 'thread.en');

    await page.getByRole('button', { name: 'Reply', exact: true }).last().click();
    const compose = page.getByRole('form', { name: /Reply to/ });
    expect(await compose.getByLabel('To', { exact: true }).inputValue()).toBe(contact.email);
    expect(await compose.getByLabel('Subject').inputValue()).toBe(`Re: ${proposalSubject}`);
    await compose.getByLabel('Message', { exact: true }).fill(`Thank you, Ana. Our notes ${tag} are attached.`);
    await compose
      .getByLabel('Attachments')
      .setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from(`notes ${tag}`) });
    await hasText(compose.getByRole('list', { name: 'Attached files' }), 'notes.txt');
    await compose.getByRole('button', { name: 'Send', exact: true }).click();
    await shows(page.locator('[data-send-status]'));
    // The thread now holds the reply too.
    await hasCount(page.getByRole('list', { name: /messages/ }).getByRole('article'), 2);

    const source = await waitFor(
      'the reply in the mailbox Sent folder',
      () => sentCopy(mailbox, `Re: ${proposalSubject}`),
      20_000,
      250,
    );
    expect(source).toContain(`To: ${contact.email}`);
    expect(source).toMatch(/^In-Reply-To: <[^>]+>/m);
    expect(source).toContain(`Our notes ${tag} are attached.`);
    expect(source).toMatch(/filename="?notes\.txt"?/);
  }, 60_000);

  it("runs none of a hostile mail's scripts or event handlers, and loads nothing remote until asked", async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Inbox/ }).click();
    await page
      .getByRole('list', { name: 'Received mail, newest first' })
      .getByRole('link', { name: new RegExp(hostileSubject) })
      .click();
    await shows(page.getByRole('heading', { level: 1, name: hostileSubject }));
    const iframe = page.locator('iframe.message-frame');
    // No allow-scripts, no allow-same-origin: only links may open a new tab.
    expect(await iframe.getAttribute('sandbox')).toBe('allow-popups allow-popups-to-escape-sandbox');
    const frame = page.frameLocator('iframe.message-frame');
    await shows(frame.getByText(`Visible hostile body ${tag}`));
    // Give anything that could fire (onload, onerror, autofocus, refresh, fetch) the time to do so.
    await page.waitForTimeout(1_000);

    const srcdoc = (await iframe.getAttribute('srcdoc')) ?? '';
    expect(srcdoc).toContain(
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'">`,
    );
    expect(srcdoc).not.toMatch(
      /<script|\son\w+=|javascript:|<iframe|<object|<embed|<form|<base|<link|http-equiv="refresh"/i,
    );
    expect(await page.evaluate('typeof window.pwned')).toBe('undefined');
    expect(await page.title()).toBe(`${hostileSubject} · Conversa`);
    const inside = page.frames().find((f) => f.url() === 'about:srcdoc');
    expect(inside).toBeDefined();
    expect(
      await inside!.evaluate(
        '({ pwned: typeof window.pwned, scripts: document.scripts.length, title: document.title })',
      ),
    ).toEqual({
      pwned: 'undefined',
      scripts: 0,
      title: '',
    });
    // Remote images wait for the user: no src, only data-remote-src.
    const imageSources = (frame: Frame) =>
      frame.evaluate(`Array.from(document.images).map((img) => img.getAttribute('src'))`) as Promise<
        Array<string | null>
      >;
    const before = await imageSources(inside!);
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(before.filter((src) => src !== null)).toEqual([]);
    // The plain-text part is text, not markup.
    await page.getByRole('button', { name: 'Plain text' }).click();
    await hasText(page.locator('pre.message-text'), `<script>window.top.pwned='text'</script>`);
    await page.getByRole('button', { name: 'Plain text' }).click();
    expect(beacon.hits).toEqual([]);
    expect(beaconRequests).toEqual([]);
    await shoot(page, 'thread-html.en');

    // "Show images": https images come back and the frame's policy lets https: images in; http stays blocked.
    await shows(page.getByText('2 remote images were blocked'));
    await page.getByRole('button', { name: 'Show images' }).click();
    await shows(page.getByText('Remote images are shown.'));
    const shown = (await iframe.getAttribute('srcdoc')) ?? '';
    expect(shown).toContain(`img-src data: cid: https:;`);
    // The frame reloads with the new srcdoc: its images are read once it has (an evaluation during the reload fails).
    const shownSources = await waitFor(
      'the frame to load with its images shown',
      async () => {
        const frame = page.frames().find((f) => f.url() === 'about:srcdoc');
        const sources = frame ? await imageSources(frame) : null;
        return sources?.some((src) => src !== null) ? sources : undefined;
      },
      5_000,
    );
    expect(shownSources.filter((src) => src !== null)).toEqual([`https://127.0.0.1:${closedPort}/remote.png`]);
    // The browser did try it (no CSP refusal, which would be a console problem): nothing listens there.
    await waitFor(
      'the shown image to be fetched',
      async () => consoleExpected.some((text) => text.includes('ERR_CONNECTION_REFUSED')),
      5_000,
    );
    expect(await page.evaluate('typeof window.pwned')).toBe('undefined');
    expect(beacon.hits).toEqual([]);
    expect(beaconRequests).toEqual([]);
    expect(consoleProblems).toEqual([]);
  }, 60_000);

  it('shows the reconnect banner when the password changes on the server, and reconnecting through Edit works', async () => {
    const newPassword = `${mailbox.password}-changed`;
    await dovecot.setPassword(mailbox.user, newPassword);
    await dovecot.kick(mailbox.user);

    // Every page tells: the layout's banner (it polls), then the e-mail settings' own banner with its button.
    await go(page, '/inbox');
    const globalBanner = page.getByTestId('reconnect-banner');
    await reloadUntilVisible(page, globalBanner, 'the reconnect banner on the inbox');
    await hasText(globalBanner, `Sync has stopped for ${mailbox.user}`);
    await globalBanner.getByRole('link', { name: 'Go to email settings' }).click();
    const banner = page.getByTestId('reconnect-banner');
    await hasText(banner, `${mailbox.user} must be reconnected.`);
    const card = page.locator(`article[data-account-email="${mailbox.user}"]`);
    await hasExactText(card.getByTestId('account-status'), 'Needs reconnect');

    await banner.getByRole('button', { name: 'Reconnect' }).click();
    const edit = page.getByTestId('edit-account-form');
    expect(await edit.getByLabel('Email service', { exact: true }).inputValue()).toBe('other');
    expect(await edit.getByLabel('IMAP port').inputValue()).toBe(String(dovecot.imapPort));
    await edit.getByLabel('Password', { exact: true }).fill('a wrong one');
    await edit.getByRole('button', { name: 'Connect' }).click();
    await shows(edit.locator('[data-error-code="AUTH_FAILED"]'));
    await edit.getByLabel('Password', { exact: true }).fill(newPassword);
    await edit.getByRole('button', { name: 'Connect' }).click();
    await hasCount(edit, 0);
    await hasExactText(card.getByTestId('account-status'), 'Active', 20_000);
    await hasCount(page.getByTestId('reconnect-banner'), 0);
  }, 60_000);

  it('connects a Gmail mailbox through "Sign in with Google", and says so when the user refuses consent', async () => {
    const gmailBox = await dovecot.addUser();
    oauth.setUser(gmailBox.user);
    // Dovecot 2.3 checks an XOAUTH2 token like a password: each issued access token becomes the password.
    const unsubscribe = oauth.onToken(async (issued) => {
      await dovecot.setPassword(gmailBox.user, issued.accessToken);
    });
    try {
      await go(page, '/settings/email');
      await page.getByRole('button', { name: 'Connect email' }).first().click();
      const form = page.getByTestId('connect-form');
      await form.getByLabel('Email service', { exact: true }).selectOption('gmail');
      const google = form.getByRole('button', { name: 'Sign in with Google' });
      await shows(google);
      await hasCount(form.getByLabel('Password', { exact: true }), 0);
      await form.getByText('Server settings').click();
      await pointAtDovecot(form);
      await google.click();
      // Out to the provider's page and back through the callback, which lands on /settings/email?connected=<id>;
      // the page keeps the news and cleans the address bar.
      await shows(page.getByText(`Mailbox ${gmailBox.user} connected`));
      await expect.poll(() => new URL(page.url()).search).toBe('');
      const card = page.locator(`article[data-account-email="${gmailBox.user}"]`);
      await hasExactText(card.getByTestId('account-status'), 'Active', 20_000);

      // Refused consent at Microsoft: back with ?error=…, shown, nothing connected.
      oauth.denyConsent(true);
      await page.getByRole('button', { name: 'Connect email' }).first().click();
      await form.getByLabel('Email service', { exact: true }).selectOption('microsoft365');
      // The preset's own help answers "Microsoft 365 or Outlook?".
      await hasText(form.locator('.help'), /Microsoft 365 or Outlook\?.*personal Microsoft account.*choose Outlook/);
      await form.getByRole('button', { name: 'Sign in with Microsoft' }).click();
      const refused = page.locator('[data-error-code="AUTH_FAILED"]');
      await hasText(refused, 'The mailbox was not connected.');
      await expect.poll(() => new URL(page.url()).pathname + new URL(page.url()).search).toBe('/settings/email');
      await hasCount(page.locator('article[data-account-email]'), 2);

      // Excluir, with its confirmation.
      const gmailCard = page.locator(`article[data-account-email="${gmailBox.user}"]`);
      await gmailCard.getByRole('button', { name: 'Delete', exact: true }).click();
      const confirm = gmailCard.getByRole('alertdialog');
      await hasText(confirm, `Delete ${gmailBox.user}?`);
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      await hasCount(gmailCard.getByRole('alertdialog'), 0);
      await gmailCard.getByRole('button', { name: 'Delete', exact: true }).click();
      await gmailCard.getByRole('button', { name: 'Delete permanently' }).click();
      await hasCount(gmailCard, 0);
      expect(
        (await conversa.api('GET', '/api/email-accounts', undefined, crmUser.token)).body.items.map(
          (a: { email: string }) => a.email,
        ),
      ).toEqual([mailbox.user]);
    } finally {
      unsubscribe();
      oauth.denyConsent(false);
    }
  }, 60_000);

  it('edits SMTP (tested by the API) and switches automatic contact creation', async () => {
    await go(page, '/settings/email');
    const card = page.locator(`article[data-account-email="${mailbox.user}"]`);
    await card.getByRole('button', { name: 'Edit SMTP' }).click();
    const smtp = card.getByRole('region', { name: /Edit SMTP/ });
    const mailboxMode = smtp.getByLabel(/Your mailbox’s own SMTP server/);
    await shows(mailboxMode);
    expect(await mailboxMode.isChecked()).toBe(true);
    // A custom server: the mailbox's own submission port, typed in; a wrong password is refused by the test.
    await smtp.getByLabel('Another SMTP server').check();
    await smtp.getByLabel('SMTP server', { exact: true }).fill(dovecot.host);
    await smtp.getByLabel('SMTP port', { exact: true }).fill(String(dovecot.submissionPort));
    await smtp.getByLabel(/SMTP over SSL\/TLS/).setChecked(false);
    await smtp.getByLabel(/Username/).fill(mailbox.user);
    await smtp.getByLabel('Password', { exact: true }).fill('wrong smtp password');
    await smtp.getByRole('button', { name: 'Save' }).click();
    await shows(smtp.locator('[data-error-code="AUTH_FAILED"]'));
    await smtp.getByLabel(/Your mailbox’s own SMTP server/).check();
    await smtp.getByRole('button', { name: 'Save' }).click();
    await shows(smtp.getByText('Saved.'));
    expect(
      (
        await conversa.api(
          'GET',
          `/api/email-accounts/${(await conversa.api('GET', '/api/email-accounts', undefined, crmUser.token)).body.items[0].id}/smtp`,
          undefined,
          crmUser.token,
        )
      ).body.mode,
    ).toBe('mailbox');
    await shows(smtp.getByRole('heading', { name: 'Deliverability' }));
    await smtp.getByRole('button', { name: 'Close' }).click();

    // Criação automática de contatos: off by default, saved at once.
    const autoCreate = page.getByRole('switch', { name: 'Automatic contact creation' });
    const saved = async () =>
      (await conversa.api('GET', '/api/me/settings', undefined, crmUser.token)).body.autoCreateContacts as boolean;
    expect(await autoCreate.isChecked()).toBe(false);
    await autoCreate.click();
    await expect.poll(() => autoCreate.isChecked()).toBe(true);
    await expect.poll(saved).toBe(true);
    // Saved and settled (the switch is disabled while saving), then back off.
    await expect.poll(() => autoCreate.isEnabled()).toBe(true);
    await autoCreate.click();
    await expect.poll(() => autoCreate.isChecked()).toBe(false);
    await expect.poll(saved).toBe(false);
    await expect.poll(() => autoCreate.isEnabled()).toBe(true);
  }, 60_000);

  it('explains that one-way sync needs the Pro or Enterprise plan', async () => {
    const before = (await conversa.api('GET', '/api/org')).body.plan;
    expect((await conversa.api('PATCH', '/api/org', { plan: 'growth' })).status).toBe(200);
    try {
      const other = await dovecot.addUser();
      await go(page, '/settings/email');
      await page.getByRole('button', { name: 'Connect email' }).first().click();
      const form = page.getByTestId('connect-form');
      await form.getByLabel('Email service', { exact: true }).selectOption('other');
      await form.getByLabel('Email address', { exact: true }).fill(other.user);
      await form.getByLabel('Password', { exact: true }).fill(other.password);
      await pointAtDovecot(form);
      await hasText(
        form.locator('.sync-mode'),
        'Available on the Pro and Enterprise plans. Your organisation is on Growth.',
      );
      await form.getByLabel(/One-way sync/).check();
      await form.getByRole('button', { name: 'Connect' }).click();
      const refused = form.locator('[data-error-code="PLAN_REQUIRED"]');
      await hasText(refused, 'One-way sync is not part of your plan');
      await hasText(refused, 'your organisation is on Growth');
      await refused.getByRole('button', { name: 'Use two-way sync' }).click();
      await expect.poll(() => form.getByLabel(/Two-way sync/).isChecked()).toBe(true);
      await hasCount(refused, 0);
      await form.getByRole('button', { name: 'Cancel' }).click();
      await hasCount(page.locator('article[data-account-email]'), 1);
    } finally {
      await conversa.api('PATCH', '/api/org', { plan: before });
    }
  }, 60_000);

  it('imports contacts from a CSV file and reports each refused line', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('button', { name: 'Import CSV' }).click();
    const csv = [
      'First Name,Last Name,Email,Company',
      `Bruno,Lima,bruno.${tag}@client.test,Acme`,
      'Nobody,Here,not-an-address,Acme',
      `Carla,Dias,carla.${tag}@client.test;carla2.${tag}@client.test,`,
    ].join('\n');
    await page
      .getByLabel('CSV file')
      .setInputFiles({ name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const result = page.getByTestId('import-result');
    await hasText(result, '2 created, 1 skipped.');
    await hasText(result, /Lines not imported:\s*Line 3: /);
    // The list shows them at once; search finds one.
    await shows(page.getByRole('link', { name: /Carla Dias/ }));
    await page.getByLabel('Search contacts').fill('Bruno');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await hasCount(page.getByRole('list', { name: 'Contacts' }).getByRole('listitem'), 1);
    await hasText(page.getByRole('list', { name: 'Contacts' }), `bruno.${tag}@client.test`);
  }, 60_000);

  it("creates a meeting with a contact: written to the calendar, listed, and on the contact's timeline", async () => {
    // A second mailbox whose calendar is on Radicale (same user and password), connected through the API.
    const calendarBox = await dovecot.addUser();
    const calendarCreds = await radicale.addUser({ user: calendarBox.user, password: calendarBox.password });
    const auth = radicale.authHeader(calendarCreds);
    const calendarUrl = `${radicale.principalUrl(calendarBox.user)}work/`;
    const made = await fetch(calendarUrl, { method: 'MKCALENDAR', headers: { Authorization: auth } });
    await made.arrayBuffer();
    expect(made.status).toBe(201);
    const connected = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, calendarBox, { caldavUrl: radicale.principalUrl(calendarBox.user) }),
      crmUser.token,
    );
    expect(connected.status, connected.text).toBe(201);

    const title = `Kick-off ${tag}`;
    await go(page, '/meetings');
    await page.getByRole('button', { name: 'New meeting' }).click();
    await page.getByLabel('Calendar of').selectOption({ label: calendarBox.user });
    await page.getByLabel('Title', { exact: true }).fill(title);
    await page.getByLabel('Location', { exact: true }).fill('Sala 3');
    await page.getByLabel('Add a contact').fill(contact.first);
    await page.getByRole('button', { name: `+ ${contact.first} ${contact.last} <${contact.email}>` }).click();
    await hasText(page.getByRole('list', { name: 'Chosen attendees' }), contact.email);
    await page.getByRole('button', { name: 'Create meeting' }).click();
    await shows(page.getByText(`Meeting “${title}” created`));
    const upcoming = page.getByRole('list', { name: 'Upcoming' });
    await hasText(upcoming, title);
    await hasText(upcoming, 'Sala 3');
    await hasText(upcoming, contact.email);

    // On the CalDAV server, with the contact invited.
    const listing = await fetch(calendarUrl, { method: 'PROPFIND', headers: { Authorization: auth, Depth: '1' } });
    const hrefs = [...(await listing.text()).matchAll(/<(?:\w+:)?href>([^<]+\.ics)<\/(?:\w+:)?href>/g)].map(
      (m) => m[1]!,
    );
    const objects = await Promise.all(
      hrefs.map(async (href) => (await fetch(new URL(href, calendarUrl), { headers: { Authorization: auth } })).text()),
    );
    const written = objects.find((ics) => ics.includes(`SUMMARY:${title}`));
    expect(written).toBeDefined();
    expect(written!.replace(/\r\n /g, '')).toMatch(
      new RegExp(`ATTENDEE[^\\r\\n]*mailto:${contact.email.replace(/\./g, '\\.')}`, 'i'),
    );

    // On Ana's timeline, beside her mail.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('link', { name: new RegExp(`${contact.first} ${contact.last}`) }).click();
    await shows(page.getByText(title));
    await shows(page.getByRole('link', { name: proposalSubject, exact: true }));
  }, 60_000);

  it('screenshots the main pages in English and in Brazilian Portuguese (switched in Settings)', async () => {
    await go(page, '/meetings');
    await shows(page.getByRole('heading', { level: 1, name: 'Meetings' }));
    // Meetings routes may not exist on this server yet: the page says so instead of failing.
    await shows(page.getByTestId('meetings-unavailable').or(page.getByRole('heading', { name: 'Upcoming' })));
    await shoot(page, 'meetings.en');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Interface language').selectOption('pt-BR');
    await shows(page.getByRole('heading', { level: 1, name: 'Configurações' }));
    expect(await page.locator('html').getAttribute('lang')).toBe('pt-BR');
    // Kept by the server: a reload stays in Portuguese.
    await page.reload();
    await shows(page.getByRole('navigation', { name: 'Principal' }).getByRole('link', { name: /Caixa de entrada/ }));

    await page.getByRole('link', { name: 'Abrir configurações de e-mail' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Configurações de e-mail' }));
    const card = page.locator(`article[data-account-email="${mailbox.user}"]`);
    await shows(card.getByRole('button', { name: 'Editar', exact: true }));
    await shows(card.getByRole('button', { name: 'Editar SMTP' }));
    await shows(card.getByRole('button', { name: 'Excluir' }));
    expect(await page.getByLabel('Criação automática de contatos').isChecked()).toBe(false);
    await shoot(page, 'settings-email.pt-BR');

    await page
      .getByRole('navigation', { name: 'Principal' })
      .getByRole('link', { name: /Caixa de entrada/ })
      .click();
    await shows(page.getByRole('heading', { level: 1, name: 'Caixa de entrada' }));
    await hasCount(
      page.getByRole('list', { name: 'E-mails recebidos, mais recentes primeiro' }).getByRole('listitem'),
      2,
    );
    await shoot(page, 'inbox.pt-BR');
    await page.getByRole('link', { name: new RegExp(proposalSubject) }).click();
    await shows(page.getByRole('button', { name: 'Responder', exact: true }).last());
    await hasCount(page.getByRole('list', { name: /mensagens/ }).getByRole('article'), 2);
    await shoot(page, 'thread.pt-BR');
    await page.getByRole('link', { name: `${contact.first} ${contact.last}` }).click();
    await shows(page.getByRole('heading', { name: 'Linha do tempo' }));
    await shows(page.getByRole('link', { name: `Re: ${proposalSubject}` }));
    await shoot(page, 'contact.pt-BR');
    await page.getByRole('navigation', { name: 'Principal' }).getByRole('link', { name: 'Reuniões' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Reuniões' }));
    await shoot(page, 'meetings.pt-BR');

    // On a phone-sized screen.
    await page.setViewportSize({ width: 390, height: 844 });
    await go(page, '/inbox');
    await shows(page.getByRole('heading', { level: 1, name: 'Caixa de entrada' }));
    await shoot(page, 'inbox-phone.pt-BR');

    // Signed out, the browser's language decides: a Portuguese browser gets the Portuguese sign-in page.
    const visitor = await browser.newContext({ locale: 'pt-BR', viewport: { width: 1280, height: 860 } });
    try {
      const anonymous = await visitor.newPage();
      await go(anonymous, '/login');
      await shows(anonymous.getByRole('heading', { name: 'Entrar' }));
      await shows(anonymous.getByLabel('Senha'));
      await shoot(anonymous, 'login.pt-BR');
    } finally {
      await visitor.close();
    }
    expect(consoleProblems).toEqual([]);
  }, 60_000);
});
