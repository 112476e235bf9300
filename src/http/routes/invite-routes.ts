// Invitation links (contract.md, Additions), public: GET shows whom the link is for, POST accepts it — the invitee
// chooses a password (the password rules apply) and is signed in. A link works once and for 7 days.
import { z } from 'zod';
import type { Db } from '../../storage/database.js';
import { acceptInvitation, invitationInfo } from '../../users/team.js';
import type { ApiRouter } from '../api-router.js';
import { invitationInfoSchema, loginSchema } from '../api-schemas.js';
import { startSessionCookie } from '../session-cookie.js';

const tokenParams = z.strictObject({ token: z.string().min(1).max(200) });

export function inviteRoutes(router: ApiRouter, db: Db, options: { secureCookies: boolean }): void {
  router.route({
    method: 'GET',
    path: '/api/invites/:token',
    summary: 'Whom an invitation link is for; 404 when it is unknown, used or expired',
    tag: 'team',
    auth: 'public',
    params: tokenParams,
    responses: { 200: { description: 'The invitation', schema: invitationInfoSchema } },
    handler: ({ params }) => invitationInfo(db, params.token),
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
    handler: async ({ params, body, reply }) => {
      const user = await acceptInvitation(db, params.token, { password: body.password, name: body.name ?? null });
      await startSessionCookie(db, reply, user.id, options);
      const { orgId: _org, ...visible } = user;
      return { user: visible };
    },
  });
}
