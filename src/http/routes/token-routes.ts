// The caller's API tokens (contract.md, Additions): create one (its secret is shown once), list them (never
// their secrets), revoke one. Revoked or expired tokens answer 401 at once (users.ts userForApiToken).
import { z } from 'zod';
import { recordAudit } from '../../audit/audit-log.js';
import { notFound } from '../../core/app-error.js';
import type { Db } from '../../storage/database.js';
import { issueApiToken, listApiTokens, MAX_TOKEN_DAYS, revokeApiToken } from '../../users/users.js';
import type { ApiRouter } from '../api-router.js';
import { newTokenSchema, tokenListSchema } from '../api-schemas.js';
import { idParams } from './schemas.js';

export function tokenRoutes(router: ApiRouter, db: Db): void {
  router.route({
    method: 'GET',
    path: '/api/me/tokens',
    summary: "The caller's API tokens (never the tokens themselves)",
    tag: 'tokens',
    auth: 'user',
    responses: { 200: { description: 'Tokens, newest first', schema: tokenListSchema } },
    handler: async ({ user }) => ({ items: await listApiTokens(db, user.id) }),
  });

  router.route({
    method: 'POST',
    path: '/api/me/tokens',
    summary: 'Create an API token; the token is in this answer only',
    tag: 'tokens',
    auth: 'user',
    body: z.strictObject({
      name: z.string().trim().min(1).max(100),
      expiresInDays: z.number().int().min(1).max(MAX_TOKEN_DAYS).optional(),
    }),
    status: 201,
    responses: {
      201: {
        description: 'The new token (send it as "Authorization: Bearer <token>")',
        schema: newTokenSchema,
      },
    },
    handler: async ({ user, body, request }) => {
      const issued = await issueApiToken(db, user.id, { name: body.name, expiresInDays: body.expiresInDays ?? null });
      // The token's name and lifetime only: the token itself is in this answer and nowhere else.
      await recordAudit(db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'token.created',
        target: `token:${issued.id}`,
        details: { name: body.name, expiresAt: issued.expiresAt },
        ip: request.ip,
      });
      return issued;
    },
  });

  router.route({
    method: 'DELETE',
    path: '/api/me/tokens/:id',
    summary: "Revoke one of the caller's API tokens",
    tag: 'tokens',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Revoked' } },
    handler: async ({ user, params, request }) => {
      if (!(await revokeApiToken(db, params.id, user.id))) throw notFound('API token');
      const entry = { orgId: user.orgId, actorId: user.id, target: `token:${params.id}`, ip: request.ip };
      await recordAudit(db, { ...entry, action: 'token.revoked' });
    },
  });
}
