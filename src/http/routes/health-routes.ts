// GET /api/health: the process answers and its database is reachable (for probes and scripts).
import type { ApiRouter } from '../api-router.js';
import { healthSchema } from '../api-schemas.js';
import type { Db } from '../../storage/database.js';
import { sql } from 'kysely';

export function healthRoutes(router: ApiRouter, db: Db): void {
  router.route({
    method: 'GET',
    path: '/api/health',
    summary: 'Liveness and database reachability',
    tag: 'health',
    auth: 'public',
    responses: { 200: { description: 'Up', schema: healthSchema } },
    handler: async () => {
      await sql`select 1`.execute(db);
      return { ok: true as const };
    },
  });
}
