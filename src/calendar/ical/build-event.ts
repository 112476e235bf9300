// iCalendar text for what the CRM writes to a calendar: a new VEVENT (ORGANIZER = the account's address, the
// attendees, a stable UID, no METHOD: it is stored on the calendar, not sent as an invitation), and changes to
// an existing object — move/rename an event or one occurrence (an override with RECURRENCE-ID), cancel one
// occurrence (EXDATE) — that keep whatever else the object carries. Uses ical.js, so escaping and folding are right.
import ICAL from 'ical.js';
import type { DraftAttendee, EventChange, EventDraft } from '../calendar-driver.js';
import { normalizeEmail } from '../../contacts/email-address.js';
import { recurrenceIdOf } from './parse-events.js';
import { ianaZone, wallInZone } from './time-zones.js';

type Component = InstanceType<typeof ICAL.Component>;
type Time = InstanceType<typeof ICAL.Time>;

export const PRODID = '-//Conversa//Conversa CRM//EN';

function utc(ms: number): Time {
  return ICAL.Time.fromJSDate(new Date(ms), true);
}

function dateOnly(ms: number): Time {
  const d = new Date(ms);
  return ICAL.Time.fromData({
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    isDate: true,
  });
}

function timeValue(ms: number, allDay: boolean): Time {
  return allDay ? dateOnly(ms) : utc(ms);
}

function setTime(comp: Component, name: string, ms: number, allDay: boolean): void {
  comp.removeAllProperties(name);
  const prop = new ICAL.Property(name, comp);
  prop.setValue(timeValue(ms, allDay));
  comp.addProperty(prop);
}

function setText(comp: Component, name: string, value: string | null | undefined): void {
  comp.removeAllProperties(name);
  if (value !== null && value !== undefined && value.trim() !== '') comp.addPropertyWithValue(name, value);
}

function addPerson(
  comp: Component,
  name: 'organizer' | 'attendee',
  who: { address: string; name?: string | null },
  extra: Record<string, string> = {},
): void {
  const prop = new ICAL.Property(name, comp);
  if (who.name) prop.setParameter('cn', who.name);
  for (const [param, value] of Object.entries(extra)) prop.setParameter(param, value);
  prop.setValue(`mailto:${normalizeEmail(who.address)}`);
  comp.addProperty(prop);
}

const NEW_ATTENDEE = { cutype: 'INDIVIDUAL', role: 'REQ-PARTICIPANT', partstat: 'NEEDS-ACTION', rsvp: 'TRUE' };

function stamp(comp: Component, now: number): void {
  comp.updatePropertyWithValue('dtstamp', utc(now));
  comp.updatePropertyWithValue('last-modified', utc(now));
}

/** A new calendar object holding one event. */
export function buildEventIcs(draft: EventDraft, now: number = Date.now()): string {
  const calendar = new ICAL.Component('vcalendar');
  calendar.addPropertyWithValue('prodid', PRODID);
  calendar.addPropertyWithValue('version', '2.0');
  calendar.addPropertyWithValue('calscale', 'GREGORIAN');
  const event = new ICAL.Component('vevent', calendar);
  event.addPropertyWithValue('uid', draft.uid);
  event.addPropertyWithValue('dtstamp', utc(now));
  event.addPropertyWithValue('created', utc(now));
  event.addPropertyWithValue('last-modified', utc(now));
  event.addPropertyWithValue('sequence', 0);
  event.addPropertyWithValue('status', 'CONFIRMED');
  setTime(event, 'dtstart', draft.start, draft.allDay ?? false);
  setTime(event, 'dtend', draft.end, draft.allDay ?? false);
  setText(event, 'summary', draft.title);
  setText(event, 'location', draft.location);
  setText(event, 'description', draft.description);
  addPerson(event, 'organizer', draft.organizer);
  // The organizer attends their own meeting; clients show its PARTSTAT as "going".
  addPerson(event, 'attendee', draft.organizer, { cutype: 'INDIVIDUAL', role: 'CHAIR', partstat: 'ACCEPTED' });
  const seen = new Set([normalizeEmail(draft.organizer.address)]);
  for (const attendee of draft.attendees) {
    const address = normalizeEmail(attendee.address);
    if (seen.has(address)) continue;
    seen.add(address);
    addPerson(event, 'attendee', { ...attendee, address }, NEW_ATTENDEE);
  }
  calendar.addSubcomponent(event);
  return calendar.toString();
}

