// Limits password guessing at sign-in: failed attempts are counted per address and per client IP, and once
// either is spent the attempt is refused with 429 RATE_LIMITED and Retry-After, before the password is checked
// (so a refused guess also costs no scrypt time). A success clears the address's count, not the IP's: one
// right password must not buy an attacker's IP a fresh budget for other addresses.
import { AppError } from '../core/app-error.js';
import { SlidingWindowLimiter } from './sliding-window-limiter.js';

export interface LoginThrottleOptions {
  perAddress?: number;
  perIp?: number;
  windowMs?: number;
  maxKeys?: number;
  now?: () => number;
}

export const LOGIN_FAILURES_PER_ADDRESS = 10;
export const LOGIN_FAILURES_PER_IP = 50;
export const LOGIN_WINDOW_MS = 15 * 60_000;

export class LoginThrottle {
  private readonly byAddress: SlidingWindowLimiter;
  private readonly byIp: SlidingWindowLimiter;

  constructor(options: LoginThrottleOptions = {}) {
    const common = {
      windowMs: options.windowMs ?? LOGIN_WINDOW_MS,
      maxKeys: options.maxKeys ?? 10_000,
      ...(options.now ? { now: options.now } : {}),
    };
    this.byAddress = new SlidingWindowLimiter({ ...common, limit: options.perAddress ?? LOGIN_FAILURES_PER_ADDRESS });
    this.byIp = new SlidingWindowLimiter({ ...common, limit: options.perIp ?? LOGIN_FAILURES_PER_IP });
  }

  /**
   * Counts an attempt before its password is checked, so a burst of parallel guesses cannot all pass the check
   * while the first ones are still hashing; throws RATE_LIMITED (details.retryAfterSeconds) when this address or
   * this IP has no attempts left. Call succeeded() when the password was right.
   */
  attempt(address: string, ip: string): void {
    const waitMs = Math.max(this.byIp.retryAfterMs(ip), this.byAddress.retryAfterMs(address));
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new AppError('RATE_LIMITED', `Too many failed sign-in attempts; try again in ${seconds} s`, {
        details: { retryAfterSeconds: seconds },
      });
    }
    this.byAddress.recordFailure(address);
    this.byIp.recordFailure(ip);
  }

  /** The attempt was right: the address starts afresh and the IP gets its attempt back. */
  succeeded(address: string, ip: string): void {
    this.byAddress.reset(address);
    this.byIp.forgetLatest(ip);
  }

  /** Keys held per limiter (tests prove the memory bound). */
  get sizes(): { addresses: number; ips: number } {
    return { addresses: this.byAddress.size, ips: this.byIp.size };
  }
}
