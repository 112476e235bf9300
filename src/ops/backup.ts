// `conversa backup` and `conversa restore`: a consistent copy of a running install and its way back.
// SQLite: SQLite's online backup of the database from a separate read connection (WAL: the app keeps writing),
// THEN the blobs the snapshot references, so every blob the copy names is in it (a blob written later is simply
// not needed). PostgreSQL: the database is pg_dump's job (the note below says what and in which order), and since
// issue 18 it holds the blobs too (table blob_contents): this command writes the manifest and the note, counts the
// blobs in the database, and copies only blob files an older install left in CONVERSA_DATA_DIR/blobs that are not
// moved into the database yet (normally none). The secret key that seals mailbox credentials is never part of a backup.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { AppError } from '../core/app-error.js';
import { loadSecretKey, SECRET_KEY_FILE, SecretBox } from '../core/secret-box.js';
import { recordAudit } from '../audit/audit-log.js';
import { blobLayoutFiles, isSha256 } from '../storage/blob-store.js';
import { migrateToLatest, openStorage, type Db } from '../storage/database.js';
import { secureDataDir } from '../storage/secure-data-dir.js';

export const BACKUP_FORMAT = 1;
export const MANIFEST_FILE = 'manifest.json';
export const DATABASE_FILE = 'conversa.db';
export const BLOB_LIST_FILE = 'blobs.sha256';
const BLOB_DIR = 'blobs';

export interface BackupCounts {
  contacts: number;
  messages: number;
  attachments: number;
  accounts: number;
  blobs: number;
}

export interface BackupManifest {
  format: number;
  createdAt: string;
  dialect: 'sqlite' | 'postgres';
  /** The last migration applied in the copied database (PostgreSQL: in the live one when the blobs were copied). */
  schemaMigration: string | null;
  counts: BackupCounts;
  /** sha256 of conversa.db in the backup; null on PostgreSQL (the database is in the pg_dump file). */
  databaseSha256: string | null;
  databaseBytes: number | null;
  /** sha256 of blobs.sha256, the list "sha256 size" of every blob copied (a blob's name is its own checksum). */
  blobListSha256: string;
  blobBytes: number;
  /** Blobs the database names that were not in the data dir (damage from before the backup); 0 normally. */
  missingBlobs: number;
  /** PostgreSQL: blobs (and their bytes) in the database's blob_contents when the manifest was written, which the
   * operator's pg_dump holds; null on SQLite. */
  blobsInDatabase?: number | null;
  blobBytesInDatabase?: number | null;
}

export interface StorageLocation {
  dataDir: string;
  databaseUrl: string | null;
}

type Progress = (line: string) => void;

const OWNER_DIR = 0o700;
const OWNER_FILE = 0o600;

/** What an operator of PostgreSQL must know: printed by the command and written beside the blobs. */
export const POSTGRES_NOTE = `This backup holds this manifest (and any blob files not yet moved into the database), NOT the database.
On PostgreSQL the database is backed up with pg_dump, and it must be taken FIRST:
  1. pg_dump --format=custom --no-owner --file=conversa.dump "$DATABASE_URL"
     It must cover the whole database Conversa uses (every table of its schema, "public" by default, including
     kysely_migration): contacts, messages, attachments rows, accounts with their sealed credentials and sync
     cursors (mail_folders), users, sessions, audit_log and the rest. Do not exclude tables, nor table data:
     blob_contents holds the blobs themselves (every raw message and attachment, the bulk of the dump), so the
     dump alone restores every blob (the manifest's blobsInDatabase says how many there were).
  2. then: conversa backup --out DIR  (this command: the manifest, plus the blob files an older install left in
     CONVERSA_DATA_DIR/blobs that are not moved into the database yet; see conversa blobs import)
Blobs are only ever added before they are named, so every blob the earlier dump names is in it or in the later copy.
Restore: create an empty database, pg_restore --no-owner --dbname="$DATABASE_URL" conversa.dump, then
  conversa restore --from DIR  with the same DATABASE_URL and an empty CONVERSA_DATA_DIR, and the same
  CONVERSA_SECRET_KEY (it is in neither file: keep it apart).
`;

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function blobRelative(sha256: string): string {
  return path.join(BLOB_DIR, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
}

/** True when `dir` does not exist or holds nothing but the entries `allowed`. */
function isEmptyDir(dir: string, allowed: readonly string[] = []): boolean {
  try {
    return fs.readdirSync(dir).every((entry) => allowed.includes(entry));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw error;
  }
}

function countRow(db: SqliteDatabase.Database, table: string): number {
  return Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n);
}

