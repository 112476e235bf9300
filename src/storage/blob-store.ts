// Content-addressed blobs on disk (raw messages, attachments): a blob's name is the SHA-256 of its bytes, laid
// out as dir/ab/cd/<sha256> so that no directory grows past 65,536 entries. Writing is idempotent (a blob
// already there is not rewritten) and atomic (temp file in the same directory, then rename), so a reader never
// sees half a blob and a crash leaves at most a `*.tmp-*` file for a sweeper to remove.
// Durability: by default nothing is fsynced. That survives a process crash (the page cache holds the data) but
// not a power cut, after which a freshly renamed blob may be empty; `fsync: true` syncs the file before the
// rename and its directory after, for deployments that need "a row without a blob never happens" then too.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../core/app-error.js';

export interface BlobRef {
  /** Lower-case hex. */
  sha256: string;
  size: number;
}

export interface BlobStore {
  put(content: Buffer, options?: { signal?: AbortSignal }): Promise<BlobRef>;
  /** Throws AppError NOT_FOUND when the blob is missing. */
  get(sha256: string, options?: { signal?: AbortSignal }): Promise<Buffer>;
  has(sha256: string): Promise<boolean>;
  /** Where the blob lives (or would live); validates the hash. */
  path(sha256: string): string;
}

export interface BlobStoreOptions {
  /** fsync each new blob and its directory (see the module comment). Default false. */
  fsync?: boolean;
}

const SHA256 = /^[0-9a-f]{64}$/;

export function isSha256(value: unknown): value is string {
  return typeof value === 'string' && SHA256.test(value);
}

function checked(sha256: string): string {
  // Also the path-traversal guard: only 64 lower-case hex digits ever reach path.join.
  if (!isSha256(sha256)) {
    throw new AppError('VALIDATION_FAILED', 'not a SHA-256 blob id (64 lower-case hex digits)', {
      details: { sha256: String(sha256).slice(0, 80) },
    });
  }
  return sha256;
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

export function createBlobStore(dir: string, options: BlobStoreOptions = {}): BlobStore {
  const root = path.resolve(dir);
  const durable = options.fsync === true;

  const blobPath = (sha256: string): string => {
    const hash = checked(sha256);
    return path.join(root, hash.slice(0, 2), hash.slice(2, 4), hash);
  };

  async function sizeOnDisk(file: string): Promise<number | null> {
    try {
      const info = await stat(file);
      return info.isFile() ? info.size : null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async function writeAtomically(file: string, content: Buffer, signal: AbortSignal | undefined): Promise<void> {
    const folder = path.dirname(file);
    // Owner only, like the database: these are the mail's raw bytes and attachments.
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const temp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    try {
      const handle = await open(temp, 'wx', 0o600);
      try {
        await handle.writeFile(content, signal ? { signal } : {});
        if (durable) await handle.sync();
      } finally {
        await handle.close();
      }
      // Two writers of the same content may race here; both renames leave identical bytes.
      await rename(temp, file);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    if (durable) {
      const handle = await open(folder, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }

  return {
    path: blobPath,

    async put(content, { signal } = {}) {
      signal?.throwIfAborted();
      const sha256 = createHash('sha256').update(content).digest('hex');
      const file = blobPath(sha256);
      // Same name, same size: the same bytes (short of a SHA-256 collision). A different size can only be
      // damage from outside (a blob written before fsync was on, then a power cut): write it again.
      if ((await sizeOnDisk(file)) !== content.length) await writeAtomically(file, content, signal);
      return { sha256, size: content.length };
    },

    async get(sha256, { signal } = {}) {
      const file = blobPath(sha256);
      try {
        return await readFile(file, signal ? { signal } : {});
      } catch (error) {
        if (isNotFound(error)) throw new AppError('NOT_FOUND', 'blob not found', { details: { sha256 }, cause: error });
        throw error;
      }
    },

    async has(sha256) {
      return (await sizeOnDisk(blobPath(sha256))) !== null;
    },
  };
}
