// Lists the mailbox's folders and records those Conversa syncs (inbox, sent, archive / all mail) with their
// role. Existing rows keep their cursors; folders gone from the server are dropped.
import type { ImapFlow } from 'imapflow';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import { folderRole } from '../imap/folder-roles.js';

export async function discoverFolders(db: Db, client: ImapFlow, accountId: string, generation: number): Promise<void> {
  const listed = await client.list();
  const wanted = listed
    .map((f) => ({
      path: f.path,
      specialUse: f.specialUse || null,
      role: folderRole({ path: f.path, specialUse: f.specialUse, flags: f.flags, delimiter: f.delimiter }),
    }))
    .filter((f): f is { path: string; specialUse: string | null; role: NonNullable<typeof f.role> } => f.role !== null);
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('mail_folders')
      .select(['id', 'path', 'role', 'special_use'])
      .where('account_id', '=', accountId)
      .execute();
    for (const folder of wanted) {
      const row = existing.find((e) => e.path === folder.path);
      if (!row) {
        await trx
          .insertInto('mail_folders')
          .values({
            id: newId(now),
            account_id: accountId,
            path: folder.path,
            role: folder.role,
            special_use: folder.specialUse,
            sync_enabled: 1,
            uid_validity: null,
            last_seen_uid: 0,
            uid_next: null,
            highest_modseq: null,
            window_start: null,
            first_sync_below_uid: null,
            first_sync_done: 0,
            exists_count: null,
            generation,
            created_at: now,
            updated_at: now,
          })
          .execute();
      } else if (row.role !== folder.role || row.special_use !== folder.specialUse) {
        await trx
          .updateTable('mail_folders')
          .set({ role: folder.role, special_use: folder.specialUse, updated_at: now })
          .where('id', '=', row.id)
          .execute();
      }
    }
    const gone = existing.filter((e) => !wanted.some((w) => w.path === e.path)).map((e) => e.id);
    if (gone.length > 0) await trx.deleteFrom('mail_folders').where('id', 'in', gone).execute();
  });
}