async function countsOf(db: Db): Promise<Omit<BackupCounts, 'blobs'>> {
  const count = async (table: 'contacts' | 'messages' | 'attachments' | 'email_accounts') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    contacts: await count('contacts'),
    messages: await count('messages'),
    attachments: await count('attachments'),
    accounts: await count('email_accounts'),
  };
}

async function copyFilePrivately(from: string, to: string): Promise<void> {
  await fsp.mkdir(path.dirname(to), { recursive: true, mode: OWNER_DIR });
  await fsp.copyFile(from, to, fs.constants.COPYFILE_EXCL);
  await fsp.chmod(to, OWNER_FILE);
}

/**
 * Copies the blobs `list` names from `fromRoot` to `toRoot` (both data-dir-like: blobs/ab/cd/<sha256>), checking each
 * one's bytes against its name; returns what was copied and what was missing.
 */
async function copyBlobs(
  list: readonly string[],
  fromRoot: string,
  toRoot: string,
  progress: Progress,
): Promise<{ copied: Array<{ sha256: string; size: number }>; missing: string[]; bytes: number }> {
  const sizes: Array<number | null> = new Array<number | null>(list.length).fill(null);
  const madeDirs = new Set<string>();
  const step = Math.max(1000, Math.ceil(list.length / 20));
  let next = 0;
  let done = 0;
  // A few copies at a time: one blob is a few KB, so a single file at a time waits on the disk more than it copies.
  const copyOne = async (sha256: string): Promise<number | null> => {
    let content: Buffer;
    try {
      content = await fsp.readFile(path.join(fromRoot, blobRelative(sha256)));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    if (createHash('sha256').update(content).digest('hex') !== sha256) {
      throw new AppError('VALIDATION_FAILED', `blob ${sha256} in ${fromRoot} does not match its checksum`);
    }
    const to = path.join(toRoot, blobRelative(sha256));
    const dir = path.dirname(to);
    if (!madeDirs.has(dir)) {
      await fsp.mkdir(dir, { recursive: true, mode: OWNER_DIR });
      madeDirs.add(dir);
    }
    await fsp.writeFile(to, content, { mode: OWNER_FILE, flag: 'wx' });
    return content.length;
  };
  const worker = async () => {
    while (next < list.length) {
      const index = next++;
      sizes[index] = await copyOne(list[index]!);
      if (++done % step === 0) progress(`blobs: ${done}/${list.length}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const copied: Array<{ sha256: string; size: number }> = [];
  const missing: string[] = [];
  let bytes = 0;
  list.forEach((sha256, index) => {
    const size = sizes[index];
    if (size == null) missing.push(sha256);
    else {
      copied.push({ sha256, size });
      bytes += size;
    }
  });
  return { copied, missing, bytes };
}

/** Every blob file under dataDir/blobs (PostgreSQL: the database to compare with is in someone else's dump). */
async function* allBlobs(dataDir: string): AsyncGenerator<string> {
  for await (const { name } of blobLayoutFiles(path.join(dataDir, BLOB_DIR))) if (isSha256(name)) yield name;
}

/** PostgreSQL: the blob files of the data dir that blob_contents lacks, and what blob_contents holds. */
async function fileBlobsNotInDatabase(
  db: Db,
  dataDir: string,
): Promise<{ names: string[]; blobsInDatabase: number | null; blobBytesInDatabase: number | null }> {
  let inDatabase: { n: number; bytes: number | null };
  try {
    inDatabase = await db
      .selectFrom('blob_contents')
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('size').as('bytes')])
      .executeTakeFirstOrThrow();
  } catch {
    // A database not migrated to 0024 yet (an older app still runs): every blob is a file, copy them all.
    const names: string[] = [];
    for await (const name of allBlobs(dataDir)) names.push(name);
    return { names, blobsInDatabase: null, blobBytesInDatabase: null };
  }
  const names: string[] = [];
  let batch: string[] = [];
  const keepMissing = async () => {
    const present = new Set(
      (await db.selectFrom('blob_contents').select('sha256').where('sha256', 'in', batch).execute()).map(
        (r) => r.sha256,
      ),
    );
    names.push(...batch.filter((n) => !present.has(n)));
    batch = [];
  };
  for await (const name of allBlobs(dataDir)) {
    batch.push(name);
    if (batch.length === 500) await keepMissing();
  }
  if (batch.length > 0) await keepMissing();
  return { names, blobsInDatabase: Number(inDatabase.n), blobBytesInDatabase: Number(inDatabase.bytes ?? 0) };
}

function writeBlobList(out: string, copied: Array<{ sha256: string; size: number }>): Promise<string> {
  const text = copied.map((b) => `${b.sha256} ${b.size}\n`).join('');
  fs.writeFileSync(path.join(out, BLOB_LIST_FILE), text, { mode: OWNER_FILE });
  return Promise.resolve(createHash('sha256').update(text).digest('hex'));
}

async function auditQuietly(db: Db, action: 'backup.created' | 'backup.restored', details: object, progress: Progress) {
  try {
    // A backup covers every organisation: one entry in each, so each one's administrators see it (an empty install:
    // one entry outside any organisation).
    const orgs = (await db.selectFrom('orgs').select('id').execute()).map((o) => o.id);
    for (const orgId of orgs.length > 0 ? orgs : [null])
      await recordAudit(db, { orgId, actorId: null, action, target: null, details: { ...details } });
  } catch (error) {
    // An older schema without audit_log must not fail a backup that is otherwise complete.
    progress(`warning: could not record ${action} in the audit log (${(error as Error).message})`);
  }
}

export async function createBackup(
  location: StorageLocation,
  out: string,
  progress: Progress,
): Promise<BackupManifest> {
  out = path.resolve(out);
  if (!isEmptyDir(out))
    throw new AppError('CONFLICT', `${out} exists and is not empty`, { hint: 'Give --out a new or empty directory.' });
  const dialect = location.databaseUrl ? 'postgres' : 'sqlite';
  const sourceDb = path.join(location.dataDir, DATABASE_FILE);
  if (dialect === 'sqlite' && !fs.existsSync(sourceDb))
    throw new AppError('NOT_FOUND', `no database at ${sourceDb}`, { hint: 'Is CONVERSA_DATA_DIR right?' });
  fs.mkdirSync(out, { recursive: true, mode: OWNER_DIR });
  fs.chmodSync(out, OWNER_DIR);
  const started = Date.now();

  let schemaMigration: string | null;
  let counts: Omit<BackupCounts, 'blobs'>;
  let databaseSha256: string | null = null;
  let databaseBytes: number | null = null;
  let blobs: Awaited<ReturnType<typeof copyBlobs>>;
  let blobsInDatabase: number | null = null;
  let blobBytesInDatabase: number | null = null;
  if (dialect === 'sqlite') {
    const target = path.join(out, DATABASE_FILE);
    const partial = `${target}.partial`;
    const source = new SqliteDatabase(sourceDb, { fileMustExist: true });
    try {
      source.pragma('busy_timeout = 5000');
      progress('database: online backup started');
      // All remaining pages in one step: a step reads under one read transaction, which in WAL mode never blocks
      // the app's writer, whereas small steps restart whenever the app writes between them (and sync always does).
      await source.backup(partial, { progress: () => 0x7fffffff });
    } finally {
      source.close();
    }
    // A self-contained single file (no -wal needed), readable read-only at restore; counts from the snapshot.
    const copy = new SqliteDatabase(partial);
    let referenced: string[];
    try {
      copy.pragma('journal_mode = DELETE');
      counts = {
        contacts: countRow(copy, 'contacts'),
        messages: countRow(copy, 'messages'),
        attachments: countRow(copy, 'attachments'),
        accounts: countRow(copy, 'email_accounts'),
      };
      schemaMigration =
        (
          copy.prepare('SELECT name FROM kysely_migration ORDER BY name DESC LIMIT 1').get() as
            { name: string } | undefined
        )?.name ?? null;
      referenced = (
        copy
          .prepare(
            `SELECT sha256 AS s FROM blobs
             UNION SELECT raw_blob_sha256 FROM messages WHERE raw_blob_sha256 IS NOT NULL
             UNION SELECT blob_sha256 FROM attachments
             UNION SELECT tracked_raw_blob_sha256 FROM outbox WHERE tracked_raw_blob_sha256 IS NOT NULL
             ORDER BY 1`,
          )
          .all() as Array<{ s: string }>
      ).map((r) => r.s);
    } finally {
      copy.close();
    }
    fs.renameSync(partial, target);
    fs.chmodSync(target, OWNER_FILE);
    databaseSha256 = await sha256File(target);
    databaseBytes = fs.statSync(target).size;
    progress(`database: ${databaseBytes} bytes, ${counts.messages} messages (${Date.now() - started} ms)`);
    // Only now the blobs: everything the snapshot names was written before it (intake stores the blob first).
    blobs = await copyBlobs(referenced, location.dataDir, out, progress);
  } else {
    const storage = openStorage(location);
    let names: string[];
    try {
      counts = await countsOf(storage.db);
      schemaMigration =
        (
          await storage.db
            .selectFrom('kysely_migration' as never)
            .select('name' as never)
            .orderBy('name' as never, 'desc')
            .limit(1)
            .executeTakeFirst()
        )?.['name' as never] ?? null;
      // The blobs in the database are pg_dump's; only files not moved in yet (an older install) are copied here.
      ({ names, blobsInDatabase, blobBytesInDatabase } = await fileBlobsNotInDatabase(storage.db, location.dataDir));
    } finally {
      await storage.close();
    }
    progress(`blobs: ${blobsInDatabase} in the database (${blobBytesInDatabase} bytes), in pg_dump's care`);
    blobs = await copyBlobs(names, location.dataDir, out, progress);
    fs.writeFileSync(path.join(out, 'POSTGRESQL-README.txt'), POSTGRES_NOTE, { mode: OWNER_FILE });
  }
  if (blobs.missing.length > 0)
    progress(`warning: ${blobs.missing.length} blob(s) named by the database were missing from the data dir`);
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    createdAt: new Date(started).toISOString(),
    dialect,
    schemaMigration,
    counts: { ...counts, blobs: blobs.copied.length },
    databaseSha256,
    databaseBytes,
    blobListSha256: await writeBlobList(out, blobs.copied),
    blobBytes: blobs.bytes,
    missingBlobs: blobs.missing.length,
    blobsInDatabase,
    blobBytesInDatabase,
  };
  // The manifest last: a backup without one is visibly unfinished.
  fs.writeFileSync(path.join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: OWNER_FILE });
  progress(`blobs: ${blobs.copied.length} (${blobs.bytes} bytes); backup complete in ${Date.now() - started} ms`);

  const live = openStorage(location);
  try {
    await auditQuietly(live.db, 'backup.created', { counts: manifest.counts, dialect }, progress);
  } finally {
    await live.close();
  }
  return manifest;
}

function readManifest(from: string): BackupManifest {
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(from, MANIFEST_FILE), 'utf8')) as BackupManifest;
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', `${from} holds no readable ${MANIFEST_FILE}: not a (finished) backup`, {
      cause: error,
    });
  }
  if (manifest.format !== BACKUP_FORMAT)
    throw new AppError(
      'VALIDATION_FAILED',
      `unknown backup format ${String(manifest.format)} (expected ${BACKUP_FORMAT})`,
    );
  return manifest;
}

