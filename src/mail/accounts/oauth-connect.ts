// Connecting (or reconnecting) a Gmail / Microsoft mailbox by OAuth2: authorization code with PKCE. The state row
// binds the round trip to the user who started it AND to the browser that did (a nonce cookie whose hash the row
// keeps), for ten minutes, once: a callback opened anywhere else saves nothing. The token is only ever shown to
// the provider's own IMAP/SMTP servers (oauth-mail-servers.ts), and the account's address is the one the
// provider vouches for in its id_token, never one from the request: so an OAuth account starts address-verified.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../core/app-error.js';
import type { SyncMode } from '../../storage/schema.js';
import { findUserById, type User } from '../../users/users.js';
import { normalizeEmail } from '../../contacts/email-address.js';
import { testMailConnection } from '../connection/test-mail-connection.js';
import { buildAuthorizeUrl, createPkce, exchangeCode } from '../oauth2/oauth-client.js';
import type { OAuthConfig } from '../oauth2/oauth-config.js';
import { OAuthError } from '../oauth2/oauth-error.js';
import { isOAuthProviderId, OAUTH_PROVIDERS, type OAuthProviderId } from '../oauth2/oauth-providers.js';
import { getProvider } from '../providers/presets.js';
import { sealCredentials } from './account-credentials.js';
import {
  assertNotConnected,
  getAccount,
  insertAccount,
  requirePlanFor,
  type AccountDeps,
  type EmailAccount,
} from './email-accounts.js';
import { oauthMailServers } from './oauth-mail-servers.js';
import { mailboxFor } from '../../access/access-policy.js';

const STATE_TTL_MS = 10 * 60_000;
/** How long the browser nonce cookie lives: the state's lifetime. */
export const OAUTH_BROWSER_COOKIE_MAX_AGE_S = STATE_TTL_MS / 1000;

export interface OAuthDeps extends AccountDeps {
  oauth: OAuthConfig;
  publicUrl: string;
}

interface StatePayload {
  syncMode: SyncMode;
  historyDays?: number;
  accountId?: string;
  /** sha256 (base64url) of the nonce cookie set in the browser that started the flow. */
  browserHash: string;
}

export function oauthRedirectUri(publicUrl: string): string {
  return `${publicUrl}/api/email-accounts/oauth/callback`;
}

function oauthFailure(error: unknown): never {
  if (error instanceof OAuthError) {
    if (error.code === 'NOT_CONFIGURED') throw new AppError('VALIDATION_FAILED', error.message, { cause: error });
    throw new AppError(error.code === 'TEMPORARY' ? 'TIMEOUT' : 'AUTH_FAILED', `Sign-in failed: ${error.message}`, {
      cause: error,
    });
  }
  throw error;
}

function hashNonce(nonce: string): Buffer {
  return createHash('sha256').update(nonce, 'utf8').digest();
}

