// Reading iCalendar text: zones (VTIMEZONE, IANA, Windows and Outlook names), all-day, people (PARTSTAT, rooms),
// series expanded within the window with overrides and EXDATEs, and broken content skipped and recorded; then
// every file of the shared corpus, read without a crash.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseEvents } from '../../src/calendar/ical/parse-events.js';
import { buildEventIcs, applyEventChange, cancelOccurrence } from '../../src/calendar/ical/build-event.js';
import { zoneFromName } from '../../src/calendar/ical/time-zones.js';

const WIDE = { start: Date.UTC(2000, 0, 1), end: Date.UTC(2035, 0, 1) };
const iso = (ms: number) => new Date(ms).toISOString();

function calendar(...lines: string[]): string {
  return ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
}

describe('time zones', () => {
  it('reads Windows zone names as their IANA zones, summer and winter', () => {
    const ics = calendar(
      'BEGIN:VEVENT',
      'UID:w1',
      'DTSTART;TZID=E. South America Standard Time:20240115T100000',
      'DTEND;TZID=E. South America Standard Time:20240115T110000',
      'SUMMARY:São Paulo',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:w2',
      'DTSTART;TZID="Pacific Standard Time":20240701T090000',
      'DTEND;TZID="Pacific Standard Time":20240701T093000',
      'SUMMARY:Seattle summer',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:w3',
      'DTSTART;TZID=Pacific Standard Time:20240115T090000',
      'DURATION:PT45M',
      'SUMMARY:Seattle winter',
      'END:VEVENT',
    );
    const { events, problems } = parseEvents(ics, { window: WIDE });
    expect(problems).toEqual([]);
    const byUid = Object.fromEntries(events.map((e) => [e.uid, e]));
    expect(iso(byUid.w1!.start)).toBe('2024-01-15T13:00:00.000Z');
    expect(iso(byUid.w1!.end)).toBe('2024-01-15T14:00:00.000Z');
    expect(iso(byUid.w2!.start)).toBe('2024-07-01T16:00:00.000Z');
    expect(iso(byUid.w3!.start)).toBe('2024-01-15T17:00:00.000Z');
    expect(iso(byUid.w3!.end)).toBe('2024-01-15T17:45:00.000Z');
  });

  it('maps names as calendars write them', () => {
    expect(zoneFromName('Europe/Berlin')).toEqual({ kind: 'iana', name: 'Europe/Berlin' });
    expect(zoneFromName('/mozilla.org/20050126_1/America/New_York')).toEqual({
      kind: 'iana',
      name: 'America/New_York',
    });
    expect(zoneFromName('W. Europe Standard Time')).toEqual({ kind: 'iana', name: 'Europe/Berlin' });
    expect(zoneFromName('(UTC-05:00) Eastern Time (US & Canada)')).toEqual({ kind: 'iana', name: 'America/New_York' });
    expect(zoneFromName('(UTC-03:00) Brasília')).toEqual({ kind: 'iana', name: 'America/Sao_Paulo' });
    expect(zoneFromName('(GMT+05:45) Somewhere Unknown')).toEqual({ kind: 'fixed', offsetMinutes: 345 });
    expect(zoneFromName('Customized Time Zone')).toBeNull();
  });

  it("uses a file's own VTIMEZONE for a custom zone, and the calendar's zone for floating times", () => {
    const ics = calendar(
      'X-WR-TIMEZONE:America/Sao_Paulo',
      'BEGIN:VTIMEZONE',
      'TZID:Office time',
      'BEGIN:STANDARD',
      'DTSTART:19700101T000000',
      'TZOFFSETFROM:+0530',
      'TZOFFSETTO:+0530',
      'END:STANDARD',
      'END:VTIMEZONE',
      'BEGIN:VEVENT',
      'UID:custom',
      'DTSTART;TZID=Office time:20240301T120000',
      'DTEND;TZID=Office time:20240301T130000',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:floating',
      'DTSTART:20240301T120000',
      'DTEND:20240301T130000',
      'END:VEVENT',
    );
    const events = Object.fromEntries(parseEvents(ics, { window: WIDE }).events.map((e) => [e.uid, e]));
    expect(iso(events.custom!.start)).toBe('2024-03-01T06:30:00.000Z');
    expect(iso(events.floating!.start)).toBe('2024-03-01T15:00:00.000Z');
  });

  it('reads all-day events as whole dates', () => {
    const ics = calendar(
      'BEGIN:VEVENT',
      'UID:day',
      'DTSTART;VALUE=DATE:20240510',
      'DTEND;VALUE=DATE:20240512',
      'SUMMARY:Fair',
      'END:VEVENT',
    );
    const [event] = parseEvents(ics, { window: WIDE }).events;
    expect(event).toMatchObject({ allDay: true, title: 'Fair' });
    expect(iso(event!.start)).toBe('2024-05-10T00:00:00.000Z');
    expect(iso(event!.end)).toBe('2024-05-12T00:00:00.000Z');
  });
});

