// An in-process sliding-window counter of failures per key (a login address, a client IP). In memory, so each
// process counts on its own: with N web nodes an attacker gets N times the budget, which still turns millions of
// guesses into dozens. Memory is bounded twice: a key keeps at most `limit` timestamps, and at most `maxKeys`
// keys are kept (the least recently failed go first), so spraying addresses cannot grow it without bound.
import { AppError } from '../core/app-error.js';

export interface LimiterOptions {
  /** Failures allowed within the window; the next attempt is refused. */
  limit: number;
  windowMs: number;
  maxKeys: number;
  now?: () => number;
}

export class SlidingWindowLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly now: () => number;

  constructor(private readonly options: LimiterOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Milliseconds until `key` may try again, or 0 when it may try now. */
  retryAfterMs(key: string): number {
    const times = this.recent(key);
    if (times.length < this.options.limit) return 0;
    return Math.max(1, times[0]! + this.options.windowMs - this.now());
  }

  recordFailure(key: string): void {
    const times = this.recent(key);
    times.push(this.now());
    if (times.length > this.options.limit) times.splice(0, times.length - this.options.limit);
    // Re-inserted so the Map's order is least recently failed first.
    this.failures.delete(key);
    this.failures.set(key, times);
    while (this.failures.size > this.options.maxKeys) {
      const oldest = this.failures.keys().next().value as string;
      this.failures.delete(oldest);
    }
  }

  /** Takes back the latest recorded failure of `key` (an attempt counted up front that turned out well). */
  forgetLatest(key: string): void {
    const times = this.failures.get(key);
    times?.pop();
    if (times?.length === 0) this.failures.delete(key);
  }

  reset(key: string): void {
    this.failures.delete(key);
  }

  /** How many keys are held (tests prove the bound). */
  get size(): number {
    return this.failures.size;
  }

  private recent(key: string): number[] {
    const times = this.failures.get(key);
    if (!times) return [];
    const since = this.now() - this.options.windowMs;
    while (times.length > 0 && times[0]! <= since) times.shift();
    if (times.length === 0) this.failures.delete(key);
    return times;
  }
}

/**
 * Counts one request of `key` on a public route, where every request spends the budget (not only failures): a scanner
 * farm or a token guesser is slowed alike. Throws RATE_LIMITED (answered 429 with Retry-After) once it is spent.
 */
export function spendRequest(limiter: SlidingWindowLimiter, key: string): void {
  const waitMs = limiter.retryAfterMs(key);
  if (waitMs > 0) {
    const seconds = Math.ceil(waitMs / 1000);
    throw new AppError('RATE_LIMITED', `Too many requests; try again in ${seconds} s`, {
      details: { retryAfterSeconds: seconds },
    });
  }
  limiter.recordFailure(key);
}
