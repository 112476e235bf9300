// Slots and bookings of a public booking page. A booking never doubles: it first claims, in one transaction, the
// 5-minute cells its time covers on the host's account (a primary key in booking_claims, plus a partial unique
// index on confirmed starts), so of two visitors racing for one slot exactly one gets it and the other SLOT_TAKEN;
// then it looks at the calendar again — what changed there since the visitor loaded the page is fetched through the
// driver and stored — and gives the slot up (SLOT_TAKEN) when something now takes that time. Only then is the event
// written to the owner's calendar (organizer = the owner, the invitee attending), stored as a meeting (which links
// the invitee's contact, created with source auto-meeting when the owner's automatic creation is on, else only
// linked when it exists), and the invitation mailed from the owner's mailbox. The manage link (its token hashed
// here) cancels or moves the booking, written to the calendar and mailed as CANCEL / REQUEST with SEQUENCE+1.
import { createHash, randomBytes } from 'node:crypto';
import { AppError, notFound } from '../../core/app-error.js';
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { BookingPagesTable, BookingsTable, EmailAccountsTable } from '../../storage/schema.js';
import { CalendarError, type CalendarDriver } from '../calendar-driver.js';
import { accountContext, syncWindow } from '../meetings/account-context.js';
import { ingestObjects, knownObjects, remoteCalendar } from '../meetings/ingest-meetings.js';
import {
  calendarAppError,
  defaultCalendar,
  driverOrFail,
  storeWritten,
  type MeetingWriteDeps,
} from '../meetings/write-meetings.js';
import { buildInvitationIcs } from './booking-invitation.js';
import { queueBookingMail, type BookingMailDeps } from './booking-mail.js';
import { pageHours, publicPage, teamOf, type PublicPage } from './booking-pages.js';
import { busyTimes, freeSlots, mergeSpans, type SlotRules, type Span } from './free-slots.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const CELL = 5 * MINUTE;
/** The widest range one slots request may ask for. */
export const MAX_SLOT_RANGE_DAYS = 62;

export interface BookingDeps extends MeetingWriteDeps, BookingMailDeps {
  publicUrl: string;
}

function rulesOf(row: BookingPagesTable): SlotRules {
  return {
    timeZone: row.time_zone,
    hours: pageHours(row),
    durationMinutes: row.duration_minutes,
    bufferMinutes: row.buffer_minutes,
    minNoticeMinutes: row.min_notice_minutes,
    horizonDays: row.horizon_days,
  };
}

function widened(range: Span, row: BookingPagesTable): Span {
  const buffer = row.buffer_minutes * MINUTE;
  return { start: range.start - buffer, end: range.end + buffer };
}

/** The slots of one account. */
async function accountSlots(
  db: Db,
  row: BookingPagesTable,
  accountId: string,
  range: Span,
  now: number,
  except: { bookingId?: string; eventUid?: string } = {},
): Promise<Span[]> {
  const busy = await busyTimes(db, accountId, widened(range, row), row.time_zone, except);
  return freeSlots(rulesOf(row), busy, range, now);
}

