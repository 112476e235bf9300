// The worker-thread side of wal-checkpointer.ts: a connection of its own to the SQLite file that checkpoints the
// WAL every CHECKPOINT_EVERY_MS, PASSIVE (it copies what no reader still needs, waits for nobody, blocks nobody).
import fs from 'node:fs';
import os from 'node:os';
import { workerData } from 'node:worker_threads';
import SqliteDatabase from 'better-sqlite3';
import type { WalCheckpointerData } from './wal-checkpointer.js';

const { file, intervalMs, stepAsideAtPages } = workerData as WalCheckpointerData;
let db: SqliteDatabase.Database | null = null;

/** How the wal-index (the `-shm` file) stores its header's numbers: the machine's own byte order. */
const readUInt32 = os.endianness() === 'LE' ? 'readUInt32LE' : 'readUInt32BE';

/**
 * How many frames (pages) the WAL holds now, from the wal-index header SQLite keeps in the `-shm` file (its first
 * copy: mxFrame at byte 16), read without a connection or a lock; 0 without one. A writer starting the WAL over sets
 * it back to 0.
 */
function walFrames(): number {
  let fd: number | null = null;
  try {
    fd = fs.openSync(`${file}-shm`, 'r');
    const header = Buffer.alloc(20);
    return fs.readSync(fd, header, 0, 20, 0) === 20 ? header[readUInt32](16) : 0;
  } catch {
    return 0;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

function checkpoint(): void {
  try {
    // A WAL this long is the app's connection's to finish and start over (wal-checkpointer.ts): this thread leaves
    // it alone, before taking the checkpoint lock, so that the writer's own checkpoint never finds it taken; once the
    // writer has started the WAL over, its frame count is small again.
    if (walFrames() >= stepAsideAtPages) return;
    // The file is the app's: opened only once its WAL is there (the app's connection creates the file, private, and
    // turns WAL on; this connection never creates or converts anything).
    if (!db) {
      if (!fs.existsSync(`${file}-wal`)) return;
      db = new SqliteDatabase(file, { fileMustExist: true });
    }
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy (the writer's own checkpoint runs), or the file is not there yet: the next round tries again.
  }
}

setInterval(checkpoint, intervalMs);
