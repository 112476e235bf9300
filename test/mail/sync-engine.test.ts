// The sync engine against a real Dovecot: smart mapping, push, dedupe, sent mail, crash safety, UIDVALIDITY,
// backfill, one-way, and the real-world corpus. Observed through the API and the database, as a user would.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, openStorage } from '../../src/storage/database.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { spawnConversa, type SpawnedConversa } from '../support/spawn-conversa.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const dovecot = useDovecot();
const DAY = 24 * 3600 * 1000;

const accountBody = (creds: Credentials, extra: Record<string, unknown> = {}) =>
  dovecotAccountBody(dovecot, creds, extra);

async function connect(
  conversa: TestConversa,
  creds: Credentials,
  extra: Record<string, unknown> = {},
  token?: string,
): Promise<string> {
  const res = await conversa.api('POST', '/api/email-accounts', accountBody(creds, extra), token);
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function waitSynced(conversa: TestConversa, id: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `account ${id} to finish a pass`,
    async () => {
      const account = (await conversa.api('GET', `/api/email-accounts/${id}`)).body;
      if (account.status === 'needs_reconnect' || account.status === 'error')
        throw new Error(`account ${account.status}: ${account.statusDetail}`);
      if (account.status !== 'active') return false;
      const folders = await conversa.server.storage.db
        .selectFrom('mail_folders')
        .select(['first_sync_done', 'role'])
        .where('account_id', '=', id)
        .execute();
      return folders.length > 0 && folders.every((f) => f.first_sync_done === 1);
    },
    timeoutMs,
  );
}

async function contactMail(conversa: TestConversa, contactId: string): Promise<any[]> {
  const res = await conversa.api('GET', `/api/contacts/${contactId}/messages?limit=200`);
  expect(res.status).toBe(200);
  return res.body.items;
}

