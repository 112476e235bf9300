// Read state both ways, against a real Dovecot and a real server process, on SQLite and PostgreSQL: read in the CRM
// sets \Seen on the server (and unread removes it), read in a mail client shows read in the CRM, a colleague's
// shared mailbox is never touched by another user's reading, another user's private mail is "not found", and a
// change not yet written back is not undone by the server's older state.
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const dovecot = useDovecot();

/** The flags Dovecot holds for the message with this subject in INBOX, read by a client of our own. */
async function serverFlags(creds: Credentials, subject: string): Promise<string[]> {
  const client = new ImapFlow(dovecot.imapOptions(creds));
  await client.connect();
  try {
    await client.mailboxOpen('INBOX', { readOnly: true });
    for await (const message of client.fetch('1:*', { flags: true, envelope: true })) {
      if (message.envelope?.subject === subject) return [...(message.flags ?? [])];
    }
    throw new Error(`no message "${subject}" in INBOX`);
  } finally {
    await client.logout();
  }
}

/** Changes flags as a mail client would. */
async function clientFlags(creds: Credentials, subject: string, change: 'add' | 'remove', flags: string[]) {
  const client = new ImapFlow(dovecot.imapOptions(creds));
  await client.connect();
  try {
    await client.mailboxOpen('INBOX');
    const uids = (await client.search({ subject }, { uid: true })) || [];
    expect(uids.length).toBe(1);
    if (change === 'add') await client.messageFlagsAdd(uids, flags, { uid: true });
    else await client.messageFlagsRemove(uids, flags, { uid: true });
  } finally {
    await client.logout();
  }
}

