// The provider presets the "Connect e-mail" screen offers, and the preset for an address the user typed.
import { z } from 'zod';
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import { listProviders, lookupProvider } from '../../mail/providers/presets.js';
import type { ApiRouter } from '../api-router.js';

const endpointSchema = z.object({ host: z.string(), port: z.number().int(), secure: z.boolean() });

export const providerPresetSchema = z.object({
  id: z.string(),
  name: z.string(),
  auth: z.enum(['oauth2', 'password']),
  imap: endpointSchema,
  smtp: endpointSchema,
  domains: z.array(z.string()).describe('Address domains of this provider; `name.*` and `*.domain` are patterns'),
  appPassword: z
    .object({ requiredWith2fa: z.boolean(), instructionsUrl: z.string() })
    .nullable()
    .describe('Set when mail programs need an app password: always (requiredWith2fa false) or once two-step verification is on'),
  smtpSavesSent: z.boolean().describe('Whether mail sent over SMTP lands in the Sent folder by itself'),
  caldavUrl: z.string().nullable(),
  calendar: z.enum(['google', 'microsoft', 'caldav']).nullable(),
  help: z.string().optional(),
  oauth: z.enum(['google', 'microsoft-organizations', 'microsoft-consumers']).optional(),
});

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
    responses: { 200: { description: 'Presets', schema: z.array(providerPresetSchema) } },
    handler: async () => listProviders(),
  });

  router.route({
    method: 'GET',
    path: '/api/providers/lookup',
    summary: "The preset for an address's domain; unknown domains get `other` with guessed imap./smtp. hosts and matched false",
    tag: 'providers',
    auth: 'user',
    query: lookupQuery,
    responses: {
      200: {
        description: 'The preset',
        schema: providerPresetSchema.extend({ matched: z.boolean().describe('false when the servers are only a guess') }),
      },
    },
    handler: async ({ query }) => lookupProvider(query.email),
  });
}
