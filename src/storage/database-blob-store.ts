// Blobs in PostgreSQL (issue 18): the bytes of raw messages and attachments in blob_contents, so every process
// that reaches the database reads every blob (a worker on another machine needs no shared volume). Memory per blob
// stays bounded: bytes go out as one binary Buffer parameter (no base64 or hex on the way in) and come back in
// slices of READ_SLICE bytes, 1 MiB (the hex text of one slice at a time, never of the whole blob), copied into one
// Buffer of the blob's size. (Not the binary result format: node-postgres 8 decodes every result field as UTF-8
// text, which would mangle bytes, so the hex of one slice it is.) The column is stored uncompressed (migration
// 0024), so a slice reads only its TOAST chunks. While file blobs of an older install are not moved in yet
// (src/storage/import-file-blobs.ts), reads fall back to `files`.
// A blob written from a local file (`putFile`: a big download spooled to disk, a file blob moved in) goes in pieces
// of PART_BYTES (256 KiB), one blob_parts row each (migration 0034), so it is never whole in memory on the way in
// either; its blob_contents row then holds no bytes and says how many parts there are. The row and its parts commit
// together.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { sql, type Transaction } from 'kysely';
import { BlobMismatchError, blobNotFound, checkedSha256, readBlobFile, type BlobStore } from './blob-store.js';
import { inChunks } from './batches.js';
import type { Db } from './database.js';
import type { Database } from './schema.js';

/** Bytes per read round trip: 1 MiB of blob is 2 MiB of hex text in flight, whatever the blob's size. */
export const READ_SLICE = 1024 * 1024;

/**
 * Bytes per blob_parts row, one read round trip each. 256 KiB rather than a 1 MiB slice's size: node-postgres keeps
 * a buffer of each parameter and result's size per connection, and with 1 MiB parts a first sync of 27 MB messages
 * peaked at 184.6–195.5 MB against 170.6–185.9 (bench/README.md, "Memory round 4"); downloads were no slower.
 */
export const PART_BYTES = 256 * 1024;

/** putMany: blobs per statement, and bytes per insert (a bigger blob goes alone). */
const PUT_MANY_ROWS = 200;
const PUT_MANY_BYTES = 8 * 1024 * 1024;

export interface DatabaseBlobStoreOptions {
  /** Where blobs not moved into the database yet are read from (the data dir's file store); never written. */
  files?: BlobStore;
  /** Bytes per read (tests use small slices to cross slice boundaries). */
  readSlice?: number;
  /** Bytes per part of a blob written from a file (tests use small parts). */
  partBytes?: number;
}

const EMPTY = Buffer.alloc(0);

