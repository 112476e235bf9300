// Storing what a calendar sync brings: the calendars discovery found, and calendar objects turned into meetings with
// their attendees and contact links (one transaction per batch of objects, upserted on account + UID + occurrence so
// ids stay stable); new attendees made contacts when the owner asked for it; series expanded again as days pass;
// meetings linked to contacts created later by hand.
import type { Insertable, Selectable } from 'kysely';
import { normalizeEmail, isValidEmail } from '../../contacts/email-address.js';
import { takenAddresses } from '../../contacts/contacts.js';
import { ensureContacts } from '../../contacts/ensure-contacts.js';
import { isMachineAddress } from '../../mail/rules/machine-senders.js';
import { isNeverLogged } from '../../mail/rules/never-log.js';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { CalendarsTable, MeetingsTable } from '../../storage/schema.js';
import type { CalendarObject, CalendarSyncState, Discovery, RemoteCalendar } from '../calendar-driver.js';
import {
  parseEvents,
  type ParsedCalendar,
  type ParsedEvent,
  type ParseProblem,
  type TimeWindow,
} from '../ical/parse-events.js';
import type { AccountContext } from './account-context.js';

/** Rows per multi-row INSERT: well under both dialects' limits on bound parameters. */
const INSERT_CHUNK = 200;

export type CalendarRow = Selectable<CalendarsTable>;

/** `ana+crm@x.com` → `ana@x.com`: a subaddress delivers to the same mailbox. */
function withoutTag(address: string): string {
  return address.replace(/^([^@+]+)\+[^@]*@/, '$1@');
}

// ---------------------------------------------------------------------------------------------------------------
// Calendars and their sync state.

/** Stores what discovery found; calendars no longer there are removed with their meetings. */
export async function saveDiscovery(db: Db, accountId: string, discovery: Discovery): Promise<CalendarRow[]> {
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom('calendars')
      .select(['id', 'url'])
      .where('account_id', '=', accountId)
      .execute();
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
          .values({
            id: newId(now),
            account_id: accountId,
            url: calendar.url,
            ctag: null,
            sync_token: null,
            created_at: now,
            ...values,
          })
          .execute();
      }
    }
  });
  return db
    .selectFrom('calendars')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
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
  const rows = await db
    .selectFrom('calendar_objects')
    .select(['href', 'etag'])
    .where('calendar_id', '=', calendarId)
    .execute();
  return new Map(rows.map((r) => [r.href, r.etag]));
}