async function newContact(conversa: TestConversa, email: string, token?: string): Promise<string> {
  const res = await conversa.api('POST', '/api/contacts', { emails: [email] }, token);
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

describe.each(DIALECTS)('the sync engine on %s', (dialect) => {
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

  it('stores only mail with a contact in it, never fetching the bodies of the rest', async () => {
    const creds = await dovecot.addUser();
    const client = `client-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, client);
    const now = Date.now();
    const messages: string[] = [];
    const dates: Date[] = [];
    for (let i = 0; i < 60; i++) {
      const fromContact = i % 10 === 0;
      messages.push(
        makeMessage({
          from: fromContact ? `Client <${client}>` : `stranger${i}@else.test`,
          to: [creds.user],
          subject: `Message ${i}`,
          date: new Date(now - (60 - i) * 3600_000),
        }),
      );
      dates.push(new Date(now - (60 - i) * 3600_000));
    }
    await dovecot.fillMailbox(creds.user, 'INBOX', messages, { dates });
    const id = await connect(conversa, creds);
    await waitSynced(conversa, id);
    const mail = await contactMail(conversa, contactId);
    expect(mail.map((m) => m.subject).sort()).toEqual([
      'Message 0',
      'Message 10',
      'Message 20',
      'Message 30',
      'Message 40',
      'Message 50',
    ]);
    expect(
      mail.every((m) => m.direction === 'incoming' && m.source === 'sync' && m.contactIds.includes(contactId)),
    ).toBe(true);
    // Newest first.
    expect(mail[0].subject).toBe('Message 50');
    const stored = await conversa.server.storage.db
      .selectFrom('messages')
      .select('subject')
      .where('subject', 'like', 'Message %')
      .execute();
    expect(stored.filter((s) => !/^Message (0|10|20|30|40|50)$/.test(s.subject!))).toEqual([]);

    // Dovecot's own account of what the session fetched, written at logout.
    await conversa.api('DELETE', `/api/email-accounts/${id}`);
    const logLine = await waitFor('the logout line of the sync session', async () => {
      const log = fs.readFileSync(dovecot.info.logPath, 'utf8').split('\n');
      return log
        .filter((l) => l.includes(creds.user) && l.includes('fetch_body_count='))
        .find((l) => !l.includes('fetch_body_count=0'));
    });
    expect(Number(/fetch_body_count=(\d+)/.exec(logLine)![1])).toBe(6);
  });

  it('puts a newly delivered mail on its contact within 5 seconds (IDLE push)', async () => {
    const creds = await dovecot.addUser();
    const partner = `partner-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, partner);
    const id = await connect(conversa, creds);
    await waitSynced(conversa, id);
    await new Promise((r) => setTimeout(r, 1_000)); // let the connection settle into IDLE
    await dovecot.appendAsDelivered(creds.user, makeMessage({ from: partner, to: [creds.user], subject: 'Pushed' }));
    const mail = await waitFor(
      'the pushed mail on the contact',
      async () => (await contactMail(conversa, contactId)).find((m) => m.subject === 'Pushed'),
      5_000,
      50,
    );
    expect(mail.direction).toBe('incoming');
  });

  it('files sent mail as outgoing and stores one message for two folders and two users mailboxes', async () => {
    const alice = await dovecot.addUser();
    const bob = await dovecot.addUser();
    const customer = `customer-${Date.now()}@buyer.test`;
    const contactId = await newContact(conversa, customer);
    const shared = makeMessageId();
    const sent = makeMessage({
      from: alice.user,
      to: [customer],
      cc: [bob.user],
      subject: 'Proposal',
      messageId: shared,
      date: new Date(Date.now() - 3600_000),
    });
    await dovecot.fillMailbox(alice.user, 'Sent', [sent]);
    await dovecot.fillMailbox(alice.user, 'Archive', [sent]);
    await dovecot.fillMailbox(bob.user, 'INBOX', [sent]);
    const reply = makeMessage({
      from: customer,
      to: [alice.user],
      subject: 'Re: Proposal',
      inReplyTo: shared,
      references: [shared],
    });
    await dovecot.fillMailbox(alice.user, 'INBOX', [reply]);

    const other = await conversa.addUser();
    const aliceId = await connect(conversa, alice);
    const bobId = await connect(conversa, bob, {}, other.token);
    await waitSynced(conversa, aliceId);
    await waitSynced(conversa, bobId);
    const mail = await contactMail(conversa, contactId);
    const proposal = mail.filter((m) => m.subject === 'Proposal');
    expect(proposal).toHaveLength(1);
    expect(proposal[0].direction).toBe('outgoing');
    const locations = await conversa.server.storage.db
      .selectFrom('message_locations')
      .select('account_id')
      .where('message_id', '=', proposal[0].id)
      .execute();
    expect(locations).toHaveLength(3);
    // The reply threads with what it answers.
    const answer = mail.find((m) => m.subject === 'Re: Proposal');
    expect(answer.threadId).toBe(proposal[0].threadId);
    const thread = await conversa.api('GET', `/api/threads/${answer.threadId}`);
    expect(thread.body.messages.map((m: { subject: string }) => m.subject)).toEqual(['Proposal', 'Re: Proposal']);
  });

  it('keeps attachments, once per content, downloadable', async () => {
    const creds = await dovecot.addUser();
    const sender = `files-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, sender);
    const pdf = Buffer.from(`%PDF-1.4 contract ${Date.now()}`);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({
        from: sender,
        to: [creds.user],
        subject: 'Contract',
        attachment: { filename: 'contrato assinado.pdf', contentType: 'application/pdf', content: pdf },
      }),
      makeMessage({
        from: sender,
        to: [creds.user],
        subject: 'Contract again',
        attachment: { filename: 'copy.pdf', contentType: 'application/pdf', content: pdf },
      }),
    ]);
    const id = await connect(conversa, creds);
    await waitSynced(conversa, id);
    const mail = await contactMail(conversa, contactId);
    expect(mail).toHaveLength(2);
    expect(mail.every((m) => m.hasAttachments)).toBe(true);
    const detail = (await conversa.api('GET', `/api/messages/${mail.find((m) => m.subject === 'Contract').id}`)).body;
    expect(detail.attachments).toMatchObject([
      { filename: 'contrato assinado.pdf', contentType: 'application/pdf', size: pdf.length },
    ]);
    expect(detail.text).toContain('Body of Contract');
    const res = await fetch(`${conversa.url}/api/messages/${detail.id}/attachments/${detail.attachments[0].id}`, {
      headers: { authorization: `Bearer ${conversa.token}` },
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(pdf)).toBe(true);
    expect(res.headers.get('content-disposition')).toContain("filename*=UTF-8''contrato%20assinado.pdf");
    const blobs = await conversa.server.storage.db
      .selectFrom('attachments')
      .select('blob_sha256')
      .where('filename', 'in', ['contrato assinado.pdf', 'copy.pdf'])
      .execute();
    expect(new Set(blobs.map((b) => b.blob_sha256)).size).toBe(1);
  });

  it('finds the earlier mail of a contact added after the first sync', async () => {
    const creds = await dovecot.addUser();
    const later = `later-${Date.now()}@acme.test`;
    await dovecot.fillMailbox(
      creds.user,
      'INBOX',
      [
        makeMessage({
          from: later,
          to: [creds.user],
          subject: 'Before they were a contact',
          date: new Date(Date.now() - 3 * DAY),
        }),
        makeMessage({ from: 'nobody@else.test', to: [creds.user], subject: 'Unrelated' }),
      ],
      { dates: [new Date(Date.now() - 3 * DAY), new Date()] },
    );
    const id = await connect(conversa, creds);
    await waitSynced(conversa, id);
    const contactId = await newContact(conversa, later);
    const mail = await waitFor(
      'the backfilled mail',
      async () => {
        const items = await contactMail(conversa, contactId);
        return items.length > 0 ? items : undefined;
      },
      10_000,
    );
    expect(mail.map((m) => m.subject)).toEqual(['Before they were a contact']);
  });

  it('never stores received mail from the scan of a one-way account', async () => {
    const creds = await dovecot.addUser();
    const contact = `oneway-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, contact);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: contact, to: [creds.user], subject: 'Inbound one-way' }),
    ]);
    await dovecot.fillMailbox(creds.user, 'Sent', [
      makeMessage({ from: creds.user, to: [contact], subject: 'Sent one-way' }),
    ]);
    const id = await connect(conversa, creds, { syncMode: 'one-way' });
    await waitFor(
      'the one-way account to be active',
      async () => (await conversa.api('GET', `/api/email-accounts/${id}`)).body.status === 'active',
    );
    await conversa.api('POST', `/api/email-accounts/${id}/sync`);
    await dovecot.appendAsDelivered(
      creds.user,
      makeMessage({ from: contact, to: [creds.user], subject: 'Pushed one-way' }),
    );
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await contactMail(conversa, contactId)).toEqual([]);
  });

  it('creates contacts automatically when the user asks for it, never for machines or the user', async () => {
    const creds = await dovecot.addUser();
    const owner = await conversa.addUser();
    expect((await conversa.api('PATCH', '/api/me/settings', { autoCreateContacts: true }, owner.token)).status).toBe(
      200,
    );
    const known = `known-${Date.now()}@acme.test`;
    await newContact(conversa, known, owner.token);
    const fresh = `fresh-${Date.now()}@acme.test`;
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({
        from: known,
        to: [creds.user],
        cc: [fresh, `no-reply-${Date.now()}@acme.test`],
        subject: 'Meet my colleague',
      }),
    ]);
    const id = await connect(conversa, creds, {}, owner.token);
    await waitSynced(conversa, id);
    const created = await conversa.api('GET', `/api/contacts?email=${fresh}`, undefined, owner.token);
    expect(created.body.items).toHaveLength(1);
    expect(created.body.items[0].source).toBe('auto-email');
    expect((await conversa.api('GET', `/api/contacts?email=${creds.user}`, undefined, owner.token)).body.items).toEqual(
      [],
    );
    const machines = await conversa.api('GET', '/api/contacts?q=no-reply', undefined, owner.token);
    expect(machines.body.items).toEqual([]);
    expect((await contactMail(conversa, created.body.items[0].id)).map((m) => m.subject)).toEqual([
      'Meet my colleague',
    ]);
  });

  it('follows read/unread changes and removals, keeping the CRM copy of a removed message', async () => {
    const creds = await dovecot.addUser();
    const contact = `flags-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, contact);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: contact, to: [creds.user], subject: 'Read me' }),
      makeMessage({ from: contact, to: [creds.user], subject: 'Delete me' }),
    ]);
    const id = await connect(conversa, creds);
    await waitSynced(conversa, id);
    let mail = await contactMail(conversa, contactId);
    expect(mail.every((m) => m.unread)).toBe(true);

    const { ImapFlow } = await import('imapflow');
    const client = new ImapFlow(dovecot.imapOptions(creds));
    await client.connect();
    try {
      await client.mailboxOpen('INBOX');
      const [readUid] = (await client.search({ subject: 'Read me' }, { uid: true })) || [];
      const [deleteUid] = (await client.search({ subject: 'Delete me' }, { uid: true })) || [];
      await client.messageFlagsAdd(String(readUid), ['\\Seen'], { uid: true });
      await client.messageDelete(String(deleteUid), { uid: true });
    } finally {
      await client.logout();
    }
    await conversa.api('POST', `/api/email-accounts/${id}/sync`);
    const db = conversa.server.storage.db;
    await waitFor('the removal to be recorded', async () => {
      const removed = await db
        .selectFrom('message_locations')
        .select('removed_at')
        .where('account_id', '=', id)
        .where('removed_at', 'is not', null)
        .execute();
      return removed.length === 1;
    });
    mail = await contactMail(conversa, contactId);
    expect(mail.map((m) => m.subject).sort()).toEqual(['Delete me', 'Read me']);
    expect(mail.find((m) => m.subject === 'Read me').unread).toBe(false);
  });

  it('never stores mail of a never-logged address or domain', async () => {
    const creds = await dovecot.addUser();
    const owner = await conversa.addUser();
    const client = `client-nl-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, client, owner.token);
    await conversa.api('PATCH', '/api/me/settings', { neverLog: ['@private-bank.test'] }, owner.token);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: client, to: [creds.user], subject: 'Normal' }),
      makeMessage({ from: client, to: [creds.user], cc: ['manager@private-bank.test'], subject: 'Bank business' }),
    ]);
    const id = await connect(conversa, creds, {}, owner.token);
    await waitSynced(conversa, id);
    expect((await contactMail(conversa, contactId)).map((m) => m.subject)).toEqual(['Normal']);
  });

  it("keeps a private mailbox's mail from the organisation's other users", async () => {
    const creds = await dovecot.addUser();
    const owner = await conversa.addUser();
    const colleague = await conversa.addUser();
    const client = `client-priv-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, client, owner.token);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: client, to: [creds.user], subject: 'Confidential' }),
    ]);
    const id = await connect(conversa, creds, { visibility: 'private' }, owner.token);
    await waitSynced(conversa, id);
    const mine = (await conversa.api('GET', `/api/contacts/${contactId}/messages`, undefined, owner.token)).body.items;
    expect(mine.map((m: { subject: string }) => m.subject)).toEqual(['Confidential']);
    const theirs = await conversa.api('GET', `/api/contacts/${contactId}/messages`, undefined, colleague.token);
    expect(theirs.body.items).toEqual([]);
    expect((await conversa.api('GET', `/api/messages/${mine[0].id}`, undefined, colleague.token)).status).toBe(404);
    // Made shared: the organisation reads it.
    expect(
      (await conversa.api('PATCH', `/api/email-accounts/${id}`, { visibility: 'shared' }, owner.token)).status,
    ).toBe(200);
    const now = await conversa.api('GET', `/api/contacts/${contactId}/messages`, undefined, colleague.token);
    expect(now.body.items.map((m: { subject: string }) => m.subject)).toEqual(['Confidential']);
  });

  it('marks a sent message bounced and flags the address when its delivery report comes back', async () => {
    const creds = await dovecot.addUser();
    const customer = `gone-${Date.now()}@buyer.test`;
    const contactId = await newContact(conversa, customer);
    const original = makeMessageId();
    const boundary = 'dsn-boundary';
    const dsn = [
      'From: Mail Delivery System <MAILER-DAEMON@mx.buyer.test>',
      `To: ${creds.user}`,
      'Subject: Undelivered Mail Returned to Sender',
      `Date: ${new Date().toUTCString()}`,
      `Message-ID: ${makeMessageId()}`,
      'Auto-Submitted: auto-replied',
      'MIME-Version: 1.0',
      `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
      '',
      `--${boundary}`,
      'Content-Type: text/plain',
      '',
      `Your message to ${customer} could not be delivered.`,
      `--${boundary}`,
      'Content-Type: message/delivery-status',
      '',
      'Reporting-MTA: dns; mx.buyer.test',
      '',
      `Final-Recipient: rfc822; ${customer}`,
      'Action: failed',
      'Status: 5.1.1',
      'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
      `--${boundary}`,
      'Content-Type: text/rfc822-headers',
      '',
      `From: ${creds.user}`,
      `To: ${customer}`,
      'Subject: Our offer',
      `Message-ID: ${original}`,
      `--${boundary}--`,
      '',
    ].join('\r\n');
    await dovecot.fillMailbox(creds.user, 'Sent', [
      makeMessage({
        from: creds.user,
        to: [customer],
        subject: 'Our offer',
        messageId: original,
        date: new Date(Date.now() - 3600_000),
      }),
    ]);
    await dovecot.fillMailbox(creds.user, 'INBOX', [dsn]);
    const id = await connect(conversa, creds);
    await waitSynced(conversa, id);
    const mail = await contactMail(conversa, contactId);
    expect(mail.map((m) => [m.subject, m.bounced])).toEqual([['Our offer', true]]);
    const address = await conversa.server.storage.db
      .selectFrom('contact_addresses')
      .select('bounced_at')
      .where('address', '=', customer)
      .executeTakeFirstOrThrow();
    expect(address.bounced_at).not.toBeNull();
    expect((await conversa.api('GET', `/api/contacts/${contactId}`)).body.bouncedEmails).toEqual([customer]);
  });

  it('rescans after a UIDVALIDITY change without duplicating anything', async () => {
    const creds = await dovecot.addUser();
    const contact = `uv-${Date.now()}@acme.test`;
    const contactId = await newContact(conversa, contact);
    await dovecot.fillMailbox(
      creds.user,
      'INBOX',
      [1, 2, 3].map((i) => makeMessage({ from: contact, to: [creds.user], subject: `UV ${i}` })),
    );
    const id = await connect(conversa, creds);
    await waitSynced(conversa, id);
    expect(await contactMail(conversa, contactId)).toHaveLength(3);
    const db = conversa.server.storage.db;
    const before = await db
      .selectFrom('mail_folders')
      .select(['id', 'uid_validity'])
      .where('account_id', '=', id)
      .where('role', '=', 'inbox')
      .executeTakeFirstOrThrow();
    await dovecot.doveadm([
      'mailbox',
      'update',
      '-u',
      creds.user,
      '--uid-validity',
      String(before.uid_validity! + 1000),
      'INBOX',
    ]);
    await conversa.api('POST', `/api/email-accounts/${id}/sync`);
    await waitFor('the new UIDVALIDITY to be seen', async () => {
      const folder = await db
        .selectFrom('mail_folders')
        .select(['uid_validity', 'first_sync_done'])
        .where('id', '=', before.id)
        .executeTakeFirstOrThrow();
      return folder.uid_validity === before.uid_validity! + 1000 && folder.first_sync_done === 1;
    });
    const mail = await contactMail(conversa, contactId);
    expect(mail.map((m) => m.subject).sort()).toEqual(['UV 1', 'UV 2', 'UV 3']);
    const locations = await db
      .selectFrom('message_locations')
      .select(['uid_validity'])
      .where('folder_id', '=', before.id)
      .execute();
    expect(locations).toHaveLength(3);
    expect(locations.every((l) => l.uid_validity === before.uid_validity! + 1000)).toBe(true);
  });
});