/** Checks every checksum of the backup; returns the blob list. Nothing is written. */
async function verifyBackup(from: string, manifest: BackupManifest, progress: Progress): Promise<string[]> {
  const mismatch = (what: string) =>
    new AppError('VALIDATION_FAILED', `the backup is damaged: ${what} does not match its checksum in the manifest`, {
      hint: 'Nothing was restored. Use another copy of the backup.',
    });
  if (manifest.dialect === 'sqlite') {
    const file = path.join(from, DATABASE_FILE);
    if (!fs.existsSync(file) || (await sha256File(file)) !== manifest.databaseSha256) throw mismatch(DATABASE_FILE);
  }
  let listText: string;
  try {
    listText = fs.readFileSync(path.join(from, BLOB_LIST_FILE), 'utf8');
  } catch {
    throw mismatch(BLOB_LIST_FILE);
  }
  if (createHash('sha256').update(listText).digest('hex') !== manifest.blobListSha256) throw mismatch(BLOB_LIST_FILE);
  const names: string[] = [];
  for (const line of listText.split('\n')) {
    if (line === '') continue;
    const [sha256, size] = line.split(' ');
    if (!isSha256(sha256)) throw mismatch(BLOB_LIST_FILE);
    let content: Buffer;
    try {
      content = await fsp.readFile(path.join(from, blobRelative(sha256)));
    } catch {
      throw mismatch(`blob ${sha256} (missing)`);
    }
    if (content.length !== Number(size) || createHash('sha256').update(content).digest('hex') !== sha256)
      throw mismatch(`blob ${sha256}`);
    names.push(sha256);
  }
  if (names.length !== manifest.counts.blobs) throw mismatch(BLOB_LIST_FILE);
  progress(`verified: database and ${names.length} blobs match the manifest`);
  return names;
}

