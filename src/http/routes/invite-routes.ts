// Invitation links (contract.md, Additions), public: GET shows whom the link is for, POST accepts it — the invitee
// chooses a password (the password rules apply) and is signed in. A link works once and for 7 days. Both are
// public, so guessing links is throttled per client IP with the sign-in's own budget: a link is a password too.
import { z } from 'zod';
import { recordAudit } from '../../audit/audit-log.js';
import type { Db } from '../../storage/database.js';
import { acceptInvitation, invitationInfo } from '../../users/team.js';
import type { ApiRouter } from '../api-router.js';
import { invitationInfoSchema, loginSchema } from '../api-schemas.js';
import { startSessionCookie } from '../session-cookie.js';
import type { LoginThrottle } from '../login-throttle.js';

const tokenParams = z.strictObject({ token: z.string().min(1).max(200) });

export function inviteRoutes(
  router: ApiRouter,
  db: Db,
  options: { secureCookies: boolean; throttle: LoginThrottle },
): void {
  /** Runs `look` as one guess of `token` from `ip`: a wrong or used link counts against the IP, a right one not. */
  async function guarded<T>(token: string, ip: string, look: () => Promise<T>): Promise<T> {
    const key = `invite:${token}`;
    options.throttle.attempt(key, ip);
    const found = await look();
    options.throttle.succeeded(key, ip);
    return found;
  }

  router.route({
    method: 'GET',
    path: '/api/invites/:token',
    summary: 'Whom an invitation link is for; 404 when it is unknown, used or expired',
    tag: 'team',
    auth: 'public',
    params: tokenParams,
    responses: { 200: { description: 'The invitation', schema: invitationInfoSchema } },
    handler: ({ params, request }) => guarded(params.token, request.ip, () => invitationInfo(db, params.token)),
  });

  router.route({
    method: 'POST',
    path: '/api/invites/:token',
    summary: 'Accept an invitation: choose a password (and name); signs in',
    tag: 'team',
    auth: 'public',
    params: tokenParams,
    body: z.strictObject({
      password: z.string().min(1).max(1024),
      name: z.string().trim().max(200).optional(),
    }),
    responses: { 200: { description: 'Signed in (session cookie)', schema: loginSchema } },
    handler: async ({ params, body, reply, request }) => {
      const user = await guarded(params.token, request.ip, () =>
        acceptInvitation(db, params.token, { password: body.password, name: body.name ?? null }),
      );
      await startSessionCookie(db, reply, user.id, { secureCookies: options.secureCookies });
      const entry = { orgId: user.orgId, actorId: user.id, target: `user:${user.id}`, ip: request.ip };
      await recordAudit(db, { ...entry, action: 'user.invitation_accepted' });
      const { orgId: _org, ...visible } = user;
      return { user: visible };
    },
  });
}
