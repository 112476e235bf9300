// Scale-out: which worker process owns which mailbox (a lease that expires when its holder stops renewing it),
// the workers alive, and the "sync now" and backfill requests that any process can make for the owning worker.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('workers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('hostname', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('account_leases')
    .addColumn('account_id', 'text', (c) => c.primaryKey().references('email_accounts.id').onDelete('cascade'))
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('account_leases_holder_idx').on('account_leases').column('holder').execute();
  await db.schema.alterTable('email_accounts').addColumn('sync_requested_at', 'bigint').execute();
  // New contact addresses whose earlier mail every worker looks for in the mailboxes it holds.
  await db.schema
    .createTable('backfill_requests')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id').onDelete('cascade'))
    .addColumn('addresses_json', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('backfill_requests').execute();
  await db.schema.alterTable('email_accounts').dropColumn('sync_requested_at').execute();
  await db.schema.dropTable('account_leases').execute();
  await db.schema.dropTable('workers').execute();
}
