// Parses messages on worker threads so that the event loop (IMAP sessions, HTTP) never waits on MIME work.
// Each worker parses one message at a time. A message that crashes its worker or runs past the time limit
// gets a fresh worker for a headers-only parse, and if even that fails, an empty result: either way it comes
// back with a parseError and the pool carries on. Raw bytes are copied once into a buffer that is then
// transferred; the caller keeps its own buffer. Attachments come back transferred — or, for a parse that asks to
// store blobs (the sync engine, on the file blob store), the worker writes them and the raw bytes to the blob files
// and only their refs come back.
//
// Back-pressure: parse() always returns a promise for the result; each worker holds at most MAX_JOBS_PER_WORKER
// messages (MAX_BYTES_PER_WORKER bytes) and the rest wait in FIFO order. `ready()` resolves while fewer than
// `maxQueue` wait, for a producer (an IMAP fetch loop) that should stop reading until the pool catches up.
//
// A big download (a first sync's message of several MB) is written to a blob file as it arrives and parsed from there
// (`downloads`): neither this thread nor the worker ever holds it whole (issue 18).
//
// The worker entry is parse-worker, started by spawnWorker (from sources too).
import { availableParallelism } from 'node:os';
import type { ResourceLimits, Worker } from 'node:worker_threads';
import { siblingModule, spawnWorker } from '../../core/spawn-worker.js';
import {
  parseMessageHeaders,
  resolveLimits,
  type ParseLimits,
  type ParsedMessage,
  type ParseOptions,
} from './parse-message.js';
import { putBlobFileStream, type BlobFiles, type BlobRef } from '../../storage/blob-store.js';
import type { ParseRequest, ParseResponse, ParseStage, WorkerReady } from './parse-worker.js';

export interface ParsePoolOptions {
  /** Worker threads; defaults to the cores less one (at least 1). */
  size?: number;
  /**
   * Per message; past it the worker is replaced and the message gets a parseError (its headers are still read).
   * Default 5 s: what one message may cost the mail queued behind it (audit item 9).
   */
  timeoutMs?: number;
  /** How long a worker may take to start (default 20 s, never less than timeoutMs). */
  startupTimeoutMs?: number;
  limits?: Partial<ParseLimits>;
  /** How many may wait before ready() holds producers back. Default 4 × size. */
  maxQueue?: number;
  /**
   * Heap caps per worker (DEFAULT_WORKER_LIMITS): so one absurd message cannot take the process down, and so the
   * worker's isolate stays small while it parses ordinary mail. A message that needs more fails alone (its headers
   * are still read, parseError says it ran out of memory) and the worker is replaced.
   */
  resourceLimits?: ResourceLimits;
  /**
   * Called once each worker thread runs (the first ones and every replacement): starting an isolate resets
   * process-wide V8 heap flags, which the composition root sets again here (app/heap-growth.ts).
   */
  workerOnline?: () => void;
  /**
   * The file blob store (SQLite installs): a parse asked to `storeBlobs` has its raw message and attachments
   * written there by the worker. Without it that option is ignored and the caller writes the blobs.
   */
  blobFiles?: BlobFiles;
}

export interface PoolParseOptions extends ParseOptions {
  signal?: AbortSignal;
}

/**
 * A worker's heap (issue 18). The young generation: a worker isolate does not follow the main isolate's
 * semi-space flags (heap-growth.ts), so V8 let its semi-spaces grow to 16 MB each, ~30 MB of RSS for garbage that
 * lives microseconds; 2 MB semi-spaces cost no measurable throughput. The old generation: what a message may
 * keep alive while it is parsed — its decoded bodies as strings, postal-mime's part tree; attachments and the raw
 * bytes live outside the heap. A 50 MB message (the default maxBytes) needs far less than 384 MB.
 */
export const DEFAULT_WORKER_LIMITS: Readonly<ResourceLimits> = {
  maxYoungGenerationSizeMb: 6,
  maxOldGenerationSizeMb: 384,
};

/** The default per-message budget (see ParsePoolOptions.timeoutMs). */
export const DEFAULT_PARSE_BUDGET_MS = 5_000;

export interface ParsePoolStats {
  workers: number;
  busy: number;
  queued: number;
}

/** A message downloaded into blob files: its raw blob and the files it is in. */
export interface Download {
  ref: BlobRef;
  files: BlobFiles;
}