function replaceAttendees(comp: Component, attendees: DraftAttendee[], organizer: string | null): void {
  const existing = new Map<string, InstanceType<typeof ICAL.Property>>();
  for (const prop of comp.getAllProperties('attendee')) {
    const value = String(prop.getFirstValue() ?? '').replace(/^mailto:/i, '');
    existing.set(normalizeEmail(value), prop);
  }
  comp.removeAllProperties('attendee');
  const wanted = new Set(attendees.map((a) => normalizeEmail(a.address)));
  // The organizer's own line stays even when the caller's list leaves it out.
  if (organizer && existing.has(organizer)) wanted.add(organizer);
  for (const address of wanted) {
    const kept = existing.get(address);
    if (kept) comp.addProperty(kept);
    else
      addPerson(
        comp,
        'attendee',
        { address, name: attendees.find((a) => normalizeEmail(a.address) === address)?.name ?? null },
        NEW_ATTENDEE,
      );
  }
}

function bumpSequence(comp: Component): void {
  const sequence = Number(comp.getFirstPropertyValue('sequence') ?? 0);
  comp.updatePropertyWithValue('sequence', (Number.isFinite(sequence) ? sequence : 0) + 1);
}

function parseRoot(ics: string): Component {
  return new ICAL.Component(ICAL.parse(ics) as unknown[]);
}

function findParts(
  root: Component,
  recurrenceId: string,
  defaultTimeZone: string | null,
): { master: Component | null; override: Component | null } {
  const vevents = root.getAllSubcomponents('vevent');
  const master = vevents.find((v) => !v.hasProperty('recurrence-id')) ?? null;
  const override =
    recurrenceId === ''
      ? null
      : (vevents.find(
          (v) => v.hasProperty('recurrence-id') && recurrenceIdOf(root, v, defaultTimeZone) === recurrenceId,
        ) ?? null);
  return { master, override };
}

export interface Occurrence {
  /** '' for a single event. */
  recurrenceId: string;
  start: number;
  end: number;
  allDay: boolean;
}

/**
 * The object with an event (or one occurrence of a series) moved, renamed, relocated or re-invited. A change to one
 * occurrence becomes (or updates) an override with its RECURRENCE-ID; SEQUENCE goes up as RFC 5545 asks.
 */
export function applyEventChange(
  ics: string,
  occurrence: Occurrence,
  change: EventChange,
  options: { now?: number; defaultTimeZone?: string | null } = {},
): string {
  const now = options.now ?? Date.now();
  const root = parseRoot(ics);
  const { master, override } = findParts(root, occurrence.recurrenceId, options.defaultTimeZone ?? null);
  let target: Component | null = occurrence.recurrenceId === '' ? master : override;
  if (!target && occurrence.recurrenceId !== '' && master) {
    // A new override: the master's properties, without its rule, at the occurrence's time.
    target = ICAL.Component.fromString(master.toString());
    for (const name of ['rrule', 'rdate', 'exdate', 'recurrence-id']) target.removeAllProperties(name);
    const rid = new ICAL.Property('recurrence-id', target);
    rid.setValue(timeValue(occurrence.start, occurrence.allDay));
    target.addProperty(rid);
    setTime(target, 'dtstart', occurrence.start, occurrence.allDay);
    target.removeAllProperties('duration');
    setTime(target, 'dtend', occurrence.end, occurrence.allDay);
    root.addSubcomponent(target);
  }
  if (!target) throw new Error('the event to change is not in the calendar object');
  if (change.title !== undefined) setText(target, 'summary', change.title);
  if (change.location !== undefined) setText(target, 'location', change.location);
  if (change.start !== undefined || change.end !== undefined) {
    const start = change.start ?? occurrence.start;
    const end =
      change.end ?? (change.start !== undefined ? change.start + (occurrence.end - occurrence.start) : occurrence.end);
    target.removeAllProperties('duration');
    setTime(target, 'dtstart', start, occurrence.allDay);
    setTime(target, 'dtend', end, occurrence.allDay);
  }
  if (change.attendees !== undefined) {
    const organizer = String(target.getFirstPropertyValue('organizer') ?? '').replace(/^mailto:/i, '');
    replaceAttendees(target, change.attendees, organizer ? normalizeEmail(organizer) : null);
  }
  bumpSequence(target);
  stamp(target, now);
  return root.toString();
}

/**
 * The object with one occurrence cancelled (an EXDATE on the series, its override removed), or null when nothing
 * would be left (a single event, or a lone override): then the whole object is to be deleted.
 */
