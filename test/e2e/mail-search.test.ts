// Issue 18 end to end: searching mail in the web app, in Debian's Chromium driven by playwright-core, against an
// in-process Conversa (SQLite) whose mail comes from the suite's Dovecot through a real sync:
//   a. the inbox's search: an unaccented word (reuniao) finds the mail whose body says "reunião", the hit inside a
//      <mark> of the excerpt, mail without the word not listed; an emptied search shows the inbox again;
//   b. the same in the search box above a contact's timeline, and emptying it shows the timeline again;
//   c. the abuse beside them: a colleague's PRIVATE mailbox holds a mail from the same contact with the same word
//      (his own search finds it) and it never shows in the user's results; markup, in a mail's body and as the
//      query, is shown as text: no <img> is made inside the results and no dialog opens;
//   d. the search boxes' labels in Brazilian Portuguese, once the language is switched in Settings.
// The tests run in order and share one browser page.
//
// Needs the built web app (dist/web, `npm run build`) and /usr/bin/chromium.
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, shows, signInToInbox, WAIT_MS, watchedPage } from '../support/chromium.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage } from '../support/make-message.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

// The API's own 4xx answers the app causes on purpose (the signed-out probe before signing in).
const EXPECTED_CONSOLE = [/Failed to load resource: the server responded with a status of 401/];

const tag = Math.random().toString(36).slice(2, 8);
const contact = { firstName: 'Marina', lastName: 'Costa', email: `marina.${tag}@client.test` };
const from = `${contact.firstName} ${contact.lastName} <${contact.email}>`;
const MARKUP = '<img src=x onerror=alert(1)>';
const subjects = {
  meeting: `Agenda ${tag}`,
  invoice: `Invoice ${tag}`,
  markup: `Markup ${tag}`,
  secret: `Private ${tag}`,
};

async function hasCount(locator: Locator, count: number, timeout = WAIT_MS): Promise<void> {
  await expect.poll(() => locator.count(), { timeout, interval: 100 }).toBe(count);
}

async function texts(locator: Locator): Promise<string[]> {
  return (await locator.allTextContents()).map((s) => s.trim());
}

