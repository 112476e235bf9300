// Audit item 5, "one hostile message never stops a mailbox": a message with thousands of recipients or references
// is stored in statements under both databases' variable limits; text PostgreSQL cannot hold (NUL) is cleaned on
// both databases alike; a message that still cannot be stored is set aside with its reason while the rest of the
// batch, the cursor and all later mail go on. On SQLite and PostgreSQL.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMessages, type MessageToStore } from '../../src/mail/intake/store-messages.js';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { createBlobStore } from '../../src/storage/blob-store.js';
import { defaultOrgId } from '../../src/users/users.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const dovecot = useDovecot();

describe.each(DIALECTS)('a hostile message on %s', (dialect) => {
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

  async function contactFor(address: string): Promise<string> {
    const res = await conversa.api('POST', '/api/contacts', { emails: [address] });
    expect(res.status, res.text).toBe(201);
    return res.body.id;
  }

  async function subjectsOf(contactId: string): Promise<string[]> {
    const res = await conversa.api('GET', `/api/contacts/${contactId}/messages?limit=100`);
    expect(res.status).toBe(200);
    return res.body.items.map((m: { subject: string }) => m.subject).sort();
  }

  it('stores mail with 8,000 recipients and 3,000 references, NUL bytes in its text, and the mail after it', async () => {
    const creds = await dovecot.addUser();
    const client = `client-${Date.now()}@buyer.test`;
    const contactId = await contactFor(client);
    const crowd = Array.from({ length: 8_000 }, (_, i) => `person${i}@crowd.test`);
    const references = Array.from({ length: 3_000 }, () => makeMessageId());
    const nul = makeMessage({
      from: `Client <${client}>`,
      to: [creds.user],
      subject: 'Null\u0000byte',
      body: 'Text with a\u0000NUL inside.',
    });
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: client, to: [creds.user, ...crowd], subject: 'To everyone', references }),
      nul,
      makeMessage({ from: client, to: [creds.user], subject: 'After the storm' }),
    ]);
    const res = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(res.status, res.text).toBe(201);
    await waitFor(
      'all three messages on the contact',
      async () => {
        const account = (await conversa.api('GET', `/api/email-accounts/${res.body.id}`)).body;
        if (account.status === 'error') throw new Error(`account error: ${account.statusDetail}`);
        return (await subjectsOf(contactId)).length === 3;
      },
      100_000,
    );
    const subjects = await subjectsOf(contactId);
    expect(subjects).toHaveLength(3);
    expect(subjects[0]).toBe('After the storm');
    // Dovecot's ENVELOPE already shows the NUL as U+FFFD; the parsed body keeps it until storing removes it.
    expect(subjects[1]).toMatch(/^Null\uFFFD?byte$/);
    expect(subjects[2]).toBe('To everyone');
    const account = (await conversa.api('GET', `/api/email-accounts/${res.body.id}`)).body;
    expect(account.status).not.toBe('error');
    const db = conversa.server.storage.db;
    const crowded = await db
      .selectFrom('messages')
      .select('id')
      .where('subject', '=', 'To everyone')
      .executeTakeFirstOrThrow();
    const kept = await db
      .selectFrom('message_participants')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('message_id', '=', crowded.id)
      .executeTakeFirstOrThrow();
    // Capped: the raw source keeps every recipient; rows stop at a thousand.
    expect(Number(kept.n)).toBe(1_000);
    const cleaned = await db
      .selectFrom('messages')
      .select('text_body')
      .where('subject', 'like', 'Null%byte')
      .executeTakeFirstOrThrow();
    expect(cleaned.text_body).not.toContain('\u0000');
    expect(cleaned.text_body).toMatch(/Text with a\uFFFD?NUL inside\./);
  }, 120_000);

  it('sets aside a message that cannot be stored, with its reason, and stores the rest and moves the cursor', async () => {
    const db = conversa.server.storage.db;
    const blobs = createBlobStore(path.join(database.dataDir, 'hostile-blobs'));
    const orgId = await defaultOrgId(db);
    const user = await conversa.addUser();
    const creds = await dovecot.addUser();
    const res = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), user.token);
    expect(res.status, res.text).toBe(201);
    const accountId: string = res.body.id;
    await waitFor(
      'the folders',
      async () =>
        (await db.selectFrom('mail_folders').select('id').where('account_id', '=', accountId).execute()).length > 0,
      30_000,
    );
    const folder = await db
      .selectFrom('mail_folders')
      .select('id')
      .where('account_id', '=', accountId)
      .where('role', '=', 'inbox')
      .executeTakeFirstOrThrow();
    const client = `aside-${Date.now()}@buyer.test`;
    await contactFor(client);

    const build = async (uid: number, subject: string, date: number): Promise<MessageToStore> => {
      const raw = Buffer.from(makeMessage({ from: client, to: [creds.user], subject }));
      const parsed = await parseMessage(raw);
      return {
        dedupeKey: `mid:${subject}-${uid}@hostile.test`,
        messageId: `${subject}-${uid}@hostile.test`,
        emailId: null,
        threadId: null,
        inReplyTo: null,
        references: [],
        subject,
        date,
        from: { address: client, name: null },
        participants: [{ role: 'from', address: client, name: null }],
        mappingAddresses: [client],
        direction: 'incoming',
        source: 'sync',
        parsed,
        raw,
        size: raw.length,
        location: { accountId, folderId: folder.id, uidValidity: 1, uid, flags: [] },
      };
    };
    // A date no database column can hold (NaN): the insert of this one message fails on both dialects.
    const batch = [
      await build(900001, 'Fine one', Date.now()),
      await build(900002, 'Poison', Number.NaN),
      await build(900003, 'Fine two', Date.now()),
    ];
    let cursorMoved = false;
    const stored = await storeMessages(
      db,
      { orgId, ownerUserId: user.id, shared: true, accountId, blobs },
      batch,
      async (trx) => {
        await trx.updateTable('mail_folders').set({ updated_at: Date.now() }).where('id', '=', folder.id).execute();
        cursorMoved = true;
      },
    );
    expect(stored.map((s) => Boolean(s.setAside))).toEqual([false, true, false]);
    expect(cursorMoved).toBe(true);
    const subjects = await db
      .selectFrom('messages')
      .select('subject')
      .where('message_id_header', 'like', '%@hostile.test')
      .execute();
    expect(subjects.map((s) => s.subject).sort()).toEqual(['Fine one', 'Fine two']);
    const aside = await db.selectFrom('set_aside_messages').selectAll().where('account_id', '=', accountId).execute();
    expect(aside).toHaveLength(1);
    expect(aside[0]!.uid).toBe(900002);
    expect(aside[0]!.reason).toMatch(/could not be stored/);
    // Sync health shows it.
    const health = (await conversa.api('GET', `/api/email-accounts/${accountId}`, undefined, user.token)).body;
    expect(health.setAside).toEqual({
      count: 1,
      latest: [expect.objectContaining({ uid: 900002, reason: expect.stringMatching(/could not be stored/) })],
    });
    fs.rmSync(path.join(database.dataDir, 'hostile-blobs'), { recursive: true, force: true });
  });
});
