// GET /api/email-accounts/:id/deliverability: SPF, DKIM and DMARC of the sender domain, each with the fix.
import { accountDeliverability, type AccountDeliverabilityDeps } from '../../mail/send/account-deliverability.js';
import type { ApiRouter } from '../api-router.js';
import { deliverabilitySchema } from '../api-schemas.js';
import { idParams } from './schemas.js';

export function deliverabilityRoutes(router: ApiRouter, deps: AccountDeliverabilityDeps): void {
  router.route({
    method: 'GET',
    path: '/api/email-accounts/:id/deliverability',
    summary: "Whether the sender domain's SPF, DKIM and DMARC let this account's mail be delivered, and what to fix",
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    responses: {
      200: { description: 'The report', schema: deliverabilitySchema },
    },
    handler: ({ user, params, request }) => {
      const abort = new AbortController();
      request.raw.once('close', () => abort.abort());
      return accountDeliverability(deps, user, params.id, abort.signal);
    },
  });
}
