// The PostgreSQL blob store (issue 18): put/get/has idempotent, putMany (order, bytes per statement, no deadlock), missing → NOT_FOUND, a 20 MB blob read back in
// slices, reads across slice boundaries, an aborted signal, the fallback to the files of an older install, and the
// refusal of a name that is not a SHA-256; putFile's parts (0034), its checks, aborts and concurrent writers.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/app-error.js';
import { BlobMismatchError, createBlobStore } from '../../src/storage/blob-store.js';
import { createDatabaseBlobStore } from '../../src/storage/database-blob-store.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('database blob store (PostgreSQL)', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  let files = 0;
  /** `content` in a file of its own under the test's data dir. */
  const fileOf = (content: Buffer): string => {
    const file = path.join(database.dataDir, `put-file-${files++}`);
    writeFileSync(file, content);
    return file;
  };
  afterAll(async () => {
    await database?.destroy();
  });

  it('stores, reads back and is idempotent; has() says what is there', async () => {
    const store = createDatabaseBlobStore(database.storage.db);
    const content = Buffer.from('hello blob in the database');
    const ref = await store.put(content);
    expect(ref).toEqual({ sha256: sha(content), size: content.length });
    expect((await store.get(ref.sha256)).equals(content)).toBe(true);
    expect(await store.has(ref.sha256)).toBe(true);
    expect(await store.put(Buffer.from(content))).toEqual(ref);
    const rows = await database.storage.db.selectFrom('blob_contents').select(['sha256', 'size']).execute();
    expect(rows).toEqual([{ sha256: ref.sha256, size: content.length }]);
    // The empty blob is a blob too.
    const empty = await store.put(Buffer.alloc(0));
    expect((await store.get(empty.sha256)).length).toBe(0);
  });

  it('a second put of the same bytes refreshes written_at (the grace period of collection)', async () => {
    const store = createDatabaseBlobStore(database.storage.db);
    const ref = await store.put(randomBytes(100));
    await database.storage.db
      .updateTable('blob_contents')
      .set({ written_at: 1 })
      .where('sha256', '=', ref.sha256)
      .execute();
    await store.put(await store.get(ref.sha256));
    const row = await database.storage.db
      .selectFrom('blob_contents')
      .select('written_at')
      .where('sha256', '=', ref.sha256)
      .executeTakeFirstOrThrow();
    expect(row.written_at).toBeGreaterThan(1);
  });

  it('putMany stores new and refreshes stored blobs, refs in the order given, each row once', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db);
    const old = await store.put(randomBytes(300));
    await db.updateTable('blob_contents').set({ written_at: 1 }).where('sha256', '=', old.sha256).execute();
    const oldBytes = await store.get(old.sha256);
    const fresh = [randomBytes(10), randomBytes(2000), Buffer.alloc(0)];
    const contents = [fresh[0]!, oldBytes, fresh[1]!, Buffer.from(fresh[0]!), fresh[2]!];
    const refs = await store.putMany!(contents);
    expect(refs).toEqual(contents.map((c) => ({ sha256: sha(c), size: c.length })));
    for (const content of contents) expect((await store.get(sha(content))).equals(content)).toBe(true);
    const rows = await db
      .selectFrom('blob_contents')
      .select(['sha256', 'written_at'])
      .where(
        'sha256',
        'in',
        contents.map((c) => sha(c)),
      )
      .execute();
    expect(rows).toHaveLength(4);
    expect(rows.find((r) => r.sha256 === old.sha256)!.written_at).toBeGreaterThan(1);
    expect(await store.putMany!([])).toEqual([]);
  });

  it('putMany splits its inserts by bytes: blobs summing past 8 MiB, and one bigger than that, all whole', async () => {
    const store = createDatabaseBlobStore(database.storage.db);
    const contents = [randomBytes(3 << 20), randomBytes(3 << 20), randomBytes(3 << 20), randomBytes(10 << 20)];
    contents.push(...Array.from({ length: 250 }, () => randomBytes(64)));
    const refs = await store.putMany!(contents);
    expect(refs.map((r) => r.size)).toEqual(contents.map((c) => c.length));
    for (const [i, content] of contents.entries()) expect(sha(await store.get(refs[i]!.sha256))).toBe(sha(content));
  });

  it('two batches sharing blobs, given in opposite orders at once, both land (row locks in one order: no deadlock)', async () => {
    const store = createDatabaseBlobStore(database.storage.db);
    for (let round = 0; round < 5; round++) {
      const stored = Array.from({ length: 150 }, () => randomBytes(40));
      await store.putMany!(stored);
      const contents = [...stored, ...Array.from({ length: 150 }, () => randomBytes(40))];
      const backwards = [...contents].reverse();
      const [a, b, c] = await Promise.all([
        store.putMany!(contents),
        store.putMany!(backwards),
        Promise.all(contents.map((content) => store.put(content))),
      ]);
      expect(a.map((r) => r.sha256)).toEqual(contents.map((x) => sha(x)));
      expect(b.map((r) => r.sha256)).toEqual(backwards.map((x) => sha(x)));
      expect(c).toEqual(a);
      const { n } = await database.storage.db
        .selectFrom('blob_contents')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where(
          'sha256',
          'in',
          contents.map((x) => sha(x)),
        )
        .executeTakeFirstOrThrow();
      expect(Number(n)).toBe(300);
    }
  });

  it('putMany after a collection put the bytes back; an aborted signal stores nothing', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db);
    const content = randomBytes(500);
    const ref = await store.put(content);
    expect(await store.remove(ref.sha256, { writtenBefore: Date.now() + 60_000 })).toBe(true);
    expect(await store.has(ref.sha256)).toBe(false);
    await store.putMany!([content]);
    expect((await store.get(ref.sha256)).equals(content)).toBe(true);
    const never = randomBytes(500);
    const controller = new AbortController();
    controller.abort();
    await expect(store.putMany!([never], { signal: controller.signal })).rejects.toThrow();
    expect(await store.has(sha(never))).toBe(false);
  });

  it('missing → NOT_FOUND; not a SHA-256 → VALIDATION_FAILED, nothing queried with it', async () => {
    const store = createDatabaseBlobStore(database.storage.db);
    const missing = 'f'.repeat(64);
    await expect(store.get(missing)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await store.has(missing)).toBe(false);
    for (const bad of ['../../etc/passwd', 'F'.repeat(64), "' OR 1=1 --"]) {
      const error = await store.get(bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('VALIDATION_FAILED');
      await expect(store.has(bad)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });

  it('a 20 MB blob goes in as one binary parameter and comes back whole, byte for byte', async () => {
    const store = createDatabaseBlobStore(database.storage.db);
    const big = randomBytes(20 * 1024 * 1024);
    const ref = await store.put(big);
    expect(ref.size).toBe(big.length);
    const back = await store.get(ref.sha256);
    expect(back.length).toBe(big.length);
    expect(sha(back)).toBe(ref.sha256);
    const stored = await database.storage.db
      .selectFrom('blob_contents')
      .select((eb) => eb.fn<number>('octet_length', ['content']).as('n'))
      .where('sha256', '=', ref.sha256)
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(big.length);
  }, 60_000);

  it('reads across slice boundaries (exact multiples, one byte over, one under)', async () => {
    const store = createDatabaseBlobStore(database.storage.db, { readSlice: 1000 });
    for (const size of [999, 1000, 1001, 3000, 3001]) {
      const content = randomBytes(size);
      const ref = await store.put(content);
      expect((await store.get(ref.sha256)).equals(content), `size ${size}`).toBe(true);
    }
  });

  it('an aborted signal stops put and get', async () => {
    const store = createDatabaseBlobStore(database.storage.db, { readSlice: 1000 });
    const content = randomBytes(5000);
    const aborted = AbortSignal.abort();
    await expect(store.put(content, { signal: aborted })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await store.has(sha(content))).toBe(false);
    const ref = await store.put(content);
    await expect(store.get(ref.sha256, { signal: aborted })).rejects.toMatchObject({ name: 'AbortError' });
    // Aborted between two slices.
    const controller = new AbortController();
    const db = database.storage.db;
    const slow = createDatabaseBlobStore(db, { readSlice: 1000 });
    const reading = slow.get(ref.sha256, { signal: controller.signal });
    controller.abort();
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('putFile: a file bigger than a part goes in parts, in one transaction, and comes back byte for byte', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db, { partBytes: 1000, readSlice: 1000 });
    for (const size of [999, 1000, 1001, 4321, 5000]) {
      const content = randomBytes(size);
      const ref = { sha256: sha(content), size };
      expect(await store.putFile!(fileOf(content), ref)).toEqual(ref);
      expect((await store.get(ref.sha256)).equals(content), `size ${size}`).toBe(true);
      expect(await store.has(ref.sha256)).toBe(true);
      const row = await db
        .selectFrom('blob_contents')
        .select((eb) => ['parts', 'size', eb.fn<number>('octet_length', ['content']).as('inline')])
        .where('sha256', '=', ref.sha256)
        .executeTakeFirstOrThrow();
      const parts = await db
        .selectFrom('blob_parts')
        .select(['position', (eb) => eb.fn<number>('octet_length', ['content']).as('n')])
        .where('sha256', '=', ref.sha256)
        .orderBy('position')
        .execute();
      if (size <= 1000) {
        // Small enough for one read: kept inline, as put keeps it.
        expect(row).toMatchObject({ parts: 0, inline: size });
        expect(parts).toEqual([]);
      } else {
        const expected = Array.from({ length: Math.ceil(size / 1000) }, (_, i) => ({
          position: i * 1000,
          n: Math.min(1000, size - i * 1000),
        }));
        expect(row).toMatchObject({ parts: expected.length, inline: 0 });
        expect(parts.map((p) => ({ position: Number(p.position), n: Number(p.n) }))).toEqual(expected);
      }
    }
  });

  it('putFile of bytes already stored only refreshes written_at; removal takes the parts with the blob', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db, { partBytes: 1000 });
    const content = randomBytes(3500);
    const ref = { sha256: sha(content), size: content.length };
    const file = fileOf(content);
    await store.putFile!(file, ref);
    await db.updateTable('blob_contents').set({ written_at: 1 }).where('sha256', '=', ref.sha256).execute();
    await store.putFile!(file, ref);
    // put and putMany of the same bytes touch it too, and leave it in parts.
    await store.put(content);
    await store.putMany!([content]);
    const row = await db
      .selectFrom('blob_contents')
      .select(['written_at', 'parts'])
      .where('sha256', '=', ref.sha256)
      .executeTakeFirstOrThrow();
    expect(row.written_at).toBeGreaterThan(1);
    expect(row.parts).toBe(4);
    const partRows = async () =>
      (await db.selectFrom('blob_parts').select('position').where('sha256', '=', ref.sha256).execute()).length;
    expect(await partRows()).toBe(4);
    expect(await store.remove(ref.sha256, { writtenBefore: Date.now() + 60_000 })).toBe(true);
    expect(await store.has(ref.sha256)).toBe(false);
    expect(await partRows()).toBe(0);
  });

  it('putFile abuse: a file that is not its name, a file that changed, an abort midway store nothing', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db, { partBytes: 1000 });
    const content = randomBytes(4000);
    const ref = { sha256: sha(content), size: content.length };
    const nothingOf = async (sha256: string) => {
      expect(await store.has(sha256)).toBe(false);
      expect(await db.selectFrom('blob_parts').select('position').where('sha256', '=', sha256).execute()).toEqual([]);
    };
    // Other bytes of the same size, the same bytes and more, fewer: each is not the blob it is given as.
    const other = Buffer.from(content);
    other[3999] = other[3999]! ^ 0xff;
    for (const wrong of [other, Buffer.concat([content, Buffer.from('x')]), content.subarray(0, 3999)]) {
      await expect(store.putFile!(fileOf(wrong), ref)).rejects.toBeInstanceOf(BlobMismatchError);
      await nothingOf(ref.sha256);
    }
    // Small files go through put, checked the same way.
    const small = randomBytes(10);
    await expect(store.putFile!(fileOf(small), { sha256: sha(content), size: 10 })).rejects.toBeInstanceOf(
      BlobMismatchError,
    );
    // Not even under the name of what it does hold.
    expect(await store.has(sha(small))).toBe(false);
    await expect(store.putFile!(fileOf(content), { ...ref, sha256: '../'.repeat(20) })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
    // Aborted before and while it writes.
    await expect(store.putFile!(fileOf(content), ref, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
    const controller = new AbortController();
    const writing = store.putFile!(fileOf(content), ref, { signal: controller.signal });
    controller.abort();
    await expect(writing).rejects.toMatchObject({ name: 'AbortError' });
    await nothingOf(ref.sha256);
    // A file gone (collected spool) is an error, not an empty blob.
    await expect(store.putFile!(path.join(database.dataDir, 'no-such-file'), ref)).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await nothingOf(ref.sha256);
  });

  it('putFile abuse: the same big file from four writers at once lands once; a part gone is NOT_FOUND, not short bytes', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db, { partBytes: 1000, readSlice: 1000 });
    const content = randomBytes(10_500);
    const ref = { sha256: sha(content), size: content.length };
    const file = fileOf(content);
    const results = await Promise.all([1, 2, 3, 4].map(() => store.putFile!(file, ref)));
    expect(results).toEqual([ref, ref, ref, ref]);
    const parts = await db.selectFrom('blob_parts').select('position').where('sha256', '=', ref.sha256).execute();
    expect(parts).toHaveLength(11);
    expect((await store.get(ref.sha256)).equals(content)).toBe(true);
    await db.deleteFrom('blob_parts').where('sha256', '=', ref.sha256).where('position', '=', 5000).execute();
    await expect(store.get(ref.sha256)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('streams a blob a slice or a part at a time with its size; missing is NOT_FOUND before any byte', async () => {
    const db = database.storage.db;
    const store = createDatabaseBlobStore(db, { readSlice: 1000, partBytes: 1000 });
    const inline = randomBytes(2500);
    await store.put(inline);
    const inParts = randomBytes(3500);
    await store.putFile!(fileOf(inParts), { sha256: sha(inParts), size: inParts.length });
    for (const content of [inline, inParts, Buffer.alloc(0)]) {
      await store.put(content);
      const blob = await store.stream!(sha(content));
      expect(blob.size).toBe(content.length);
      const pieces: Buffer[] = [];
      for await (const piece of blob.content) pieces.push(piece as Buffer);
      expect(pieces.map((p) => p.length)).toEqual(
        content.length === 0
          ? []
          : Array.from({ length: Math.ceil(content.length / 1000) }, (_, i) =>
              Math.min(1000, content.length - i * 1000),
            ),
      );
      expect(Buffer.concat(pieces).equals(content)).toBe(true);
    }
    await expect(store.stream!('f'.repeat(64))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.stream!("' OR 1=1 --")).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    // Collected while it streams: the stream ends in NOT_FOUND, never in short bytes taken for the whole.
    const blob = await store.stream!(sha(inParts));
    const reader = blob.content[Symbol.asyncIterator]();
    await reader.next();
    await db.deleteFrom('blob_contents').where('sha256', '=', sha(inParts)).execute();
    await expect(
      (async () => {
        for (;;) if ((await reader.next()).done) return;
      })(),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A blob of an older install not moved in yet streams from its file.
    const files = createBlobStore(path.join(database.dataDir, 'blobs-stream'));
    const old = await files.put(randomBytes(5000));
    const withFiles = createDatabaseBlobStore(db, { files });
    expect((await withFiles.stream!(old.sha256)).size).toBe(5000);
  });

  it('falls back to the files of an older install until they are moved in', async () => {
    const files = createBlobStore(path.join(database.dataDir, 'blobs'));
    const old = randomBytes(300);
    const ref = await files.put(old);
    const store = createDatabaseBlobStore(database.storage.db, { files });
    expect(await store.has(ref.sha256)).toBe(true);
    expect((await store.get(ref.sha256)).equals(old)).toBe(true);
    // A new put goes to the database only.
    const fresh = await store.put(randomBytes(10));
    expect(await files.has(fresh.sha256)).toBe(false);
    await expect(store.get('e'.repeat(64))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
