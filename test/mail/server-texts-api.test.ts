// Localised server texts through the API (issue 15): what the server writes for a person (a refused connection test,
// an account's status detail and last error, why a send failed) comes with a code and parameters beside the English,
// on SQLite and PostgreSQL, against the real Dovecot and a scripted SMTP server that refuses. The parameters carry
// names, ports and the other server's own words, never a password; an unknown stored code reads as none.
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

/** An SMTP server that wants AUTH and refuses every recipient with 550, as a real server says "user unknown". */
async function startRefusingSmtp(login: { user: string; pass: string }) {
  const server = new SMTPServer({
    disableReverseLookup: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 500,
    onAuth(auth, _session, callback) {
      if (auth.username === login.user && auth.password === login.pass) return callback(null, { user: auth.username });
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      callback(Object.assign(new Error(`5.1.1 <${address.address}>: user unknown`), { responseCode: 550 }));
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.server.address();
      if (address === null || typeof address === 'string') reject(new Error('no address'));
      else resolve(address.port);
    });
  });
  server.on('error', () => undefined);
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe.each(DIALECTS)('server texts with codes on %s', (dialect) => {
  let c: SendConversa;
  let database: TestDatabase;
  let smtp: Awaited<ReturnType<typeof startRefusingSmtp>>;
  const relayLogin = { user: 'texts-relay', pass: 'relay secret for texts' };

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startSendConversa({ database });
    smtp = await startRefusingSmtp(relayLogin);
  });
  afterAll(async () => {
    await c?.stop();
    await smtp?.close();
    await database?.destroy();
  });

  const account = async (id: string) => (await c.api('GET', `/api/email-accounts/${id}`)).body;

  it('a wrong password in a connection test answers AUTH_FAILED with the text code and where, not the password', async () => {
    const creds = await dovecot.addUser();
    const wrong = 'wrong-password-for-texts';
    const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, { ...creds, password: wrong }));
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('AUTH_FAILED');
    expect(res.body.error.detail).toEqual({
      code: 'MAIL_AUTH_REFUSED',
      params: expect.objectContaining({
        server: 'imap',
        host: dovecot.host,
        port: dovecot.imapPort,
        address: `${dovecot.host}:${dovecot.imapPort}`,
      }),
    });
    expect(res.text).not.toContain(wrong);
  });

  it('a password changed on the server gives needs_reconnect with a coded status detail and last error', async () => {
    const creds = await dovecot.addUser();
    const created = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    await waitFor(`account ${id} active`, async () => (await account(id)).status === 'active', 30_000);

    const changed = `${creds.password}-changed-for-texts`;
    await dovecot.setPassword(creds.user, changed);
    await dovecot.kick(creds.user);
    const broken = await waitFor(
      `account ${id} needs_reconnect`,
      async () => {
        const body = await account(id);
        return body.status === 'needs_reconnect' ? body : undefined;
      },
      30_000,
    );
    // The English stays for API users and logs; the code and parameters say it in the user's language.
    expect(broken.statusDetail).toMatch(/password/i);
    expect(broken.statusDetailCode).toBe('SYNC_PASSWORD_REFUSED');
    expect(broken.statusDetailParams).toMatchObject({ server: 'imap', host: dovecot.host, port: dovecot.imapPort });
    expect(broken.lastError).toMatchObject({
      message: broken.statusDetail,
      code: 'SYNC_PASSWORD_REFUSED',
      params: broken.statusDetailParams,
    });
    const text = JSON.stringify(broken);
    expect(text).not.toContain(creds.password);
    expect(text).not.toContain(changed);

    // Reconnecting clears the detail and its code together; the last error keeps both.
    const fixed = await c.api('PATCH', `/api/email-accounts/${id}`, { password: changed });
    expect(fixed.status, fixed.text).toBe(200);
    expect(fixed.body.statusDetail).toBeNull();
    expect(fixed.body.statusDetailCode).toBeNull();
    expect(fixed.body.statusDetailParams).toEqual({});
    expect(fixed.body.lastError.code).toBe('SYNC_PASSWORD_REFUSED');
  });

  it('a code this version does not know (or broken parameters) reads as none, and the English still shows', async () => {
    const creds = await dovecot.addUser();
    const created = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    // What a newer version (or a hand-edited row) may leave: the answer must still match its schema (checked).
    await c.storage.db
      .insertInto('sync_events')
      .values({
        id: `zzzz-texts-${dialect}`,
        account_id: id,
        kind: 'status:error',
        detail: 'Something from the future',
        detail_code: 'FROM_A_NEWER_VERSION',
        detail_params_json: '{not json',
        created_at: Date.now() + 60_000,
      })
      .execute();
    const res = await c.api('GET', `/api/email-accounts/${id}`);
    expect(res.status, res.text).toBe(200);
    expect(res.body.lastError).toMatchObject({ message: 'Something from the future', code: null, params: {} });
  });

  it('a send refused with 550 carries SEND_REJECTED with the server reply as a parameter, untranslated', async () => {
    const creds = await dovecot.addUser();
    const created = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(created.status, created.text).toBe(201);
    const accountId = created.body.id as string;
    const put = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, {
      mode: 'custom',
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      username: relayLogin.user,
      password: relayLogin.pass,
    });
    expect(put.status, put.text).toBe(200);
    const sent = await c.api('POST', '/api/messages', {
      accountId,
      to: ['nobody-here@refusing.test'],
      subject: 'Will be refused',
      text: 'Hello?',
    });
    expect(sent.status, sent.text).toBe(201);
    const failed = await waitFor(
      'the refused message to fail',
      async () => {
        const res = await c.api('GET', `/api/messages/${sent.body.id}/send-status`);
        return res.body.sendStatus === 'failed' ? res.body : undefined;
      },
      20_000,
    );
    expect(failed.sendError).toMatchObject({
      code: 'SEND_FAILED',
      message: expect.stringMatching(/550/),
      reason: { code: 'SEND_REJECTED', params: { reply: expect.stringMatching(/^550 5\.1\.1 .*user unknown/) } },
    });
    expect(failed.sentFolder).toEqual({ status: null, detail: null, detailCode: null, detailParams: {} });
    expect(JSON.stringify(failed)).not.toContain(relayLogin.pass);
  });

  it('a custom SMTP server no longer saved fails with SEND_CUSTOM_SMTP_MISSING and no parameters', async () => {
    const creds = await dovecot.addUser();
    const created = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(created.status, created.text).toBe(201);
    const accountId = created.body.id as string;
    const put = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, {
      mode: 'custom',
      host: '127.0.0.1',
      port: smtp.port,
      secure: false,
      username: relayLogin.user,
      password: relayLogin.pass,
    });
    expect(put.status, put.text).toBe(200);
    // The saved server is gone (a restore, a hand edit) while the mode still says custom.
    await c.storage.db
      .updateTable('email_accounts')
      .set({ smtp_custom_enc: null })
      .where('id', '=', accountId)
      .execute();
    const sent = await c.api('POST', '/api/messages', {
      accountId,
      to: ['someone@refusing.test'],
      subject: 'No relay saved',
      text: 'Hello?',
    });
    expect(sent.status, sent.text).toBe(201);
    const failed = await waitFor(
      'the message without a relay to fail',
      async () => {
        const res = await c.api('GET', `/api/messages/${sent.body.id}/send-status`);
        return res.body.sendStatus === 'failed' ? res.body : undefined;
      },
      20_000,
    );
    expect(failed.sendError.reason).toEqual({ code: 'SEND_CUSTOM_SMTP_MISSING', params: {} });
    expect(JSON.stringify(failed)).not.toContain(relayLogin.pass);
  });
});