describe('people', () => {
  it('reads organizer, attendees with PARTSTAT, and marks rooms and resources', () => {
    const ics = calendar(
      'BEGIN:VEVENT',
      'UID:people',
      'DTSTART:20240301T120000Z',
      'DTEND:20240301T130000Z',
      'ORGANIZER;CN="Ana Lima":mailto:Ana@Client.test',
      'ATTENDEE;CN=Bruno;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT:MAILTO:bruno@client.test',
      'ATTENDEE;PARTSTAT=DECLINED:mailto:carla@client.test',
      'ATTENDEE;CUTYPE=ROOM;CN=Sala 3:mailto:sala3@rooms.client.test',
      'ATTENDEE;CUTYPE=RESOURCE;CN=Projector:mailto:projector@client.test',
      'ATTENDEE;CN="x";EMAIL=dora@client.test:urn:uuid:1234',
      'END:VEVENT',
    );
    const [event] = parseEvents(ics, { window: WIDE }).events;
    expect(event!.organizer).toEqual({ address: 'ana@client.test', name: 'Ana Lima' });
    expect(event!.attendees).toEqual([
      { address: 'bruno@client.test', name: 'Bruno', status: 'accepted', role: 'req-participant', kind: 'individual' },
      { address: 'carla@client.test', name: null, status: 'declined', role: null, kind: 'individual' },
      { address: 'sala3@rooms.client.test', name: 'Sala 3', status: null, role: null, kind: 'room' },
      { address: 'projector@client.test', name: 'Projector', status: null, role: null, kind: 'resource' },
      { address: 'dora@client.test', name: 'x', status: null, role: null, kind: 'individual' },
    ]);
  });
});

describe('recurring events', () => {
  const series = calendar(
    'BEGIN:VEVENT',
    'UID:weekly',
    'DTSTART;TZID=Europe/Berlin:20240304T090000',
    'DTEND;TZID=Europe/Berlin:20240304T100000',
    'RRULE:FREQ=WEEKLY;COUNT=6',
    'EXDATE;TZID=Europe/Berlin:20240318T090000',
    'SUMMARY:Weekly sync',
    'END:VEVENT',
    'BEGIN:VEVENT',
    'UID:weekly',
    'RECURRENCE-ID;TZID=Europe/Berlin:20240325T090000',
    'DTSTART;TZID=Europe/Berlin:20240326T150000',
    'DTEND;TZID=Europe/Berlin:20240326T160000',
    'SUMMARY:Weekly sync (moved)',
    'END:VEVENT',
    'BEGIN:VEVENT',
    'UID:weekly',
    'RECURRENCE-ID:20240401T070000Z',
    'DTSTART;TZID=Europe/Berlin:20240401T090000',
    'STATUS:CANCELLED',
    'END:VEVENT',
  );

  it('expands a series with its EXDATE, a moved occurrence and a cancelled one, across a DST change', () => {
    const { events, problems, windowDependent } = parseEvents(series, { window: WIDE });
    expect(problems).toEqual([]);
    expect(windowDependent).toBe(true);
    expect(events.map((e) => [e.recurrenceId, iso(e.start), e.title])).toEqual([
      ['2024-03-04T08:00:00.000Z', '2024-03-04T08:00:00.000Z', 'Weekly sync'],
      ['2024-03-11T08:00:00.000Z', '2024-03-11T08:00:00.000Z', 'Weekly sync'],
      // 18 March: excluded. 25 March: moved to the 26th, 15:00 Berlin (summer time by then).
      ['2024-03-25T08:00:00.000Z', '2024-03-26T14:00:00.000Z', 'Weekly sync (moved)'],
      // 1 April: cancelled. 8 April: summer time, 09:00 Berlin = 07:00 UTC.
      ['2024-04-08T07:00:00.000Z', '2024-04-08T07:00:00.000Z', 'Weekly sync'],
    ]);
  });

  it('keeps only the occurrences inside the window', () => {
    const window = { start: Date.UTC(2024, 2, 10), end: Date.UTC(2024, 2, 27) };
    const { events } = parseEvents(series, { window });
    expect(events.map((e) => iso(e.start))).toEqual(['2024-03-11T08:00:00.000Z', '2024-03-26T14:00:00.000Z']);
  });

  it('caps an endless series', () => {
    const ics = calendar(
      'BEGIN:VEVENT',
      'UID:daily',
      'DTSTART:20240101T090000Z',
      'DURATION:PT15M',
      'RRULE:FREQ=DAILY',
      'END:VEVENT',
    );
    const { events, problems } = parseEvents(ics, {
      window: { start: Date.UTC(2024, 0, 1), end: Date.UTC(2034, 0, 1) },
      maxOccurrences: 50,
    });
    expect(events).toHaveLength(50);
    expect(problems.map((p) => p.severity)).toEqual(['warning']);
  });
});

