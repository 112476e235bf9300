// Meetings in the database: calendar objects turned into meetings with their attendees and contact links (one
// transaction per batch of objects, upserted on account + UID + occurrence so ids stay stable), new attendees made
// contacts when the owner asked for it, reads (a range, a contact's timeline, one meeting) under the mailbox's
// visibility, and the CRM's own writes — create, move/rename, cancel — which go to the calendar first and are
// stored from what the calendar then holds.
import { AppError, notFound } from '../core/app-error.js';
import { normalizeEmailList, takenAddresses } from '../contacts/contacts.js';
import { isValidEmail, normalizeEmail } from '../contacts/email-address.js';
import { organisationAddresses } from '../mail/accounts/organisation-addresses.js';
import { isMachineAddress } from '../mail/rules/machine-senders.js';
import { isNeverLogged, parseNeverLogList, type NeverLogList } from '../mail/rules/never-log.js';
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import type { Insertable, Selectable } from 'kysely';
import type { CalendarsTable, EmailAccountsTable, MeetingsTable } from '../storage/schema.js';
import type { User } from '../users/users.js';
import { CalendarError, type CalendarDriver, type CalendarObject, type CalendarSyncState, type Discovery, type RemoteCalendar } from './calendar-driver.js';
import { parseEvents, type ParsedCalendar, type ParsedEvent, type ParseProblem, type TimeWindow } from './ical/parse-events.js';
import { mailboxFor, mayOnMailbox, mayReadFromMailbox, meetingVisibleTo } from '../access/access-policy.js';
import { ensureContacts } from '../contacts/ensure-contacts.js';

const DAY_MS = 86_400_000;
/** Rows per multi-row INSERT: well under both dialects' limits on bound parameters. */
const INSERT_CHUNK = 200;

export type CalendarRow = Selectable<CalendarsTable>;

// ---------------------------------------------------------------------------------------------------------------
// The account as the calendar code sees it.

export interface AccountContext {
  id: string;
  orgId: string;
  userId: string;
  email: string;
  historyDays: number;
  autoCreateContacts: boolean;
  neverLog: NeverLogList;
  /** Every address of the organisation's own people: never a contact, and "organizer is self" when it is the account's. */
  orgAddresses: Set<string>;
  /** The account's own addresses (mailbox, login, the calendar's user addresses). */
  ownAddresses: Set<string>;
}

/** `ana+crm@x.com` → `ana@x.com`: a subaddress delivers to the same mailbox. */
function withoutTag(address: string): string {
  return address.replace(/^([^@+]+)\+[^@]*@/, '$1@');
}

export async function accountContext(db: Db, row: EmailAccountsTable, bccDomain: string, calendarAddresses: string[] = []): Promise<AccountContext> {
  const [orgAddresses, settings] = await Promise.all([
    organisationAddresses(db, row.org_id, bccDomain),
    db.selectFrom('user_settings').select(['auto_create_contacts', 'never_log_json']).where('user_id', '=', row.user_id).executeTakeFirst(),
  ]);
  const ownAddresses = new Set<string>([normalizeEmail(row.email), ...(row.username.includes('@') ? [normalizeEmail(row.username)] : []), ...calendarAddresses.map(normalizeEmail)]);
  for (const address of ownAddresses) orgAddresses.add(address);
  return {
    id: row.id,
    orgId: row.org_id,
    userId: row.user_id,
    email: row.email,
    historyDays: row.history_days,
    autoCreateContacts: settings?.auto_create_contacts === 1,
    neverLog: parseNeverLogList(JSON.parse(settings?.never_log_json ?? '[]') as string[]),
    orgAddresses,
    ownAddresses,
  };
}

export interface WindowOptions {
  /** Days back (default: the account's history window, at least 90). */
  pastDays?: number;
  /** Days ahead (default 365). */
  futureDays?: number;
}

/** The span meetings are kept for: the account's history window back, a year ahead. Whole days, so it moves daily. */
export function syncWindow(account: Pick<AccountContext, 'historyDays'>, options: WindowOptions = {}, now: number = Date.now()): TimeWindow {
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const past = options.pastDays ?? Math.max(account.historyDays, 90);
  const future = options.futureDays ?? 365;
  return { start: today - past * DAY_MS, end: today + (future + 1) * DAY_MS };
}

// ---------------------------------------------------------------------------------------------------------------
// Calendars and their sync state.

