// Booking pages: a user's public page (PUBLIC_URL/book/<slug>) offering free slots of one of their own mailboxes'
// calendars, or — a team page, made by an administrator — of several active colleagues' accounts. Created, listed,
// changed and removed by their owner; found by slug for the public, where a page whose owner (or every member) is
// deactivated is simply not found: a visitor learns nothing about the people behind it.
import { AppError, notFound } from '../../core/app-error.js';
import { mailboxFor } from '../../access/access-policy.js';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { BookingPagesTable, BookingTeamMode } from '../../storage/schema.js';
import type { User } from '../../users/users.js';
import { ianaZone } from '../ical/time-zones.js';
import type { WorkingHours } from './free-slots.js';

export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{1,62}[a-z0-9])$/;
/** Client routes under /book/ that a slug would shadow. */
const RESERVED_SLUGS = new Set(['manage', 'api', 'admin']);
const HHMM = /^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/;

export interface BookingPageInput {
  slug: string;
  title: string;
  durationMinutes: number;
  accountId: string;
  timeZone: string;
  hours: WorkingHours;
  bufferMinutes?: number | undefined;
  minNoticeMinutes?: number | undefined;
  horizonDays?: number | undefined;
  team?: { accountIds: string[]; mode: BookingTeamMode } | null | undefined;
  active?: boolean | undefined;
}

export interface BookingPageView {
  id: string;
  slug: string;
  url: string;
  title: string;
  durationMinutes: number;
  accountId: string;
  timeZone: string;
  hours: WorkingHours;
  bufferMinutes: number;
  minNoticeMinutes: number;
  horizonDays: number;
  team: { accountIds: string[]; mode: BookingTeamMode } | null;
  active: boolean;
}

