// The worker-thread side of wal-checkpointer.ts: a connection of its own to the SQLite file that checkpoints the
// WAL every CHECKPOINT_EVERY_MS, PASSIVE (it copies what no reader still needs, waits for nobody, blocks nobody).
import fs from 'node:fs';
import { workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import type { WalCheckpointerData } from './wal-checkpointer.js';

const { file, intervalMs, stepAsideAtPages } = workerData as WalCheckpointerData;
let db: SqliteDatabase.Database | null = null;
/** The WAL's header when this thread stepped aside (see below); null while it checkpoints. */
let asideAt: string | null = null;

/**
 * The WAL header's checkpoint sequence number and salts (bytes 12–23), which change each time a writer starts the
 * WAL over; null without a WAL.
 */
function walGeneration(): string | null {
  let fd: number | null = null;
  try {
    fd = fs.openSync(`${file}-wal`, 'r');
    const header = Buffer.alloc(24);
    return fs.readSync(fd, header, 0, 24, 0) === 24 ? header.subarray(12).toString('hex') : null;
  } catch {
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

function checkpoint(): void {
  try {
    // A WAL this long is the app's connection's to finish and start over (wal-checkpointer.ts): this thread waits
    // until it has, so that its checkpoint, holding the checkpoint lock, is not what the writer's own finds busy.
    if (asideAt !== null) {
      if (walGeneration() === asideAt) return;
      asideAt = null;
    }
    // The file is the app's: opened only once its WAL is there (the app's connection creates the file, private, and
    // turns WAL on; this connection never creates or converts anything).
    if (!db) {
      if (!fs.existsSync(`${file}-wal`)) return;
      db = new SqliteDatabase(file, { fileMustExist: true });
    }
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    if (row && row.log >= stepAsideAtPages) asideAt = walGeneration();
  } catch {
    // Busy (the writer's own checkpoint runs), or the file is not there yet: the next round tries again.
  }
}

setInterval(checkpoint, intervalMs);
