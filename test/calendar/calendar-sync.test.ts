// Calendar sync against a real CalDAV server (Radicale), through the API as a user would: a mailbox connected
// with a CalDAV URL brings its meetings onto the right contacts; changes made in the calendar arrive at the next
// sync; attendees become contacts only with the setting on; a meeting made in the CRM lands on the calendar with
// its attendees; a calendar that refuses the credentials never touches the mail; and the shared corpus of
// real-world calendars, put on the server, syncs without stopping the sync.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCalendarConversa, type CalendarConversa } from '../support/calendar-conversa.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot, useRadicale, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const dovecot = useDovecot();
const radicale = useRadicale();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** iCalendar basic format, UTC: 20250301T140000Z. */
function icsTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function vevent(o: {
  uid: string;
  title: string;
  start: number;
  end: number;
  organizer?: string;
  attendees?: string[];
  extra?: string[];
}): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Conversa tests//EN',
    'BEGIN:VEVENT',
    `UID:${o.uid}`,
    `DTSTAMP:${icsTime(Date.now())}`,
    `DTSTART:${icsTime(o.start)}`,
    `DTEND:${icsTime(o.end)}`,
    `SUMMARY:${o.title}`,
    ...(o.organizer ? [`ORGANIZER:mailto:${o.organizer}`] : []),
    ...(o.attendees ?? []),
    ...(o.extra ?? []),
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

interface Mailbox {
  creds: Credentials;
  auth: string;
  calendarUrl: string;
}

/** A Dovecot user and a Radicale user with the same name and password, with one calendar "work". */
async function mailboxWithCalendar(options: { radicalePassword?: string } = {}): Promise<Mailbox> {
  const creds = await dovecot.addUser();
  const radicaleCreds = await radicale.addUser({
    user: creds.user,
    password: options.radicalePassword ?? creds.password,
  });
  const calendarUrl = `${radicale.principalUrl(creds.user)}work/`;
  const mk = await fetch(calendarUrl, {
    method: 'MKCALENDAR',
    headers: { Authorization: radicale.authHeader(radicaleCreds) },
  });
  await mk.arrayBuffer();
  expect(mk.status).toBe(201);
  return { creds, auth: radicale.authHeader(radicaleCreds), calendarUrl };
}

async function put(mailbox: Mailbox, name: string, ics: string): Promise<void> {
  const res = await fetch(`${mailbox.calendarUrl}${name}`, {
    method: 'PUT',
    headers: { Authorization: mailbox.auth, 'Content-Type': 'text/calendar; charset=utf-8' },
    body: ics,
  });
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
}

async function remove(mailbox: Mailbox, name: string): Promise<void> {
  const res = await fetch(`${mailbox.calendarUrl}${name}`, {
    method: 'DELETE',
    headers: { Authorization: mailbox.auth },
  });
  await res.arrayBuffer();
  expect(res.status).toBeLessThan(300);
}

