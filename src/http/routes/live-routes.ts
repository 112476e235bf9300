// GET /api/live: the live inbox as server-sent events, authenticated like every API route (EventSource sends the
// session cookie; scripts send a Bearer token). Each process's LiveFeed polls the shared `live_events` table; this
// route passes on only what the connected user may see: their own events, and organisation-wide ones naming a
// message the access policy lets them read. Heartbeats keep proxies from closing the stream and re-check the
// credentials, so a signed-out or deactivated user's stream ends at the next one. `id:` lines let a reconnecting
// page resume with Last-Event-ID (a bounded replay of the last minutes).
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import type { Db } from '../../storage/database.js';
import type { User } from '../../users/users.js';
import { messageVisibleTo } from '../../access/access-policy.js';
import type { LiveEvent } from '../../live/live-events.js';
import type { LiveFeed } from '../../live/live-feed.js';
import { isId, newId } from '../../storage/ids.js';
import type { ApiRouter } from '../api-router.js';
import { authenticate } from '../authenticate.js';

export interface LiveRouteDeps {
  db: Db;
  feed: LiveFeed;
  /** Comment lines this often (default 25 s), each after checking the caller is still signed in. */
  heartbeatMs?: number;
  /** Open streams per user in this process (default 5); one more is 429 RATE_LIMITED. */
  maxStreamsPerUser?: number;
}

export interface LiveRoutes {
  /** Ends every open stream (the server is closing: an open stream would keep it waiting). */
  closeAll(): void;
}

/** Messages whose visibility a stream remembers, so a burst of events does not ask the database each time. */
const VISIBILITY_CACHE = 500;

export function liveRoutes(router: ApiRouter, deps: LiveRouteDeps): LiveRoutes {
  const { db, feed } = deps;
  const heartbeatMs = deps.heartbeatMs ?? 25_000;
  const maxStreams = deps.maxStreamsPerUser ?? 5;
  const streamsOf = new Map<string, number>();
  const open = new Set<() => void>();

  router.route({
    method: 'GET',
    path: '/api/live',
    summary:
      'Live inbox: server-sent events (message.new, messages.bulk, message.read, reminder.due, tracking.event) for the caller',
    tag: 'live',
    auth: 'user',
    query: z.object({
      lastEventId: z.string().max(64).optional().describe('Resume after this event (the Last-Event-ID header wins)'),
    }),
    responses: {
      200: {
        description:
          'An event stream: `id:`, `event:` (the type) and `data:` (JSON {id, type, data}) per event, a comment line as heartbeat',
        contentType: 'text/event-stream',
        schema: z.string(),
      },
      429: { description: 'Too many open streams for this user (RATE_LIMITED)' },
    },
    handler: async ({ user, request, reply, query }) => {
      const mine = streamsOf.get(user.id) ?? 0;
      if (mine >= maxStreams) {
        throw new AppError('RATE_LIMITED', `At most ${maxStreams} live connections per user`, {
          hint: 'Close other tabs of Conversa, or wait for their connections to end.',
          details: { retryAfterSeconds: 30 },
        });
      }
      streamsOf.set(user.id, mine + 1);
      const header = request.headers['last-event-id'];
      const lastEventId = (Array.isArray(header) ? header[0] : header) ?? query.lastEventId;

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
      });
      raw.write('retry: 3000\n\n');

      // Events up to here are the page's already: those before its resume point, or (a fresh page, which fetches
      // what it shows after connecting) those before it connected, which the feed's look-back would repeat.
      const resumeFrom = lastEventId && isId(lastEventId) ? lastEventId : null;
      const floor = resumeFrom ?? newId();
      let closed = false;
      const visible = new Map<string, boolean>();
      const sent = new Set<string>();
      const write = (text: string) => {
        if (!closed) raw.write(text);
      };
      const deliver = async (event: LiveEvent) => {
        if (closed || sent.has(event.id)) return;
        if (!(await mayReceive(db, user, event, visible))) return;
        if (closed) return;
        sent.add(event.id);
        if (sent.size > 2 * VISIBILITY_CACHE) sent.delete(sent.values().next().value!);
        const payload = JSON.stringify({ id: event.id, type: event.type, data: event.data });
        write(`id: ${event.id}\nevent: ${event.type}\ndata: ${payload}\n\n`);
      };
      // Events go out one after another, in order, though each waits for its visibility check.
      let chain: Promise<void> = (async () => {
        if (resumeFrom) {
          for (const event of await feed.replay(user.orgId, resumeFrom)) await deliver(event);
        }
      })();
      const enqueue = (event: LiveEvent) => {
        if (event.orgId !== user.orgId || event.id <= floor) return;
        chain = chain
          .then(() => deliver(event))
          .catch((err: unknown) => request.log.warn({ err }, 'live event failed'));
      };
      const unsubscribe = feed.subscribe(enqueue);
      chain = chain.catch((err: unknown) => request.log.warn({ err }, 'live replay failed'));

      const heartbeat = setInterval(() => {
        void stillSignedIn(db, request).then((ok) => {
          if (!ok) return end();
          write(': heartbeat\n\n');
        });
      }, heartbeatMs);
      heartbeat.unref();

      const end = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        open.delete(end);
        const left = (streamsOf.get(user.id) ?? 1) - 1;
        if (left > 0) streamsOf.set(user.id, left);
        else streamsOf.delete(user.id);
        raw.end();
      };
      open.add(end);
      raw.on('close', end);
      return reply;
    },
  });

  return {
    closeAll() {
      for (const end of [...open]) end();
    },
  };
}

/** The credentials of the stream still name an active user (a sign-out, revocation or deactivation ends it). */
async function stillSignedIn(db: Db, request: FastifyRequest): Promise<boolean> {
  try {
    await authenticate(db, request);
    return true;
  } catch {
    return false;
  }
}

/** The access rule for one event: addressed to this user, or org-wide and naming a message they may read. */
async function mayReceive(db: Db, user: User, event: LiveEvent, cache: Map<string, boolean>): Promise<boolean> {
  if (event.orgId !== user.orgId) return false;
  if (event.userId !== null && event.userId !== user.id) return false;
  const messageId = typeof event.data.messageId === 'string' ? event.data.messageId : null;
  if (messageId === null) return true;
  const known = cache.get(messageId);
  if (known !== undefined) return known;
  const row = await db
    .selectFrom('messages')
    .select('messages.id')
    .where(messageVisibleTo(user))
    .where('messages.id', '=', messageId)
    .executeTakeFirst();
  // Only a yes is remembered: a message may become visible later (it reaches one of the user's own mailboxes).
  if (row === undefined) return false;
  cache.set(messageId, true);
  if (cache.size > VISIBILITY_CACHE) cache.delete(cache.keys().next().value!);
  return true;
}
