// Content-addressed blobs on disk (raw messages, attachments): a blob's name is the SHA-256 of its bytes, laid
// out as dir/ab/cd/<sha256> so that no directory grows past 65,536 entries. Writing is idempotent (a blob
// already there is not rewritten) and atomic (temp file in the same directory, then rename), so a reader never
// sees half a blob and a crash leaves at most a `*.tmp-*` file for a sweeper to remove.
// Durability: by default nothing is fsynced. That survives a process crash (the page cache holds the data) but
// not a power cut, after which a freshly renamed blob may be empty; `fsync: true` syncs the file before the
// rename and its directory after, for deployments that need "a row without a blob never happens" then too.
// Collection (src/storage/collect-blobs.ts): a put of bytes already there touches the file's mtime, the "written at"
// the grace period counts from; removal renames the file aside first and looks at the mtime again, so a put racing
// with it either sees the file gone (and writes it anew) or leaves a fresh mtime that makes the removal back off.
// On PostgreSQL blobs live in the database instead (src/storage/database-blob-store.ts), behind the same interface.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Transaction } from 'kysely';
import { AppError } from '../core/app-error.js';
import type { Database } from './schema.js';

type Trx = Transaction<Database>;

export interface BlobRef {
  /** Lower-case hex. */
  sha256: string;
  size: number;
}

export interface BlobStore {
  put(content: Buffer, options?: { signal?: AbortSignal }): Promise<BlobRef>;
  /**
   * Several blobs at once, refs in the order given; what `put` does to each, in a few statements. Only where one
   * write per blob costs more than its bytes (the database store: a commit, so a WAL flush, per statement).
   */
  putMany?(contents: Buffer[], options?: { signal?: AbortSignal }): Promise<BlobRef[]>;
  /**
   * The blob `ref` from a local file that holds exactly its bytes (a download spooled to disk, a file being moved in),
   * never read whole into memory; rejects, storing nothing, when the file is not those bytes. Only where blobs are
   * not files already (the database store).
   */
  putFile?(file: string, ref: BlobRef, options?: { signal?: AbortSignal }): Promise<BlobRef>;
  /** Throws AppError NOT_FOUND when the blob is missing. */
  get(sha256: string, options?: { signal?: AbortSignal }): Promise<Buffer>;
  /**
   * The blob's size and its bytes as a stream of pieces (a download served without holding the blob whole). Throws
   * AppError NOT_FOUND when missing, before any byte; a blob collected while it streams ends the stream in that error.
   */
  stream?(sha256: string, options?: { signal?: AbortSignal }): Promise<BlobStream>;
  has(sha256: string): Promise<boolean>;
  /** Every blob last written (put) before `writtenBefore` (epoch ms), in no promised order: what collection looks at. */
  entries(options: { writtenBefore: number }): AsyncIterable<string>;
  /**
   * Removes the blob unless it was written at or after `writtenBefore` (a put racing with the removal wins); true
   * when removed. `alongside` runs with the removal: inside its transaction for the database store, so the
   * caller's bookkeeping (the `blobs` row) goes in the same commit; after the unlink for files.
   */
  remove(
    sha256: string,
    options: { writtenBefore: number; alongside?: (trx?: Trx) => Promise<void> },
  ): Promise<boolean>;
}

export interface BlobStream {
  size: number;
  content: Readable;
}

/** The file store also says where a blob lives (or would live); validates the hash. */
export interface FileBlobStore extends BlobStore {
  path(sha256: string): string;
}

export interface BlobStoreOptions {
  /** fsync each new blob and its directory (see the module comment). Default false. */
  fsync?: boolean;
}

/** The file blob store as a worker thread is told of it: its folder and options. */
export interface BlobFiles extends BlobStoreOptions {
  /** The blob store's folder (the layout above). */
  root: string;
}

