// The outbox gains the Sent-folder step and a lease. Sending and filing a copy in the mailbox are two
// persisted steps, so a crash between them resumes the append without sending again; the lease lets
// several worker processes share the table without two of them taking the same row.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

const ms = 'bigint' as const;

export async function up(db: Db): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one column at a time.
  await db.schema.alterTable('outbox').addColumn('append_state', 'text').execute();
  await db.schema.alterTable('outbox').addColumn('append_detail', 'text').execute();
  await db.schema
    .alterTable('outbox')
    .addColumn('append_attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('outbox').addColumn('sent_at', ms).execute();
  await db.schema.alterTable('outbox').addColumn('smtp_response', 'text').execute();
  await db.schema.alterTable('outbox').addColumn('lease_until', ms).execute();
  await db.schema.createIndex('outbox_message_idx').on('outbox').column('message_id').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropIndex('outbox_message_idx').ifExists().execute();
  for (const column of [
    'lease_until',
    'smtp_response',
    'sent_at',
    'append_attempts',
    'append_detail',
    'append_state',
  ]) {
    await db.schema.alterTable('outbox').dropColumn(column).execute();
  }
}
