// Signatures and the text alternative (issue 15): a mailbox's signature is set by its owner only (a colleague
// and an administrator get 404 as for any change of the mailbox), stored sanitised, refused above 64 KB, and
// carried by every account answer; mail sent as HTML alone leaves with a text/plain part made from it.
// Real Dovecot (submission relaying to the harness's sink), on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { useDovecot, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

function unique(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isCopyOf(m: SinkMessage, messageId: string): boolean {
  const text = m.raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return new RegExp(`^Message-ID:\\s*<${escapeRe(messageId)}>\\s*$`, 'im').test(end < 0 ? text : text.slice(0, end));
}

describe.each(DIALECTS)('signatures and the text alternative on %s', (dialect) => {
  let c: SendConversa;
  let database: TestDatabase;
  let owner: { id: string; token: string };
  let colleague: { id: string; token: string };
  let accountId: string;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startSendConversa({ database });
    owner = await c.addUser();
    colleague = await c.addUser();
    const creds = await dovecot.addUser();
    const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), owner.token);
    expect(res.status, res.text).toBe(201);
    expect(res.body.signatureHtml).toBeNull();
    accountId = res.body.id;
  });
  afterAll(async () => {
    await c?.stop();
    await database?.destroy();
  });

  it('lets the owner set a signature, stored sanitised and shown in every account answer', async () => {
    const res = await c.api(
      'PATCH',
      `/api/email-accounts/${accountId}`,
      {
        signatureHtml:
          '<p style="color:red" onclick="steal()">Bruno <strong>Lima</strong></p><script>alert(1)</script>' +
          '<img src="https://cdn.example.com/logo.png" onerror="x()" alt="logo"><img src="javascript:alert(2)">' +
          '<a href="javascript:alert(3)">bad</a> <a href="https://example.com">site</a>',
      },
      owner.token,
    );
    expect(res.status, res.text).toBe(200);
    const signature: string = res.body.signatureHtml;
    expect(signature).toContain('Bruno <strong>Lima</strong>');
    // A logo in a signature is meant to be seen by the recipients: a remote image keeps its src.
    expect(signature).toContain('src="https://cdn.example.com/logo.png"');
    expect(signature).toContain('href="https://example.com"');
    expect(signature).not.toMatch(/script|onclick|onerror|javascript:|alert/i);
    // Nothing else of the account moved: a signature is no connection change.
    expect(res.body.status).not.toBe('needs_reconnect');

    const one = await c.api('GET', `/api/email-accounts/${accountId}`, undefined, owner.token);
    expect(one.body.signatureHtml).toBe(signature);
    const list = await c.api('GET', '/api/email-accounts', undefined, owner.token);
    expect(list.body.items.find((a: any) => a.id === accountId).signatureHtml).toBe(signature);
    const stored = await c.storage.db
      .selectFrom('email_accounts')
      .select('signature_html')
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(stored.signature_html).toBe(signature);
  });

  it('changes nothing else of the mailbox, even one that needs reconnecting; and goes along with other changes', async () => {
    // The mailbox's runner writes `active` at the end of each pass: its first pass must be over before the state is
    // set by hand below (on a busy machine it ended after, and the PATCH's answer said `active`).
    await waitFor(
      'the first sync pass',
      async () => {
        const row = await c.storage.db
          .selectFrom('email_accounts')
          .select(['status', 'last_synced_at'])
          .where('id', '=', accountId)
          .executeTakeFirstOrThrow();
        return row.status === 'active' && row.last_synced_at !== null;
      },
      60_000,
    );
    await c.storage.db
      .updateTable('email_accounts')
      .set({ status: 'needs_reconnect', status_detail: 'password changed' })
      .where('id', '=', accountId)
      .execute();
    const before = await c.storage.db
      .selectFrom('email_accounts')
      .select(['credentials_enc', 'generation'])
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    const res = await c.api(
      'PATCH',
      `/api/email-accounts/${accountId}`,
      { signatureHtml: '<p>Bruno <strong>Lima</strong></p>' },
      owner.token,
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ status: 'needs_reconnect', statusDetail: 'password changed' });
    const after = await c.storage.db
      .selectFrom('email_accounts')
      .select(['credentials_enc', 'generation'])
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(after).toEqual(before);
    await c.storage.db
      .updateTable('email_accounts')
      .set({ status: 'active', status_detail: null })
      .where('id', '=', accountId)
      .execute();

    const both = await c.api(
      'PATCH',
      `/api/email-accounts/${accountId}`,
      { visibility: 'private', signatureHtml: '<p>Bruno <strong>Lima</strong>, private</p>' },
      owner.token,
    );
    expect(both.status, both.text).toBe(200);
    expect(both.body).toMatchObject({
      visibility: 'private',
      signatureHtml: '<p>Bruno <strong>Lima</strong>, private</p>',
    });
  });

  it('refuses colleagues and administrators as for any change of the mailbox (404), and leaves it as it was', async () => {
    const before = (await c.api('GET', `/api/email-accounts/${accountId}`, undefined, owner.token)).body.signatureHtml;
    const byColleague = await c.api(
      'PATCH',
      `/api/email-accounts/${accountId}`,
      { signatureHtml: '<p>Not yours</p>' },
      colleague.token,
    );
    expect(byColleague.status, byColleague.text).toBe(404);
    expect(byColleague.body.error.code).toBe('NOT_FOUND');
    // The administrator may see the mailbox (and its signature) but not change it.
    const byAdmin = await c.api('PATCH', `/api/email-accounts/${accountId}`, {
      signatureHtml: '<p>Admin was here</p>',
    });
    expect(byAdmin.status, byAdmin.text).toBe(404);
    const seenByAdmin = await c.api('GET', `/api/email-accounts/${accountId}`);
    expect(seenByAdmin.status).toBe(200);
    expect(seenByAdmin.body.signatureHtml).toBe(before);
  });

  it('refuses a signature over 64 KB with 422 SIGNATURE_TOO_LARGE, and removes it with null or empty markup', async () => {
    const huge = `<p>${'a'.repeat(64 * 1024)}</p>`;
    const tooBig = await c.api('PATCH', `/api/email-accounts/${accountId}`, { signatureHtml: huge }, owner.token);
    expect(tooBig.status, tooBig.text.slice(0, 300)).toBe(422);
    expect(tooBig.body.error.code).toBe('SIGNATURE_TOO_LARGE');
    expect(
      (await c.api('GET', `/api/email-accounts/${accountId}`, undefined, owner.token)).body.signatureHtml,
    ).toContain('Lima');
    // What the editor leaves when emptied, or scripts only, is no signature.
    for (const empty of ['<p></p>', '<script>alert(1)</script>', null]) {
      const res = await c.api('PATCH', `/api/email-accounts/${accountId}`, { signatureHtml: empty }, owner.token);
      expect(res.status, res.text).toBe(200);
      expect(res.body.signatureHtml).toBeNull();
    }
    const wrongType = await c.api('PATCH', `/api/email-accounts/${accountId}`, { signatureHtml: 42 }, owner.token);
    expect(wrongType.status).toBe(400);
  });

  it('sends HTML alone with a text/plain part carrying its words and link URLs', async () => {
    const to = `${unique('client')}@buyer.test`;
    const subject = unique('Rich');
    const html =
      '<p>Hello <strong>Ana</strong>, here is <a href="https://example.com/offer?a=1&amp;b=2">our offer</a>.</p>' +
      '<ul><li>first point</li><li>second point</li></ul>' +
      '<div data-signature="">-- <br>Bruno Lima</div>';
    const res = await c.api('POST', '/api/messages', { accountId, to: [to], subject, html }, owner.token);
    expect(res.status, res.text).toBe(201);
    const relayed = await dovecot.waitForSinkMessage((m) => isCopyOf(m, res.body.messageId), 15_000);
    const raw = relayed.raw.toString('utf8');
    expect(raw).toMatch(/Content-Type: multipart\/alternative/i);
    expect(raw).toMatch(/Content-Type: text\/plain/i);
    expect(raw).toMatch(/Content-Type: text\/html/i);
    const parsed = await parseMessage(relayed.raw);
    expect(parsed.html).toContain('<strong>Ana</strong>');
    const text = parsed.text ?? '';
    expect(text).toContain('Hello Ana, here is our offer <https://example.com/offer?a=1&b=2>.');
    expect(text).toContain('- first point\n- second point');
    expect(text).toContain('-- \nBruno Lima');
    expect(text).not.toMatch(/<strong>|<p>|&amp;/);
    // The CRM's own copy has the same text (snippets and search read it).
    expect(res.body.text).toContain('our offer <https://example.com/offer?a=1&b=2>');

    // Text given by the caller is sent as given, never replaced.
    const own = await c.api(
      'POST',
      '/api/messages',
      { accountId, to: [to], subject: unique('Both'), html: '<p>rich words</p>', text: 'my own plain words' },
      owner.token,
    );
    expect(own.status, own.text).toBe(201);
    const ownCopy = await dovecot.waitForSinkMessage((m) => isCopyOf(m, own.body.messageId), 15_000);
    expect((await parseMessage(ownCopy.raw)).text?.trim()).toBe('my own plain words');
  });
});
