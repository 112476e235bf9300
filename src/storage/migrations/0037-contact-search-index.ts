// Contact search without walking the organisation (issue 18): `q` matches any part of a contact's names, company
// and addresses (contacts.search_text, lower-cased; `LIKE '%word%'`), which no b-tree can answer, so a rare word was
// tested against every contact of the organisation. A trigram index answers "contains" for words of 3 characters or
// more; listContacts still applies the LIKE to what it returns, so results are exactly what they were.
//
// SQLite: `contact_search_docs` gives each contact an INTEGER PRIMARY KEY of its own (VACUUM may renumber
// `contacts.rowid`, as for messages in 0023), and `contact_search_fts` is a contentless FTS5 table of trigrams keyed
// by it. Triggers keep both in step with every write of a contact, whichever code path makes it (create, update,
// import, erasure). PostgreSQL: pg_trgm's GIN index on search_text, which the planner uses for a LIKE of 3 characters
// or more when it expects few matches; without the extension (a server built without contrib, or a role that may not
// create it) nothing changes.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../search-index.js';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  if (isPostgres(db)) {
    // pg_trgm is a trusted extension: the database's owner may create it. A role that may not, or a server without
    // it, keeps the search as it was rather than fail the migration (and the start-up).
    await sql`do $$ begin
      if exists (select 1 from pg_available_extensions where name = 'pg_trgm') then
        create extension if not exists pg_trgm;
      end if;
    exception when insufficient_privilege then null;
    end $$`.execute(db);
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_extension
      where extname = 'pg_trgm'`.execute(db);
    if (rows[0]!.n === 0) return;
    await sql`create index contacts_search_trgm_idx on contacts using gin (search_text gin_trgm_ops)`.execute(db);
    return;
  }
  await sql`create table contact_search_docs (
    doc integer primary key,
    contact_id text not null unique
  )`.execute(db);
  await sql`create virtual table contact_search_fts using fts5(
    search_text, content = '', contentless_delete = 1, tokenize = 'trigram'
  )`.execute(db);
  await sql`create trigger contacts_search_added after insert on contacts begin
    insert into contact_search_docs (contact_id) values (new.id);
    insert into contact_search_fts (rowid, search_text)
      select doc, new.search_text from contact_search_docs where contact_id = new.id;
  end`.execute(db);
  await sql`create trigger contacts_search_changed after update of search_text on contacts begin
    delete from contact_search_fts where rowid = (select doc from contact_search_docs where contact_id = old.id);
    insert into contact_search_fts (rowid, search_text)
      select doc, new.search_text from contact_search_docs where contact_id = new.id;
  end`.execute(db);
  await sql`create trigger contacts_search_gone after delete on contacts begin
    delete from contact_search_fts where rowid = (select doc from contact_search_docs where contact_id = old.id);
    delete from contact_search_docs where contact_id = old.id;
  end`.execute(db);
  await sql`insert into contact_search_docs (contact_id) select id from contacts order by id`.execute(db);
  await sql`insert into contact_search_fts (rowid, search_text)
    select contact_search_docs.doc, contacts.search_text
    from contact_search_docs join contacts on contacts.id = contact_search_docs.contact_id`.execute(db);
}

export async function down(db: Db): Promise<void> {
  if (isPostgres(db)) {
    await sql`drop index if exists contacts_search_trgm_idx`.execute(db);
    return;
  }
  await sql`drop trigger contacts_search_gone`.execute(db);
  await sql`drop trigger contacts_search_changed`.execute(db);
  await sql`drop trigger contacts_search_added`.execute(db);
  await sql`drop table contact_search_fts`.execute(db);
  await sql`drop table contact_search_docs`.execute(db);
}
