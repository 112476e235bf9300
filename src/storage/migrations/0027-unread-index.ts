// The unread badge at scale (issue 18): it is driven by the few rows that can make a message unread instead of a
// walk of the caller's whole inbox (read-state.ts, unreadCandidates). An account's copies without \Seen, live or
// since removed, come from the first index in one range per mailbox; the read rule's probes of a message's copies
// (unreadFor) and the test "no copy of the user's" read the second alone, never the table. Figures: bench/README.md,
// "Data scale".
import { sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createIndex('message_locations_account_seen_idx')
    .on('message_locations')
    .columns(['account_id', 'seen', 'message_id'])
    .execute();
  await db.schema
    .createIndex('message_locations_message_state_idx')
    .on('message_locations')
    .columns(['message_id', 'account_id', 'removed_at', 'seen'])
    .execute();
  // Fresh statistics for the new indexes (as in 0025): SQLite plans with them.
  await sql`ANALYZE`.execute(db);
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('message_locations_message_state_idx').execute();
  await db.schema.dropIndex('message_locations_account_seen_idx').execute();
}
