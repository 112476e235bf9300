// Polling until a condition holds (a row appears, a status changes), with a deadline that names what was awaited.
import { setTimeout as sleep } from 'node:timers/promises';
import { now } from './format.js';

export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  intervalMs: number,
  check: () => Promise<T | undefined> | T | undefined,
): Promise<T> {
  const deadline = now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