/** Stores what discovery found; calendars no longer there are removed with their meetings. */
export async function saveDiscovery(db: Db, accountId: string, discovery: Discovery): Promise<CalendarRow[]> {
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    const existing = await trx.selectFrom('calendars').select(['id', 'url']).where('account_id', '=', accountId).execute();
    const urls = new Set(discovery.calendars.map((c) => c.url));
    const gone = existing.filter((c) => !urls.has(c.url)).map((c) => c.id);
    if (gone.length > 0) {
      await trx.deleteFrom('meetings').where('calendar_id', 'in', gone).execute();
      await trx.deleteFrom('calendars').where('id', 'in', gone).execute();
    }
    for (const calendar of discovery.calendars) {
      const values = {
        display_name: calendar.displayName,
        time_zone: calendar.timeZone,
        writable: calendar.writable ? 1 : 0,
        supports_sync: calendar.supportsSyncToken ? 1 : 0,
        updated_at: now,
      };
      const found = existing.find((c) => c.url === calendar.url);
      if (found) {
        await trx.updateTable('calendars').set(values).where('id', '=', found.id).execute();
      } else {
        await trx
          .insertInto('calendars')
          .values({ id: newId(now), account_id: accountId, url: calendar.url, ctag: null, sync_token: null, created_at: now, ...values })
          .execute();
      }
    }
  });
  return db.selectFrom('calendars').selectAll().where('account_id', '=', accountId).orderBy('created_at').orderBy('id').execute();
}

export function remoteCalendar(row: CalendarRow): RemoteCalendar {
  return {
    url: row.url,
    displayName: row.display_name,
    ctag: row.ctag,
    supportsSyncToken: row.supports_sync === 1,
    writable: row.writable === 1,
    timeZone: row.time_zone,
  };
}

/** href → etag of the objects stored for a calendar. */
export async function knownObjects(db: Db, calendarId: string): Promise<Map<string, string | null>> {
  const rows = await db.selectFrom('calendar_objects').select(['href', 'etag']).where('calendar_id', '=', calendarId).execute();
  return new Map(rows.map((r) => [r.href, r.etag]));
}

