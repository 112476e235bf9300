// iCalendar text → the meetings it holds, as instants: title, start/end (VTIMEZONE, IANA, Windows and Outlook zone
// names), all-day, location, organizer, attendees with PARTSTAT and CUTYPE, recurring series expanded within a
// window with RECURRENCE-ID overrides and EXDATEs. Real calendars are messy: a line that cannot be read is dropped
// and the file read again; an event that cannot be read is skipped and recorded; the rest is always returned.
// ical.js parses and iterates recurrence rules; turning wall-clock times into instants is done here, so one zone
// rule (time-zones.ts) applies everywhere.
import { createHash } from 'node:crypto';
import ICAL from 'ical.js';
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import { instantAtOffset, instantInZone, utcWall, zoneFromName, type WallTime } from './time-zones.js';

type Component = InstanceType<typeof ICAL.Component>;
type Property = InstanceType<typeof ICAL.Property>;
type Time = InstanceType<typeof ICAL.Time>;

export type { TimeWindow } from '../calendar-driver.js';
import type { TimeWindow } from '../calendar-driver.js';

export interface ParseOptions {
  /** Occurrences and events outside it are left out. */
  window: TimeWindow;
  /** The zone of floating times (no TZID, no Z) when the file names none (X-WR-TIMEZONE): the calendar's own. */
  defaultTimeZone?: string | null;
  /** Seed for the UID of an event that has none (the object's href), so it gets the same one every time. */
  fallbackUid?: string;
  /** Most occurrences of one series kept within the window (default 1,000). */
  maxOccurrences?: number;
}

export type AttendeeKind = 'individual' | 'group' | 'room' | 'resource' | 'unknown';

export interface ParsedPerson {
  /** Lower-cased. */
  address: string;
  name: string | null;
}

export interface ParsedAttendee extends ParsedPerson {
  /** PARTSTAT, lower-cased: needs-action, accepted, declined, tentative, delegated. */
  status: string | null;
  /** ROLE, lower-cased: chair, req-participant, opt-participant, non-participant. */
  role: string | null;
  /** CUTYPE, lower-cased; rooms and resources are places and things, never contacts. */
  kind: AttendeeKind;
}

export interface ParsedEvent {
  uid: string;
  /** '' for a single event; for an occurrence of a series, its original start (ISO instant, or YYYY-MM-DD all-day). */
  recurrenceId: string;
  title: string | null;
  description: string | null;
  location: string | null;
  /** Epoch milliseconds; all-day events start and end at UTC midnight of their dates. */
  start: number;
  end: number;
  allDay: boolean;
  /** STATUS, lower-cased: confirmed, tentative, cancelled. */
  status: string | null;
  organizer: ParsedPerson | null;
  attendees: ParsedAttendee[];
  sequence: number;
  /** TRANSP:TRANSPARENT — shown as free: it does not block time (booking pages ignore it). */
  transparent: boolean;
}

export interface ParseProblem {
  /** file: nothing could be read; event: an event was skipped; warning: read, with something left out or guessed. */
  severity: 'file' | 'event' | 'warning';
  uid: string | null;
  title: string | null;
  message: string;
}

export interface ParsedCalendar {
  events: ParsedEvent[];
  problems: ParseProblem[];
  /** The UIDs in the text. */
  uids: string[];
  /** true when another window may give other events (a series, or events after the window): keep the text. */
  windowDependent: boolean;
}

const DAY_MS = 86_400_000;
const MAX_ITERATIONS = 100_000;

interface ReadTime {
  instant: number;
  allDay: boolean;
}

type ZoneReader = (wall: WallTime) => number;

/** Reads times of one file: its VTIMEZONEs, its default zone, and a cache of resolved TZIDs. */
class TimeReader {
  private readonly vtimezones = new Map<string, Component>();
  private readonly readers = new Map<string, ZoneReader>();
  readonly warnings = new Set<string>();
  private readonly floating: ZoneReader;

