// Per-user settings and the organisation's plan.
import { z } from 'zod';
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
    handler: ({ user, body }) => updateUserSettings(db, user.id, body),
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
    handler: ({ user, body }) => setOrgPlan(db, user.orgId, body.plan),
  });
}
