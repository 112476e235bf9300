// Sign-in for the web app: a session cookie (HttpOnly, SameSite=Lax so other sites cannot post with it; pages of
// the same site on another port are stopped by check-origin.ts), with failed attempts throttled.
import { z } from 'zod';
import { AppError } from '../../core/app-error.js';
import type { Db } from '../../storage/database.js';
import { recordAudit } from '../../audit/audit-log.js';
import { checkCredentials, defaultOrgId, deleteSession, findUserByEmail, userForSession } from '../../users/users.js';
import type { ApiRouter } from '../api-router.js';
import { SESSION_COOKIE } from '../authenticate.js';
import type { LoginThrottle } from '../login-throttle.js';
import { startSessionCookie } from '../session-cookie.js';
import { normalizeEmail } from '../../contacts/email-address.js';
import { loginSchema, userSchema } from '../api-schemas.js';

export function authRoutes(
  router: ApiRouter,
  db: Db,
  options: { secureCookies: boolean; throttle: LoginThrottle },
): void {
  router.route({
    method: 'POST',
    path: '/api/auth/login',
    summary: 'Sign in; sets the session cookie',
    tag: 'auth',
    auth: 'public',
    body: z.strictObject({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) }),
    responses: {
      200: { description: 'Signed in', schema: loginSchema },
      429: { description: 'Too many failed attempts for this address or from this IP (RATE_LIMITED, Retry-After)' },
    },
    handler: async ({ body, request, reply }) => {
      const address = normalizeEmail(body.email);
      options.throttle.attempt(address, request.ip);
      const user = await checkCredentials(db, body.email, body.password);
      if (!user) {
        // The address as typed is the org's own security record (who was tried); the password never is. An address
        // nobody has goes to the install's organisation, so an administrator sees guessing too.
        const known = await findUserByEmail(db, address);
        await recordAudit(db, {
          orgId: known?.orgId ?? (await defaultOrgId(db)),
          actorId: null,
          action: 'auth.sign_in_failed',
          target: known ? `user:${known.id}` : null,
          details: { email: body.email },
          ip: request.ip,
        });
        throw new AppError('UNAUTHENTICATED', 'The e-mail or the password is not right');
      }
      options.throttle.succeeded(address, request.ip);
      await startSessionCookie(db, reply, user.id, { secureCookies: options.secureCookies });
      await recordAudit(db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'auth.sign_in',
        target: `user:${user.id}`,
        ip: request.ip,
      });
      const { orgId: _org, ...visible } = user;
      return { user: visible };
    },
  });

  router.route({
    method: 'POST',
    path: '/api/auth/logout',
    summary: 'Sign out; ends the session',
    tag: 'auth',
    auth: 'public',
    status: 204,
    responses: { 204: { description: 'Signed out' } },
    handler: async ({ request, reply }) => {
      const cookie = request.cookies[SESSION_COOKIE];
      if (cookie) {
        const user = await userForSession(db, cookie);
        await deleteSession(db, cookie);
        if (user) {
          const entry = { orgId: user.orgId, actorId: user.id, target: `user:${user.id}`, ip: request.ip };
          await recordAudit(db, { ...entry, action: 'auth.sign_out' });
        }
      }
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
    },
  });

  router.route({
    method: 'GET',
    path: '/api/me',
    summary: 'The signed-in user',
    tag: 'auth',
    auth: 'user',
    responses: { 200: { description: 'The user', schema: userSchema } },
    handler: async ({ user }) => {
      const { orgId: _org, ...visible } = user;
      return visible;
    },
  });
}
