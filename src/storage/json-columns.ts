// A row's related rows as one JSON column (issue 18: a list page reads its items' people, contacts, attachment names
// with its rows instead of one statement each; on PostgreSQL each round trip cost the server's event loop ~0.3 ms of
// socket writes on the measuring machine). PostgreSQL's driver hands JSON over parsed, SQLite's as text: jsonList
// reads either.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from './schema.js';
import { isPostgres } from './search-index.js';

type AnyDb = Kysely<Database>;

/** A JSON array of the given values (json_build_array / json_array). */
export function jsonArray(db: AnyDb, values: readonly RawBuilder<unknown>[]): RawBuilder<unknown> {
  return isPostgres(db) ? sql`json_build_array(${sql.join(values)})` : sql`json_array(${sql.join(values)})`;
}

/** The aggregate of `value` over a group's rows into a JSON array in `order` (json_agg / json_group_array). */
export function jsonAgg(db: AnyDb, value: RawBuilder<unknown>, order: RawBuilder<unknown>): RawBuilder<unknown> {
  return isPostgres(db) ? sql`json_agg(${value} ORDER BY ${order})` : sql`json_group_array(${value} ORDER BY ${order})`;
}

/** A JSON column as SQLite (text) or PostgreSQL (parsed by the driver) gives it; none (no rows) is []. */
export function jsonList<T>(value: unknown): T[] {
  if (value === null || value === undefined) return [];
  return (typeof value === 'string' ? JSON.parse(value) : value) as T[];
}
