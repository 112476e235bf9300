// The whole product's first schema. Portable DDL only (text, bigint, integer), so the same migration
// runs on SQLite and PostgreSQL; later changes are new migrations, never edits to this one.
import type { Kysely } from 'kysely';
import { newId } from '../ids.js';

type Db = Kysely<any>;

const ms = 'bigint' as const;

export async function up(db: Db): Promise<void> {
  await db.schema
    .createTable('orgs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('plan', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('display_name', 'text')
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('last_seen_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('last_used_at', ms)
    .execute();

  await db.schema
    .createTable('user_settings')
    .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
    .addColumn('auto_create_contacts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('locale', 'text', (c) => c.notNull().defaultTo('en'))
    .addColumn('never_log_json', 'text', (c) => c.notNull().defaultTo('[]'))
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('contacts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('first_name', 'text')
    .addColumn('last_name', 'text')
    .addColumn('company', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('search_text', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('contacts_org_id_idx').on('contacts').columns(['org_id', 'id']).execute();

  await db.schema
    .createTable('contact_addresses')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('bounced_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addUniqueConstraint('contact_addresses_org_address_uq', ['org_id', 'address'])
    .execute();
  await db.schema.createIndex('contact_addresses_contact_idx').on('contact_addresses').column('contact_id').execute();

  await db.schema
    .createTable('email_accounts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('auth_kind', 'text', (c) => c.notNull())
    .addColumn('sync_mode', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_detail', 'text')
    .addColumn('next_retry_at', ms)
    .addColumn('last_synced_at', ms)
    .addColumn('history_days', 'integer', (c) => c.notNull())
    .addColumn('imap_host', 'text', (c) => c.notNull())
    .addColumn('imap_port', 'integer', (c) => c.notNull())
    .addColumn('imap_secure', 'integer', (c) => c.notNull())
    .addColumn('smtp_host', 'text', (c) => c.notNull())
    .addColumn('smtp_port', 'integer', (c) => c.notNull())
    .addColumn('smtp_secure', 'integer', (c) => c.notNull())
    .addColumn('username', 'text', (c) => c.notNull())
    .addColumn('credentials_enc', 'text', (c) => c.notNull())
    .addColumn('smtp_mode', 'text', (c) => c.notNull().defaultTo('mailbox'))
    .addColumn('smtp_custom_enc', 'text')
    .addColumn('caldav_url', 'text')
    .addColumn('bcc_token', 'text', (c) => c.notNull().unique())
    .addColumn('visibility', 'text', (c) => c.notNull().defaultTo('shared'))
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('progress_json', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('email_accounts_user_idx').on('email_accounts').column('user_id').execute();

  await db.schema
    .createTable('mail_folders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('special_use', 'text')
    .addColumn('sync_enabled', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('uid_validity', ms)
    .addColumn('last_seen_uid', ms, (c) => c.notNull().defaultTo(0))
    .addColumn('uid_next', ms)
    .addColumn('highest_modseq', 'text')
    .addColumn('window_start', ms)
    // First sync runs newest first: UIDs below this one are still to scan (null: not started).
    .addColumn('first_sync_below_uid', ms)
    .addColumn('first_sync_done', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('exists_count', ms)
    .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addUniqueConstraint('mail_folders_account_path_uq', ['account_id', 'path'])
    .execute();

  await db.schema
    .createTable('threads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('subject', 'text')
    .addColumn('subject_key', 'text')
    .addColumn('gm_thrid', 'text')
    .addColumn('last_message_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('threads_subject_idx')
    .on('threads')
    .columns(['org_id', 'subject_key', 'last_message_at'])
    .execute();

  await db.schema
    .createTable('thread_keys')
    .addColumn('org_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('thread_id', 'text', (c) => c.notNull().references('threads.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('thread_keys_pk', ['org_id', 'key'])
    .execute();

  await db.schema
    .createTable('blobs')
    .addColumn('sha256', 'text', (c) => c.primaryKey())
    .addColumn('size', ms, (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    .addColumn('dedupe_key', 'text', (c) => c.notNull())
    .addColumn('message_id_header', 'text')
    .addColumn('gm_msgid', 'text')
    .addColumn('thread_id', 'text', (c) => c.references('threads.id').onDelete('set null'))
    .addColumn('in_reply_to', 'text')
    .addColumn('references_json', 'text')
    .addColumn('subject', 'text')
    .addColumn('from_address', 'text')
    .addColumn('from_name', 'text')
    .addColumn('date', ms, (c) => c.notNull())
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('snippet', 'text')
    .addColumn('text_body', 'text')
    .addColumn('html_body', 'text')
    .addColumn('has_attachments', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('bounced', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('size', ms, (c) => c.notNull().defaultTo(0))
    .addColumn('raw_blob_sha256', 'text', (c) => c.references('blobs.sha256'))
    .addColumn('parse_error', 'text')
    .addColumn('owner_user_id', 'text', (c) => c.references('users.id').onDelete('set null'))
    // 0 while only private mailboxes hold it: then only users whose mailbox holds it (and its owner) read it.
    .addColumn('shared', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addUniqueConstraint('messages_org_dedupe_uq', ['org_id', 'dedupe_key'])
    .execute();
  await db.schema.createIndex('messages_thread_idx').on('messages').columns(['thread_id', 'date']).execute();
  await db.schema.createIndex('messages_org_date_idx').on('messages').columns(['org_id', 'date']).execute();
  await db.schema
    .createIndex('messages_message_id_idx')
    .on('messages')
    .columns(['org_id', 'message_id_header'])
    .execute();

  await db.schema
    .createTable('message_locations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('folder_id', 'text', (c) => c.notNull().references('mail_folders.id').onDelete('cascade'))
    .addColumn('uid_validity', ms, (c) => c.notNull())
    .addColumn('uid', ms, (c) => c.notNull())
    .addColumn('flags_json', 'text')
    .addColumn('seen', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('removed_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addUniqueConstraint('message_locations_folder_uid_uq', ['folder_id', 'uid_validity', 'uid'])
    .execute();
  await db.schema.createIndex('message_locations_message_idx').on('message_locations').column('message_id').execute();

  await db.schema
    .createTable('message_participants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('position', 'integer', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('message_participants_message_idx')
    .on('message_participants')
    .column('message_id')
    .execute();
  await db.schema
    .createIndex('message_participants_address_idx')
    .on('message_participants')
    .column('address')
    .execute();

  await db.schema
    .createTable('message_contacts')
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('message_contacts_pk', ['message_id', 'contact_id'])
    .execute();
  await db.schema.createIndex('message_contacts_contact_idx').on('message_contacts').column('contact_id').execute();

  await db.schema
    .createTable('attachments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('blob_sha256', 'text', (c) => c.notNull().references('blobs.sha256'))
    .addColumn('filename', 'text')
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('size', ms, (c) => c.notNull())
    .addColumn('content_id', 'text')
    .addColumn('inline', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('position', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('attachments_message_idx').on('attachments').column('message_id').execute();

  await db.schema
    .createTable('outbox')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_id', 'text', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .addColumn('next_attempt_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('outbox_state_idx').on('outbox').columns(['state', 'next_attempt_at']).execute();

  await db.schema
    .createTable('calendars')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('display_name', 'text')
    .addColumn('ctag', 'text')
    .addColumn('sync_token', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addUniqueConstraint('calendars_account_url_uq', ['account_id', 'url'])
    .execute();

  await db.schema
    .createTable('meetings')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('org_id', 'text', (c) => c.notNull().references('orgs.id'))
    // Meetings stay on their contacts when the account that brought them is removed.
    .addColumn('account_id', 'text', (c) => c.references('email_accounts.id').onDelete('set null'))
    .addColumn('calendar_id', 'text', (c) => c.references('calendars.id').onDelete('set null'))
    .addColumn('uid', 'text', (c) => c.notNull())
    .addColumn('recurrence_id', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('href', 'text')
    .addColumn('etag', 'text')
    .addColumn('title', 'text')
    .addColumn('description', 'text')
    .addColumn('location', 'text')
    .addColumn('start_at', ms, (c) => c.notNull())
    .addColumn('end_at', ms, (c) => c.notNull())
    .addColumn('all_day', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'text')
    .addColumn('organizer_address', 'text')
    .addColumn('organizer_name', 'text')
    .addColumn('raw_ics', 'text')
    .addColumn('deleted_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addUniqueConstraint('meetings_account_uid_uq', ['account_id', 'uid', 'recurrence_id'])
    .execute();
  await db.schema.createIndex('meetings_org_start_idx').on('meetings').columns(['org_id', 'start_at']).execute();

  await db.schema
    .createTable('meeting_attendees')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('meeting_id', 'text', (c) => c.notNull().references('meetings.id').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    .addColumn('status', 'text')
    .addColumn('role', 'text')
    .execute();
  await db.schema.createIndex('meeting_attendees_meeting_idx').on('meeting_attendees').column('meeting_id').execute();

  await db.schema
    .createTable('meeting_contacts')
    .addColumn('meeting_id', 'text', (c) => c.notNull().references('meetings.id').onDelete('cascade'))
    .addColumn('contact_id', 'text', (c) => c.notNull().references('contacts.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('meeting_contacts_pk', ['meeting_id', 'contact_id'])
    .execute();
  await db.schema.createIndex('meeting_contacts_contact_idx').on('meeting_contacts').column('contact_id').execute();

  await db.schema
    .createTable('oauth_states')
    .addColumn('state', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('code_verifier', 'text', (c) => c.notNull())
    .addColumn('payload_json', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('sync_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'text', (c) => c.notNull().references('email_accounts.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('sync_events_account_idx')
    .on('sync_events')
    .columns(['account_id', 'created_at'])
    .execute();

  // A new install is one organisation on the top plan; the migration lock makes this race-free.
  const now = Date.now();
  await db
    .insertInto('orgs')
    .values({ id: newId(now), name: 'Conversa', plan: 'enterprise', created_at: now, updated_at: now })
    .execute();
}

export async function down(db: Db): Promise<void> {
  for (const table of [
    'sync_events',
    'oauth_states',
    'meeting_contacts',
    'meeting_attendees',
    'meetings',
    'calendars',
    'outbox',
    'attachments',
    'message_contacts',
    'message_participants',
    'message_locations',
    'messages',
    'blobs',
    'thread_keys',
    'threads',
    'mail_folders',
    'email_accounts',
    'contact_addresses',
    'contacts',
    'user_settings',
    'api_tokens',
    'sessions',
    'users',
    'orgs',
  ]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
