// Who filed a message through a BCC address (audit item 10): the message row says whose mailbox it counts as, this
// says which user put it in and when, so a filing can be traced and a wrong one told from a synced copy.
import type { Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('bcc_filings')
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    // The BCC address used; the filing stays on record when that mailbox is removed.
    .addColumn('account_id', 'text', (c) => c.references('email_accounts.id').onDelete('set null'))
    .addColumn('filed_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('bcc_filings_pkey', ['message_id', 'user_id'])
    .execute();
  await db.schema.createIndex('bcc_filings_user_idx').on('bcc_filings').column('user_id').execute();
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('bcc_filings').execute();
}