/** Removes objects (and their meetings) and, when given, moves the calendar's state on, in one transaction. */
export async function removeObjects(db: Db, calendarId: string, hrefs: string[], state?: CalendarSyncState): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < hrefs.length; i += 500) {
      const chunk = hrefs.slice(i, i + 500);
      await trx.deleteFrom('meetings').where('calendar_id', '=', calendarId).where('href', 'in', chunk).execute();
      await trx.deleteFrom('calendar_objects').where('calendar_id', '=', calendarId).where('href', 'in', chunk).execute();
    }
    if (state) {
      await trx.updateTable('calendars').set({ sync_token: state.syncToken, ctag: state.ctag, updated_at: Date.now() }).where('id', '=', calendarId).execute();
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Storing objects.

export interface IngestResult {
  objects: number;
  events: number;
  /** Objects nothing could be read from. */
  unreadableObjects: number;
  /** Events skipped because they could not be read. */
  unreadableEvents: number;
  problems: Array<ParseProblem & { href: string }>;
  contactsCreated: number;
}

function personName(name: string | null): { firstName: string | null; lastName: string | null } {
  const parts = (name ?? '').trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return { firstName: null, lastName: null };
  if (parts.length === 1) return { firstName: parts[0]!, lastName: null };
  return { firstName: parts.slice(0, -1).join(' '), lastName: parts[parts.length - 1]! };
}

function isPlace(kind: string | null): boolean {
  return kind === 'room' || kind === 'resource';
}

/** The addresses of an event that may be contacts: its organizer and attendees, but never rooms or resources. */
function peopleOf(event: ParsedEvent): Array<{ address: string; name: string | null }> {
  const people: Array<{ address: string; name: string | null }> = [];
  if (event.organizer) people.push(event.organizer);
  for (const attendee of event.attendees) if (!isPlace(attendee.kind)) people.push(attendee);
  return people;
}

/**
 * Contact ids for every address of these events (existing contacts), after creating contacts for new attendees
 * and organizers when the owner's automatic creation is on: never for the organisation's own people, rooms,
 * resources, machine addresses, never-logged ones, or people of cancelled meetings.
 */
async function contactsFor(db: Db, account: AccountContext, events: ParsedEvent[]): Promise<{ links: Map<string, string>; created: number }> {
  const names = new Map<string, string | null>();
  for (const event of events) for (const p of peopleOf(event)) if (!names.has(p.address) || (!names.get(p.address) && p.name)) names.set(p.address, p.name);
  const links = await takenAddresses(db, account.orgId, [...names.keys()]);
  if (!account.autoCreateContacts) return { links, created: 0 };
  const own = new Set([...account.orgAddresses].map(withoutTag));
  const candidates = new Set<string>();
  for (const event of events) {
    if (event.status === 'cancelled') continue;
    for (const p of peopleOf(event)) {
      const address = p.address;
      if (links.has(address) || candidates.has(address) || !isValidEmail(address)) continue;
      if (own.has(withoutTag(address)) || isMachineAddress(address) || isNeverLogged(address, account.neverLog)) continue;
      candidates.add(address);
    }
  }
  // Created meanwhile by another sync (or a person): linked to that one.
  const ensured = await ensureContacts(db, account.orgId, [...candidates].map((address) => ({ address, ...personName(names.get(address) ?? null) })), 'auto-meeting');
  for (const [address, id] of ensured.ids) links.set(address, id);
  return { links, created: ensured.created };
}

export interface IngestScope {
  account: AccountContext;
  calendar: Pick<CalendarRow, 'id' | 'time_zone'>;
  window: TimeWindow;
}

function problemText(problems: ParseProblem[]): string | null {
  if (problems.length === 0) return null;
  return problems
    .map((p) => `${p.severity === 'file' ? 'unreadable' : p.severity === 'event' ? 'event skipped' : 'note'}${p.title ? ` "${p.title}"` : p.uid ? ` (${p.uid})` : ''}: ${p.message}`)
    .join('\n')
    .slice(0, 4000);
}

/**
 * Parses objects and stores them: their meetings (upserted on account + UID + occurrence, so a meeting keeps its id
 * through changes), attendees, contact links and the object's own record, in one transaction; with `state`, the
 * calendar's sync state moves on in the same transaction (it covers exactly what was stored).
 */
export async function ingestObjects(db: Db, scope: IngestScope, objects: CalendarObject[], state?: CalendarSyncState): Promise<IngestResult> {
  const { account, calendar, window } = scope;
  const parsed: Array<{ object: CalendarObject; result: ParsedCalendar }> = objects.map((object) => ({
    object,
    result: parseEvents(object.ics, { window, defaultTimeZone: calendar.time_zone, fallbackUid: object.href }),
  }));
  const allEvents = parsed.flatMap((p) => p.result.events);
  const { links, created } = await contactsFor(db, account, allEvents);
  const result: IngestResult = { objects: objects.length, events: allEvents.length, unreadableObjects: 0, unreadableEvents: 0, problems: [], contactsCreated: created };
  const now = Date.now();
  const own = new Set([...account.ownAddresses].map(withoutTag));

  await db.transaction().execute(async (trx) => {
    // Rows already stored for these events, wherever they came from (an event can move between objects).
    const uids = [...new Set(allEvents.map((e) => e.uid))];
    const byKey = new Map<string, string>();
    for (let i = 0; i < uids.length; i += 500) {
      const rows = await trx
        .selectFrom('meetings')
        .select(['id', 'uid', 'recurrence_id'])
        .where('account_id', '=', account.id)
        .where('uid', 'in', uids.slice(i, i + 500))
        .execute();
      for (const row of rows) byKey.set(`${row.uid}\u0000${row.recurrence_id}`, row.id);
    }

    for (const { object, result: parsedObject } of parsed) {
      const fileProblem = parsedObject.problems.some((p) => p.severity === 'file');
      const skipped = parsedObject.problems.filter((p) => p.severity === 'event').length;
      if (fileProblem) result.unreadableObjects++;
      result.unreadableEvents += skipped;
      for (const problem of parsedObject.problems) result.problems.push({ ...problem, href: object.href });

      const before = await trx.selectFrom('meetings').select('id').where('calendar_id', '=', calendar.id).where('href', '=', object.href).execute();
      const keep = new Set<string>();
      const inserts: Insertable<MeetingsTable>[] = [];
      const attendees: Array<{ id: string; meeting_id: string; address: string; name: string | null; status: string | null; role: string | null; kind: string | null }> = [];
      const contactRows = new Map<string, { meeting_id: string; contact_id: string }>();
      for (const event of parsedObject.events) {
        const key = `${event.uid}\u0000${event.recurrenceId}`;
        const organizer = event.organizer?.address ?? null;
        const values = {
          org_id: account.orgId,
          account_id: account.id,
          calendar_id: calendar.id,
          uid: event.uid,
          recurrence_id: event.recurrenceId,
          href: object.href,
          etag: object.etag,
          title: event.title?.slice(0, 1000) ?? null,
          description: event.description?.slice(0, 20_000) ?? null,
          location: event.location?.slice(0, 1000) ?? null,
          start_at: event.start,
          end_at: event.end,
          all_day: event.allDay ? 1 : 0,
          status: event.status,
          organizer_address: organizer,
          organizer_name: event.organizer?.name ?? null,
          raw_ics: null,
          deleted_at: null,
          organizer_is_self: organizer === null || own.has(withoutTag(organizer)) ? 1 : 0,
          updated_at: now,
        };
        let id = byKey.get(key);
        // The same occurrence twice in one object (a duplicated override): the first one counts.
        if (id && keep.has(id)) continue;
        if (id) {
          await trx.updateTable('meetings').set(values).where('id', '=', id).execute();
        } else {
          id = newId(now);
          byKey.set(key, id);
          inserts.push({ id, ...values, created_at: now });
        }
        keep.add(id);
        for (const a of event.attendees) {
          attendees.push({ id: newId(now), meeting_id: id, address: a.address, name: a.name, status: a.status, role: a.role, kind: a.kind });
        }
        for (const p of peopleOf(event)) {
          const contactId = links.get(p.address);
          if (contactId) contactRows.set(`${id}/${contactId}`, { meeting_id: id, contact_id: contactId });
        }
      }
      const touched = [...keep];
      const removed = before.map((r) => r.id).filter((id) => !keep.has(id));
      for (let i = 0; i < removed.length; i += 500) await trx.deleteFrom('meetings').where('id', 'in', removed.slice(i, i + 500)).execute();
      for (let i = 0; i < touched.length; i += 500) {
        const chunk = touched.slice(i, i + 500);
        await trx.deleteFrom('meeting_attendees').where('meeting_id', 'in', chunk).execute();
        await trx.deleteFrom('meeting_contacts').where('meeting_id', 'in', chunk).execute();
      }
      for (let i = 0; i < inserts.length; i += INSERT_CHUNK) await trx.insertInto('meetings').values(inserts.slice(i, i + INSERT_CHUNK)).execute();
      for (let i = 0; i < attendees.length; i += INSERT_CHUNK) await trx.insertInto('meeting_attendees').values(attendees.slice(i, i + INSERT_CHUNK)).execute();
      const contactList = [...contactRows.values()];
      for (let i = 0; i < contactList.length; i += INSERT_CHUNK) await trx.insertInto('meeting_contacts').values(contactList.slice(i, i + INSERT_CHUNK)).execute();

      const record = {
        etag: object.etag,
        uid: parsedObject.uids[0] ?? null,
        raw_ics: parsedObject.windowDependent ? object.ics : null,
        problem: problemText(parsedObject.problems),
        event_count: parsedObject.events.length,
        updated_at: now,
      };
      const updated = await trx.updateTable('calendar_objects').set(record).where('calendar_id', '=', calendar.id).where('href', '=', object.href).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) {
        await trx.insertInto('calendar_objects').values({ id: newId(now), calendar_id: calendar.id, href: object.href, created_at: now, ...record }).execute();
      }
    }
    if (state) {
      await trx.updateTable('calendars').set({ sync_token: state.syncToken, ctag: state.ctag, updated_at: now }).where('id', '=', calendar.id).execute();
    }
  });
  return result;
}

