// Issue 15 end to end, in Debian's Chromium driven by playwright-core, against the real merged servers (an
// in-process Conversa on SQLite with its outbox worker, sync and live feed) and the suite's Dovecot, whose
// submission relays to the harness's SMTP sink. Nothing the browser asks is answered by a stand-in:
//   a. a template with merge fields made on Settings › Templates and a signature written in Settings; compose from
//      the contact's page, the template merged for the contact above the signature; "Send later" at a picked time
//      ~15 s ahead; "Scheduled for …", the Scheduled list, and without a reload the message leaving it; the sink
//      got it once, merged, signed, with a text/plain part and a Date not before the time picked;
//   b. the live inbox: with an earlier unread mail counted in the navigation, a mail delivered into the Dovecot INBOX
//      shows up unread without a reload and the count goes up; opened, it is read, the count goes down and Dovecot has \Seen;
//   c. screenshots of compose with template and signature, the scheduled list and the live inbox with the new mail,
//      in English and Brazilian Portuguese (test-artifacts/screenshots/email-work-*.png).
// The tests run in order and share one browser page.
//
// Needs the built web app (dist/web, `npm run build`) and /usr/bin/chromium.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ImapFlow } from 'imapflow';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { launchChromium, shows, signInToInbox, WAIT_MS, watchedPage } from '../support/chromium.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage } from '../support/make-message.js';
import { useDovecot, type Credentials, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

const SCREENSHOTS = fileURLToPath(new URL('../../test-artifacts/screenshots/', import.meta.url));
// The API's own 4xx answers the app causes on purpose (the signed-out probe before signing in).
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of 401/];
// Generous guards for what runs on its own time (the outbox worker, IDLE and the sync), never timing assertions.
const LEAVE_MS = 120_000;
const LIVE_MS = 60_000;

const tag = Math.random().toString(36).slice(2, 8);
const contact = { firstName: 'Marina', lastName: 'Costa', email: `marina.${tag}@client.test` };
const templateName = `Plan ${tag}`;
const greeting = `Hi Marina, here is the plan ${tag}.`;

async function hasText(locator: Locator, text: string, timeout = WAIT_MS): Promise<void> {
  await expect
    .poll(async () => ((await locator.count()) > 0 ? ((await locator.first().textContent()) ?? '') : ''), {
      timeout,
      interval: 100,
    })
    .toContain(text);
}

function headerOf(m: SinkMessage, name: string): string | null {
  const raw = m.raw.toString('utf8');
  const end = raw.search(/\r?\n\r?\n/);
  const head = end < 0 ? raw : raw.slice(0, end);
  return new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? null;
}

/** The unread count in the navigation: absent when nothing is unread. */
async function unreadCount(page: Page): Promise<number> {
  const badge = page.getByTestId('unread-count');
  if ((await badge.count()) === 0) return 0;
  return Number(((await badge.first().textContent()) ?? '0').trim());
}

/** The navigation's count once it agrees with the server's (it is fetched apart from the page). */
async function settledUnreadCount(page: Page, conversa: TestConversa, token: string): Promise<number> {
  const answer = await conversa.api('GET', '/api/inbox/unread-count', undefined, token);
  const unread: number = answer.body.unread;
  await expect.poll(() => unreadCount(page), { timeout: WAIT_MS }).toBe(unread);
  return unread;
}

