// Rich compose end to end, in Debian's Chromium driven by playwright-core, against an in-process Conversa and the
// suite's Dovecot (its submission relays to the harness's SMTP sink): a signature written in Settings with the
// rich editor, found in compose and swapped with the sending mailbox, bold text typed with the toolbar, sent with
// Ctrl+Enter, and the relayed bytes checked (text/html with <strong> and the signature, a text/plain part); a
// hostile paste that must leave nothing active in the editor; the send later menu; a template rendered by the real
// server for the contact, scheduled with a reminder and tracking (then cancelled); screenshots of compose in
// English and Brazilian Portuguese (test-artifacts/screenshots/).
// The tests run in order and share one browser page.
//
// Needs the built web app (dist/web, `npm run build`) and /usr/bin/chromium.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import PostalMime from 'postal-mime';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot, type Credentials, type SinkMessage } from '../support/servers.js';
import { CHROMIUM, CHROMIUM_ARGS, WAIT_MS, WEB_INDEX, shows } from '../support/chromium.js';

const dovecot = useDovecot();

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
// The API's own 4xx answers the app causes on purpose (the signed-out probe).
// Chromium also reports the pasted image's onerror as blocked by the app's CSP: the paste is parsed in an inert
// document (DOMParser), where the broken image fails and its handler is refused; nothing runs or loads either way,
// and it never reaches the page (the test checks both).
const EXPECTED_CONSOLE = [
  /Failed to load resource: the server responded with a status of 401/,
  /Executing inline event handler violates the following Content Security Policy/,
];

const tag = Math.random().toString(36).slice(2, 8);
const subject = `Rich news ${tag}`;
const recipient = `client.${tag}@buyer.test`;

async function hasText(locator: Locator, text: string, timeout = WAIT_MS): Promise<void> {
  await expect
    .poll(async () => ((await locator.count()) > 0 ? ((await locator.first().textContent()) ?? '') : ''), {
      timeout,
      interval: 100,
    })
    .toContain(text);
}

function subjectOf(m: SinkMessage): string | null {
  const raw = m.raw.toString('utf8');
  const end = raw.search(/\r?\n\r?\n/);
  return /^Subject:\s*(.*)$/im.exec(end < 0 ? raw : raw.slice(0, end))?.[1]?.trim() ?? null;
}