export function createDatabaseBlobStore(db: Db, options: DatabaseBlobStoreOptions = {}): BlobStore {
  const slice = options.readSlice ?? READ_SLICE;
  const partBytes = options.partBytes ?? PART_BYTES;
  const files = options.files;

  async function readSlice(
    sha256: string,
    offset: number,
  ): Promise<{ size: number; parts: number; part: Buffer } | undefined> {
    const { rows } = await sql<{ size: number; parts: number; part: Buffer }>`
      SELECT size, parts, substring(content FROM ${offset + 1}::int FOR ${slice}::int) AS part
      FROM blob_contents WHERE sha256 = ${sha256}`.execute(db);
    return rows[0];
  }

  async function readPart(sha256: string, position: number): Promise<Buffer | undefined> {
    const row = await db
      .selectFrom('blob_parts')
      .select('content')
      .where('sha256', '=', sha256)
      .where('position', '=', position)
      .executeTakeFirst();
    return row?.content;
  }

  /**
   * The blob's size, its first piece and the rest piece by piece (slices of `content`, or its parts); undefined when
   * the database does not hold it. A piece gone midway (collected meanwhile) is NOT_FOUND, never short bytes.
   */
  async function opened(
    sha256: string,
    signal: AbortSignal | undefined,
  ): Promise<{ size: number; first: Buffer; rest: AsyncGenerator<Buffer> } | undefined> {
    checkedSha256(sha256);
    signal?.throwIfAborted();
    const row = await readSlice(sha256, 0);
    if (!row) return undefined;
    const size = Number(row.size);
    const inParts = Number(row.parts) > 0;
    const first = inParts ? await readPart(sha256, 0) : row.part;
    if (!first || (first.length === 0 && size > 0)) throw blobNotFound(sha256);
    const read = async (position: number): Promise<Buffer> => {
      signal?.throwIfAborted();
      const piece = inParts ? await readPart(sha256, position) : (await readSlice(sha256, position))?.part;
      if (!piece || piece.length === 0) throw blobNotFound(sha256);
      return piece;
    };
    async function* rest(): AsyncGenerator<Buffer> {
      let filled = first!.length;
      // One piece read ahead: the next round trip runs while the caller sends (or copies) this one. Streaming a
      // 20 MB attachment piece after piece without it took twice as long as reading it whole first.
      let next = filled < size ? read(filled) : null;
      while (next) {
        const piece = await next;
        filled += piece.length;
        next = filled < size ? read(filled) : null;
        // A caller that stops reading leaves the piece ahead unawaited: its failure is nobody's.
        next?.catch(() => undefined);
        yield piece;
      }
    }
    return { size, first, rest: rest() };
  }

  /**
   * Bytes already here: only a fresh written_at (the grace period of collection). The row lock of this update orders
   * it with a collector's delete: either the delete sees the new time and backs off, or it went first and this
   * updates nothing and the caller inserts the bytes again. True when the blob was there.
   */
  async function touched(sha256: string, now: number, executor: Db | Transaction<Database> = db): Promise<boolean> {
    const result = await executor
      .updateTable('blob_contents')
      .set({ written_at: now })
      .where('sha256', '=', sha256)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  const store: BlobStore = {
    async put(content, { signal } = {}) {
      signal?.throwIfAborted();
      const sha256 = createHash('sha256').update(content).digest('hex');
      const now = Date.now();
      if (!(await touched(sha256, now))) {
        signal?.throwIfAborted();
        await db
          .insertInto('blob_contents')
          .values({ sha256, size: content.length, content, created_at: now, written_at: now })
          .onConflict((oc) => oc.column('sha256').doUpdateSet({ written_at: now }))
          .execute();
      }
      return { sha256, size: content.length };
    },

    async putFile(file, ref, { signal } = {}) {
      const sha256 = checkedSha256(ref.sha256);
      signal?.throwIfAborted();
      // Small enough for one read: checked, then stored inline as put stores it.
      if (ref.size <= partBytes) return store.put(await readBlobFile(file, ref), signal ? { signal } : {});
      const now = Date.now();
      if (await touched(sha256, now)) return ref;
      await db.transaction().execute(async (trx) => {
        // A writer of the same bytes at the same time: this insert waits for its commit, then inserts nothing.
        const mine = await trx
          .insertInto('blob_contents')
          .values({
            sha256,
            size: ref.size,
            content: EMPTY,
            parts: Math.ceil(ref.size / partBytes),
            created_at: now,
            written_at: now,
          })
          .onConflict((oc) => oc.column('sha256').doNothing())
          .returning('sha256')
          .executeTakeFirst();
        if (!mine) {
          await touched(sha256, now, trx);
          return;
        }
        const hash = createHash('sha256');
        // One buffer for every part: each insert is sent (its parameter copied out) before the next read.
        const piece = Buffer.allocUnsafe(partBytes);
        const handle = await open(file, 'r');
        let position = 0;
        try {
          while (position < ref.size) {
            signal?.throwIfAborted();
            const { bytesRead } = await handle.read(piece, 0, Math.min(partBytes, ref.size - position), position);
            if (bytesRead === 0) break;
            const content = piece.subarray(0, bytesRead);
            hash.update(content);
            await trx.insertInto('blob_parts').values({ sha256, position, content }).execute();
            position += bytesRead;
          }
          // Anything past the size the name promises makes the file another blob.
          const { bytesRead: beyond } = await handle.read(piece, 0, 1, position);
          if (position !== ref.size || beyond !== 0 || hash.digest('hex') !== sha256)
            throw new BlobMismatchError(file, ref);
        } finally {
          await handle.close();
        }
      });
      return ref;
    },

    async putMany(contents, { signal } = {}) {
      signal?.throwIfAborted();
      const refs = contents.map((content) => ({
        sha256: createHash('sha256').update(content).digest('hex'),
        size: content.length,
      }));
      const bytes = new Map<string, Buffer>();
      contents.forEach((content, i) => bytes.set(refs[i]!.sha256, content));
      // In hash order, the row locks too (FOR UPDATE … ORDER BY): two batches sharing blobs take them in one order,
      // never each waiting for the other's. Each statement commits on its own, as put's do, but there are two per
      // batch, not one per blob: on PostgreSQL each commit waits for its WAL flush (issue 18: the 4-writer seed spent
      // ~40% of its database time in blob touches waiting for WALWrite/WALSync).
      const hashes = [...bytes.keys()].sort();
      const now = Date.now();
      const refreshed = new Set<string>();
      for (const chunk of inChunks(hashes, PUT_MANY_ROWS)) {
        const { rows } = await sql<{ sha256: string }>`
          UPDATE blob_contents SET written_at = ${now}
          WHERE sha256 IN (SELECT sha256 FROM blob_contents WHERE sha256 = ANY(${chunk}::text[])
            ORDER BY sha256 FOR UPDATE)
          RETURNING sha256`.execute(db);
        for (const row of rows) refreshed.add(row.sha256);
      }
      // The rest are new (or were collected since): inserted a few MiB per statement, still in hash order.
      let chunk: string[] = [];
      let chunkBytes = 0;
      const insert = async () => {
        if (chunk.length === 0) return;
        signal?.throwIfAborted();
        await db
          .insertInto('blob_contents')
          .values(
            chunk.map((sha256) => {
              const content = bytes.get(sha256)!;
              return { sha256, size: content.length, content, created_at: now, written_at: now };
            }),
          )
          .onConflict((oc) => oc.column('sha256').doUpdateSet({ written_at: now }))
          .execute();
        chunk = [];
        chunkBytes = 0;
      };
      for (const sha256 of hashes) {
        if (refreshed.has(sha256)) continue;
        const size = bytes.get(sha256)!.length;
        if (chunk.length > 0 && (chunk.length >= PUT_MANY_ROWS || chunkBytes + size > PUT_MANY_BYTES)) await insert();
        chunk.push(sha256);
        chunkBytes += size;
      }
      await insert();
      return refs;
    },

    async get(sha256, { signal } = {}) {
      const blob = await opened(sha256, signal);
      if (!blob) {
        if (files) return files.get(sha256, signal ? { signal } : {});
        throw blobNotFound(sha256);
      }
      if (blob.first.length >= blob.size) return blob.first;
      const whole = Buffer.allocUnsafe(blob.size);
      let filled = blob.first.copy(whole, 0);
      for await (const piece of blob.rest) filled += piece.copy(whole, filled);
      return whole;
    },

    async stream(sha256, { signal } = {}) {
      const blob = await opened(sha256, signal);
      if (!blob) {
        if (files?.stream) return files.stream(sha256, signal ? { signal } : {});
        throw blobNotFound(sha256);
      }
      const { first, rest } = blob;
      async function* pieces(): AsyncGenerator<Buffer> {
        yield first;
        yield* rest;
      }
      return { size: blob.size, content: Readable.from(pieces(), { objectMode: false }) };
    },

    async has(sha256) {
      checkedSha256(sha256);
      const row = await db.selectFrom('blob_contents').select('sha256').where('sha256', '=', sha256).executeTakeFirst();
      if (row) return true;
      return files ? files.has(sha256) : false;
    },

    async *entries({ writtenBefore }) {
      // Pages in name order from the last name seen: no offset that shifts while blobs come and go.
      let after = '';
      for (;;) {
        const page = await db
          .selectFrom('blob_contents')
          .select('sha256')
          .where('sha256', '>', after)
          .where('written_at', '<', writtenBefore)
          .orderBy('sha256')
          .limit(1000)
          .execute();
        for (const row of page) yield row.sha256;
        if (page.length < 1000) break;
        after = page[page.length - 1]!.sha256;
      }
      // Files not moved in yet are the import's business, not collection's: a file of an older install may be
      // named by a row that the import has not reached.
    },

    async remove(sha256, { writtenBefore, alongside }) {
      checkedSha256(sha256);
      return db.transaction().execute(async (trx) => {
        const gone = await trx
          .deleteFrom('blob_contents')
          .where('sha256', '=', sha256)
          .where('written_at', '<', writtenBefore)
          .executeTakeFirst();
        if (Number(gone.numDeletedRows) === 0) return false;
        await alongside?.(trx);
        return true;
      });
    },
  };
  return store;
}
