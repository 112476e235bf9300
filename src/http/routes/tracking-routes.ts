// Issue 15 (H3): the public ends of tracking — the pixel (GET /t/o/<token>.gif) and the link redirects
// (GET /t/c/<token>/<n>) — and the events of a message for those who may read it. The public routes need no login
// and no CSRF check (GET), are rate limited per client IP, and reveal nothing: the pixel is the same GIF for any
// token, known or not, and a redirect goes only to the URL stored for that link of that message (no open redirect:
// the destination never comes from the request); anything else is a 404 without a Location.
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import type { Db } from '../../storage/database.js';
import { followLink, recordOpen } from '../../tracking/tracked-messages.js';
import { messageTrackingEvents } from '../../tracking/tracking-events.js';
import type { ApiRouter } from '../api-router.js';
import { messageEventListSchema } from '../api-schemas.js';
import { SlidingWindowLimiter, spendRequest } from '../sliding-window-limiter.js';
import { idParams } from './schemas.js';

/** Requests to the tracking URLs per client IP per minute: a whole office behind one address opening a campaign. */
export const TRACKING_REQUESTS_PER_IP = 120;
export const TRACKING_WINDOW_MS = 60_000;

/** The 43-byte transparent 1×1 GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

export interface TrackingRouteDeps {
  db: Db;
  /** Per client IP; default TRACKING_REQUESTS_PER_IP a minute. */
  limiter?: SlidingWindowLimiter;
  /** The clock of the verdicts (tests). */
  now?: () => number;
}

export function trackingRoutes(router: ApiRouter, deps: TrackingRouteDeps): void {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const limiter =
    deps.limiter ??
    new SlidingWindowLimiter({ limit: TRACKING_REQUESTS_PER_IP, windowMs: TRACKING_WINDOW_MS, maxKeys: 10_000 });

  const throttle = (ip: string) => spendRequest(limiter, ip);

  router.route({
    method: 'GET',
    path: '/t/o/:token.gif',
    summary: 'Tracking pixel: always a transparent 1×1 GIF; records an open when the token is a tracked message',
    tag: 'tracking',
    auth: 'public',
    params: z.object({ token: z.string() }),
    responses: { 200: { description: 'The pixel', contentType: 'image/gif', schema: z.string() } },
    handler: async ({ params, request, reply }) => {
      throttle(request.ip);
      await recordOpen(db, params.token, {
        method: request.method,
        userAgent: request.headers['user-agent'],
        now: now(),
      });
      return reply
        .header('content-type', 'image/gif')
        .header('cache-control', 'no-store, no-cache, must-revalidate, max-age=0')
        .header('pragma', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(PIXEL);
    },
  });

  router.route({
    method: 'GET',
    path: '/t/c/:token/:n',
    summary: 'Tracked link: 302 to the URL that was at this position of the message; 404 (no redirect) otherwise',
    tag: 'tracking',
    auth: 'public',
    // Anything may arrive as <n>; what is not a stored position is a 404 below, never a 400 that says more.
    params: z.object({ token: z.string(), n: z.string() }),
    responses: {
      302: { description: 'To the URL that was in the message' },
    },
    handler: async ({ params, request, reply }) => {
      throttle(request.ip);
      const position = /^\d{1,5}$/.test(params.n) ? Number(params.n) : -1;
      const url =
        position < 0
          ? null
          : await followLink(db, params.token, position, {
              method: request.method,
              userAgent: request.headers['user-agent'],
              now: now(),
            });
      if (!url) throw new AppError('NOT_FOUND', 'This link does not exist');
      return reply
        .status(302)
        .header('location', url)
        .header('cache-control', 'no-store')
        .header('referrer-policy', 'no-referrer')
        .send();
    },
  });

  router.route({
    method: 'GET',
    path: '/api/messages/:id/events',
    summary:
      'What became of a message: opens and clicks (automated: true when from an image proxy, prefetcher or scanner, or within 30 s of leaving), replies in its thread, a bounce',
    tag: 'messages',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'Events, oldest first', schema: messageEventListSchema } },
    handler: ({ user, params }) => messageTrackingEvents(db, user, params.id),
  });
}