export function cancelOccurrence(
  ics: string,
  occurrence: Occurrence,
  options: { now?: number; defaultTimeZone?: string | null } = {},
): string | null {
  if (occurrence.recurrenceId === '') return null;
  const root = parseRoot(ics);
  const { master, override } = findParts(root, occurrence.recurrenceId, options.defaultTimeZone ?? null);
  if (override) root.removeSubcomponent(override);
  if (!master) return root.getAllSubcomponents('vevent').length > 0 ? root.toString() : null;
  const original = occurrence.allDay
    ? Date.parse(`${occurrence.recurrenceId}T00:00:00Z`)
    : Date.parse(occurrence.recurrenceId);
  const exdate = new ICAL.Property('exdate', master);
  exdate.setValue(timeValue(Number.isFinite(original) ? original : occurrence.start, occurrence.allDay));
  master.addProperty(exdate);
  bumpSequence(master);
  stamp(master, options.now ?? Date.now());
  return root.toString();
}

/** A point in time as an API gives it: an instant, a whole day, or an instant to be written in a named zone. */
export interface SpecTime {
  instant: number;
  allDay: boolean;
  /** IANA zone to write the wall-clock time in (a series expands in its zone's local time); UTC when absent. */
  zone?: string | null;
}

export interface VEventSpec {
  uid: string;
  recurrenceId?: SpecTime | null;
  start: SpecTime;
  end: SpecTime;
  title?: string | null;
  location?: string | null;
  description?: string | null;
  /** confirmed, tentative, cancelled. */
  status?: string | null;
  organizer?: { address: string; name?: string | null } | null;
  attendees?: Array<{
    address: string;
    name?: string | null;
    partstat?: string | null;
    cutype?: string | null;
    role?: string | null;
  }>;
  /** Recurrence lines as RFC 5545 writes them ("RRULE:FREQ=WEEKLY", "EXDATE;TZID=Europe/Berlin:20240101T090000"). */
  recurrence?: string[];
  sequence?: number;
}

function zonedTime(comp: Component, name: string, time: SpecTime): void {
  comp.removeAllProperties(name);
  if (time.allDay || !time.zone || !ianaZone(time.zone)) {
    const prop = new ICAL.Property(name, comp);
    prop.setValue(timeValue(time.instant, time.allDay));
    comp.addProperty(prop);
    return;
  }
  const wall = wallInZone(time.instant, time.zone);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const text = `${pad(wall.year, 4)}${pad(wall.month)}${pad(wall.day)}T${pad(wall.hour)}${pad(wall.minute)}${pad(wall.second)}`;
  comp.addProperty(ICAL.Property.fromString(`${name.toUpperCase()};TZID=${time.zone}:${text}`));
}

/**
 * One calendar object (one UID: a master and its overrides, or lone overrides) from the fields an API gives, so
 * events of Google or Microsoft go through the same reading (zones, series, overrides) as CalDAV's.
 */
export function buildCalendarIcs(events: VEventSpec[]): string {
  const calendar = new ICAL.Component('vcalendar');
  calendar.addPropertyWithValue('prodid', PRODID);
  calendar.addPropertyWithValue('version', '2.0');
  for (const spec of events) {
    const event = new ICAL.Component('vevent', calendar);
    event.addPropertyWithValue('uid', spec.uid);
    if (spec.recurrenceId) zonedTime(event, 'recurrence-id', spec.recurrenceId);
    zonedTime(event, 'dtstart', spec.start);
    zonedTime(event, 'dtend', spec.end);
    setText(event, 'summary', spec.title);
    setText(event, 'location', spec.location);
    setText(event, 'description', spec.description);
    if (spec.status) event.addPropertyWithValue('status', spec.status.toUpperCase());
    if (spec.sequence !== undefined) event.addPropertyWithValue('sequence', spec.sequence);
    if (spec.organizer?.address) addPerson(event, 'organizer', spec.organizer);
    for (const a of spec.attendees ?? []) {
      if (!a.address) continue;
      const params: Record<string, string> = {};
      if (a.cutype) params.cutype = a.cutype.toUpperCase();
      if (a.role) params.role = a.role.toUpperCase();
      if (a.partstat) params.partstat = a.partstat.toUpperCase();
      addPerson(event, 'attendee', { address: a.address, name: a.name ?? null }, params);
    }
    for (const line of spec.recurrence ?? []) {
      try {
        event.addProperty(ICAL.Property.fromString(line.trim()));
      } catch {
        // A rule line the service wrote that iCalendar cannot hold: the reader reports the series as unreadable.
        event.addPropertyWithValue('x-conversa-unreadable-recurrence', line);
      }
    }
    calendar.addSubcomponent(event);
  }
  return calendar.toString();
}
