// Starts a web session for a user and sets its cookie: sign-in, the first-run setup and an accepted invitation all
// end this way, with the same cookie attributes (HttpOnly, SameSite=Lax, Secure when PUBLIC_URL is https).
import type { FastifyReply } from 'fastify';
import type { Db } from '../storage/database.js';
import { createSession } from '../users/users.js';
import { SESSION_COOKIE } from './authenticate.js';

export async function startSessionCookie(
  db: Db,
  reply: FastifyReply,
  userId: string,
  options: { secureCookies: boolean },
): Promise<void> {
  const session = await createSession(db, userId);
  reply.setCookie(SESSION_COOKIE, session.cookieValue, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: options.secureCookies,
    expires: session.expiresAt,
  });
}
