// Every real-world message of ../shared/corpus/eml, put in a mailbox whose every address is a contact, is
// stored and attached to the right contacts, with no crash and no hang. Skipped (and said so) without the corpus.
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toScannedMessage } from '../../src/mail/imap/scan-messages.js';
import { computeParticipants } from '../../src/mail/rules/participants.js';
import { createContact } from '../../src/contacts/contacts.js';
import { defaultOrgId } from '../../src/users/users.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const CORPUS = path.resolve(import.meta.dirname, '..', '..', '..', 'shared', 'corpus', 'eml');
const hasCorpus = fs.existsSync(CORPUS);
if (!hasCorpus) console.warn(`[corpus] ${CORPUS} not found: the corpus sync test is skipped`);

// On both databases: PostgreSQL refuses text SQLite keeps (a NUL byte), and the audit found a mailbox of public
// corpora stopped on it.
describe.skipIf(!hasCorpus).each(DIALECTS)('syncing the real-world corpus on %s', (dialect) => {
  const dovecot = useDovecot();
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

  it('stores every message that has an address and attaches it to the contacts of its addresses', async () => {
    const files = fs
      .readdirSync(CORPUS)
      .filter((f) => f.endsWith('.eml'))
      .sort();
    expect(files.length).toBeGreaterThan(100);
    const creds = await dovecot.addUser();
    // Dates spread over the last 30 days: the whole corpus is inside the 90-day window.
    const now = Date.now();
    await dovecot.fillMailbox(
      creds.user,
      'INBOX',
      files.map((f) => fs.readFileSync(path.join(CORPUS, f))),
      {
        dates: files.map((_, i) => new Date(now - i * 3600_000)),
      },
    );

    // What Dovecot says each message's addresses are: every one becomes a contact.
    const client = new ImapFlow({ ...dovecot.imapOptions(creds) });
    await client.connect();
    const expected = new Map<number, string[]>();
    try {
      await client.mailboxOpen('INBOX', { readOnly: true });
      for await (const msg of client.fetch(
        '1:*',
        { uid: true, envelope: true, headers: ['list-id', 'x-original-from'] },
        { uid: true },
      )) {
        const scanned = toScannedMessage(msg);
        expected.set(msg.uid, computeParticipants(scanned).mappingAddresses);
      }
    } finally {
      await client.logout();
    }
    const db = conversa.server.storage.db;
    const orgId = await defaultOrgId(db);
    const addresses = [...new Set([...expected.values()].flat())];
    for (const address of addresses) {
      try {
        await createContact(db, orgId, { emails: [address] });
      } catch {
        // Addresses the contact rules refuse (malformed in the wild) cannot be contacts: their mail is not expected.
      }
    }
    const contactAddresses = new Set(
      (await db.selectFrom('contact_addresses').select('address').where('org_id', '=', orgId).execute()).map(
        (r) => r.address,
      ),
    );

    const res = await conversa.api('POST', '/api/email-accounts', {
      provider: 'other',
      email: creds.user,
      password: creds.password,
      imap: { host: dovecot.host, port: dovecot.imapPort, secure: false },
      smtp: { host: dovecot.host, port: dovecot.submissionPort, secure: false },
    });
    expect(res.status).toBe(201);
    await waitFor(
      'the corpus to sync',
      async () => {
        const folder = await db
          .selectFrom('mail_folders')
          .select('first_sync_done')
          .where('account_id', '=', res.body.id)
          .where('role', '=', 'inbox')
          .executeTakeFirst();
        return folder?.first_sync_done === 1;
      },
      60_000,
    );

    const locations = await db
      .selectFrom('message_locations')
      .innerJoin('mail_folders', 'mail_folders.id', 'message_locations.folder_id')
      .select(['message_locations.uid', 'message_locations.message_id'])
      .where('message_locations.account_id', '=', res.body.id)
      .where('mail_folders.role', '=', 'inbox')
      .execute();
    const byUid = new Map(locations.map((l) => [l.uid, l.message_id]));
    let expectedStored = 0;
    const missing: number[] = [];
    for (const [uid, mapping] of expected) {
      const wanted = mapping.filter((a) => contactAddresses.has(a));
      if (wanted.length === 0) continue;
      expectedStored++;
      const messageId = byUid.get(uid);
      if (!messageId) {
        missing.push(uid);
        continue;
      }
      const linked = await db
        .selectFrom('message_contacts')
        .innerJoin('contact_addresses', 'contact_addresses.contact_id', 'message_contacts.contact_id')
        .select('contact_addresses.address')
        .where('message_contacts.message_id', '=', messageId)
        .execute();
      const linkedAddresses = new Set(linked.map((l) => l.address));
      for (const address of wanted) expect(linkedAddresses.has(address), `uid ${uid} on ${address}`).toBe(true);
    }
    console.info(
      `[corpus] ${files.length} messages, ${expectedStored} with a contact address, ${byUid.size} stored, missing: ${missing.length}`,
    );
    expect(missing).toEqual([]);
    expect(expectedStored).toBeGreaterThan(files.length * 0.9);
  }, 120_000);
});
