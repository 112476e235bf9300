// Full-text search of messages (issue 18): the index of subject, people, attachment names and body text, and its
// backfill for the mail already stored. See src/storage/search-index.ts for what is indexed and how.
//
// SQLite: `message_search_docs` gives each indexed message an INTEGER PRIMARY KEY of its own (VACUUM may renumber
// `messages.rowid`, never an INTEGER PRIMARY KEY), and `message_search_fts` is a contentless FTS5 table keyed by it
// (the text is already in `messages`; contentless_delete lets a row be removed). Triggers remove both with the message.
// PostgreSQL: `message_search` holds one weighted tsvector per message (GIN index), cascading with the message.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../search-index.js';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  if (isPostgres(db)) {
    await sql`create table message_search (
      message_id text primary key references messages (id) on delete cascade,
      doc tsvector not null
    )`.execute(db);
    await sql`create index message_search_doc_idx on message_search using gin (doc)`.execute(db);
    // A common word is matched by walking the newest mail and testing each tsvector: kept in the row (compressed)
    // rather than out of line in TOAST, each test is one fetch, not three. lz4 decompresses several times faster than
    // the default pglz; a server built without it keeps pglz.
    await sql`alter table message_search alter column doc set storage main`.execute(db);
    await sql`do $$ begin
      alter table message_search alter column doc set compression lz4;
    exception when feature_not_supported or invalid_parameter_value then null;
    end $$`.execute(db);
  } else {
    await sql`create table message_search_docs (
      doc integer primary key,
      message_id text not null unique
    )`.execute(db);
    await sql`create virtual table message_search_fts using fts5(
      subject, people, attachments, body,
      content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
    )`.execute(db);
    await sql`create trigger message_search_docs_gone after delete on message_search_docs begin
      delete from message_search_fts where rowid = old.doc;
    end`.execute(db);
    await sql`create trigger messages_search_gone after delete on messages begin
      delete from message_search_docs where message_id = old.id;
    end`.execute(db);
  }
  // The mail already stored is indexed by 0026, which rebuilds the index with the inbox view tokens (indexing it here
  // too would write every document twice, and with today's writer, a column this table does not have yet).
}

export async function down(db: Db): Promise<void> {
  if (isPostgres(db)) {
    await sql`drop table message_search`.execute(db);
    return;
  }
  await sql`drop trigger messages_search_gone`.execute(db);
  await sql`drop table message_search_docs`.execute(db);
  await sql`drop table message_search_fts`.execute(db);
}
