// Booking pages against the real parts: Radicale holds the owner's calendar, Dovecot's submission relays the
// invitations to the harness's SMTP sink, on SQLite and PostgreSQL. Slots leave out a busy event, every
// occurrence of a series, the buffer, all-day days, and count transparent and declined events as free; a booking
// writes the event with the invitee as attendee (read back from Radicale) and mails an iTIP REQUEST (parsed back
// with ical.js); the manage link cancels (CANCEL mail, event gone) and moves (REQUEST, SEQUENCE+1); twenty visitors
// racing for one slot give one 201 and nineteen SLOT_TAKEN; an event put on the calendar after the slots were
// listed makes booking that slot SLOT_TAKEN; team pages assign fairly; and the abuse cases answer clear codes.
// The pure slot arithmetic (DST day, notice, horizon) is tested without servers first.
import { randomBytes } from 'node:crypto';
import ICAL from 'ical.js';
import PostalMime from 'postal-mime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeSlots, workingWindows, type SlotRules } from '../../src/calendar/booking/free-slots.js';
import { redactUrl } from '../../src/http/redact-url.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot, useRadicale, type Credentials, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();
const radicale = useRadicale();
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const tag = () => randomBytes(4).toString('hex');
const iso = (ms: number) => new Date(ms).toISOString();

const ALL_WEEK = Object.fromEntries(
  ['1', '2', '3', '4', '5', '6', '7'].map((d) => [d, [['09:00', '17:00']]]),
) as Record<string, Array<[string, string]>>;

describe('free slots (pure)', () => {
  const rules: SlotRules = {
    timeZone: 'Europe/Lisbon',
    hours: { '6': [['09:00', '12:00']], '7': [['09:00', '12:00']] },
    durationMinutes: 60,
    bufferMinutes: 0,
    minNoticeMinutes: 0,
    horizonDays: 365,
  };
  const now = Date.UTC(2027, 2, 1);

  it('follows the zone across a DST change (Lisbon, 28 March 2027: 09:00 is 09:00Z on Saturday, 08:00Z on Sunday)', () => {
    const slots = freeSlots(rules, [], { start: Date.UTC(2027, 2, 27), end: Date.UTC(2027, 2, 29) }, now);
    expect(slots.map((s) => iso(s.start))).toEqual([
      '2027-03-27T09:00:00.000Z',
      '2027-03-27T10:00:00.000Z',
      '2027-03-27T11:00:00.000Z',
      '2027-03-28T08:00:00.000Z',
      '2027-03-28T09:00:00.000Z',
      '2027-03-28T10:00:00.000Z',
    ]);
    // São Paulo has had no DST since 2019: a window is three hours every day.
    const sp = workingWindows(
      { timeZone: 'America/Sao_Paulo', hours: { '7': [['09:00', '12:00']] } },
      Date.UTC(2027, 2, 27),
      Date.UTC(2027, 2, 29),
    );
    expect(sp.map((w) => [iso(w.start), (w.end - w.start) / HOUR])).toEqual([['2027-03-28T12:00:00.000Z', 3]]);
  });

  it('keeps the minimum notice, the horizon and the buffer', () => {
    const day = Date.UTC(2027, 2, 27);
    // Notice: at 09:30Z with 60 minutes of notice, 09:00 and 10:00 are gone.
    const noticed = freeSlots({ ...rules, minNoticeMinutes: 60 }, [], { start: day, end: day + DAY }, day + 9.5 * HOUR);
    expect(noticed.map((s) => iso(s.start))).toEqual(['2027-03-27T11:00:00.000Z']);
    // Horizon: one day from 26 March 19:00Z reaches 27 March 19:00Z; from 25 March it does not reach 27 March at all.
    const horizon = freeSlots({ ...rules, horizonDays: 1 }, [], { start: day, end: day + 2 * DAY }, day - 14 * HOUR);
    expect(horizon.map((s) => iso(s.start))).toEqual(['2027-03-27T09:00:00.000Z']);
    expect(freeSlots({ ...rules, horizonDays: 1 }, [], { start: day, end: day + 2 * DAY }, day - 36 * HOUR)).toEqual(
      [],
    );
    // Buffer: a meeting 12:00–13:00 with 30 minutes of buffer takes 11:00 too.
    const busy = [{ start: day + 12 * HOUR, end: day + 13 * HOUR }];
    const buffered = freeSlots({ ...rules, bufferMinutes: 30 }, busy, { start: day, end: day + DAY }, now);
    expect(buffered.map((s) => iso(s.start))).toEqual(['2027-03-27T09:00:00.000Z', '2027-03-27T10:00:00.000Z']);
    const unbuffered = freeSlots(rules, busy, { start: day, end: day + DAY }, now);
    expect(unbuffered).toHaveLength(3);
  });
});

