// SQLite's WAL checkpoints on a worker thread (issue 18, wal-checkpointer.ts): the app's connection commits and
// leaves the copying of its pages into the database file to the worker, the WAL still starts over (it does not grow
// with the database), nothing written is lost, and closing the storage stops the worker and removes the WAL.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { walCheckpointsOnAThread, WRITER_AUTOCHECKPOINT_PAGES } from '../../src/storage/sqlite/wal-checkpointer.js';
import { waitFor } from '../support/wait-for.js';

const PAGE = 4096;
let dir: string | null = null;
let storage: Storage | null = null;

afterEach(async () => {
  await storage?.close();
  storage = null;
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  dir = null;
});

/** Storage on a new SQLite file; `walWorkerFromBytes` as openStorage takes it (absent: no worker). */
function open(walWorkerFromBytes?: number): { storage: Storage; file: string } {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-wal-'));
  storage = openStorage({
    dataDir: dir,
    databaseUrl: null,
    ...(walWorkerFromBytes !== undefined ? { sqliteWalWorkerFromBytes: walWorkerFromBytes } : {}),
  });
  return { storage, file: path.join(dir, 'conversa.db') };
}

/** One transaction of `rows` rows of ~a page each (random: nothing compresses or repeats). */
async function writeRows(s: Storage, rows: number, tag: number): Promise<void> {
  await sql`insert into filler (tag, data)
    with recursive n(i) as (select 1 union all select i + 1 from n where i < ${rows})
    select ${tag}, randomblob(3900) from n`.execute(s.db);
}

/** After how many WAL pages the app's connection checkpoints by itself. */
async function autocheckpoint(s: Storage): Promise<number> {
  const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(s.db);
  return Number(rows[0]!.wal_autocheckpoint);
}

