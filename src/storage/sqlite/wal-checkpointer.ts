// SQLite's WAL checkpoints on a thread of their own (issue 18). By default the connection that commits copies the
// WAL's pages back into the database file itself, inside the COMMIT, once the WAL holds 1,000 pages: on a big
// database every batch of a first sync commits ~15 MB of index pages, so every batch paid a checkpoint (copying them
// again, and an fsync) on the thread that also serves HTTP — 6.7% of the intake's CPU in a profile at 250,000
// messages, and a pause in every request behind it. Here a worker thread with a connection of its own checkpoints
// (PASSIVE: it never waits for, nor blocks, a reader or the writer) every CHECKPOINT_EVERY_MS, and the app's
// connection checkpoints only once the WAL holds WRITER_AUTOCHECKPOINT_PAGES (set on it by openStorage): by then the
// worker has copied most of it, so the writer's own checkpoint finds little left, completes, and the next commit
// starts the WAL from its beginning again. That last step is why the writer keeps a limit at all: a WAL starts over
// only when a writer begins on a WAL copied to its end, which a checkpoint on another thread, racing the next commit,
// rarely leaves (tried: with no writer limit the WAL grew past 1.4 GB in 3 minutes). And the worker steps aside once
// the WAL nears that limit, until it has started over: a writer's checkpoint that finds the worker's holding the
// checkpoint lock gives up until the next commit (tried: 90–150 MB WALs under back-to-back commits). It reads the
// WAL's length from the wal-index before taking that lock (deciding from its own checkpoint's report left a window: a
// worker preempted inside a checkpoint begun on a long WAL held the lock through commit after commit). If the worker
// dies or cannot open the file, nothing is lost and the WAL stays bounded: the writer checkpoints as before, a few
// batches at a time.
//
// A worker thread costs ~20 MB of RSS (its isolate and Node's bootstrap; measured: the idle server 133 MB against
// 113 MB), which a small install would pay for checkpoints that cost it little: the pages a batch writes are few
// while the indexes are small. So the worker starts only once the database file reaches WAL_WORKER_FROM_BYTES.
import fs from 'node:fs';
import type { Worker } from 'node:worker_threads';
import { siblingModule, spawnWorker } from '../../core/spawn-worker.js';

/** The app's connection checkpoints only past this many WAL pages (4 KiB each) when the worker runs: ~32 MB. */
export const WRITER_AUTOCHECKPOINT_PAGES = 8_000;

/** The database size from which `conversa serve` and `worker` checkpoint on a worker thread: ~130,000 messages. */
export const WAL_WORKER_FROM_BYTES = 1024 ** 3;

/** How often the database's size is looked at until the worker starts. */
const SIZE_CHECK_EVERY_MS = 60_000;

/** SQLite's own checkpoint limit, which the app's connection gets back if the worker stops. */
const SQLITE_AUTOCHECKPOINT_PAGES = 1_000;

/** How often the worker checkpoints. A round with nothing to copy costs a few microseconds. */
const CHECKPOINT_EVERY_MS = 100;

export interface WalCheckpointerData {
  file: string;
  intervalMs: number;
  /** WAL pages from which the worker leaves the WAL to the app's connection until it starts over. */
  stepAsideAtPages: number;
}

const workerUrl = siblingModule(import.meta.url, 'wal-checkpoint-worker');

/**
 * Starts the checkpoint worker for the app's SQLite file once the file reaches `fromBytes` (0: at once), and then
 * has the app's connection leave its checkpoints to it (`setWriterLimit`, run on that connection); gives SQLite's
 * own limit back if the worker stops by itself.
 */
export function walCheckpointsOnAThread(
  file: string,
  options: {
    fromBytes: number;
    setWriterLimit: (pages: number) => Promise<void>;
    /** The worker's module: wal-checkpoint-worker's by default (a test gives one that dies). */
    workerModule?: URL;
  },
): { close(): Promise<void> } {
  let worker: Worker | null = null;
  let closed = false;
  // The connection may be closing with the storage: its own limit then no longer matters.
  const setWriterLimit = (pages: number) => void options.setWriterLimit(pages).catch(() => undefined);
  const start = () => {
    if (closed || worker) return;
    if (options.fromBytes > 0 && sizeOf(file) < options.fromBytes) return;
    clearInterval(timer);
    worker = spawnWorker(options.workerModule ?? workerUrl, {
      workerData: {
        file,
        intervalMs: CHECKPOINT_EVERY_MS,
        stepAsideAtPages: (WRITER_AUTOCHECKPOINT_PAGES * 3) / 4,
      } satisfies WalCheckpointerData,
      // A connection and a timer: the smallest heap a worker is given elsewhere is plenty.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    // Never keeps the process alive by itself: the app closes it with the storage.
    worker.unref();
    // An error ends the worker (and an 'error' without a listener would end the process); 'exit' follows.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (!closed) setWriterLimit(SQLITE_AUTOCHECKPOINT_PAGES);
    });
    setWriterLimit(WRITER_AUTOCHECKPOINT_PAGES);
  };
  const timer = setInterval(start, SIZE_CHECK_EVERY_MS);
  timer.unref();
  start();
  return {
    async close() {
      closed = true;
      clearInterval(timer);
      // Stops the worker after its current checkpoint.
      await worker?.terminate();
    },
  };
}

function sizeOf(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}
