// The team as administrators manage it (GET, POST /api/users, PATCH /api/users/:id) and what each user changes about
// themselves (PATCH /api/me, POST /api/me/password). Members get 403 FORBIDDEN on the admin routes (api-router.ts).
import { z } from 'zod';
import { recordAudit } from '../../audit/audit-log.js';
import type { Db } from '../../storage/database.js';
import { changePassword, updateProfile } from '../../users/profile.js';
import { inviteUser, listTeam, updateTeamUser, type TeamDeps } from '../../users/team.js';
import type { ApiRouter } from '../api-router.js';
import { SESSION_COOKIE } from '../authenticate.js';
import {
  invitationSchema,
  localeSchema,
  roleSchema,
  teamUserListSchema,
  teamUserSchema,
  userSchema,
} from '../api-schemas.js';
import { idParams } from './schemas.js';

export type UserRouteDeps = Omit<TeamDeps, 'db' | 'publicUrl'>;

export function userRoutes(router: ApiRouter, db: Db, publicUrl: string, deps: UserRouteDeps): void {
  const team: TeamDeps = { ...deps, db, publicUrl };

  router.route({
    method: 'GET',
    path: '/api/users',
    summary: "The organisation's users",
    tag: 'team',
    auth: 'admin',
    responses: { 200: { description: 'Users, oldest first', schema: teamUserListSchema } },
    handler: async ({ user }) => ({ items: await listTeam(db, user.orgId) }),
  });

  router.route({
    method: 'POST',
    path: '/api/users',
    summary: 'Invite a colleague: a single-use link valid for 7 days (mailed when the app relay is set)',
    tag: 'team',
    auth: 'admin',
    body: z.strictObject({
      email: z.string().min(1).max(320),
      name: z.string().trim().max(200).optional(),
      role: roleSchema,
    }),
    status: 201,
    responses: {
      201: { description: 'The invited user and the link to hand over', schema: invitationSchema },
      409: { description: 'A user with this e-mail exists (USER_EMAIL_TAKEN)' },
    },
    handler: async ({ user, body, request }) => {
      const invitation = await inviteUser(team, user, { email: body.email, name: body.name ?? null, role: body.role });
      // Whom and with what role; never the link (it is a password until it is used).
      await recordAudit(db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'user.invited',
        target: `user:${invitation.user.id}`,
        details: { email: invitation.user.email, role: invitation.user.role, mailed: invitation.mailed },
        ip: request.ip,
      });
      return invitation;
    },
  });

  router.route({
    method: 'PATCH',
    path: '/api/users/:id',
    summary:
      "Change a user's role or active state; deactivating ends their sessions, refuses their tokens and pauses their mailboxes (mail kept)",
    tag: 'team',
    auth: 'admin',
    params: idParams,
    body: z.strictObject({
      role: roleSchema.optional(),
      active: z.boolean().optional(),
      shareMailboxes: z.boolean().optional(),
    }),
    responses: {
      200: { description: 'The user', schema: teamUserSchema },
      409: { description: 'The last active administrator cannot be demoted or deactivated (CONFLICT)' },
    },
    handler: async ({ user, params, body, request }) => {
      const before = (await listTeam(db, user.orgId)).find((member) => member.id === params.id);
      const after = await updateTeamUser(team, user, params.id, body);
      // One entry per change that happened (a PATCH that repeats the current state records nothing).
      const entry = { orgId: user.orgId, actorId: user.id, target: `user:${after.id}`, ip: request.ip };
      if (before && before.role !== after.role) {
        await recordAudit(db, {
          ...entry,
          action: 'user.role_changed',
          details: { from: before.role, to: after.role },
        });
      }
      if (before && before.active && !after.active) {
        await recordAudit(db, {
          ...entry,
          action: 'user.deactivated',
          details: { shareMailboxes: body.shareMailboxes ?? false },
        });
      }
      if (before && !before.active && after.active) await recordAudit(db, { ...entry, action: 'user.reactivated' });
      return after;
    },
  });

  router.route({
    method: 'PATCH',
    path: '/api/me',
    summary: "Change one's own name or language",
    tag: 'auth',
    auth: 'user',
    body: z.strictObject({ name: z.string().trim().max(200).nullable().optional(), locale: localeSchema.optional() }),
    responses: { 200: { description: 'The user', schema: userSchema } },
    handler: async ({ user, body, request }) => {
      const updated = await updateProfile(db, user, {
        ...(body.name !== undefined ? { name: body.name } : {}),
        ...(body.locale ? { locale: body.locale } : {}),
      });
      await recordAudit(db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'settings.changed',
        target: `user:${user.id}`,
        details: { ...body },
        ip: request.ip,
      });
      const { orgId: _org, ...visible } = updated;
      return visible;
    },
  });

  router.route({
    method: 'POST',
    path: '/api/me/password',
    summary: "Change one's password (the current one is required); every other session ends",
    tag: 'auth',
    auth: 'user',
    body: z.strictObject({ currentPassword: z.string().min(1).max(1024), newPassword: z.string().min(1).max(1024) }),
    status: 204,
    responses: { 204: { description: 'Changed' } },
    handler: async ({ user, body, request }) => {
      // With a Bearer token there is no session to keep: all of them end.
      const keep = request.headers.authorization ? undefined : request.cookies[SESSION_COOKIE];
      await changePassword(db, user, body, keep);
      const entry = { orgId: user.orgId, actorId: user.id, target: `user:${user.id}`, ip: request.ip };
      await recordAudit(db, { ...entry, action: 'user.password_changed' });
    },
  });
}
