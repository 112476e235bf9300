// CSRF defence for browsers: a change made with the session cookie must come from a page of PUBLIC_URL's
// origin. Browsers send `Origin` on every cross-origin POST (and most same-origin ones), `Referer` otherwise
// unless a policy strips it; SameSite=Lax alone does not help against a page on another port of the same host
// (same site, different origin). Bearer requests carry no ambient credential and are never checked.
import type { FastifyRequest } from 'fastify';
import { AppError } from '../core/app-error.js';
import { SESSION_COOKIE } from './authenticate.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The origin (scheme://host[:port]) of a URL, or null when it has none ("null", garbage). */
export function originOf(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

function refuse(why: string): AppError {
  return new AppError('CSRF_REFUSED', `This change was refused: ${why}`, {
    hint: 'Use the web app at its own address (PUBLIC_URL), or send an API token as "Authorization: Bearer <token>".',
  });
}

/**
 * Throws CSRF_REFUSED when an unsafe request without a Bearer token names a foreign origin (Origin, or Referer
 * when Origin is absent), or carries the session cookie while naming none. A request with neither header and no
 * cookie (curl, a mail provider's server) is let through: it has no ambient credential to abuse. That also
 * covers sign-in, which has no cookie yet: a foreign page cannot sign a browser in to the attacker's account.
 */
export function checkOrigin(request: FastifyRequest, publicOrigin: string): void {
  if (SAFE_METHODS.has(request.method)) return;
  if (request.headers.authorization !== undefined) return;
  const origin = request.headers.origin;
  const referer = request.headers.referer;
  const named = origin !== undefined ? originOf(origin) : referer !== undefined ? originOf(referer) : undefined;
  if (named === undefined) {
    if (request.cookies?.[SESSION_COOKIE])
      throw refuse('a signed-in change must say where it comes from (Origin or Referer)');
    return;
  }
  if (named !== publicOrigin) throw refuse('it came from a page of another site or port');
}
