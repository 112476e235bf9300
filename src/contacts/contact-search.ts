// Contact search (`q`) through the trigram index of migration 0037 on SQLite. The LIKE of listContacts decides what
// matches; this only narrows the contacts it is tested on, from a walk of the whole organisation to those the index
// says contain every word of 3 characters or more. PostgreSQL's planner makes that choice itself with pg_trgm's index.
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { Db } from '../storage/database.js';
import { isPostgres } from '../storage/search-index.js';

/** A trigram index knows words of this many characters or more; shorter ones are tested by the LIKE alone. */
const TRIGRAM = 3;

/**
 * From how many contacts containing the words on the index is left aside, on an install of `contacts` contacts: the
 * walk of the organisation newest first then finds a page sooner than the index path, which reads and sorts every
 * match. The walk reads ~51 × contacts / matches rows for a page of 50 (the matches spread over the years), the index
 * path ~5 times as much per match as the walk per row (measured at 20,000 contacts: 4.3 against 0.9 µs): they cost
 * the same at matches ≈ √(10 × contacts), ~450 of 20,000.
 */
export function indexBelowMatches(contacts: number): number {
  return Math.max(64, Math.round(Math.sqrt(10 * contacts)));
}

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
  const matching = sql`select rowid from contact_search_fts where contact_search_fts match ${match}`;
  // Every contact gets the next number in contact_search_docs: the largest, one read, says about how many there are
  // (deleted ones leave gaps).
  const docs = await sql<{ n: number | null }>`select max(doc) as n from contact_search_docs`.execute(db);
  const below = indexBelowMatches(Number(docs.rows[0]?.n ?? 0));
  const { rows } = await sql<{ n: number }>`select count(*) as n from (${matching} limit ${below})`.execute(db);
  if (Number(rows[0]!.n) >= below) return null;
  return sql<SqlBool>`contacts.id in (select contact_id from contact_search_docs where doc in (${matching}))`;
}
