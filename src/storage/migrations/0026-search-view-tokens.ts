// Full-text search fast at scale (issue 18): every message's search document also carries its inbox view tokens
// (src/storage/search-index.ts), so a search of the inbox intersects the words' postings with the caller's token
// instead of testing each match of a common word against the holder rows (0.6–1.2 s per search at 428,500 messages).
//
// SQLite: the FTS5 table gains a `view` column. A contentless table cannot be altered nor a row rewritten without all
// its text, so the index is created again and every message indexed again, in id order (the order 0023 indexed in:
// the most recently indexed mail is the newest). PostgreSQL: the tsvectors are rewritten in place with the tokens.
// Both read every message once, in steps of 500 (bench/README.md, "Full-text search": the time per 100,000).
import { sql, type Kysely } from 'kysely';
import { isPostgres, reindexAllMessages } from '../search-index.js';

type Db = Kysely<any>;

async function createSqliteIndex(db: Db, columns: string): Promise<void> {
  await sql`drop trigger if exists messages_search_gone`.execute(db);
  await sql`drop trigger if exists message_search_docs_gone`.execute(db);
  await sql`drop table if exists message_search_fts`.execute(db);
  await sql`drop table if exists message_search_docs`.execute(db);
  await sql`create table message_search_docs (
    doc integer primary key,
    message_id text not null unique
  )`.execute(db);
  await sql
    .raw(
      `create virtual table message_search_fts using fts5(
    ${columns},
    content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
  )`,
    )
    .execute(db);
  await sql`create trigger message_search_docs_gone after delete on message_search_docs begin
    delete from message_search_fts where rowid = old.doc;
  end`.execute(db);
  await sql`create trigger messages_search_gone after delete on messages begin
    delete from message_search_docs where message_id = old.id;
  end`.execute(db);
}

export async function up(db: Db): Promise<void> {
  if (!isPostgres(db)) await createSqliteIndex(db, 'subject, people, attachments, body, view');
  await reindexAllMessages(db);
}

export async function down(db: Db): Promise<void> {
  // PostgreSQL: the tokens stay, and nothing a user types can match them. SQLite: back to 0023's columns, EMPTY (this
  // version's writer fills the `view` column; the code of 0025 finds nothing until its messages are indexed again).
  if (!isPostgres(db)) await createSqliteIndex(db, 'subject, people, attachments, body');
}
