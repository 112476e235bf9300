// Small helpers the benchmark scenarios share: the clock, number formatting, the log line, percentiles, a seeded
// random source (so every run builds the same mailboxes) and a bounded pool of concurrent tasks.

export const now = (): number => performance.now();

/** A number for a report, with `digits` decimals; a dash when there is no value. */
export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '–';

export const mb = (kb: number): string => `${fmt(kb / 1024, 1)} MB`;

/** One progress line on stderr, so stdout keeps only the report. */
export function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

/** Nearest rank. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const spread = (values: number[], unit = 'ms', digits = 0): string => {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number) => `${fmt(percentile(s, p), digits)} ${unit}`;
  return `p50 ${at(50)}, p95 ${at(95)}, max ${fmt(s.at(-1) ?? NaN, digits)} ${unit}`;
};

/** mulberry32: a small seeded PRNG, so every run builds the same mailboxes and the same arrivals. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs fn over items, at most `limit` at a time. */
export async function inPool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}
