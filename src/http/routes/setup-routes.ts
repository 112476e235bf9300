// The first run (contract.md, Additions): GET /api/setup says whether the install still needs setting up, and
// POST /api/setup names the organisation and creates its first administrator, signed in at once — exactly once
// (afterwards, and for the loser of a race, 409 ALREADY_SET_UP; users/setup.ts).
import { z } from 'zod';
import type { Db } from '../../storage/database.js';
import { needsSetup, runSetup } from '../../users/setup.js';
import type { ApiRouter } from '../api-router.js';
import { localeSchema, setupStateSchema, userSchema } from '../api-schemas.js';
import { startSessionCookie } from '../session-cookie.js';

export function setupRoutes(router: ApiRouter, db: Db, options: { secureCookies: boolean }): void {
  router.route({
    method: 'GET',
    path: '/api/setup',
    summary: 'Whether the install needs its first-run setup (true while no user exists)',
    tag: 'setup',
    auth: 'public',
    responses: { 200: { description: 'Setup state', schema: setupStateSchema } },
    handler: async () => ({ needsSetup: await needsSetup(db) }),
  });

  router.route({
    method: 'POST',
    path: '/api/setup',
    summary: 'First-run setup: the organisation and its first administrator (signed in); works once',
    tag: 'setup',
    auth: 'public',
    body: z.strictObject({
      orgName: z.string().trim().min(1).max(200),
      email: z.string().min(1).max(320),
      password: z.string().min(1).max(1024),
      name: z.string().trim().max(200).optional(),
      locale: localeSchema.optional(),
    }),
    status: 201,
    responses: {
      201: { description: 'The administrator, signed in (session cookie)', schema: userSchema },
      409: { description: 'Already set up (ALREADY_SET_UP)' },
    },
    handler: async ({ body, reply }) => {
      const user = await runSetup(db, {
        orgName: body.orgName,
        email: body.email,
        password: body.password,
        name: body.name ?? null,
        ...(body.locale ? { locale: body.locale } : {}),
      });
      await startSessionCookie(db, reply, user.id, options);
      const { orgId: _org, ...visible } = user;
      return visible;
    },
  });
}
