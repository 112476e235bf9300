// GET /api/email-accounts/:id/deliverability: SPF, DKIM and DMARC of the sender domain, each with the fix.
import { z } from 'zod';
import { accountDeliverability, type AccountDeliverabilityDeps } from '../../mail/send/account-deliverability.js';
import type { ApiRouter } from '../api-router.js';
import { idParams } from './schemas.js';

const check = z.object({
  status: z.string(),
  record: z.string().optional(),
  fix: z.string().optional(),
});

export function deliverabilityRoutes(router: ApiRouter, deps: AccountDeliverabilityDeps): void {
  router.route({
    method: 'GET',
    path: '/api/email-accounts/:id/deliverability',
    summary: "Whether the sender domain's SPF, DKIM and DMARC let this account's mail be delivered, and what to fix",
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    responses: {
      200: {
        description: 'The report',
        schema: z.object({
          domain: z.string(),
          spf: check,
          dkim: check.extend({ selector: z.string().optional() }),
          dmarc: check.extend({ policy: z.string().optional() }),
        }),
      },
    },
    handler: ({ user, params, request }) => {
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort());
      return accountDeliverability(deps, user, params.id, abort.signal);
    },
  });
}
