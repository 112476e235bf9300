// Request URLs as they may be logged: OAuth's `code` and `state`, tokens in the query, and secrets that live in a
// path (/u/<token> unsubscribe links, /invite/<token>, /api/invites/<token>, tracking URLs) are replaced before a log line is
// written. One serializer for Fastify's `req`, so every request log line goes through it.
import type { FastifyRequest } from 'fastify';

const SECRET_PARAMS = new Set(['code', 'state', 'token', 'access_token', 'refresh_token', 'id_token']);
const SECRET_PATHS = [
  /^(\/u\/)[^/?#]+/,
  /^(\/invite\/)[^/?#]+/,
  /^(\/api\/invites\/)[^/?#]+/,
  // Issue 15 (H3): the tracking pixel and link tokens (/t/o/<token>.gif, /t/c/<token>/<n>).
  /^(\/t\/[oc]\/)[^/?#.]+/,
  // Booking pages' manage links (issue 16, H8): the page and the API.
  /^(\/book\/manage\/)[^/?#]+/,
  /^(\/api\/public\/bookings\/)[^/?#]+/,
];
export const REDACTED = '[redacted]';

export function redactUrl(url: string): string {
  const queryAt = url.indexOf('?');
  let pathname = queryAt === -1 ? url : url.slice(0, queryAt);
  for (const pattern of SECRET_PATHS) pathname = pathname.replace(pattern, `$1${REDACTED}`);
  if (queryAt === -1) return pathname;
  const query = url
    .slice(queryAt + 1)
    .split('&')
    .map((pair) => {
      const name = pair.split('=')[0] ?? '';
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        /* a malformed name is logged as sent */
      }
      return SECRET_PARAMS.has(decoded.toLowerCase()) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
  return `${pathname}?${query}`;
}

/** Fastify's default `req` serializer with the URL redacted. */
export function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}
