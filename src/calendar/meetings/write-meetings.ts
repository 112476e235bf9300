// The CRM's own writes to meetings — create, move/rename, cancel — which go to the account's calendar first and are
// stored from what the calendar then holds; a calendar's error becomes the API's error here, once.
import { AppError, notFound } from '../../core/app-error.js';
import { mailboxFor, mayOnMailbox, mayReadFromMailbox } from '../../access/access-policy.js';
import { normalizeEmailList } from '../../contacts/contacts.js';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import type { User } from '../../users/users.js';
import { CalendarError, type CalendarDriver, type CalendarObject } from '../calendar-driver.js';
import { accountContext, syncWindow, type WindowOptions } from './account-context.js';
import { ingestObjects, remoteCalendar, removeObjects, saveDiscovery, type CalendarRow } from './ingest-meetings.js';
import { getMeeting, type Meeting } from './read-meetings.js';

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
      throw new AppError('AUTH_FAILED', `The calendar server refused the account's credentials (${error.message})`, {
        hint: 'Reconnect the account with Edit.',
        cause: error,
      });
    case 'CONFLICT':
      throw new AppError('CONFLICT', error.message, { cause: error });
    case 'NOT_FOUND':
      throw new AppError('NOT_FOUND', `Not on the calendar any more: ${error.message}`, { cause: error });
    case 'FORBIDDEN':
      throw new AppError('FORBIDDEN', error.message, { cause: error });
    case 'NOT_AVAILABLE':
      throw new AppError('CONFLICT', error.message, {
        hint: 'Give the account its CalDAV URL (caldavUrl) to use its calendar.',
        cause: error,
      });
    case 'TEMPORARY':
      throw new AppError('TIMEOUT', `The calendar server could not be reached: ${error.message}`, {
        hint: 'Try again in a moment.',
        cause: error,
      });
    case 'HOST_NOT_ALLOWED':
      throw new AppError('HOST_NOT_ALLOWED', error.message, { cause: error });
    case 'CURSOR_INVALID':
    case 'PROTOCOL_ERROR':
      throw new AppError('PROTOCOL_ERROR', `The calendar server answered something unexpected: ${error.message}`, {
        cause: error,
      });
    default: {
      const exhaustive: never = error.code;
      throw new AppError('INTERNAL', `unexpected calendar error ${String(exhaustive)}`);
    }
  }
}

function ownAccount(db: Db, user: User, accountId: string): Promise<EmailAccountsTable> {
  return mailboxFor(db, user, accountId, 'use');
}

export async function driverOrFail(deps: MeetingWriteDeps, row: EmailAccountsTable): Promise<CalendarDriver> {
  const driver = await deps.driverFor(row);
  if (!driver)
    throw new AppError('CONFLICT', `${row.email} has no calendar Conversa can write to`, {
      hint: 'Give the account its CalDAV URL (caldavUrl).',
    });
  return driver;
}

/** The calendar new meetings go to: the first writable one (discovered now if the account has none stored yet). */
export async function defaultCalendar(
  deps: MeetingWriteDeps,
  row: EmailAccountsTable,
  driver: CalendarDriver,
  signal: AbortSignal,
): Promise<CalendarRow> {
  let calendars = await deps.db
    .selectFrom('calendars')
    .selectAll()
    .where('account_id', '=', row.id)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  if (calendars.length === 0) calendars = await saveDiscovery(deps.db, row.id, await driver.discover(signal));
  const writable = calendars.find((c) => c.writable === 1);
  if (!writable)
    throw new AppError('CONFLICT', `${row.email} has no calendar Conversa can write to`, {
      hint: 'Create a calendar on the account, or check its permissions.',
    });
  return writable;
}

export async function storeWritten(
  deps: MeetingWriteDeps,
  row: EmailAccountsTable,
  calendar: CalendarRow,
  object: CalendarObject | null,
  href: string,
): Promise<void> {
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
  if (!(end > start))
    throw new AppError('VALIDATION_FAILED', 'A meeting must end after it starts', {
      fields: [{ path: 'body.end', message: 'must be after start' }],
    });
}