/** Removes objects (and their meetings) and, when given, moves the calendar's state on, in one transaction. */
export async function removeObjects(
  db: Db,
  calendarId: string,
  hrefs: string[],
  state?: CalendarSyncState,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < hrefs.length; i += 500) {
      const chunk = hrefs.slice(i, i + 500);
      await trx.deleteFrom('meetings').where('calendar_id', '=', calendarId).where('href', 'in', chunk).execute();
      await trx
        .deleteFrom('calendar_objects')
        .where('calendar_id', '=', calendarId)
        .where('href', 'in', chunk)
        .execute();
    }
    if (state) {
      await trx
        .updateTable('calendars')
        .set({ sync_token: state.syncToken, ctag: state.ctag, updated_at: Date.now() })
        .where('id', '=', calendarId)
        .execute();
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
async function contactsFor(
  db: Db,
  account: AccountContext,
  events: ParsedEvent[],
): Promise<{ links: Map<string, string>; created: number }> {
  const names = new Map<string, string | null>();
  for (const event of events)
    for (const p of peopleOf(event))
      if (!names.has(p.address) || (!names.get(p.address) && p.name)) names.set(p.address, p.name);
  const links = await takenAddresses(db, account.orgId, [...names.keys()]);
  if (!account.autoCreateContacts) return { links, created: 0 };
  const own = new Set([...account.orgAddresses].map(withoutTag));
  const candidates = new Set<string>();
  for (const event of events) {
    if (event.status === 'cancelled') continue;
    for (const p of peopleOf(event)) {
      const address = p.address;
      if (links.has(address) || candidates.has(address) || !isValidEmail(address)) continue;
      if (own.has(withoutTag(address)) || isMachineAddress(address) || isNeverLogged(address, account.neverLog))
        continue;
      candidates.add(address);
    }
  }
  // Created meanwhile by another sync (or a person): linked to that one.
  const ensured = await ensureContacts(
    db,
    account.orgId,
    [...candidates].map((address) => ({ address, ...personName(names.get(address) ?? null) })),
    'auto-meeting',
  );
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
    .map(
      (p) =>
        `${p.severity === 'file' ? 'unreadable' : p.severity === 'event' ? 'event skipped' : 'note'}${p.title ? ` "${p.title}"` : p.uid ? ` (${p.uid})` : ''}: ${p.message}`,
    )
    .join('\n')
    .slice(0, 4000);
}

/**
 * Parses objects and stores them: their meetings (upserted on account + UID + occurrence, so a meeting keeps its id
 * through changes), attendees, contact links and the object's own record, in one transaction; with `state`, the
 * calendar's sync state moves on in the same transaction (it covers exactly what was stored).
 */
export async function ingestObjects(
  db: Db,
  scope: IngestScope,
  objects: CalendarObject[],
  state?: CalendarSyncState,
): Promise<IngestResult> {
  const { account, calendar, window } = scope;
  const parsed: Array<{ object: CalendarObject; result: ParsedCalendar }> = objects.map((object) => ({
    object,
    result: parseEvents(object.ics, { window, defaultTimeZone: calendar.time_zone, fallbackUid: object.href }),
  }));
  const allEvents = parsed.flatMap((p) => p.result.events);
  const { links, created } = await contactsFor(db, account, allEvents);
  const result: IngestResult = {
    objects: objects.length,
    events: allEvents.length,
    unreadableObjects: 0,
    unreadableEvents: 0,
    problems: [],
    contactsCreated: created,
  };
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

      const before = await trx
        .selectFrom('meetings')
        .select('id')
        .where('calendar_id', '=', calendar.id)
        .where('href', '=', object.href)
        .execute();
      const keep = new Set<string>();
      const inserts: Insertable<MeetingsTable>[] = [];
      const attendees: Array<{
        id: string;
        meeting_id: string;
        address: string;
        name: string | null;
        status: string | null;
        role: string | null;
        kind: string | null;
      }> = [];
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
          transparent: event.transparent ? 1 : 0,
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
          attendees.push({
            id: newId(now),
            meeting_id: id,
            address: a.address,
            name: a.name,
            status: a.status,
            role: a.role,
            kind: a.kind,
          });
        }
        for (const p of peopleOf(event)) {
          const contactId = links.get(p.address);
          if (contactId) contactRows.set(`${id}/${contactId}`, { meeting_id: id, contact_id: contactId });
        }
      }
      const touched = [...keep];
      const removed = before.map((r) => r.id).filter((id) => !keep.has(id));
      for (let i = 0; i < removed.length; i += 500)
        await trx
          .deleteFrom('meetings')
          .where('id', 'in', removed.slice(i, i + 500))
          .execute();
      for (let i = 0; i < touched.length; i += 500) {
        const chunk = touched.slice(i, i + 500);
        await trx.deleteFrom('meeting_attendees').where('meeting_id', 'in', chunk).execute();
        await trx.deleteFrom('meeting_contacts').where('meeting_id', 'in', chunk).execute();
      }
      for (let i = 0; i < inserts.length; i += INSERT_CHUNK)
        await trx
          .insertInto('meetings')
          .values(inserts.slice(i, i + INSERT_CHUNK))
          .execute();
      for (let i = 0; i < attendees.length; i += INSERT_CHUNK)
        await trx
          .insertInto('meeting_attendees')
          .values(attendees.slice(i, i + INSERT_CHUNK))
          .execute();
      const contactList = [...contactRows.values()];
      for (let i = 0; i < contactList.length; i += INSERT_CHUNK)
        await trx
          .insertInto('meeting_contacts')
          .values(contactList.slice(i, i + INSERT_CHUNK))
          .execute();

      const record = {
        etag: object.etag,
        uid: parsedObject.uids[0] ?? null,
        raw_ics: parsedObject.windowDependent ? object.ics : null,
        problem: problemText(parsedObject.problems),
        event_count: parsedObject.events.length,
        updated_at: now,
      };
      const updated = await trx
        .updateTable('calendar_objects')
        .set(record)
        .where('calendar_id', '=', calendar.id)
        .where('href', '=', object.href)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) {
        await trx
          .insertInto('calendar_objects')
          .values({ id: newId(now), calendar_id: calendar.id, href: object.href, created_at: now, ...record })
          .execute();
      }
    }
    if (state) {
      await trx
        .updateTable('calendars')
        .set({ sync_token: state.syncToken, ctag: state.ctag, updated_at: now })
        .where('id', '=', calendar.id)
        .execute();
    }
  });
  return result;
}

/**
 * Expands again, from the text kept for them, the objects whose meetings depend on the window (series, far-future
 * events): as days pass, new occurrences enter the window and old ones leave. No request to the server.
 */
export async function reexpandCalendar(db: Db, scope: IngestScope): Promise<IngestResult> {
  const rows = await db
    .selectFrom('calendar_objects')
    .select(['href', 'etag', 'raw_ics'])
    .where('calendar_id', '=', scope.calendar.id)
    .where('raw_ics', 'is not', null)
    .execute();
  const objects = rows.map((r) => ({ href: r.href, etag: r.etag, ics: r.raw_ics! }));
  let total: IngestResult = {
    objects: 0,
    events: 0,
    unreadableObjects: 0,
    unreadableEvents: 0,
    problems: [],
    contactsCreated: 0,
  };
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
                  .where((k) =>
                    k.or([
                      k('meeting_attendees.kind', 'is', null),
                      k('meeting_attendees.kind', 'not in', ['room', 'resource']),
                    ]),
                  ),
              ),
            ]),
          ),
      )
      .onConflict((oc) => oc.columns(['meeting_id', 'contact_id']).doNothing())
      .execute();
  }
}
