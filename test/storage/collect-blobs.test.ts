// Collection of unreferenced blobs (issue 18) on SQLite (files) and PostgreSQL (blob_contents): old unnamed blobs
// go with their `blobs` row; named ones stay; a blob just written and not named yet (intake writes it BEFORE the row
// that names it) survives, and so does an old one written again (the same bytes arriving anew). Then the move of
// an older install's file blobs into PostgreSQL: idempotent, resumable, damage left out.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobRef, BlobStore } from '../../src/storage/blob-store.js';
import { createBlobStore } from '../../src/storage/blob-store.js';
import { BLOB_GRACE_MS, collectBlobs } from '../../src/storage/collect-blobs.js';
import { PART_BYTES } from '../../src/storage/database-blob-store.js';
import { fileBlobsPending, importFileBlobs, IMPORTED_MARKER } from '../../src/storage/import-file-blobs.js';
import { blobsDirOf, openBlobStore } from '../../src/storage/open-blob-store.js';
import { newId } from '../../src/storage/ids.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { waitFor } from '../support/wait-for.js';
import { addOrg } from '../support/org-rows.js';

describe.each(DIALECTS)('blob collection on %s', (dialect) => {
  let database: TestDatabase;
  let blobs: BlobStore;
  const t = Date.now();

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    blobs = openBlobStore(database.storage, database.dataDir);
    await addOrg(database.storage.db, 'Org', 'o1');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const db = () => database.storage.db;

  /** Makes a blob look written `ms` ago (what the grace period counts from). */
  async function age(ref: BlobRef, ms: number): Promise<void> {
    const then = Date.now() - ms;
    if (dialect === 'postgres')
      await db().updateTable('blob_contents').set({ written_at: then }).where('sha256', '=', ref.sha256).execute();
    else {
      const file = createBlobStore(blobsDirOf(database.dataDir)).path(ref.sha256);
      await utimes(file, new Date(then), new Date(then));
    }
  }

  async function blobRow(ref: BlobRef): Promise<void> {
    await db()
      .insertInto('blobs')
      .values({ sha256: ref.sha256, size: ref.size, created_at: t })
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
  }

  async function messageNaming(ref: BlobRef, attachment?: BlobRef): Promise<string> {
    const id = newId();
    await blobRow(ref);
    await db()
      .insertInto('messages')
      .values({
        id,
        org_id: 'o1',
        dedupe_key: id,
        message_id_header: null,
        gm_msgid: null,
        thread_id: null,
        in_reply_to: null,
        references_json: null,
        subject: 's',
        from_address: 'a@b.test',
        from_name: null,
        date: t,
        direction: 'incoming',
        source: 'sync',
        snippet: null,
        text_body: null,
        html_body: null,
        has_attachments: attachment ? 1 : 0,
        bounced: 0,
        size: ref.size,
        raw_blob_sha256: ref.sha256,
        parse_error: null,
        owner_user_id: null,
        shared: 0,
        content_digest: null,
        created_at: t,
      })
      .execute();
    if (attachment) {
      await blobRow(attachment);
      await db()
        .insertInto('attachments')
        .values({
          id: newId(),
          message_id: id,
          blob_sha256: attachment.sha256,
          filename: 'a.pdf',
          content_type: 'application/pdf',
          size: attachment.size,
          content_id: null,
          inline: 0,
          position: 0,
        })
        .execute();
    }
    return id;
  }

  it('removes old unnamed blobs with their row; keeps named ones, fresh ones and old ones written again', async () => {
    const raw = await blobs.put(randomBytes(200));
    const attachment = await blobs.put(randomBytes(300));
    await messageNaming(raw, attachment);
    const orphan = await blobs.put(randomBytes(400));
    await blobRow(orphan);
    const rewritten = await blobs.put(randomBytes(500));
    for (const ref of [raw, attachment, orphan, rewritten]) await age(ref, 2 * BLOB_GRACE_MS);
    // Intake's first step for a message on its way: the blob, BEFORE the row that names it.
    const inFlight = await blobs.put(randomBytes(600));
    // The same bytes as an old unnamed blob arrive again (a new message with the same attachment).
    await blobs.put(await blobs.get(rewritten.sha256));

    const result = await collectBlobs(db(), blobs);
    expect(result.removed).toBe(1);
    expect(await blobs.has(orphan.sha256)).toBe(false);
    await expect(blobs.get(orphan.sha256)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await db().selectFrom('blobs').select('sha256').where('sha256', '=', orphan.sha256).execute()).toEqual([]);
    for (const kept of [raw, attachment, inFlight, rewritten]) expect(await blobs.has(kept.sha256)).toBe(true);
    expect(await db().selectFrom('blobs').select('sha256').where('sha256', '=', raw.sha256).execute()).toHaveLength(1);

    // The in-flight transaction now names its blob: it is there to read.
    await messageNaming(inFlight);
    expect((await blobs.get(inFlight.sha256)).length).toBe(600);

    // A second run finds nothing more to do (idempotent), even with its clock past every grace period but the
    // named blobs still named.
    const again = await collectBlobs(db(), blobs, { now: Date.now() + 2 * BLOB_GRACE_MS });
    expect(again.removed).toBe(1); // `rewritten`: never named, now old
    for (const kept of [raw, attachment, inFlight]) expect(await blobs.has(kept.sha256)).toBe(true);
  });

  it('remove() backs off from a blob written after the cut-off, and says false for one that is not there', async () => {
    const fresh = await blobs.put(randomBytes(50));
    expect(await blobs.remove(fresh.sha256, { writtenBefore: Date.now() - BLOB_GRACE_MS })).toBe(false);
    expect(await blobs.has(fresh.sha256)).toBe(true);
    expect(await blobs.remove('0'.repeat(64), { writtenBefore: Date.now() })).toBe(false);
    // A blob removed, then put again: back, readable.
    await age(fresh, 2 * BLOB_GRACE_MS);
    expect(await blobs.remove(fresh.sha256, { writtenBefore: Date.now() - BLOB_GRACE_MS })).toBe(true);
    const back = await blobs.put(randomBytes(50));
    expect(await blobs.has(back.sha256)).toBe(true);
  });

  it('only: the candidates of an erasure, nothing else', async () => {
    const a = await blobs.put(randomBytes(70));
    const b = await blobs.put(randomBytes(80));
    await age(a, 2 * BLOB_GRACE_MS);
    await age(b, 2 * BLOB_GRACE_MS);
    expect((await collectBlobs(db(), blobs, { only: [a.sha256] })).removed).toBe(1);
    expect(await blobs.has(a.sha256)).toBe(false);
    expect(await blobs.has(b.sha256)).toBe(true);
  });
});