export async function createMeeting(
  deps: MeetingWriteDeps,
  user: User,
  input: MeetingInput,
  signal: AbortSignal = new AbortController().signal,
): Promise<Meeting> {
  const row = await ownAccount(deps.db, user, input.accountId);
  checkSpan(input.start, input.end);
  const attendees = normalizeEmailList(input.attendees, 'body.attendees');
  const driver = await driverOrFail(deps, row);
  const uid = `${newId()}@conversa`;
  let href = '';
  let calendarId = '';
  try {
    const calendar = await defaultCalendar(deps, row, driver, signal);
    const organizerName =
      (await deps.db.selectFrom('users').select('display_name').where('id', '=', user.id).executeTakeFirst())
        ?.display_name ?? null;
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
  const stored = await deps.db
    .selectFrom('meetings')
    .select('id')
    .where('calendar_id', '=', calendarId)
    .where('href', '=', href)
    .orderBy('start_at')
    .executeTakeFirst();
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
  const meeting = await deps.db
    .selectFrom('meetings')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', user.orgId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!meeting) throw notFound('Meeting');
  const account = meeting.account_id
    ? await deps.db.selectFrom('email_accounts').selectAll().where('id', '=', meeting.account_id).executeTakeFirst()
    : undefined;
  // Visible but someone else's: read-only to this user; not visible at all: not found.
  if (!account)
    throw new AppError(
      'FORBIDDEN',
      'This meeting came from a mailbox that is no longer connected; change it in the calendar itself',
    );
  if (!mayOnMailbox(user, account, 'use')) {
    if (!mayReadFromMailbox(user, account)) throw notFound('Meeting');
    throw new AppError('FORBIDDEN', 'Only the owner of the mailbox whose calendar holds this meeting can change it');
  }
  if (meeting.organizer_is_self !== 1) {
    throw new AppError(
      'FORBIDDEN',
      `${meeting.organizer_address ?? 'Someone else'} organises this meeting; only the organizer can move or cancel it`,
    );
  }
  const calendar = meeting.calendar_id
    ? await deps.db.selectFrom('calendars').selectAll().where('id', '=', meeting.calendar_id).executeTakeFirst()
    : undefined;
  if (!calendar || !meeting.href) throw new AppError('FORBIDDEN', 'This meeting is not on a calendar Conversa syncs');
  return { meeting, account, calendar, href: meeting.href };
}

export async function updateMeeting(
  deps: MeetingWriteDeps,
  user: User,
  id: string,
  patch: MeetingPatch,
  signal: AbortSignal = new AbortController().signal,
): Promise<Meeting> {
  const { meeting, account, calendar, href } = await editableMeeting(deps, user, id);
  const start = patch.start ?? (patch.end !== undefined ? meeting.start_at : undefined);
  const end = patch.end ?? (patch.start !== undefined ? patch.start + (meeting.end_at - meeting.start_at) : undefined);
  if (start !== undefined && end !== undefined) checkSpan(start, end);
  const attendees =
    patch.attendees === undefined
      ? undefined
      : normalizeEmailList(patch.attendees, 'body.attendees').map((address) => ({ address }));
  const driver = await driverOrFail(deps, account);
  try {
    const object = await driver.update(
      remoteCalendar(calendar),
      {
        href,
        etag: meeting.etag,
        recurrenceId: meeting.recurrence_id,
        start: meeting.start_at,
        end: meeting.end_at,
        allDay: meeting.all_day === 1,
      },
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
export async function cancelMeeting(
  deps: MeetingWriteDeps,
  user: User,
  id: string,
  signal: AbortSignal = new AbortController().signal,
): Promise<void> {
  const { meeting, account, calendar, href } = await editableMeeting(deps, user, id);
  const driver = await driverOrFail(deps, account);
  try {
    const object = await driver.remove(
      remoteCalendar(calendar),
      {
        href,
        etag: meeting.etag,
        recurrenceId: meeting.recurrence_id,
        start: meeting.start_at,
        end: meeting.end_at,
        allDay: meeting.all_day === 1,
      },
      signal,
    );
    await storeWritten(deps, account, calendar, object, href);
  } catch (error) {
    calendarAppError(error);
  }
  // Whatever the calendar now says, this occurrence is gone from the CRM.
  await deps.db.deleteFrom('meetings').where('id', '=', id).execute();
}