function sameBrowser(expectedHash: string, nonce: string | undefined): boolean {
  if (!nonce) return false;
  const expected = Buffer.from(expectedHash, 'base64url');
  const actual = hashNonce(nonce);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

export interface StartOAuthInput {
  provider: string;
  syncMode?: SyncMode;
  historyDays?: number;
  accountId?: string;
}

export interface StartedOAuth {
  authorizeUrl: string;
  state: string;
  /** Set as an HttpOnly cookie in the starting browser; the callback completes only where it comes back. */
  browserNonce: string;
}

export async function startOAuth(deps: OAuthDeps, user: User, input: StartOAuthInput): Promise<StartedOAuth> {
  if (!isOAuthProviderId(input.provider)) {
    throw new AppError('VALIDATION_FAILED', `"${input.provider}" does not sign in with OAuth2`, {
      fields: [{ path: 'body.provider', message: 'one of gmail, microsoft365, outlook' }],
    });
  }
  const syncMode = input.syncMode ?? 'two-way';
  await requirePlanFor(deps.db, user.orgId, syncMode);
  let loginHint: string | undefined;
  if (input.accountId) {
    const account = await mailboxFor(deps.db, user, input.accountId, 'change');
    // Reconnecting signs in to the same provider; another provider is a new connection.
    if (account.provider !== input.provider) {
      throw new AppError(
        'VALIDATION_FAILED',
        `This account is not a ${OAUTH_PROVIDERS[input.provider].displayName} mailbox`,
        {
          fields: [{ path: 'body.provider', message: `the account's provider is ${account.provider}` }],
        },
      );
    }
    loginHint = account.email;
  }
  const pkce = createPkce();
  const state = randomBytes(32).toString('base64url');
  const browserNonce = randomBytes(32).toString('base64url');
  let authorizeUrl: string;
  try {
    authorizeUrl = buildAuthorizeUrl({
      provider: input.provider,
      config: deps.oauth,
      state,
      codeChallenge: pkce.challenge,
      redirectUri: oauthRedirectUri(deps.publicUrl),
      ...(loginHint ? { loginHint } : {}),
    });
  } catch (error) {
    oauthFailure(error);
  }
  const now = Date.now();
  const payload: StatePayload = {
    syncMode,
    ...(input.historyDays ? { historyDays: input.historyDays } : {}),
    ...(input.accountId ? { accountId: input.accountId } : {}),
    browserHash: hashNonce(browserNonce).toString('base64url'),
  };
  await deps.db.deleteFrom('oauth_states').where('expires_at', '<', now).execute();
  await deps.db
    .insertInto('oauth_states')
    .values({
      state,
      user_id: user.id,
      provider: input.provider,
      code_verifier: pkce.verifier,
      payload_json: JSON.stringify(payload),
      created_at: now,
      expires_at: now + STATE_TTL_MS,
    })
    .execute();
  return { authorizeUrl, state, browserNonce };
}

export interface CallbackQuery {
  code?: string;
  state?: string;
  error?: string;
  error_description?: string;
}

/**
 * Handles the provider's redirect: checks it came back to the browser that started it, redeems the code, tests
 * IMAP and SMTP with the token on the provider's own servers, saves the account under the provider's address.
 * `browserNonce` is the nonce cookie of the request (undefined when it has none).
 */
export async function completeOAuth(
  deps: OAuthDeps,
  query: CallbackQuery,
  browserNonce: string | undefined,
): Promise<EmailAccount> {
  if (!query.state) {
    throw new AppError('VALIDATION_FAILED', 'The sign-in answer has no state', {
      fields: [{ path: 'query.state', message: 'required' }],
    });
  }
  // Single use: the row is gone before anything else happens, whatever comes next.
  const row = await deps.db
    .deleteFrom('oauth_states')
    .where('state', '=', query.state)
    .returningAll()
    .executeTakeFirst();
  if (!row || row.expires_at < Date.now()) {
    throw new AppError('VALIDATION_FAILED', 'This sign-in link has expired or was already used; start again', {
      fields: [{ path: 'query.state', message: 'unknown or expired' }],
    });
  }
  const payload = JSON.parse(row.payload_json) as Partial<StatePayload>;
  // A link opened in another browser (a victim lured into finishing an attacker's sign-in, or the reverse)
  // must not attach anyone's mailbox to anyone: nothing is redeemed, nothing saved.
  if (typeof payload.browserHash !== 'string' || !sameBrowser(payload.browserHash, browserNonce)) {
    throw new AppError('CSRF_REFUSED', 'This sign-in was started in another browser or session; nothing was saved', {
      hint: 'Start connecting the mailbox again from this browser.',
    });
  }
  if (query.error) {
    throw new AppError(
      'AUTH_FAILED',
      query.error === 'access_denied'
        ? 'Access was not granted: the sign-in was cancelled or refused'
        : 'The provider refused the sign-in',
    );
  }
  if (!query.code)
    throw new AppError('VALIDATION_FAILED', 'The sign-in answer has no code', {
      fields: [{ path: 'query.code', message: 'required' }],
    });
  const user = await findUserById(deps.db, row.user_id);
  if (!user) throw new AppError('NOT_FOUND', 'The user who started this sign-in no longer exists');
  if (!isOAuthProviderId(row.provider))
    throw new AppError('VALIDATION_FAILED', 'This sign-in is for an unknown provider');
  const provider: OAuthProviderId = row.provider;
  const preset = getProvider(provider)!;
  const servers = oauthMailServers(deps.oauth, provider);
  const syncMode = payload.syncMode ?? 'two-way';

  let tokens;
  try {
    tokens = await exchangeCode({
      provider,
      config: deps.oauth,
      code: query.code,
      codeVerifier: row.code_verifier,
      redirectUri: oauthRedirectUri(deps.publicUrl),
    });
  } catch (error) {
    oauthFailure(error);
  }
  if (!tokens.email) {
    throw new AppError(
      'AUTH_FAILED',
      `${OAUTH_PROVIDERS[provider].displayName} did not vouch for the mailbox's address (no verified address in the id_token)`,
    );
  }
  // The provider's word is the address; the request never names one.
  const email = normalizeEmail(tokens.email);
  const credentials = {
    kind: 'oauth2' as const,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: tokens.expiresAt,
  };
  const tls = deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {};

  if (payload.accountId) {
    const account = await deps.db
      .selectFrom('email_accounts')
      .selectAll()
      .where('id', '=', payload.accountId)
      .where('user_id', '=', user.id)
      .executeTakeFirst();
    if (!account) throw new AppError('NOT_FOUND', 'E-mail account not found');
    // Refused, not replaced: signing in to another mailbox is a new connection, not a reconnect of this one.
    if (normalizeEmail(account.email) !== email) {
      throw new AppError(
        'AUTH_FAILED',
        'The sign-in was for another mailbox than the account being reconnected; nothing was changed',
        {
          hint: `Sign in as ${account.email}, or connect the other mailbox as a new account.`,
        },
      );
    }
    await testMailConnection({
      imap: servers.imap,
      smtp: servers.smtp,
      username: email,
      auth: credentials,
      preset,
      outbound: deps.outbound,
      ...tls,
    });
    // An account whose servers were once named by a request gets the provider's back, starting afresh there.
    const moved =
      account.imap_host !== servers.imap.host || account.imap_port !== servers.imap.port || account.username !== email;
    await deps.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('email_accounts')
        .set({
          credentials_enc: sealCredentials(deps.secrets, account.id, credentials),
          auth_kind: 'oauth2',
          username: email,
          imap_host: servers.imap.host,
          imap_port: servers.imap.port,
          imap_secure: servers.imap.secure ? 1 : 0,
          smtp_host: servers.smtp.host,
          smtp_port: servers.smtp.port,
          smtp_secure: servers.smtp.secure ? 1 : 0,
          address_verified: 1,
          status: 'connecting',
          status_detail: null,
          status_detail_code: null,
          status_detail_params_json: null,
          next_retry_at: null,
          ...(moved ? { generation: account.generation + 1, last_synced_at: null, progress_json: null } : {}),
          updated_at: Date.now(),
        })
        .where('id', '=', account.id)
        .execute();
      if (moved) await trx.deleteFrom('mail_folders').where('account_id', '=', account.id).execute();
    });
    await deps.onChanged(account.id, moved ? 'switched' : 'reconnected');
    return getAccount(deps, user, account.id);
  }

  await assertNotConnected(deps.db, user, email);
  await testMailConnection({
    imap: servers.imap,
    smtp: servers.smtp,
    username: email,
    auth: credentials,
    preset,
    outbound: deps.outbound,
    ...tls,
  });
  return insertAccount(deps, user, {
    preset,
    email,
    username: email,
    imap: servers.imap,
    smtp: servers.smtp,
    syncMode,
    historyDays: payload.historyDays,
    credentials,
    addressVerified: true,
  });
}