describe('email work (issue 15) in Chromium against the real servers', () => {
  let conversa: TestConversa;
  let browser: Browser;
  let page: Page;
  let user: { email: string; token: string };
  let mailbox: Credentials;
  let contactId: string;
  const consoleProblems: string[] = [];

  const shoot = async (name: string) => {
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: `${SCREENSHOTS}email-work-${name}.png`, fullPage: true });
  };
  const go = (route: string) => page.goto(`${conversa.url}${route}`);

  /** From the contact's page: compose, the mailbox picked, the template inserted; returns the form. */
  const composeFromTemplate = async (labels: { sendMail: string; template: string; insert: string }) => {
    await go(`/contacts/${contactId}`);
    await page.getByRole('button', { name: labels.sendMail, exact: true }).click();
    const form = page.getByRole('form', { name: labels.sendMail });
    const editor = form.getByRole('textbox', { name: /^(Message|Mensagem)$/ });
    await shows(editor);
    await form.getByLabel(/^(From|De)$/).selectOption({ label: mailbox.user });
    await hasText(editor.locator('[data-signature]'), 'Bruno Lima');
    await form.getByLabel(labels.template, { exact: true }).selectOption({ label: templateName });
    await form.getByRole('button', { name: labels.insert, exact: true }).click();
    await hasText(editor, greeting);
    return { form, editor };
  };

  /** Delivers a mail from the contact into the mailbox's INBOX, as the MTA would (IDLE sessions hear of it). */
  const deliver = async (subject: string) => {
    const raw = makeMessage({
      from: `${contact.firstName} ${contact.lastName} <${contact.email}>`,
      to: [mailbox.user],
      subject,
      body: `New words from Marina (${tag}).`,
    });
    await dovecot.appendAsDelivered(mailbox.user, raw);
  };

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    conversa = await startTestConversa();
    user = await conversa.addUser({ displayName: 'Bruno Lima' });
    const made = await conversa.api(
      'POST',
      '/api/contacts',
      { firstName: contact.firstName, lastName: contact.lastName, emails: [contact.email] },
      user.token,
    );
    expect(made.status, made.text).toBe(201);
    contactId = made.body.id;
    // One unread mail from before, so the navigation shows an unread count before the live one comes.
    mailbox = await dovecot.addUser();
    await dovecot.fillMailbox(mailbox.user, 'INBOX', [
      makeMessage({
        from: `${contact.firstName} ${contact.lastName} <${contact.email}>`,
        to: [mailbox.user],
        subject: `Earlier words ${tag}`,
      }),
    ]);
    const account = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, mailbox), user.token);
    expect(account.status, account.text).toBe(201);
    // The first sync done, so the inbox's IDLE is what brings the delivered mail later.
    await waitFor(
      'the first sync of the mailbox',
      async () => {
        const list = await conversa.api('GET', '/api/email-accounts', undefined, user.token);
        const mine = list.body.items.find((a: any) => a.email === mailbox.user);
        if (mine?.status !== 'active' || mine.lastSyncedAt === null) return false;
        const unread = await conversa.api('GET', '/api/inbox/unread-count', undefined, user.token);
        return unread.body.unread === 1;
      },
      60_000,
      250,
    );

    browser = await launchChromium();
    page = await watchedPage(browser, EXPECTED_CONSOLE, consoleProblems);
    await signInToInbox(page, conversa.url, user.email);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await conversa?.stop();
  });

  it('makes a template with merge fields on Settings › Templates and a signature in Settings', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('link', { name: 'Manage templates' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Templates' }));
    await page.getByRole('button', { name: 'New template' }).click();
    const editor = page.getByTestId('template-editor');
    await editor.getByLabel('Name', { exact: true }).fill(templateName);
    await editor.getByLabel('Subject', { exact: true }).fill(`The plan for {{contact.firstName}} ${tag}`);
    await editor
      .getByLabel('Message (HTML)')
      .fill(
        `<p>Hi {{contact.firstName | "there"}}, here is the plan ${tag}.</p><p>It starts {{contact.company | "soon"}}.</p>`,
      );
    await editor.getByRole('button', { name: 'Save', exact: true }).click();
    await shows(page.getByText(`Template “${templateName}” saved.`));
    const templates = await conversa.api('GET', '/api/templates', undefined, user.token);
    expect(templates.body.items.map((t: any) => t.name)).toContain(templateName);

    await go('/settings/email');
    const card = page.locator(`article[data-account-email="${mailbox.user}"]`);
    await card.getByRole('button', { name: 'Signature', exact: true }).click();
    const signature = card.getByRole('textbox', { name: `Signature of ${mailbox.user}` });
    await signature.click();
    await page.keyboard.type('Bruno Lima');
    await page.keyboard.press('Enter');
    await page.keyboard.type(`Sales ${tag}`);
    await card.getByRole('button', { name: 'Save', exact: true }).click();
    await shows(card.getByText('Signature saved.'));
  }, 60_000);

  it('composes from the template with the signature, sends it later, and sees it leave once, after its time', async () => {
    const { form, editor } = await composeFromTemplate({
      sendMail: 'Send email',
      template: 'Template',
      insert: 'Insert',
    });
    const subject = `The plan for Marina ${tag}`;
    expect(await form.getByLabel('Subject').inputValue()).toBe(subject);
    // The fallback filled the field the contact has no value for; the signature stays below the merged text.
    await hasText(editor, 'It starts soon.');
    expect(await editor.innerHTML()).toMatch(/It starts soon\.<\/p>[\s\S]*<div data-signature="">[\s\S]*Bruno Lima/);
    expect(await editor.textContent()).not.toContain('{{');
    await shoot('compose.en');

    await form.getByRole('button', { name: 'Send later' }).click();
    const menu = form.getByRole('group', { name: 'When to send' });
    // ~15 s ahead, in the browser's local time, with seconds (Chromium keeps a value's seconds unless they are 00).
    let target = Math.floor((Date.now() + 15_000) / 1000) * 1000;
    if (new Date(target).getSeconds() === 0) target += 1000;
    const local = await page.evaluate((ms) => {
      const d = new Date(ms);
      const pad = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    }, target);
    await menu.getByLabel('Pick a date and time').fill(local);
    await menu.getByRole('button', { name: 'Schedule' }).click();
    const status = page.locator('[data-send-status="scheduled"]');
    await hasText(status, 'Scheduled for');

    // The Scheduled list, reached by the notice's link (no reload), shows it at that time.
    await status.getByRole('link', { name: 'See scheduled mail' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Scheduled mail' }));
    const item = page.getByTestId('scheduled-message').filter({ hasText: subject });
    await shows(item);
    await hasText(item, contact.email);
    const scheduled = await conversa.api('GET', '/api/messages/scheduled', undefined, user.token);
    const row = scheduled.body.items.find((m: any) => m.subject === subject);
    expect(Date.parse(row.sendAt)).toBe(target);
    await shoot('scheduled.en');

    // Without a reload: it leaves the list once the worker has sent it.
    await expect.poll(() => item.count(), { timeout: LEAVE_MS, interval: 500 }).toBe(0);
    await shows(page.getByText('No scheduled messages.'));
    const relayed = await dovecot.waitForSinkMessage((m) => headerOf(m, 'Subject') === subject, 30_000);
    expect(relayed.rcptTo.map((a) => a.toLowerCase())).toEqual([contact.email]);
    // Not before its time (the Date header has whole seconds; the time picked has none either).
    const date = Date.parse(headerOf(relayed, 'Date') ?? '');
    expect(date).toBeGreaterThanOrEqual(target);
    const raw = relayed.raw.toString('utf8');
    expect(raw).toMatch(/Content-Type: text\/plain/i);
    expect(raw).toMatch(/Content-Type: text\/html/i);
    const parsed = await parseMessage(relayed.raw);
    expect(parsed.text).toContain(greeting);
    expect(parsed.text).toContain('It starts soon.');
    expect(parsed.text).toContain(`-- \nBruno Lima\nSales ${tag}`);
    expect(parsed.text).not.toContain('{{');
    expect(parsed.html ?? '').toContain('Bruno Lima');
    // Once: nothing more arrives for it (a generous look after it left, not a timing assertion).
    await page.waitForTimeout(3_000);
    expect((await dovecot.sinkMessages()).filter((m) => headerOf(m, 'Subject') === subject)).toHaveLength(1);
    const progress = await conversa.api('GET', `/api/messages/${row.id}/send-status`, undefined, user.token);
    expect(progress.body.sendStatus).toBe('sent');
    expect(progress.body.attempts).toBe(1);
  }, 240_000);

  it('shows a newly delivered mail in the live inbox without a reload; opening it reads it, also on Dovecot', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Inbox/ }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'Inbox' }));
    await shows(page.getByRole('list', { name: 'Received mail, newest first' }));
    const before = await settledUnreadCount(page, conversa, user.token);
    expect(before).toBeGreaterThan(0);
    await shows(page.getByTestId('unread-count'));
    const subject = `News from Marina ${tag}`;
    await deliver(subject);

    const row = page.locator('li.unread').filter({ hasText: subject });
    await shows(row, LIVE_MS);
    await shows(row.getByRole('img', { name: 'Unread' }));
    await expect.poll(() => unreadCount(page), { timeout: WAIT_MS }).toBe(before + 1);
    await hasText(page.getByTestId('unread-count'), String(before + 1));
    await shoot('live-inbox.en');

    await row.getByRole('link').click();
    await shows(page.getByRole('heading', { level: 1, name: subject }));
    await expect.poll(() => unreadCount(page), { timeout: WAIT_MS }).toBe(before);

    // Written back to the mailbox as \Seen.
    const client = new ImapFlow(dovecot.imapOptions(mailbox));
    await client.connect();
    try {
      await waitFor(
        '\\Seen on the delivered mail in Dovecot',
        async () => {
          const lock = await client.getMailboxLock('INBOX');
          try {
            const uids = (await client.search({ subject }, { uid: true })) || [];
            if (uids.length !== 1) return false;
            const found = await client.fetchOne(String(uids[0]), { flags: true }, { uid: true });
            return found && found.flags?.has('\\Seen');
          } finally {
            lock.release();
          }
        },
        WAIT_MS,
        250,
      );
    } finally {
      await client.logout().catch(() => undefined);
    }
    // And the inbox shows it read (back without a reload: client-side navigation).
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Inbox/ }).click();
    await shows(page.locator(`li:not(.unread)`).filter({ hasText: subject }));
  }, 120_000);

  it('shows compose, the scheduled list and the live inbox in Brazilian Portuguese', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Interface language').selectOption('pt-BR');
    await shows(page.getByRole('heading', { level: 1, name: 'Configurações' }));
    expect(await page.locator('html').getAttribute('lang')).toBe('pt-BR');

    const { form } = await composeFromTemplate({ sendMail: 'Enviar e-mail', template: 'Modelo', insert: 'Inserir' });
    await shows(form.getByRole('button', { name: 'Remover assinatura' }));
    await shoot('compose.pt-BR');

    await form.getByRole('button', { name: 'Enviar mais tarde' }).click();
    await form.getByRole('button', { name: 'Daqui a 1 hora' }).click();
    const status = page.locator('[data-send-status="scheduled"]');
    await hasText(status, 'Agendado para');
    await status.getByRole('link', { name: 'Ver e-mails agendados' }).click();
    await shows(page.getByRole('heading', { level: 1, name: 'E-mails agendados' }));
    const item = page.getByTestId('scheduled-message').filter({ hasText: `The plan for Marina ${tag}` });
    await shows(item);
    await shows(item.getByRole('button', { name: 'Cancelar envio' }));
    await shoot('scheduled.pt-BR');
    // Not meant to leave: cancelled through the page.
    await item.getByRole('button', { name: 'Cancelar envio' }).click();
    await page.getByRole('button', { name: 'Cancelar envio' }).last().click();
    await expect.poll(() => item.count()).toBe(0);
    const scheduled = await conversa.api('GET', '/api/messages/scheduled', undefined, user.token);
    expect(scheduled.body.items).toEqual([]);

    await page
      .getByRole('navigation', { name: 'Principal' })
      .getByRole('link', { name: /Caixa de entrada/ })
      .click();
    await shows(page.getByRole('heading', { level: 1, name: 'Caixa de entrada' }));
    const before = await settledUnreadCount(page, conversa, user.token);
    const subject = `Novidades da Marina ${tag}`;
    await deliver(subject);
    const row = page.locator('li.unread').filter({ hasText: subject });
    await shows(row, LIVE_MS);
    await expect.poll(() => unreadCount(page), { timeout: WAIT_MS }).toBe(before + 1);
    await shoot('live-inbox.pt-BR');
  }, 120_000);

  it('logged no unexpected console error', () => {
    expect(consoleProblems).toEqual([]);
  });
});