export function pageUrl(publicUrl: string, slug: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/book/${slug}`;
}

export function pageHours(row: Pick<BookingPagesTable, 'hours_json'>): WorkingHours {
  return JSON.parse(row.hours_json) as WorkingHours;
}

export function teamOf(row: Pick<BookingPagesTable, 'team_account_ids_json' | 'team_mode'>) {
  if (!row.team_account_ids_json || !row.team_mode) return null;
  return { accountIds: JSON.parse(row.team_account_ids_json) as string[], mode: row.team_mode };
}

export function toView(publicUrl: string, row: BookingPagesTable): BookingPageView {
  return {
    id: row.id,
    slug: row.slug,
    url: pageUrl(publicUrl, row.slug),
    title: row.title,
    durationMinutes: row.duration_minutes,
    accountId: row.account_id,
    timeZone: row.time_zone,
    hours: pageHours(row),
    bufferMinutes: row.buffer_minutes,
    minNoticeMinutes: row.min_notice_minutes,
    horizonDays: row.horizon_days,
    team: teamOf(row),
    active: row.active === 1,
  };
}

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `${path}: ${message}`, { fields: [{ path, message }] });
}

function checkSlug(slug: string): void {
  if (!SLUG_PATTERN.test(slug) || RESERVED_SLUGS.has(slug))
    throw invalid('body.slug', '3 to 64 lower-case letters, digits and dashes, not starting or ending with a dash');
}

function checkHours(hours: WorkingHours): void {
  for (const [day, windows] of Object.entries(hours)) {
    if (!/^[1-7]$/.test(day)) throw invalid(`body.hours.${day}`, 'weekdays are "1" (Monday) to "7" (Sunday)');
    const sorted = [...windows].sort((a, b) => a[0].localeCompare(b[0]));
    let lastClose = '';
    for (const [open, close] of sorted) {
      if (!HHMM.test(open) || !HHMM.test(close) || open === '24:00')
        throw invalid(`body.hours.${day}`, 'times are "HH:MM" (00:00 to 24:00)');
      if (close <= open) throw invalid(`body.hours.${day}`, `"${open}"–"${close}" ends before it starts`);
      if (open < lastClose) throw invalid(`body.hours.${day}`, 'windows overlap');
      lastClose = close;
    }
  }
}

function checkZone(zone: string): void {
  if (ianaZone(zone) !== zone) throw invalid('body.timeZone', 'an IANA time zone such as Europe/Lisbon');
}

/** The accounts of a team page: each of an active user of the organisation (the creator must be an admin). */
async function checkTeam(db: Db, user: User, team: NonNullable<BookingPageInput['team']>): Promise<void> {
  if (!user.isAdmin) throw new AppError('FORBIDDEN', 'Only an administrator can make a team page');
  const ids = [...new Set(team.accountIds)];
  if (ids.length < 1) throw invalid('body.team.accountIds', 'at least one account');
  const rows = await db
    .selectFrom('email_accounts')
    .innerJoin('users', 'users.id', 'email_accounts.user_id')
    .select(['email_accounts.id'])
    .where('email_accounts.org_id', '=', user.orgId)
    .where('email_accounts.id', 'in', ids)
    .where('users.active', '=', 1)
    .execute();
  if (rows.length !== ids.length)
    throw invalid('body.team.accountIds', 'every account must be an active colleague’s mailbox');
}

async function slugFree(db: Db, slug: string, exceptId?: string): Promise<void> {
  let q = db.selectFrom('booking_pages').select('id').where('slug', '=', slug);
  if (exceptId) q = q.where('id', '!=', exceptId);
  if (await q.executeTakeFirst()) throw slugTaken(slug);
}

function slugTaken(slug: string): AppError {
  return new AppError('SLUG_TAKEN', `The address /book/${slug} is already taken`, {
    fields: [{ path: 'body.slug', message: 'taken' }],
    details: { slug },
  });
}

function isUniqueViolation(error: unknown): boolean {
  const text = String((error as { message?: string })?.message ?? '') + String((error as { code?: string })?.code);
  return /unique|23505|SQLITE_CONSTRAINT/i.test(text);
}

export async function createBookingPage(
  db: Db,
  publicUrl: string,
  user: User,
  input: BookingPageInput,
): Promise<BookingPageView> {
  checkSlug(input.slug);
  checkHours(input.hours);
  checkZone(input.timeZone);
  // The page books into the caller's own mailbox's calendar only (an admin cannot use a colleague's).
  await mailboxFor(db, user, input.accountId, 'use');
  if (input.team) await checkTeam(db, user, input.team);
  await slugFree(db, input.slug);
  const now = Date.now();
  const row: BookingPagesTable = {
    id: newId(now),
    org_id: user.orgId,
    owner_user_id: user.id,
    slug: input.slug,
    title: input.title,
    duration_minutes: input.durationMinutes,
    account_id: input.accountId,
    time_zone: input.timeZone,
    hours_json: JSON.stringify(input.hours),
    buffer_minutes: input.bufferMinutes ?? 0,
    min_notice_minutes: input.minNoticeMinutes ?? 0,
    horizon_days: input.horizonDays ?? 60,
    team_account_ids_json: input.team ? JSON.stringify([...new Set(input.team.accountIds)]) : null,
    team_mode: input.team?.mode ?? null,
    active: input.active === false ? 0 : 1,
    created_at: now,
    updated_at: now,
  };
  try {
    await db.insertInto('booking_pages').values(row).execute();
  } catch (error) {
    // Two creators racing for one slug: the unique index decides.
    if (isUniqueViolation(error)) throw slugTaken(input.slug);
    throw error;
  }
  return toView(publicUrl, row);
}

async function ownPage(db: Db, user: User, id: string): Promise<BookingPagesTable> {
  const row = await db
    .selectFrom('booking_pages')
    .selectAll()
    .where('id', '=', id)
    .where('owner_user_id', '=', user.id)
    .executeTakeFirst();
  if (!row) throw notFound('Booking page');
  return row;
}

export async function listBookingPages(db: Db, publicUrl: string, user: User): Promise<BookingPageView[]> {
  const rows = await db
    .selectFrom('booking_pages')
    .selectAll()
    .where('owner_user_id', '=', user.id)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => toView(publicUrl, r));
}

export async function updateBookingPage(
  db: Db,
  publicUrl: string,
  user: User,
  id: string,
  patch: Partial<BookingPageInput>,
): Promise<BookingPageView> {
  const before = await ownPage(db, user, id);
  if (patch.slug !== undefined) {
    checkSlug(patch.slug);
    await slugFree(db, patch.slug, id);
  }
  if (patch.hours !== undefined) checkHours(patch.hours);
  if (patch.timeZone !== undefined) checkZone(patch.timeZone);
  if (patch.accountId !== undefined) await mailboxFor(db, user, patch.accountId, 'use');
  if (patch.team) await checkTeam(db, user, patch.team);
  const set: Partial<BookingPagesTable> = { updated_at: Date.now() };
  if (patch.slug !== undefined) set.slug = patch.slug;
  if (patch.title !== undefined) set.title = patch.title;
  if (patch.durationMinutes !== undefined) set.duration_minutes = patch.durationMinutes;
  if (patch.accountId !== undefined) set.account_id = patch.accountId;
  if (patch.timeZone !== undefined) set.time_zone = patch.timeZone;
  if (patch.hours !== undefined) set.hours_json = JSON.stringify(patch.hours);
  if (patch.bufferMinutes !== undefined) set.buffer_minutes = patch.bufferMinutes;
  if (patch.minNoticeMinutes !== undefined) set.min_notice_minutes = patch.minNoticeMinutes;
  if (patch.horizonDays !== undefined) set.horizon_days = patch.horizonDays;
  if (patch.active !== undefined) set.active = patch.active ? 1 : 0;
  if (patch.team !== undefined) {
    set.team_account_ids_json = patch.team ? JSON.stringify([...new Set(patch.team.accountIds)]) : null;
    set.team_mode = patch.team?.mode ?? null;
  }
  try {
    await db.updateTable('booking_pages').set(set).where('id', '=', before.id).execute();
  } catch (error) {
    if (isUniqueViolation(error) && patch.slug) throw slugTaken(patch.slug);
    throw error;
  }
  return toView(publicUrl, await ownPage(db, user, id));
}

export async function deleteBookingPage(db: Db, user: User, id: string): Promise<void> {
  const row = await ownPage(db, user, id);
  await db.deleteFrom('booking_pages').where('id', '=', row.id).execute();
}

export interface PublicPage {
  row: BookingPagesTable;
  ownerName: string;
  /** The accounts whose calendars count, in the page's fixed order (a personal page: its one account). */
  accountIds: string[];
}

/**
 * The page behind a public slug, or NOT_FOUND — also when the page is switched off, its owner deactivated, or its
 * mailbox paused: the visitor cannot tell these apart from a slug that never existed.
 */
export async function publicPage(db: Db, slug: string): Promise<PublicPage> {
  const found = await db
    .selectFrom('booking_pages')
    .innerJoin('users', 'users.id', 'booking_pages.owner_user_id')
    .selectAll('booking_pages')
    .select(['users.display_name', 'users.active as owner_active'])
    .where('booking_pages.slug', '=', slug)
    .executeTakeFirst();
  if (!found || found.active !== 1 || found.owner_active === 0) throw notFound('Booking page');
  const { display_name, owner_active: _active, ...row } = found;
  const team = teamOf(row);
  const wanted = team ? team.accountIds : [row.account_id];
  // Only accounts that can still take bookings: their owner active, the mailbox not paused.
  const usable = await db
    .selectFrom('email_accounts')
    .innerJoin('users', 'users.id', 'email_accounts.user_id')
    .select('email_accounts.id')
    .where('email_accounts.id', 'in', wanted)
    .where('email_accounts.org_id', '=', row.org_id)
    .where('email_accounts.paused', '=', 0)
    .where('users.active', '=', 1)
    .execute();
  const ok = new Set(usable.map((u) => u.id));
  const accountIds = wanted.filter((id) => ok.has(id));
  if (accountIds.length === 0) throw notFound('Booking page');
  return { row, ownerName: display_name?.trim() || row.title, accountIds };
}
