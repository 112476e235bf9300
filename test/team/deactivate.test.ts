// Issue 14, deactivation: an admin deactivates a user → that user's API token answers 403 USER_DEACTIVATED at once
// (within a second), their web session is gone and sign-in is refused, their mailbox's IMAP session ends (Dovecot's
// `doveadm who`) and its mail stays; the admin may share the mailbox; reactivating gives the token and the sync back.
// Against a real Dovecot and a real server, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { findBccAccount } from '../../src/mail/dropbox/file-bcc-message.js';

const dovecot = useDovecot();

describe.each(DIALECTS)('deactivating a user on %s', (dialect) => {
  let conversa: TestConversa;
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({}, database);
  });
  afterAll(async () => {
    await conversa?.stop();
    await database?.destroy();
  });

  const post = (path: string, body: unknown, cookie?: string) =>
    fetch(`${conversa.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        origin: new URL(conversa.url).origin,
        ...(cookie ? { cookie: `conversa_session=${cookie}` } : {}),
      },
      body: JSON.stringify(body),
    });
  const getWithCookie = (path: string, cookie: string) =>
    fetch(`${conversa.url}${path}`, { headers: { cookie: `conversa_session=${cookie}` } });

  it('ends tokens, sessions and IMAP at once, keeps the mail, and reactivation brings them back', async () => {
    const member = await conversa.addUser();
    const creds = await dovecot.addUser();
    // Only mail with the CRM's contacts is stored.
    const client = `client-${Date.now()}@customer.test`;
    expect((await conversa.api('POST', '/api/contacts', { emails: [client] })).status).toBe(201);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: client, to: [creds.user], subject: 'Kept after deactivation' }),
    ]);
    const connected = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { visibility: 'private' }),
      member.token,
    );
    expect(connected.status, connected.text).toBe(201);
    const accountId: string = connected.body.id;
    const db = conversa.server.storage.db;
    await waitFor(
      'the first pass',
      async () => {
        const folders = await db
          .selectFrom('mail_folders')
          .select('first_sync_done')
          .where('account_id', '=', accountId)
          .execute();
        return folders.length > 0 && folders.every((f) => f.first_sync_done === 1);
      },
      30_000,
    );
    const storedMail = async () =>
      Number(
        (
          await db
            .selectFrom('message_holders')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('account_id', '=', accountId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await storedMail()).toBeGreaterThan(0);
    const mailBefore = await storedMail();
    await waitFor('an IMAP session of the mailbox', async () => (await dovecot.who(creds.user)).length > 0, 15_000);
    const login = await post('/api/auth/login', { email: member.email, password: 'crm user password' });
    expect(login.status).toBe(200);
    const cookie = /conversa_session=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')![1]!;
    expect((await getWithCookie('/api/me', cookie)).status).toBe(200);

    const deactivated = await conversa.api('PATCH', `/api/users/${member.id}`, { active: false });
    const at = Date.now();
    expect(deactivated.status, deactivated.text).toBe(200);
    expect(deactivated.body).toMatchObject({ id: member.id, active: false, pending: false });
    const refused = await conversa.api('GET', '/api/me', undefined, member.token);
    expect(Date.now() - at).toBeLessThan(1_000);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('USER_DEACTIVATED');
    // Every route, not only /api/me.
    expect((await conversa.api('GET', '/api/email-accounts', undefined, member.token)).status).toBe(403);
    expect((await getWithCookie('/api/me', cookie)).status).toBe(401);
    const again = await post('/api/auth/login', { email: member.email, password: 'crm user password' });
    expect(again.status).toBe(403);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('USER_DEACTIVATED');

    await waitFor('the IMAP session to end', async () => (await dovecot.who(creds.user)).length === 0, 5_000);
    const account = await db
      .selectFrom('email_accounts')
      .select(['paused', 'visibility'])
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(account).toEqual({ paused: 1, visibility: 'private' });
    // Its BCC address files nothing while the owner is deactivated.
    const { bcc_token } = await db
      .selectFrom('email_accounts')
      .select('bcc_token')
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    const bccAddress = `${bcc_token}@bcc.localhost`;
    expect(await findBccAccount(db, 'bcc.localhost', bccAddress)).toBeNull();
    expect(await storedMail()).toBe(mailBefore);
    // No process takes the paused mailbox again: no session reappears over a couple of lease rounds' worth of time.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await dovecot.who(creds.user)).toEqual([]);
    expect(
      await db.selectFrom('account_leases').select('holder').where('account_id', '=', accountId).execute(),
    ).toEqual([]);

    // The admin hands the mailbox's mail over to the team.
    const shared = await conversa.api('PATCH', `/api/users/${member.id}`, { shareMailboxes: true });
    expect(shared.status, shared.text).toBe(200);
    expect(
      (await db.selectFrom('email_accounts').select('visibility').where('id', '=', accountId).executeTakeFirstOrThrow())
        .visibility,
    ).toBe('shared');
    const list = await conversa.api('GET', '/api/users');
    expect(list.body.items.find((u: { id: string }) => u.id === member.id)).toMatchObject({ active: false });

    const reactivated = await conversa.api('PATCH', `/api/users/${member.id}`, { active: true });
    expect(reactivated.body).toMatchObject({ active: true });
    expect((await conversa.api('GET', '/api/me', undefined, member.token)).status).toBe(200);
    expect((await post('/api/auth/login', { email: member.email, password: 'crm user password' })).status).toBe(200);
    await waitFor('the mailbox to sync again', async () => (await dovecot.who(creds.user)).length > 0, 15_000);
    expect(
      (await db.selectFrom('email_accounts').select('paused').where('id', '=', accountId).executeTakeFirstOrThrow())
        .paused,
    ).toBe(0);
    expect((await findBccAccount(db, 'bcc.localhost', bccAddress))?.id).toBe(accountId);
  });

  it('refuses sharing the mailboxes of an active user', async () => {
    const member = await conversa.addUser();
    const res = await conversa.api('PATCH', `/api/users/${member.id}`, { shareMailboxes: true });
    expect(res.status).toBe(409);
  });
});
