// Writes an account's sync status and keeps a short history of changes (sync_events) for the health view.
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { AccountStatus } from '../../storage/schema.js';

export interface StatusChange {
  status: AccountStatus;
  detail?: string | null;
  nextRetryAt?: number | null;
  lastSyncedAt?: number;
}

/**
 * Applies the change only while the account is still the configuration the runner started with
 * (same generation, still there): a runner stopped by a switch or a delete cannot overwrite the new state.
 */
export async function setAccountStatus(
  db: Db,
  accountId: string,
  generation: number,
  change: StatusChange,
): Promise<boolean> {
  const now = Date.now();
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('email_accounts')
      .select(['status', 'status_detail'])
      .where('id', '=', accountId)
      .where('generation', '=', generation)
      .executeTakeFirst();
    if (!current) return false;
    await trx
      .updateTable('email_accounts')
      .set({
        status: change.status,
        status_detail: change.detail ?? null,
        next_retry_at: change.nextRetryAt ?? null,
        ...(change.lastSyncedAt !== undefined ? { last_synced_at: change.lastSyncedAt } : {}),
        updated_at: now,
      })
      .where('id', '=', accountId)
      .execute();
    if (current.status !== change.status || current.status_detail !== (change.detail ?? null)) {
      await trx
        .insertInto('sync_events')
        .values({
          id: newId(now),
          account_id: accountId,
          kind: `status:${change.status}`,
          detail: change.detail ?? null,
          created_at: now,
        })
        .execute();
    }
    return true;
  });
}
