// The full-text index's vocabulary, PostgreSQL (issue 18): a typed prefix (`'orcam':*`) makes GIN gather every
// posting of every lexeme starting with it before it can intersect them with the caller's view token (115 ms at
// 197,500 messages, against 24 ms for the exact word), so the words a prefix stands for are read from this table and
// searched as exact words, as SQLite then did with its fts5vocab table (0028; a table too since 0030). One row per
// distinct lexeme of the index, view tokens excepted, in the "C" collation so that the words starting with a prefix
// are one range of the primary key. Backfilled here from the documents; kept by indexing (src/storage/search-index.ts,
// addIndexWords).
import { sql, type Kysely } from 'kysely';
import { isPostgres, missingIndexWords } from '../search-index.js';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`create table message_search_words (word text collate "C" primary key)`.execute(db);
  await sql`insert into message_search_words (word) ${missingIndexWords()}`.execute(db);
  await sql`analyze message_search_words`.execute(db);
}

export async function down(db: Db): Promise<void> {
  if (!isPostgres(db)) return;
  await sql`drop table if exists message_search_words`.execute(db);
}
