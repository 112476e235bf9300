// The inbox's reads on worker threads (issue 18), for SQLite: the inbox and a contact's timeline (listed or searched),
// the unread badge and the contact list (searched or not). better-sqlite3 answers on the thread that asks, so on the
// main thread one search (~20–40 ms of SQL and ranking at 200,000–1,000,000 messages) held up every other request and
// the sync's writes, and 8 clients reading at once took turns on one core. Each worker has its own read-only
// connection (WAL: it sees every commit) and runs the same functions (reader-worker.ts), so the rule of who sees what
// is the same code. PostgreSQL needs none of this: its queries already run in the database's own processes.
//
// Workers start at the first read (a process that serves no inbox never pays for them). A read the worker could not
// answer for a reason of its own (not an AppError such as a contact not found: the database, a crash) runs on the
// main thread instead: slower, never lost. A worker that dies or cannot start is replaced at a read after
// RESTART_PAUSE_MS; until then reads run on the main thread.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { AppError } from '../core/app-error.js';
import { siblingModule, spawnWorker } from '../core/spawn-worker.js';
import type { Db } from '../storage/database.js';
import type { User } from '../users/users.js';
import { listContacts } from '../contacts/contacts.js';
import { contactMessages, inbox, unreadCount } from './messages.js';

type Page = Awaited<ReturnType<typeof inbox>>;

export interface ReaderWorkerData {
  file: string;
  mmapBytes?: number;
}

/** What a worker is asked: the function and its arguments after the database. */
export type ReaderAsk =
  | { kind: 'inbox'; user: User; options: Parameters<typeof inbox>[2] }
  | { kind: 'contact'; user: User; contactId: string; options: Parameters<typeof contactMessages>[3] }
  | { kind: 'unread'; user: User }
  | { kind: 'contacts'; orgId: string; options: Parameters<typeof listContacts>[2] };

export type ReaderRequest = ReaderAsk & { id: number };

export type ReaderResponse =
  | { id: number; ok: true; result: unknown }
  | {
      id: number;
      ok: false;
      /** An AppError's parts (it is rebuilt on the main thread); anything else only as a message. */
      error: { code: AppError['code'] | null; message: string; details?: Record<string, unknown> };
    };

/** Runs what was asked on `db`: the worker's connection, or the main thread's when no worker can. */
export function runReaderAsk(db: Db, ask: ReaderAsk): Promise<unknown> {
  switch (ask.kind) {
    case 'inbox':
      return inbox(db, ask.user, ask.options);
    case 'contact':
      return contactMessages(db, ask.user, ask.contactId, ask.options);
    case 'unread':
      return unreadCount(db, ask.user);
    case 'contacts':
      return listContacts(db, ask.orgId, ask.options);
  }
}

export interface ReaderPool {
  inbox(user: User, options: Parameters<typeof inbox>[2]): Promise<Page>;
  contactMessages(user: User, contactId: string, options: Parameters<typeof contactMessages>[3]): Promise<Page>;
  unreadCount(user: User): ReturnType<typeof unreadCount>;
  contacts(orgId: string, options: Parameters<typeof listContacts>[2]): ReturnType<typeof listContacts>;
  close(): Promise<void>;
}

export interface ReaderPoolOptions {
  /** The SQLite file the workers open read-only. */
  file: string;
  mmapBytes?: number;
  /** The app's own connection: where a read runs when no worker can. */
  db: Db;
  /**
   * Worker threads; default: one per core, at most 2 (each holds its own connection and ~20 MB). Not the cores less
   * one: while readers are the load, the main thread only passes requests on (measured at 1,000,000 messages with
   * one worker: the process used 1.1 of 2 cores while 8 clients waited for searches).
   */
  size?: number;
  /** Called once each worker runs: the composition root sets V8's process-wide heap flags again (heap-growth.ts). */
  workerOnline?: () => void;
  log?: { warn(obj: object, msg: string): void };
}

