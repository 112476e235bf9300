// Full-text search on PostgreSQL at scale (issue 18). Three changes to `message_search`, made by copying it into a new
// table (one pass, no dead rows left behind, the GIN index built once at the end):
// - Its `message_id` is kept in the row (storage PLAIN). The row holds a compressed tsvector of ~2.5 KB kept in the row
//   too (0023), so PostgreSQL's toaster moved the only other column it may move, the 36-byte id, out of line: every
//   read of a match's id was a TOAST index lookup, and a common word's search read it several times per match (the
//   join, the hash, the join filter): 48.6 → 23.4 ms median for a search's candidates at 219,500 messages.
// - Each document carries its message's date (a message's date never changes), so a search of a view takes its
//   newest matches from this table alone and asks the caller's conditions about the page it shows only
//   (search-messages.ts, rankedRows and pageRows).
// - And, apart, its subject's, people's and attachment names' lexemes (`fields`: the document's weights A and B, a
//   tenth of its size), which the ranking asks about each candidate: read with the candidates instead of decompressing
//   a thousand whole documents in two more statements.
// Figures: bench/README.md, "Data scale". SQLite's index is not touched (its candidates come in index order).
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../search-index.js';

type Db = Kysely<any>;

/**
 * The table's definition, with or without the ranking's columns. Both tsvectors stay in the row (compressed: lz4 where
 * the server has it, see 0023), so the toaster moves neither a small one nor the id out of line before the big one.
 */
export async function createSearchTable(db: Db, name: string, ranking: boolean): Promise<void> {
  await sql`create table ${sql.table(name)} (
    message_id text not null,
    ${ranking ? sql`date bigint not null, fields tsvector not null,` : sql``}
    doc tsvector not null
  )`.execute(db);
  await sql`alter table ${sql.table(name)} alter column message_id set storage ${ranking ? sql`plain` : sql`extended`},
    ${ranking ? sql`alter column fields set storage main,` : sql``}
    alter column doc set storage main`.execute(db);
  // A DO block takes no parameters: `name` is one of this file's constants.
  await sql`do $$ begin
    alter table ${sql.raw(name)} alter column doc set compression lz4;
  exception when feature_not_supported or invalid_parameter_value then null;
  end $$`.execute(db);
}

/** Replaces `message_search` by `name`, filled, with the keys and the GIN index under their usual names. */
export async function swapSearchTable(db: Db, name: string): Promise<void> {
  await sql`drop table message_search`.execute(db);
  await sql`alter table ${sql.table(name)} rename to message_search`.execute(db);
  await sql`alter table message_search add constraint message_search_pkey primary key (message_id),
    add constraint message_search_message_id_fkey foreign key (message_id) references messages (id) on delete cascade`.execute(
    db,
  );
  await sql`create index message_search_doc_idx on message_search using gin (doc)`.execute(db);
  await sql`analyze message_search`.execute(db);
}

export async function up(db: Db): Promise<void> {
  if (!isPostgres(db)) return;
  await createSearchTable(db, 'message_search_ranked', true);
  await sql`insert into message_search_ranked (message_id, date, fields, doc)
    select message_search.message_id, messages.date, ts_filter(message_search.doc, '{a,b}'), message_search.doc
    from message_search join messages on messages.id = message_search.message_id`.execute(db);
  await swapSearchTable(db, 'message_search_ranked');
}

export async function down(db: Db): Promise<void> {
  if (!isPostgres(db)) return;
  await createSearchTable(db, 'message_search_unranked', false);
  await sql`insert into message_search_unranked (message_id, doc)
    select message_id, doc from message_search`.execute(db);
  await swapSearchTable(db, 'message_search_unranked');
}
