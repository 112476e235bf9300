// Read state both ways and the live inbox (issue 15). `message_reads` is a user's own read mark for mail they see
// only through someone else's shared mailbox (reading it must never touch the colleague's mailbox); `flag_writes`
// is the queue of \Seen changes to write back to the mail server, one row per location holding the latest wish,
// drained by whichever process holds the mailbox's lease; `live_events` is the feed every process writes and every
// API process polls, so a change made by a worker reaches a browser connected to another process.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('message_reads')
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('read', 'integer', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('message_reads_pkey', ['user_id', 'message_id'])
    .execute();
  await db.schema.createIndex('message_reads_message_idx').on('message_reads').column('message_id').execute();

  await db.schema
    .createTable('flag_writes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    // One pending wish per location: a later PATCH replaces the earlier one. A location that goes (UIDVALIDITY
    // reset, account removed) takes its wish with it: there is nothing left to write it to.
    .addColumn('location_id', 'text', (c) =>
      c.notNull().unique().references('message_locations.id').onDelete('cascade'),
    )
    .addColumn('seen', 'integer', (c) => c.notNull())
    // Changes with every new wish: the drainer removes the row only if it still holds the wish it wrote.
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'bigint')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('flag_writes_account_idx').on('flag_writes').column('account_id').execute();

  await db.schema
    .createTable('live_events')
    // UUIDv7: time-ordered, so "id > last seen" is the resume point (Last-Event-ID).
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    // Null: everyone in the organisation who may see what the event names (checked again when it is sent).
    .addColumn('user_id', 'text')
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data_json', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('live_events_created_idx').on('live_events').column('created_at').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('live_events').execute();
  await db.schema.dropTable('flag_writes').execute();
  await db.schema.dropTable('message_reads').execute();
}