interface Slot {
  worker: Worker | null;
  pending: Map<number, { ask: ReaderAsk; resolve: (result: unknown) => void; reject: (error: unknown) => void }>;
}

const workerUrl = siblingModule(import.meta.url, 'reader-worker');

/**
 * A worker isolate does not follow the main isolate's heap flags: without a cap its young generation grows to 16 MB
 * semi-spaces (~30 MB of RSS) for garbage that lives a request (the parse pool's DEFAULT_WORKER_LIMITS says the same).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 6 };

/** After a worker died, how long reads run on the main thread before another is started. */
const RESTART_PAUSE_MS = 30_000;

export function createReaderPool(options: ReaderPoolOptions): ReaderPool {
  const size = Math.max(1, Math.floor(options.size ?? Math.min(2, availableParallelism())));
  const slots: Slot[] = Array.from({ length: size }, () => ({ worker: null, pending: new Map() }));
  let nextId = 1;
  let closed = false;
  let diedAt = -Infinity;

  const runHere = (ask: ReaderAsk) => runReaderAsk(options.db, ask);

  /** The worker is gone: its reads run here, and a later read starts another. */
  function retire(slot: Slot, worker: Worker, reason: unknown): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    void worker.terminate();
    if (!closed) {
      diedAt = Date.now();
      options.log?.warn({ err: reason }, 'reader worker stopped; its reads run on the main thread');
    }
    const orphans = [...slot.pending.values()];
    slot.pending.clear();
    for (const job of orphans) {
      if (closed) job.reject(new Error('reader pool closed'));
      else runHere(job.ask).then(job.resolve, job.reject);
    }
  }

  function start(slot: Slot): Worker {
    const worker = spawnWorker(workerUrl, {
      workerData: { file: options.file, mmapBytes: options.mmapBytes } satisfies ReaderWorkerData,
      resourceLimits: WORKER_LIMITS,
    });
    slot.worker = worker;
    if (options.workerOnline) worker.once('online', options.workerOnline);
    worker.on('message', (response: ReaderResponse) => {
      const job = slot.pending.get(response.id);
      if (!job) return;
      slot.pending.delete(response.id);
      if (response.ok) job.resolve(response.result);
      else if (response.error.code !== null) {
        const { code, message, details } = response.error;
        job.reject(new AppError(code, message, details ? { details } : {}));
      } else {
        options.log?.warn({ err: new Error(response.error.message) }, 'read failed on its worker; retried here');
        runHere(job.ask).then(job.resolve, job.reject);
      }
    });
    worker.on('error', (error) => retire(slot, worker, error));
    worker.on('exit', (code) => retire(slot, worker, new Error(`reader worker exited with code ${code}`)));
    return worker;
  }

  function ask(ask: ReaderAsk): Promise<unknown> {
    if (closed) return Promise.reject(new Error('reader pool closed'));
    const slot = slots.reduce((best, s) => (s.pending.size < best.pending.size ? s : best));
    if (!slot.worker && Date.now() - diedAt < RESTART_PAUSE_MS) return runHere(ask);
    let worker: Worker;
    try {
      worker = slot.worker ?? start(slot);
    } catch (error) {
      options.log?.warn({ err: error }, 'reader worker could not start; reading on the main thread');
      return runHere(ask);
    }
    const id = nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { ask, resolve, reject });
      worker.postMessage({ ...ask, id } satisfies ReaderRequest);
    });
  }

  return {
    inbox: (user, options) => ask({ kind: 'inbox', user, options }) as Promise<Page>,
    contactMessages: (user, contactId, options) => ask({ kind: 'contact', user, contactId, options }) as Promise<Page>,
    unreadCount: (user) => ask({ kind: 'unread', user }) as Promise<number>,
    contacts: (orgId, options) => ask({ kind: 'contacts', orgId, options }) as ReturnType<typeof listContacts>,
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
