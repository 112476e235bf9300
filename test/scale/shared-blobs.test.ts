// Blobs in PostgreSQL (issue 18): processes with NO shared data dir read each other's attachments. A `conversa
// worker` (data dir B) syncs a Dovecot message with a 3 MB attachment; a web-only `conversa serve` (data dir C, its
// own) serves its bytes over the API, equal byte for byte; neither data dir holds a blob file (the worker's big download
// went by way of its spool folder, left empty). And the move of an
// older install's file blobs: a file blob in C's data dir is in the database after C's start-up.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/storage/blob-store.js';
import { PART_BYTES } from '../../src/storage/database-blob-store.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage } from '../support/make-message.js';
import { useDovecot } from '../support/servers.js';
import { spawnConversa, type SpawnedConversa } from '../support/spawn-conversa.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();
const KEY = 'c4'.repeat(32);

function blobFiles(dataDir: string): string[] {
  const root = path.join(dataDir, 'blobs');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name);
}

describe('workers with no shared data dir on PostgreSQL', () => {
  let database: TestDatabase;
  let setup: TestConversa;
  const spawned: SpawnedConversa[] = [];
  const dirs: string[] = [];
  const newDataDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-own-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    database = await createTestDatabase('postgres', { migrate: false });
    // Web only, for the setup through the API (user, token, contact, mailbox); it syncs nothing.
    setup = await startTestConversa({ CONVERSA_SERVE_BACKGROUND: 'false', CONVERSA_SECRET_KEY: KEY }, database);
  }, 60_000);
  afterAll(async () => {
    for (const child of spawned) await child.stop().catch(() => undefined);
    await setup?.stop();
    await database?.destroy();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an attachment synced by one process downloads through the other, bytes equal', async () => {
    const contact = `buyer-${Date.now()}@customer.test`;
    const created = await setup.api('POST', '/api/contacts', { emails: [contact] });
    expect(created.status, created.text).toBe(201);
    const creds = await dovecot.addUser();
    const attachment = randomBytes(3 * 1024 * 1024);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({
        from: contact,
        to: [creds.user],
        subject: 'The signed contract',
        attachment: { filename: 'contract.pdf', contentType: 'application/pdf', content: attachment },
      }),
    ]);
    const account = await setup.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(account.status, account.text).toBe(201);

    const base = { DATABASE_URL: database.databaseUrl!, CONVERSA_SECRET_KEY: KEY, LOG_LEVEL: 'info' };
    const workerDir = newDataDir();
    spawned.push(await spawnConversa({ ...base, CONVERSA_DATA_DIR: workerDir }, 'worker'));

    // An older install's blob left as a file in the web node's data dir: moved in at its start-up.
    const webDir = newDataDir();
    const legacy = await createBlobStore(path.join(webDir, 'blobs')).put(Buffer.from('a blob from before issue 18'));
    const web = await spawnConversa({ ...base, CONVERSA_DATA_DIR: webDir, CONVERSA_SERVE_BACKGROUND: 'false' });
    spawned.push(web);
    const get = async (route: string) =>
      fetch(`${web.url}${route}`, { headers: { authorization: `Bearer ${setup.token}` } });

    const contactId = created.body.id as string;
    let messageId = '';
    await waitFor(
      'the worker to store the message',
      async () => {
        const res = await get(`/api/contacts/${contactId}/messages`);
        const body = (await res.json()) as { items: Array<{ id: string }> };
        messageId = body.items[0]?.id ?? '';
        return messageId !== '';
      },
      60_000,
    );
    const detail = (await (await get(`/api/messages/${messageId}`)).json()) as {
      attachments: Array<{ id: string; filename: string; size: number }>;
    };
    expect(detail.attachments).toMatchObject([{ filename: 'contract.pdf', size: attachment.length }]);
    const download = await get(`/api/messages/${messageId}/attachments/${detail.attachments[0]!.id}`);
    expect(download.status).toBe(200);
    // Streamed from the database's parts, its length said up front.
    expect(download.headers.get('content-length')).toBe(String(attachment.length));
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(attachment.length);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(
      createHash('sha256').update(attachment).digest('hex'),
    );

    // The bytes are in the database, in neither process's data dir. The message (~4 MB) was downloaded by way of the
    // worker's spool folder, emptied once its blobs were in: the attachment went in by parts (0034).
    expect(blobFiles(workerDir)).toEqual([]);
    const stored = await database.storage.db
      .selectFrom('blob_contents')
      .select(['sha256', 'parts'])
      .where('sha256', '=', createHash('sha256').update(attachment).digest('hex'))
      .execute();
    expect(stored).toMatchObject([{ parts: attachment.length / PART_BYTES }]);
    const spool = path.join(workerDir, 'spool');
    const spoolFolders = fs.readdirSync(spool);
    expect(spoolFolders).toHaveLength(1);
    expect(fs.readdirSync(path.join(spool, spoolFolders[0]!))).toEqual([]);
    // A worker that stops removes its spool folder.
    await spawned[0]!.stop();
    expect(fs.readdirSync(spool)).toEqual([]);
    await waitFor(
      'the start-up import of the file blob',
      async () =>
        (await database.storage.db
          .selectFrom('blob_contents')
          .select('sha256')
          .where('sha256', '=', legacy.sha256)
          .executeTakeFirst()) !== undefined,
      20_000,
    );

    // Abuse: an attachment id of another message, and a message that does not exist, answer 404 — not bytes.
    const other = await get(
      `/api/messages/${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}/attachments/${detail.attachments[0]!.id}`,
    );
    expect(other.status).toBe(404);
  }, 180_000);
});
