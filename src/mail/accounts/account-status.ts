// Writes an account's sync status and keeps a short history of changes (sync_events) for the health view.
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { AccountStatus } from '../../storage/schema.js';
import { paramsToJson, type TextParams } from '../../core/server-text.js';
import { MAIL_TEXT_CODES, type MailTextCode } from '../connection/mail-errors.js';

/**
 * The sync's own status texts (web dictionaries: `server.<code>`), decided by sync/failure-policy.ts; `reason` is
 * the provider's or library's English words, shown as they are. A status detail is one of these or of
 * MAIL_TEXT_CODES (a connection failure).
 */
export const SYNC_TEXT_CODES = [
  'SYNC_PASSWORD_REFUSED',
  'SYNC_ACCESS_REVOKED',
  'SYNC_OAUTH_NOT_CONFIGURED',
  'SYNC_OAUTH_FAILED',
  'SYNC_HOST_NOT_ALLOWED',
  'SYNC_SERVER_KEEPS_CLOSING',
  'SYNC_FAILED',
] as const;
export type SyncTextCode = (typeof SYNC_TEXT_CODES)[number];
export type StatusTextCode = SyncTextCode | MailTextCode;

/**
 * The calendar status texts, decided by src/calendar (decideCalendarFailure, the runner) and kept here because the
 * account's reader, a floor below the calendar, shows them too. `reason` is the service's English words,
 * `nextTryAt` the next attempt (ISO), `provider`/`signIn` name the sign-in a calendar needs.
 */
export const CALENDAR_TEXT_CODES = [
  'CALENDAR_AUTH_FAILED',
  'CALENDAR_ACCESS_REVOKED',
  'CALENDAR_NOT_AVAILABLE',
  'CALENDAR_FAILED',
  'CALENDAR_NEEDS_PROVIDER_SIGNIN',
  'CALENDAR_NO_SERVICE',
  'CALENDAR_PARTIAL',
] as const;
export type CalendarTextCode = (typeof CALENDAR_TEXT_CODES)[number];

const STATUS_TEXT = new Set<string>([...SYNC_TEXT_CODES, ...MAIL_TEXT_CODES]);
const CALENDAR_TEXT = new Set<string>(CALENDAR_TEXT_CODES);

export function calendarTextCode(stored: string | null | undefined): CalendarTextCode | null {
  return stored && CALENDAR_TEXT.has(stored) ? (stored as CalendarTextCode) : null;
}

/** A stored code this version knows (older or foreign values read as none: the English detail still shows). */
export function statusTextCode(stored: string | null | undefined): StatusTextCode | null {
  return stored && STATUS_TEXT.has(stored) ? (stored as StatusTextCode) : null;
}

export interface StatusChange {
  status: AccountStatus;
  detail?: string | null;
  /** The detail as a text code and parameters for the user's language (failure-policy.ts names them). */
  detailCode?: StatusTextCode | null;
  detailParams?: TextParams;
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
        status_detail_code: change.detailCode ?? null,
        status_detail_params_json: paramsToJson(change.detailParams),
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
          detail_code: change.detailCode ?? null,
          detail_params_json: paramsToJson(change.detailParams),
          created_at: now,
        })
        .execute();
    }
    return true;
  });
}
