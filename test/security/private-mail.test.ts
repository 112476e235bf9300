// Audit item 1, "private stays private": a Message-ID is a claim anyone can copy. A colleague (or a stranger
// mailing a shared mailbox) who borrows the Message-ID of a private message must not read it, must not change its
// direction or visibility, and keeps their own mail; identical copies in two mailboxes stay one message.
// Against a real Dovecot and a real server process, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const dovecot = useDovecot();

describe.each(DIALECTS)('private mail on %s', (dialect) => {
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

  async function connect(creds: Credentials, token: string, visibility: 'shared' | 'private'): Promise<string> {
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { visibility }),
      token,
    );
    expect(res.status, res.text).toBe(201);
    return res.body.id;
  }

  async function synced(id: string, token: string): Promise<void> {
    await waitFor(
      `account ${id} to finish a pass`,
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
        return row.status === 'active' && Number(row.last_synced_at ?? 0) >= before;
      },
      30_000,
    );
  }

  async function contactFor(address: string): Promise<string> {
    const res = await conversa.api('POST', '/api/contacts', { emails: [address] });
    expect(res.status, res.text).toBe(201);
    return res.body.id;
  }

  it('a colleague who borrows the Message-ID of a private message reads nothing of it, and keeps his own mail', async () => {
    const owner = await conversa.addUser();
    const colleague = await conversa.addUser();
    const ownerBox = await dovecot.addUser();
    const colleagueBox = await dovecot.addUser();
    const client = `client-${Date.now()}@buyer.test`;
    const contactId = await contactFor(client);
    const secretId = makeMessageId();
    const attachment = {
      filename: 'price-list.pdf',
      contentType: 'application/pdf',
      content: Buffer.from('%PDF-1.4 secret prices'),
    };
    await dovecot.fillMailbox(ownerBox.user, 'INBOX', [
      makeMessage({
        from: client,
        to: [ownerBox.user],
        subject: 'Our confidential offer',
        body: 'The secret price is 42.',
        messageId: secretId,
        attachment,
      }),
    ]);
    const ownerAccount = await connect(ownerBox, owner.token, 'private');
    await synced(ownerAccount, owner.token);
    const ownerMail = (await conversa.api('GET', `/api/contacts/${contactId}/messages`, undefined, owner.token)).body
      .items;
    expect(ownerMail.map((m: { subject: string }) => m.subject)).toEqual(['Our confidential offer']);
    const secret = ownerMail[0];

    // The colleague mails his own (shared) mailbox, From the client, with the private message's Message-ID.
    await dovecot.fillMailbox(colleagueBox.user, 'INBOX', [
      makeMessage({
        from: client,
        to: [colleagueBox.user],
        subject: 'Anything',
        body: 'Let me in.',
        messageId: secretId,
      }),
    ]);
    const colleagueAccount = await connect(colleagueBox, colleague.token, 'shared');
    await synced(colleagueAccount, colleague.token);

    // The private message: still unreadable to him, by id, on the contact, in its thread, its attachment too.
    expect((await conversa.api('GET', `/api/messages/${secret.id}`, undefined, colleague.token)).status).toBe(404);
    const attachmentId = (await conversa.api('GET', `/api/messages/${secret.id}`, undefined, owner.token)).body
      .attachments[0].id;
    expect(
      (await conversa.api('GET', `/api/messages/${secret.id}/attachments/${attachmentId}`, undefined, colleague.token))
        .status,
    ).toBe(404);
    const seen = (await conversa.api('GET', `/api/contacts/${contactId}/messages`, undefined, colleague.token)).body
      .items;
    expect(seen.map((m: { subject: string }) => m.subject)).toEqual(['Anything']);
    const theirs = seen[0];
    expect(theirs.id).not.toBe(secret.id);
    const thread = await conversa.api('GET', `/api/threads/${theirs.threadId}`, undefined, colleague.token);
    expect(thread.status).toBe(200);
    expect(thread.text).not.toContain('confidential');

    // His own copy was stored as a message of its own, with his content; the owner's is untouched.
    const detail = (await conversa.api('GET', `/api/messages/${theirs.id}`, undefined, colleague.token)).body;
    expect(detail.text).toContain('Let me in.');
    const ownerView = (await conversa.api('GET', `/api/messages/${secret.id}`, undefined, owner.token)).body;
    expect(ownerView.text).toContain('The secret price is 42.');
    expect(ownerView.direction).toBe('incoming');
    // Still in the owner's inbox.
    const inbox = (await conversa.api('GET', '/api/inbox', undefined, owner.token)).body.items;
    expect(inbox.map((m: { id: string }) => m.id)).toContain(secret.id);
  });

  it('an outsider mailing a shared mailbox with a private Message-ID, From the owner, changes neither visibility nor direction', async () => {
    const owner = await conversa.addUser();
    const colleague = await conversa.addUser();
    const ownerBox = await dovecot.addUser();
    const sharedBox = await dovecot.addUser();
    const client = `client2-${Date.now()}@buyer.test`;
    const contactId = await contactFor(client);
    const secretId = makeMessageId();
    await dovecot.fillMailbox(ownerBox.user, 'INBOX', [
      makeMessage({
        from: client,
        to: [ownerBox.user],
        subject: 'Private deal',
        body: 'Private text.',
        messageId: secretId,
      }),
    ]);
    const ownerAccount = await connect(ownerBox, owner.token, 'private');
    await synced(ownerAccount, owner.token);
    const sharedAccount = await connect(sharedBox, colleague.token, 'shared');
    await synced(sharedAccount, colleague.token);

    // A forged copy from "the owner" (which would look outgoing) lands in the shared mailbox.
    await dovecot.appendAsDelivered(
      sharedBox.user,
      makeMessage({
        from: ownerBox.user,
        to: [client, sharedBox.user],
        subject: 'Private deal',
        body: 'Forged.',
        messageId: secretId,
      }),
    );
    await syncAgain(sharedAccount, colleague.token);
    const db = conversa.server.storage.db;
    const rows = await db
      .selectFrom('messages')
      .select(['id', 'direction', 'text_body'])
      .where('message_id_header', '=', secretId.slice(1, -1))
      .orderBy('id')
      .execute();
    expect(rows).toHaveLength(2);
    expect(rows[0]!.direction).toBe('incoming');
    expect(rows[0]!.text_body).toContain('Private text.');
    const colleagueSees = (await conversa.api('GET', `/api/contacts/${contactId}/messages`, undefined, colleague.token))
      .body.items;
    expect(colleagueSees.map((m: { id: string }) => m.id)).toEqual([rows[1]!.id]);
    expect((await conversa.api('GET', `/api/messages/${rows[0]!.id}`, undefined, colleague.token)).status).toBe(404);
  });

  it('identical copies in two mailboxes stay one message, held by both; the shared one opens it to the organisation', async () => {
    const sender = await conversa.addUser();
    const receiver = await conversa.addUser();
    const reader = await conversa.addUser();
    const senderBox = await dovecot.addUser();
    const receiverBox = await dovecot.addUser();
    const client = `client3-${Date.now()}@buyer.test`;
    const contactId = await contactFor(client);
    const id = makeMessageId();
    const raw = makeMessage({
      from: senderBox.user,
      to: [receiverBox.user],
      cc: [client],
      subject: 'Internal, client in copy',
      body: 'Same bytes.',
      messageId: id,
    });
    await dovecot.fillMailbox(senderBox.user, 'Sent', [raw]);
    await dovecot.fillMailbox(receiverBox.user, 'INBOX', [raw]);
    const senderAccount = await connect(senderBox, sender.token, 'private');
    await synced(senderAccount, sender.token);
    const receiverAccount = await connect(receiverBox, receiver.token, 'shared');
    await synced(receiverAccount, receiver.token);

    const db = conversa.server.storage.db;
    const rows = await db
      .selectFrom('messages')
      .select(['id', 'direction'])
      .where('message_id_header', '=', id.slice(1, -1))
      .execute();
    expect(rows).toHaveLength(1);
    // Mail between colleagues is the organisation's outgoing mail, in either mailbox.
    expect(rows[0]!.direction).toBe('outgoing');
    const holders = await db
      .selectFrom('message_holders')
      .select(['account_id', 'shared'])
      .where('message_id', '=', rows[0]!.id)
      .execute();
    expect(holders.map((h) => [h.account_id, h.shared]).sort()).toEqual(
      [
        [senderAccount, 0],
        [receiverAccount, 1],
      ].sort(),
    );
    // A third user reads it because a shared mailbox holds it.
    expect(
      (await conversa.api('GET', `/api/contacts/${contactId}/messages`, undefined, reader.token)).body.items.map(
        (m: { id: string }) => m.id,
      ),
    ).toEqual([rows[0]!.id]);
    // Made private, the receiver's mailbox no longer opens it to the third user.
    expect(
      (await conversa.api('PATCH', `/api/email-accounts/${receiverAccount}`, { visibility: 'private' }, receiver.token))
        .status,
    ).toBe(200);
    expect((await conversa.api('GET', `/api/messages/${rows[0]!.id}`, undefined, reader.token)).status).toBe(404);
    expect((await conversa.api('GET', `/api/messages/${rows[0]!.id}`, undefined, receiver.token)).status).toBe(200);
  });
});