describe.each(DIALECTS)('read state on %s', (dialect) => {
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

  async function connect(creds: Credentials, token: string, visibility: 'shared' | 'private' = 'shared') {
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { visibility }),
      token,
    );
    expect(res.status, res.text).toBe(201);
    const id: string = res.body.id;
    await waitFor(
      `account ${id} to finish its first pass`,
      async () => {
        const account = (await conversa.api('GET', `/api/email-accounts/${id}`, undefined, token)).body;
        if (account.status === 'needs_reconnect' || account.status === 'error')
          throw new Error(`account ${account.status}: ${account.statusDetail}`);
        const folders = await conversa.server.storage.db
          .selectFrom('mail_folders')
          .select('first_sync_done')
          .where('account_id', '=', id)
          .execute();
        return account.status === 'active' && folders.length > 0 && folders.every((f) => f.first_sync_done === 1);
      },
      30_000,
    );
    return id;
  }

  async function syncAgain(id: string, token: string): Promise<void> {
    const before = Date.now();
    expect((await conversa.api('POST', `/api/email-accounts/${id}/sync`, undefined, token)).status).toBe(202);
    await waitFor(
      'a new pass',
      async () => {
        const row = await conversa.server.storage.db
          .selectFrom('email_accounts')
          .select(['last_synced_at', 'status'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow();
        return row.status === 'active' && Number(row.last_synced_at ?? 0) > before;
      },
      30_000,
    );
  }

  /** A user with a mailbox holding one unread mail from a contact; returns the CRM's message. */
  async function mailboxWithOneMail(visibility: 'shared' | 'private' = 'shared') {
    const user = await conversa.addUser();
    const creds = await dovecot.addUser();
    const sender = `sender-${Math.random().toString(36).slice(2)}@client.test`;
    expect((await conversa.api('POST', '/api/contacts', { emails: [sender] })).status).toBe(201);
    const subject = `Offer ${Math.random().toString(36).slice(2)}`;
    await dovecot.fillMailbox(creds.user, 'INBOX', [makeMessage({ from: sender, to: [creds.user], subject })]);
    const accountId = await connect(creds, user.token, visibility);
    const inbox = (await conversa.api('GET', '/api/inbox', undefined, user.token)).body.items;
    const message = inbox.find((m: { subject: string }) => m.subject === subject);
    expect(message).toBeDefined();
    return { user, creds, accountId, subject, message };
  }

  it('marks a message read in the CRM and sets \\Seen on the server; unread removes it', async () => {
    const { user, creds, subject, message } = await mailboxWithOneMail();
    expect(message.read).toBe(false);
    expect(message.unread).toBe(true);
    expect((await conversa.api('GET', '/api/inbox/unread-count', undefined, user.token)).body).toEqual({ unread: 1 });

    const patched = await conversa.api('PATCH', `/api/messages/${message.id}`, { read: true }, user.token);
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body.read).toBe(true);
    expect(patched.body.id).toBe(message.id);
    expect((await conversa.api('GET', `/api/messages/${message.id}`, undefined, user.token)).body.read).toBe(true);
    expect((await conversa.api('GET', '/api/inbox/unread-count', undefined, user.token)).body).toEqual({ unread: 0 });
    await waitFor('\\Seen on Dovecot', async () => (await serverFlags(creds, subject)).includes('\\Seen'));
    await waitFor('the write-back queue to empty', async () => {
      const rows = await conversa.server.storage.db.selectFrom('flag_writes').select('id').execute();
      return rows.length === 0;
    });

    const unread = await conversa.api('PATCH', `/api/messages/${message.id}`, { read: false }, user.token);
    expect(unread.body.read).toBe(false);
    await waitFor('\\Seen removed on Dovecot', async () => !(await serverFlags(creds, subject)).includes('\\Seen'));
    expect((await conversa.api('GET', '/api/inbox/unread-count', undefined, user.token)).body).toEqual({ unread: 1 });
  });

  it('shows a message read in a mail client as read in the CRM, and unread again', async () => {
    const { user, creds, accountId, subject, message } = await mailboxWithOneMail();
    await clientFlags(creds, subject, 'add', ['\\Seen']);
    await syncAgain(accountId, user.token);
    const read = (await conversa.api('GET', `/api/messages/${message.id}`, undefined, user.token)).body;
    expect(read.read).toBe(true);
    const listed = (await conversa.api('GET', '/api/inbox', undefined, user.token)).body.items;
    expect(listed.find((m: { id: string }) => m.id === message.id).read).toBe(true);
    expect((await conversa.api('GET', '/api/inbox/unread-count', undefined, user.token)).body).toEqual({ unread: 0 });

    await clientFlags(creds, subject, 'remove', ['\\Seen']);
    await syncAgain(accountId, user.token);
    expect((await conversa.api('GET', `/api/messages/${message.id}`, undefined, user.token)).body.read).toBe(false);
  });

  it('keeps the last read state of mail removed from the mailbox, and the count agrees with the list', async () => {
    const user = await conversa.addUser();
    const creds = await dovecot.addUser();
    const sender = `gone-${Math.random().toString(36).slice(2)}@client.test`;
    expect((await conversa.api('POST', '/api/contacts', { emails: [sender] })).status).toBe(201);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: sender, to: [creds.user], subject: 'Gone read' }),
      makeMessage({ from: sender, to: [creds.user], subject: 'Gone unread' }),
      makeMessage({ from: sender, to: [creds.user], subject: 'Still here' }),
    ]);
    const accountId = await connect(creds, user.token);
    await clientFlags(creds, 'Gone read', 'add', ['\\Seen']);
    await syncAgain(accountId, user.token);
    const client = new ImapFlow(dovecot.imapOptions(creds));
    await client.connect();
    try {
      await client.mailboxOpen('INBOX');
      for (const subject of ['Gone read', 'Gone unread']) {
        const uids = (await client.search({ subject }, { uid: true })) || [];
        await client.messageDelete(uids, { uid: true });
      }
    } finally {
      await client.logout();
    }
    await syncAgain(accountId, user.token);
    await waitFor('the removals to be recorded', async () => {
      const rows = await conversa.server.storage.db
        .selectFrom('message_locations')
        .select('id')
        .where('account_id', '=', accountId)
        .where('removed_at', 'is not', null)
        .execute();
      return rows.length === 2;
    });
    const items: Array<{ subject: string; read: boolean }> = (
      await conversa.api('GET', '/api/inbox', undefined, user.token)
    ).body.items;
    const state = Object.fromEntries(items.map((m) => [m.subject, m.read]));
    expect(state).toEqual({ 'Gone read': true, 'Gone unread': false, 'Still here': false });
    const count = (await conversa.api('GET', '/api/inbox/unread-count', undefined, user.token)).body.unread;
    expect(count).toBe(items.filter((m) => !m.read).length);
  });

  it("a colleague's reading of a shared mailbox's mail is their own: the owner's server flags stay", async () => {
    const { user: owner, creds, subject, message } = await mailboxWithOneMail('shared');
    const colleague = await conversa.addUser();
    // The badge counts one's own inbox only: a colleague's shared mail is readable but not in it.
    expect((await conversa.api('GET', '/api/inbox/unread-count', undefined, colleague.token)).body).toEqual({
      unread: 0,
    });
    expect((await conversa.api('GET', '/api/inbox/unread-count', undefined, 'wrong-token')).status).toBe(401);
    const seenBy = await conversa.api('PATCH', `/api/messages/${message.id}`, { read: true }, colleague.token);
    expect(seenBy.status, seenBy.text).toBe(200);
    expect(seenBy.body.read).toBe(true);
    expect((await conversa.api('GET', `/api/messages/${message.id}`, undefined, colleague.token)).body.read).toBe(true);
    // The owner's read state and mailbox are untouched: nothing queued for it, no \Seen on the server.
    expect((await conversa.api('GET', `/api/messages/${message.id}`, undefined, owner.token)).body.read).toBe(false);
    const queued = await conversa.server.storage.db.selectFrom('flag_writes').select('id').execute();
    expect(queued).toEqual([]);
    expect(await serverFlags(creds, subject)).not.toContain('\\Seen');
    const mark = await conversa.server.storage.db
      .selectFrom('message_reads')
      .select(['user_id', 'read'])
      .where('message_id', '=', message.id)
      .execute();
    expect(mark).toEqual([{ user_id: colleague.id, read: 1 }]);
  });

  it("another user's private message is not found, and nothing changes", async () => {
    const { creds, subject, message } = await mailboxWithOneMail('private');
    const stranger = await conversa.addUser();
    const res = await conversa.api('PATCH', `/api/messages/${message.id}`, { read: true }, stranger.token);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    // An administrator is no exception: reading a colleague's private mail is not an admin's right either.
    expect((await conversa.api('PATCH', `/api/messages/${message.id}`, { read: true })).status).toBe(404);
    expect(
      await conversa.server.storage.db
        .selectFrom('message_reads')
        .select('user_id')
        .where('message_id', '=', message.id)
        .execute(),
    ).toEqual([]);
    expect(await serverFlags(creds, subject)).not.toContain('\\Seen');
  });

  it('refuses a body that is not {read: boolean}', async () => {
    const { user, message } = await mailboxWithOneMail();
    for (const body of [{ read: 'yes' }, {}, { read: true, seen: true }, { read: null }]) {
      const res = await conversa.api('PATCH', `/api/messages/${message.id}`, body, user.token);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect((await conversa.api('PATCH', '/api/messages/not-an-id', { read: true }, user.token)).status).toBe(400);
    expect((await conversa.api('PATCH', `/api/messages/${message.id}`, { read: true }, 'wrong-token')).status).toBe(
      401,
    );
  });

  it('keeps a change not yet written back against an older server state, then writes it', async () => {
    const { user, creds, accountId, subject, message } = await mailboxWithOneMail();
    const db = conversa.server.storage.db;
    // A read made in the CRM whose write-back failed for now and waits for its retry (what a transient IMAP
    // error leaves): the location says read, the wish waits.
    const location = await db
      .selectFrom('message_locations')
      .select(['id'])
      .where('message_id', '=', message.id)
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow();
    const now = Date.now();
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('message_locations').set({ seen: 1 }).where('id', '=', location.id).execute();
      await trx
        .insertInto('flag_writes')
        .values({
          id: `00000000-0000-7000-8000-${String(now).slice(-12).padStart(12, '0')}`,
          account_id: accountId,
          location_id: location.id,
          seen: 1,
          request_id: 'waiting',
          attempts: 1,
          next_attempt_at: now + 3600_000,
          last_error: 'Error: connection reset',
          created_at: now,
          updated_at: now,
        })
        .execute();
    });
    // Meanwhile the server's flags change for another reason (flagged in a mail client), still without \Seen: the
    // sync reads that older read state and must not undo the CRM's.
    await clientFlags(creds, subject, 'add', ['\\Flagged']);
    await syncAgain(accountId, user.token);
    const flagsJson = await db
      .selectFrom('message_locations')
      .select(['flags_json', 'seen'])
      .where('id', '=', location.id)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(flagsJson.flags_json!)).toContain('\\Flagged');
    expect(flagsJson.seen).toBe(1);
    expect((await conversa.api('GET', `/api/messages/${message.id}`, undefined, user.token)).body.read).toBe(true);
    expect(await serverFlags(creds, subject)).not.toContain('\\Seen');

    // Its retry time comes: it is written, then gone from the queue; the server agrees.
    await db.updateTable('flag_writes').set({ next_attempt_at: null }).where('location_id', '=', location.id).execute();
    await syncAgain(accountId, user.token);
    await waitFor('\\Seen on Dovecot after the retry', async () =>
      (await serverFlags(creds, subject)).includes('\\Seen'),
    );
    expect(await db.selectFrom('flag_writes').select('id').where('location_id', '=', location.id).execute()).toEqual(
      [],
    );
    await syncAgain(accountId, user.token);
    expect((await conversa.api('GET', `/api/messages/${message.id}`, undefined, user.token)).body.read).toBe(true);
  });

  it('drops a wish whose location no longer means anything (UIDVALIDITY changed) instead of writing it', async () => {
    const { user, creds, accountId, subject, message } = await mailboxWithOneMail();
    const db = conversa.server.storage.db;
    const location = await db
      .selectFrom('message_locations')
      .select(['id', 'uid_validity'])
      .where('message_id', '=', message.id)
      .where('account_id', '=', accountId)
      .executeTakeFirstOrThrow();
    // As if the wish was queued before the folder was recreated on the server: its UID may be another message now.
    await db
      .updateTable('message_locations')
      .set({ uid_validity: Number(location.uid_validity) + 1 })
      .where('id', '=', location.id)
      .execute();
    const now = Date.now();
    await db
      .insertInto('flag_writes')
      .values({
        id: `00000000-0000-7000-8001-${String(now).slice(-12).padStart(12, '0')}`,
        account_id: accountId,
        location_id: location.id,
        seen: 1,
        request_id: 'stale',
        attempts: 0,
        next_attempt_at: null,
        last_error: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await syncAgain(accountId, user.token);
    await waitFor('the stale wish to be dropped', async () =>
      (await db.selectFrom('flag_writes').select('id').where('location_id', '=', location.id).execute()).length === 0
        ? true
        : false,
    );
    expect(await serverFlags(creds, subject)).not.toContain('\\Seen');
  });

  it('counts mail sent from the CRM as read', async () => {
    const { user, accountId, message } = await mailboxWithOneMail();
    const sent = await conversa.api(
      'POST',
      '/api/messages',
      { accountId, to: [message.from.address], subject: 'Re: offer', text: 'Thanks', inReplyTo: message.id },
      user.token,
    );
    expect(sent.status, sent.text).toBe(201);
    expect(sent.body.read).toBe(true);
  });
});