async function connect(
  conversa: CalendarConversa,
  mailbox: Mailbox,
  token?: string,
  caldavUrl = radicale.principalUrl(mailbox.creds.user),
): Promise<string> {
  const res = await conversa.api(
    'POST',
    '/api/email-accounts',
    dovecotAccountBody(dovecot, mailbox.creds, { caldavUrl }),
    token,
  );
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** Waits for a calendar pass that finished after `since` (default: now). */
async function calendarSynced(
  conversa: CalendarConversa,
  accountId: string,
  since = Date.now(),
  token?: string,
): Promise<any> {
  return waitFor(
    `calendar of ${accountId} synced`,
    async () => {
      const res = await conversa.api('GET', `/api/email-accounts/${accountId}/calendar`, undefined, token);
      const health = res.body;
      if (health?.status === 'needs_reconnect') throw new Error(`calendar needs_reconnect: ${health.detail}`);
      return health?.status === 'active' && Date.parse(health.syncedAt) >= since ? health : false;
    },
    30_000,
    50,
  );
}

async function syncNow(conversa: CalendarConversa, accountId: string, token?: string): Promise<void> {
  const since = Date.now();
  const res = await conversa.api('POST', `/api/email-accounts/${accountId}/calendar-sync`, undefined, token);
  expect(res.status).toBe(202);
  await calendarSynced(conversa, accountId, since, token);
}

async function newContact(conversa: CalendarConversa, email: string, token?: string): Promise<string> {
  const res = await conversa.api('POST', '/api/contacts', { emails: [email], firstName: email.split('@')[0] }, token);
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function contactMeetings(conversa: CalendarConversa, contactId: string, token?: string): Promise<any[]> {
  const res = await conversa.api('GET', `/api/contacts/${contactId}/meetings`, undefined, token);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

const tag = () => randomBytes(4).toString('hex');
/** Now plus `ms`, on a whole minute (iCalendar times have no milliseconds). */
const inFuture = (ms: number) => Math.floor((Date.now() + ms) / 60_000) * 60_000;

describe.each(DIALECTS)('calendar sync with Radicale on %s', (dialect) => {
  let conversa: CalendarConversa;
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startCalendarConversa({ intervalMs: 60_000, database });
  });
  afterAll(async () => {
    await conversa?.stop();
    await database?.destroy();
  });

  it('documents the meeting routes in the OpenAPI document', () => {
    const paths = (conversa.openApi as { paths: Record<string, Record<string, unknown>> }).paths;
    expect(Object.keys(paths['/api/meetings'] ?? {}).sort()).toEqual(['get', 'post']);
    expect(Object.keys(paths['/api/meetings/{id}'] ?? {}).sort()).toEqual(['delete', 'get', 'patch']);
    expect(paths['/api/contacts/{id}/meetings']).toBeDefined();
    expect(paths['/api/email-accounts/{id}/calendar-sync']).toBeDefined();
  });

  it("brings a connected mailbox's meetings onto the right contacts, rooms kept as places", async () => {
    const mailbox = await mailboxWithCalendar();
    const ana = `ana-${tag()}@client.test`;
    const bruno = `bruno-${tag()}@client.test`;
    const anaId = await newContact(conversa, ana);
    const start = inFuture(2 * DAY);
    await put(
      mailbox,
      'kickoff.ics',
      vevent({
        uid: `kickoff-${tag()}`,
        title: 'Kick-off',
        start,
        end: start + HOUR,
        organizer: mailbox.creds.user,
        attendees: [
          `ATTENDEE;CN=Ana;PARTSTAT=ACCEPTED:mailto:${ana}`,
          'ATTENDEE;CUTYPE=ROOM;CN=Sala 1:mailto:sala1@rooms.client.test',
          `ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:${mailbox.creds.user}`,
        ],
        extra: ['LOCATION:Sala 1'],
      }),
    );
    await put(
      mailbox,
      'review.ics',
      vevent({
        uid: `review-${tag()}`,
        title: 'Review',
        start: start + DAY,
        end: start + DAY + HOUR,
        organizer: bruno,
        attendees: [`ATTENDEE;PARTSTAT=TENTATIVE:mailto:${mailbox.creds.user}`],
      }),
    );
    // A weekly series: its occurrences in the window, one excluded.
    const weekly = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1, 13);
    await put(
      mailbox,
      'weekly.ics',
      vevent({
        uid: `weekly-${tag()}`,
        title: 'Weekly',
        start: weekly,
        end: weekly + HOUR,
        attendees: [`ATTENDEE:mailto:${ana}`],
        extra: ['RRULE:FREQ=WEEKLY;COUNT=4', `EXDATE:${icsTime(weekly + 7 * DAY)}`],
      }),
    );

    const since = Date.now();
    const accountId = await connect(conversa, mailbox);
    const health = await calendarSynced(conversa, accountId, since);
    expect(health.calendars).toHaveLength(1);
    expect(health.calendars[0].objects).toBe(3);
    // The calendar's health is part of the account's sync health.
    const account = (await conversa.api('GET', `/api/email-accounts/${accountId}`)).body;
    expect(account.calendar.status).toBe('active');
    expect(Date.parse(account.calendar.syncedAt)).toBeGreaterThanOrEqual(since - 1_000);

    const anaMeetings = await contactMeetings(conversa, anaId);
    expect(anaMeetings.map((m) => m.title).sort()).toEqual(['Kick-off', 'Weekly', 'Weekly', 'Weekly']);
    const kickoff = anaMeetings.find((m) => m.title === 'Kick-off');
    expect(kickoff).toMatchObject({
      start: new Date(start).toISOString(),
      end: new Date(start + HOUR).toISOString(),
      location: 'Sala 1',
      organizer: { address: mailbox.creds.user },
      editable: true,
      accountId,
    });
    expect(kickoff.contactIds).toEqual([anaId]);
    expect(kickoff.attendees).toEqual(
      expect.arrayContaining([
        { address: ana, name: 'Ana', status: 'accepted', kind: 'individual' },
        { address: 'sala1@rooms.client.test', name: 'Sala 1', kind: 'room' },
      ]),
    );
    const weeklies = anaMeetings
      .filter((m) => m.title === 'Weekly')
      .map((m) => m.start)
      .sort();
    expect(weeklies).toEqual([weekly, weekly + 14 * DAY, weekly + 21 * DAY].map((t) => new Date(t).toISOString()));

    // Bruno becomes a contact only now: the meeting already stored goes on his record at once.
    const brunoId = await newContact(conversa, bruno);
    const brunoMeetings = await waitFor(
      'the stored meeting on the new contact',
      async () => {
        const items = await contactMeetings(conversa, brunoId);
        return items.length > 0 ? items : false;
      },
      5_000,
      20,
    );
    expect(brunoMeetings.map((m) => [m.title, m.editable, m.organizer.address])).toEqual([['Review', false, bruno]]);

    const range = await conversa.api(
      'GET',
      `/api/meetings?from=${new Date(start - HOUR).toISOString()}&to=${new Date(start + 2 * DAY).toISOString()}`,
    );
    expect(range.status).toBe(200);
    expect(range.body.items.map((m: any) => m.title)).toEqual(expect.arrayContaining(['Kick-off', 'Review']));

    // A room is never a contact's meeting, even when someone made a contact of its address.
    const roomContact = await newContact(conversa, 'sala1@rooms.client.test');
    await new Promise((r) => setTimeout(r, 200));
    expect(await contactMeetings(conversa, roomContact)).toEqual([]);
  });

  it('reflects an event added, changed or deleted in the calendar after the next sync', async () => {
    const mailbox = await mailboxWithCalendar();
    const client = `carla-${tag()}@client.test`;
    const contactId = await newContact(conversa, client);
    const start = inFuture(3 * DAY);
    const uid = `change-${tag()}`;
    await put(
      mailbox,
      'a.ics',
      vevent({ uid, title: 'Original', start, end: start + HOUR, attendees: [`ATTENDEE:mailto:${client}`] }),
    );
    await put(
      mailbox,
      'b.ics',
      vevent({
        uid: `gone-${tag()}`,
        title: 'To delete',
        start,
        end: start + HOUR,
        attendees: [`ATTENDEE:mailto:${client}`],
      }),
    );
    const since = Date.now();
    const accountId = await connect(conversa, mailbox);
    await calendarSynced(conversa, accountId, since);
    const first = await contactMeetings(conversa, contactId);
    expect(first.map((m) => m.title).sort()).toEqual(['Original', 'To delete']);
    const originalId = first.find((m) => m.title === 'Original').id;

    await put(
      mailbox,
      'a.ics',
      vevent({
        uid,
        title: 'Renamed and moved',
        start: start + DAY,
        end: start + DAY + 2 * HOUR,
        attendees: [`ATTENDEE:mailto:${client}`],
      }),
    );
    await remove(mailbox, 'b.ics');
    await put(
      mailbox,
      'c.ics',
      vevent({
        uid: `new-${tag()}`,
        title: 'Added',
        start: start + 2 * DAY,
        end: start + 2 * DAY + HOUR,
        attendees: [`ATTENDEE:mailto:${client}`],
      }),
    );
    await syncNow(conversa, accountId);

    const after = await contactMeetings(conversa, contactId);
    expect(after.map((m) => m.title)).toEqual(['Added', 'Renamed and moved']);
    const changed = after.find((m) => m.title === 'Renamed and moved');
    // The same meeting, not a new one.
    expect(changed.id).toBe(originalId);
    expect(changed.start).toBe(new Date(start + DAY).toISOString());
    expect(changed.end).toBe(new Date(start + DAY + 2 * HOUR).toISOString());
    const rows = await conversa.db.selectFrom('meetings').select('title').where('account_id', '=', accountId).execute();
    expect(rows.map((r) => r.title).sort()).toEqual(['Added', 'Renamed and moved']);
  });

  it('makes new attendees contacts with the setting on, never the user, rooms or machines; not with it off', async () => {
    const on = await conversa.addUser();
    const off = await conversa.addUser();
    expect((await conversa.api('PATCH', '/api/me/settings', { autoCreateContacts: true }, on.token)).status).toBe(200);
    const withSetting = await mailboxWithCalendar();
    const without = await mailboxWithCalendar();
    const guest = `guest-${tag()}@partner.test`;
    const other = `other-${tag()}@partner.test`;
    const start = inFuture(DAY);
    const attendees = (self: string) => [
      `ATTENDEE;CN=Gil Guest;PARTSTAT=ACCEPTED:mailto:${guest}`,
      `ATTENDEE:mailto:${self}`,
      'ATTENDEE;CUTYPE=RESOURCE;CN=Projector:mailto:projector@partner.test',
      'ATTENDEE;CUTYPE=ROOM:mailto:room-12@partner.test',
      'ATTENDEE:mailto:no-reply@partner.test',
    ];
    await put(
      withSetting,
      'm.ics',
      vevent({
        uid: `auto-${tag()}`,
        title: 'Partner call',
        start,
        end: start + HOUR,
        organizer: withSetting.creds.user,
        attendees: attendees(withSetting.creds.user),
      }),
    );
    await put(
      without,
      'm.ics',
      vevent({
        uid: `manual-${tag()}`,
        title: 'Other call',
        start,
        end: start + HOUR,
        organizer: without.creds.user,
        attendees: [`ATTENDEE:mailto:${other}`],
      }),
    );

    const t0 = Date.now();
    const onAccount = await connect(conversa, withSetting, on.token);
    const offAccount = await connect(conversa, without, off.token);
    await calendarSynced(conversa, onAccount, t0, on.token);
    await calendarSynced(conversa, offAccount, t0, off.token);

    const created = await conversa.api('GET', `/api/contacts?email=${encodeURIComponent(guest)}`, undefined, on.token);
    expect(created.body.items).toHaveLength(1);
    expect(created.body.items[0]).toMatchObject({
      source: 'auto-meeting',
      firstName: 'Gil',
      lastName: 'Guest',
      emails: [guest],
    });
    expect((await contactMeetings(conversa, created.body.items[0].id, on.token)).map((m) => m.title)).toEqual([
      'Partner call',
    ]);
    for (const address of [
      withSetting.creds.user,
      'projector@partner.test',
      'room-12@partner.test',
      'no-reply@partner.test',
      other,
    ]) {
      const res = await conversa.api('GET', `/api/contacts?email=${encodeURIComponent(address)}`);
      expect(res.body.items, address).toEqual([]);
    }
  });

  it('writes a meeting made in the CRM to the calendar with its attendees, then moves and cancels it there', async () => {
    const user = await conversa.addUser();
    const mailbox = await mailboxWithCalendar();
    const ana = `ana-${tag()}@client.test`;
    const anaId = await newContact(conversa, ana, user.token);
    const t0 = Date.now();
    const accountId = await connect(conversa, mailbox, user.token);
    await calendarSynced(conversa, accountId, t0, user.token);

    const start = Date.UTC(new Date().getUTCFullYear() + 1, 2, 10, 14);
    const created = await conversa.api(
      'POST',
      '/api/meetings',
      {
        accountId,
        title: 'Proposal review',
        start: new Date(start).toISOString(),
        end: new Date(start + HOUR).toISOString(),
        location: 'Video call',
        attendees: [ana, 'Dora@Partner.test'],
      },
      user.token,
    );
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({
      title: 'Proposal review',
      start: new Date(start).toISOString(),
      location: 'Video call',
      organizer: { address: mailbox.creds.user },
      editable: true,
      contactIds: [anaId],
    });

    // What Radicale holds.
    const listing = await fetch(mailbox.calendarUrl, {
      method: 'PROPFIND',
      headers: { Authorization: mailbox.auth, Depth: '1' },
    });
    const hrefs = [...(await listing.text()).matchAll(/<href>([^<]+\.ics)<\/href>/g)].map((m) => m[1]!);
    expect(hrefs).toHaveLength(1);
    const objectUrl = new URL(hrefs[0]!, radicale.url).href;
    const ics = (await (await fetch(objectUrl, { headers: { Authorization: mailbox.auth } })).text()).replace(
      /\r\n[ \t]/g,
      '',
    );
    expect(ics).toMatch(new RegExp(`^ORGANIZER[^:]*:mailto:${mailbox.creds.user.replace(/\./g, '\\.')}\\r?$`, 'mi'));
    const attendeeLines = ics.split(/\r?\n/).filter((l) => l.startsWith('ATTENDEE'));
    expect(attendeeLines.map((l) => l.slice(l.lastIndexOf(':') + 1).toLowerCase()).sort()).toEqual(
      [ana, 'dora@partner.test', mailbox.creds.user].sort(),
    );
    expect(ics).toContain('SUMMARY:Proposal review');
    expect(ics).not.toMatch(/^METHOD:/m);

    const moved = await conversa.api(
      'PATCH',
      `/api/meetings/${created.body.id}`,
      { start: new Date(start + DAY).toISOString(), title: 'Proposal review (moved)' },
      user.token,
    );
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body).toMatchObject({
      id: created.body.id,
      title: 'Proposal review (moved)',
      start: new Date(start + DAY).toISOString(),
      end: new Date(start + DAY + HOUR).toISOString(),
    });
    const after = (await (await fetch(objectUrl, { headers: { Authorization: mailbox.auth } })).text()).replace(
      /\r\n[ \t]/g,
      '',
    );
    expect(after).toContain(`DTSTART:${icsTime(start + DAY)}`);
    expect(after).toContain('SUMMARY:Proposal review (moved)');
    expect(after).toMatch(/^SEQUENCE:1\r?$/m);

    const cancelled = await conversa.api('DELETE', `/api/meetings/${created.body.id}`, undefined, user.token);
    expect(cancelled.status, cancelled.text).toBe(204);
    const gone = await fetch(objectUrl, { headers: { Authorization: mailbox.auth } });
    await gone.arrayBuffer();
    expect(gone.status).toBe(404);
    expect((await conversa.api('GET', `/api/meetings/${created.body.id}`, undefined, user.token)).status).toBe(404);
    expect(await contactMeetings(conversa, anaId, user.token)).toEqual([]);

    // Another user may read the meeting of a shared mailbox but not change it.
    const again = await conversa.api(
      'POST',
      '/api/meetings',
      {
        accountId,
        title: 'Mine',
        start: new Date(start).toISOString(),
        end: new Date(start + HOUR).toISOString(),
        attendees: [],
      },
      user.token,
    );
    expect(again.status).toBe(201);
    expect((await conversa.api('PATCH', `/api/meetings/${again.body.id}`, { title: 'Theirs' })).status).toBe(403);
    expect(
      (
        await conversa.api('POST', '/api/meetings', {
          accountId,
          title: 'x',
          start: new Date(start).toISOString(),
          end: new Date(start + HOUR).toISOString(),
          attendees: [],
        })
      ).status,
    ).toBe(404);
  });

  it('moves one occurrence of a series and cancels another, on the calendar', async () => {
    const user = await conversa.addUser();
    const mailbox = await mailboxWithCalendar();
    const client = `eva-${tag()}@client.test`;
    const contactId = await newContact(conversa, client, user.token);
    const first = Date.UTC(new Date().getUTCFullYear() + 1, 0, 5, 10);
    await put(
      mailbox,
      'series.ics',
      vevent({
        uid: `series-${tag()}`,
        title: 'Monthly',
        start: first,
        end: first + HOUR,
        organizer: mailbox.creds.user,
        attendees: [`ATTENDEE:mailto:${client}`],
        extra: ['RRULE:FREQ=DAILY;COUNT=3'],
      }),
    );
    const t0 = Date.now();
    const accountId = await connect(conversa, mailbox, user.token, radicale.principalUrl(mailbox.creds.user));
    await calendarSynced(conversa, accountId, t0, user.token);
    const occurrences = (await contactMeetings(conversa, contactId, user.token)).sort((a, b) =>
      a.start.localeCompare(b.start),
    );
    expect(occurrences.map((m) => m.start)).toEqual(
      [first, first + DAY, first + 2 * DAY].map((t) => new Date(t).toISOString()),
    );

    const second = occurrences[1];
    const moved = await conversa.api(
      'PATCH',
      `/api/meetings/${second.id}`,
      { start: new Date(first + DAY + 3 * HOUR).toISOString(), title: 'Monthly (later)' },
      user.token,
    );
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body).toMatchObject({
      id: second.id,
      title: 'Monthly (later)',
      start: new Date(first + DAY + 3 * HOUR).toISOString(),
      recurrenceId: second.recurrenceId,
    });
    const cancelled = await conversa.api('DELETE', `/api/meetings/${occurrences[2].id}`, undefined, user.token);
    expect(cancelled.status, cancelled.text).toBe(204);

    const ics = (
      await (await fetch(`${mailbox.calendarUrl}series.ics`, { headers: { Authorization: mailbox.auth } })).text()
    ).replace(/\r\n[ \t]/g, '');
    expect(ics).toContain(`RECURRENCE-ID:${icsTime(first + DAY)}`);
    expect(ics).toContain(`EXDATE:${icsTime(first + 2 * DAY)}`);
    expect(ics).toContain('RRULE:FREQ=DAILY;COUNT=3');
    // And a sync from the calendar agrees with the CRM.
    await syncNow(conversa, accountId, user.token);
    const after = (await contactMeetings(conversa, contactId, user.token)).sort((a, b) =>
      a.start.localeCompare(b.start),
    );
    expect(after.map((m) => [m.title, m.start])).toEqual([
      ['Monthly', new Date(first).toISOString()],
      ['Monthly (later)', new Date(first + DAY + 3 * HOUR).toISOString()],
    ]);
  });

  it('marks only the calendar for reconnection when the CalDAV server refuses the password; mail goes on', async () => {
    const mailbox = await mailboxWithCalendar({ radicalePassword: 'not the mailbox password' });
    const t0 = Date.now();
    const accountId = await connect(conversa, mailbox);
    const health = await waitFor('the calendar to need reconnecting', async () => {
      const res = await conversa.api('GET', `/api/email-accounts/${accountId}/calendar`);
      return res.body.status === 'needs_reconnect' ? res.body : false;
    });
    expect(health.detail).toMatch(/refused/);
    const account = await waitFor(
      'mail to sync',
      async () => {
        const res = await conversa.api('GET', `/api/email-accounts/${accountId}`);
        return res.body.status === 'active' ? res.body : false;
      },
      30_000,
    );
    expect(account.lastError).toBeNull();
    expect(Date.parse(account.lastSyncedAt)).toBeGreaterThanOrEqual(t0);
  });
});

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpusDir = path.resolve(repoRoot, '..', 'shared', 'corpus', 'ics');