/** Big messages by way of blob files (the file blob store's, or a spool folder's: spooled-downloads.ts). */
export interface DownloadParser {
  /** Writes a download into blob files as it arrives; nothing of it stays in memory, nor behind on an error. */
  store(content: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<Download>;
  /**
   * Parses a downloaded message a piece at a time, its attachments written to the blob store (`blobs` always set, its
   * raw blob `ref`). Never rejects for a bad message; rejects when aborted, after close(), or when a blob could not be
   * written (a full disk): the message is then to be synced again, not stored without its attachments.
   */
  parse(download: Download, options?: PoolParseOptions): Promise<ParsedMessage>;
}

export interface ParsePool {
  /** Never rejects for a bad message (see parseMessage); rejects only when aborted or after close(). */
  parse(raw: Buffer, options?: PoolParseOptions): Promise<ParsedMessage>;
  /** Null without the file blob store (ParsePoolOptions.blobFiles); see spooled-downloads.ts for the others. */
  downloads: DownloadParser | null;
  /**
   * A message in blob files parsed from there, its attachments written beside it (as DownloadParser.parse, in
   * whichever folder the download is): for a store whose blobs are not those files, the caller moves them in.
   */
  parseDownload(download: Download, options?: PoolParseOptions): Promise<ParsedMessage>;
  /** Resolves when fewer than maxQueue messages are waiting. */
  ready(): Promise<void>;
  stats(): ParsePoolStats;
  /** Finishes what was submitted, then stops the workers. */
  close(): Promise<void>;
}

interface Job {
  id: number;
  /** Empty for a stored message. */
  raw: Buffer;
  stored: Download | undefined;
  options: ParseOptions;
  mode: 'full' | 'headers';
  parseError?: string;
  resolve: (message: ParsedMessage) => void;
  reject: (reason: unknown) => void;
  settled: boolean;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  /** Aborted while a worker had it: rejected with this once the worker is done with it. */
  abortedWith?: { reason: unknown };
}

interface Slot {
  worker: Worker | null;
  /** The worker has loaded its modules (start-up time never counts against a message). */
  ready: boolean;
  /** Sent to (or waiting for) this worker, in order; the worker parses the first while the next one waits. */
  jobs: Job[];
  /** Start-up limit while not ready, then the time limit of jobs[0]. */
  timer: NodeJS.Timeout | null;
  /** The last 'error' the worker emitted, reported when it exits. */
  lastError: unknown;
}

const HEADERS_TIMEOUT_MS = 5_000;
// Messages handed to one worker at once, up to a byte budget (one message always goes). The worker works through
// them while the main thread cannot answer: a first sync's commit runs its SQLite statements back to back for
// ~250 ms per 500 messages without returning to the event loop, and with only the next message in hand (2 before)
// the worker sat idle through every commit: parse and commit took turns instead of overlapping (sync100 666-766
// msgs/s then, ~1,100 now; bench/README.md, "Fourth session").
const MAX_JOBS_PER_WORKER = 256;
const MAX_BYTES_PER_WORKER = 8 * 1024 * 1024;

const workerUrl = siblingModule(import.meta.url, 'parse-worker');

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A message's bytes: what it weighs in a worker's budget. */
function sizeOf(job: Job): number {
  return job.stored?.ref.size ?? job.raw.length;
}

/** A Uint8Array that came through structured clone becomes a Buffer again, without copying. */
function revive(message: ParsedMessage): ParsedMessage {
  for (const attachment of message.attachments) {
    const content = attachment.content as Uint8Array;
    if (!Buffer.isBuffer(content)) {
      attachment.content = Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    }
  }
  return message;
}

export function createParsePool(options: ParsePoolOptions = {}): ParsePool {
  const size = Math.max(1, Math.floor(options.size ?? Math.max(1, availableParallelism() - 1)));
  const timeoutMs = options.timeoutMs ?? DEFAULT_PARSE_BUDGET_MS;
  // Start-up has its own, generous limit: a loaded machine (or tsx compiling the worker under tests) can take
  // seconds to boot a worker, and that must not count against a message's parse time.
  const startupTimeoutMs = Math.max(timeoutMs, options.startupTimeoutMs ?? 20_000);
  const limits = resolveLimits(options.limits);
  const maxQueue = Math.max(1, options.maxQueue ?? size * 4);
  const resourceLimits: ResourceLimits = options.resourceLimits ?? { ...DEFAULT_WORKER_LIMITS };

  const slots: Slot[] = Array.from({ length: size }, () => ({
    worker: null,
    ready: false,
    jobs: [],
    timer: null,
    lastError: null,
  }));
  const queue: Job[] = [];
  const readyWaiters: Array<() => void> = [];
  const idleWaiters: Array<() => void> = [];
  let nextId = 1;
  let closed = false;

  function settle(job: Job, outcome: { result: ParsedMessage } | { error: string }): void {
    if (job.settled) return;
    job.settled = true;
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (job.abortedWith) job.reject(job.abortedWith.reason);
    else if ('result' in outcome) job.resolve(revive(outcome.result));
    else job.reject(new Error(`the message could not be stored: ${outcome.error}`));
  }

  function clearTimer(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
  }

  /** The worker is now on jobs[0]: its clock starts. */
  function startClock(slot: Slot): void {
    clearTimer(slot);
    const job = slot.jobs[0];
    if (!job) return;
    const limit = job.mode === 'full' ? timeoutMs : Math.min(timeoutMs, HEADERS_TIMEOUT_MS);
    slot.timer = setTimeout(() => retire(slot, `parse took longer than ${limit} ms`), limit);
  }

  /**
   * Drops the slot's worker (killing it if it still runs). The message it was on fails with `reason`; the ones
   * waiting behind it go back to the front of the queue untouched.
   */
  function retire(slot: Slot, reason: string): void {
    const worker = slot.worker;
    const [current, ...waiting] = slot.jobs;
    clearTimer(slot);
    slot.worker = null;
    slot.ready = false;
    slot.jobs = [];
    if (worker) void worker.terminate();
    queue.unshift(...waiting);
    if (current) fail(current, reason);
    pump();
  }

  function start(slot: Slot): void {
    const worker = spawnWorker(workerUrl, { resourceLimits });
    slot.worker = worker;
    slot.ready = false;
    slot.lastError = null;
    slot.timer = setTimeout(
      () => retire(slot, `parser worker did not start within ${startupTimeoutMs} ms`),
      startupTimeoutMs,
    );
    if (options.workerOnline) worker.once('online', options.workerOnline);
    worker.on('message', (message: ParseResponse | ParseStage | WorkerReady) => {
      if (slot.worker !== worker) return;
      if ('stage' in message) {
        if (slot.jobs[0]?.id !== message.id) return;
        if (message.stage === 'store') clearTimer(slot);
        else startClock(slot);
        return;
      }
      if ('ready' in message) {
        slot.ready = true;
        for (const job of slot.jobs) send(worker, job);
        startClock(slot);
        if (slot.jobs.length === 0) worker.unref();
        return;
      }
      const job = slot.jobs[0];
      if (!job || job.id !== message.id) return;
      slot.jobs.shift();
      startClock(slot);
      if (slot.jobs.length === 0) worker.unref(); // an idle pool must not keep the process alive
      settle(job, message);
      pump();
    });
    worker.on('error', (error) => {
      slot.lastError = error;
    });
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return; // already retired (time limit) or closed
      const error = slot.lastError as NodeJS.ErrnoException | null;
      const why =
        error?.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `out of memory: the message needs more than the worker's ${resourceLimits.maxOldGenerationSizeMb ?? 'default'} MB heap`
          : error
            ? describe(error)
            : `exit code ${code}`;
      retire(slot, `parser worker crashed: ${why}`);
    });
  }

  /** The full parse failed: try the headers alone in a fresh worker; if that failed too, give up. */
  function fail(job: Job, reason: string): void {
    if (job.settled) return;
    if (job.mode === 'full' && !job.abortedWith) {
      job.mode = 'headers';
      job.parseError = reason;
      queue.unshift(job);
    } else {
      const empty = parseMessageHeaders(
        Buffer.alloc(0),
        limits,
        `${job.parseError ?? ''}; headers-only parse failed too: ${reason}`,
      );
      // A stored message is stored still, as what could be read of it: its headers could not even be.
      const blobs = job.stored ? { blobs: { raw: job.stored.ref, attachments: [] } } : {};
      settle(job, { result: { ...empty, size: sizeOf(job), ...blobs } });
    }
  }

  function send(worker: Worker, job: Job): void {
    // One copy into a buffer of exactly the message's size, transferred: cloning the caller's Buffer would
    // copy its whole backing store (an 8 KiB pool slab, or a large read buffer), and detaching it would
    // take the caller's bytes away.
    const raw = new ArrayBuffer(job.raw.length);
    new Uint8Array(raw).set(job.raw);
    const request: ParseRequest = { id: job.id, mode: job.mode, raw, limits, options: job.options };
    if (job.parseError !== undefined) request.parseError = job.parseError;
    if (job.stored) {
      request.stored = job.stored.ref;
      request.blobFiles = job.stored.files;
    } else if (options.blobFiles && job.options.storeBlobs === true) request.blobFiles = options.blobFiles;
    worker.postMessage(request, [raw]);
  }

  /** The first job still waiting (one aborted while waiting is dropped). */
  function head(): Job | undefined {
    while (queue[0]?.settled) queue.shift();
    return queue[0];
  }

  function bytesIn(slot: Slot): number {
    let sum = 0;
    for (const job of slot.jobs) sum += sizeOf(job);
    return sum;
  }

  /** The worker the next job goes to: the one holding the fewest, among those it may join. */
  function slotFor(job: Job): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of slots) {
      if (slot.jobs.length >= MAX_JOBS_PER_WORKER) continue;
      // A retry in headers-only mode gets a worker to itself: nothing may wait behind (or before) a suspect message.
      if (
        slot.jobs.length > 0 &&
        (job.mode === 'headers' ||
          slot.jobs.some((j) => j.mode === 'headers') ||
          bytesIn(slot) + sizeOf(job) > MAX_BYTES_PER_WORKER)
      )
        continue;
      if (!best || slot.jobs.length < best.jobs.length) best = slot;
    }
    return best;
  }

  function pump(): void {
    for (let job = head(); job; job = head()) {
      const slot = slotFor(job);
      if (!slot) break;
      queue.shift();
      slot.jobs.push(job);
      if (!slot.worker) {
        start(slot);
      } else if (slot.ready) {
        slot.worker.ref();
        send(slot.worker, job);
        if (slot.jobs.length === 1) startClock(slot);
      }
    }
    if (queue.length < maxQueue) for (const wake of readyWaiters.splice(0)) wake();
    if (queue.length === 0 && slots.every((s) => s.jobs.length === 0)) for (const wake of idleWaiters.splice(0)) wake();
  }

  function submit(raw: Buffer, stored: Download | undefined, { signal, ...parseOptions }: PoolParseOptions) {
    if (closed) return Promise.reject(new Error('the parse pool is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<ParsedMessage>((resolve, reject) => {
      const job: Job = {
        id: nextId++,
        raw,
        stored,
        options: parseOptions,
        mode: 'full',
        resolve,
        reject,
        settled: false,
        signal,
        onAbort: undefined,
      };
      if (signal) {
        // A running parse is not interrupted (its worker finishes and the result is dropped). A download's parse
        // is rejected only once its worker is done with it: the worker writes the attachments into the download's
        // folder, which the caller removes when the parse ends (spooled-downloads.ts).
        job.onAbort = () => {
          if (job.settled) return;
          if (stored && !queue.includes(job)) {
            job.abortedWith = { reason: signal.reason };
            return;
          }
          job.settled = true;
          reject(signal.reason);
          pump();
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      queue.push(job);
      pump();
    });
  }

  const blobFiles = options.blobFiles;
  const EMPTY = Buffer.alloc(0);
  const parseDownload = (download: Download, parseOptions: PoolParseOptions = {}) =>
    submit(EMPTY, download, parseOptions);

  return {
    parse: (raw, parseOptions = {}) => submit(raw, undefined, parseOptions),

    downloads: blobFiles
      ? {
          store: async (content, signal) => ({
            ref: await putBlobFileStream(blobFiles.root, content, { ...blobFiles, ...(signal ? { signal } : {}) }),
            files: blobFiles,
          }),
          parse: parseDownload,
        }
      : null,

    parseDownload,

    ready() {
      if (queue.length < maxQueue) return Promise.resolve();
      return new Promise<void>((resolve) => readyWaiters.push(resolve));
    },

    stats() {
      return {
        workers: slots.filter((s) => s.worker).length,
        busy: slots.filter((s) => s.jobs.length > 0).length,
        queued: queue.filter((j) => !j.settled).length,
      };
    },

    async close() {
      closed = true;
      if (queue.length > 0 || slots.some((s) => s.jobs.length > 0))
        await new Promise<void>((resolve) => idleWaiters.push(resolve));
      for (const wake of readyWaiters.splice(0)) wake();
      await Promise.all(
        slots.map(async (slot) => {
          const worker = slot.worker;
          clearTimer(slot);
          slot.worker = null;
          slot.ready = false;
          if (worker) await worker.terminate();
        }),
      );
    },
  };
}