describe('broken content', () => {
  it('skips and records an event that cannot be read, and keeps the others', () => {
    const ics = calendar(
      'BEGIN:VEVENT',
      'UID:good',
      'DTSTART:20240301T120000Z',
      'DTEND:20240301T130000Z',
      'SUMMARY:Good',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:nostart',
      'SUMMARY:No start',
      'END:VEVENT',
      'BEGIN:VEVENT',
      'UID:baddate',
      'DTSTART:20241399T990000Z',
      'SUMMARY:Bad date',
      'END:VEVENT',
    );
    const { events, problems } = parseEvents(ics, { window: WIDE });
    expect(events.map((e) => e.uid)).toEqual(['good']);
    expect(
      problems
        .filter((p) => p.severity === 'event')
        .map((p) => p.uid)
        .sort(),
    ).toEqual(['baddate', 'nostart']);
  });

  it('drops an unreadable line and reads the rest; reports a file with nothing readable', () => {
    const lenient = parseEvents(
      calendar(
        'BEGIN:VEVENT',
        'UID:x',
        'ORGANIZER;CN=Broken Line',
        'DTSTART:20240301T120000Z',
        'SUMMARY:Still here',
        'END:VEVENT',
      ),
      { window: WIDE },
    );
    expect(lenient.events.map((e) => e.title)).toEqual(['Still here']);
    expect(lenient.problems.map((p) => p.severity)).toEqual(['warning']);

    const garbage = parseEvents('this is not a calendar at all', { window: WIDE });
    expect(garbage.events).toEqual([]);
    expect(garbage.problems.map((p) => p.severity)).toEqual(['file']);
  });

  it('gives an event without UID a UID that is the same every time', () => {
    const ics = calendar('BEGIN:VEVENT', 'DTSTART:20240301T120000Z', 'SUMMARY:No uid', 'END:VEVENT');
    const a = parseEvents(ics, { window: WIDE, fallbackUid: 'https://dav/x.ics' }).events[0]!.uid;
    const b = parseEvents(ics, { window: WIDE, fallbackUid: 'https://dav/x.ics' }).events[0]!.uid;
    expect(a).toBe(b);
    expect(a).toMatch(/^no-uid-/);
  });
});

describe('events written by the CRM', () => {
  const draft = {
    uid: 'crm-1@conversa',
    title: 'Demo, with a comma; and more',
    start: Date.UTC(2024, 5, 3, 14),
    end: Date.UTC(2024, 5, 3, 15),
    location: 'Room 1',
    organizer: { address: 'seller@us.test', name: 'Sam Seller' },
    attendees: [{ address: 'Ana@Client.test' }, { address: 'seller@us.test' }],
  };

  it('builds a METHOD-less VEVENT with organizer and attendees that reads back the same', () => {
    const ics = buildEventIcs(draft).replace(/\r\n[ \t]/g, '');
    expect(ics).not.toMatch(/^METHOD:/m);
    expect(ics).toMatch(/^ORGANIZER;CN=Sam Seller:mailto:seller@us\.test\r?$/m);
    expect(ics).toMatch(/^ATTENDEE;.*mailto:ana@client\.test\r?$/m);
    const [event] = parseEvents(ics, { window: WIDE }).events;
    expect(event).toMatchObject({
      uid: 'crm-1@conversa',
      title: draft.title,
      location: 'Room 1',
      start: draft.start,
      end: draft.end,
    });
    expect(event!.attendees.map((a) => a.address)).toEqual(['seller@us.test', 'ana@client.test']);
  });

  it('moves one occurrence of a series as an override, and cancels another with an EXDATE', () => {
    const series = buildEventIcs({ ...draft, uid: 'series@conversa' }).replace(
      'SEQUENCE:0',
      'SEQUENCE:0\r\nRRULE:FREQ=DAILY;COUNT=5',
    );
    const second = Date.UTC(2024, 5, 4, 14);
    const occurrence = { recurrenceId: iso(second), start: second, end: second + 3_600_000, allDay: false };
    const moved = applyEventChange(series, occurrence, { start: Date.UTC(2024, 5, 4, 18), title: 'Moved' });
    const afterMove = parseEvents(moved, { window: WIDE }).events;
    expect(afterMove).toHaveLength(5);
    expect(afterMove.find((e) => e.recurrenceId === iso(second))).toMatchObject({
      title: 'Moved',
      start: Date.UTC(2024, 5, 4, 18),
      end: Date.UTC(2024, 5, 4, 19),
    });

    const third = Date.UTC(2024, 5, 5, 14);
    const cancelled = cancelOccurrence(moved, {
      recurrenceId: iso(third),
      start: third,
      end: third + 3_600_000,
      allDay: false,
    });
    const afterCancel = parseEvents(cancelled!, { window: WIDE }).events;
    expect(afterCancel.map((e) => e.recurrenceId)).not.toContain(iso(third));
    expect(afterCancel).toHaveLength(4);
    // Cancelling the moved occurrence removes its override too.
    const again = cancelOccurrence(cancelled!, occurrence);
    expect(parseEvents(again!, { window: WIDE }).events.map((e) => e.title)).not.toContain('Moved');
  });
});

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpusDir = path.resolve(repoRoot, '..', 'shared', 'corpus', 'ics');

