// When a sequence step may leave: inside the send window (a time zone, ISO weekdays 1 = Monday … 7 = Sunday, and
// from/to hours, "to" exclusive) and within the mailbox's daily limit, spread evenly — at most `dailyLimit` sends per
// local day, at least (window length / dailyLimit) apart, so a limit of 50 in a 9–17 window is one every 9.6 minutes
// rather than 50 at nine o'clock. Pure functions of the clock: the engine and its tests give "now".

export interface SendWindow {
  timeZone: string;
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  days: number[];
  /** "HH:MM" local, inclusive. */
  from: string;
  /** "HH:MM" local, exclusive; "24:00" allowed. */
  to: string;
}

const MINUTE = 60_000;
const DAY = 86_400_000;
const WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Whether `timeZone` is an IANA zone this runtime knows. */
export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

export function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
  /** The zone's offset from UTC at that instant, ms. */
  offset: number;
}

export function localParts(t: number, timeZone: string): LocalParts {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(new Date(t))) parts[p.type] = p.value;
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  const hour = Number(parts.hour);
  const minute = Number(parts.minute);
  const second = Number(parts.second);
  const asUtc = Date.UTC(year, month - 1, day, hour, minute, second);
  return {
    year,
    month,
    day,
    weekday: WEEKDAY[parts.weekday!] ?? 1,
    minutes: hour * 60 + minute,
    offset: asUtc - (t - (((t % 1000) + 1000) % 1000)),
  };
}

/** The instant of a local wall time (a time skipped by a DST jump lands just after it). */
export function localTime(year: number, month: number, day: number, minutes: number, timeZone: string): number {
  const wall = Date.UTC(year, month - 1, day) + minutes * MINUTE;
  let t = wall - localParts(wall, timeZone).offset;
  t = wall - localParts(t, timeZone).offset;
  return t;
}

/** The local midnight that starts the day of `t`, and the next one. */
export function localDay(t: number, timeZone: string): { start: number; end: number } {
  const p = localParts(t, timeZone);
  const start = localTime(p.year, p.month, p.day, 0, timeZone);
  const next = new Date(Date.UTC(p.year, p.month - 1, p.day) + DAY);
  const end = localTime(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), 0, timeZone);
  return { start, end };
}

/** The first instant at or after `t` inside the window (t itself when inside). */
export function nextInWindow(window: SendWindow | null, t: number): number {
  if (!window || window.days.length === 0) return t;
  const from = minutesOf(window.from);
  const to = minutesOf(window.to);
  const now = localParts(t, window.timeZone);
  if (window.days.includes(now.weekday) && now.minutes >= from && now.minutes < to) return t;
  for (let d = 0; d <= 8; d++) {
    const date = new Date(Date.UTC(now.year, now.month - 1, now.day) + d * DAY);
    const y = date.getUTCFullYear();
    const m = date.getUTCMonth() + 1;
    const dd = date.getUTCDate();
    const weekday = ((date.getUTCDay() + 6) % 7) + 1;
    if (!window.days.includes(weekday)) continue;
    const start = localTime(y, m, dd, from, window.timeZone);
    if (start >= t) return start;
  }
  return t + DAY; // unreachable with a valid window
}

/** Length of the window in a day (ms); a whole day without a window. */
export function windowLengthMs(window: SendWindow | null): number {
  if (!window) return DAY;
  return Math.max(MINUTE, (minutesOf(window.to) - minutesOf(window.from)) * MINUTE);
}

/** The gap between two sends of one mailbox under a daily limit (0 without one). */
export function spacingMs(window: SendWindow | null, dailyLimit: number | null): number {
  if (!dailyLimit || dailyLimit <= 0) return 0;
  return Math.floor(windowLengthMs(window) / dailyLimit);
}

export interface MailboxLoad {
  /** Sends of the mailbox in the local day of the instant asked about. */
  sentToday(dayStart: number, dayEnd: number): Promise<number>;
  /** The mailbox's latest send, or null. */
  lastSendAt(): Promise<number | null>;
}

/**
 * The earliest instant at or after `t` when a step of this sequence may leave from this mailbox: in the window,
 * under the daily limit (counted per local day of the window's zone, UTC without a window), spaced from the
 * mailbox's last send.
 */
export async function nextAllowed(
  window: SendWindow | null,
  dailyLimit: number | null,
  t: number,
  load: MailboxLoad,
): Promise<number> {
  let at = nextInWindow(window, t);
  if (!dailyLimit || dailyLimit <= 0) return at;
  const zone = window?.timeZone ?? 'UTC';
  const gap = spacingMs(window, dailyLimit);
  const last = await load.lastSendAt();
  for (let i = 0; i < 10; i++) {
    if (last !== null && at < last + gap) at = nextInWindow(window, last + gap);
    const day = localDay(at, zone);
    if ((await load.sentToday(day.start, day.end)) < dailyLimit) return at;
    at = nextInWindow(window, day.end);
  }
  return at;
}