/**
 * Refuses a restore whose credentials the key at hand cannot open (they would all need reconnecting): the key is
 * CONVERSA_SECRET_KEY, else a secret.key the operator put into the empty data dir. No accounts, no check.
 */
function checkSecretKey(sample: { id: string; sealed: string } | undefined, secretKey: string | null, dataDir: string) {
  if (!sample) return;
  const hasKey = (secretKey != null && secretKey.trim() !== '') || fs.existsSync(path.join(dataDir, SECRET_KEY_FILE));
  if (!hasKey)
    throw new AppError(
      'VALIDATION_FAILED',
      'the backup has mailbox credentials and no secret key is given to open them',
      {
        hint: `Set CONVERSA_SECRET_KEY to the key of the backed-up install (or put its ${SECRET_KEY_FILE} into the empty data dir). Nothing was restored.`,
      },
    );
  const box = new SecretBox(loadSecretKey({ secretKey, dataDir }));
  try {
    box.open(sample.sealed, `email_account:${sample.id}`);
  } catch (error) {
    throw new AppError('VALIDATION_FAILED', "the secret key does not open the backup's mailbox credentials", {
      hint: 'Use the CONVERSA_SECRET_KEY (or secret.key) of the backed-up install. Nothing was restored.',
      cause: error,
    });
  }
}

