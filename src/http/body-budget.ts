// The bytes of request bodies a server holds at once. A body is read whole before its route runs (a send's JSON
// carries its attachments in base64: up to ~42 MB), and each then lives several times over in memory (the text, the
// parsed object, the decoded bytes, the built message): a user's eight 32 MB sends at once took an idle server from
// ~103 to 523-531 MB (bench/large-bodies.ts). A body of BUDGETED_FROM_BYTES or more waits here, before it is read
// (its sender held back by TCP), until the bodies in flight leave room for it; one bigger than the whole budget goes
// alone. Waiting longer than the wait limit answers SERVER_BUSY (503, Retry-After), and a sender that hangs up stops
// waiting. A body let in must keep arriving: one that trickles in (on average slower than minBytesPerSecond once the
// grace period is over) loses its connection, so nobody holds the room for ever by sending a byte now and then.
import { AppError } from '../core/app-error.js';

/** Bodies smaller than this are never held back: the JSON of every ordinary route (limit 1 MB) is far below. */
export const BUDGETED_FROM_BYTES = 256 * 1024;
/** Default budget: one full-size send and room for more small uploads beside it. */
export const DEFAULT_BODY_BUDGET_BYTES = 64 * 1024 * 1024;
/** Default longest wait for room before SERVER_BUSY. */
export const DEFAULT_BODY_WAIT_MS = 30_000;
/** Default slowest average rate of a body let in (16 KB/s: 128 kbit/s), checked after the grace period. */
export const DEFAULT_BODY_MIN_BYTES_PER_SECOND = 16 * 1024;
export const DEFAULT_BODY_GRACE_MS = 15_000;
/** What SERVER_BUSY tells the sender to wait before trying again. */
const RETRY_AFTER_SECONDS = 5;

interface Waiter {
  bytes: number;
  grant(): void;
}

export interface BodyBudgetOptions {
  /** Bytes of bodies in flight at most (one bigger body goes alone). */
  maxBytes?: number;
  /** Longest wait for room, in milliseconds. */
  maxWaitMs?: number;
  /** Slowest average rate of a body let in, counted from when it was let in, once graceMs have passed. */
  minBytesPerSecond?: number;
  graceMs?: number;
}

/** What watchArrival needs of a socket (a net.Socket). */
export interface ArrivingBytes {
  readonly bytesRead: number;
}

export class BodyBudget {
  readonly maxBytes: number;
  readonly maxWaitMs: number;
  readonly minBytesPerSecond: number;
  readonly graceMs: number;
  private held = 0;
  /** First come, first served: a big body at the head is not overtaken for ever by small ones. */
  private readonly queue: Waiter[] = [];

  constructor(options: BodyBudgetOptions = {}) {
    this.maxBytes = Math.max(1, options.maxBytes ?? DEFAULT_BODY_BUDGET_BYTES);
    this.maxWaitMs = Math.max(0, options.maxWaitMs ?? DEFAULT_BODY_WAIT_MS);
    this.minBytesPerSecond = Math.max(0, options.minBytesPerSecond ?? DEFAULT_BODY_MIN_BYTES_PER_SECOND);
    this.graceMs = Math.max(0, options.graceMs ?? DEFAULT_BODY_GRACE_MS);
  }

  /**
   * Watches a body let in arrive on `socket`: from graceMs on, checked every graceMs / 3, `tooSlow` is called (once)
   * when fewer than minBytesPerSecond have arrived on average since now. Returns the function that stops watching
   * (the body has arrived, or the connection is gone).
   */
  watchArrival(socket: ArrivingBytes, tooSlow: () => void): () => void {
    const start = socket.bytesRead;
    const since = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      const seconds = (Date.now() - since) / 1000;
      if ((socket.bytesRead - start) / seconds < this.minBytesPerSecond) {
        timer = undefined;
        tooSlow();
      } else timer = setTimeout(check, Math.max(1, this.graceMs / 3)).unref();
    };
    timer = setTimeout(check, Math.max(1, this.graceMs)).unref();
    return () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
  }

  /** Bytes of the bodies granted and not yet released. */
  inFlight(): number {
    return this.held;
  }

  /** Requests waiting for room. */
  waiting(): number {
    return this.queue.length;
  }

  /**
   * Waits until `bytes` fit (or nothing else is in flight), then holds them; the function returned gives them back
   * (once, however often it is called). Throws SERVER_BUSY after maxWaitMs, and stops waiting when `signal` aborts
   * (throwing its reason).
   */
  async acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    const size = Math.max(0, Math.ceil(bytes));
    if (this.queue.length === 0 && this.fits(size)) return this.take(size);
    return new Promise<() => void>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.queue.indexOf(waiter);
        if (index >= 0) this.queue.splice(index, 1);
      };
      const waiter: Waiter = {
        bytes: size,
        grant: () => {
          finish();
          resolve(this.take(size));
        },
      };
      const onAbort = () => {
        finish();
        reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
        // The head may have been what held the others back.
        this.grantWaiting();
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new AppError(
            'SERVER_BUSY',
            `The server is receiving other large requests; try again in ${RETRY_AFTER_SECONDS} s`,
            {
              details: { retryAfterSeconds: RETRY_AFTER_SECONDS },
            },
          ),
        );
        this.grantWaiting();
      }, this.maxWaitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  private fits(bytes: number): boolean {
    // Nothing held (every body let in counts at least BUDGETED_FROM_BYTES): a body bigger than the budget goes alone.
    return this.held === 0 || this.held + bytes <= this.maxBytes;
  }

  private take(bytes: number): () => void {
    this.held += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= bytes;
      this.grantWaiting();
    };
  }

  private grantWaiting(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) this.queue[0]!.grant();
  }
}
