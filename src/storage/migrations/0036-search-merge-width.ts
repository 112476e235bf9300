// SQLite's full-text index (FTS5) writes a batch's new terms as a segment at commit and merges segments as later
// commits come: by default 4 of a level into one of the next, so each posting is rewritten once per level. On a big
// database that merging is the intake's largest cost (issue 18: the flush of a 500-message batch took 100–190 ms of
// ~400 at 150,000 messages). Merging 16 at a time rewrites each posting about half as often (log16 against log4 of the
// segments written); a search then reads a few more segments per word, a seek each. The setting is kept in the
// index's own config table, so it holds for every connection and survives a backup.
import { sql, type Kysely } from 'kysely';
import { isPostgres } from '../search-index.js';

type Db = Kysely<any>;

/** Segments of one level that FTS5 merges into one; its default is 4. */
export const SEARCH_MERGE_WIDTH = 16;

async function setMergeWidth(db: Db, width: number): Promise<void> {
  // A literal: with the value as a bound parameter, SQLite answered 'SQL logic error'.
  await sql`insert into message_search_fts (message_search_fts, rank) values ('automerge', ${sql.lit(width)})`.execute(
    db,
  );
}

export async function up(db: Db): Promise<void> {
  if (isPostgres(db)) return;
  await setMergeWidth(db, SEARCH_MERGE_WIDTH);
}

export async function down(db: Db): Promise<void> {
  if (isPostgres(db)) return;
  await setMergeWidth(db, 4);
}
