// Per-user settings and the organisation's plan.
import { z } from 'zod';
import { recordAudit } from '../../audit/audit-log.js';
import type { Db } from '../../storage/database.js';
import { getOrg, getUserSettings, setOrgPlan, updateUserSettings } from '../../users/settings.js';
import type { ApiRouter } from '../api-router.js';
import { orgSchema, settingsSchema } from '../api-schemas.js';

export function settingsRoutes(router: ApiRouter, db: Db): void {
  router.route({
    method: 'GET',
    path: '/api/me/settings',
    summary: "The caller's settings",
    tag: 'settings',
    auth: 'user',
    responses: { 200: { description: 'Settings', schema: settingsSchema } },
    handler: ({ user }) => getUserSettings(db, user.id),
  });

  router.route({
    method: 'PATCH',
    path: '/api/me/settings',
    summary: "Change the caller's settings",
    tag: 'settings',
    auth: 'user',
    body: settingsSchema.partial().strict(),
    responses: { 200: { description: 'Settings', schema: settingsSchema } },
    handler: async ({ user, body, request }) => {
      const settings = await updateUserSettings(db, user.id, body);
      // Which settings changed, with their new values; a list (never-log addresses) as its length only.
      const changed = Object.entries(body).map(([key, value]) => [key, Array.isArray(value) ? value.length : value]);
      await recordAudit(db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'settings.changed',
        target: `user:${user.id}`,
        details: Object.fromEntries(changed),
        ip: request.ip,
      });
      return settings;
    },
  });

  router.route({
    method: 'GET',
    path: '/api/org',
    summary: 'The organisation and its plan',
    tag: 'settings',
    auth: 'user',
    responses: { 200: { description: 'Organisation', schema: orgSchema } },
    handler: ({ user }) => getOrg(db, user.orgId),
  });

  router.route({
    method: 'PATCH',
    path: '/api/org',
    summary: "Change the organisation's plan (administrators)",
    tag: 'settings',
    auth: 'admin',
    body: z.strictObject({ plan: orgSchema.shape.plan }),
    responses: { 200: { description: 'Organisation', schema: orgSchema } },
    handler: async ({ user, body, request }) => {
      const before = await getOrg(db, user.orgId);
      const org = await setOrgPlan(db, user.orgId, body.plan);
      await recordAudit(db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'org.plan_changed',
        target: `org:${user.orgId}`,
        details: { from: before.plan, to: org.plan },
        ip: request.ip,
      });
      return org;
    },
  });
}
