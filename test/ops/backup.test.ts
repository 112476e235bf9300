// `conversa backup` / `conversa restore` as an operator runs them (the built CLI): a backup taken while `serve` is in
// the middle of a first sync of a 2,000-message Dovecot mailbox, restored into a new data dir, gives back the
// manifest's counts, credentials that still open, and a next sync that stores nothing twice. And the refusals: a
// non-empty target, a damaged backup, a missing or wrong secret key, an existing --out. PostgreSQL: the note (pg_dump
// holds the blobs now), the counts, and the blob files not moved into the database yet.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/storage/blob-store.js';
import { openBlobStore } from '../../src/storage/open-blob-store.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage } from '../support/make-message.js';
import { useDovecot } from '../support/servers.js';
import { CLI, spawnConversa, type SpawnedConversa } from '../support/spawn-conversa.js';
import { waitFor } from '../support/wait-for.js';

const run = promisify(execFile);
const dovecot = useDovecot();
const KEY = 'b7'.repeat(32);
const MESSAGES = 2_000;
const CONTACTS = 40;

function cli(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

interface Manifest {
  dialect: string;
  schemaMigration: string | null;
  counts: { contacts: number; messages: number; attachments: number; accounts: number; blobs: number };
  databaseSha256: string | null;
  missingBlobs: number;
  blobsInDatabase?: number | null;
  blobBytesInDatabase?: number | null;
}

function readManifest(dir: string): Manifest {
  return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Reads the app's SQLite file beside the running app (WAL: a reader never blocks it). */
function query<T>(dataDir: string, sql: string): T[] {
  const db = new SqliteDatabase(path.join(dataDir, 'conversa.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

function count(dataDir: string, table: string): number {
  return query<{ n: number }>(dataDir, `SELECT COUNT(*) AS n FROM ${table}`)[0]!.n;
}

function counts(dataDir: string) {
  return {
    contacts: count(dataDir, 'contacts'),
    messages: count(dataDir, 'messages'),
    attachments: count(dataDir, 'attachments'),
    accounts: count(dataDir, 'email_accounts'),
  };
}

function firstSyncDone(dataDir: string): boolean {
  return (
    query<{ d: number }>(dataDir, "SELECT first_sync_done AS d FROM mail_folders WHERE role = 'inbox'")[0]?.d === 1
  );
}

function flipByte(file: string, at: number) {
  const bytes = fs.readFileSync(file);
  bytes[at] = bytes[at]! ^ 0xff;
  fs.writeFileSync(file, bytes);
}

function firstFile(dir: string): string {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isFile()) return full;
    if (entry.isDirectory()) {
      const found = firstFile(full);
      if (found) return found;
    }
  }
  return '';
}

async function api(server: SpawnedConversa, token: string, method: string, route: string, body?: unknown) {
  const res = await fetch(`${server.url}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

describe('conversa backup and restore on SQLite', () => {
  const temp: string[] = [];
  const servers: SpawnedConversa[] = [];
  const tempDir = (prefix: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    temp.push(dir);
    return dir;
  };
  beforeAll(() => expect(fs.existsSync(CLI), 'run `npx tsc -p tsconfig.build.json` first').toBe(true));
  afterAll(async () => {
    for (const s of servers) await s.kill().catch(() => undefined);
    for (const dir of temp) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('backs up during a first sync; the restore has the same counts, open credentials and stores nothing twice', async () => {
    const dataA = tempDir('cnv-bk-a-');
    const env = { CONVERSA_DATA_DIR: dataA, DATABASE_URL: '', CONVERSA_SECRET_KEY: KEY, SYNC_BATCH_SIZE: '25' };
    expect(
      (await cli(['user', 'add', '--email', 'owner@example.test', '--password', 'a good password', '--admin'], env))
        .code,
    ).toBe(0);
    const token = (await cli(['token', 'create', '--email', 'owner@example.test'], env)).stdout.trim();

    const creds = await dovecot.addUser();
    const customers = Array.from({ length: CONTACTS }, (_, i) => `customer${i}-${Date.now()}@client.test`);
    const now = Date.now();
    const messages = Array.from({ length: MESSAGES }, (_, i) =>
      makeMessage({
        from: customers[i % CONTACTS]!,
        to: [creds.user],
        subject: `order ${i}`,
        date: new Date(now - i * 60_000),
        body: `Message ${i}. ${'Lorem ipsum dolor sit amet. '.repeat(40)}`,
        ...(i % 20 === 0
          ? {
              attachment: {
                filename: `invoice-${i}.pdf`,
                contentType: 'application/pdf',
                content: Buffer.from(`%PDF invoice ${i} ${'x'.repeat(2_000)}`),
              },
            }
          : {}),
      }),
    );
    await dovecot.fillMailbox(creds.user, 'INBOX', messages, {
      dates: messages.map((_, i) => new Date(now - i * 60_000)),
    });

    const server = await spawnConversa(env);
    servers.push(server);
    for (const email of customers)
      expect((await api(server, token, 'POST', '/api/contacts', { emails: [email] })).status).toBe(201);
    const connect = await api(server, token, 'POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(connect.status, connect.text).toBe(201);

    // The first sync is under way: some messages stored, the inbox not done.
    await waitFor('the first sync to store some messages', async () => count(dataA, 'messages') >= 100, 60_000);
    expect(firstSyncDone(dataA)).toBe(false);
    const out = path.join(tempDir('cnv-bk-out-'), 'backup');
    const backup = await cli(['backup', '--out', out], env);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toContain('database: online backup started');
    expect(backup.stderr).toContain('backup complete');
    const manifest = readManifest(out);
    expect(manifest.dialect).toBe('sqlite');
    expect(manifest.schemaMigration).toMatch(/^\d{4}-/);
    expect(manifest.missingBlobs).toBe(0);
    expect(manifest.counts.messages).toBeGreaterThan(0);
    expect(manifest.counts.accounts).toBe(1);
    expect(manifest.counts.contacts).toBe(CONTACTS);
    expect(JSON.parse(backup.stdout)).toEqual(manifest.counts);
    // The key is never in a backup; the files are the owner's only.
    expect(fs.existsSync(path.join(out, 'secret.key'))).toBe(false);
    expect(fs.readFileSync(path.join(out, 'conversa.db')).includes(Buffer.from(KEY))).toBe(false);
    expect(fs.statSync(out).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(out, 'conversa.db')).mode & 0o777).toBe(0o600);

    // The original finishes its first sync: the reference count.
    await waitFor('the original first sync to finish', async () => firstSyncDone(dataA), 180_000, 250);
    const final = counts(dataA);
    expect(final.messages).toBe(MESSAGES);
    // The backup really was taken in the middle.
    expect(manifest.counts.messages).toBeLessThan(final.messages);
    // The CLI run is in the audit log of the backed-up install.
    expect(
      query<{ action: string }>(
        dataA,
        "SELECT action FROM audit_log WHERE action = 'backup.created' AND actor_id IS NULL AND org_id IS NOT NULL",
      ),
    ).toHaveLength(1);
    expect(await server.stop()).toBe(0);

    // Restore into a new dir: the manifest's counts, before anything runs.
    const dataB = path.join(tempDir('cnv-bk-b-'), 'data');
    const restore = await cli(['restore', '--from', out], { ...env, CONVERSA_DATA_DIR: dataB });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toContain('verified');
    const { blobs: _blobs, ...expected } = manifest.counts;
    expect(counts(dataB)).toEqual(expected);
    expect(fs.statSync(dataB).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dataB, 'conversa.db')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(firstFile(path.join(dataB, 'blobs'))).mode & 0o777).toBe(0o600);
    expect(
      query<{ action: string }>(dataB, "SELECT action FROM audit_log WHERE action = 'backup.restored'"),
    ).toHaveLength(1);

    // Start it: credentials open (the account syncs to active), the sync resumes from the restored cursors.
    const startedAt = Date.now();
    const restored = await spawnConversa({ ...env, CONVERSA_DATA_DIR: dataB });
    servers.push(restored);
    await waitFor(
      'the restored install to finish the first sync',
      async () => {
        const account = query<{ status: string; last_synced_at: number | null }>(
          dataB,
          'SELECT status, last_synced_at FROM email_accounts',
        )[0];
        if (account?.status === 'needs_reconnect' || account?.status === 'error')
          throw new Error(`account went ${account.status}`);
        return firstSyncDone(dataB) && account?.status === 'active' && (account.last_synced_at ?? 0) >= startedAt;
      },
      180_000,
      250,
    );
    // Nothing twice: the same messages as the original at the end of its sync, one location per UID.
    expect(counts(dataB)).toEqual(final);
    expect(
      query(dataB, 'SELECT dedupe_key FROM messages GROUP BY org_id, dedupe_key HAVING COUNT(*) > 1'),
    ).toHaveLength(0);
    expect(
      query(dataB, 'SELECT uid FROM message_locations GROUP BY folder_id, uid_validity, uid HAVING COUNT(*) > 1'),
    ).toHaveLength(0);
    expect(count(dataB, 'message_locations')).toBe(count(dataA, 'message_locations'));
    expect(restored.output()).not.toContain(creds.password);
    expect(await restored.stop()).toBe(0);

    // Abuse: the same backup refused into a non-empty dir, with a wrong key, with no key, when damaged.
    const nonEmpty = tempDir('cnv-bk-ne-');
    fs.writeFileSync(path.join(nonEmpty, 'keep.txt'), 'mine');
    const refusedNonEmpty = await cli(['restore', '--from', out], { ...env, CONVERSA_DATA_DIR: nonEmpty });
    expect(refusedNonEmpty.code).toBe(1);
    expect(refusedNonEmpty.stderr).toContain('is not empty');
    expect(fs.readdirSync(nonEmpty)).toEqual(['keep.txt']);

    const wrongKeyDir = path.join(tempDir('cnv-bk-wk-'), 'data');
    const wrongKey = await cli(['restore', '--from', out], {
      ...env,
      CONVERSA_DATA_DIR: wrongKeyDir,
      CONVERSA_SECRET_KEY: 'c'.repeat(64),
    });
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toContain('secret key does not open');
    expect(fs.existsSync(path.join(wrongKeyDir, 'conversa.db'))).toBe(false);

    const noKeyDir = path.join(tempDir('cnv-bk-nk-'), 'data');
    const noKey = await cli(['restore', '--from', out], {
      ...env,
      CONVERSA_DATA_DIR: noKeyDir,
      CONVERSA_SECRET_KEY: '',
    });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('no secret key');
    // ...but the install's secret.key placed alone in the empty dir is accepted as the key.
    fs.mkdirSync(noKeyDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(noKeyDir, 'secret.key'), `${KEY}\n`, { mode: 0o600 });
    const withKeyFile = await cli(['restore', '--from', out], {
      ...env,
      CONVERSA_DATA_DIR: noKeyDir,
      CONVERSA_SECRET_KEY: '',
    });
    expect(withKeyFile.code, withKeyFile.stderr).toBe(0);

    for (const damage of ['database', 'blob'] as const) {
      const copy = path.join(tempDir('cnv-bk-dmg-'), 'backup');
      fs.cpSync(out, copy, { recursive: true });
      if (damage === 'database') flipByte(path.join(copy, 'conversa.db'), 5_000);
      else flipByte(firstFile(path.join(copy, 'blobs')), 10);
      const target = path.join(tempDir('cnv-bk-dt-'), 'data');
      const damaged = await cli(['restore', '--from', copy], { ...env, CONVERSA_DATA_DIR: target });
      expect(damaged.code, damage).toBe(1);
      expect(damaged.stderr).toContain('does not match its checksum');
      expect(fs.existsSync(path.join(target, 'conversa.db')), damage).toBe(false);
    }

    // An existing, non-empty --out is refused, and nothing in it is touched.
    const again = await cli(['backup', '--out', out], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not empty');
    expect(readManifest(out)).toEqual(manifest);
  }, 600_000);
});

describe('conversa backup on PostgreSQL', () => {
  let database: TestDatabase;
  const temp: string[] = [];
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.destroy();
    for (const dir of temp) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('says pg_dump holds the blobs (blob_contents), counts them, and copies only files not moved in yet', async () => {
    // Blobs in the database (issue 18), and two files of an older install: one moved in already, one not yet.
    const inDatabase = openBlobStore(database.storage, database.dataDir);
    const refs = await Promise.all(['raw one', 'raw two', 'an attachment'].map((t) => inDatabase.put(Buffer.from(t))));
    const files = createBlobStore(path.join(database.dataDir, 'blobs'));
    await files.put(Buffer.from('raw one'));
    const legacy = await files.put(Buffer.from('not moved in yet'));
    // The import's marker of an earlier run is a file among the folders: not a blob, not in the way.
    fs.writeFileSync(path.join(database.dataDir, 'blobs', 'IMPORTED-INTO-DATABASE'), 'an earlier import\n');
    const env = { CONVERSA_DATA_DIR: database.dataDir, DATABASE_URL: database.databaseUrl!, CONVERSA_SECRET_KEY: KEY };
    const outRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-bk-pg-'));
    temp.push(outRoot);
    const out = path.join(outRoot, 'backup');
    const backup = await cli(['backup', '--out', out], env);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toContain('pg_dump');
    expect(backup.stderr).toContain('kysely_migration');
    expect(backup.stderr).toContain('blob_contents');
    const note = fs.readFileSync(path.join(out, 'POSTGRESQL-README.txt'), 'utf8');
    expect(note).toContain('pg_restore');
    expect(note).toContain('blob_contents holds the blobs');
    const manifest = readManifest(out);
    expect(manifest.dialect).toBe('postgres');
    expect(manifest.databaseSha256).toBeNull();
    expect(manifest.blobsInDatabase).toBe(3);
    expect(manifest.blobBytesInDatabase).toBe(refs.reduce((n, r) => n + r.size, 0));
    // Only the file the database lacks is copied: the rest is in the dump.
    expect(manifest.counts.blobs).toBe(1);
    expect(fs.readFileSync(path.join(out, 'blobs.sha256'), 'utf8')).toBe(`${legacy.sha256} ${legacy.size}\n`);
    expect(fs.existsSync(path.join(out, 'conversa.db'))).toBe(false);

    // Restore (after the operator's pg_restore, here the same database): the file comes back for the start-up import,
    // the note is repeated, and every blob reads through the store.
    const target = path.join(outRoot, 'data');
    const restore = await cli(['restore', '--from', out], { ...env, CONVERSA_DATA_DIR: target });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stderr).toContain('pg_restore');
    expect(await createBlobStore(path.join(target, 'blobs')).has(legacy.sha256)).toBe(true);
    const restored = openBlobStore(database.storage, target);
    for (const ref of [...refs, legacy]) expect(await restored.has(ref.sha256)).toBe(true);

    // A PostgreSQL backup does not restore into a SQLite target, nor the other way round.
    const wrongDialect = await cli(['restore', '--from', out], {
      ...env,
      DATABASE_URL: '',
      CONVERSA_DATA_DIR: path.join(outRoot, 'other'),
    });
    expect(wrongDialect.code).toBe(1);
    expect(wrongDialect.stderr).toContain('postgres backup');
  }, 120_000);
});
