// Full-text searches on worker threads (issue 18), for SQLite: better-sqlite3 answers on the thread that asks, so on
// the main thread one search (~20 ms of SQL and ranking at 200,000 messages) held up every other request and the
// sync's writes, and 8 clients searching at once took turns on one core. Each worker has its own read-only connection
// (WAL: it sees every commit) and runs the same inbox/contactMessages functions, so the rule of who sees what is the
// same code. PostgreSQL needs none of this: its queries already run in the database's own processes.
//
// Workers start at the first search (a process that never searches never pays for them). A search the worker could
// not answer for a reason of its own (not an AppError such as a contact not found: the database, a crash) runs on the
// main thread instead: slower, never lost. A worker that dies or cannot start is replaced at a search after
// RESTART_PAUSE_MS; until then searches run on the main thread.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { AppError } from '../core/app-error.js';
import { siblingModule, spawnWorker } from '../core/spawn-worker.js';
import type { Db } from '../storage/database.js';
import type { User } from '../users/users.js';
import { contactMessages, inbox } from './messages.js';
import type { SearchRequest, SearchResponse, SearchWorkerData } from './search-worker.js';

type Page = Awaited<ReturnType<typeof inbox>>;
type Ask =
  | { kind: 'inbox'; user: User; options: Parameters<typeof inbox>[2] }
  | {
      kind: 'contact';
      user: User;
      contactId: string;
      options: Parameters<typeof contactMessages>[3];
    };

export interface SearchPool {
  inbox(user: User, options: Parameters<typeof inbox>[2]): Promise<Page>;
  contactMessages(user: User, contactId: string, options: Parameters<typeof contactMessages>[3]): Promise<Page>;
  close(): Promise<void>;
}

export interface SearchPoolOptions {
  /** The SQLite file the workers open read-only. */
  file: string;
  mmapBytes?: number;
  /** The app's own connection: where a search runs when no worker can. */
  db: Db;
  /** Worker threads; default: the cores less one, 1 to 2 (each holds its own connection and ~30 MB). */
  size?: number;
  log?: { warn(obj: object, msg: string): void };
}

interface Slot {
  worker: Worker | null;
  pending: Map<number, { ask: Ask; resolve: (page: Page) => void; reject: (error: unknown) => void }>;
}

const workerUrl = siblingModule(import.meta.url, 'search-worker');

/** After a worker died, how long searches run on the main thread before another is started. */
const RESTART_PAUSE_MS = 30_000;

export function createSearchPool(options: SearchPoolOptions): SearchPool {
  const size = Math.max(1, Math.floor(options.size ?? Math.min(2, Math.max(1, availableParallelism() - 1))));
  const slots: Slot[] = Array.from({ length: size }, () => ({ worker: null, pending: new Map() }));
  let nextId = 1;
  let closed = false;
  let diedAt = -Infinity;

  function runHere(ask: Ask): Promise<Page> {
    return ask.kind === 'inbox'
      ? inbox(options.db, ask.user, ask.options)
      : contactMessages(options.db, ask.user, ask.contactId, ask.options);
  }

  /** The worker is gone: its searches run here, and the next search starts another. */
  function retire(slot: Slot, worker: Worker, reason: unknown): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    void worker.terminate();
    if (!closed) diedAt = Date.now();
    if (!closed) options.log?.warn({ err: reason }, 'search worker stopped; its searches run on the main thread');
    const orphans = [...slot.pending.values()];
    slot.pending.clear();
    for (const job of orphans) {
      if (closed) job.reject(new Error('search pool closed'));
      else runHere(job.ask).then(job.resolve, job.reject);
    }
  }

  function start(slot: Slot): Worker {
    const worker = spawnWorker(workerUrl, {
      workerData: { file: options.file, mmapBytes: options.mmapBytes } satisfies SearchWorkerData,
    });
    slot.worker = worker;
    worker.on('message', (response: SearchResponse) => {
      const job = slot.pending.get(response.id);
      if (!job) return;
      slot.pending.delete(response.id);
      if (response.ok) job.resolve(response.page);
      else if (response.error.code !== null) {
        const { code, message, details } = response.error;
        job.reject(new AppError(code, message, details ? { details } : {}));
      } else {
        options.log?.warn({ err: new Error(response.error.message) }, 'search failed on its worker; retried here');
        runHere(job.ask).then(job.resolve, job.reject);
      }
    });
    worker.on('error', (error) => retire(slot, worker, error));
    worker.on('exit', (code) => retire(slot, worker, new Error(`search worker exited with code ${code}`)));
    return worker;
  }

  function ask(ask: Ask): Promise<Page> {
    if (closed) return Promise.reject(new Error('search pool closed'));
    const slot = slots.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
    if (!slot.worker && Date.now() - diedAt < RESTART_PAUSE_MS) return runHere(ask);
    let worker: Worker;
    try {
      worker = slot.worker ?? start(slot);
    } catch (error) {
      options.log?.warn({ err: error }, 'search worker could not start; searching on the main thread');
      return runHere(ask);
    }
    const id = nextId++;
    return new Promise<Page>((resolve, reject) => {
      slot.pending.set(id, { ask, resolve, reject });
      worker.postMessage({ id, ...ask } as SearchRequest);
    });
  }

  return {
    inbox: (user, options) => ask({ kind: 'inbox', user, options }),
    contactMessages: (user, contactId, options) => ask({ kind: 'contact', user, contactId, options }),
    async close() {
      closed = true;
      await Promise.all(
        slots.map((slot) => {
          const worker = slot.worker;
          if (!worker) return undefined;
          retire(slot, worker, null);
          return worker.terminate();
        }),
      );
    },
  };
}