describe('moving file blobs into PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('copies every file in, skips what is in already (a run cut short), leaves damage out, then marks the folder', async () => {
    const dir = blobsDirOf(database.dataDir);
    const files = createBlobStore(dir);
    // The last one big enough to go in by parts (0034), never read whole.
    const contents = Array.from({ length: 7 }, (_, i) => randomBytes(i === 6 ? 3 * 1024 * 1024 + 5 : 100 + i));
    const refs = await Promise.all(contents.map((c) => files.put(c)));
    const store = openBlobStore(database.storage, database.dataDir);
    // An earlier run was killed after the first two blobs.
    for (const c of contents.slice(0, 2)) await store.put(c);
    // A damaged file: its bytes do not match its name.
    const damagedName = 'ab'.repeat(32);
    fs.mkdirSync(path.dirname(files.path(damagedName)), { recursive: true });
    await writeFile(files.path(damagedName), 'not what the name says');
    // And a big one: refused by its parts' check, nothing of it stored.
    const bigDamagedName = 'cd'.repeat(32);
    fs.mkdirSync(path.dirname(files.path(bigDamagedName)), { recursive: true });
    await writeFile(files.path(bigDamagedName), randomBytes(3 * 1024 * 1024));
    expect(fileBlobsPending(dir)).toBe(true);

    const lines: string[] = [];
    const first = await importFileBlobs(database.storage.db, store, dir, {
      batchSize: 3,
      progress: (l) => lines.push(l),
    });
    expect(first).toMatchObject({ files: 9, imported: 5, alreadyIn: 2, damaged: [damagedName, bigDamagedName] });
    expect(lines.at(-1)).toContain('2 damaged left out');
    const big = await database.storage.db
      .selectFrom('blob_contents')
      .select('parts')
      .where('sha256', '=', refs[6]!.sha256)
      .executeTakeFirstOrThrow();
    expect(big.parts).toBe(Math.ceil(contents[6]!.length / PART_BYTES));
    expect(await database.storage.db.selectFrom('blob_parts').select('sha256').distinct().execute()).toEqual([
      { sha256: refs[6]!.sha256 },
    ]);
    // Damage keeps the folder pending, so a next start-up tries again (and says so again).
    expect(fileBlobsPending(dir)).toBe(true);
    const rows = await database.storage.db.selectFrom('blob_contents').select('sha256').execute();
    expect(rows.map((r) => r.sha256).sort()).toEqual(refs.map((r) => r.sha256).sort());
    // Read from the database, not the files: a store without the fallback reads them all.
    const onlyDatabase = openBlobStore(database.storage, '/nonexistent-data-dir');
    for (const [i, ref] of refs.entries()) expect((await onlyDatabase.get(ref.sha256)).equals(contents[i]!)).toBe(true);

    fs.rmSync(files.path(damagedName));
    fs.rmSync(files.path(bigDamagedName));
    const second = await importFileBlobs(database.storage.db, store, dir);
    expect(second).toMatchObject({ files: 7, imported: 0, alreadyIn: 7, damaged: [] });
    expect(fs.existsSync(path.join(dir, IMPORTED_MARKER))).toBe(true);
    expect(fileBlobsPending(dir)).toBe(false);
    // Marked done: a start-up does not walk the folder again (force does).
    expect((await importFileBlobs(database.storage.db, store, dir)).files).toBe(0);
    expect((await importFileBlobs(database.storage.db, store, dir, { force: true })).alreadyIn).toBe(7);
  });
});

