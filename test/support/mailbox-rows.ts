// A mailbox as a row (no server behind it), for tests that store or insert mail directly.
import type { Db } from '../../src/storage/database.js';
import { newId } from '../../src/storage/ids.js';
import type { User } from '../../src/users/users.js';

/** `status`: 'active' by default; 'needs_reconnect' keeps a running server's sync away from its made-up hosts. */
export async function addMailbox(
  db: Db,
  orgId: string,
  user: Pick<User, 'id'>,
  email: string,
  shared: boolean,
  options: { status?: 'active' | 'needs_reconnect' } = {},
): Promise<string> {
  const id = newId();
  const t = Date.now();
  await db
    .insertInto('email_accounts')
    .values({
      id,
      org_id: orgId,
      user_id: user.id,
      email,
      provider: 'other',
      auth_kind: 'password',
      sync_mode: 'two-way',
      status: options.status ?? 'active',
      status_detail: null,
      next_retry_at: null,
      last_synced_at: t,
      history_days: 30,
      imap_host: 'imap.pages.test',
      imap_port: 993,
      imap_secure: 1,
      smtp_host: 'smtp.pages.test',
      smtp_port: 465,
      smtp_secure: 1,
      username: email,
      credentials_enc: 'sealed',
      smtp_mode: 'mailbox',
      smtp_custom_enc: null,
      caldav_url: null,
      bcc_token: `bcc-${id}`,
      visibility: shared ? 'shared' : 'private',
      generation: 1,
      progress_json: null,
      sync_requested_at: null,
      created_at: t,
      updated_at: t,
    } as never)
    .execute();
  return id;
}

/** A synced folder of the mailbox `accountId` as a row (UIDVALIDITY 1, first sync done); its id. */
export async function addFolder(
  db: Db,
  accountId: string,
  folder: { path: string; role: 'inbox' | 'sent' | 'archive' | 'all' | 'other' },
): Promise<string> {
  const id = newId();
  const t = Date.now();
  await db
    .insertInto('mail_folders')
    .values({
      id,
      account_id: accountId,
      path: folder.path,
      role: folder.role,
      special_use: null,
      sync_enabled: 1,
      uid_validity: 1,
      last_seen_uid: 0,
      uid_next: null,
      highest_modseq: null,
      window_start: null,
      first_sync_below_uid: null,
      first_sync_done: 1,
      exists_count: null,
      generation: 1,
      created_at: t,
      updated_at: t,
    })
    .execute();
  return id;
}
