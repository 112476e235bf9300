// The inbox's costly reads on worker threads (SQLite, src/messages/reader-pool.ts): full-text searches, the unread
// badge and the contact list. A worker answers with its own read-only connection exactly what the main thread would
// (the same visibility rule), sees mail committed after it started, keeps an error's code, and a worker that cannot
// work hands its reads back to the main thread instead of losing them. Mail is stored through the intake into a real
// SQLite file.
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContact, listContacts } from '../../src/contacts/contacts.js';
import { AppError } from '../../src/core/app-error.js';
import { contactMessages, inbox, unreadCount } from '../../src/messages/messages.js';
import { createReaderPool, type ReaderPool } from '../../src/messages/reader-pool.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { openBlobStore } from '../../src/storage/open-blob-store.js';
import { newId } from '../../src/storage/ids.js';
import { createUser, findUserById, type User } from '../../src/users/users.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { addMailbox } from '../support/mailbox-rows.js';
import { makeMessage } from '../support/make-message.js';
import { storeIncomingMail } from '../support/store-mail.js';
import { addOrg } from '../support/org-rows.js';

describe('searches and the unread badge on worker threads (SQLite)', () => {
  let database: TestDatabase;
  let blobs: BlobStore;
  let ana: User;
  let bruno: User;
  let anaBox: string;
  let brunoPrivateBox: string;
  const pools: ReaderPool[] = [];

  async function user(email: string): Promise<User> {
    const db = database.storage.db;
    return (await findUserById(db, (await createUser(db, { email, password: 'long password 1' })).id))!;
  }

  function pool(file = database.sqliteFile!): ReaderPool {
    const created = createReaderPool({ file, db: database.storage.db, size: 1 });
    pools.push(created);
    return created;
  }

  function mail(subject: string, body: string): string {
    return makeMessage({ from: 'Cliente <cliente@comprador.test>', to: ['me@mailbox.test'], subject, body });
  }

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    blobs = openBlobStore(database.storage, database.dataDir);
    ana = await user('ana@reader-pool.test');
    bruno = await user('bruno@reader-pool.test');
    anaBox = await addMailbox(database.storage.db, ana.orgId, ana, 'ana@reader-pool.test', true);
    brunoPrivateBox = await addMailbox(database.storage.db, bruno.orgId, bruno, 'bruno@reader-pool.test', false);
    await storeIncomingMail(database.storage.db, blobs, anaBox, [
      mail('Orçamento da reunião', 'Segue o orçamento revisto para a reunião de terça.'),
      mail('Outro assunto', 'Nada a ver com o tema, mas cita a reunião de passagem.'),
      mail('Sem relação', 'Texto sem a palavra buscada.'),
    ]);
    await storeIncomingMail(database.storage.db, blobs, brunoPrivateBox, [
      mail('Reunião privada', 'Só o Bruno lê esta reunião.'),
    ]);
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await database?.destroy();
  });

  it('answers what the main thread answers, under the same visibility rule', async () => {
    const searches = pool();
    const options = { q: 'reuniao', limit: 20 };
    const direct = await inbox(database.storage.db, ana, options);
    const pooled = await searches.inbox(ana, options);
    expect(direct.items.map((m) => m.subject)).toEqual(['Orçamento da reunião', 'Outro assunto']);
    expect(pooled).toEqual(direct);
    // Bruno's private mail holds the word and his own search finds it: it is there, and Ana's search left it out.
    expect((await searches.inbox(bruno, options)).items.map((m) => m.subject)).toEqual(['Reunião privada']);
    // A contact's timeline, through the worker too.
    const contactId = (
      await database.storage.db.selectFrom('contacts').select('id').where('org_id', '=', ana.orgId).execute()
    ).map((c) => c.id);
    for (const id of contactId)
      expect(await searches.contactMessages(ana, id, options)).toEqual(
        await contactMessages(database.storage.db, ana, id, options),
      );
  });

  it("counts the unread badge as the main thread does, without a colleague's private mail", async () => {
    const readers = pool();
    const anaUnread = await unreadCount(database.storage.db, ana);
    expect(anaUnread).toBeGreaterThanOrEqual(3);
    expect(await readers.unreadCount(ana)).toBe(anaUnread);
    expect(await readers.unreadCount(bruno)).toBe(await unreadCount(database.storage.db, bruno));
    expect(await readers.unreadCount(bruno)).toBe(1);
  });

  it("lists and searches contacts as the main thread does, in the caller's organisation only", async () => {
    const db = database.storage.db;
    const other = newId();
    await addOrg(db, 'Other', other);
    await createContact(db, ana.orgId, { firstName: 'Joana', lastName: 'Brandão', emails: ['joana@pool.test'] });
    await createContact(db, ana.orgId, { firstName: 'Brandon', company: 'Acme', emails: ['b@acme.test'] });
    await createContact(db, other, { firstName: 'Joana', lastName: 'Brandão', emails: ['joana@other.test'] });
    const readers = pool();
    for (const options of [
      { limit: 50 },
      { q: 'brand', limit: 50 },
      { q: 'brandão joana', limit: 50 },
      { q: 'jo', limit: 1 },
    ]) {
      const direct = await listContacts(db, ana.orgId, options);
      expect(await readers.contacts(ana.orgId, options)).toEqual(direct);
    }
    expect((await readers.contacts(ana.orgId, { q: 'brandão', limit: 50 })).items.map((c) => c.emails)).toEqual([
      ['joana@pool.test'],
    ]);
    await expect(readers.contacts(ana.orgId, { limit: 5, cursor: 'garbage!' })).rejects.toSatisfy(
      (error: unknown) => error instanceof AppError && error.code === 'VALIDATION_FAILED',
    );
  });

  it('finds mail committed after the worker started', async () => {
    const searches = pool();
    expect((await searches.inbox(ana, { q: 'abacaxi', limit: 20 })).items).toEqual([]);
    await storeIncomingMail(database.storage.db, blobs, anaBox, [mail('Fruta', 'Chegou o abacaxi.')]);
    expect((await searches.inbox(ana, { q: 'abacaxi', limit: 20 })).items.map((m) => m.subject)).toEqual(['Fruta']);
  });

  it('searches on its own connection to the file it was given', async () => {
    // A copy of the file taken now: mail stored afterwards is in the app's file only. The copy's worker cannot see
    // it, so what it answers comes from the worker's connection, not from the main thread's.
    const copy = path.join(database.dataDir, 'copy.db');
    await sql`vacuum into ${copy}`.execute(database.storage.db);
    await storeIncomingMail(database.storage.db, blobs, anaBox, [mail('Depois da cópia', 'Uma goiaba madura.')]);
    expect((await inbox(database.storage.db, ana, { q: 'goiaba', limit: 20 })).items).toHaveLength(1);
    expect((await pool(copy).inbox(ana, { q: 'goiaba', limit: 20 })).items).toEqual([]);
  });

  it("keeps an error's code: a contact of another organisation is not found", async () => {
    await expect(
      pool().contactMessages(ana, '00000000-0000-4000-8000-000000000000', { q: 'x', limit: 5 }),
    ).rejects.toSatisfy((error: unknown) => error instanceof AppError && error.code === 'NOT_FOUND');
  });

  it('hands the search to the main thread when no worker can open the file, and stops after close', async () => {
    const missing = path.join(database.dataDir, 'not-there.db');
    const searches = pool(missing);
    const options = { q: 'orcamento', limit: 20 };
    expect(await searches.inbox(ana, options)).toEqual(await inbox(database.storage.db, ana, options));
    // The next one as well (a new worker fails the same way), and the file was never created by a reader.
    expect((await searches.inbox(ana, options)).items.map((m) => m.subject)).toEqual(['Orçamento da reunião']);
    expect(fs.existsSync(missing)).toBe(false);
    await searches.close();
    await expect(searches.inbox(ana, options)).rejects.toThrow(/closed/);
  });
});
