// Contact search (`q`) through the trigram index of migration 0037 on SQLite. The LIKE of listContacts decides what
// matches; this only narrows the contacts it is tested on, from a walk of the whole organisation to those the index
// says contain every word of 3 characters or more. PostgreSQL's planner makes that choice itself with pg_trgm's index.
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db } from '../storage/database.js';
import { isPostgres } from '../storage/search-index.js';

/** A trigram index knows words of this many characters or more; shorter ones are tested by the LIKE alone. */
const TRIGRAM = 3;

/**
 * From this many contacts containing the words on, the index is left aside: the page then comes sooner from a walk of
 * the organisation newest first, which stops at the page's last match (with this many, every ~10th contact of a
 * 20,000-contact organisation), than from sorting every match by id.
 */
export const INDEX_BELOW_MATCHES = 2_000;

/**
 * A condition on `contacts.id` true for every contact whose search text contains each of `words` (lower-cased), or
 * null when the index cannot narrow the search (PostgreSQL, only short words, or a common word).
 */
export async function contactsContaining(db: Db, words: string[]): Promise<RawBuilder<SqlBool> | null> {
  if (isPostgres(db)) return null;
  const indexed = words.filter((word) => [...word].length >= TRIGRAM);
  if (indexed.length === 0) return null;
  // Each word a phrase of its trigrams (a substring), quoted so that nothing in it is FTS5 syntax.
  const match = indexed.map((word) => `"${word.replaceAll('"', '""')}"`).join(' AND ');
  const matching = sql<SqlBool>`select rowid from contact_search_fts where contact_search_fts match ${match}`;
  const { rows } = await sql<{
    n: number;
  }>`select count(*) as n from (${matching} limit ${INDEX_BELOW_MATCHES})`.execute(db);
  if (Number(rows[0]!.n) >= INDEX_BELOW_MATCHES) return null;
  return sql<SqlBool>`contacts.id in (select contact_id from contact_search_docs where doc in (${matching}))`;
}
