// Reading meetings: a range of them, a contact's timeline, one meeting; each under the mailbox's visibility as the
// access policy decides it, the same meeting synced through several mailboxes shown once.
import { notFound } from '../../core/app-error.js';
import { assertContactInOrg } from '../../contacts/contacts.js';
import { meetingVisibleTo } from '../../access/access-policy.js';
import type { Db } from '../../storage/database.js';
import type { User } from '../../users/users.js';

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
      db
        .selectFrom('meeting_attendees')
        .select(['meeting_id', 'address', 'name', 'status', 'kind'])
        .where('meeting_id', 'in', chunk)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('meeting_contacts')
        .select(['meeting_id', 'contact_id'])
        .where('meeting_id', 'in', chunk)
        .orderBy('contact_id')
        .execute(),
    ]);
    for (const p of people) {
      const list = attendees.get(p.meeting_id) ?? [];
      list.push({
        address: p.address,
        ...(p.name ? { name: p.name } : {}),
        ...(p.status ? { status: p.status } : {}),
        ...(p.kind ? { kind: p.kind } : {}),
      });
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
    ...(row.organizer_address
      ? { organizer: { address: row.organizer_address, ...(row.organizer_name ? { name: row.organizer_name } : {}) } }
      : {}),
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
  await assertContactInOrg(db, user.orgId, contactId);
  const rows = await visibleMeetings(db, user)
    .where('meetings.id', 'in', (eb) =>
      eb.selectFrom('meeting_contacts').select('meeting_id').where('contact_id', '=', contactId),
    )
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
