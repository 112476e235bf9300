// Data scale (issue 18): at a million messages the inbox, its deep pages, one mailbox's inbox and the unread badge
// walked the whole organisation's messages by date and asked message_holders about each one (seconds per page). The
// inbox is a question about the caller's holder rows, so each holder row carries its message's date (a message's
// date never changes) and two indexes give a user's or a mailbox's incoming mail newest first, ready for LIMIT and
// the (date, id) cursor. A thread's index gains the id, the cursor's tie-breaker, so a thread is read in order from
// its own index instead of the organisation's date index (with statistics: see database.ts). Figures: bench/README.md, "Data scale".
import { sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('message_holders')
    .addColumn('date', 'bigint', (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`UPDATE message_holders SET date = (SELECT messages.date FROM messages WHERE messages.id = message_holders.message_id)`.execute(
    db,
  );
  await db.schema
    .createIndex('message_holders_user_inbox_idx')
    .on('message_holders')
    .columns(['user_id', 'direction', 'date', 'message_id', 'account_id'])
    .execute();
  await db.schema
    .createIndex('message_holders_account_inbox_idx')
    .on('message_holders')
    .columns(['account_id', 'direction', 'date', 'message_id'])
    .execute();
  await db.schema
    .createIndex('messages_thread_date_id_idx')
    .on('messages')
    .columns(['thread_id', 'date', 'id'])
    .execute();
  await db.schema.dropIndex('messages_thread_idx').execute();
  // Fresh statistics for the new indexes (both dialects know ANALYZE; SQLite samples, see open-sqlite.ts): SQLite
  // without them takes `org_id = ?` for a selective condition and walks the organisation's mail by date.
  await sql`ANALYZE`.execute(db);
}

export async function down(db: Db): Promise<void> {
  await db.schema.createIndex('messages_thread_idx').on('messages').columns(['thread_id', 'date']).execute();
  await db.schema.dropIndex('messages_thread_date_id_idx').execute();
  await db.schema.dropIndex('message_holders_account_inbox_idx').execute();
  await db.schema.dropIndex('message_holders_user_inbox_idx').execute();
  await db.schema.alterTable('message_holders').dropColumn('date').execute();
}