/** iCalendar basic format, UTC. */
function icsTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function vevent(lines: string[]): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Conversa tests//EN',
    'BEGIN:VEVENT',
    `DTSTAMP:${icsTime(Date.now())}`,
    ...lines,
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

async function mailboxWithCalendar(): Promise<Mailbox> {
  const creds = await dovecot.addUser();
  const rc = await radicale.addUser({ user: creds.user, password: creds.password });
  const calendarUrl = `${radicale.principalUrl(creds.user)}work/`;
  const mk = await fetch(calendarUrl, { method: 'MKCALENDAR', headers: { Authorization: radicale.authHeader(rc) } });
  await mk.arrayBuffer();
  expect(mk.status).toBe(201);
  return { creds, auth: radicale.authHeader(rc), calendarUrl };
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

/** Every VEVENT on the Radicale calendar (a GET of the collection answers the whole calendar). */
async function calendarEvents(mailbox: Mailbox): Promise<InstanceType<typeof ICAL.Component>[]> {
  const res = await fetch(mailbox.calendarUrl, { headers: { Authorization: mailbox.auth } });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return new ICAL.Component(ICAL.parse(text) as unknown[]).getAllSubcomponents('vevent');
}

/** The iCalendar parts of a relayed mail: the text/calendar alternative and the .ics attachment. */
async function calendarParts(message: SinkMessage): Promise<{ mime: string; text: string }[]> {
  const parsed = await PostalMime.parse(message.raw);
  return parsed.attachments
    .filter((a) => /text\/calendar|application\/ics/i.test(a.mimeType))
    .map((a) => ({
      mime: a.mimeType,
      text: typeof a.content === 'string' ? a.content : Buffer.from(a.content as ArrayBuffer).toString('utf8'),
    }));
}

async function invitationTo(address: string, method: 'REQUEST' | 'CANCEL', sequence: number) {
  const message = await dovecot.waitForSinkMessage(
    (m) =>
      m.rcptTo.includes(address) &&
      m.raw.toString('utf8').includes(`method=${method}`) &&
      new RegExp(`SEQUENCE:${sequence}\\r?\\n`).test(m.raw.toString('utf8').replace(/=\r?\n/g, '')),
    30_000,
  );
  const parts = await calendarParts(message);
  return { message, parts };
}

describe.each(DIALECTS)('booking pages with Radicale and Dovecot on %s', (dialect) => {
  let conversa: TestConversa;
  let database: TestDatabase;
  let owner: { id: string; token: string; email: string };
  let mailbox: Mailbox;
  let accountId: string;
  let slug: string;
  /** A UTC day three days ahead: the events below are on it. */
  let day: number;

  const pub = async (method: string, route: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${conversa.url}${route}`, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, text, headers: res.headers };
  };
  const slotStarts = async (s: string, from: number, to: number) => {
    const res = await pub('GET', `/api/public/booking/${s}/slots?from=${iso(from)}&to=${iso(to)}`);
    expect(res.status, res.text).toBe(200);
    return (res.body.slots as Array<{ start: string }>).map((x) => x.start);
  };
  const at = (h: number, m = 0) => day + h * HOUR + m * MINUTE;

  async function connect(token: string, box: Mailbox): Promise<string> {
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, box.creds, { caldavUrl: radicale.principalUrl(box.creds.user) }),
      token,
    );
    expect(res.status, res.text).toBe(201);
    const id = res.body.id as string;
    await waitFor(
      'calendar synced',
      async () => {
        const h = (await conversa.api('GET', `/api/email-accounts/${id}/calendar`, undefined, token)).body;
        return h?.status === 'active' && h.syncedAt ? h : false;
      },
      30_000,
      100,
    );
    return id;
  }

  async function createPage(token: string, body: Record<string, unknown>) {
    return conversa.api('POST', '/api/booking-pages', body, token);
  }

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({ LOG_LEVEL: 'info' }, database, {
      calendarIntervalMs: 60_000,
      leases: { tickMs: 200 },
      outbox: { backoffBaseMs: 200, backoffMaxMs: 400, maxAttempts: 4, pollIntervalMs: 300, timeoutMs: 10_000 },
      bookingLimits: { reads: 1_000, writes: 60, windowMs: 10 * MINUTE },
    });
    owner = await conversa.addUser({ displayName: 'Olivia Owner' });
    // Invitees become contacts (auto-meeting) with the owner's automatic creation on.
    const settings = await conversa.api('PATCH', '/api/me/settings', { autoCreateContacts: true }, owner.token);
    expect(settings.status, settings.text).toBe(200);
    mailbox = await mailboxWithCalendar();
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    day = today + 3 * DAY;
    const other = `boss-${tag()}@elsewhere.test`;
    const me = mailbox.creds.user;
    await put(
      mailbox,
      'busy.ics',
      vevent([
        `UID:busy-${tag()}`,
        `DTSTART:${icsTime(at(10))}`,
        `DTEND:${icsTime(at(11))}`,
        'SUMMARY:Secret strategy',
        'ATTENDEE;CN=Vip:mailto:vip@client.test',
      ]),
    );
    await put(
      mailbox,
      'daily.ics',
      vevent([
        `UID:daily-${tag()}`,
        `DTSTART:${icsTime(at(13) - DAY)}`,
        `DTEND:${icsTime(at(14) - DAY)}`,
        'RRULE:FREQ=DAILY;COUNT=5',
        'SUMMARY:Daily lunch',
      ]),
    );
    await put(
      mailbox,
      'free.ics',
      vevent([
        `UID:free-${tag()}`,
        `DTSTART:${icsTime(at(15))}`,
        `DTEND:${icsTime(at(16))}`,
        'TRANSP:TRANSPARENT',
        'SUMMARY:Focus (shown as free)',
      ]),
    );
    await put(
      mailbox,
      'declined.ics',
      vevent([
        `UID:declined-${tag()}`,
        `DTSTART:${icsTime(at(16))}`,
        `DTEND:${icsTime(at(17))}`,
        `ORGANIZER:mailto:${other}`,
        `ATTENDEE;PARTSTAT=DECLINED:mailto:${me}`,
        'SUMMARY:Declined thing',
      ]),
    );
    const next = new Date(day + DAY);
    const ymd = (d: Date) =>
      `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
    await put(
      mailbox,
      'holiday.ics',
      vevent([
        `UID:holiday-${tag()}`,
        `DTSTART;VALUE=DATE:${ymd(next)}`,
        `DTEND;VALUE=DATE:${ymd(new Date(day + 2 * DAY))}`,
        'SUMMARY:Holiday',
      ]),
    );
    accountId = await connect(owner.token, mailbox);
    slug = `olivia-${tag()}`;
    const created = await createPage(owner.token, {
      slug,
      title: 'Intro call',
      durationMinutes: 30,
      accountId,
      timeZone: 'UTC',
      hours: ALL_WEEK,
      bufferMinutes: 15,
      minNoticeMinutes: 60,
      horizonDays: 30,
    });
    expect(created.status, created.text).toBe(201);
    expect(created.body.url).toBe(`${conversa.url}/book/${slug}`);
  }, 120_000);

  afterAll(async () => {
    await conversa?.stop();
    await database?.destroy();
  });

  it('offers only free slots: busy, recurring, buffer and all-day count; transparent and declined do not', async () => {
    const page = await pub('GET', `/api/public/booking/${slug}`);
    expect(page.status).toBe(200);
    expect(page.body).toEqual({
      title: 'Intro call',
      durationMinutes: 30,
      timeZone: 'UTC',
      owner: { name: 'Olivia Owner' },
    });
    const slots = await slotStarts(slug, day, day + DAY);
    expect(slots).toEqual([at(9), at(11, 30), at(12), at(14, 30), at(15), at(15, 30), at(16), at(16, 30)].map(iso));
    // The all-day event takes the whole next day.
    expect(await slotStarts(slug, day + DAY, day + 2 * DAY)).toEqual([]);
    // Beyond the horizon nothing is offered; a range over 62 days is refused.
    expect(await slotStarts(slug, day + 40 * DAY, day + 41 * DAY)).toEqual([]);
    const wide = await pub('GET', `/api/public/booking/${slug}/slots?from=${iso(day)}&to=${iso(day + 70 * DAY)}`);
    expect(wide.status).toBe(400);
    // Free slots only: nothing of the calendar's content leaks.
    const raw = (await pub('GET', `/api/public/booking/${slug}/slots?from=${iso(day)}&to=${iso(day + 2 * DAY)}`)).text;
    for (const secret of ['Secret strategy', 'vip@client.test', 'Daily lunch', 'Holiday', mailbox.creds.user])
      expect(raw + page.text).not.toContain(secret);
  });

  it('books a slot: event with the attendee on Radicale, REQUEST mailed, contact with the meeting; then cancel', async () => {
    const invitee = `ines-${tag()}@client.test`;
    const res = await pub('POST', `/api/public/booking/${slug}`, {
      start: iso(at(9)),
      name: 'Inês Cliente',
      email: invitee,
      note: 'About the quote',
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({ start: iso(at(9)), end: iso(at(9, 30)) });
    expect(res.body.manageUrl).toMatch(new RegExp(`^${conversa.url}/book/manage/[A-Za-z0-9_-]{40,}$`));
    const token = res.body.manageUrl.split('/').pop();
    // The slot is gone from the page.
    expect(await slotStarts(slug, day, day + DAY)).not.toContain(iso(at(9)));

    // On the owner's calendar: organizer = the owner, the invitee attending (NEEDS-ACTION, RSVP).
    const events = await calendarEvents(mailbox);
    const booked = events.find((e) => String(e.getFirstPropertyValue('summary')).startsWith('Intro call'));
    expect(booked).toBeDefined();
    expect(String(booked!.getFirstPropertyValue('organizer')).toLowerCase()).toBe(`mailto:${mailbox.creds.user}`);
    const attendee = booked!
      .getAllProperties('attendee')
      .find((p) => String(p.getFirstValue()) === `mailto:${invitee}`);
    expect(attendee?.getParameter('partstat')).toBe('NEEDS-ACTION');
    expect(attendee?.getParameter('rsvp')).toBe('TRUE');
    expect(booked!.getFirstPropertyValue('dtstart')!.toString()).toBe(iso(at(9)).replace('.000Z', 'Z'));

    // The invitation: from the owner's mailbox, text/calendar; method=REQUEST and the .ics, parsed with ical.js.
    const { message, parts } = await invitationTo(invitee, 'REQUEST', 0);
    expect(message.mailFrom).toBe(mailbox.creds.user);
    expect(parts.map((p) => p.mime).sort()).toEqual(['application/ics', 'text/calendar']);
    const ics = new ICAL.Component(ICAL.parse(parts[0]!.text) as unknown[]);
    expect(ics.getFirstPropertyValue('method')).toBe('REQUEST');
    const vevent = ics.getFirstSubcomponent('vevent')!;
    expect(vevent.getFirstPropertyValue('uid')).toBe(booked!.getFirstPropertyValue('uid'));
    expect(vevent.getFirstPropertyValue('sequence')).toBe(0);
    expect(vevent.getFirstPropertyValue('dtstamp')).toBeTruthy();
    expect(String(vevent.getFirstPropertyValue('organizer'))).toBe(`mailto:${mailbox.creds.user}`);
    expect(String(vevent.getFirstPropertyValue('attendee'))).toBe(`mailto:${invitee}`);
    expect(vevent.getFirstProperty('dtstart')!.toICALString()).toBe(`DTSTART:${icsTime(at(9))}`);

    // The invitee is a contact (auto-meeting: the owner's setting is on) and the meeting is on their timeline.
    const contacts = await conversa.api(
      'GET',
      `/api/contacts?email=${encodeURIComponent(invitee)}`,
      undefined,
      owner.token,
    );
    expect(contacts.status, contacts.text).toBe(200);
    const contact = contacts.body.items.find((c: any) => c.emails.includes(invitee));
    expect(contact?.source).toBe('auto-meeting');
    const timeline = await conversa.api('GET', `/api/contacts/${contact.id}/meetings`, undefined, owner.token);
    expect(timeline.body.items.map((m: any) => m.start)).toEqual([iso(at(9))]);

    // Manage: see, then cancel — the event leaves the calendar and a CANCEL (SEQUENCE 1) is mailed.
    const seen = await pub('GET', `/api/public/bookings/${token}`);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ state: 'confirmed', start: iso(at(9)), title: 'Intro call' });
    const cancelled = await pub('POST', `/api/public/bookings/${token}/cancel`);
    expect(cancelled.status, cancelled.text).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    const after = await calendarEvents(mailbox);
    expect(after.find((e) => e.getFirstPropertyValue('uid') === booked!.getFirstPropertyValue('uid'))).toBeUndefined();
    const cancel = await invitationTo(invitee, 'CANCEL', 1);
    const cics = new ICAL.Component(ICAL.parse(cancel.parts[0]!.text) as unknown[]);
    expect(cics.getFirstPropertyValue('method')).toBe('CANCEL');
    expect(cics.getFirstSubcomponent('vevent')!.getFirstPropertyValue('status')).toBe('CANCELLED');
    expect(cics.getFirstSubcomponent('vevent')!.getFirstPropertyValue('uid')).toBe(
      booked!.getFirstPropertyValue('uid'),
    );
    // The slot is offered again.
    expect(await slotStarts(slug, day, day + DAY)).toContain(iso(at(9)));
    // An unknown token is simply not found.
    expect((await pub('GET', `/api/public/bookings/${'x'.repeat(43)}`)).status).toBe(404);
  });

  it('moves a booking through the manage link: the event moves, REQUEST with SEQUENCE 1 and the same UID', async () => {
    const invitee = `mario-${tag()}@client.test`;
    // A visitor whose browser prefers Portuguese gets the mails in Portuguese.
    const res = await pub(
      'POST',
      `/api/public/booking/${slug}`,
      { start: iso(at(15)), name: 'Mário', email: invitee },
      { 'accept-language': 'pt-BR,pt;q=0.9,en;q=0.5' },
    );
    expect(res.status, res.text).toBe(201);
    const token = res.body.manageUrl.split('/').pop();
    const first = await invitationTo(invitee, 'REQUEST', 0);
    const parsedFirst = await PostalMime.parse(first.message.raw);
    expect(parsedFirst.subject).toMatch(/^Convite: Intro call — /);
    expect(parsedFirst.text).toContain('Para cancelar ou remarcar:');
    const uid = new ICAL.Component(ICAL.parse(first.parts[0]!.text) as unknown[])
      .getFirstSubcomponent('vevent')!
      .getFirstPropertyValue('uid');
    // Not to a time the page does not offer (outside hours), nor onto a busy time.
    expect((await pub('POST', `/api/public/bookings/${token}/move`, { start: iso(at(3)) })).body.error.code).toBe(
      'SLOT_UNAVAILABLE',
    );
    expect((await pub('POST', `/api/public/bookings/${token}/move`, { start: iso(at(10)) })).body.error.code).toBe(
      'SLOT_TAKEN',
    );
    const moved = await pub('POST', `/api/public/bookings/${token}/move`, { start: iso(at(16)) });
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body).toMatchObject({ start: iso(at(16)), end: iso(at(16, 30)), state: 'confirmed' });
    const event = (await calendarEvents(mailbox)).find((e) => e.getFirstPropertyValue('uid') === uid);
    expect(event!.getFirstProperty('dtstart')!.toICALString()).toBe(`DTSTART:${icsTime(at(16))}`);
    const second = await invitationTo(invitee, 'REQUEST', 1);
    const vevent = new ICAL.Component(ICAL.parse(second.parts[0]!.text) as unknown[]).getFirstSubcomponent('vevent')!;
    expect(vevent.getFirstPropertyValue('uid')).toBe(uid);
    expect(vevent.getFirstProperty('dtstart')!.toICALString()).toBe(`DTSTART:${icsTime(at(16))}`);
    const slots = await slotStarts(slug, day, day + DAY);
    expect(slots).toContain(iso(at(15)));
    expect(slots).not.toContain(iso(at(16)));
  });

  it('a meeting made in the CRM takes its time too', async () => {
    const crmDay = day + 2 * DAY;
    const made = await conversa.api(
      'POST',
      '/api/meetings',
      {
        accountId,
        title: 'CRM-made review',
        start: iso(crmDay + 10 * HOUR),
        end: iso(crmDay + 11 * HOUR),
        attendees: [`crm-${tag()}@client.test`],
      },
      owner.token,
    );
    expect(made.status, made.text).toBe(201);
    const slots = await slotStarts(slug, crmDay, crmDay + DAY);
    expect(slots).toContain(iso(crmDay + 9 * HOUR));
    for (const busy of [10, 10.5, 11]) expect(slots).not.toContain(iso(crmDay + busy * HOUR));
  });

  it("with the owner's automatic creation off, an invitee is linked only to a contact that exists", async () => {
    const plain = await conversa.addUser({ displayName: 'Nora Noauto' });
    const box = await mailboxWithCalendar();
    const plainAccount = await connect(plain.token, box);
    const plainSlug = `nora-${tag()}`;
    const made = await createPage(plain.token, {
      slug: plainSlug,
      title: 'Chat',
      durationMinutes: 30,
      accountId: plainAccount,
      timeZone: 'UTC',
      hours: ALL_WEEK,
    });
    expect(made.status, made.text).toBe(201);
    const stranger = `stranger-${tag()}@client.test`;
    const known = `known-${tag()}@client.test`;
    const contact = await conversa.api('POST', '/api/contacts', { emails: [known], firstName: 'Known' }, plain.token);
    expect(contact.status, contact.text).toBe(201);
    const first = await pub('POST', `/api/public/booking/${plainSlug}`, {
      start: iso(at(9)),
      name: 'S',
      email: stranger,
    });
    expect(first.status, first.text).toBe(201);
    const second = await pub('POST', `/api/public/booking/${plainSlug}`, {
      start: iso(at(10)),
      name: 'K',
      email: known,
    });
    expect(second.status, second.text).toBe(201);
    const none = await conversa.api(
      'GET',
      `/api/contacts?email=${encodeURIComponent(stranger)}`,
      undefined,
      plain.token,
    );
    expect(none.body.items).toEqual([]);
    const timeline = await conversa.api('GET', `/api/contacts/${contact.body.id}/meetings`, undefined, plain.token);
    expect(timeline.body.items.map((m: any) => m.start)).toEqual([iso(at(10))]);
  });

  it('twenty visitors racing for one slot: exactly one 201, nineteen 409 SLOT_TAKEN', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pub('POST', `/api/public/booking/${slug}`, {
          start: iso(at(11, 30)),
          name: `Racer ${i}`,
          email: `racer${i}-${tag()}@client.test`,
        }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    for (const a of answers.filter((x) => x.status === 409)) expect(a.body.error.code).toBe('SLOT_TAKEN');
    const onCalendar = (await calendarEvents(mailbox)).filter(
      (e) => e.getFirstProperty('dtstart')!.toICALString() === `DTSTART:${icsTime(at(11, 30))}`,
    );
    expect(onCalendar).toHaveLength(1);
  });

  it('an event put on the calendar after the slots were listed makes that slot SLOT_TAKEN', async () => {
    expect(await slotStarts(slug, day, day + DAY)).toContain(iso(at(14, 30)));
    // Straight onto Radicale: no sync has run since (the interval is a minute).
    await put(
      mailbox,
      `late-${tag()}.ics`,
      vevent([
        `UID:late-${tag()}`,
        `DTSTART:${icsTime(at(14, 30))}`,
        `DTEND:${icsTime(at(17))}`,
        'SUMMARY:Late addition',
      ]),
    );
    const res = await pub('POST', `/api/public/booking/${slug}`, {
      start: iso(at(14, 30)),
      name: 'Late',
      email: `late-${tag()}@client.test`,
    });
    expect(res.status, res.text).toBe(409);
    expect(res.body.error.code).toBe('SLOT_TAKEN');
    expect(await slotStarts(slug, day, day + DAY)).not.toContain(iso(at(14, 30)));
  });

  it('team pages: round-robin alternates between the members, first-free keeps to the first free one', async () => {
    const colleague = await conversa.addUser({ displayName: 'Carlos Colleague' });
    const theirBox = await mailboxWithCalendar();
    const theirAccount = await connect(colleague.token, theirBox);
    // Only an administrator makes a team page (the test server's first user is one).
    const refused = await createPage(owner.token, {
      slug: `team-${tag()}`,
      title: 'Team',
      durationMinutes: 30,
      accountId,
      timeZone: 'UTC',
      hours: ALL_WEEK,
      team: { accountIds: [accountId, theirAccount], mode: 'round-robin' },
    });
    expect(refused.status).toBe(403);
    const admin = conversa.token;
    const adminBox = await mailboxWithCalendar();
    const adminAccount = await connect(admin, adminBox);
    const rr = `rr-${tag()}`;
    const made = await createPage(admin, {
      slug: rr,
      title: 'Team call',
      durationMinutes: 30,
      accountId: adminAccount,
      timeZone: 'UTC',
      hours: ALL_WEEK,
      team: { accountIds: [adminAccount, theirAccount], mode: 'round-robin' },
    });
    expect(made.status, made.text).toBe(201);
    const teamDay = day + 5 * DAY;
    const hosts: string[] = [];
    for (const h of [9, 10, 11, 12]) {
      const res = await pub('POST', `/api/public/booking/${rr}`, {
        start: iso(teamDay + h * HOUR),
        name: 'Team guest',
        email: `g${h}-${tag()}@client.test`,
      });
      expect(res.status, res.text).toBe(201);
      const row = await conversa.server.storage.db
        .selectFrom('bookings')
        .select('account_id')
        .where('id', '=', res.body.bookingId)
        .executeTakeFirstOrThrow();
      hosts.push(row.account_id);
    }
    expect(hosts).toEqual([adminAccount, theirAccount, adminAccount, theirAccount]);
    // A slot stays offered while one member is free: 09:00 is booked for one of them only.
    const teamSlots = await slotStarts(rr, teamDay, teamDay + DAY);
    expect(teamSlots).toContain(iso(teamDay + 9 * HOUR));
    const ff = `ff-${tag()}`;
    expect(
      (
        await createPage(admin, {
          slug: ff,
          title: 'First free',
          durationMinutes: 30,
          accountId: adminAccount,
          timeZone: 'UTC',
          hours: ALL_WEEK,
          team: { accountIds: [adminAccount, theirAccount], mode: 'first-free' },
        })
      ).status,
    ).toBe(201);
    const ffHosts: string[] = [];
    for (const h of [14, 15]) {
      const res = await pub('POST', `/api/public/booking/${ff}`, {
        start: iso(teamDay + h * HOUR),
        name: 'FF',
        email: `ff${h}-${tag()}@client.test`,
      });
      expect(res.status, res.text).toBe(201);
      const row = await conversa.server.storage.db
        .selectFrom('bookings')
        .select('account_id')
        .where('id', '=', res.body.bookingId)
        .executeTakeFirstOrThrow();
      ffHosts.push(row.account_id);
    }
    expect(ffHosts).toEqual([adminAccount, adminAccount]);
    // The first member busy (their 14:00 booking): the second takes that time.
    const res = await pub('POST', `/api/public/booking/${ff}`, {
      start: iso(teamDay + 14 * HOUR),
      name: 'FF2',
      email: `ff2-${tag()}@client.test`,
    });
    expect(res.status, res.text).toBe(201);
    const row = await conversa.server.storage.db
      .selectFrom('bookings')
      .select('account_id')
      .where('id', '=', res.body.bookingId)
      .executeTakeFirstOrThrow();
    expect(row.account_id).toBe(theirAccount);
  }, 120_000);

  it('abuse: outside hours 422, bad e-mail 400, slug taken 409, bad slug 400, foreign mailbox 404, deactivated owner 404', async () => {
    const outside = await pub('POST', `/api/public/booking/${slug}`, {
      start: iso(at(3)),
      name: 'Night',
      email: `n-${tag()}@client.test`,
    });
    expect([outside.status, outside.body.error.code]).toEqual([422, 'SLOT_UNAVAILABLE']);
    const offGrid = await pub('POST', `/api/public/booking/${slug}`, {
      start: iso(at(12, 7)),
      name: 'Odd',
      email: `o-${tag()}@client.test`,
    });
    expect([offGrid.status, offGrid.body.error.code]).toEqual([422, 'SLOT_UNAVAILABLE']);
    const tooSoon = await pub('POST', `/api/public/booking/${slug}`, {
      start: iso(Date.now() + 5 * MINUTE),
      name: 'Soon',
      email: `s-${tag()}@client.test`,
    });
    expect(tooSoon.status).toBe(422);
    const badMail = await pub('POST', `/api/public/booking/${slug}`, {
      start: iso(at(12)),
      name: 'Bad',
      email: 'not an address',
    });
    expect([badMail.status, badMail.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect(badMail.body.error.fields[0].path).toBe('body.email');
    const taken = await createPage(owner.token, {
      slug,
      title: 'Again',
      durationMinutes: 30,
      accountId,
      timeZone: 'UTC',
      hours: ALL_WEEK,
    });
    expect([taken.status, taken.body.error.code]).toEqual([409, 'SLUG_TAKEN']);
    const badSlug = await createPage(owner.token, {
      slug: 'Bad Slug!',
      title: 'x',
      durationMinutes: 30,
      accountId,
      timeZone: 'UTC',
      hours: ALL_WEEK,
    });
    expect(badSlug.status).toBe(400);
    const badZone = await createPage(owner.token, {
      slug: `z-${tag()}`,
      title: 'x',
      durationMinutes: 30,
      accountId,
      timeZone: 'Mars/Base',
      hours: ALL_WEEK,
    });
    expect(badZone.status).toBe(400);
    // Someone else's mailbox (even an administrator's view of it) cannot be booked into.
    const foreign = await createPage(conversa.token, {
      slug: `f-${tag()}`,
      title: 'x',
      durationMinutes: 30,
      accountId,
      timeZone: 'UTC',
      hours: ALL_WEEK,
    });
    expect(foreign.status).toBe(404);

    // A deactivated owner's page answers exactly like an unknown slug.
    const leaver = await conversa.addUser({ displayName: 'Leaving User' });
    const box = await mailboxWithCalendar();
    const leaverAccount = await connect(leaver.token, box);
    const leaverSlug = `leaver-${tag()}`;
    expect(
      (
        await createPage(leaver.token, {
          slug: leaverSlug,
          title: 'Bye',
          durationMinutes: 30,
          accountId: leaverAccount,
          timeZone: 'UTC',
          hours: ALL_WEEK,
        })
      ).status,
    ).toBe(201);
    expect((await pub('GET', `/api/public/booking/${leaverSlug}`)).status).toBe(200);
    const off = await conversa.api('PATCH', `/api/users/${leaver.id}`, { active: false });
    expect(off.status, off.text).toBe(200);
    const gone = await pub('GET', `/api/public/booking/${leaverSlug}`);
    const never = await pub('GET', `/api/public/booking/never-${tag()}`);
    expect(gone.status).toBe(404);
    expect(gone.body).toEqual(never.body);
    expect(
      (
        await pub('POST', `/api/public/booking/${leaverSlug}`, {
          start: iso(at(12)),
          name: 'x',
          email: `x-${tag()}@client.test`,
        })
      ).status,
    ).toBe(404);
  }, 120_000);

  it('owner CRUD: list, change, delete; another user sees none of it', async () => {
    const list = await conversa.api('GET', '/api/booking-pages', undefined, owner.token);
    expect(list.body.items.map((p: any) => p.slug)).toContain(slug);
    const id = list.body.items.find((p: any) => p.slug === slug).id;
    const stranger = await conversa.addUser();
    expect(
      (await conversa.api('PATCH', `/api/booking-pages/${id}`, { title: 'Mine now' }, stranger.token)).status,
    ).toBe(404);
    expect((await conversa.api('DELETE', `/api/booking-pages/${id}`, undefined, stranger.token)).status).toBe(404);
    const changed = await conversa.api(
      'PATCH',
      `/api/booking-pages/${id}`,
      { title: 'Intro call (30 min)' },
      owner.token,
    );
    expect(changed.status, changed.text).toBe(200);
    expect(changed.body.title).toBe('Intro call (30 min)');
    const spare = `spare-${tag()}`;
    const made = await createPage(owner.token, {
      slug: spare,
      title: 'Spare',
      durationMinutes: 30,
      accountId,
      timeZone: 'UTC',
      hours: ALL_WEEK,
    });
    expect((await conversa.api('DELETE', `/api/booking-pages/${made.body.id}`, undefined, owner.token)).status).toBe(
      204,
    );
    expect((await pub('GET', `/api/public/booking/${spare}`)).status).toBe(404);
  });

  it('rate limits the public routes per client IP: 429 RATE_LIMITED with Retry-After', async () => {
    let limited: Awaited<ReturnType<typeof pub>> | undefined;
    for (let i = 0; i < 61 && !limited; i++) {
      const res = await pub('POST', `/api/public/booking/${slug}`, { start: iso(at(3)), name: 'Spam', email: 'spam' });
      if (res.status === 429) limited = res;
    }
    expect(limited?.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited?.headers.get('retry-after'))).toBeGreaterThan(0);
    // The manage token never reaches a log line.
    expect(redactUrl('/book/manage/abcdef?x=1')).toBe('/book/manage/[redacted]?x=1');
    expect(redactUrl('/api/public/bookings/abcdef/cancel')).toBe('/api/public/bookings/[redacted]/cancel');
    expect(conversa.logs.join('')).toContain('/api/public/bookings/[redacted]');
    expect(conversa.logs.join('')).not.toMatch(
      /\/book\/manage\/[A-Za-z0-9_-]{20}|\/api\/public\/bookings\/[A-Za-z0-9_-]{20}/,
    );
  });
});
