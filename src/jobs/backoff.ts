// How long a failed job waits before its next try: exponential backoff with full jitter, capped. One rule for the
// mail runner, the calendar runner and the outbox.

/** Exponential backoff with full jitter, capped. `attempt` counts from 1. */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt - 1, 20));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