describe('mail search (issue 18) in Chromium against the real servers', () => {
  let conversa: TestConversa;
  let browser: Browser;
  let page: Page;
  let user: { id: string; email: string; token: string };
  let colleague: { id: string; email: string; token: string };
  let contactId: string;
  const consoleProblems: string[] = [];
  const dialogs: string[] = [];

  const go = (route: string) => page.goto(`${conversa.url}${route}`);

  /** Connects a Dovecot mailbox holding `messages` for `owner` and waits for its first sync. */
  const connect = async (
    owner: { token: string },
    visibility: 'shared' | 'private',
    messages: (address: string) => string[],
  ): Promise<Credentials> => {
    const box = await dovecot.addUser();
    await dovecot.fillMailbox(box.user, 'INBOX', messages(box.user));
    const made = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, box, { visibility }),
      owner.token,
    );
    expect(made.status, made.text).toBe(201);
    await waitFor(
      `the first sync of ${box.user}`,
      async () => {
        const account = (await conversa.api('GET', `/api/email-accounts/${made.body.id}`, undefined, owner.token)).body;
        if (account.status === 'needs_reconnect' || account.status === 'error')
          throw new Error(`account ${account.status}: ${account.statusDetail}`);
        return account.status === 'active' && account.lastSyncedAt !== null;
      },
      60_000,
      250,
    );
    return box;
  };

  /** The subjects a search over the API finds for `token`. */
  const found = async (route: string, q: string, token: string): Promise<string[]> => {
    const answer = await conversa.api('GET', `${route}?q=${encodeURIComponent(q)}`, undefined, token);
    expect(answer.status, answer.text).toBe(200);
    return answer.body.items.map((m: { subject: string }) => m.subject).sort();
  };

  beforeAll(async () => {
    conversa = await startTestConversa();
    user = await conversa.addUser({ displayName: 'Bruno Lima' });
    colleague = await conversa.addUser({ displayName: 'Carla Dias' });
    const made = await conversa.api(
      'POST',
      '/api/contacts',
      { firstName: contact.firstName, lastName: contact.lastName, emails: [contact.email] },
      user.token,
    );
    expect(made.status, made.text).toBe(201);
    contactId = made.body.id;

    const hour = 3_600_000;
    const now = Date.now();
    await connect(user, 'shared', (address) => [
      makeMessage({
        from,
        to: [address],
        subject: subjects.meeting,
        body: `Bom dia! Podemos marcar a reunião de quinta-feira às 10h? (${tag})`,
        date: new Date(now - 3 * hour),
      }),
      makeMessage({
        from,
        to: [address],
        subject: subjects.invoice,
        body: `The invoice for March is attached (${tag}).`,
        date: new Date(now - 2 * hour),
      }),
      makeMessage({
        from,
        to: [address],
        subject: subjects.markup,
        body: `Look at this: ${MARKUP} <b>bold</b> <script>alert(2)</script> (${tag})`,
        date: new Date(now - hour),
      }),
    ]);
    // The colleague's private mailbox: the same contact, the same word.
    await connect(colleague, 'private', (address) => [
      makeMessage({
        from,
        to: [address],
        subject: subjects.secret,
        body: `A reunião secreta do conselho (${tag}).`,
        date: new Date(now - 30 * 60_000),
      }),
    ]);
    // Searchable (the index is written with the sync), and the colleague's own search finds his private mail: it
    // is there to leak.
    await waitFor(
      'the mail indexed for search',
      async () =>
        (await found('/api/inbox', 'reuniao', user.token)).length === 1 &&
        (await found(`/api/contacts/${contactId}/messages`, 'reuniao', colleague.token)).includes(subjects.secret),
      30_000,
      250,
    );
    expect((await conversa.api('GET', '/api/inbox', undefined, user.token)).body.items).toHaveLength(3);

    browser = await launchChromium();
    page = await watchedPage(browser, EXPECTED_CONSOLE, consoleProblems);
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await signInToInbox(page, conversa.url, user.email);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await conversa?.stop();
  });

  it('finds “reunião” in the inbox by typing reuniao, the hit marked in the excerpt; emptied, the inbox is back', async () => {
    const list = page.getByRole('list', { name: 'Received mail, newest first' });
    await hasCount(list.getByRole('listitem'), 3);
    expect(await list.locator('mark').count()).toBe(0);

    const box = page.getByRole('searchbox', { name: 'Search mail' });
    expect(await box.getAttribute('placeholder')).toBe('Search subject, people, text, attachments…');
    await box.fill('reuniao');
    await page.getByRole('search').getByRole('button', { name: 'Search', exact: true }).click();
    await hasCount(list.getByRole('listitem'), 1);
    const row = list.getByRole('listitem').first();
    expect(await row.textContent()).toContain(subjects.meeting);
    expect(await texts(row.locator('.message-snippet mark'))).toEqual(['reunião']);
    expect(await row.locator('.message-snippet').textContent()).toContain('Podemos marcar a reunião de quinta-feira');
    expect(await list.textContent()).not.toContain(subjects.invoice);
    expect(new URL(page.url()).searchParams.get('q')).toBe('reuniao');

    await box.fill('');
    await page.getByRole('search').getByRole('button', { name: 'Search', exact: true }).click();
    await hasCount(list.getByRole('listitem'), 3);
    expect(await list.locator('mark').count()).toBe(0);
    expect(new URL(page.url()).searchParams.get('q')).toBeNull();
  }, 60_000);

  it('finds it in the search box above the contact’s timeline; emptied, the timeline is back', async () => {
    await go(`/contacts/${contactId}`);
    const timeline = page.getByRole('region', { name: 'Timeline' });
    await shows(timeline.getByRole('link', { name: subjects.invoice, exact: true }));

    const box = page.getByRole('searchbox', { name: 'Search this contact’s mail' });
    expect(await box.getAttribute('placeholder')).toBe('Search subject, people, text, attachments…');
    await box.fill('reuniao');
    await box.press('Enter');
    const results = page.getByRole('list', { name: 'Mail matching “reuniao”, best match first' });
    await hasCount(results.getByRole('listitem'), 1);
    expect(await results.getByRole('link').textContent()).toBe(subjects.meeting);
    expect(await texts(results.locator('mark'))).toEqual(['reunião']);
    expect(await results.locator('.timeline-snippet').textContent()).toContain('Podemos marcar a reunião');
    expect(await timeline.textContent()).not.toContain(subjects.invoice);

    // Emptying the field is enough: the timeline comes back without a submit.
    await box.fill('');
    await hasCount(results, 0);
    await shows(timeline.getByRole('link', { name: subjects.invoice, exact: true }));
    await shows(timeline.getByRole('link', { name: subjects.meeting, exact: true }));
  }, 60_000);

  it('never shows a colleague’s private mail with the same word, in the inbox nor on the contact', async () => {
    // There to leak: the colleague's own search finds it on the same contact.
    expect(await found(`/api/contacts/${contactId}/messages`, 'reuniao', colleague.token)).toContain(subjects.secret);
    expect(await found(`/api/contacts/${contactId}/messages`, 'reuniao', user.token)).toEqual([subjects.meeting]);
    expect(await found('/api/inbox', 'reuniao', user.token)).toEqual([subjects.meeting]);

    for (const q of ['reuniao', 'secreta', 'conselho']) {
      await go(`/contacts/${contactId}`);
      const box = page.getByRole('searchbox', { name: 'Search this contact’s mail' });
      await box.fill(q);
      await box.press('Enter');
      if (q === 'reuniao') {
        await hasCount(page.getByRole('list', { name: `Mail matching “${q}”, best match first` }).getByRole('link'), 1);
      } else {
        await shows(page.getByText(`No mail with this contact matches “${q}”.`));
      }
      expect(await page.locator('main').textContent()).not.toContain(subjects.secret);
      expect(await page.locator('main').textContent()).not.toContain('reunião secreta');

      await go(`/inbox?q=${q}`);
      const list = page.getByRole('list', { name: 'Received mail, newest first' });
      if (q === 'reuniao') await hasCount(list.getByRole('listitem'), 1);
      else await shows(page.getByText(`No mail matches “${q}”.`));
      expect(await page.locator('main').textContent()).not.toContain(subjects.secret);
      expect(await page.locator('main').textContent()).not.toContain('reunião secreta');
    }
  }, 60_000);

  it('shows markup in a mail and in the query as text: no <img> is made in the results and no dialog opens', async () => {
    await go('/inbox');
    const list = page.getByRole('list', { name: 'Received mail, newest first' });
    await hasCount(list.getByRole('listitem'), 3);
    const box = page.getByRole('searchbox', { name: 'Search mail' });

    // The markup as the query finds the mail whose body holds it, and the excerpt shows it as text.
    await box.fill(MARKUP);
    await page.getByRole('search').getByRole('button', { name: 'Search', exact: true }).click();
    await hasCount(list.getByRole('listitem'), 1);
    const snippet = list.locator('.message-snippet');
    expect(await list.textContent()).toContain(subjects.markup);
    expect(await snippet.textContent()).toContain(`${MARKUP} <b>bold</b> <script>alert(2)</script>`);
    expect((await texts(snippet.locator('mark'))).length).toBeGreaterThan(0);
    expect(await list.locator('img, b, script').count()).toBe(0);
    expect(await box.inputValue()).toBe(MARKUP);

    // A markup query that finds nothing is echoed as text.
    const nothing = `${MARKUP} zq${tag}`;
    await box.fill(nothing);
    await page.getByRole('search').getByRole('button', { name: 'Search', exact: true }).click();
    const empty = page.getByText(`No mail matches “${nothing}”.`);
    await shows(empty);
    expect(await empty.locator('img').count()).toBe(0);

    // The same on the contact's timeline.
    await go(`/contacts/${contactId}`);
    const contactBox = page.getByRole('searchbox', { name: 'Search this contact’s mail' });
    await contactBox.fill(MARKUP);
    await contactBox.press('Enter');
    const results = page.getByRole('list', { name: `Mail matching “${MARKUP}”, best match first` });
    await hasCount(results.getByRole('listitem'), 1);
    expect(await results.locator('.timeline-snippet').textContent()).toContain(MARKUP);
    expect(await results.locator('img, b, script').count()).toBe(0);
    await contactBox.fill(nothing);
    await contactBox.press('Enter');
    const none = page.getByText(`No mail with this contact matches “${nothing}”.`);
    await shows(none);
    expect(await none.locator('img').count()).toBe(0);

    expect(await page.locator('main img').count()).toBe(0);
    expect(dialogs).toEqual([]);
  }, 60_000);

  it('shows the search boxes’ labels in Brazilian Portuguese', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByLabel('Interface language').selectOption('pt-BR');
    await shows(page.getByRole('heading', { level: 1, name: 'Configurações' }));

    await go('/inbox');
    await shows(page.getByRole('heading', { level: 1, name: 'Caixa de entrada' }));
    const box = page.getByRole('searchbox', { name: 'Buscar e-mails' });
    expect(await box.getAttribute('placeholder')).toBe('Buscar assunto, pessoas, texto, anexos…');
    await box.fill('reuniao');
    await page.getByRole('search').getByRole('button', { name: 'Buscar', exact: true }).click();
    const list = page.getByRole('list', { name: 'E-mails recebidos, mais recentes primeiro' });
    await hasCount(list.getByRole('listitem'), 1);
    expect(await texts(list.locator('mark'))).toEqual(['reunião']);
    await box.fill('nada');
    await page.getByRole('search').getByRole('button', { name: 'Buscar', exact: true }).click();
    await shows(page.getByText('Nenhum e-mail corresponde a “nada”.'));

    await go(`/contacts/${contactId}`);
    const contactBox = page.getByRole('searchbox', { name: 'Buscar nos e-mails deste contato' });
    expect(await contactBox.getAttribute('placeholder')).toBe('Buscar assunto, pessoas, texto, anexos…');
    await contactBox.fill('reuniao');
    await page.getByRole('search').getByRole('button', { name: 'Buscar', exact: true }).click();
    const results = page.getByRole('list', {
      name: 'E-mails que correspondem a “reuniao”, os mais relevantes primeiro',
    });
    await hasCount(results.getByRole('listitem'), 1);
    await contactBox.fill('nada');
    await contactBox.press('Enter');
    await shows(page.getByText('Nenhum e-mail com este contato corresponde a “nada”.'));
  }, 60_000);

  it('logged no unexpected console error and opened no dialog', () => {
    expect(consoleProblems).toEqual([]);
    expect(dialogs).toEqual([]);
  });
});
