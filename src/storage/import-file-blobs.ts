// Moving the file blobs of an install that ran before blobs lived in PostgreSQL (issue 18) into blob_contents.
// Chosen as a step right after the migrations rather than a migration: migrations get only the database, and this
// needs the data dir; it is also long (every byte of every attachment) and must not hold the migration lock or
// stop start-up. `conversa serve` and `conversa worker` run it in the background at start-up (reads fall back to
// the file meanwhile: createDatabaseBlobStore's `files`), and `conversa blobs import` runs it in the foreground.
// A file bigger than a part goes in by parts (BlobStore.putFile), never whole in memory.
// Idempotent and resumable: each blob goes in on its own (a kill loses at most the blobs in flight), blobs already
// in are skipped by a look-up per batch, and a marker file written at the end makes later start-ups skip the walk.
// The files stay (a backup of last resort); the operator deletes CONVERSA_DATA_DIR/blobs once the import is done.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { BlobStore } from './blob-store.js';
import { BlobMismatchError, blobLayoutFiles, isSha256, putBlobFromFile } from './blob-store.js';
import type { Db } from './database.js';

/** Written into the blobs folder once every file in it is in the database. */
export const IMPORTED_MARKER = 'IMPORTED-INTO-DATABASE';

export interface ImportResult {
  files: number;
  imported: number;
  alreadyIn: number;
  /** Files whose bytes do not match their name (damage): left where they are, not imported. */
  damaged: string[];
  bytes: number;
}

export interface ImportOptions {
  /** Walk even when the marker says a former run finished (the CLI command does). */
  force?: boolean;
  /** Files per look-up batch. */
  batchSize?: number;
  progress?: (line: string) => void;
  signal?: AbortSignal;
}

async function* blobFiles(root: string): AsyncGenerator<{ sha256: string; file: string }> {
  for await (const { name, file } of blobLayoutFiles(root)) if (isSha256(name)) yield { sha256: name, file };
}

/** True when `blobsDir` holds files a former import did not finish with. */
export function fileBlobsPending(blobsDir: string): boolean {
  if (fs.existsSync(path.join(blobsDir, IMPORTED_MARKER))) return false;
  try {
    return fs.readdirSync(blobsDir).length > 0;
  } catch {
    return false;
  }
}

/** Puts the blob file `file` (named `sha256`) into `store`, by parts when big; its size. BlobMismatchError when damaged. */
async function importFile(store: BlobStore, sha256: string, file: string): Promise<number> {
  const { size } = await fsp.stat(file);
  await putBlobFromFile(store, file, { sha256, size });
  return size;
}

export async function importFileBlobs(
  db: Db,
  store: BlobStore,
  blobsDir: string,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const result: ImportResult = { files: 0, imported: 0, alreadyIn: 0, damaged: [], bytes: 0 };
  if (!options.force && !fileBlobsPending(blobsDir)) return result;
  const progress = options.progress ?? (() => undefined);
  const batchSize = options.batchSize ?? 200;
  let lastReport = Date.now();
  const importBatch = async (batch: Array<{ sha256: string; file: string }>) => {
    const present = new Set(
      (
        await db
          .selectFrom('blob_contents')
          .select('sha256')
          .where(
            'sha256',
            'in',
            batch.map((b) => b.sha256),
          )
          .execute()
      ).map((r) => r.sha256),
    );
    for (const { sha256, file } of batch) {
      options.signal?.throwIfAborted();
      result.files++;
      if (present.has(sha256)) {
        result.alreadyIn++;
        continue;
      }
      let size: number;
      try {
        size = await importFile(store, sha256, file);
      } catch (error) {
        // Collected or moved by another process meanwhile.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        if (error instanceof BlobMismatchError) {
          result.damaged.push(sha256);
          continue;
        }
        throw error;
      }
      result.imported++;
      result.bytes += size;
    }
    if (Date.now() - lastReport >= 5_000) {
      lastReport = Date.now();
      progress(`blob import: ${result.files} files seen, ${result.imported} imported (${result.bytes} bytes)`);
    }
  };
  progress(`blob import: moving the files under ${blobsDir} into the database`);
  let batch: Array<{ sha256: string; file: string }> = [];
  for await (const entry of blobFiles(blobsDir)) {
    batch.push(entry);
    if (batch.length >= batchSize) {
      await importBatch(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await importBatch(batch);
  if (result.damaged.length === 0 && fs.existsSync(blobsDir))
    fs.writeFileSync(
      path.join(blobsDir, IMPORTED_MARKER),
      `${new Date().toISOString()} ${result.files} files in the database; this folder may be deleted\n`,
      { mode: 0o600 },
    );
  progress(
    `blob import: done, ${result.files} files, ${result.imported} imported, ${result.alreadyIn} already in` +
      (result.damaged.length > 0 ? `, ${result.damaged.length} damaged left out` : ''),
  );
  return result;
}