/** A file given as the blob `ref` (BlobStore.putFile) that does not hold exactly its bytes: nothing was stored. */
export class BlobMismatchError extends Error {
  constructor(file: string, ref: BlobRef) {
    super(`${file} is not the blob ${ref.sha256} of ${ref.size} bytes it was given as`);
    this.name = 'BlobMismatchError';
  }
}

/** The bytes of `file`, which must be the blob `ref`: BlobMismatchError otherwise (read whole: for small files). */
export async function readBlobFile(file: string, ref: BlobRef): Promise<Buffer> {
  const content = await readFile(file);
  if (content.length !== ref.size || createHash('sha256').update(content).digest('hex') !== ref.sha256)
    throw new BlobMismatchError(file, ref);
  return content;
}

/** The blob `ref` from `file` into `store`: by parts where the store can (putFile), else read whole and checked. */
export async function putBlobFromFile(
  store: BlobStore,
  file: string,
  ref: BlobRef,
  options: { signal?: AbortSignal } = {},
): Promise<BlobRef> {
  if (store.putFile) return store.putFile(file, ref, options);
  return store.put(await readBlobFile(file, ref), options);
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Leftovers of a crash (a temp file) or of a removal cut short (a file set aside), by their name. */
const LEFTOVER = /^[0-9a-f]{64}\.(tmp|gc)-/;

export function isSha256(value: unknown): value is string {
  return typeof value === 'string' && SHA256.test(value);
}

/** `sha256` when it names a blob, else VALIDATION_FAILED: both stores' guard (for files, against path traversal). */
export function checkedSha256(sha256: string): string {
  // Also the path-traversal guard: only 64 lower-case hex digits ever reach path.join.
  if (!isSha256(sha256)) {
    throw new AppError('VALIDATION_FAILED', 'not a SHA-256 blob id (64 lower-case hex digits)', {
      details: { sha256: String(sha256).slice(0, 80) },
    });
  }
  return sha256;
}

/** Both stores' answer for a blob that is not there. */
export function blobNotFound(sha256: string, cause?: unknown): AppError {
  return new AppError('NOT_FOUND', 'blob not found', {
    details: { sha256 },
    ...(cause === undefined ? {} : { cause }),
  });
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/** A folder's names in order; none when it is missing or is a file (the import's marker among the folders). */
async function names(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder)).sort();
  } catch (error) {
    if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}

/**
 * Every file of the blob layout under `root` (root/ab/cd/<name>), in name order: blobs, and leftovers of writes or
 * removals cut short (names that are not a SHA-256). The one walk of the layout: collection, import and backup.
 */
export async function* blobLayoutFiles(root: string): AsyncGenerator<{ name: string; file: string }> {
  for (const a of await names(root))
    for (const b of await names(path.join(root, a)))
      for (const name of await names(path.join(root, a, b))) yield { name, file: path.join(root, a, b, name) };
}

/** Where the blob `sha256` lives under `root` (validated: only a SHA-256 reaches the path). */
export function blobPathIn(root: string, sha256: string): string {
  const hash = checkedSha256(sha256);
  return path.join(root, hash.slice(0, 2), hash.slice(2, 4), hash);
}

