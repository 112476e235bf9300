// Mailbox connections: connect (tested first), list, read, reconnect/switch, delete, sync now, OAuth2 sign-in
// (bound to the starting browser by a nonce cookie), proving the address for the company relay, and a new BCC address.
import { z } from 'zod';
import type { DKIMOptions } from 'nodemailer';
import { recordAudit } from '../../audit/audit-log.js';
import { AppError } from '../../core/app-error.js';
import { confirmAddressCode, sendAddressCode } from '../../mail/send/address-verification.js';
import {
  connectAccount,
  deleteAccount,
  getAccount,
  listAccounts,
  patchAccount,
  regenerateBccAddress,
} from '../../mail/accounts/email-accounts.js';
import {
  completeOAuth,
  OAUTH_BROWSER_COOKIE_MAX_AGE_S,
  startOAuth,
  type OAuthDeps,
} from '../../mail/accounts/oauth-connect.js';
import type { AppSmtpConfig } from '../../mail/send/smtp-settings.js';
import { findUserById } from '../../users/users.js';
import type { ApiRouter } from '../api-router.js';
import {
  accountListSchema,
  accountSchema,
  oauthStartSchema,
  syncModeSchema,
  syncStartedSchema,
  verificationSentSchema,
} from '../api-schemas.js';
import { idParams } from './schemas.js';

const server = z.strictObject({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  secure: z.boolean(),
});
const syncMode = syncModeSchema;
const historyDays = z.number().int().min(1).max(3650);

const connectBody = z.strictObject({
  provider: z.string().min(1).max(50),
  email: z.string().min(3).max(320),
  password: z.string().min(1).max(4096).optional(),
  username: z.string().min(1).max(320).optional(),
  imap: server.optional(),
  smtp: server.optional(),
  caldavUrl: z.string().url().max(2000).nullable().optional(),
  syncMode: syncMode.optional(),
  historyDays: historyDays.optional(),
  visibility: z.enum(['shared', 'private']).optional(),
});

export interface EmailAccountRouteDeps extends OAuthDeps {
  /** Resolves true when a sync was started here or requested from the worker that owns the account. */
  syncNow(accountId: string): Promise<boolean> | boolean;
  /** The same for the account's calendar ("Sync now" brings both); absent: the calendar is not asked. */
  calendarSyncNow?(accountId: string): Promise<boolean> | boolean;
  /** The company relay: verification codes go through it (null: nothing to verify for). */
  appSmtp: AppSmtpConfig | null;
  dkim?: DKIMOptions | null;
}

/** The nonce of the browser that started an OAuth sign-in; sent back only to the callback. */
const OAUTH_BROWSER_COOKIE = 'conversa_oauth';
const OAUTH_COOKIE_PATH = '/api/email-accounts/oauth';

