// Send later and follow-up reminders (issue 15). The outbox gains `send_at`: a row written with state 'scheduled'
// is not taken before it, and the same atomic claim that shares 'queued' rows between workers (state + lease in one
// UPDATE … WHERE) takes it once it is due, so two workers never both send it. A cancelled message is deleted with its
// outbox row (the claim then finds nothing), so no 'cancelled' state is needed.
// follow_up_reminders: "remind me if no reply in N days" for one sent message; a sweep closes it when a reply arrives
// in the thread or makes it due.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

const ms = 'bigint' as const;

export async function up(db: Db): Promise<void> {
  // Null: as soon as possible (every row before this migration).
  await db.schema.alterTable('outbox').addColumn('send_at', ms).execute();
  await db.schema.createIndex('outbox_state_send_at_idx').on('outbox').columns(['state', 'send_at']).execute();
  await db.schema
    .createTable('follow_up_reminders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // The CRM message the reminder is about; a cancelled scheduled message takes its reminder with it.
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('thread_id', 'text')
    .addColumn('days', 'integer', (c) => c.notNull())
    // When the message left (null until the outbox sent it); due_at is counted from it.
    .addColumn('sent_at', ms)
    .addColumn('due_at', ms, (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    // Why it was closed: 'replied' (a reply in the thread), 'user' (closed by hand), 'failed' (never sent).
    .addColumn('reason', 'text')
    .addColumn('reply_message_id', 'text', (c) => c.references('messages.id').onDelete('set null'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('follow_up_reminders_user_state_idx')
    .on('follow_up_reminders')
    .columns(['user_id', 'state'])
    .execute();
  await db.schema
    .createIndex('follow_up_reminders_state_due_idx')
    .on('follow_up_reminders')
    .columns(['state', 'due_at'])
    .execute();
  await db.schema
    .createIndex('follow_up_reminders_message_idx')
    .on('follow_up_reminders')
    .column('message_id')
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('follow_up_reminders').execute();
  await db.schema.dropIndex('outbox_state_send_at_idx').ifExists().execute();
  await db.schema.alterTable('outbox').dropColumn('send_at').execute();
}
