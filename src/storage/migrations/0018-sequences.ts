// Sequences (issue 17): multi-step outreach from the owner's mailbox. Exactly-once sending hangs on one key:
// sequence_sends UNIQUE (enrollment_id, step_index) — a worker claims a step by inserting that row, so two workers
// (or a restarted one) can never both send it; a claim left by a killed worker carries a lease that expires and is
// then taken over, and the step's Message-ID is deterministic so a retry finds the message already queued.
// Suppressions keep only a sha256 of the address: an unsubscribed or bounced address is never enrolled again.
import { type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('sequences')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('owner_user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    // [{type, waitMinutes, templateId?, subject?, html?, replyInThread?, track?}]
    .addColumn('steps_json', 'text', (c) => c.notNull())
    // {timeZone, days: [1-7], from: "HH:MM", to: "HH:MM"}; null = any time.
    .addColumn('send_window_json', 'text')
    .addColumn('daily_limit', 'integer')
    .addColumn('paused', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sequences_owner_idx').on('sequences').column('owner_user_id').execute();
  await db.schema
    .createTable('sequence_enrollments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('sequence_id', 'text', (c) => c.notNull().references('sequences.id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id').onDelete('cascade'))
    // The contact's address when enrolled (lower-cased): the one mailed.
    .addColumn('address', 'text', (c) => c.notNull())
    // active | finished | replied | bounced | unsubscribed | booked | paused
    .addColumn('state', 'text', (c) => c.notNull())
    // Index of the next step to run.
    .addColumn('step', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_at', 'bigint')
    // An auto-reply (out of office) holds the enrollment until then.
    .addColumn('waiting_until', 'bigint')
    .addColumn('last_auto_reply_id', 'text')
    // The CRM message of the first step: later steps with replyInThread answer it.
    .addColumn('thread_message_id', 'text')
    .addColumn('enrolled_at', 'bigint', (c) => c.notNull())
    .addColumn('stopped_at', 'bigint')
    .addColumn('stop_reason', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sequence_enrollments_due_idx')
    .on('sequence_enrollments')
    .columns(['state', 'next_at'])
    .execute();
  await db.schema
    .createIndex('sequence_enrollments_contact_idx')
    .on('sequence_enrollments')
    .columns(['contact_id', 'state'])
    .execute();
  await db.schema
    .createIndex('sequence_enrollments_address_idx')
    .on('sequence_enrollments')
    .columns(['org_id', 'address'])
    .execute();
  await db.schema
    .createIndex('sequence_enrollments_sequence_idx')
    .on('sequence_enrollments')
    .column('sequence_id')
    .execute();
  await db.schema
    .createTable('sequence_sends')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'text', (c) => c.notNull().references('sequence_enrollments.id').onDelete('cascade'))
    .addColumn('sequence_id', 'text', (c) => c.notNull())
    // The mailbox: the daily limit counts per mailbox.
    .addColumn('account_id', 'text', (c) => c.notNull())
    .addColumn('step_index', 'integer', (c) => c.notNull())
    .addColumn('message_id', 'text')
    .addColumn('task_id', 'text')
    // claimed (a worker is on it, until lease_until) | done
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'bigint')
    .addColumn('due_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('sent_at', 'bigint')
    .addUniqueConstraint('sequence_sends_once', ['enrollment_id', 'step_index'])
    .execute();
  await db.schema
    .createIndex('sequence_sends_account_idx')
    .on('sequence_sends')
    .columns(['account_id', 'created_at'])
    .execute();
  await db.schema.createIndex('sequence_sends_message_idx').on('sequence_sends').column('message_id').execute();
  await db.schema
    .createTable('sequence_unsubscribe_tokens')
    // sha256 (hex) of the 128-bit token in the mail's List-Unsubscribe URL; the token itself is never stored.
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('enrollment_id', 'text', (c) => c.notNull().references('sequence_enrollments.id').onDelete('cascade'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('suppressions')
    .addColumn('org_id', 'text', (c) => c.notNull())
    // sha256 (hex) of the lower-cased address.
    .addColumn('address_hash', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('suppressions_pk', ['org_id', 'address_hash'])
    .execute();
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('contact_id', 'text')
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('due_at', 'bigint', (c) => c.notNull())
    .addColumn('done_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tasks_user_idx').on('tasks').columns(['user_id', 'due_at']).execute();
  // The stop sweep reads what was stored since its cursor: without these it would scan every message each pass.
  await db.schema.createIndex('messages_created_idx').on('messages').column('created_at').execute();
  await db.schema.createIndex('bookings_created_idx').on('bookings').column('created_at').execute();
  // Where the stop sweep got to in messages and bookings (shared by every process: any may sweep).
  await db.schema
    .createTable('sequence_cursors')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('sequence_cursors').execute();
  await db.schema.dropIndex('bookings_created_idx').execute();
  await db.schema.dropIndex('messages_created_idx').execute();
  await db.schema.dropTable('tasks').execute();
  await db.schema.dropTable('suppressions').execute();
  await db.schema.dropTable('sequence_unsubscribe_tokens').execute();
  await db.schema.dropTable('sequence_sends').execute();
  await db.schema.dropTable('sequence_enrollments').execute();
  await db.schema.dropTable('sequences').execute();
}
