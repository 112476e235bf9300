// Open and click tracking (issue 15): the user's opt-in, which CRM messages were sent tracked (with the unguessable
// token their pixel and links carry), the links of each (the only places a redirect may go), and the events with
// their verdict. No client IP is stored: a coarse agent label and the reason of the verdict are enough to explain it.
// The outbox row of a message with external recipients holds a second blob, the tracked copy, and who gets it.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('user_settings')
    .addColumn('tracking_enabled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('tracked_messages')
    // The CRM message's id: one tracked copy per message.
    .addColumn('message_id', 'text', (c) => c.primaryKey().references('messages.id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
    // 128 random bits, base64url: what the pixel and link URLs carry; unique, so a lookup by it is an index read.
    .addColumn('token', 'text', (c) => c.notNull().unique())
    .addColumn('opens', 'integer', (c) => c.notNull())
    .addColumn('clicks', 'integer', (c) => c.notNull())
    // When the tracked copy was accepted by the SMTP server: the "too soon" verdicts count from here.
    .addColumn('sent_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('tracked_links')
    .addColumn('message_id', 'text', (c) => c.notNull().references('tracked_messages.message_id').onDelete('cascade'))
    // The link's position in the message (the <n> of /t/c/<token>/<n>), from 0.
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('tracked_links_pk', ['message_id', 'position'])
    .execute();
  await db.schema
    .createTable('tracking_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('tracked_messages.message_id').onDelete('cascade'))
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('automated', 'integer', (c) => c.notNull())
    // Why it was judged automated ('too-soon', 'image-proxy:gmail', 'apple-mpp', 'scanner', 'bot-agent', 'head',
    // 'burst'), or null for a person.
    .addColumn('reason', 'text')
    .addColumn('link_position', 'integer')
    // A coarse family of the user agent ('chrome', 'gmail-proxy', 'outlook', …), never the raw string or the IP.
    .addColumn('agent', 'text')
    .execute();
  await db.schema
    .createIndex('tracking_events_message_idx')
    .on('tracking_events')
    .columns(['message_id', 'at'])
    .execute();
  await db.schema.alterTable('outbox').addColumn('tracked_raw_blob_sha256', 'text').execute();
  // JSON array of the envelope recipients that get the tracked copy (the external ones); the others get the plain one.
  await db.schema.alterTable('outbox').addColumn('tracked_rcpts_json', 'text').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable('outbox').dropColumn('tracked_rcpts_json').execute();
  await db.schema.alterTable('outbox').dropColumn('tracked_raw_blob_sha256').execute();
  await db.schema.dropTable('tracking_events').execute();
  await db.schema.dropTable('tracked_links').execute();
  await db.schema.dropTable('tracked_messages').execute();
  await db.schema.alterTable('user_settings').dropColumn('tracking_enabled').execute();
}
