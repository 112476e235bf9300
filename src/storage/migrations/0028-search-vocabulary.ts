// The full-text index's vocabulary, SQLite only (issue 18): a search's last word is also a prefix while the user
// types, and FTS5 answers a prefix query by merging the whole postings of every word that starts with it before it
// can intersect them with anything (9 ms for `orcamento*` at 210,000 messages, against 0.7 ms for the exact word,
// once per query and again per ranked field). The words a prefix stands for are read from this table instead and
// searched as exact words (src/messages/search-messages.ts). An fts5vocab table stores nothing: it reads the index.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../search-index.js';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  if (isPostgres(db)) return;
  await sql`create virtual table message_search_vocab using fts5vocab(message_search_fts, 'row')`.execute(db);
}

export async function down(db: Db): Promise<void> {
  if (isPostgres(db)) return;
  await sql`drop table if exists message_search_vocab`.execute(db);
}