/** Free slots of a page within [from, to): a team page offers a slot when any member is free then. */
export async function pageSlots(db: Db, slug: string, range: Span, now: number = Date.now()): Promise<Span[]> {
  if (!(range.end > range.start) || range.end - range.start > MAX_SLOT_RANGE_DAYS * DAY)
    throw new AppError('VALIDATION_FAILED', `from/to: a range of at most ${MAX_SLOT_RANGE_DAYS} days, to after from`, {
      fields: [{ path: 'query.to', message: `at most ${MAX_SLOT_RANGE_DAYS} days after from` }],
    });
  const page = await publicPage(db, slug);
  const byStart = new Map<number, Span>();
  for (const accountId of page.accountIds)
    for (const slot of await accountSlots(db, page.row, accountId, range, now)) byStart.set(slot.start, slot);
  return [...byStart.values()].sort((a, b) => a.start - b.start);
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function manageUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/book/manage/${token}`;
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { message?: string; code?: string };
  return /unique|duplicate key|SQLITE_CONSTRAINT/i.test(`${e?.message ?? ''} ${e?.code ?? ''}`) || e?.code === '23505';
}

function cellsOf(start: number, end: number): number[] {
  const cells: number[] = [];
  for (let cell = Math.floor(start / CELL) * CELL; cell < end; cell += CELL) cells.push(cell);
  return cells;
}

function slotTaken(): AppError {
  return new AppError('SLOT_TAKEN', 'This time was just taken; choose another one', {
    hint: 'Load the free times again.',
  });
}

function slotUnavailable(): AppError {
  return new AppError('SLOT_UNAVAILABLE', 'This time is not offered on this page', {
    fields: [{ path: 'body.start', message: 'not one of the page’s times (hours, notice or horizon)' }],
  });
}

/** Why a start that is not free is refused: outside the page's rules (422), or inside them but busy (409). */
async function refusal(row: BookingPagesTable, start: number, now: number): Promise<AppError> {
  const duration = row.duration_minutes * MINUTE;
  const offeredWhenIdle = freeSlots(rulesOf(row), [], { start, end: start + duration }, now);
  return offeredWhenIdle.some((s) => s.start === start) ? slotTaken() : slotUnavailable();
}

/** The members free at `start`, in the order the page picks them (first-free: fixed; round-robin: fairest first). */
async function candidates(db: Db, page: PublicPage, start: number, now: number): Promise<string[]> {
  const { row } = page;
  const range = { start, end: start + row.duration_minutes * MINUTE };
  const free: string[] = [];
  for (const accountId of page.accountIds) {
    const slots = await accountSlots(db, row, accountId, range, now);
    if (slots.some((s) => s.start === start)) free.push(accountId);
  }
  const team = teamOf(row);
  if (!team || team.mode === 'first-free' || free.length < 2) return free;
  // Round robin: the member with the fewest confirmed bookings of this page, then the one booked longest ago.
  const stats = await db
    .selectFrom('bookings')
    .select(['account_id', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.max('created_at').as('last')])
    .where('page_id', '=', row.id)
    .where('state', '=', 'confirmed')
    .groupBy('account_id')
    .execute();
  const of = new Map(stats.map((s) => [s.account_id, { n: Number(s.n), last: Number(s.last) }]));
  const order = new Map(page.accountIds.map((id, i) => [id, i]));
  return [...free].sort((a, b) => {
    const sa = of.get(a) ?? { n: 0, last: 0 };
    const sb = of.get(b) ?? { n: 0, last: 0 };
    return sa.n - sb.n || sa.last - sb.last || order.get(a)! - order.get(b)!;
  });
}

/** Claims the cells of [start, end) for a booking, or answers false when any is taken. */
async function claim(db: Db, booking: BookingsTable): Promise<boolean> {
  try {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('bookings').values(booking).execute();
      await trx
        .insertInto('booking_claims')
        .values(
          cellsOf(booking.start_at, booking.end_at).map((cell_at) => ({
            account_id: booking.account_id,
            cell_at,
            booking_id: booking.id,
          })),
        )
        .execute();
    });
    return true;
  } catch (error) {
    if (isUniqueViolation(error)) return false;
    throw error;
  }
}

async function release(db: Db, bookingId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('booking_claims').where('booking_id', '=', bookingId).execute();
    await trx.deleteFrom('bookings').where('id', '=', bookingId).execute();
  });
}

/**
 * Brings what changed on the account's calendars since the last sync into the store, so a busy check sees an event
 * added after the visitor loaded the page. Best effort: a calendar that cannot be reached leaves the stored data.
 */
async function refreshCalendars(deps: BookingDeps, account: EmailAccountsTable, signal: AbortSignal): Promise<void> {
  let driver: CalendarDriver | null;
  try {
    driver = await deps.driverFor(account);
  } catch {
    return;
  }
  if (!driver) return;
  const calendars = await deps.db.selectFrom('calendars').selectAll().where('account_id', '=', account.id).execute();
  if (calendars.length === 0) return;
  const context = await accountContext(deps.db, account, deps.bccDomain);
  const window = syncWindow(context, deps.window);
  for (const calendar of calendars) {
    try {
      const remote = remoteCalendar(calendar);
      const known = await knownObjects(deps.db, calendar.id);
      // The sync token is not moved on here (no state given to ingest): the runner's next pass sees the same changes.
      const changes = await driver.changes(
        remote,
        { syncToken: calendar.sync_token, ctag: null },
        known,
        signal,
        window,
      );
      const fresh = changes.changed.filter((c) => known.get(c.href) !== c.etag || c.etag === null).map((c) => c.href);
      if (fresh.length === 0) continue;
      const objects = await driver.fetch(remote, fresh.slice(0, 200), signal);
      await ingestObjects(deps.db, { account: context, calendar, window }, objects);
    } catch (error) {
      if (!(error instanceof CalendarError)) throw error;
    }
  }
}

async function stillFree(
  deps: BookingDeps,
  row: BookingPagesTable,
  booking: Pick<BookingsTable, 'id' | 'account_id' | 'start_at' | 'end_at' | 'event_uid'>,
): Promise<boolean> {
  const range = widened({ start: booking.start_at, end: booking.end_at }, row);
  const busy = mergeSpans(
    await busyTimes(deps.db, booking.account_id, range, row.time_zone, {
      bookingId: booking.id,
      eventUid: booking.event_uid,
    }),
  );
  return !busy.some((b) => b.start < range.end && b.end > range.start);
}

async function ownerOf(db: Db, account: EmailAccountsTable): Promise<string | null> {
  const row = await db.selectFrom('users').select('display_name').where('id', '=', account.user_id).executeTakeFirst();
  return row?.display_name?.trim() || null;
}

function when(start: number, zone: string, locale: MailLocale): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'full', timeStyle: 'short', timeZone: zone }).format(start);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The languages the invitee's mail is written in: the page's visitor's (Accept-Language), English otherwise. */
export type MailLocale = 'en' | 'pt-BR';

export function mailLocale(acceptLanguage: string | undefined): MailLocale {
  const first = (acceptLanguage ?? '').split(',')[0]?.trim().toLowerCase() ?? '';
  return first.startsWith('pt') ? 'pt-BR' : 'en';
}

const MAIL_TEXTS = {
  en: {
    booked: (title: string, who: string, time: string) => `You booked "${title}" with ${who} on ${time}.`,
    moved: (title: string, who: string, time: string) => `Your booking "${title}" with ${who} is now on ${time}.`,
    cancelled: (title: string, _who: string, time: string) => `Your booking "${title}" on ${time} is cancelled.`,
    manage: 'To cancel or move it:',
    subjectInvite: (title: string, time: string) => `Invitation: ${title} — ${time}`,
    subjectMoved: (title: string, time: string) => `Updated invitation: ${title} — ${time}`,
    subjectCancel: (title: string) => `Cancelled: ${title}`,
  },
  'pt-BR': {
    booked: (title: string, who: string, time: string) => `Você agendou "${title}" com ${who} em ${time}.`,
    moved: (title: string, who: string, time: string) => `Seu agendamento "${title}" com ${who} agora é em ${time}.`,
    cancelled: (title: string, _who: string, time: string) => `Seu agendamento "${title}" em ${time} foi cancelado.`,
    manage: 'Para cancelar ou remarcar:',
    subjectInvite: (title: string, time: string) => `Convite: ${title} — ${time}`,
    subjectMoved: (title: string, time: string) => `Convite atualizado: ${title} — ${time}`,
    subjectCancel: (title: string) => `Cancelado: ${title}`,
  },
} as const;

async function mailInvitation(
  deps: BookingDeps,
  input: {
    account: EmailAccountsTable;
    row: BookingPagesTable;
    booking: BookingsTable;
    kind: 'booked' | 'moved' | 'cancelled';
    manageLink: string | null;
  },
): Promise<void> {
  const { account, row, booking, kind } = input;
  const method = kind === 'cancelled' ? 'CANCEL' : 'REQUEST';
  const ownerName = await ownerOf(deps.db, account);
  const ics = buildInvitationIcs({
    method,
    uid: booking.event_uid,
    sequence: booking.sequence,
    start: booking.start_at,
    end: booking.end_at,
    title: row.title,
    description: booking.note,
    organizer: { address: account.email, name: ownerName },
    attendee: { address: booking.invitee_email, name: booking.invitee_name },
  });
  const locale: MailLocale = booking.locale === 'pt-BR' ? 'pt-BR' : 'en';
  const texts = MAIL_TEXTS[locale];
  // The page's zone, named: the server does not know the visitor's (the page showed times in it).
  const time = `${when(booking.start_at, row.time_zone, locale)} (${row.time_zone})`;
  const sentence = texts[kind](row.title, ownerName ?? account.email, time);
  const link = input.manageLink;
  const text = link ? `${sentence}\n\n${texts.manage} ${link}\n` : `${sentence}\n`;
  const html = [
    `<p>${escapeHtml(sentence)}</p>`,
    ...(link ? [`<p>${escapeHtml(texts.manage)} <a href="${escapeHtml(link)}">${escapeHtml(link)}</a></p>`] : []),
  ].join('\n');
  await queueBookingMail(deps, {
    account,
    fromName: ownerName,
    to: { address: booking.invitee_email, name: booking.invitee_name },
    subject:
      kind === 'cancelled'
        ? texts.subjectCancel(row.title)
        : kind === 'moved'
          ? texts.subjectMoved(row.title, time)
          : texts.subjectInvite(row.title, time),
    text,
    html,
    ics: { method, content: ics },
  });
}

async function accountRow(db: Db, id: string): Promise<EmailAccountsTable> {
  return db.selectFrom('email_accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

export interface BookInput {
  start: number;
  name: string;
  email: string;
  note?: string | null | undefined;
  /** The language of the mails to the invitee (from the visitor's Accept-Language). */
  locale?: MailLocale | undefined;
}

export interface BookingAnswer {
  bookingId: string;
  start: string;
  end: string;
  manageUrl: string;
}

function checkInvitee(input: { name: string; email: string }): { name: string; email: string } {
  const email = normalizeEmail(input.email);
  if (!isValidEmail(email) || /[\s<>,;]/.test(input.email.trim()))
    throw new AppError('VALIDATION_FAILED', 'body.email: not an e-mail address', {
      fields: [{ path: 'body.email', message: 'not an e-mail address' }],
    });
  return { name: input.name.trim(), email };
}

/** Books `start` on a public page: 201 with the manage link, or SLOT_TAKEN / SLOT_UNAVAILABLE / VALIDATION_FAILED. */
export async function bookSlot(
  deps: BookingDeps,
  slug: string,
  input: BookInput,
  now: number = Date.now(),
  signal: AbortSignal = new AbortController().signal,
): Promise<BookingAnswer> {
  const page = await publicPage(deps.db, slug);
  const { row } = page;
  const invitee = checkInvitee(input);
  const start = input.start;
  const end = start + row.duration_minutes * MINUTE;
  const hosts = await candidates(deps.db, page, start, now);
  if (hosts.length === 0) throw await refusal(row, start, now);

  const token = randomBytes(32).toString('base64url');
  let booking: BookingsTable | null = null;
  for (const accountId of hosts) {
    const attempt: BookingsTable = {
      id: newId(now),
      page_id: row.id,
      account_id: accountId,
      start_at: start,
      end_at: end,
      invitee_name: invitee.name,
      invitee_email: invitee.email,
      note: input.note?.trim() || null,
      manage_token_hash: hashToken(token),
      state: 'confirmed',
      event_uid: `${newId(now)}@conversa-booking`,
      meeting_id: null,
      sequence: 0,
      locale: input.locale ?? 'en',
      created_at: Date.now(),
      updated_at: Date.now(),
    };
    if (await claim(deps.db, attempt)) {
      booking = attempt;
      break;
    }
  }
  if (!booking) throw slotTaken();

  const account = await accountRow(deps.db, booking.account_id);
  try {
    // Again, now that the slot is ours: something may have appeared on the calendar since the page was loaded.
    await refreshCalendars(deps, account, signal);
    if (!(await stillFree(deps, row, booking))) throw slotTaken();
    booking.meeting_id = await writeEvent(deps, account, row, booking, signal);
  } catch (error) {
    await release(deps.db, booking.id);
    if (error instanceof AppError) throw error;
    calendarAppError(error);
  }
  await deps.db
    .updateTable('bookings')
    .set({ meeting_id: booking.meeting_id, updated_at: Date.now() })
    .where('id', '=', booking.id)
    .execute();
  const link = manageUrl(deps.publicUrl, token);
  await mailInvitation(deps, { account, row, booking, kind: 'booked', manageLink: link });
  return {
    bookingId: booking.id,
    start: new Date(start).toISOString(),
    end: new Date(end).toISOString(),
    manageUrl: link,
  };
}

/** Writes the booking's event to the host's calendar and stores it; answers the meeting id. */
async function writeEvent(
  deps: BookingDeps,
  account: EmailAccountsTable,
  row: BookingPagesTable,
  booking: BookingsTable,
  signal: AbortSignal,
): Promise<string | null> {
  const driver = await driverOrFail(deps, account);
  const calendar = await defaultCalendar(deps, account, driver, signal);
  const object = await driver.create(
    remoteCalendar(calendar),
    {
      uid: booking.event_uid,
      title: `${row.title}: ${booking.invitee_name}`,
      start: booking.start_at,
      end: booking.end_at,
      description: booking.note,
      organizer: { address: account.email, name: await ownerOf(deps.db, account) },
      attendees: [{ address: booking.invitee_email, name: booking.invitee_name }],
    },
    signal,
  );
  await storeWritten(deps, account, calendar, object, object.href);
  const stored = await deps.db
    .selectFrom('meetings')
    .select('id')
    .where('account_id', '=', account.id)
    .where('uid', '=', booking.event_uid)
    .executeTakeFirst();
  return stored?.id ?? null;
}

// ---------------------------------------------------------------------------------------------------------------
// The manage link.

export interface ManagedBooking {
  bookingId: string;
  title: string;
  slug: string;
  timeZone: string;
  durationMinutes: number;
  start: string;
  end: string;
  state: 'confirmed' | 'cancelled';
  name: string;
}

async function byToken(db: Db, token: string) {
  const booking = await db
    .selectFrom('bookings')
    .selectAll()
    .where('manage_token_hash', '=', hashToken(token))
    .executeTakeFirst();
  if (!booking) throw notFound('Booking');
  const row = await db.selectFrom('booking_pages').selectAll().where('id', '=', booking.page_id).executeTakeFirst();
  if (!row) throw notFound('Booking');
  return { booking, row };
}

function managed(booking: BookingsTable, row: BookingPagesTable): ManagedBooking {
  return {
    bookingId: booking.id,
    title: row.title,
    slug: row.slug,
    timeZone: row.time_zone,
    durationMinutes: row.duration_minutes,
    start: new Date(Number(booking.start_at)).toISOString(),
    end: new Date(Number(booking.end_at)).toISOString(),
    state: booking.state,
    name: booking.invitee_name,
  };
}

export async function getManagedBooking(db: Db, token: string): Promise<ManagedBooking> {
  const { booking, row } = await byToken(db, token);
  return managed(booking, row);
}

/** The stored meeting of a booking on its host's calendar, with its calendar, for a change through the driver. */
async function bookedEvent(db: Db, booking: BookingsTable) {
  const meeting = await db
    .selectFrom('meetings')
    .selectAll()
    .where('account_id', '=', booking.account_id)
    .where('uid', '=', booking.event_uid)
    .where('recurrence_id', '=', '')
    .executeTakeFirst();
  if (!meeting?.calendar_id || !meeting.href) return null;
  const calendar = await db
    .selectFrom('calendars')
    .selectAll()
    .where('id', '=', meeting.calendar_id)
    .executeTakeFirst();
  return calendar ? { meeting, calendar } : null;
}

export async function cancelBooking(
  deps: BookingDeps,
  token: string,
  signal: AbortSignal = new AbortController().signal,
): Promise<ManagedBooking> {
  const { booking, row } = await byToken(deps.db, token);
  if (booking.state === 'cancelled') return managed(booking, row);
  const account = await accountRow(deps.db, booking.account_id);
  const event = await bookedEvent(deps.db, booking);
  if (event) {
    try {
      const driver = await driverOrFail(deps, account);
      const object = await driver.remove(
        remoteCalendar(event.calendar),
        {
          href: event.meeting.href!,
          etag: event.meeting.etag,
          recurrenceId: '',
          start: event.meeting.start_at,
          end: event.meeting.end_at,
          allDay: false,
        },
        signal,
      );
      await storeWritten(deps, account, event.calendar, object, event.meeting.href!);
    } catch (error) {
      // Already gone from the calendar: cancelled all the same.
      if (!(error instanceof CalendarError && error.code === 'NOT_FOUND')) calendarAppError(error);
    }
  }
  const cancelled: BookingsTable = { ...booking, state: 'cancelled', sequence: booking.sequence + 1 };
  await deps.db.transaction().execute(async (trx) => {
    await trx.deleteFrom('booking_claims').where('booking_id', '=', booking.id).execute();
    await trx
      .updateTable('bookings')
      .set({ state: 'cancelled', sequence: cancelled.sequence, updated_at: Date.now() })
      .where('id', '=', booking.id)
      .execute();
  });
  await mailInvitation(deps, { account, row, booking: cancelled, kind: 'cancelled', manageLink: null });
  return managed(cancelled, row);
}

export async function moveBooking(
  deps: BookingDeps,
  token: string,
  start: number,
  now: number = Date.now(),
  signal: AbortSignal = new AbortController().signal,
): Promise<ManagedBooking> {
  const { booking, row } = await byToken(deps.db, token);
  if (booking.state === 'cancelled')
    throw new AppError('CONFLICT', 'This booking is cancelled; book a new time on the page instead');
  // The page must still be bookable (its owner active), like a new booking.
  await publicPage(deps.db, row.slug);
  const end = start + row.duration_minutes * MINUTE;
  const slots = await accountSlots(deps.db, row, booking.account_id, { start, end }, now, {
    bookingId: booking.id,
    eventUid: booking.event_uid,
  });
  if (!slots.some((s) => s.start === start)) throw await refusal(row, start, now);
  // The new cells are claimed and the old ones let go in one transaction: a racer for the new time gets SLOT_TAKEN.
  try {
    await deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('booking_claims').where('booking_id', '=', booking.id).execute();
      await trx
        .updateTable('bookings')
        .set({ start_at: start, end_at: end, updated_at: Date.now() })
        .where('id', '=', booking.id)
        .execute();
      await trx
        .insertInto('booking_claims')
        .values(
          cellsOf(start, end).map((cell_at) => ({ account_id: booking.account_id, cell_at, booking_id: booking.id })),
        )
        .execute();
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw slotTaken();
    throw error;
  }
  const moved: BookingsTable = { ...booking, start_at: start, end_at: end, sequence: booking.sequence + 1 };
  const account = await accountRow(deps.db, booking.account_id);
  const restore = async () => {
    await deps.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('booking_claims').where('booking_id', '=', booking.id).execute();
      await trx
        .updateTable('bookings')
        .set({ start_at: booking.start_at, end_at: booking.end_at })
        .where('id', '=', booking.id)
        .execute();
      await trx
        .insertInto('booking_claims')
        .values(
          cellsOf(booking.start_at, booking.end_at).map((cell_at) => ({
            account_id: booking.account_id,
            cell_at,
            booking_id: booking.id,
          })),
        )
        .execute();
    });
  };
  try {
    await refreshCalendars(deps, account, signal);
    if (!(await stillFree(deps, row, moved))) throw slotTaken();
    const event = await bookedEvent(deps.db, booking);
    if (event) {
      const driver = await driverOrFail(deps, account);
      const object = await driver.update(
        remoteCalendar(event.calendar),
        {
          href: event.meeting.href!,
          etag: event.meeting.etag,
          recurrenceId: '',
          start: event.meeting.start_at,
          end: event.meeting.end_at,
          allDay: false,
        },
        { start, end },
        signal,
      );
      await storeWritten(deps, account, event.calendar, object, event.meeting.href!);
    }
  } catch (error) {
    await restore();
    if (error instanceof AppError) throw error;
    calendarAppError(error);
  }
  await deps.db
    .updateTable('bookings')
    .set({ sequence: moved.sequence, updated_at: Date.now() })
    .where('id', '=', booking.id)
    .execute();
  await mailInvitation(deps, {
    account,
    row,
    booking: moved,
    kind: 'moved',
    manageLink: manageUrl(deps.publicUrl, token),
  });
  return managed(moved, row);
}
