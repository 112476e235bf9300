// Who may read a message is decided by the mailboxes that brought it in, never by a flag a later copy can set:
// `message_holders` records, for every arrival (sync, a send from the CRM, a BCC filing), the account that brought
// it, its owner and whether that mailbox is shared. `content_digest` lets two arrivals be one message only when
// their content is the same. `set_aside_messages` keeps the mail that could not be stored, with its reason, so one
// hostile message never stops a mailbox.
import { sql, type Kysely } from 'kysely';

type Db = Kysely<any>;

export async function up(db: Db): Promise<void> {
  await db.schema.alterTable('messages').addColumn('content_digest', 'text').execute();
  await db.schema
    .createTable('message_holders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    // Null once the mailbox is removed: its mail stays readable by whom it was readable before.
    .addColumn('account_id', 'text', (c) => c.references('email_accounts.id').onDelete('set null'))
    .addColumn('user_id', 'text', (c) => c.references('users.id').onDelete('cascade'))
    .addColumn('shared', 'integer', (c) => c.notNull())
    // The message as this mailbox sees it: a colleague's Sent copy is this mailbox's incoming mail.
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('message_holders_message_idx')
    .on('message_holders')
    .columns(['message_id', 'shared', 'user_id'])
    .execute();
  await db.schema.createIndex('message_holders_account_idx').on('message_holders').column('account_id').execute();
  await db.schema
    .createTable('set_aside_messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('folder_id', 'text', (c) => c.references('mail_folders.id').onDelete('cascade'))
    .addColumn('uid_validity', 'bigint')
    .addColumn('uid', 'bigint')
    .addColumn('message_id_header', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('set_aside_messages_account_idx')
    .on('set_aside_messages')
    .columns(['account_id', 'created_at'])
    .execute();

  // Mail stored before: one holder per mailbox it was found in, with that mailbox's visibility today.
  await sql`
    INSERT INTO message_holders (id, message_id, account_id, user_id, shared, direction, created_at)
    SELECT l.message_id || ':' || l.account_id, l.message_id, l.account_id, a.user_id,
           CASE WHEN a.visibility = 'shared' THEN 1 ELSE 0 END, m.direction, MIN(l.created_at)
    FROM message_locations l JOIN email_accounts a ON a.id = l.account_id JOIN messages m ON m.id = l.message_id
    GROUP BY l.message_id, l.account_id, a.user_id, a.visibility, m.direction`.execute(db);
  // Sent from the CRM and not (yet) found in a mailbox: the sending account holds it.
  await sql`
    INSERT INTO message_holders (id, message_id, account_id, user_id, shared, direction, created_at)
    SELECT o.message_id || ':' || o.account_id, o.message_id, o.account_id, a.user_id,
           CASE WHEN a.visibility = 'shared' THEN 1 ELSE 0 END, 'outgoing', MIN(o.created_at)
    FROM outbox o JOIN email_accounts a ON a.id = o.account_id
    WHERE NOT EXISTS (SELECT 1 FROM message_holders h WHERE h.message_id = o.message_id AND h.account_id = o.account_id)
    GROUP BY o.message_id, o.account_id, a.user_id, a.visibility`.execute(db);
  // Anything else (BCC filings): the user who brought it in, private unless it was stored as shared.
  await sql`
    INSERT INTO message_holders (id, message_id, account_id, user_id, shared, direction, created_at)
    SELECT m.id || ':owner', m.id, NULL, m.owner_user_id, m.shared, m.direction, m.created_at
    FROM messages m
    WHERE NOT EXISTS (SELECT 1 FROM message_holders h WHERE h.message_id = m.id)`.execute(db);
}

export async function down(db: Db): Promise<void> {
  await db.schema.dropTable('set_aside_messages').execute();
  await db.schema.dropTable('message_holders').execute();
  await db.schema.alterTable('messages').dropColumn('content_digest').execute();
}