/** The WAL header's checkpoint sequence number: how many times a writer started the WAL over. */
function walRestarts(file: string): number {
  const header = Buffer.alloc(16);
  const fd = fs.openSync(`${file}-wal`, 'r');
  try {
    fs.readSync(fd, header, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  return header.readUInt32BE(12);
}

function size(file: string): number {
  return fs.existsSync(file) ? fs.statSync(file).size : 0;
}

describe('WAL checkpoints on a worker thread (SQLite)', () => {
  it("copies the app's commits into the database file while the app's connection leaves them in the WAL", async () => {
    const { storage: s, file } = open(0);
    await sql`create table filler (id integer primary key, tag integer, data blob)`.execute(s.db);
    expect(await autocheckpoint(s)).toBe(WRITER_AUTOCHECKPOINT_PAGES);
    const before = size(file);
    // ~2,000 pages: far below the app's own limit, so only the worker copies them into the file.
    expect(2_000).toBeLessThan(WRITER_AUTOCHECKPOINT_PAGES);
    await writeRows(s, 2_000, 1);
    expect(size(`${file}-wal`)).toBeGreaterThan(2_000 * PAGE);
    await waitFor(
      'the worker to copy the commit into the file',
      async () => size(file) >= before + 2_000 * PAGE,
      10_000,
    );
    const { rows } = await sql<{ n: number }>`select count(*) as n from filler`.execute(s.db);
    expect(Number(rows[0]!.n)).toBe(2_000);
  });

  it("without it, the app's connection keeps SQLite's own checkpoints (the file grows at the commit)", async () => {
    const { storage: s, file } = open();
    await sql`create table filler (id integer primary key, tag integer, data blob)`.execute(s.db);
    expect(await autocheckpoint(s)).toBe(1_000);
    await writeRows(s, 2_000, 1);
    // SQLite's default (1,000 pages) checkpointed inside the commit, before it returned.
    expect(size(file)).toBeGreaterThanOrEqual(2_000 * PAGE);
  });

  it('starts only on a database of the given size (a small install keeps the ~20 MB a thread costs)', async () => {
    const { storage: small, file } = open(4 * 1024 * 1024);
    await sql`create table filler (id integer primary key, tag integer, data blob)`.execute(small.db);
    expect(await autocheckpoint(small)).toBe(1_000);
    await writeRows(small, 2_000, 1);
    await small.close();
    storage = null;
    expect(size(file)).toBeGreaterThan(4 * 1024 * 1024);
    // The same file, now past the size, opened again: the worker starts and the app's connection leaves it the WAL.
    storage = openStorage({ dataDir: dir!, databaseUrl: null, sqliteWalWorkerFromBytes: 4 * 1024 * 1024 });
    await waitFor(
      "the app's connection to leave its checkpoints to the worker",
      async () => (await autocheckpoint(storage!)) === WRITER_AUTOCHECKPOINT_PAGES,
      5_000,
    );
  });

  it('starts the WAL over as commits go on, loses nothing, and closing removes the WAL', async () => {
    const { storage: s, file } = open(0);
    await sql`create table filler (id integer primary key, tag integer, data blob)`.execute(s.db);
    // 60 commits of ~1,000 pages (a sync's batch on a big database is ~3,700), back to back: 240 MB written.
    let biggestWal = 0;
    for (let tag = 0; tag < 60; tag++) {
      await writeRows(s, 1_000, tag);
      biggestWal = Math.max(biggestWal, size(`${file}-wal`));
    }
    // The WAL started over again and again (its header counts the restarts), so it is bounded by the app's limit,
    // not by what was written: past the limit, the app's connection checkpoints at its next commit unless the
    // worker's checkpoint holds the lock at that moment (up to ~16,000 pages seen under these back-to-back commits).
    expect(walRestarts(file)).toBeGreaterThanOrEqual(3);
    expect(biggestWal).toBeLessThan(3 * WRITER_AUTOCHECKPOINT_PAGES * PAGE);
    const { rows } = await sql<{ n: number; tags: number }>`select count(*) as n, count(distinct tag) as tags
      from filler`.execute(s.db);
    expect(Number(rows[0]!.n)).toBe(60_000);
    expect(Number(rows[0]!.tags)).toBe(60);
    const check = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(s.db);
    expect(check.rows).toEqual([{ integrity_check: 'ok' }]);
    await s.close();
    storage = null;
    expect(fs.existsSync(`${file}-wal`)).toBe(false);
    // What was written is in the file itself.
    const again = openStorage({ dataDir: dir!, databaseUrl: null });
    try {
      const count = await sql<{ n: number }>`select count(*) as n from filler`.execute(again.db);
      expect(Number(count.rows[0]!.n)).toBe(60_000);
    } finally {
      await again.close();
    }
  });

  it("if the worker dies, SQLite's own limit comes back and the app's connection checkpoints itself", async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-wal-'));
    const file = path.join(dir, 'dies.db');
    const conn = new SqliteDatabase(file);
    conn.pragma('journal_mode = WAL');
    conn.exec('create table filler (id integer primary key, tag integer, data blob)');
    const limits: number[] = [];
    const checkpoints = walCheckpointsOnAThread(file, {
      fromBytes: 0,
      setWriterLimit: async (pages) => {
        limits.push(pages);
        conn.pragma(`wal_autocheckpoint = ${pages}`);
      },
      // Dies 100 ms after it starts, by an uncaught error; the test's process must not.
      workerModule: new URL('../support/dying-worker.ts', import.meta.url),
    });
    try {
      expect(limits).toEqual([WRITER_AUTOCHECKPOINT_PAGES]);
      await waitFor('the worker to die and the limit to come back', async () => limits.length === 2, 30_000);
      expect(limits).toEqual([WRITER_AUTOCHECKPOINT_PAGES, 1_000]);
      expect(conn.pragma('wal_autocheckpoint', { simple: true })).toBe(1_000);
      // ~2,000 pages in one commit: past SQLite's own limit, so the commit checkpoints them into the file itself.
      conn
        .prepare(
          `insert into filler (tag, data) with recursive n(i) as (select 1 union all select i + 1 from n where i < 2000)
          select 1, randomblob(3900) from n`,
        )
        .run();
      expect(size(file)).toBeGreaterThanOrEqual(2_000 * PAGE);
    } finally {
      await checkpoints.close();
      conn.close();
    }
  });

  it('closing stops the worker without handing the limit back (the connection closes with it)', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-wal-'));
    const file = path.join(dir, 'closes.db');
    const limits: number[] = [];
    const checkpoints = walCheckpointsOnAThread(file, {
      fromBytes: 0,
      setWriterLimit: async (pages) => {
        limits.push(pages);
      },
    });
    await checkpoints.close();
    // The worker has exited ('exit' came before terminate resolved): a limit handed back would be here.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(limits).toEqual([WRITER_AUTOCHECKPOINT_PAGES]);
  });
});