describe('the shared corpus', () => {
  it('reads every calendar without a crash and says what it could not read', (ctx) => {
    if (!fs.existsSync(corpusDir)) {
      console.warn(`[calendar corpus] ${corpusDir} is missing: skipped`);
      ctx.skip();
      return;
    }
    const files = fs
      .readdirSync(corpusDir)
      .filter((f) => f.endsWith('.ics'))
      .sort();
    let events = 0;
    const unreadableFiles: string[] = [];
    const unreadableEvents: string[] = [];
    for (const file of files) {
      const result = parseEvents(fs.readFileSync(path.join(corpusDir, file), 'utf8'), {
        window: WIDE,
        fallbackUid: file,
        maxOccurrences: 100,
      });
      events += result.events.length;
      for (const e of result.events) {
        expect(Number.isFinite(e.start) && Number.isFinite(e.end) && e.end >= e.start, `${file} ${e.uid}`).toBe(true);
      }
      if (result.problems.some((p) => p.severity === 'file')) unreadableFiles.push(file);
      for (const p of result.problems.filter((q) => q.severity === 'event'))
        unreadableEvents.push(`${file}: ${p.uid} (${p.message})`);
    }
    console.info(
      `[calendar corpus, parser] ${files.length} files, ${events} events read (series capped at 100), ` +
        `${unreadableFiles.length} files unreadable${unreadableFiles.length ? ` (${unreadableFiles.join(', ')})` : ''}, ` +
        `${unreadableEvents.length} events unreadable${unreadableEvents.length ? `:\n  ${unreadableEvents.join('\n  ')}` : ''}`,
    );
    expect(files.length).toBeGreaterThan(0);
    expect(events).toBeGreaterThan(0);
  });

  it('reads the zones of the corpus as the calendars meant them', (ctx) => {
    if (!fs.existsSync(corpusDir)) {
      ctx.skip();
      return;
    }
    const startOf = (file: string, title: string) => {
      const result = parseEvents(fs.readFileSync(path.join(corpusDir, file), 'utf8'), {
        window: WIDE,
        fallbackUid: file,
      });
      const event = result.events.find((e) => e.title === title);
      expect(event, `${file}: ${title}`).toBeDefined();
      return iso(event!.start);
    };
    // Windows name with a wrong VTIMEZONE under it: the name wins (Auckland, summer time +13).
    expect(startOf('khal-tz_windows_format.ics', 'Event with Windows TZ name')).toBe('2019-11-20T00:00:00.000Z');
    // Outlook display names without VTIMEZONE.
    expect(startOf('nodeical-Office-2012-owa.ics', 'TEST Syd')).toBe('2020-10-28T02:30:00.000Z');
    expect(startOf('nodeical-Office-2012-owa.ics', 'TEST')).toBe('2020-10-28T17:30:00.000Z');
    // A custom VTIMEZONE with an ambiguous transition (RFC 5545: the earlier offset).
    expect(startOf('pyical-issue_722_timezone_transition_ambiguity.ics', 'This event is clearly in summer')).toBe(
      '2024-08-02T22:00:00.000Z',
    );
    // Windows name with a VTIMEZONE starting in year 1.
    expect(startOf('nodeical-vtimezone-year-0001-dtstart.ics', 'Test event with year-0001 VTIMEZONE')).toBe(
      '2024-06-01T08:00:00.000Z',
    );
  });
});
