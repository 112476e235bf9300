// Calendar push webhooks (issue 16): where Google (events.watch channels) and Microsoft Graph (subscriptions) tell
// us an account's calendar changed. Public (the providers have no login), rate limited per client IP, bodies capped
// at 64 KB, and they reveal nothing: Google always gets an empty 200 (a known channel with the right token or not —
// an error would only make it retry), Graph an empty 202. A notification is believed only when its channel is known
// and it carries that channel's secret (compared as hashes in constant time); then the account's lease holder runs
// a change check at once instead of at its next poll. The notification's own content is never trusted: the check
// reads the calendar's changes from the provider with the account's credentials.
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import { accountOfGoogleNotification, accountOfGraphNotification } from '../../calendar/push/calendar-channels.js';
import type { Db } from '../../storage/database.js';
import { ANY_MEDIA_TYPE, type ApiRouter } from '../api-router.js';
import { webhookValidationSchema } from '../api-schemas.js';
import { SlidingWindowLimiter, spendRequest } from '../sliding-window-limiter.js';

/** Notifications per client IP per minute (50/s): the providers send from few addresses for all of an install's calendars. */
export const CALENDAR_HOOK_REQUESTS_PER_IP = 3000;
export const CALENDAR_HOOK_BODY_LIMIT = 64 * 1024;
/** Graph's validation tokens are short; a longer one is not Graph's. */
const MAX_VALIDATION_TOKEN = 1024;
/** Items per Graph notification batch looked at (Graph sends a few; more is not Graph). */
const MAX_GRAPH_ITEMS = 100;

export interface CalendarHookRouteDeps {
  db: Db;
  /** The account's calendar changed: a change check here or by the lease holder (AccountSignals.calendarPushed). */
  pushed(accountId: string): Promise<unknown> | void;
  /** Per client IP; default CALENDAR_HOOK_REQUESTS_PER_IP a minute. */
  limiter?: SlidingWindowLimiter;
  log?: { warn(obj: object, msg?: string): void };
}

const header = (value: string | string[] | undefined): string =>
  (Array.isArray(value) ? value[0] : value)?.slice(0, 512) ?? '';

export function calendarHookRoutes(router: ApiRouter, deps: CalendarHookRouteDeps): void {
  const { db } = deps;
  const limiter =
    deps.limiter ??
    new SlidingWindowLimiter({ limit: CALENDAR_HOOK_REQUESTS_PER_IP, windowMs: 60_000, maxKeys: 10_000 });
  const throttle = (ip: string) => spendRequest(limiter, ip);
  // The sender is answered before the account is woken: a slow database or lease round never makes it retry.
  const wake = (accountId: string) => {
    Promise.resolve()
      .then(() => deps.pushed(accountId))
      .catch((err: unknown) =>
        deps.log?.warn({ accountId, err: String(err) }, 'calendar push could not wake the sync'),
      );
  };

  router.route({
    method: 'POST',
    path: '/hooks/google-calendar',
    summary: 'Google Calendar push notifications (events.watch channels); always an empty 200',
    tag: 'hooks',
    auth: 'public',
    rawBody: { contentType: ANY_MEDIA_TYPE, description: 'Empty: Google sends the X-Goog-* headers only' },
    bodyLimit: CALENDAR_HOOK_BODY_LIMIT,
    responses: { 200: { description: 'Received (whether or not it named a known channel)' } },
    handler: async ({ request, reply }) => {
      throttle(request.ip);
      const channelId = header(request.headers['x-goog-channel-id']);
      const resourceId = header(request.headers['x-goog-resource-id']);
      const token = header(request.headers['x-goog-channel-token']);
      const state = header(request.headers['x-goog-resource-state']);
      // "sync" is the handshake right after the watch: nothing changed yet.
      if (channelId && resourceId && token && (state === 'exists' || state === 'not_exists')) {
        const accountId = await accountOfGoogleNotification(db, { channelId, resourceId, token });
        if (accountId) wake(accountId);
      }
      return reply.status(200).header('cache-control', 'no-store').send();
    },
  });

  router.route({
    method: 'POST',
    path: '/hooks/graph-calendar',
    summary:
      'Microsoft Graph change notifications: the validation handshake (?validationToken= echoed as text/plain) and notifications (202)',
    tag: 'hooks',
    auth: 'public',
    query: z.object({ validationToken: z.string().optional() }).loose(),
    rawBody: { contentType: ANY_MEDIA_TYPE, description: 'Graph notifications ({value: [...]}), or empty' },
    bodyLimit: CALENDAR_HOOK_BODY_LIMIT,
    responses: {
      200: { description: 'The validation token', contentType: 'text/plain', schema: webhookValidationSchema },
      202: { description: 'Received (whether or not it named a known subscription)' },
    },
    handler: async ({ query, body, request, reply }) => {
      throttle(request.ip);
      const validationToken = query?.validationToken;
      if (validationToken !== undefined) {
        if (validationToken.length === 0 || validationToken.length > MAX_VALIDATION_TOKEN)
          throw new AppError('NOT_FOUND', 'Not found');
        return reply
          .status(200)
          .header('content-type', 'text/plain; charset=utf-8')
          .header('x-content-type-options', 'nosniff')
          .header('cache-control', 'no-store')
          .send(validationToken);
      }
      const items = graphItems(body);
      const accounts = new Set<string>();
      for (const item of items.slice(0, MAX_GRAPH_ITEMS)) {
        const accountId = await accountOfGraphNotification(db, item);
        if (accountId) accounts.add(accountId);
      }
      for (const accountId of accounts) wake(accountId);
      return reply.status(202).header('cache-control', 'no-store').send();
    },
  });
}

/** The {subscriptionId, clientState} pairs of a Graph notification body; anything unreadable is none. */
function graphItems(body: Buffer | undefined): Array<{ subscriptionId: string; clientState: string }> {
  if (!body || body.length === 0) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  const value = (parsed as { value?: unknown } | null)?.value;
  if (!Array.isArray(value)) return [];
  return value.flatMap((item: unknown) => {
    const { subscriptionId, clientState } = (item ?? {}) as { subscriptionId?: unknown; clientState?: unknown };
    return typeof subscriptionId === 'string' && typeof clientState === 'string' && subscriptionId.length <= 512
      ? [{ subscriptionId, clientState: clientState.slice(0, 512) }]
      : [];
  });
}
