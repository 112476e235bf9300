// The calendar side of an account's health, for the people who may see the mailbox: the runner's status, when it last
// got through, and each calendar with how many objects it holds and what could not be read in them. Reads only.
import { mailboxFor, type Actor } from '../access/access-policy.js';
import type { Db } from '../storage/database.js';
import type { CalendarStatus } from '../storage/schema.js';
import { paramsFromJson, type TextParams } from '../core/server-text.js';
import { calendarTextCode, type CalendarTextCode } from '../mail/accounts/account-status.js';

export interface CalendarHealth {
  status: CalendarStatus | null;
  detail: string | null;
  /** detail as a text code and parameters, for the user's language. */
  detailCode: CalendarTextCode | null;
  detailParams: TextParams;
  syncedAt: string | null;
  calendars: Array<{
    id: string;
    url: string;
    displayName: string | null;
    writable: boolean;
    objects: number;
    /** Objects with something left out or guessed (unreadable files, skipped events, unknown zones), and what. */
    problems: Array<{ href: string; problem: string }>;
  }>;
}

/** The account's calendar health; another user's private mailbox is "not found", as everywhere. */
export async function calendarHealth(db: Db, actor: Actor, accountId: string): Promise<CalendarHealth> {
  const row = await mailboxFor(db, actor, accountId, 'see');
  const calendars = await db
    .selectFrom('calendars')
    .selectAll()
    .where('account_id', '=', row.id)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const objects = calendars.length
    ? await db
        .selectFrom('calendar_objects')
        .select(['calendar_id', 'href', 'problem'])
        .where(
          'calendar_id',
          'in',
          calendars.map((c) => c.id),
        )
        .execute()
    : [];
  return {
    status: row.calendar_status ?? null,
    detail: row.calendar_detail ?? null,
    detailCode: row.calendar_detail ? calendarTextCode(row.calendar_detail_code) : null,
    detailParams: row.calendar_detail ? paramsFromJson(row.calendar_detail_params_json) : {},
    syncedAt: row.calendar_synced_at ? new Date(row.calendar_synced_at).toISOString() : null,
    calendars: calendars.map((c) => {
      const mine = objects.filter((o) => o.calendar_id === c.id);
      return {
        id: c.id,
        url: c.url,
        displayName: c.display_name,
        writable: c.writable === 1,
        objects: mine.length,
        problems: mine.filter((o) => o.problem !== null).map((o) => ({ href: o.href, problem: o.problem! })),
      };
    }),
  };
}