  constructor(root: Component, defaultTimeZone: string | null | undefined) {
    for (const vtz of root.getAllSubcomponents('vtimezone')) {
      const id = String(vtz.getFirstPropertyValue('tzid') ?? '').trim();
      if (!this.vtimezones.has(id)) this.vtimezones.set(id, vtz);
    }
    const declared = [defaultTimeZone, stringValue(root.getFirstPropertyValue('x-wr-timezone'))]
      .map((z) => (z ? zoneFromName(z) : null))
      .find((z) => z !== null);
    this.floating =
      declared?.kind === 'iana'
        ? (wall) => instantInZone(wall, declared.name)
        : declared
          ? (wall) => instantAtOffset(wall, declared.offsetMinutes)
          : utcWall;
  }

  private reader(tzidRaw: string): ZoneReader {
    const tzid = tzidRaw.trim();
    const cached = this.readers.get(tzid);
    if (cached) return cached;
    const reader = this.resolve(tzid);
    this.readers.set(tzid, reader);
    return reader;
  }

  /**
   * A named zone (IANA, Windows) is trusted over the file's VTIMEZONE: exporters write stale or wrong rules under
   * well-known names. A custom VTIMEZONE comes next; an Outlook display name or bare offset after that.
   */
  private resolve(tzid: string): ZoneReader {
    if (tzid === '') return this.floating;
    const named = zoneFromName(tzid);
    if (named?.kind === 'iana' && isZoneId(tzid)) return (wall) => instantInZone(wall, named.name);
    const vtz = this.vtimezones.get(tzid);
    if (vtz) {
      try {
        const zone = new ICAL.Timezone(vtz);
        const reader: ZoneReader = (wall) => {
          const t = new ICAL.Time({ ...wall, isDate: false }, zone);
          const value = t.toUnixTime() * 1000;
          if (!Number.isFinite(value)) throw new Error(`time zone "${tzid}" could not place ${JSON.stringify(wall)}`);
          return value;
        };
        reader({ year: 2024, month: 1, day: 1, hour: 12, minute: 0, second: 0 });
        return reader;
      } catch {
        this.warnings.add(`the time zone definition "${tzid}" could not be read`);
      }
    }
    if (named?.kind === 'iana') return (wall) => instantInZone(wall, named.name);
    if (named?.kind === 'fixed') return (wall) => instantAtOffset(wall, named.offsetMinutes);
    this.warnings.add(`unknown time zone "${tzid}": its times were read in the calendar's default zone`);
    return this.floating;
  }

  /** The instant of a DATE or DATE-TIME value of `prop` (its first, or `value` when given). */
  read(prop: Property, value?: Time): ReadTime {
    if (value === undefined) checkRawDate(prop);
    const time = value ?? (prop.getFirstValue() as Time | null);
    if (!time || typeof time !== 'object' || !('year' in time))
      throw new Error(`${prop.name.toUpperCase()} has no date`);
    return this.instantOf(time, paramString(prop, 'tzid'));
  }

  instantOf(time: Time, tzid: string | null): ReadTime {
    const wall: WallTime = {
      year: time.year,
      month: time.month,
      day: time.day,
      hour: time.hour,
      minute: time.minute,
      second: time.second,
    };
    if (
      ![wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second].every(Number.isFinite) ||
      wall.month < 1 ||
      wall.month > 12 ||
      wall.day < 1 ||
      wall.day > 31
    ) {
      throw new Error(`unreadable date "${time.toString()}"`);
    }
    if (time.isDate) return { instant: Date.UTC(wall.year, wall.month - 1, wall.day), allDay: true };
    const isUtc = time.zone?.tzid === 'UTC' || time.toString().endsWith('Z');
    const instant = isUtc ? utcWall(wall) : tzid !== null ? this.reader(tzid)(wall) : this.floating(wall);
    if (!Number.isFinite(instant)) throw new Error(`unreadable date "${time.toString()}"`);
    return { instant, allDay: false };
  }
}

