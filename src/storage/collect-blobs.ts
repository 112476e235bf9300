// Collection of unreferenced blobs (issue 18), for both stores: a blob that no row names any more and that nobody
// has written (put) for the grace period is removed with its `blobs` row. The grace period is what makes it safe
// against intake, which writes the blob BEFORE the transaction that inserts the row naming it: every put refreshes
// the blob's "written at" (mtime for files, written_at in the database) and the removal itself re-checks that time
// (see remove() of each store), so a blob just written and not yet named survives. Run periodically by the
// background work and by `conversa blobs collect`; an erased contact's blobs go at the next run.
import { sql } from 'kysely';
import type { BlobStore } from './blob-store.js';
import type { Db } from './database.js';
import { inChunks, MAX_IN_LIST } from './batches.js';

/** Longer than any write-then-name gap of intake, sending or a sequence step (seconds in practice). */
export const BLOB_GRACE_MS = 60 * 60_000;

const FOREIGN_KEY_VIOLATION = '23503';

/** Every column that names a blob. A new one must be added here, or its blobs get collected. */
export const BLOB_REFERENCES = [
  { table: 'messages', column: 'raw_blob_sha256' },
  { table: 'attachments', column: 'blob_sha256' },
  { table: 'outbox', column: 'tracked_raw_blob_sha256' },
] as const;

export interface CollectOptions {
  /** Blobs written within this long before `now` stay, named or not (default BLOB_GRACE_MS). */
  graceMs?: number;
  /** The clock (tests move it forward rather than wait). */
  now?: number;
  /** Only these blobs (an erasure's candidates); default every blob of the store. */
  only?: readonly string[];
  progress?: (line: string) => void;
}

export interface CollectResult {
  /** Blobs old enough to be looked at. */
  examined: number;
  removed: number;
}

/** The names among `names` that some row still names. */
export async function referencedBlobs(db: Db, names: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const chunk of inChunks([...names], MAX_IN_LIST)) {
    for (const ref of BLOB_REFERENCES) {
      const { rows } = await sql<{ s: string }>`SELECT DISTINCT ${sql.ref(ref.column)} AS s FROM ${sql.table(
        ref.table,
      )} WHERE ${sql.ref(ref.column)} IN (${sql.join(chunk)})`.execute(db);
      for (const row of rows) found.add(row.s);
    }
  }
  return found;
}

/** Drops the `blobs` row of a removed blob, unless a row names it again (then the foreign key would refuse). */
async function forgetBlobRow(db: Db, sha256: string): Promise<void> {
  await db
    .deleteFrom('blobs')
    .where('sha256', '=', sha256)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('messages').select('id').where('raw_blob_sha256', '=', sha256))),
    )
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('attachments').select('id').where('blob_sha256', '=', sha256))),
    )
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('outbox').select('id').where('tracked_raw_blob_sha256', '=', sha256))),
    )
    .execute();
}

export async function collectBlobs(db: Db, blobs: BlobStore, options: CollectOptions = {}): Promise<CollectResult> {
  const writtenBefore = (options.now ?? Date.now()) - (options.graceMs ?? BLOB_GRACE_MS);
  const result: CollectResult = { examined: 0, removed: 0 };
  const sweep = async (batch: string[]) => {
    result.examined += batch.length;
    const named = await referencedBlobs(db, batch);
    for (const sha256 of batch) {
      if (named.has(sha256)) continue;
      try {
        const removed = await blobs.remove(sha256, {
          writtenBefore,
          alongside: (trx) => forgetBlobRow(trx ?? db, sha256),
        });
        if (removed) result.removed++;
      } catch (error) {
        // PostgreSQL: a row naming the blob committed between the look and the delete; the foreign key refused and
        // the whole removal rolled back. The blob is named again: it stays.
        if ((error as { code?: unknown } | null)?.code !== FOREIGN_KEY_VIOLATION) throw error;
      }
    }
    options.progress?.(`blobs: ${result.examined} examined, ${result.removed} removed`);
  };
  if (options.only) {
    for (const batch of inChunks([...options.only], 500)) await sweep(batch);
    return result;
  }
  let batch: string[] = [];
  for await (const sha256 of blobs.entries({ writtenBefore })) {
    batch.push(sha256);
    if (batch.length === 500) {
      await sweep(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await sweep(batch);
  return result;
}
