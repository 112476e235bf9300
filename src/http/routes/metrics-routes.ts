// GET /metrics: Prometheus text format for a scraper, outside the session and CSRF machinery. Protection (contract):
// with METRICS_TOKEN set, `Authorization: Bearer <token>` compared in constant time (401 otherwise, wrong guesses
// rate limited per client); without it, loopback clients only (403 otherwise). The client is the socket's peer
// address, never X-Forwarded-For: a proxy on the same host makes every client loopback, so behind one set a token.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import type { ConversaMetrics } from '../../ops/conversa-metrics.js';
import type { ApiRouter } from '../api-router.js';
import { SlidingWindowLimiter } from '../sliding-window-limiter.js';

export interface MetricsRouteDeps {
  metrics: ConversaMetrics;
  /** METRICS_TOKEN (config.ts), or null: loopback clients only. */
  token: string | null;
  /** Wrong tokens per client address; default 20 per 15 minutes. */
  limiter?: SlidingWindowLimiter;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped form (::ffff:127.x.y.z): the only peers a token-less /metrics answers. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.toLowerCase().replace(/^::ffff:/, '');
  if (isIP(plain) === 4) return plain.startsWith('127.');
  if (isIP(plain) === 6) return plain === '::1' || plain === '0:0:0:0:0:0:0:1';
  return false;
}

/** Equal strings, in time that does not depend on where they differ (both are hashed to the same length first). */
export function tokensMatch(sent: string, expected: string): boolean {
  const a = createHash('sha256').update(sent).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Throws 401/403/429 unless the caller may read the metrics (see the module comment). */
export function checkMetricsAccess(
  request: Pick<FastifyRequest, 'headers' | 'socket'>,
  token: string | null,
  limiter: SlidingWindowLimiter,
): void {
  const peer = request.socket.remoteAddress ?? 'unknown';
  if (token === null) {
    if (!isLoopbackAddress(request.socket.remoteAddress))
      throw new AppError('FORBIDDEN', 'Metrics are served to this machine only', {
        hint: 'Set METRICS_TOKEN and send "Authorization: Bearer <token>" to scrape from another host.',
      });
    return;
  }
  const waitMs = limiter.retryAfterMs(peer);
  if (waitMs > 0) {
    const seconds = Math.ceil(waitMs / 1000);
    throw new AppError('RATE_LIMITED', `Too many wrong metrics tokens; try again in ${seconds} s`, {
      details: { retryAfterSeconds: seconds },
    });
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  if (!match || !tokensMatch(match[1]!, token)) {
    limiter.recordFailure(peer);
    throw new AppError('UNAUTHENTICATED', 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>"');
  }
}

export function metricsRoutes(router: ApiRouter, deps: MetricsRouteDeps): void {
  const limiter = deps.limiter ?? new SlidingWindowLimiter({ limit: 20, windowMs: 15 * 60_000, maxKeys: 10_000 });
  router.route({
    method: 'GET',
    path: '/metrics',
    summary:
      'Prometheus metrics (conversa_…): sync state and lag per mailbox, errors by code, queues, calendars, HTTP latency, process',
    tag: 'operations',
    auth: 'public',
    // The scraper's Bearer is the metrics token, not an API token: the router must not read it as one.
    credentials: 'own',
    responses: {
      200: { description: 'Prometheus text exposition format 0.0.4', contentType: 'text/plain', schema: z.string() },
      401: { description: 'METRICS_TOKEN is set and the request did not send it (UNAUTHENTICATED)' },
      403: { description: 'No METRICS_TOKEN and the client is not on this machine (FORBIDDEN)' },
      429: { description: 'Too many wrong tokens from this client (RATE_LIMITED)' },
    },
    handler: async ({ request, reply }) => {
      checkMetricsAccess(request, deps.token, limiter);
      const text = await deps.metrics.scrape();
      return reply
        .header('content-type', deps.metrics.contentType)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(text);
    },
  });
}