export function emailAccountRoutes(router: ApiRouter, deps: EmailAccountRouteDeps): void {
  router.route({
    method: 'POST',
    path: '/api/email-accounts',
    summary:
      'Connect a mailbox with a password; IMAP login and SMTP AUTH are tested first and nothing is saved on failure',
    tag: 'email-accounts',
    auth: 'user',
    status: 201,
    body: connectBody,
    responses: { 201: { description: 'Connected; sync starts', schema: accountSchema } },
    handler: async ({ user, body, request }) => {
      const account = await connectAccount(deps, user, body);
      await recordAudit(deps.db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'mailbox.connected',
        target: `mailbox:${account.id}`,
        details: { email: account.email, provider: account.provider, authKind: account.authKind },
        ip: request.ip,
      });
      return account;
    },
  });

  router.route({
    method: 'GET',
    path: '/api/email-accounts',
    summary: "The caller's mailboxes (admins: ?all=1 for everyone's)",
    tag: 'email-accounts',
    auth: 'user',
    query: z.object({ all: z.enum(['0', '1', 'true', 'false']).optional() }),
    responses: { 200: { description: 'Accounts', schema: accountListSchema } },
    handler: async ({ user, query }) => ({
      items: await listAccounts(deps, user, { all: query.all === '1' || query.all === 'true' }),
    }),
  });

  router.route({
    method: 'POST',
    path: '/api/email-accounts/oauth/start',
    summary: 'Start connecting a Gmail, Microsoft 365 or Outlook mailbox; send the browser to authorizeUrl',
    tag: 'email-accounts',
    auth: 'user',
    body: z.strictObject({
      provider: z.string().min(1).max(50),
      syncMode: syncMode.optional(),
      historyDays: historyDays.optional(),
      accountId: z.string().uuid().optional(),
      // No imap/smtp/email here: the token goes only to the provider's servers, as the provider's address.
    }),
    responses: {
      200: {
        description: 'Where to sign in; sets an HttpOnly cookie the callback must come back with (same browser)',
        schema: oauthStartSchema,
      },
    },
    handler: async ({ user, body, reply }) => {
      const started = await startOAuth(deps, user, body);
      reply.setCookie(OAUTH_BROWSER_COOKIE, started.browserNonce, {
        path: OAUTH_COOKIE_PATH,
        httpOnly: true,
        // Lax: sent on the provider's top-level redirect back to us, never on another site's subrequests.
        sameSite: 'lax',
        secure: deps.publicUrl.startsWith('https://'),
        maxAge: OAUTH_BROWSER_COOKIE_MAX_AGE_S,
      });
      return { authorizeUrl: started.authorizeUrl };
    },
  });

  router.route({
    method: 'GET',
    path: '/api/email-accounts/oauth/callback',
    summary: "The provider's redirect after sign-in; creates (or reconnects) the account and returns to the web app",
    tag: 'email-accounts',
    auth: 'public',
    query: z.object({
      code: z.string().optional(),
      state: z.string().optional(),
      error: z.string().optional(),
      error_description: z.string().optional(),
    }),
    responses: {
      302: {
        description:
          'Back to the web app, with ?connected=<id> or ?error=<code> (a known code only: the app shows its own text). ' +
          'CSRF_REFUSED: opened in another browser than the one that started it; nothing was saved',
      },
    },
    handler: async ({ query, reply, request }) => {
      const back = new URL('/settings/email', deps.publicUrl);
      const nonce = request.cookies?.[OAUTH_BROWSER_COOKIE];
      // One sign-in per nonce, whatever the outcome.
      reply.clearCookie(OAUTH_BROWSER_COOKIE, { path: OAUTH_COOKIE_PATH });
      try {
        const account = await completeOAuth(deps, query, nonce);
        // A new mailbox or a reconnect by sign-in: either way the user granted access to a mailbox here.
        const owner = await findUserById(deps.db, account.userId);
        await recordAudit(deps.db, {
          orgId: owner?.orgId ?? null,
          actorId: account.userId,
          action: 'mailbox.connected',
          target: `mailbox:${account.id}`,
          details: { email: account.email, provider: account.provider, authKind: account.authKind },
          ip: request.ip,
        });
        back.searchParams.set('connected', account.id);
      } catch (error) {
        // Anything unexpected (a database failure) still lands on the page, as a known code, never as a 500 text.
        const code = error instanceof AppError ? error.code : 'INTERNAL';
        request.log.warn({ code, ...(error instanceof AppError ? {} : { err: error }) }, 'oauth connection failed');
        back.searchParams.set('error', code);
      }
      return reply.redirect(back.toString(), 302);
    },
  });

  router.route({
    method: 'GET',
    path: '/api/email-accounts/:id',
    summary: 'One mailbox, with its sync status',
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The account', schema: accountSchema } },
    handler: ({ user, params }) => getAccount(deps, user, params.id),
  });

  router.route({
    method: 'PATCH',
    path: '/api/email-accounts/:id',
    summary:
      'Reconnect (new credentials) or switch (another provider or server), tested first; or set the signature (owner only)',
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    body: connectBody.partial().extend({
      // Signatures (issue 15, H5): sanitised on save; over 64 KB is 422 SIGNATURE_TOO_LARGE.
      signatureHtml: z
        .string()
        .nullable()
        .optional()
        .describe("The mailbox's signature (HTML, sanitised on save, 64 KB at most); null or empty removes it"),
    }),
    responses: { 200: { description: 'The account', schema: accountSchema } },
    handler: async ({ user, params, body, request }) => {
      const account = await patchAccount(deps, user, params.id, body);
      // The names of the fields sent, never their values (a password, a signature).
      await recordAudit(deps.db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'mailbox.changed',
        target: `mailbox:${account.id}`,
        details: { email: account.email, fields: Object.keys(body).sort() },
        ip: request.ip,
      });
      return account;
    },
  });

  router.route({
    method: 'DELETE',
    path: '/api/email-accounts/:id',
    summary: 'Remove the configuration and credentials; stored mail stays on its contacts',
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Removed' } },
    handler: async ({ user, params, request }) => {
      const { email } = await getAccount(deps, user, params.id);
      await deleteAccount(deps, user, params.id);
      await recordAudit(deps.db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'mailbox.deleted',
        target: `mailbox:${params.id}`,
        details: { email },
        ip: request.ip,
      });
    },
  });

  router.route({
    method: 'POST',
    path: '/api/email-accounts/:id/verify',
    summary:
      'Prove the address before the company relay sends as it: `{}` mails a 6-digit code to it through the relay (202); ' +
      '`{code}` checks it and answers the account with addressVerified true. Codes last 30 min, 5 tries; resending is rate limited',
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    body: z.strictObject({ code: z.string().min(1).max(20).optional() }),
    responses: {
      200: { description: 'Verified', schema: accountSchema },
      202: { description: 'A code was mailed to the address', schema: verificationSentSchema },
    },
    handler: async ({ user, params, body, reply }) => {
      if (body.code !== undefined) return confirmAddressCode(deps, user, params.id, body.code);
      try {
        const sent = await sendAddressCode(deps, user, params.id);
        reply.code(202);
        return sent;
      } catch (error) {
        const seconds =
          error instanceof AppError && error.code === 'RATE_LIMITED' ? error.details?.retryAfterSeconds : undefined;
        if (typeof seconds === 'number') reply.header('retry-after', String(seconds));
        throw error;
      }
    },
  });

  router.route({
    method: 'POST',
    path: '/api/email-accounts/:id/bcc-address',
    summary: "A new BCC address for the caller's own mailbox; the old one is refused (550) from then on",
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The account with its new bccAddress', schema: accountSchema } },
    handler: ({ user, params }) => regenerateBccAddress(deps, user, params.id),
  });

  router.route({
    method: 'POST',
    path: '/api/email-accounts/:id/sync',
    summary: "Sync now: the mail and the account's calendar (`calendarAccepted`)",
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    status: 202,
    responses: { 202: { description: 'Started', schema: syncStartedSchema } },
    handler: async ({ user, params }) => {
      const account = await getAccount(deps, user, params.id);
      if (account.status === 'needs_reconnect') {
        throw new AppError('AUTH_FAILED', 'This account must be reconnected before it can sync', {
          hint: 'Edit the account and enter the credentials again.',
        });
      }
      const accepted = await deps.syncNow(params.id);
      // The calendar too: a meeting just added is expected in the CRM after "Sync now" like a message is.
      const calendarAccepted = (await deps.calendarSyncNow?.(params.id)) ?? false;
      return { accepted, status: account.status, calendarAccepted };
    },
  });
}
