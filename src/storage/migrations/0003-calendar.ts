// Calendar sync: a status per account kept apart from the mail status (a calendar failure never touches mail),
// the attendee's kind (rooms and resources never become contacts), and one row per object of a remote calendar
// (href, etag, what could not be read), which is both the ctag/etag comparison's memory and the record of
// unreadable events.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

const ms = 'bigint' as const;

export async function up(db: Db): Promise<void> {
  // One column per statement: SQLite's ALTER TABLE adds one column at a time.
  await db.schema.alterTable('email_accounts').addColumn('calendar_status', 'text').execute();
  await db.schema.alterTable('email_accounts').addColumn('calendar_detail', 'text').execute();
  await db.schema.alterTable('email_accounts').addColumn('calendar_synced_at', ms).execute();

  // What discovery learnt of each calendar, so writes from the CRM need no discovery first.
  await db.schema.alterTable('calendars').addColumn('time_zone', 'text').execute();
  await db.schema
    .alterTable('calendars')
    .addColumn('writable', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('calendars')
    .addColumn('supports_sync', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema.alterTable('meeting_attendees').addColumn('kind', 'text').execute();
  await db.schema.createIndex('meeting_attendees_address_idx').on('meeting_attendees').column('address').execute();

  await db.schema
    .alterTable('meetings')
    .addColumn('organizer_is_self', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.createIndex('meetings_calendar_href_idx').on('meetings').columns(['calendar_id', 'href']).execute();

  await db.schema
    .createTable('calendar_objects')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('calendar_id', 'text', (c) => c.notNull().references('calendars.id').onDelete('cascade'))
    .addColumn('href', 'text', (c) => c.notNull())
    .addColumn('etag', 'text')
    .addColumn('uid', 'text')
    // Kept only when the object must be expanded again as the window moves (recurring or beyond the window).
    .addColumn('raw_ics', 'text')
    // What could not be read in it (a broken file, or events skipped), for the health view; null when all was read.
    .addColumn('problem', 'text')
    .addColumn('event_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addUniqueConstraint('calendar_objects_calendar_href_uq', ['calendar_id', 'href'])
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('calendar_objects').ifExists().execute();
  await db.schema.dropIndex('meetings_calendar_href_idx').ifExists().execute();
  await db.schema.alterTable('meetings').dropColumn('organizer_is_self').execute();
  await db.schema.dropIndex('meeting_attendees_address_idx').ifExists().execute();
  await db.schema.alterTable('meeting_attendees').dropColumn('kind').execute();
  for (const column of ['supports_sync', 'writable', 'time_zone'])
    await db.schema.alterTable('calendars').dropColumn(column).execute();
  for (const column of ['calendar_synced_at', 'calendar_detail', 'calendar_status']) {
    await db.schema.alterTable('email_accounts').dropColumn(column).execute();
  }
}