/**
 * Expands again, from the text kept for them, the objects whose meetings depend on the window (series, far-future
 * events): as days pass, new occurrences enter the window and old ones leave. No request to the server.
 */
export async function reexpandCalendar(db: Db, scope: IngestScope): Promise<IngestResult> {
  const rows = await db.selectFrom('calendar_objects').select(['href', 'etag', 'raw_ics']).where('calendar_id', '=', scope.calendar.id).where('raw_ics', 'is not', null).execute();
  const objects = rows.map((r) => ({ href: r.href, etag: r.etag, ics: r.raw_ics! }));
  let total: IngestResult = { objects: 0, events: 0, unreadableObjects: 0, unreadableEvents: 0, problems: [], contactsCreated: 0 };
  for (let i = 0; i < objects.length; i += 50) {
    const r = await ingestObjects(db, scope, objects.slice(i, i + 50));
    total = {
      objects: total.objects + r.objects,
      events: total.events + r.events,
      unreadableObjects: total.unreadableObjects + r.unreadableObjects,
      unreadableEvents: total.unreadableEvents + r.unreadableEvents,
      problems: [...total.problems, ...r.problems],
      contactsCreated: total.contactsCreated + r.contactsCreated,
    };
  }
  return total;
}

/** Links stored meetings to new contact addresses (a contact created by hand after its meetings were synced). */
export async function linkMeetingsToAddresses(db: Db, orgId: string, addresses: string[]): Promise<void> {
  const normalized = [...new Set(addresses.map(normalizeEmail))];
  if (normalized.length === 0) return;
  const contacts = await takenAddresses(db, orgId, normalized);
  for (const [address, contactId] of contacts) {
    await db
      .insertInto('meeting_contacts')
      .columns(['meeting_id', 'contact_id'])
      .expression((eb) =>
        eb
          .selectFrom('meetings')
          .select(['meetings.id', eb.val(contactId).as('contact_id')])
          .where('meetings.org_id', '=', orgId)
          .where((w) =>
            w.or([
              w('meetings.organizer_address', '=', address),
              w.exists(
                w
                  .selectFrom('meeting_attendees')
                  .select('meeting_attendees.id')
                  .whereRef('meeting_attendees.meeting_id', '=', 'meetings.id')
                  .where('meeting_attendees.address', '=', address)
                  .where((k) => k.or([k('meeting_attendees.kind', 'is', null), k('meeting_attendees.kind', 'not in', ['room', 'resource'])])),
              ),
            ]),
          ),
      )
      .onConflict((oc) => oc.columns(['meeting_id', 'contact_id']).doNothing())
      .execute();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading.

export interface MeetingPerson {
  address: string;
  name?: string;
}

export interface MeetingAttendee extends MeetingPerson {
  status?: string;
  /** individual, group, room, resource, unknown. */
  kind?: string;
}

export interface Meeting {
  id: string;
  title: string | null;
  start: string;
  end: string;
  allDay: boolean;
  location?: string;
  description?: string;
  organizer?: MeetingPerson;
  attendees: MeetingAttendee[];
  contactIds: string[];
  /** confirmed, tentative, cancelled, or null when the calendar does not say. */
  status: string | null;
  accountId: string | null;
  calendarId: string | null;
  uid: string;
  /** '' for a single event; the occurrence's original start for an occurrence of a series. */
  recurrenceId: string;
  /** Whether the CRM may move or cancel it: the account's own, organised by it. */
  editable: boolean;
}

/** A meeting is visible to the organisation unless its mailbox is private (then only to its owner). */
function visibleMeetings(db: Db, user: User) {
  return db
    .selectFrom('meetings')
    .leftJoin('email_accounts', 'email_accounts.id', 'meetings.account_id')
    .selectAll('meetings')
    .select(['email_accounts.user_id as account_user_id'])
    .where('meetings.deleted_at', 'is', null)
    .where(meetingVisibleTo(user));
}

type MeetingRow = Awaited<ReturnType<ReturnType<typeof visibleMeetings>['execute']>>[number];

/** The same meeting synced through several mailboxes of the organisation is shown once (the caller's copy first). */
function dedupe(rows: MeetingRow[], user: User): MeetingRow[] {
  const chosen = new Map<string, MeetingRow>();
  for (const row of rows) {
    const key = `${row.uid}\u0000${row.recurrence_id}`;
    const current = chosen.get(key);
    if (!current || (current.account_user_id !== user.id && row.account_user_id === user.id)) chosen.set(key, row);
  }
  const keep = new Set(chosen.values());
  return rows.filter((r) => keep.has(r));
}

async function toMeetings(db: Db, rows: MeetingRow[], user: User): Promise<Meeting[]> {
  const ids = rows.map((r) => r.id);
  const attendees = new Map<string, MeetingAttendee[]>();
  const contacts = new Map<string, string[]>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const [people, links] = await Promise.all([
      db.selectFrom('meeting_attendees').select(['meeting_id', 'address', 'name', 'status', 'kind']).where('meeting_id', 'in', chunk).orderBy('id').execute(),
      db.selectFrom('meeting_contacts').select(['meeting_id', 'contact_id']).where('meeting_id', 'in', chunk).orderBy('contact_id').execute(),
    ]);
    for (const p of people) {
      const list = attendees.get(p.meeting_id) ?? [];
      list.push({ address: p.address, ...(p.name ? { name: p.name } : {}), ...(p.status ? { status: p.status } : {}), ...(p.kind ? { kind: p.kind } : {}) });
      attendees.set(p.meeting_id, list);
    }
    for (const l of links) {
      const list = contacts.get(l.meeting_id) ?? [];
      list.push(l.contact_id);
      contacts.set(l.meeting_id, list);
    }
  }
  return rows.map((row) => ({
    id: row.id,
    title: row.title,
    start: new Date(row.start_at).toISOString(),
    end: new Date(row.end_at).toISOString(),
    allDay: row.all_day === 1,
    ...(row.location ? { location: row.location } : {}),
    ...(row.description ? { description: row.description } : {}),
    ...(row.organizer_address ? { organizer: { address: row.organizer_address, ...(row.organizer_name ? { name: row.organizer_name } : {}) } } : {}),
    attendees: attendees.get(row.id) ?? [],
    contactIds: contacts.get(row.id) ?? [],
    status: row.status,
    accountId: row.account_id,
    calendarId: row.calendar_id,
    uid: row.uid,
    recurrenceId: row.recurrence_id,
    editable: row.account_user_id === user.id && row.organizer_is_self === 1 && row.calendar_id !== null,
  }));
}

export const MAX_MEETINGS = 2_000;

/** Meetings overlapping [from, to), earliest first (at most MAX_MEETINGS). */
export async function listMeetings(db: Db, user: User, range: { from: number; to: number }): Promise<Meeting[]> {
  const rows = await visibleMeetings(db, user)
    .where('meetings.start_at', '<', range.to)
    .where('meetings.end_at', '>=', range.from)
    .orderBy('meetings.start_at')
    .orderBy('meetings.id')
    .limit(MAX_MEETINGS * 2)
    .execute();
  return toMeetings(db, dedupe(rows, user).slice(0, MAX_MEETINGS), user);
}

/** A contact's meetings, newest first. */
export async function contactMeetings(db: Db, user: User, contactId: string): Promise<Meeting[]> {
  const contact = await db.selectFrom('contacts').select('id').where('org_id', '=', user.orgId).where('id', '=', contactId).executeTakeFirst();
  if (!contact) throw notFound('Contact');
  const rows = await visibleMeetings(db, user)
    .where('meetings.id', 'in', (eb) => eb.selectFrom('meeting_contacts').select('meeting_id').where('contact_id', '=', contactId))
    .orderBy('meetings.start_at', 'desc')
    .orderBy('meetings.id', 'desc')
    .limit(MAX_MEETINGS * 2)
    .execute();
  return toMeetings(db, dedupe(rows, user).slice(0, MAX_MEETINGS), user);
}

export async function getMeeting(db: Db, user: User, id: string): Promise<Meeting> {
  const row = await visibleMeetings(db, user).where('meetings.id', '=', id).executeTakeFirst();
  if (!row) throw notFound('Meeting');
  return (await toMeetings(db, [row], user))[0]!;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing from the CRM: to the calendar first, then stored from what the calendar holds.

/** What the CRM's writes need: the database and a way to reach an account's calendar. */
export interface MeetingWriteDeps {
  db: Db;
  bccDomain: string;
  /** The account's calendar driver, or null when the account has no calendar. */
  driverFor(account: EmailAccountsTable): Promise<CalendarDriver | null>;
  window?: WindowOptions;
}

/** A calendar error as the API's error, once, here. */
export function calendarAppError(error: unknown): never {
  if (!(error instanceof CalendarError)) throw error;
  switch (error.code) {
    case 'AUTH_FAILED':
      throw new AppError('AUTH_FAILED', `The calendar server refused the account's credentials (${error.message})`, { hint: 'Reconnect the account with Edit.', cause: error });
    case 'CONFLICT':
      throw new AppError('CONFLICT', error.message, { cause: error });
    case 'NOT_FOUND':
      throw new AppError('NOT_FOUND', `Not on the calendar any more: ${error.message}`, { cause: error });
    case 'FORBIDDEN':
      throw new AppError('FORBIDDEN', error.message, { cause: error });
    case 'NOT_AVAILABLE':
      throw new AppError('CONFLICT', error.message, { hint: 'Give the account its CalDAV URL (caldavUrl) to use its calendar.', cause: error });
    case 'TEMPORARY':
      throw new AppError('TIMEOUT', `The calendar server could not be reached: ${error.message}`, { hint: 'Try again in a moment.', cause: error });
    case 'HOST_NOT_ALLOWED':
      throw new AppError('HOST_NOT_ALLOWED', error.message, { cause: error });
    case 'CURSOR_INVALID':
    case 'PROTOCOL_ERROR':
      throw new AppError('PROTOCOL_ERROR', `The calendar server answered something unexpected: ${error.message}`, { cause: error });
    default: {
      const exhaustive: never = error.code;
      throw new AppError('INTERNAL', `unexpected calendar error ${String(exhaustive)}`);
    }
  }
}

function ownAccount(db: Db, user: User, accountId: string): Promise<EmailAccountsTable> {
  return mailboxFor(db, user, accountId, 'use');
}

async function driverOrFail(deps: MeetingWriteDeps, row: EmailAccountsTable): Promise<CalendarDriver> {
  const driver = await deps.driverFor(row);
  if (!driver) throw new AppError('CONFLICT', `${row.email} has no calendar Conversa can write to`, { hint: 'Give the account its CalDAV URL (caldavUrl).' });
  return driver;
}

/** The calendar new meetings go to: the first writable one (discovered now if the account has none stored yet). */
async function defaultCalendar(deps: MeetingWriteDeps, row: EmailAccountsTable, driver: CalendarDriver, signal: AbortSignal): Promise<CalendarRow> {
  let calendars = await deps.db.selectFrom('calendars').selectAll().where('account_id', '=', row.id).orderBy('created_at').orderBy('id').execute();
  if (calendars.length === 0) calendars = await saveDiscovery(deps.db, row.id, await driver.discover(signal));
  const writable = calendars.find((c) => c.writable === 1);
  if (!writable) throw new AppError('CONFLICT', `${row.email} has no calendar Conversa can write to`, { hint: 'Create a calendar on the account, or check its permissions.' });
  return writable;
}

async function storeWritten(deps: MeetingWriteDeps, row: EmailAccountsTable, calendar: CalendarRow, object: CalendarObject | null, href: string): Promise<void> {
  if (object) {
    const account = await accountContext(deps.db, row, deps.bccDomain);
    await ingestObjects(deps.db, { account, calendar, window: syncWindow(account, deps.window) }, [object]);
  } else {
    await removeObjects(deps.db, calendar.id, [href]);
  }
}

export interface MeetingInput {
  accountId: string;
  title: string;
  start: number;
  end: number;
  location?: string | null;
  attendees: string[];
}

function checkSpan(start: number, end: number): void {
  if (!(end > start)) throw new AppError('VALIDATION_FAILED', 'A meeting must end after it starts', { fields: [{ path: 'body.end', message: 'must be after start' }] });
}

export async function createMeeting(deps: MeetingWriteDeps, user: User, input: MeetingInput, signal: AbortSignal = new AbortController().signal): Promise<Meeting> {
  const row = await ownAccount(deps.db, user, input.accountId);
  checkSpan(input.start, input.end);
  const attendees = normalizeEmailList(input.attendees, 'body.attendees');
  const driver = await driverOrFail(deps, row);
  const uid = `${newId()}@conversa`;
  let href = '';
  let calendarId = '';
  try {
    const calendar = await defaultCalendar(deps, row, driver, signal);
    const organizerName = (await deps.db.selectFrom('users').select('display_name').where('id', '=', user.id).executeTakeFirst())?.display_name ?? null;
    const object = await driver.create(
      remoteCalendar(calendar),
      {
        uid,
        title: input.title,
        start: input.start,
        end: input.end,
        location: input.location ?? null,
        organizer: { address: row.email, name: organizerName },
        attendees: attendees.map((address) => ({ address })),
      },
      signal,
    );
    await storeWritten(deps, row, calendar, object, object.href);
    href = object.href;
    calendarId = calendar.id;
  } catch (error) {
    calendarAppError(error);
  }
  // By where it was written: a service may give the event its own UID.
  const stored = await deps.db.selectFrom('meetings').select('id').where('calendar_id', '=', calendarId).where('href', '=', href).orderBy('start_at').executeTakeFirst();
  if (!stored) throw new AppError('INTERNAL', 'The meeting was written to the calendar but could not be read back');
  return getMeeting(deps.db, user, stored.id);
}

export interface MeetingPatch {
  title?: string;
  start?: number;
  end?: number;
  location?: string | null;
  attendees?: string[];
}

/** The meeting, its account and calendar, when the caller may change it on the calendar. */
async function editableMeeting(deps: MeetingWriteDeps, user: User, id: string) {
  const meeting = await deps.db.selectFrom('meetings').selectAll().where('id', '=', id).where('org_id', '=', user.orgId).where('deleted_at', 'is', null).executeTakeFirst();
  if (!meeting) throw notFound('Meeting');
  const account = meeting.account_id ? await deps.db.selectFrom('email_accounts').selectAll().where('id', '=', meeting.account_id).executeTakeFirst() : undefined;
  // Visible but someone else's: read-only to this user; not visible at all: not found.
  if (!account) throw new AppError('FORBIDDEN', 'This meeting came from a mailbox that is no longer connected; change it in the calendar itself');
  if (!mayOnMailbox(user, account, 'use')) {
    if (!mayReadFromMailbox(user, account)) throw notFound('Meeting');
    throw new AppError('FORBIDDEN', "Only the owner of the mailbox whose calendar holds this meeting can change it");
  }
  if (meeting.organizer_is_self !== 1) {
    throw new AppError('FORBIDDEN', `${meeting.organizer_address ?? 'Someone else'} organises this meeting; only the organizer can move or cancel it`);
  }
  const calendar = meeting.calendar_id ? await deps.db.selectFrom('calendars').selectAll().where('id', '=', meeting.calendar_id).executeTakeFirst() : undefined;
  if (!calendar || !meeting.href) throw new AppError('FORBIDDEN', 'This meeting is not on a calendar Conversa syncs');
  return { meeting, account, calendar, href: meeting.href };
}

export async function updateMeeting(deps: MeetingWriteDeps, user: User, id: string, patch: MeetingPatch, signal: AbortSignal = new AbortController().signal): Promise<Meeting> {
  const { meeting, account, calendar, href } = await editableMeeting(deps, user, id);
  const start = patch.start ?? (patch.end !== undefined ? meeting.start_at : undefined);
  const end = patch.end ?? (patch.start !== undefined ? patch.start + (meeting.end_at - meeting.start_at) : undefined);
  if (start !== undefined && end !== undefined) checkSpan(start, end);
  const attendees = patch.attendees === undefined ? undefined : normalizeEmailList(patch.attendees, 'body.attendees').map((address) => ({ address }));
  const driver = await driverOrFail(deps, account);
  try {
    const object = await driver.update(
      remoteCalendar(calendar),
      { href, etag: meeting.etag, recurrenceId: meeting.recurrence_id, start: meeting.start_at, end: meeting.end_at, allDay: meeting.all_day === 1 },
      {
        ...(patch.title !== undefined ? { title: patch.title } : {}),
        ...(start !== undefined ? { start } : {}),
        ...(end !== undefined ? { end } : {}),
        ...(patch.location !== undefined ? { location: patch.location } : {}),
        ...(attendees !== undefined ? { attendees } : {}),
      },
      signal,
    );
    await storeWritten(deps, account, calendar, object, href);
  } catch (error) {
    calendarAppError(error);
  }
  return getMeeting(deps.db, user, id);
}

/** Cancels a meeting: deleted on the calendar (one occurrence: excluded from its series), then removed here. */
export async function cancelMeeting(deps: MeetingWriteDeps, user: User, id: string, signal: AbortSignal = new AbortController().signal): Promise<void> {
  const { meeting, account, calendar, href } = await editableMeeting(deps, user, id);
  const driver = await driverOrFail(deps, account);
  try {
    const object = await driver.remove(
      remoteCalendar(calendar),
      { href, etag: meeting.etag, recurrenceId: meeting.recurrence_id, start: meeting.start_at, end: meeting.end_at, allDay: meeting.all_day === 1 },
      signal,
    );
    await storeWritten(deps, account, calendar, object, href);
  } catch (error) {
    calendarAppError(error);
  }
  // Whatever the calendar now says, this occurrence is gone from the CRM.
  await deps.db.deleteFrom('meetings').where('id', '=', id).execute();
}