describe.each(DIALECTS)('the background work collects on %s', (dialect) => {
  let database: TestDatabase;
  let conversa: TestConversa;
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    // A short period and no grace, for the test only (no mailbox here, so no intake to race with).
    conversa = await startTestConversa({}, database, { blobCollection: { intervalMs: 100, graceMs: 0 } });
  });
  afterAll(async () => {
    await conversa?.stop();
    await database?.destroy();
  });

  it('removes a blob nothing names at its next run, and never one that is named', async () => {
    const blobs = conversa.server.blobs;
    const orphan = await blobs.put(randomBytes(64));
    await waitFor('the periodic collection', async () => !(await blobs.has(orphan.sha256)), 10_000);
    // Named by a message row.
    // Named first, written after (with no grace here, the other order is the race the grace period prevents).
    const content = randomBytes(64);
    const named = { sha256: createHash('sha256').update(content).digest('hex'), size: content.length };
    await database.storage.db
      .insertInto('blobs')
      .values({ sha256: named.sha256, size: named.size, created_at: Date.now() })
      .execute();
    const org = await database.storage.db.selectFrom('orgs').select('id').executeTakeFirstOrThrow();
    const id = newId();
    await database.storage.db
      .insertInto('messages')
      .values({
        id,
        org_id: org.id,
        dedupe_key: id,
        message_id_header: null,
        gm_msgid: null,
        thread_id: null,
        in_reply_to: null,
        references_json: null,
        subject: 's',
        from_address: 'a@b.test',
        from_name: null,
        date: Date.now(),
        direction: 'incoming',
        source: 'sync',
        snippet: null,
        text_body: null,
        html_body: null,
        has_attachments: 0,
        bounced: 0,
        size: named.size,
        raw_blob_sha256: named.sha256,
        parse_error: null,
        owner_user_id: null,
        shared: 0,
        content_digest: null,
        created_at: Date.now(),
      })
      .execute();
    await blobs.put(content);
    // A run now (the periodic one does the same): the named blob stays.
    expect(await conversa.server.background!.collectBlobs()).toBe(0);
    expect(await blobs.has(named.sha256)).toBe(true);
  });
});