describe('a first sync killed with SIGKILL', () => {
  it('ends, after a restart, with exactly the set an uninterrupted sync stores', async () => {
    const creds = await dovecot.addUser();
    const contacts = Array.from({ length: 20 }, (_, i) => `kill${i}-${Date.now()}@acme.test`);
    const messages: string[] = [];
    const dates: Date[] = [];
    const now = Date.now();
    for (let i = 0; i < 3_000; i++) {
      const involved = i % 3 === 0;
      messages.push(
        makeMessage({
          from: involved ? contacts[i % 20]! : `x${i}@noise.test`,
          to: [creds.user],
          subject: `Bulk ${i}`,
          date: new Date(now - i * 60_000),
        }),
      );
      dates.push(new Date(now - i * 60_000));
    }
    await dovecot.fillMailbox(creds.user, 'INBOX', messages, { dates });

    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-kill-'));
    const env = { CONVERSA_DATA_DIR: dataDir, DATABASE_URL: '', SYNC_BATCH_SIZE: '100', LOG_LEVEL: 'info' };
    const spawned: SpawnedConversa[] = [];
    const start = async () => {
      const s = await spawnConversa(env);
      spawned.push(s);
      return s;
    };
    try {
      let server = await start();
      const { createApiToken, createUser } = await import('../../src/users/users.js');
      const storage = openStorage({ dataDir, databaseUrl: null });
      await migrateToLatest(storage.db);
      const user = await createUser(storage.db, {
        email: `killer-${Date.now()}@example.test`,
        password: 'kill test password',
      });
      const token = await createApiToken(storage.db, user.id);
      const call = async (method: string, route: string, body?: unknown) => {
        const res = await fetch(`${server.url}${route}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: (await res.json().catch(() => null)) as any };
      };
      for (const email of contacts) expect((await call('POST', '/api/contacts', { emails: [email] })).status).toBe(201);
      const connected = await call('POST', '/api/email-accounts', accountBody(creds));
      expect(connected.status).toBe(201);
      const accountId = connected.body.id;

      // Kill it part-way through the first sync.
      await waitFor(
        'the first sync to be under way',
        async () => {
          const n = await storage.db
            .selectFrom('messages')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow();
          return Number(n.n) >= 150;
        },
        30_000,
        20,
      );
      await server.kill();
      const atKill = Number(
        (
          await storage.db
            .selectFrom('messages')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      expect(atKill).toBeLessThan(1_000);

      server = await start();
      await waitFor(
        'the first sync to finish after the restart',
        async () => {
          const folder = await storage.db
            .selectFrom('mail_folders')
            .select('first_sync_done')
            .where('account_id', '=', accountId)
            .where('role', '=', 'inbox')
            .executeTakeFirst();
          return folder?.first_sync_done === 1;
        },
        60_000,
      );
      await server.stop();

      const subjects = (await storage.db.selectFrom('messages').select('subject').execute())
        .map((r) => r.subject)
        .sort();
      const expected = Array.from({ length: 3_000 }, (_, i) => i)
        .filter((i) => i % 3 === 0)
        .map((i) => `Bulk ${i}`)
        .sort();
      expect(subjects).toEqual(expected);
      const links = await storage.db
        .selectFrom('message_contacts')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(links.n)).toBe(1_000);
      const locations = await storage.db
        .selectFrom('message_locations')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(locations.n)).toBe(1_000);
      await storage.close();
    } finally {
      // Whatever happened above, no server of this test outlives it.
      for (const s of spawned) if (s.child.exitCode === null && s.child.signalCode === null) await s.kill();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
