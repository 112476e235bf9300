// Audit item 6: the company relay (the `app` SMTP choice) sends only as an address that was proven — by the OAuth
// provider's word, or by a code mailed through the relay to the address and typed back. Against the real Dovecot
// (the mailbox login) and the harness's SMTP sink as the relay, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MAX_CODE_ATTEMPTS } from '../../src/mail/send/address-verification.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { useDovecot, type Credentials, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();
const sink = { host: inject('dovecot').sinkHost, port: inject('dovecot').sinkPort };

function unique(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

/** The verification mails the relay (the sink) got for this address. */
async function codeMails(address: string): Promise<SinkMessage[]> {
  return (await dovecot.sinkMessages()).filter(
    (m) => m.rcptTo.includes(address) && /verification code|código de verificação/.test(m.raw.toString('utf8')),
  );
}

function codeIn(message: SinkMessage): string {
  const code = /code is: (\d{6})|código de verificação é: (\d{6})/.exec(message.raw.toString('utf8'));
  expect(code).not.toBeNull();
  return (code![1] ?? code![2])!;
}

describe.each(DIALECTS)('sender verification on %s', (dialect) => {
  let database: TestDatabase;
  let c: SendConversa;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    // The relay is the sink Dovecot's submission relays to: what reaches it is what "the relay sent".
    c = await startSendConversa({ database, appSmtp: { host: sink.host, port: sink.port, secure: false, auth: null } });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    await database?.destroy();
  });

  async function connect(creds: Credentials): Promise<string> {
    const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(res.status, res.text).toBe(201);
    // A password proves a login, not the address.
    expect(res.body.addressVerified).toBe(false);
    return res.body.id;
  }

  async function askCode(accountId: string, address: string, already = 0): Promise<string> {
    const res = await c.api('POST', `/api/email-accounts/${accountId}/verify`, {});
    expect(res.status, res.text).toBe(202);
    const mail = await waitFor('the code mail at the relay', async () => {
      const mails = await codeMails(address);
      return mails.length > already ? mails.at(-1) : undefined;
    });
    return codeIn(mail);
  }

  it('refuses app-mode sending from an unverified address (API and worker), then sends once it is verified', async () => {
    const creds = await dovecot.addUser();
    const id = await connect(creds);
    // Choosing the relay is refused while unverified.
    const choose = await c.api('PUT', `/api/email-accounts/${id}/smtp`, { mode: 'app' });
    expect(choose.status).toBe(403);
    expect(choose.body.error.code).toBe('SENDER_NOT_VERIFIED');

    // An account left in app mode from before migration 0006: sending is refused and nothing is stored or relayed.
    await c.storage.db.updateTable('email_accounts').set({ smtp_mode: 'app' }).where('id', '=', id).execute();
    const to = `${unique('blocked')}@buyer.test`;
    const refused = await c.api('POST', '/api/messages', { accountId: id, to: [to], subject: 'x', text: 'x' });
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('SENDER_NOT_VERIFIED');
    expect(await c.storage.db.selectFrom('outbox').select('id').where('account_id', '=', id).execute()).toEqual([]);

    // Defence in depth: a message already queued fails in the worker with that code and never reaches the relay.
    await c.storage.db.updateTable('email_accounts').set({ address_verified: 1 }).where('id', '=', id).execute();
    const queuedTo = `${unique('queued')}@buyer.test`;
    await c.stopOutbox();
    const queued = await c.api('POST', '/api/messages', {
      accountId: id,
      to: [queuedTo],
      subject: 'queued before',
      text: 'x',
    });
    expect(queued.status, queued.text).toBe(201);
    await c.storage.db.updateTable('email_accounts').set({ address_verified: 0 }).where('id', '=', id).execute();
    c.startOutbox();
    const failed = await waitFor('the queued message to fail', async () => {
      const s = (await c.api('GET', `/api/messages/${queued.body.id}/send-status`)).body;
      return s.sendStatus === 'failed' ? s : undefined;
    });
    expect(failed.sendError.code).toBe('SENDER_NOT_VERIFIED');
    expect((await dovecot.sinkMessages()).filter((m) => m.rcptTo.includes(queuedTo))).toEqual([]);

    // Verify with the code the relay delivered to the address, then the same send goes.
    const code = await askCode(id, creds.user);
    const verified = await c.api('POST', `/api/email-accounts/${id}/verify`, { code });
    expect(verified.status, verified.text).toBe(200);
    expect(verified.body.addressVerified).toBe(true);
    expect((await c.api('GET', `/api/email-accounts/${id}`)).body.addressVerified).toBe(true);
    expect((await c.api('PUT', `/api/email-accounts/${id}/smtp`, { mode: 'app' })).status).toBe(200);
    const sent = await c.api('POST', '/api/messages', {
      accountId: id,
      to: [to],
      subject: unique('via relay'),
      text: 'now proven',
    });
    expect(sent.status, sent.text).toBe(201);
    await waitFor('the message at the relay', async () =>
      (await dovecot.sinkMessages()).some((m) => m.rcptTo.includes(to)),
    );
    // The code is stored hashed: the row held no clear code, and is gone once used.
    expect(
      await c.storage.db.selectFrom('address_verifications').selectAll().where('account_id', '=', id).execute(),
    ).toEqual([]);
  }, 60_000);

  it('locks a code out after too many wrong tries; only a new code works then', async () => {
    const creds = await dovecot.addUser();
    const id = await connect(creds);
    const code = await askCode(id, creds.user);
    const row = await c.storage.db
      .selectFrom('address_verifications')
      .selectAll()
      .where('account_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.code_hash).not.toContain(code);
    expect(row.code_hash).toMatch(/^scrypt\$/);
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 0; i < MAX_CODE_ATTEMPTS; i++) {
      const res = await c.api('POST', `/api/email-accounts/${id}/verify`, { code: wrong });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    // The right code no longer counts: the code is void.
    const late = await c.api('POST', `/api/email-accounts/${id}/verify`, { code });
    expect(late.status).toBe(400);
    expect(late.body.error.message).toMatch(/new one/);
    expect((await c.api('GET', `/api/email-accounts/${id}`)).body.addressVerified).toBe(false);

    // Resending at once is rate limited.
    const again = await c.api('POST', `/api/email-accounts/${id}/verify`, {});
    expect(again.status).toBe(429);
    expect(again.body.error.code).toBe('RATE_LIMITED');
    // A minute later (moved back in the row rather than waited), a new code works.
    await c.storage.db
      .updateTable('address_verifications')
      .set({ last_sent_at: Date.now() - 61_000 })
      .where('account_id', '=', id)
      .execute();
    const fresh = await askCode(id, creds.user, 1);
    const ok = await c.api('POST', `/api/email-accounts/${id}/verify`, { code: fresh });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.addressVerified).toBe(true);
  }, 60_000);

  it("keeps one user's verification to that user, and an expired code counts for nothing", async () => {
    const creds = await dovecot.addUser();
    const id = await connect(creds);
    const other = await c.addUser({ admin: true });
    expect((await c.api('POST', `/api/email-accounts/${id}/verify`, {}, other.token)).status).toBe(404);
    const code = await askCode(id, creds.user);
    expect((await c.api('POST', `/api/email-accounts/${id}/verify`, { code }, other.token)).status).toBe(404);
    await c.storage.db
      .updateTable('address_verifications')
      .set({ expires_at: Date.now() - 1 })
      .where('account_id', '=', id)
      .execute();
    const expired = await c.api('POST', `/api/email-accounts/${id}/verify`, { code });
    expect(expired.status).toBe(400);
    expect((await c.api('GET', `/api/email-accounts/${id}`)).body.addressVerified).toBe(false);
  }, 60_000);

  it('makes a changed address unverified again', async () => {
    const creds = await dovecot.addUser();
    const id = await connect(creds);
    const code = await askCode(id, creds.user);
    expect((await c.api('POST', `/api/email-accounts/${id}/verify`, { code })).body.addressVerified).toBe(true);
    const second = await dovecot.addUser();
    const patched = await c.api('PATCH', `/api/email-accounts/${id}`, {
      email: second.user,
      password: second.password,
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.addressVerified).toBe(false);
  }, 60_000);
});
