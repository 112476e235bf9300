// A mark for statements whose plan PostgreSQL should keep (open-postgres.ts names them so node-postgres prepares
// them once per connection). A comment to SQLite.
import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { Database } from './schema.js';
import { isPostgres } from './search-index.js';

export const PREPARED_MARK = '/* prepared */';

/**
 * A statement run often whose planning is a good part of its cost (a list page: ~1.2 ms of planning, ~2.6 ms of
 * execution at 744,500 messages): put it after SELECT (`.modifyFront(prepared)`) and PostgreSQL keeps its plan per
 * connection (a named prepared statement, named after its text) instead of planning it on every request. Only for a
 * statement whose text does not vary with its values (no IN list of values) and whose plan suits every value
 * (PostgreSQL plans the first five executions for their values, then may keep a generic plan). No effect on SQLite.
 */
export const prepared: RawBuilder<unknown> = sql.raw(PREPARED_MARK);

/**
 * `column IN (values)` whose text does not vary with the values: on PostgreSQL one array parameter (`= ANY($1)`), so
 * that a statement holding it can be `prepared` (a full-text search's page of 51 ids planned in 4.2 ms for 5.3 ms of
 * running at 680,000 messages); on SQLite the plain list (nothing is prepared there). At most MAX_IN_LIST values.
 */
export function inValues(db: Kysely<Database>, column: string, values: readonly string[]): RawBuilder<SqlBool> {
  return isPostgres(db)
    ? sql<SqlBool>`${sql.ref(column)} = ANY(${[...values]}::text[])`
    : sql<SqlBool>`${sql.ref(column)} IN (${sql.join([...values])})`;
}

/**
 * Runs `read` (a statement marked `prepared`) with PostgreSQL's kept plan forced (`plan_cache_mode =
 * force_generic_plan`): for a statement PostgreSQL would plan anew on every run, although its kept plan runs as fast
 * (its cost estimate for that plan is higher; measured, not assumed, for each caller). Every statement `read` runs is
 * planned that way, so it runs only those measured for it. On one connection, in a transaction that sets it LOCAL, so
 * nothing else on the pooled connection is planned that way; `begin` and the setting go as one round trip. On SQLite,
 * `read` on `db` as it is.
 */
export async function withKeptPlans<T>(db: Kysely<Database>, read: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  if (!isPostgres(db)) return read(db);
  return db.connection().execute(async (conn) => {
    await sql.raw('begin; set local plan_cache_mode = force_generic_plan').execute(conn);
    try {
      const result = await read(conn);
      await sql.raw('commit').execute(conn);
      return result;
    } catch (error) {
      await sql
        .raw('rollback')
        .execute(conn)
        .catch(() => undefined);
      throw error;
    }
  });
}
