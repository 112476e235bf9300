// Bounded statements. SQLite binds at most 32,766 variables per statement and PostgreSQL 65,535, and one hostile
// message can carry 100,000 recipients or references: every multi-row write and every `IN (…)` list is cut into
// pieces that stay far under both limits, so a statement's size never depends on what a stranger sent.

/** Variables one statement may bind here: well under SQLite's 32,766 (and PostgreSQL's 65,535). */
const MAX_VARIABLES = 10_000;

/** Most values in one `IN (…)` list. */
export const MAX_IN_LIST = 500;

/** Rows of `columns` values each that fit one INSERT under the variable limit (at most 500). */
export function rowsPerInsert(columns: number): number {
  return Math.max(1, Math.min(500, Math.floor(MAX_VARIABLES / Math.max(1, columns))));
}

/** `items` cut into consecutive pieces of at most `size`. */
export function inChunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
