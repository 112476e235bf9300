// An account's address must be proven before the company relay sends as it (audit item 6). Connecting proves a
// login, not the address, so every account existing at this migration starts unverified: its owner proves it
// again (a code mailed to it) or reconnects with Google/Microsoft, whose word proves it.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .alterTable('email_accounts')
    .addColumn('address_verified', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // The one live code of an account: hashed, expiring, with its failed attempts and the sends of the hour.
  await db.schema
    .createTable('address_verifications')
    .addColumn('account_id', 'text', (c) => c.primaryKey().references('email_accounts.id').onDelete('cascade'))
    .addColumn('code_hash', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('last_sent_at', 'bigint', (c) => c.notNull())
    .addColumn('window_started_at', 'bigint', (c) => c.notNull())
    .addColumn('sends_in_window', 'integer', (c) => c.notNull())
    .execute();
  // Why a message was never handed over, as a stable code (SENDER_NOT_VERIFIED); null: the generic SEND_FAILED.
  await db.schema.alterTable('outbox').addColumn('last_error_code', 'text').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.alterTable('outbox').dropColumn('last_error_code').execute();
  await db.schema.dropTable('address_verifications').execute();
  await db.schema.alterTable('email_accounts').dropColumn('address_verified').execute();
}
