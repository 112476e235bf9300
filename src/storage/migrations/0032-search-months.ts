// Full-text search on PostgreSQL at a year of a team's mail (issue 18): every view token of a document gets its month's
// token beside it (search-index.ts, viewMonthToken), so that a search of a common word reads the newest month or two of
// the caller's matches instead of a year of them (~8,300 heap rows for one user at 893,000 messages: 280 ms p95).
// Written by copying the table again (as 0031: no dead rows, the GIN index built once). SQLite's index is not touched:
// its candidates come from FTS5's doclists newest first and stop at the thousandth.
import { sql, type Kysely } from 'kysely';
import { isPostgres, VIEW_MARK, withMonthTokens } from '../search-index.js';
import { createSearchTable, swapSearchTable } from './0031-search-ranking.js';

type Db = Kysely<any>;

/**
 * The document's view tokens (0026: lexemes without positions, so no weight either, that start with VIEW_MARK), month
 * tokens left out (a month token holds an `m`, a view token's hex none).
 */
const viewTokensOf = (doc: string) =>
  sql<string[]>`array(select t from unnest(tsvector_to_array(${sql.ref(doc)})) as t
    where starts_with(t, ${VIEW_MARK}) and position('m' in t) = 0)`;

export async function up(db: Db): Promise<void> {
  if (!isPostgres(db)) return;
  await createSearchTable(db, 'message_search_months', true);
  await sql`insert into message_search_months (message_id, date, fields, doc)
    select message_id, date, fields,
      doc || setweight(array_to_tsvector(${withMonthTokens(viewTokensOf('doc'), sql`date`)}), 'D')
    from message_search`.execute(db);
  await swapSearchTable(db, 'message_search_months');
}

export async function down(db: Db): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`update message_search set doc = ts_delete(doc, array(
      select t from unnest(tsvector_to_array(doc)) as t where starts_with(t, ${VIEW_MARK}) and position('m' in t) > 0))`.execute(
    db,
  );
}
