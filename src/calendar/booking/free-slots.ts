// The free slots of a booking page: working hours per ISO weekday in the page's time zone (wall-clock times turned
// into instants with the zone's own rules, so a DST-change day has the right hours), a slot every `duration`
// minutes from each window's start, kept only when it is past the minimum notice, inside the horizon and clear of
// every busy span widened by the buffer. Busy spans come from what the account's calendars hold (busyTimes):
// stored meetings of every synced calendar — recurring series are stored expanded, so every occurrence counts —,
// all-day events as whole days in the page's zone, CRM-made meetings (they are on the calendar too), and confirmed
// bookings not yet synced back; cancelled, transparent (shown as free) and declined ones do not count.
import { normalizeEmail } from '../../contacts/email-address.js';
import type { Db } from '../../storage/database.js';
import { instantInZone, wallInZone } from '../ical/time-zones.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

/** ISO weekday ("1" = Monday … "7" = Sunday) → windows of "HH:MM" wall-clock times. */
export type WorkingHours = Record<string, Array<[string, string]>>;

export interface SlotRules {
  timeZone: string;
  hours: WorkingHours;
  durationMinutes: number;
  bufferMinutes: number;
  minNoticeMinutes: number;
  horizonDays: number;
}

export interface Span {
  start: number;
  end: number;
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/** Sorted, merged: one pass then answers "does [s, e) touch anything" by binary search. */
export function mergeSpans(spans: Span[]): Span[] {
  const sorted = spans.filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  const merged: Span[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (last && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else merged.push({ ...span });
  }
  return merged;
}

/** Whether [start, end) overlaps any of the merged spans. */
function overlapsAny(merged: Span[], start: number, end: number): boolean {
  // The first span whose end is after `start`.
  let lo = 0;
  let hi = merged.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (merged[mid]!.end <= start) lo = mid + 1;
    else hi = mid;
  }
  const candidate = merged[lo];
  return candidate !== undefined && candidate.start < end;
}

/** The working-hours windows, as instants, of the local days that touch [from, to). */
export function workingWindows(rules: Pick<SlotRules, 'timeZone' | 'hours'>, from: number, to: number): Span[] {
  const windows: Span[] = [];
  const first = wallInZone(from - DAY, rules.timeZone);
  // Noon UTC of the first local date: stepping by whole days never slips a date across a DST change.
  let cursor = Date.UTC(first.year, first.month - 1, first.day, 12);
  const last = to + DAY;
  for (; cursor <= last; cursor += DAY) {
    const date = new Date(cursor);
    const weekday = ((date.getUTCDay() + 6) % 7) + 1;
    for (const [open, close] of rules.hours[String(weekday)] ?? []) {
      const at = (minutes: number) =>
        instantInZone(
          {
            year: date.getUTCFullYear(),
            month: date.getUTCMonth() + 1,
            day: date.getUTCDate(),
            hour: Math.floor(minutes / 60),
            minute: minutes % 60,
            second: 0,
          },
          rules.timeZone,
        );
      const closeMinutes = minutesOf(close);
      const start = at(minutesOf(open));
      // "24:00" closes at the next midnight.
      const end = closeMinutes >= 24 * 60 ? at(0) + DAY : at(closeMinutes);
      if (end > start && end > from && start < to) windows.push({ start, end });
    }
  }
  return windows;
}

/**
 * Slots (start, end) within [from, to) that the page offers at `now`, given the busy spans. Pure: the same inputs
 * give the same slots, which is what booking checks a requested start against.
 */
export function freeSlots(rules: SlotRules, busy: Span[], range: Span, now: number): Span[] {
  const duration = rules.durationMinutes * MINUTE;
  const buffer = rules.bufferMinutes * MINUTE;
  const earliest = now + rules.minNoticeMinutes * MINUTE;
  const latest = now + rules.horizonDays * DAY;
  const from = Math.max(range.start, earliest);
  const to = Math.min(range.end, latest);
  if (to <= from) return [];
  const merged = mergeSpans(busy);
  const slots: Span[] = [];
  for (const window of workingWindows(rules, from, to)) {
    for (let start = window.start; start + duration <= window.end; start += duration) {
      if (start < from || start >= to) continue;
      const end = start + duration;
      if (overlapsAny(merged, start - buffer, end + buffer)) continue;
      slots.push({ start, end });
    }
  }
  return slots.sort((a, b) => a.start - b.start);
}

/** An all-day event's dates (stored as UTC midnights) as the whole local days they are in the page's zone. */
function allDaySpan(start: number, end: number, zone: string): Span {
  const local = (ms: number) => {
    const d = new Date(ms);
    return instantInZone(
      { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: 0, minute: 0, second: 0 },
      zone,
    );
  };
  return { start: local(start), end: local(Math.max(end, start + DAY)) };
}

/**
 * What keeps an account busy within [from, to): its stored meetings (every synced calendar) that block time, and its
 * confirmed bookings. `except` leaves out one booking (a move does not collide with itself).
 */
export async function busyTimes(
  db: Db,
  accountId: string,
  range: Span,
  zone: string,
  except: { bookingId?: string; eventUid?: string } = {},
): Promise<Span[]> {
  const account = await db
    .selectFrom('email_accounts')
    .select(['email', 'username'])
    .where('id', '=', accountId)
    .executeTakeFirst();
  if (!account) return [];
  const own = [normalizeEmail(account.email)];
  if (account.username.includes('@')) own.push(normalizeEmail(account.username));
  // All-day events are stored at UTC midnights: look a day further on both sides so a local day is never cut.
  let meetings = db
    .selectFrom('meetings')
    .select(['start_at', 'end_at', 'all_day'])
    .where('account_id', '=', accountId)
    .where('deleted_at', 'is', null)
    .where('transparent', '=', 0)
    .where((eb) => eb.or([eb('status', 'is', null), eb('status', '!=', 'cancelled')]))
    .where('start_at', '<', range.end + DAY)
    .where('end_at', '>', range.start - DAY)
    // An invitation the owner declined does not take their time.
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('meeting_attendees')
            .select('meeting_attendees.id')
            .whereRef('meeting_attendees.meeting_id', '=', 'meetings.id')
            .where('meeting_attendees.address', 'in', own)
            .where('meeting_attendees.status', '=', 'declined'),
        ),
      ),
    );
  if (except.eventUid) meetings = meetings.where('uid', '!=', except.eventUid);
  let bookings = db
    .selectFrom('bookings')
    .select(['start_at', 'end_at'])
    .where('account_id', '=', accountId)
    .where('state', '=', 'confirmed')
    .where('start_at', '<', range.end)
    .where('end_at', '>', range.start);
  if (except.bookingId) bookings = bookings.where('id', '!=', except.bookingId);
  const [meetingRows, bookingRows] = await Promise.all([meetings.execute(), bookings.execute()]);
  const spans: Span[] = meetingRows.map((m) =>
    m.all_day === 1
      ? allDaySpan(Number(m.start_at), Number(m.end_at), zone)
      : { start: Number(m.start_at), end: Number(m.end_at) },
  );
  for (const b of bookingRows) spans.push({ start: Number(b.start_at), end: Number(b.end_at) });
  return spans;
}
