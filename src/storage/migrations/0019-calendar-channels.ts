// Push for Google and Graph calendars (issue 16): one row per watch channel (Google events.watch) or change
// subscription (Graph /subscriptions) a runner made for one calendar. Only a hash of the secret Google echoes as
// X-Goog-Channel-Token (Graph as clientState) is kept: the raw secret exists only at the provider. account_id has
// no foreign key on purpose: a removed account's channel must still be stoppable by its row, and a notification
// for it finds nothing to wake.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('calendar_channels')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull())
    // The calendar's id at the provider (calendars.url).
    .addColumn('calendar_url', 'text', (c) => c.notNull())
    // 'google' | 'microsoft'
    .addColumn('provider', 'text', (c) => c.notNull())
    // Google: the channel id we chose (a uuid); Graph: the subscription id it gave.
    .addColumn('channel_id', 'text', (c) => c.notNull())
    // Google's X-Goog-Resource-ID (needed by channels/stop); null for Graph.
    .addColumn('resource_id', 'text')
    // sha256 (hex) of the channel token / clientState.
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('calendar_channels_channel_idx')
    .on('calendar_channels')
    .columns(['provider', 'channel_id'])
    .unique()
    .execute();
  await db.schema.createIndex('calendar_channels_account_idx').on('calendar_channels').column('account_id').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('calendar_channels').execute();
}
