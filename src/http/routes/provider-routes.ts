// The provider presets the "Connect e-mail" screen offers, and the preset for an address the user typed.
import { z } from 'zod';
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import { listProviders, lookupProvider } from '../../mail/providers/presets.js';
import type { ApiRouter } from '../api-router.js';
import { providerListSchema, providerLookupSchema } from '../api-schemas.js';

const lookupQuery = z.object({
  email: z
    .string({ error: 'required' })
    .max(320)
    .refine((value) => isValidEmail(normalizeEmail(value)), 'not an e-mail address'),
});

export function providerRoutes(router: ApiRouter): void {
  router.route({
    method: 'GET',
    path: '/api/providers',
    summary: 'The mail provider presets, with their servers prefilled; `other` (editable servers) last',
    tag: 'providers',
    auth: 'user',
    responses: { 200: { description: 'Presets', schema: providerListSchema } },
    // A copy: the presets are a read-only list, the answer a plain array.
    handler: async () => [...listProviders()],
  });

  router.route({
    method: 'GET',
    path: '/api/providers/lookup',
    summary:
      "The preset for an address's domain; unknown domains get `other` with guessed imap./smtp. hosts and matched false",
    tag: 'providers',
    auth: 'user',
    query: lookupQuery,
    responses: {
      200: {
        description: 'The preset',
        schema: providerLookupSchema,
      },
    },
    handler: async ({ query }) => lookupProvider(query.email),
  });
}
