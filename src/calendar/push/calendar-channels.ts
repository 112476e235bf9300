// Push channels of an account's calendars (Google events.watch, Graph subscriptions), kept by the calendar runner
// that holds the account: one per calendar, made when missing, renewed before it expires (Graph: PATCH; Google: a
// new channel, then the old one stopped), stopped when its calendar is gone or the account removed. A calendar whose
// channel could not be made is simply polled as before (and tried again later). And the other half: what a
// notification names (channel id + secret) checked against the stored hash, in constant time, to the account to wake.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../core/logger.js';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { CalendarChannelsTable } from '../../storage/schema.js';
import { CalendarError, type CalendarDriver, type PushChannel, type RemoteCalendar } from '../calendar-driver.js';
import { hookAddress, pushUsable, type PushProvider } from './push-url.js';

export interface CalendarPushOptions {
  /** PUBLIC_URL (checked by pushUsable), or a test's own server standing in for it. */
  publicUrl: string;
  /** The life asked for a channel (default 7 days; Graph caps it at about 3). */
  ttlMs?: number;
  /** Renewed this long before it expires (default 6 hours). */
  renewBeforeMs?: number;
  /** Change checks while every calendar of the account has a channel: a safety net for lost notifications (default 5 min). */
  safetyCheckMs?: number;
  /** After a channel could not be made, try again this much later (default 30 min); polling meanwhile. */
  retryMs?: number;
}

/**
 * The push settings of the calendar runners: `forced` when given (tests against the fakes; null: off), else on with
 * PUBLIC_URL only when the providers can reach it (pushUsable), else off — every calendar polled, as before push.
 */
export function calendarPushFor(publicUrl: string, forced?: CalendarPushOptions | null): CalendarPushOptions | null {
  if (forced !== undefined) return forced;
  return pushUsable(publicUrl) ? { publicUrl } : null;
}

