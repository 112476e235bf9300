// The full-text index's vocabulary as a table on SQLite too (issue 18), like PostgreSQL's (0029). SQLite read it from
// the index (fts5vocab, 0028), but fts5vocab counts every posting of each word it lists: expanding `orcamento` took
// 3 ms at 210,000 messages and 13 ms at 1,000,000 (a third of a search's time). One row per distinct word, view tokens
// excepted, in byte order (BINARY): the words that start with a prefix are one range of the primary key. Backfilled
// here from fts5vocab, once; kept by indexing (src/storage/search-index.ts). The fts5vocab table goes.
import { sql, type Kysely } from 'kysely';
import { isPostgres, VIEW_MARK } from '../search-index.js';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  if (isPostgres(db)) return;
  await sql`create table message_search_words (word text primary key) without rowid`.execute(db);
  await sql`insert into message_search_words (word) select term from message_search_vocab
    where substr(term, 1, 1) <> ${VIEW_MARK}`.execute(db);
  await sql`drop table message_search_vocab`.execute(db);
}

export async function down(db: Db): Promise<void> {
  if (isPostgres(db)) return;
  await sql`create virtual table message_search_vocab using fts5vocab(message_search_fts, 'row')`.execute(db);
  await sql`drop table message_search_words`.execute(db);
}