describe('the shared corpus on Radicale', () => {
  let conversa: CalendarConversa;
  beforeAll(async () => {
    // Wide enough for the corpus's dates (2004 onwards).
    conversa = await startCalendarConversa({
      intervalMs: 60_000,
      window: { pastDays: 30 * 365, futureDays: 10 * 365 },
    });
  });
  afterAll(async () => {
    await conversa?.stop();
  });

  it('syncs every calendar the server accepts without stopping the sync, and reports what cannot be read', async (ctx) => {
    if (!fs.existsSync(corpusDir)) {
      console.warn(`[calendar corpus] ${corpusDir} is missing: skipped`);
      ctx.skip();
      return;
    }
    const files = fs
      .readdirSync(corpusDir)
      .filter((f) => f.endsWith('.ics'))
      .sort();
    const creds = await dovecot.addUser();
    await radicale.addUser({ user: creds.user, password: creds.password });
    const auth = radicale.authHeader(creds);
    // One calendar per file, the file PUT as a whole calendar: the server splits it into objects by UID.
    const refused: string[] = [];
    const accepted: string[] = [];
    for (const [index, file] of files.entries()) {
      const res = await fetch(`${radicale.principalUrl(creds.user)}corpus-${index}/`, {
        method: 'PUT',
        headers: { Authorization: auth, 'Content-Type': 'text/calendar; charset=utf-8' },
        body: fs.readFileSync(path.join(corpusDir, file)),
      });
      await res.arrayBuffer();
      (res.ok ? accepted : refused).push(file);
    }
    // And a calendar of our own: one sound event, one in a zone nobody knows (the server takes it; we report it).
    const mixed = `${radicale.principalUrl(creds.user)}mixed/`;
    await (await fetch(mixed, { method: 'MKCALENDAR', headers: { Authorization: auth } })).arrayBuffer();
    await put(
      { creds, auth, calendarUrl: mixed },
      'fine.ics',
      vevent({ uid: 'fine', title: 'Fine', start: Date.now(), end: Date.now() + HOUR }),
    );
    await put(
      { creds, auth, calendarUrl: mixed },
      'odd.ics',
      vevent({ uid: 'odd', title: 'Odd', start: Date.now(), end: Date.now() + HOUR }).replace(
        /^(DTSTART|DTEND):(\d{8}T\d{6})Z/gm,
        '$1;TZID=Nowhere/Zone:$2',
      ),
    );

    const t0 = Date.now();
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { caldavUrl: radicale.principalUrl(creds.user) }),
    );
    expect(res.status, res.text).toBe(201);
    const health = await calendarSynced(conversa, res.body.id, t0);
    const db = conversa.db;
    const calendars = await db
      .selectFrom('calendars')
      .select(['id', 'url'])
      .where('account_id', '=', res.body.id)
      .execute();
    const objects = await db
      .selectFrom('calendar_objects')
      .select(['calendar_id', 'href', 'problem', 'event_count'])
      .where(
        'calendar_id',
        'in',
        calendars.map((c) => c.id),
      )
      .execute();
    const meetings = await db.selectFrom('meetings').select(['id']).where('account_id', '=', res.body.id).execute();
    const unreadableFiles = objects.filter((o) => o.problem?.startsWith('unreadable'));
    const noted = objects.filter((o) => o.problem !== null).length;
    const skippedEvents = objects.flatMap((o) =>
      (o.problem ?? '')
        .split('\n')
        .filter((l) => l.startsWith('event skipped'))
        .map((l) => `${o.href.split('/').slice(-2).join('/')}: ${l}`),
    );
    console.info(
      `[calendar corpus, Radicale] ${files.length} files: ${accepted.length} accepted by the server, ${refused.length} refused by it` +
        `${refused.length ? ` (${refused.join(', ')})` : ''}; ${calendars.length} calendars, ${objects.length} objects synced, ` +
        `${meetings.length} meetings stored; ${unreadableFiles.length} objects unreadable, ${skippedEvents.length} events unreadable, ` +
        `${noted} objects with a note (zone guessed, series capped, line dropped)` +
        `${skippedEvents.length ? `:\n  ${skippedEvents.join('\n  ')}` : ''}`,
    );
    expect(health.status).toBe('active');
    expect(calendars).toHaveLength(accepted.length + 1);
    // Every accepted calendar's objects were read (vfreebusy-only files hold no events, hence >= 0).
    expect(objects.length).toBeGreaterThanOrEqual(accepted.length);
    expect(meetings.length).toBeGreaterThan(accepted.length);
    const reported = health.calendars.find((c: any) => c.url === mixed).problems;
    expect(reported.map((u: any) => u.href.split('/').pop())).toEqual(['odd.ics']);
    expect(reported[0].problem).toMatch(/unknown time zone "Nowhere\/Zone"/);
    expect(
      await db
        .selectFrom('meetings')
        .select('title')
        .where('account_id', '=', res.body.id)
        .where('uid', 'in', ['fine', 'odd'])
        .orderBy('title')
        .execute(),
    ).toEqual([{ title: 'Fine' }, { title: 'Odd' }]);

    // The sync goes on: a new event in the mixed calendar still arrives.
    await put(
      { creds, auth, calendarUrl: mixed },
      'later.ics',
      vevent({ uid: 'later', title: 'Later', start: Date.now() + DAY, end: Date.now() + DAY + HOUR }),
    );
    await syncNow(conversa, res.body.id);
    const later = await db
      .selectFrom('meetings')
      .select('title')
      .where('account_id', '=', res.body.id)
      .where('uid', '=', 'later')
      .execute();
    expect(later).toEqual([{ title: 'Later' }]);
  });
});