export const DEFAULT_PUSH_TTL_MS = 7 * 86_400_000;
export const DEFAULT_RENEW_BEFORE_MS = 6 * 3_600_000;
export const DEFAULT_SAFETY_CHECK_MS = 5 * 60_000;
const DEFAULT_RETRY_MS = 30 * 60_000;

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function sameSecret(given: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(given), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

function asChannel(row: CalendarChannelsTable): PushChannel {
  return { channelId: row.channel_id, resourceId: row.resource_id, expiresAt: row.expires_at };
}

export interface ChannelState {
  /** Every calendar has a live channel: the change checks may slow down to the safety cadence. */
  covered: boolean;
  /** When the channels next need work (a renewal, a retry). Epoch ms. */
  nextAt: number;
}

/** Stops one channel at the provider (best effort: it expires anyway) and forgets it. */
async function stopChannel(
  db: Db,
  driver: CalendarDriver | null,
  row: CalendarChannelsTable,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  try {
    if (driver?.unwatch) await driver.unwatch(asChannel(row), signal);
  } catch (error) {
    log.warn(
      { accountId: row.account_id, calendar: row.calendar_url, reason: String(error).slice(0, 200) },
      'calendar push channel could not be stopped; it will expire',
    );
  }
  await db.deleteFrom('calendar_channels').where('id', '=', row.id).execute();
}

/**
 * Brings the account's channels in line with its calendars: one live channel per calendar, renewed in time,
 * none for calendars that are gone. Failures are logged and leave the calendar polled; they never fail the sync.
 */
export async function maintainChannels(
  deps: { db: Db; log: Logger; push: CalendarPushOptions },
  accountId: string,
  provider: PushProvider,
  driver: CalendarDriver,
  calendars: RemoteCalendar[],
  signal: AbortSignal,
): Promise<ChannelState> {
  const { db, log, push } = deps;
  const ttl = push.ttlMs ?? DEFAULT_PUSH_TTL_MS;
  const renewBefore = push.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS;
  const retry = push.retryMs ?? DEFAULT_RETRY_MS;
  if (!driver.watch) return { covered: false, nextAt: Number.POSITIVE_INFINITY };
  const rows = await db
    .selectFrom('calendar_channels')
    .selectAll()
    .where('account_id', '=', accountId)
    .orderBy('expires_at', 'desc')
    .execute();
  const wanted = new Set(calendars.map((c) => c.url));
  const current = new Map<string, CalendarChannelsTable>();
  for (const row of rows) {
    // The newest channel of a calendar is kept; older ones (a renewal cut short) and those of calendars gone go.
    if (row.provider === provider && wanted.has(row.calendar_url) && !current.has(row.calendar_url))
      current.set(row.calendar_url, row);
    else await stopChannel(db, driver, row, signal, log);
  }
  let failed = false;
  let nextAt = Number.POSITIVE_INFINITY;
  for (const calendar of calendars) {
    if (signal.aborted) break;
    const now = Date.now();
    const existing = current.get(calendar.url);
    if (existing && existing.expires_at - renewBefore > now) {
      nextAt = Math.min(nextAt, existing.expires_at - renewBefore);
      continue;
    }
    try {
      let expiresAt: number | null = null;
      if (existing && existing.expires_at > now && driver.renewWatch) {
        try {
          const renewed = await driver.renewWatch(asChannel(existing), now + ttl, signal);
          await db
            .updateTable('calendar_channels')
            .set({ expires_at: renewed.expiresAt })
            .where('id', '=', existing.id)
            .execute();
          expiresAt = renewed.expiresAt;
        } catch (error) {
          // The provider dropped it (Graph removes subscriptions it cannot deliver to): a new one below.
          if (!(error instanceof CalendarError) || error.code !== 'NOT_FOUND') throw error;
          await db.deleteFrom('calendar_channels').where('id', '=', existing.id).execute();
          current.delete(calendar.url);
        }
      }
      if (expiresAt === null) {
        const previous = current.get(calendar.url);
        const secret = randomBytes(32).toString('base64url');
        const channel = await driver.watch(
          calendar,
          { address: hookAddress(push.publicUrl, provider), secret, expiresAt: now + ttl },
          signal,
        );
        await db
          .insertInto('calendar_channels')
          .values({
            id: newId(),
            account_id: accountId,
            calendar_url: calendar.url,
            provider,
            channel_id: channel.channelId,
            resource_id: channel.resourceId,
            secret_hash: hashSecret(secret),
            expires_at: channel.expiresAt,
            created_at: Date.now(),
          })
          .execute();
        // The new channel is live before the old one stops: no change falls between them.
        if (previous) await stopChannel(db, driver, previous, signal, log);
        expiresAt = channel.expiresAt;
      }
      nextAt = Math.min(nextAt, expiresAt - renewBefore);
    } catch (error) {
      if (signal.aborted) break;
      failed = true;
      log.warn(
        { accountId, calendar: calendar.url, reason: String(error).slice(0, 300) },
        'calendar push channel could not be made; the calendar stays polled',
      );
      // An old channel still running keeps pushing until it ends; after that, polling.
      if (existing && existing.expires_at > now) nextAt = Math.min(nextAt, existing.expires_at);
    }
  }
  if (failed) nextAt = Math.min(nextAt, Date.now() + retry);
  const live = await db
    .selectFrom('calendar_channels')
    .select(['calendar_url', 'expires_at'])
    .where('account_id', '=', accountId)
    .where('provider', '=', provider)
    .where('expires_at', '>', Date.now())
    .execute();
  const covered = calendars.length > 0 && calendars.every((c) => live.some((l) => l.calendar_url === c.url));
  return { covered, nextAt };
}

/** Stops every channel of an account (removed, or switched to another server). */
export async function stopAccountChannels(
  db: Db,
  driver: CalendarDriver | null,
  accountId: string,
  signal: AbortSignal,
  log: Logger,
): Promise<number> {
  const rows = await db.selectFrom('calendar_channels').selectAll().where('account_id', '=', accountId).execute();
  for (const row of rows) await stopChannel(db, driver, row, signal, log);
  return rows.length;
}

/**
 * The account a Google notification is for, or null: the channel must be known, its resource id the one Google
 * gave, and the token the channel's secret (compared as hashes, in constant time).
 */
export async function accountOfGoogleNotification(
  db: Db,
  notification: { channelId: string; resourceId: string; token: string },
): Promise<string | null> {
  const row = await db
    .selectFrom('calendar_channels')
    .select(['account_id', 'resource_id', 'secret_hash', 'expires_at'])
    .where('provider', '=', 'google')
    .where('channel_id', '=', notification.channelId)
    .executeTakeFirst();
  if (!row) return null;
  const tokenOk = sameSecret(notification.token, row.secret_hash);
  if (!tokenOk || row.resource_id !== notification.resourceId) return null;
  return row.account_id;
}

/** The account a Graph notification is for, or null: a known subscription whose clientState is its secret. */
export async function accountOfGraphNotification(
  db: Db,
  notification: { subscriptionId: string; clientState: string },
): Promise<string | null> {
  const row = await db
    .selectFrom('calendar_channels')
    .select(['account_id', 'secret_hash'])
    .where('provider', '=', 'microsoft')
    .where('channel_id', '=', notification.subscriptionId)
    .executeTakeFirst();
  if (!row || !sameSecret(notification.clientState, row.secret_hash)) return null;
  return row.account_id;
}