/** An IANA or Windows zone id, not a display name: only ids outrank the file's own definition. */
/** ical.js rolls impossible dates over (month 13 → next January); a calendar that wrote one is not to be guessed at. */
function checkRawDate(prop: Property): void {
  const raw = (prop as unknown as { jCal: unknown[] }).jCal[3];
  if (typeof raw !== 'string') return;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2}))?/.exec(raw);
  if (!m) throw new Error(`unreadable date "${raw}" in ${prop.name.toUpperCase()}`);
  const [month, day, hour, minute, second] = [m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || second > 60) {
    throw new Error(`impossible date "${raw}" in ${prop.name.toUpperCase()}`);
  }
}

function isZoneId(tzid: string): boolean {
  return !/^\(?\s*(utc|gmt)[+-]/i.test(tzid.trim()) && !/[,()]/.test(tzid);
}

function stringValue(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return null;
  return String(value);
}

function paramString(prop: Property, name: string): string | null {
  const value = prop.getParameter(name) as unknown;
  if (Array.isArray(value)) return value.length > 0 ? String(value[0]) : null;
  return typeof value === 'string' ? value : value === undefined || value === null ? null : String(value);
}

function text(comp: Component, name: string): string | null {
  const prop = comp.getFirstProperty(name);
  if (!prop) return null;
  const values = prop.getValues().map((v: unknown) => stringValue(v) ?? '');
  const joined = values.join(', ').trim();
  return joined === '' ? null : joined;
}

function cleanName(raw: string | null): string | null {
  if (!raw) return null;
  const name = raw
    .trim()
    .replace(/^["']+|["']+$/g, '')
    .trim();
  return name === '' ? null : name;
}

/** A CAL-ADDRESS property as a person: the mailto: address (or the EMAIL parameter when the value is not one). */
function person(prop: Property): ParsedPerson | null {
  const value = stringValue(prop.getFirstValue())?.trim() ?? '';
  const candidates = [value.replace(/^mailto:/i, ''), paramString(prop, 'email') ?? ''];
  for (const candidate of candidates) {
    let decoded = candidate.trim();
    try {
      if (decoded.includes('%')) decoded = decodeURIComponent(decoded);
    } catch {
      // Not percent-encoded after all.
    }
    const address = normalizeEmail(decoded);
    if (isValidEmail(address)) {
      const name = cleanName(paramString(prop, 'cn'));
      return { address, name: name && normalizeEmail(name) !== address ? name : null };
    }
  }
  return null;
}

const KINDS: ReadonlySet<string> = new Set(['individual', 'group', 'room', 'resource', 'unknown']);

function attendees(comp: Component): ParsedAttendee[] {
  const seen = new Set<string>();
  const result: ParsedAttendee[] = [];
  for (const prop of comp.getAllProperties('attendee')) {
    const who = person(prop);
    if (!who || seen.has(who.address)) continue;
    seen.add(who.address);
    const cutype = paramString(prop, 'cutype')?.toLowerCase() ?? 'individual';
    result.push({
      ...who,
      status: paramString(prop, 'partstat')?.toLowerCase() ?? null,
      role: paramString(prop, 'role')?.toLowerCase() ?? null,
      kind: (KINDS.has(cutype) ? cutype : 'unknown') as AttendeeKind,
    });
  }
  return result;
}

interface EventDetails {
  title: string | null;
  description: string | null;
  location: string | null;
  status: string | null;
  organizer: ParsedPerson | null;
  attendees: ParsedAttendee[];
  sequence: number;
  transparent: boolean;
}

function details(comp: Component): EventDetails {
  const organizerProp = comp.getFirstProperty('organizer');
  const sequence = Number(comp.getFirstPropertyValue('sequence') ?? 0);
  return {
    title: text(comp, 'summary'),
    description: text(comp, 'description'),
    location: text(comp, 'location'),
    status: text(comp, 'status')?.toLowerCase() ?? null,
    organizer: organizerProp ? person(organizerProp) : null,
    attendees: attendees(comp),
    sequence: Number.isFinite(sequence) ? sequence : 0,
    transparent: text(comp, 'transp')?.toUpperCase() === 'TRANSPARENT',
  };
}

/** Start and length of one VEVENT. */
function span(comp: Component, times: TimeReader): { start: ReadTime; durationMs: number } {
  const startProp = comp.getFirstProperty('dtstart');
  if (!startProp) throw new Error('the event has no start (DTSTART)');
  const start = times.read(startProp);
  const endProp = comp.getFirstProperty('dtend');
  let durationMs: number;
  if (endProp) {
    durationMs = times.read(endProp).instant - start.instant;
  } else {
    const duration = comp.getFirstPropertyValue('duration') as InstanceType<typeof ICAL.Duration> | null;
    durationMs =
      duration && typeof duration === 'object' && 'toSeconds' in duration
        ? duration.toSeconds() * 1000
        : start.allDay
          ? DAY_MS
          : 0;
  }
  if (!Number.isFinite(durationMs) || durationMs < 0) durationMs = start.allDay ? DAY_MS : 0;
  return { start, durationMs };
}

export function recurrenceKey(instant: number, allDay: boolean): string {
  const iso = new Date(instant).toISOString();
  return allDay ? iso.slice(0, 10) : iso;
}

function overlaps(start: number, end: number, window: TimeWindow): boolean {
  return start < window.end && Math.max(end, start + 1) > window.start;
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

function unfold(ics: string): string[] {
  return ics
    .replace(/\r\n|\r/g, '\n')
    .replace(/\n[ \t]/g, '')
    .split('\n');
}

/** Parses the text; when ical.js refuses it, drops the lines it cannot read one by one and tries again. */
function parseLeniently(ics: string, problems: ParseProblem[]): Component[] | null {
  const toComponents = (jcal: unknown): Component[] => {
    const roots = Array.isArray(jcal) && Array.isArray(jcal[0]) ? (jcal as unknown[]) : [jcal];
    const valid = roots.filter(
      (j): j is unknown[] => Array.isArray(j) && typeof j[0] === 'string' && Array.isArray(j[1]) && Array.isArray(j[2]),
    );
    if (valid.length === 0) throw new Error('no calendar in it (no BEGIN:VCALENDAR)');
    return valid.map((j) => new ICAL.Component(j));
  };
  try {
    return toComponents(ICAL.parse(ics));
  } catch (first) {
    const kept: string[] = [];
    let dropped = 0;
    for (const line of unfold(ics)) {
      if (line.trim() === '') continue;
      if (/^(BEGIN|END):/i.test(line)) {
        kept.push(line);
        continue;
      }
      try {
        ICAL.Property.fromString(line);
        kept.push(line);
      } catch {
        dropped++;
      }
    }
    if (dropped > 0) {
      try {
        const components = toComponents(ICAL.parse(kept.join('\r\n')));
        problems.push({
          severity: 'warning',
          uid: null,
          title: null,
          message: `${dropped} unreadable line(s) left out (${describe(first)})`,
        });
        return components;
      } catch {
        // Fall through: the file is unreadable.
      }
    }
    problems.push({
      severity: 'file',
      uid: null,
      title: null,
      message: `the calendar file could not be read: ${describe(first)}`,
    });
    return null;
  }
}

interface Group {
  uid: string;
  masters: Component[];
  overrides: Component[];
}

/**
 * The meetings in an iCalendar text, within `options.window`. Never throws for bad content: what cannot be read is
 * in `problems` (severity `file` when nothing could).
 */
export function parseEvents(ics: string, options: ParseOptions): ParsedCalendar {
  const problems: ParseProblem[] = [];
  const events: ParsedEvent[] = [];
  const uids: string[] = [];
  let windowDependent = false;
  const roots = parseLeniently(ics, problems);
  if (!roots) return { events, problems, uids, windowDependent };
  const maxOccurrences = options.maxOccurrences ?? 1_000;
  const window = options.window;

  for (const root of roots) {
    try {
      windowDependent = readRoot(root, options, window, maxOccurrences, events, problems, uids) || windowDependent;
    } catch (error) {
      problems.push({
        severity: 'file',
        uid: null,
        title: null,
        message: `the calendar could not be read: ${describe(error)}`,
      });
    }
  }
  return { events, problems, uids, windowDependent };
}

function readRoot(
  root: Component,
  options: ParseOptions,
  window: TimeWindow,
  maxOccurrences: number,
  events: ParsedEvent[],
  problems: ParseProblem[],
  uids: string[],
): boolean {
  let windowDependent = false;
  {
    const times = new TimeReader(root, options.defaultTimeZone);
    const vevents = root.name === 'vevent' ? [root] : root.getAllSubcomponents('vevent');
    const groups = new Map<string, Group>();
    vevents.forEach((vevent, index) => {
      let uid = stringValue(vevent.getFirstPropertyValue('uid'))?.trim() ?? '';
      if (!uid) {
        // Stable across syncs: the same object and position give the same UID.
        uid = `no-uid-${createHash('sha256')
          .update(`${options.fallbackUid ?? ''}#${index}`)
          .digest('hex')
          .slice(0, 32)}`;
      }
      let group = groups.get(uid);
      if (!group) {
        group = { uid, masters: [], overrides: [] };
        groups.set(uid, group);
        uids.push(uid);
      }
      (vevent.hasProperty('recurrence-id') ? group.overrides : group.masters).push(vevent);
    });

    for (const group of groups.values()) {
      const result = expandGroup(group, times, window, maxOccurrences, problems);
      events.push(...result.events);
      windowDependent ||= result.windowDependent;
    }
    for (const warning of times.warnings)
      problems.push({ severity: 'warning', uid: null, title: null, message: warning });
  }
  return windowDependent;
}

function expandGroup(
  group: Group,
  times: TimeReader,
  window: TimeWindow,
  maxOccurrences: number,
  problems: ParseProblem[],
): { events: ParsedEvent[]; windowDependent: boolean } {
  const events: ParsedEvent[] = [];
  let windowDependent = false;
  const skip = (comp: Component, error: unknown) =>
    problems.push({ severity: 'event', uid: group.uid, title: text(comp, 'summary'), message: describe(error) });

  // Overrides by the instant of the occurrence they replace.
  const overrides = new Map<number, { comp: Component; allDay: boolean }>();
  for (const comp of group.overrides) {
    try {
      const rid = times.read(comp.getFirstProperty('recurrence-id')!);
      overrides.set(rid.instant, { comp, allDay: rid.allDay });
    } catch (error) {
      skip(comp, error);
    }
  }
  const used = new Set<number>();
  const emitOverride = (recurrence: number, allDayId: boolean, comp: Component) => {
    const { start, durationMs } = span(comp, times);
    const d = details(comp);
    // A cancelled occurrence is one that does not happen.
    if (d.status === 'cancelled') return;
    const end = start.instant + durationMs;
    if (start.instant >= window.end) windowDependent = true;
    if (!overlaps(start.instant, end, window)) return;
    events.push({
      uid: group.uid,
      recurrenceId: recurrenceKey(recurrence, allDayId),
      start: start.instant,
      end,
      allDay: start.allDay,
      ...d,
    });
  };

  const [master, ...extra] = group.masters;
  for (const comp of extra)
    problems.push({
      severity: 'event',
      uid: group.uid,
      title: text(comp, 'summary'),
      message: 'a second event with the same UID was left out',
    });
  if (master) {
    try {
      const { start, durationMs } = span(master, times);
      const d = details(master);
      const recurring = master.hasProperty('rrule') || master.hasProperty('rdate');
      if (!recurring) {
        const end = start.instant + durationMs;
        if (start.instant >= window.end) windowDependent = true;
        if (overlaps(start.instant, end, window)) {
          events.push({ uid: group.uid, recurrenceId: '', start: start.instant, end, allDay: start.allDay, ...d });
        }
      } else {
        windowDependent = true;
        const tzid = paramString(master.getFirstProperty('dtstart')!, 'tzid');
        const excluded = new Set<number>();
        for (const prop of master.getAllProperties('exdate')) {
          for (const value of prop.getValues() as Time[]) {
            try {
              excluded.add(times.instantOf(value, paramString(prop, 'tzid')).instant);
            } catch {
              // An EXDATE that cannot be read excludes nothing.
            }
          }
        }
        const isExcluded = (instant: number, allDay: boolean): boolean =>
          excluded.has(instant) ||
          (allDay
            ? false
            : excluded.has(
                Date.UTC(
                  new Date(instant).getUTCFullYear(),
                  new Date(instant).getUTCMonth(),
                  new Date(instant).getUTCDate(),
                ),
              ));
        let count = 0;
        let iterations = 0;
        const emit = (instant: number) => {
          if (isExcluded(instant, start.allDay)) return;
          const override = overrides.get(instant);
          if (override) {
            used.add(instant);
            emitOverride(instant, start.allDay, override.comp);
            return;
          }
          const end = instant + durationMs;
          if (!overlaps(instant, end, window)) return;
          if (count >= maxOccurrences) return;
          count++;
          events.push({
            uid: group.uid,
            recurrenceId: recurrenceKey(instant, start.allDay),
            start: instant,
            end,
            allDay: start.allDay,
            ...d,
          });
        };
        try {
          const iterator = new ICAL.Event(master).iterator();
          for (;;) {
            const next = iterator.next();
            if (!next) break;
            if (++iterations > MAX_ITERATIONS) {
              problems.push({
                severity: 'warning',
                uid: group.uid,
                title: d.title,
                message: `the series was expanded only up to ${MAX_ITERATIONS} occurrences`,
              });
              break;
            }
            const at = times.instantOf(next, next.zone?.tzid === 'UTC' ? null : tzid);
            if (at.instant >= window.end) break;
            emit(at.instant);
            if (count >= maxOccurrences) {
              problems.push({
                severity: 'warning',
                uid: group.uid,
                title: d.title,
                message: `only the first ${maxOccurrences} occurrences in the window were kept`,
              });
              break;
            }
          }
        } catch (error) {
          // A recurrence rule that cannot be read: keep the first occurrence rather than nothing.
          problems.push({
            severity: 'warning',
            uid: group.uid,
            title: d.title,
            message: `the recurrence rule could not be read (${describe(error)}); only the first occurrence was kept`,
          });
          if (!events.some((e) => e.uid === group.uid && e.start === start.instant)) emit(start.instant);
        }
      }
    } catch (error) {
      skip(master, error);
    }
  }
  // Overrides of occurrences outside what was expanded (moved into the window, or with no master at all).
  for (const [instant, override] of overrides) {
    if (used.has(instant)) continue;
    try {
      emitOverride(instant, override.allDay, override.comp);
    } catch (error) {
      skip(override.comp, error);
    }
  }
  return { events, windowDependent };
}

/** The key (as ParsedEvent.recurrenceId) of the occurrence an override component replaces, or null. */
export function recurrenceIdOf(root: Component, override: Component, defaultTimeZone?: string | null): string | null {
  const prop = override.getFirstProperty('recurrence-id');
  if (!prop) return null;
  try {
    const at = new TimeReader(root, defaultTimeZone).read(prop);
    return recurrenceKey(at.instant, at.allDay);
  } catch {
    return null;
  }
}
