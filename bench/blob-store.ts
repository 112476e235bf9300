// Blob store figures (issue 18, part B): put and get throughput, and the bytes on disk per blob beyond its payload,
// for the file store (SQLite installs) and the PostgreSQL store (blob_contents), on this machine's local disk and
// local PostgreSQL. N mixed blobs (80% 1–8 KB like raw messages, 20% 16–256 KB like attachments; random bytes, so
// nothing compresses), 8 in flight as intake writes them, then read back in a shuffled order, 8 in flight; then
// a few 20 MB blobs one at a time, with the memory (heap + buffers) a read of one takes above the level before it.
// Run with --expose-gc for that figure (the command below does).
//
//   node --expose-gc --import tsx bench/blob-store.ts [--blobs 5000] [--large 5] [--slice BYTES]
// PostgreSQL: TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres); a database is made and dropped.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { createBlobStore, type BlobStore } from '../src/storage/blob-store.js';
import { createDatabaseBlobStore } from '../src/storage/database-blob-store.js';
import { migrateToLatest, openStorage, type Storage } from '../src/storage/database.js';
import { inPool, seeded } from './support/format.js';
import { createScratchDatabase } from './support/scratch-database.js';

const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const BLOBS = Number(option('--blobs') ?? 5_000);
const LARGE = Number(option('--large') ?? 5);
const SLICE = option('--slice') ? Number(option('--slice')) : undefined;
const LARGE_SIZE = 20 * 1024 * 1024;
const IN_FLIGHT = 8;
function allocatedBytes(dir: string): number {
  return Number(execFileSync('du', ['-s', '--block-size=1', dir]).toString().split('\t')[0]) || 0;
}

const mb = (bytes: number) => bytes / 1_048_576;

interface Figures {
  putPerSec: number;
  putMBs: number;
  getPerSec: number;
  getMBs: number;
  overheadPerBlob: number;
  largePutMs: number;
  largeGetMs: number;
  largeMemMB: number;
}

async function measure(store: BlobStore, diskBytes: () => Promise<number>, contents: Buffer[]): Promise<Figures> {
  const payload = contents.reduce((n, c) => n + c.length, 0);
  const before = await diskBytes();
  let started = performance.now();
  const names: string[] = new Array<string>(contents.length);
  await inPool(contents, IN_FLIGHT, async (content, i) => {
    names[i] = (await store.put(content)).sha256;
  });
  const putSec = (performance.now() - started) / 1000;
  const used = (await diskBytes()) - before;
  const order = names.map((n, i) => ({ n, k: (i * 7_919) % names.length })).sort((a, b) => a.k - b.k);
  started = performance.now();
  let read = 0;
  await inPool(order, IN_FLIGHT, async ({ n }) => {
    const back = await store.get(n);
    read += back.length;
  });
  const getSec = (performance.now() - started) / 1000;
  if (read !== payload) throw new Error(`read ${read} bytes of ${payload}`);

  const large = Array.from({ length: LARGE }, () => randomBytes(LARGE_SIZE));
  started = performance.now();
  const largeNames: string[] = [];
  for (const content of large) largeNames.push((await store.put(content)).sha256);
  const largePutMs = (performance.now() - started) / LARGE;
  large.length = 0;
  // Memory a read needs: heap + array buffers (Buffers live outside the heap) above the level before it, sampled
  // while it runs and with its result still held; the worst of the reads.
  const level = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  let worst = 0;
  let getMs = 0;
  for (const name of largeNames) {
    global.gc?.();
    const base = level();
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, level())), 5);
    started = performance.now();
    const back = await store.get(name);
    getMs += performance.now() - started;
    peak = Math.max(peak, level());
    clearInterval(timer);
    if (back.length !== LARGE_SIZE) throw new Error('short read');
    worst = Math.max(worst, peak - base);
  }
  const largeGetMs = getMs / LARGE;
  return {
    putPerSec: contents.length / putSec,
    putMBs: mb(payload) / putSec,
    getPerSec: contents.length / getSec,
    getMBs: mb(payload) / getSec,
    overheadPerBlob: (used - payload) / contents.length,
    largePutMs,
    largeGetMs,
    largeMemMB: mb(worst),
  };
}

function row(name: string, f: Figures): string {
  return (
    `| ${name} | ${f.putPerSec.toFixed(0)} (${f.putMBs.toFixed(1)} MB/s) | ${f.getPerSec.toFixed(0)} ` +
    `(${f.getMBs.toFixed(1)} MB/s) | ${f.overheadPerBlob.toFixed(0)} B | ${f.largePutMs.toFixed(0)} ms / ` +
    `${f.largeGetMs.toFixed(0)} ms | ${f.largeMemMB.toFixed(0)} MB |`
  );
}

async function main() {
  const rand = seeded(18);
  const contents = Array.from({ length: BLOBS }, () =>
    randomBytes(rand() < 0.8 ? 1024 + Math.floor(rand() * 7 * 1024) : 16_384 + Math.floor(rand() * 240 * 1024)),
  );
  const payload = contents.reduce((n, c) => n + c.length, 0);
  const load = os.loadavg()[0]!.toFixed(2);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-bench-blobs-'));
  const files = await measure(createBlobStore(path.join(dir, 'blobs')), async () => allocatedBytes(dir), contents);
  fs.rmSync(dir, { recursive: true, force: true });

  const scratch = await createScratchDatabase('conversa_bench_blobs');
  let storage: Storage | undefined;
  let database: Figures;
  try {
    storage = openStorage({ dataDir: os.tmpdir(), databaseUrl: scratch.url });
    await migrateToLatest(storage.db);
    const db = storage.db;
    const size = async () => {
      const { rows } = await sql<{ n: string }>`SELECT pg_total_relation_size('blob_contents') AS n`.execute(db);
      return Number(rows[0]!.n);
    };
    database = await measure(createDatabaseBlobStore(db, SLICE ? { readSlice: SLICE } : {}), size, contents);
  } finally {
    await storage?.close();
    await scratch.drop();
  }
  const loadAfter = os.loadavg()[0]!.toFixed(2);
  console.log(
    `${BLOBS} blobs, ${mb(payload).toFixed(0)} MB payload (mean ${(payload / BLOBS / 1024).toFixed(1)} KB), ` +
      `${IN_FLIGHT} in flight; ${LARGE} × 20 MB; ${os.cpus().length} cores, load average ${load} → ${loadAfter}`,
  );
  console.log(
    '| store | put blobs/s | get blobs/s | disk beyond payload per blob | 20 MB put / get | memory to read 20 MB |',
  );
  console.log('|---|---|---|---|---|---|');
  console.log(row('files (SQLite installs)', files));
  console.log(row('PostgreSQL blob_contents', database));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