export async function restoreBackup(
  location: StorageLocation & { secretKey: string | null },
  from: string,
  progress: Progress,
): Promise<BackupManifest> {
  from = path.resolve(from);
  const dataDir = path.resolve(location.dataDir);
  const manifest = readManifest(from);
  const dialect = location.databaseUrl ? 'postgres' : 'sqlite';
  if (manifest.dialect !== dialect)
    throw new AppError('VALIDATION_FAILED', `this is a ${manifest.dialect} backup and the target is ${dialect}`, {
      hint:
        manifest.dialect === 'postgres' ? 'Set DATABASE_URL to the database pg_restore filled.' : 'Unset DATABASE_URL.',
    });
  // The operator may have put the install's secret.key there; anything else would be overwritten or mixed.
  if (!isEmptyDir(dataDir, [SECRET_KEY_FILE]))
    throw new AppError('CONFLICT', `the data dir ${dataDir} is not empty`, {
      hint: 'Restore into a new or empty CONVERSA_DATA_DIR (it may hold only secret.key). Nothing was restored.',
    });
  const blobNames = await verifyBackup(from, manifest, progress);

  if (dialect === 'sqlite') {
    const copy = new SqliteDatabase(path.join(from, DATABASE_FILE), { readonly: true, fileMustExist: true });
    let sample: { id: string; sealed: string } | undefined;
    try {
      sample = copy.prepare('SELECT id, credentials_enc AS sealed FROM email_accounts LIMIT 1').get() as
        { id: string; sealed: string } | undefined;
    } finally {
      copy.close();
    }
    checkSecretKey(sample, location.secretKey, dataDir);
    secureDataDir(dataDir);
    const target = path.join(dataDir, DATABASE_FILE);
    await copyFilePrivately(path.join(from, DATABASE_FILE), `${target}.partial`);
    fs.renameSync(`${target}.partial`, target);
    progress('database: restored');
  } else {
    secureDataDir(dataDir);
  }
  const blobs = await copyBlobs(blobNames, from, dataDir, progress);
  progress(`blobs: ${blobs.copied.length} restored`);

  const storage = openStorage(location);
  try {
    if (dialect === 'postgres') {
      const sample = await storage.db
        .selectFrom('email_accounts')
        .select(['id', 'credentials_enc as sealed'])
        .limit(1)
        .executeTakeFirst()
        .catch(() => undefined);
      // Blobs are already in place; the database is the operator's pg_restore. Warn, don't undo.
      try {
        checkSecretKey(sample, location.secretKey, dataDir);
      } catch (error) {
        progress(`warning: ${(error as Error).message}`);
      }
      progress(POSTGRES_NOTE);
    } else {
      await migrateToLatest(storage.db);
      // Leases and workers of the processes that ran the backed-up install: none of them runs here.
      await storage.db.deleteFrom('account_leases').execute();
      await storage.db.deleteFrom('workers').execute();
      await auditQuietly(
        storage.db,
        'backup.restored',
        { counts: manifest.counts, createdAt: manifest.createdAt },
        progress,
      );
    }
  } finally {
    await storage.close();
  }
  progress(`restore complete: ${JSON.stringify(manifest.counts)}`);
  return manifest;
}