function tempPathOf(file: string): string {
  return `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * put() with blocking calls, for a thread that may block: the parse worker writes a first sync's blobs as it parses
 * them (issue 18). On the main thread each blob cost ~0.2 ms of event-loop time in promises and file handles, and
 * each batch's commit waited for its last write. Same layout, checks and atomic write as the store below.
 */
export function putBlobFileSync(dir: string, content: Buffer, options: BlobStoreOptions = {}): BlobRef {
  const sha256 = createHash('sha256').update(content).digest('hex');
  const file = blobPathIn(path.resolve(dir), sha256);
  if (touchedIfStoredSync(file, content.length)) return { sha256, size: content.length };
  const temp = tempPathOf(file);
  try {
    const fd = openTempSync(temp);
    try {
      writeAllSync(fd, content);
      if (options.fsync === true) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    unlinkQuietlySync(temp);
    throw error;
  }
  if (options.fsync === true) fsyncFolderSync(path.dirname(file));
  return { sha256, size: content.length };
}

/**
 * True when `file` holds `size` bytes already (the same blob, short of damage from outside), its mtime then made
 * now: the "written at" that collection's grace period counts from. False when it is missing or of another size.
 */
function touchedIfStoredSync(file: string, size: number): boolean {
  try {
    const info = statSync(file);
    if (!info.isFile() || info.size !== size) return false;
    const now = new Date();
    utimesSync(file, now, now);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Creates `temp` (owner only, like the database: these are the mail's raw bytes), making its folder when missing. */
function openTempSync(temp: string): number {
  try {
    return openSync(temp, 'wx', 0o600);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    mkdirSync(path.dirname(temp), { recursive: true, mode: 0o700 });
    return openSync(temp, 'wx', 0o600);
  }
}

function writeAllSync(fd: number, content: Uint8Array): void {
  for (let at = 0; at < content.length;) at += writeSync(fd, content, at, content.length - at);
}

function unlinkQuietlySync(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Never made, or already renamed.
  }
}

function fsyncFolderSync(folder: string): void {
  const fd = openSync(folder, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const ZERO_HASH = '0'.repeat(64);

/**
 * A blob written piece by piece, for bytes that should never be whole in memory (issue 18: a message with a 20 MB
 * attachment, downloaded in chunks and its attachment decoded in chunks). Its name is known only at the end, so the
 * pieces go to a temp file in the folder of the all-zero hash, where collection's sweep finds it under the name of a
 * crashed write (`<hash>.tmp-…`) should the process die first; `finish` renames it into place (or drops it when the
 * same blob is there already), `abort` removes it. Blocking calls: for the parse worker, and for the main thread's
 * downloads of big messages, whose pieces are a few hundred KB at a time.
 */
export class BlobFileWriter {
  private readonly hash = createHash('sha256');
  private readonly temp: string;
  private fd: number | null;
  private size = 0;

  private readonly root: string;

  constructor(
    root: string,
    private readonly options: BlobStoreOptions = {},
  ) {
    this.root = path.resolve(root);
    this.temp = tempPathOf(blobPathIn(this.root, ZERO_HASH));
    this.fd = openTempSync(this.temp);
  }

  write(piece: Uint8Array): void {
    if (this.fd === null) throw new Error('blob writer already finished');
    this.hash.update(piece);
    writeAllSync(this.fd, piece);
    this.size += piece.length;
  }

  /** Closes the file and puts it in place; the writer is then done (abort is a no-op). */
  finish(): BlobRef {
    const fd = this.fd;
    if (fd === null) throw new Error('blob writer already finished');
    this.fd = null;
    const sha256 = this.hash.digest('hex');
    const file = blobPathIn(this.root, sha256);
    try {
      try {
        if (this.options.fsync === true) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (touchedIfStoredSync(file, this.size)) unlinkSync(this.temp);
      else {
        mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        renameSync(this.temp, file);
        if (this.options.fsync === true) fsyncFolderSync(path.dirname(file));
      }
    } catch (error) {
      unlinkQuietlySync(this.temp);
      throw error;
    }
    return { sha256, size: this.size };
  }

  /** Drops what was written (a failed download or parse); safe to call more than once, or after finish. */
  abort(): void {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    try {
      closeSync(fd);
    } finally {
      unlinkQuietlySync(this.temp);
    }
  }
}

/**
 * Writes the pieces of `content` (a download) to a blob under `root` as they arrive; nothing of it is kept in memory.
 * On an error or an abort nothing stays behind.
 */
export async function putBlobFileStream(
  root: string,
  content: AsyncIterable<Uint8Array>,
  options: BlobStoreOptions & { signal?: AbortSignal } = {},
): Promise<BlobRef> {
  options.signal?.throwIfAborted();
  const writer = new BlobFileWriter(root, options);
  try {
    for await (const piece of content) {
      options.signal?.throwIfAborted();
      writer.write(piece);
    }
    return writer.finish();
  } finally {
    writer.abort();
  }
}

export function createBlobStore(dir: string, options: BlobStoreOptions = {}): FileBlobStore {
  const root = path.resolve(dir);
  const durable = options.fsync === true;

  const blobPath = (sha256: string): string => blobPathIn(root, sha256);

  async function sizeOnDisk(file: string): Promise<number | null> {
    try {
      const info = await stat(file);
      return info.isFile() ? info.size : null;
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  /** Marks bytes already there as just written; false when the file is gone (collected meanwhile). */
  async function touched(file: string): Promise<boolean> {
    const now = new Date();
    try {
      await utimes(file, now, now);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async function writeAtomically(file: string, content: Buffer, signal: AbortSignal | undefined): Promise<void> {
    const folder = path.dirname(file);
    const temp = tempPathOf(file);
    try {
      // The folder is made when the first open finds it missing: asking for it before each of a first sync's tens of
      // thousands of blobs was a sixth of the store's file work (bench/README.md, "Data scale").
      const handle = await open(temp, 'wx', 0o600).catch(async (error: unknown) => {
        if (!isNotFound(error)) throw error;
        // Owner only, like the database: these are the mail's raw bytes and attachments.
        await mkdir(folder, { recursive: true, mode: 0o700 });
        return open(temp, 'wx', 0o600);
      });
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
      // damage from outside (a blob written before fsync was on, then a power cut): write it again. Bytes already
      // there get a fresh mtime (the grace period of collection); gone meanwhile (collected): written anew.
      if ((await sizeOnDisk(file)) !== content.length || !(await touched(file)))
        await writeAtomically(file, content, signal);
      return { sha256, size: content.length };
    },

    async get(sha256, { signal } = {}) {
      const file = blobPath(sha256);
      try {
        return await readFile(file, signal ? { signal } : {});
      } catch (error) {
        if (isNotFound(error)) throw blobNotFound(sha256, error);
        throw error;
      }
    },

    async stream(sha256, { signal } = {}) {
      const file = blobPath(sha256);
      signal?.throwIfAborted();
      // Opened first: a missing blob is NOT_FOUND before the caller has answered anything.
      let handle;
      try {
        handle = await open(file, 'r');
      } catch (error) {
        if (isNotFound(error)) throw blobNotFound(sha256, error);
        throw error;
      }
      try {
        const { size } = await handle.stat();
        // 256 KiB reads (64 KiB by default): a quarter of the system calls for a big attachment.
        const content = handle.createReadStream({ highWaterMark: 256 * 1024, ...(signal ? { signal } : {}) });
        return { size, content };
      } catch (error) {
        await handle.close();
        throw error;
      }
    },

    async has(sha256) {
      return (await sizeOnDisk(blobPath(sha256))) !== null;
    },

    async *entries({ writtenBefore }) {
      for await (const { name, file } of blobLayoutFiles(root)) {
        const info = await stat(file).catch(() => null);
        if (!info?.isFile() || info.mtimeMs >= writtenBefore) continue;
        if (isSha256(name)) yield name;
        // A temp file of a crashed write, or a file a cut-short removal set aside, long past any writer.
        else if (LEFTOVER.test(name)) await unlink(file).catch(() => undefined);
      }
    },

    async remove(sha256, { writtenBefore, alongside }) {
      const file = blobPath(sha256);
      const before = await stat(file).catch(() => null);
      if (!before || before.mtimeMs >= writtenBefore) return false;
      const aside = `${file}.gc-${process.pid}-${randomBytes(6).toString('hex')}`;
      try {
        await rename(file, aside);
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
      // A put that touched the file before the rename shows here; one after it finds no file and writes it anew.
      if ((await stat(aside)).mtimeMs >= writtenBefore) {
        await rename(aside, file);
        return false;
      }
      await unlink(aside);
      await alongside?.();
      return true;
    },
  };
}
