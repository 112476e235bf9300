// Booking pages (issue 16): a user's public page of free slots, and the bookings made on it. Double booking is made
// impossible by the database itself, on both dialects: every booking claims the 5-minute cells it covers on the
// host's account (primary key account + cell), so two visitors racing for one slot — or for overlapping slots of two
// pages of one account — collide on the key; a partial unique index on confirmed bookings' starts guards the plain
// case too. Meetings learn whether they are TRANSP:TRANSPARENT (shown as free), which booking pages ignore.
import { sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('meetings')
    .addColumn('transparent', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('booking_pages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('owner_user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // One namespace per install: the slug is the public URL.
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('duration_minutes', 'integer', (c) => c.notNull())
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('time_zone', 'text', (c) => c.notNull())
    // {"1": [["09:00","17:00"]], …, "7": []}: ISO weekdays (1 = Monday) in time_zone.
    .addColumn('hours_json', 'text', (c) => c.notNull())
    .addColumn('buffer_minutes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('min_notice_minutes', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('horizon_days', 'integer', (c) => c.notNull().defaultTo(60))
    // Team pages: the members' accounts (JSON array) and how a booking picks one; null = a personal page.
    .addColumn('team_account_ids_json', 'text')
    .addColumn('team_mode', 'text')
    .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('booking_pages_owner_idx').on('booking_pages').column('owner_user_id').execute();
  await db.schema
    .createTable('bookings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('page_id', 'text', (c) => c.notNull().references('booking_pages.id').onDelete('cascade'))
    // The host's account: the calendar the event is written to (a team page: the member chosen).
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('start_at', 'bigint', (c) => c.notNull())
    .addColumn('end_at', 'bigint', (c) => c.notNull())
    .addColumn('invitee_name', 'text', (c) => c.notNull())
    .addColumn('invitee_email', 'text', (c) => c.notNull())
    .addColumn('note', 'text')
    // sha256 of the manage link's token: the raw token exists only in the link mailed and returned.
    .addColumn('manage_token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('event_uid', 'text', (c) => c.notNull())
    .addColumn('meeting_id', 'text')
    // The invitation's SEQUENCE: every move or cancel mails one more.
    .addColumn('sequence', 'integer', (c) => c.notNull().defaultTo(0))
    // The language of the mails to the invitee: en or pt-BR (the visitor's browser's).
    .addColumn('locale', 'text', (c) => c.notNull().defaultTo('en'))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('bookings_page_idx').on('bookings').columns(['page_id', 'start_at']).execute();
  await sql`create unique index bookings_confirmed_start_idx on bookings (account_id, start_at) where state = 'confirmed'`.execute(
    db,
  );
  await db.schema
    .createTable('booking_claims')
    .addColumn('account_id', 'text', (c) => c.notNull())
    // Epoch ms of a 5-minute cell the booking covers.
    .addColumn('cell_at', 'bigint', (c) => c.notNull())
    .addColumn('booking_id', 'text', (c) => c.notNull().references('bookings.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('booking_claims_pk', ['account_id', 'cell_at'])
    .execute();
  await db.schema.createIndex('booking_claims_booking_idx').on('booking_claims').column('booking_id').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('booking_claims').execute();
  await db.schema.dropTable('bookings').execute();
  await db.schema.dropTable('booking_pages').execute();
  await db.schema.alterTable('meetings').dropColumn('transparent').execute();
}
