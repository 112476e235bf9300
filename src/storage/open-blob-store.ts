// Which blob store an install uses (issue 18, part B): on PostgreSQL the database (every process that reaches it
// reads every blob: a worker elsewhere needs only DATABASE_URL and the secret key), reading the files of an older
// install until they are moved in; on SQLite, the embedded default, files beside the database. S3-compatible
// storage was left out: it would add a service to run and there is none here to test against.
import path from 'node:path';
import { createBlobStore, type BlobStore } from './blob-store.js';
import { createDatabaseBlobStore } from './database-blob-store.js';
import type { Storage } from './database.js';

export function blobsDirOf(dataDir: string): string {
  return path.join(dataDir, 'blobs');
}

/**
 * The blob files' folder when the install keeps its blobs in files (SQLite), for the parse workers that write a first
 * sync's blobs themselves (mail/mime/parse-worker.ts); null on PostgreSQL.
 */
export function blobFilesOf(storage: Pick<Storage, 'dialect'>, dataDir: string): { root: string } | null {
  return storage.dialect === 'postgres' ? null : { root: blobsDirOf(dataDir) };
}

export function openBlobStore(storage: Pick<Storage, 'db' | 'dialect'>, dataDir: string): BlobStore {
  const files = createBlobStore(blobsDirOf(dataDir));
  return storage.dialect === 'postgres' ? createDatabaseBlobStore(storage.db, { files }) : files;
}
