// Big downloads where blobs live in PostgreSQL (issue 18): written to a folder of their own under the spool, parsed from
// there by the real parse pool, their blobs copied into the database store in parts (0034), the folder removed —
// and removed too when the download, the parse or the copy fails, storing nothing half.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParsePool, type ParsePool } from '../../src/mail/mime/parse-pool.js';
import { spooledDownloads } from '../../src/mail/mime/spooled-downloads.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { createDatabaseBlobStore, PART_BYTES } from '../../src/storage/database-blob-store.js';
import { storedMessageWithBlockedWrites } from '../support/blocked-blob-writes.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { makeMessage } from '../support/make-message.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function bigMessage(attachment: Buffer, subject = 'Big download'): Buffer {
  return Buffer.from(
    makeMessage({
      from: 'Ana <ana@example.com>',
      to: ['bia@example.com'],
      subject,
      attachment: { filename: 'big.bin', contentType: 'application/octet-stream', content: attachment },
    }),
  );
}

async function* pieces(raw: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < raw.length; at += 65_536) yield raw.subarray(at, at + 65_536);
}

describe('spooled downloads into the PostgreSQL blob store', () => {
  let database: TestDatabase;
  let pool: ParsePool;
  let spool: string;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    pool = createParsePool({ size: 1 });
    spool = mkdtempSync(path.join(tmpdir(), 'cnv-spool-'));
  });
  afterAll(async () => {
    await pool?.close();
    await database?.destroy();
    rmSync(spool, { recursive: true, force: true });
  });

  it('a big download: spooled, parsed, its raw message and attachment in the database in parts, the folder gone', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db);
    const downloads = spooledDownloads(pool, spool, store);
    const attachment = randomBytes(3 * 1024 * 1024);
    const raw = bigMessage(attachment);
    const download = await downloads.store(pieces(raw));
    expect(download.ref).toEqual({ sha256: sha(raw), size: raw.length });
    expect(path.dirname(download.files.root)).toBe(spool);
    const message = await downloads.parse(download, { storeBlobs: true });
    expect(message).toMatchObject({ subject: 'Big download', parseError: null });
    expect(message.blobs).toEqual({
      raw: download.ref,
      attachments: [{ sha256: sha(attachment), size: attachment.length }],
    });
    expect((await store.get(sha(raw))).equals(raw)).toBe(true);
    expect((await store.get(sha(attachment))).equals(attachment)).toBe(true);
    const rows = await db
      .selectFrom('blob_contents')
      .select(['sha256', 'parts'])
      .where('sha256', 'in', [sha(raw), sha(attachment)])
      .execute();
    expect(Object.fromEntries(rows.map((r) => [r.sha256, r.parts]))).toEqual({
      [sha(raw)]: Math.ceil(raw.length / PART_BYTES),
      [sha(attachment)]: (3 * 1024 * 1024) / PART_BYTES,
    });
    expect(readdirSync(spool)).toEqual([]);
  });

  it('the same message downloaded twice at once: two folders, both parsed, its blobs stored once', async () => {
    const db = database.storage.db;
    const downloads = spooledDownloads(pool, spool, createDatabaseBlobStore(db, { partBytes: 256 * 1024 }));
    const attachment = randomBytes(2 * 1024 * 1024);
    const raw = bigMessage(attachment, 'Twice');
    const [a, b] = await Promise.all([downloads.store(pieces(raw)), downloads.store(pieces(raw))]);
    expect(a!.files.root).not.toBe(b!.files.root);
    const [ma, mb] = await Promise.all([downloads.parse(a!), downloads.parse(b!)]);
    expect(ma.blobs).toEqual(mb.blobs);
    const stored = await db
      .selectFrom('blob_contents')
      .select('sha256')
      .where('sha256', 'in', [sha(raw), sha(attachment)])
      .execute();
    expect(stored).toHaveLength(2);
    expect((await createDatabaseBlobStore(db).get(sha(attachment))).equals(attachment)).toBe(true);
    expect(readdirSync(spool)).toEqual([]);
  });

  it('abuse: a download cut off, a parse that cannot write its blobs, a copy the store refuses, an abort leave no folder', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db);
    const downloads = spooledDownloads(pool, spool, store);
    const raw = bigMessage(randomBytes(2 * 1024 * 1024), 'Refused');
    // Cut off midway: nothing stays.
    const cut = (async function* () {
      yield raw.subarray(0, 100_000);
      throw new Error('connection lost');
    })();
    await expect(downloads.store(cut)).rejects.toThrow(/connection lost/);
    expect(readdirSync(spool)).toEqual([]);

    // The worker cannot write an attachment (a full disk): the message fails, to be synced again; its folder goes.
    const blocked = path.join(spool, 'blocked');
    mkdirSync(blocked);
    const ref = storedMessageWithBlockedWrites(blocked, 300_000);
    await expect(downloads.parse({ ref, files: { root: blocked } })).rejects.toThrow(/could not be stored/);
    expect(existsSync(blocked)).toBe(false);

    // The store refuses the copy (the database gone): the parse rejects, nothing is left half in either place.
    const refusing: BlobStore = {
      ...store,
      putFile: () => Promise.reject(new Error('database unreachable')),
    };
    const failing = spooledDownloads(pool, spool, refusing);
    const download = await failing.store(pieces(raw));
    await expect(failing.parse(download)).rejects.toThrow(/database unreachable/);
    expect(readdirSync(spool)).toEqual([]);
    expect(await store.has(sha(raw))).toBe(false);

    // Aborted while parsing: rejected, folder removed, nothing stored.
    const controller = new AbortController();
    const again = await downloads.store(pieces(raw));
    const parsing = downloads.parse(again, { signal: controller.signal });
    controller.abort(new Error('sync stopped'));
    await expect(parsing).rejects.toThrow(/sync stopped/);
    expect(readdirSync(spool)).toEqual([]);
    // The pool rejects a download's parse only once its worker is done with it: no late write brings the folder back
    // (a worker still writing attachments after the rejection left it behind, once in CI).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(readdirSync(spool)).toEqual([]);
    expect(await store.has(sha(raw))).toBe(false);
  });
});