describe('rich compose in Chromium', () => {
  let conversa: TestConversa;
  let browser: Browser;
  let page: Page;
  let user: { email: string; token: string };
  let first: Credentials;
  let second: Credentials;
  let secondId: string;
  const consoleProblems: string[] = [];

  const shoot = async (name: string) => {
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  };
  const go = (route: string) => page.goto(`${conversa.url}${route}`);
  const openCompose = async (name = 'New email') => {
    await go('/inbox');
    await page.getByRole('button', { name, exact: true }).click();
    const form = page.getByRole('form', { name });
    await shows(form.getByRole('textbox', { name: /Message|Mensagem/ }));
    return form;
  };

  beforeAll(async () => {
    if (!fs.existsSync(WEB_INDEX)) throw new Error(`The web app is not built (${WEB_INDEX}): run \`npm run build\`.`);
    if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}.`);
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    conversa = await startTestConversa();
    user = await conversa.addUser({ displayName: 'Bruno Lima' });
    // Two mailboxes of the user's, connected through the API (the connect form has its own suite).
    first = await dovecot.addUser();
    second = await dovecot.addUser();
    const a = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, first), user.token);
    expect(a.status, a.text).toBe(201);
    const b = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, second), user.token);
    expect(b.status, b.text).toBe(201);
    secondId = b.body.id;
    const signed = await conversa.api(
      'PATCH',
      `/api/email-accounts/${secondId}`,
      { signatureHtml: '<p>Carla Team <em>support desk</em></p>' },
      user.token,
    );
    expect(signed.status, signed.text).toBe(200);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(WAIT_MS);
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() !== 'error' && message.type() !== 'warning') return;
      if (EXPECTED_CONSOLE.some((re) => re.test(message.text()))) return;
      consoleProblems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => consoleProblems.push(`pageerror: ${error.message}`));

    await go('/inbox');
    await shows(page.getByRole('heading', { name: 'Sign in' }));
    await page.getByLabel('Email').fill(user.email);
    await page.getByLabel('Password', { exact: true }).fill('crm user password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Inbox' }));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await conversa?.stop();
  });

  it('writes a signature in Settings with the rich editor; the API keeps it sanitised', async () => {
    await go('/settings/email');
    const card = page.locator(`article[data-account-email="${first.user}"]`);
    await card.getByRole('button', { name: 'Signature', exact: true }).click();
    const editor = card.getByRole('textbox', { name: `Signature of ${first.user}` });
    await editor.click();
    await page.keyboard.type('Bruno Lima');
    await page.keyboard.press('Enter');
    await card.getByRole('button', { name: 'Italic' }).click();
    await page.keyboard.type('Sales, Conversa Ltd');
    await card.getByRole('button', { name: 'Save', exact: true }).click();
    await shows(card.getByText('Signature saved.'));
    await shoot('settings-signature.en');

    const account = (await conversa.api('GET', '/api/email-accounts', undefined, user.token)).body.items.find(
      (a: any) => a.email === first.user,
    );
    expect(account.signatureHtml).toContain('Bruno Lima');
    expect(account.signatureHtml).toContain('<em>Sales, Conversa Ltd</em>');
  }, 60_000);

  it('puts the signature in compose, swaps it with the mailbox, and sends bold text with Ctrl+Enter', async () => {
    const form = await openCompose();
    const editor = form.getByRole('textbox', { name: 'Message' });
    await form.getByLabel('From').selectOption({ label: first.user });
    const signature = editor.locator('[data-signature]');
    await hasText(signature, 'Bruno Lima');
    // Another mailbox, another signature; and back.
    await form.getByLabel('From').selectOption({ label: second.user });
    await hasText(signature, 'Carla Team');
    await expect.poll(() => editor.locator('[data-signature]').count()).toBe(1);
    expect(await signature.textContent()).not.toContain('Bruno');
    await form.getByLabel('From').selectOption({ label: first.user });
    await hasText(signature, 'Bruno Lima');
    // The user may take it out and put it back.
    await form.getByRole('button', { name: 'Remove signature' }).click();
    await expect.poll(() => editor.locator('[data-signature]').count()).toBe(0);
    await form.getByRole('button', { name: 'Add signature' }).click();
    await hasText(signature, 'Bruno Lima');

    // No templates yet (they are made in a later test): the picker says so instead of failing.
    await shows(form.getByText(/No templates yet/));

    await form.getByLabel('To', { exact: true }).fill(recipient);
    await form.getByLabel('Subject').fill(subject);
    // Type into the body's first paragraph, above the signature.
    await editor.locator('p').first().click();
    await page.keyboard.press('Control+Home');
    await page.keyboard.type('Hello Ana, ');
    await form.getByRole('button', { name: 'Bold' }).click();
    expect(await form.getByRole('button', { name: 'Bold' }).getAttribute('aria-pressed')).toBe('true');
    await page.keyboard.type('important');
    await form.getByRole('button', { name: 'Bold' }).click();
    await page.keyboard.type(' news.');
    expect(await editor.innerHTML()).toContain('<strong>important</strong>');
    await shoot('compose.en');

    await page.keyboard.press('Control+Enter');
    await shows(page.locator('[data-send-status]'));

    const relayed = await dovecot.waitForSinkMessage((m) => subjectOf(m) === subject, 20_000);
    expect(relayed.rcptTo.map((a) => a.toLowerCase())).toEqual([recipient]);
    const raw = relayed.raw.toString('utf8');
    expect(raw).toMatch(/Content-Type: text\/html/i);
    expect(raw).toMatch(/Content-Type: text\/plain/i);
    const parsed = await parseMessage(relayed.raw);
    // The HTML as sent (parseMessage's copy is sanitised for display, which drops data- attributes).
    const sentHtml = (await PostalMime.parse(relayed.raw)).html ?? '';
    expect(sentHtml).toContain('<p>Hello Ana, <strong>important</strong> news.</p>');
    expect(sentHtml).toMatch(/<div data-signature="">[\s\S]*Bruno Lima[\s\S]*<em>Sales, Conversa Ltd<\/em>/);
    // Nothing piled up between the body and the signature while it was swapped three times.
    expect(sentHtml).toMatch(/news\.<\/p>(?:<p><\/p>)?<div data-signature=""><p>--/);
    expect(parsed.text).toContain('Hello Ana, important news.');
    expect(parsed.text).toContain('-- \nBruno Lima\nSales, Conversa Ltd');
    expect(parsed.text).not.toContain('<');
  }, 90_000);

  it('cleans a hostile paste: no script, no event handler, no style, no javascript: link', async () => {
    const form = await openCompose();
    const editor = form.getByRole('textbox', { name: 'Message' });
    await editor.locator('p').first().click();
    const requested: string[] = [];
    const onRequest = (request: { url(): string }) => requested.push(request.url());
    page.on('request', onRequest);
    const hostile =
      `<p style="color:red" onclick="window.__pwned='onclick'">Pasted words ${tag}</p>` +
      `<img src=x onerror="window.__pwned='onerror'">` +
      `<script>window.__pwned='script'</script>` +
      `<a href="javascript:window.__pwned='href'">a js link</a> <a href="https://example.com/ok">a good link</a>` +
      `<iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>` +
      `<img src="data:image/png;base64,iVBORw0KGgo=" alt="logo">` +
      `<div data-signature=""><p>Copied signature ${tag}</p></div>`;
    // What a browser does on Ctrl+V, as a script can: a paste event carrying the clipboard's HTML. (The suite is
    // typed without the DOM library; the page has it.)
    await editor.evaluate((element, html) => {
      const dom = globalThis as unknown as {
        DataTransfer: new () => { setData(type: string, value: string): void };
        ClipboardEvent: new (type: string, init: object) => Event;
      };
      const data = new dom.DataTransfer();
      data.setData('text/html', html);
      data.setData('text/plain', 'Pasted words');
      element.dispatchEvent(new dom.ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, hostile);
    await hasText(editor, `Pasted words ${tag}`);
    const html = await editor.innerHTML();
    expect(html).toContain('href="https://example.com/ok"');
    expect(html).toContain('src="data:image/png;base64,iVBORw0KGgo="');
    expect(html).not.toMatch(/<script|onerror|onclick|javascript:|<iframe|srcdoc|style="color/i);
    expect(html).not.toContain('src="x"');
    // A signature copied from another message is text, not this mailbox's signature block.
    await hasText(editor, `Copied signature ${tag}`);
    expect(await editor.locator('[data-signature]').count()).toBe(1);
    expect(await editor.locator('[data-signature]').textContent()).not.toContain('Copied signature');
    // Nothing of it ran, then or since.
    await page.waitForTimeout(300);
    expect(await page.evaluate('window.__pwned ?? null')).toBeNull();
    page.off('request', onRequest);
    // The broken image was never fetched (from the page or from the inert document the paste was parsed in).
    expect(requested.filter((url) => /\/x$/.test(url))).toEqual([]);
    await form.getByRole('button', { name: 'Cancel' }).click();
  }, 60_000);

  it('offers send later (1 h, tomorrow, Monday, a picked time) and refuses a time in the past', async () => {
    const form = await openCompose();
    await form.getByLabel('To', { exact: true }).fill(recipient);
    await form.getByLabel('Subject').fill(`Later ${tag}`);
    await form.getByRole('button', { name: 'Send later' }).click();
    const menu = form.getByRole('group', { name: 'When to send' });
    await shows(menu.getByRole('button', { name: 'In 1 hour' }));
    await shows(menu.getByRole('button', { name: 'Tomorrow at 08:00' }));
    await shows(menu.getByRole('button', { name: 'Monday at 08:00' }));
    await menu.getByLabel('Pick a date and time').fill('2020-01-01T08:00');
    await menu.getByRole('button', { name: 'Schedule' }).click();
    await hasText(form.getByRole('alert'), 'Pick a time in the future.');
    await shoot('compose-send-later.en');
    await form.getByRole('button', { name: 'Cancel' }).click();
  }, 60_000);

  // Templates, scheduling, reminders and tracking answered by the real server (no route stand-ins): what compose
  // asks and sends is checked in what the server keeps (the scheduled list, the reminder), then the message is
  // cancelled so it never leaves. email-work.test.ts lets one leave.
  it('inserts a template rendered for the contact, and schedules with a reminder and tracking as the contract names them', async () => {
    const contact = await conversa.api(
      'POST',
      '/api/contacts',
      { firstName: 'Ana', lastName: 'Souza', emails: [`ana.${tag}@client.test`] },
      user.token,
    );
    expect(contact.status, contact.text).toBe(201);
    const contactId: string = contact.body.id;
    // Templates as the user makes them (the templates page has its own test); the admin's shared one.
    const welcome = await conversa.api('POST', '/api/templates', {
      name: `Welcome ${tag}`,
      subject: 'Welcome {{contact.firstName}}',
      html: '<p>Hi {{contact.firstName | "there"}}, <strong>welcome</strong>.</p>',
      shared: true,
    });
    expect(welcome.status, welcome.text).toBe(201);
    const unfilled = await conversa.api(
      'POST',
      '/api/templates',
      { name: `Unfilled ${tag}`, subject: '', html: '<p>Dear {{contact.company}}</p>' },
      user.token,
    );
    expect(unfilled.status, unfilled.text).toBe(201);
    const tracking = await conversa.api('PATCH', '/api/me/settings', { trackingEnabled: true }, user.token);
    expect(tracking.status, tracking.text).toBe(200);
    const posted: any[] = [];
    const onRequest = (request: { url(): string; method(): string; postDataJSON(): any }) => {
      if (request.method() === 'POST' && new URL(request.url()).pathname === '/api/messages')
        posted.push(request.postDataJSON());
    };
    page.on('request', onRequest);
    try {
      await go(`/contacts/${contactId}`);
      await page.getByRole('button', { name: 'Send email', exact: true }).click();
      const form = page.getByRole('form', { name: 'Send email' });
      const editor = form.getByRole('textbox', { name: 'Message' });
      await shows(editor);
      await form.getByLabel('From').selectOption({ label: first.user });
      await hasText(editor.locator('[data-signature]'), 'Bruno Lima');

      // A template left with a merge field the contact has no value for: warned, and sending is blocked.
      await form.getByLabel('Template').selectOption({ label: `Unfilled ${tag}` });
      await form.getByRole('button', { name: 'Insert', exact: true }).click();
      await hasText(form.getByTestId('template-missing'), 'contact.company');
      await hasText(editor, 'Dear {{contact.company}}');
      await form.getByLabel('Subject').fill(`Welcome ${tag}`);
      await form.getByRole('button', { name: 'Send', exact: true }).click();
      await hasText(form.getByRole('alert').filter({ hasText: 'merge fields' }), 'replace them before sending');
      expect(posted).toEqual([]);
      // The user deletes it all and starts again with the other template.
      await editor.locator('p', { hasText: 'Dear' }).click({ clickCount: 3 });
      await page.keyboard.press('Backspace');
      await expect.poll(async () => (await editor.textContent()) ?? '').not.toContain('{{');
      await form.getByLabel('Subject').fill('');

      await form.getByLabel('Template').selectOption({ label: `Welcome ${tag} (shared)` });
      await form.getByRole('button', { name: 'Insert', exact: true }).click();
      await hasText(editor, 'Hi Ana, welcome.');
      expect(await form.getByLabel('Subject').inputValue()).toBe('Welcome Ana');
      // The signature stays below what was inserted.
      expect(await editor.innerHTML()).toMatch(/welcome<\/strong>\.<\/p>[\s\S]*<div data-signature="">/);

      // Tracking, on by default once the user turned it on; a reminder in 5 days; then "In 1 hour".
      expect(await form.getByLabel('Track opens').isChecked()).toBe(true);
      await form.getByLabel('Track link clicks').setChecked(false);
      await form.getByLabel('Remind me if no reply in').setChecked(true);
      await form.getByLabel('days').fill('5');
      await form.getByRole('button', { name: 'Send later' }).click();
      const before = Date.now();
      await form.getByRole('button', { name: 'In 1 hour' }).click();
      await shows(page.locator('[data-send-status="scheduled"]'));
      await hasText(page.locator('[data-send-status="scheduled"]'), 'Scheduled for');
      await shows(page.getByRole('link', { name: 'See scheduled mail' }));

      expect(posted).toHaveLength(1);
      const sent = posted[0];
      expect(sent).toMatchObject({
        to: [`ana.${tag}@client.test`],
        subject: 'Welcome Ana',
        templateId: welcome.body.id,
        contactId,
        remindIfNoReplyDays: 5,
        track: { opens: true, clicks: false },
      });
      expect(sent.html).toContain('Hi Ana, <strong>welcome</strong>.');
      expect(sent.html).not.toContain('{{');
      expect(sent.text).toBeUndefined();
      const sendAt = Date.parse(sent.sendAt);
      expect(sendAt).toBeGreaterThanOrEqual(before + 3_590_000);
      expect(sendAt).toBeLessThanOrEqual(Date.now() + 3_610_000);

      // What the server made of it: waiting in the scheduled list at that time, with its reminder.
      const scheduled = await conversa.api('GET', '/api/messages/scheduled', undefined, user.token);
      expect(scheduled.status, scheduled.text).toBe(200);
      const mine = scheduled.body.items.find((m: any) => m.subject === 'Welcome Ana');
      expect(mine).toBeDefined();
      expect(Date.parse(mine.sendAt)).toBe(sendAt);
      expect(mine.contactIds).toContain(contactId);
      const reminders = await conversa.api('GET', '/api/reminders', undefined, user.token);
      expect(reminders.body.items.filter((r: any) => r.messageId === mine.id)).toMatchObject([{ state: 'waiting' }]);
      // Cancelled before its time: it never leaves.
      const cancelled = await conversa.api('DELETE', `/api/messages/${mine.id}`, undefined, user.token);
      expect(cancelled.status, cancelled.text).toBe(204);
    } finally {
      page.off('request', onRequest);
    }
  }, 60_000);

  it('shows compose in Brazilian Portuguese', async () => {
    const res = await conversa.api('PATCH', '/api/me/settings', { locale: 'pt-BR' }, user.token);
    expect(res.status, res.text).toBe(200);
    const form = await openCompose('Novo e-mail');
    await shows(form.getByRole('toolbar', { name: 'Formatação' }));
    await shows(form.getByRole('button', { name: 'Negrito' }));
    await shows(form.getByRole('button', { name: 'Remover assinatura' }));
    await hasText(form.getByRole('textbox', { name: 'Mensagem' }).locator('[data-signature]'), 'Bruno Lima');
    await form.getByRole('button', { name: 'Enviar mais tarde' }).click();
    await shows(form.getByRole('button', { name: 'Daqui a 1 hora' }));
    await shoot('compose.pt-BR');
  }, 60_000);

  it('logged no unexpected console error', () => {
    expect(consoleProblems).toEqual([]);
  });
});
