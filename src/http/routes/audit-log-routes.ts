// The audit log for administrators (issue 19): GET /api/audit-log, newest first, filtered by action, actor and time,
// paged by ?before=<entry id or ISO time>. Read only by design: there is no PATCH, PUT or DELETE route for it, so a
// request to change or remove an entry finds no route (404) — nothing in the API or the web app can rewrite history.
import { z } from 'zod';
import { listAuditLog } from '../../audit/audit-log.js';
import type { Db } from '../../storage/database.js';
import type { ApiRouter } from '../api-router.js';
import { auditActionSchema, auditLogSchema } from '../api-schemas.js';

const MAX_PAGE = 200;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const instant = z
  .string()
  .max(40)
  .refine((value) => !Number.isNaN(Date.parse(value)), 'an ISO 8601 time');

export function auditLogRoutes(router: ApiRouter, db: Db): void {
  router.route({
    method: 'GET',
    path: '/api/audit-log',
    summary:
      "The organisation's audit log, newest first (administrators; read only: no route changes or removes an entry)",
    tag: 'audit',
    auth: 'admin',
    query: z.strictObject({
      action: auditActionSchema.optional(),
      actorId: z.string().min(1).max(64).optional(),
      since: instant.optional().describe('Entries at or after this time (ISO 8601)'),
      before: z
        .string()
        .max(64)
        .refine((value) => UUID.test(value) || !Number.isNaN(Date.parse(value)), 'an entry id or an ISO 8601 time')
        .optional()
        .describe("The cursor: entries older than this entry id (the last page's nextBefore) or this time"),
      limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
    }),
    responses: { 200: { description: 'Entries, newest first', schema: auditLogSchema } },
    handler: async ({ user, query }) => {
      const page = await listAuditLog(db, user.orgId, {
        ...(query.action ? { action: query.action } : {}),
        ...(query.actorId ? { actorId: query.actorId } : {}),
        ...(query.since ? { since: Date.parse(query.since) } : {}),
        ...(query.before
          ? { before: UUID.test(query.before) ? { id: query.before } : { at: Date.parse(query.before) } }
          : {}),
        limit: query.limit ?? 50,
      });
      return {
        items: page.items.map((entry) => ({
          ...entry,
          at: new Date(entry.at).toISOString(),
          action: auditActionSchema.parse(entry.action),
        })),
        nextBefore: page.nextBefore,
      };
    },
  });
}
