import { z } from 'zod';
import type { ApiRouter } from '../api-router.js';
import type { Db } from '../../storage/database.js';
import { sql } from 'kysely';

export function healthRoutes(router: ApiRouter, db: Db): void {
  router.route({
    method: 'GET',
    path: '/api/health',
    summary: 'Liveness and database reachability',
    tag: 'health',
    auth: 'public',
    responses: { 200: { description: 'Up', schema: z.object({ ok: z.literal(true) }) } },
    handler: async () => {
      await sql`select 1`.execute(db);
      return { ok: true as const };
    },
  });
}
