// The unread badge at scale (issue 18): it is driven by the few rows that can make a message unread instead of a
// walk of the caller's whole inbox (read-state.ts, unreadCandidates). An account's copies without \Seen, live or
// since removed, come from this index in one range per mailbox. Figures: bench/README.md, "Data scale".
import { sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createIndex('message_locations_account_seen_idx')
    .on('message_locations')
    .columns(['account_id', 'seen', 'message_id'])
    .execute();
  // Fresh statistics for the new index (as in 0025): SQLite plans with them.
  await sql`ANALYZE`.execute(db);
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('message_locations_account_seen_idx').execute();
}
