// Connecting (or reconnecting) a Gmail / Microsoft mailbox by OAuth2: authorization code with PKCE. The
// state row binds the browser round trip to the user who started it, for ten minutes, once.
import { randomBytes } from 'node:crypto';
import { AppError } from '../../core/app-error.js';
import type { SyncMode } from '../../storage/schema.js';
import { findUserById, type User } from '../../users/users.js';
import { normalizeEmail } from '../../contacts/email-address.js';
import { testMailConnection } from '../connection/test-mail-connection.js';
import { buildAuthorizeUrl, createPkce, exchangeCode } from '../oauth2/oauth-client.js';
import type { OAuthConfig } from '../oauth2/oauth-config.js';
import { OAuthError } from '../oauth2/oauth-error.js';
import { isOAuthProviderId, type OAuthProviderId } from '../oauth2/oauth-providers.js';
import { getProvider } from '../providers/presets.js';
import { sealCredentials } from './account-credentials.js';
import { assertNotConnected, getAccount, insertAccount, requirePlanFor, type AccountDeps, type EmailAccount, type ServerSettings } from './email-accounts.js';

const STATE_TTL_MS = 10 * 60_000;

export interface OAuthDeps extends AccountDeps {
  oauth: OAuthConfig;
  publicUrl: string;
}

interface StatePayload {
  syncMode: SyncMode;
  historyDays?: number;
  accountId?: string;
  /** The preset's servers unless the caller named others (an IMAP proxy; a test server). */
  imap?: ServerSettings;
  smtp?: ServerSettings;
}

export function oauthRedirectUri(publicUrl: string): string {
  return `${publicUrl}/api/email-accounts/oauth/callback`;
}

function oauthFailure(error: unknown): never {
  if (error instanceof OAuthError) {
    if (error.code === 'NOT_CONFIGURED') throw new AppError('VALIDATION_FAILED', error.message, { cause: error });
    throw new AppError(error.code === 'TEMPORARY' ? 'TIMEOUT' : 'AUTH_FAILED', `Sign-in failed: ${error.message}`, { cause: error });
  }
  throw error;
}

export async function startOAuth(
  deps: OAuthDeps,
  user: User,
  input: { provider: string; syncMode?: SyncMode; historyDays?: number; accountId?: string; imap?: ServerSettings; smtp?: ServerSettings },
): Promise<{ authorizeUrl: string; state: string }> {
  if (!isOAuthProviderId(input.provider)) {
    throw new AppError('VALIDATION_FAILED', `"${input.provider}" does not sign in with OAuth2`, {
      fields: [{ path: 'body.provider', message: 'one of gmail, microsoft365, outlook' }],
    });
  }
  const syncMode = input.syncMode ?? 'two-way';
  await requirePlanFor(deps.db, user.orgId, syncMode);
  let loginHint: string | undefined;
  if (input.accountId) {
    const account = await deps.db.selectFrom('email_accounts').select(['email', 'user_id']).where('id', '=', input.accountId).executeTakeFirst();
    if (!account || account.user_id !== user.id) throw new AppError('NOT_FOUND', 'E-mail account not found');
    loginHint = account.email;
  }
  const pkce = createPkce();
  const state = randomBytes(32).toString('base64url');
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
    ...(input.imap ? { imap: input.imap } : {}),
    ...(input.smtp ? { smtp: input.smtp } : {}),
  };
  await deps.db.deleteFrom('oauth_states').where('expires_at', '<', now).execute();
  await deps.db
    .insertInto('oauth_states')
    .values({ state, user_id: user.id, provider: input.provider, code_verifier: pkce.verifier, payload_json: JSON.stringify(payload), created_at: now, expires_at: now + STATE_TTL_MS })
    .execute();
  return { authorizeUrl, state };
}

/** Handles the provider's redirect: redeems the code, tests IMAP and SMTP with the token, saves the account. */
export async function completeOAuth(deps: OAuthDeps, query: { code?: string; state?: string; error?: string; error_description?: string }): Promise<EmailAccount> {
  if (!query.state) throw new AppError('VALIDATION_FAILED', 'The sign-in answer has no state', { fields: [{ path: 'query.state', message: 'required' }] });
  // Single use: the row is gone before anything else happens.
  const row = await deps.db.deleteFrom('oauth_states').where('state', '=', query.state).returningAll().executeTakeFirst();
  if (!row || row.expires_at < Date.now()) {
    throw new AppError('VALIDATION_FAILED', 'This sign-in link has expired or was already used; start again', { fields: [{ path: 'query.state', message: 'unknown or expired' }] });
  }
  if (query.error) {
    throw new AppError('AUTH_FAILED', query.error === 'access_denied' ? 'Access was not granted: the sign-in was cancelled or refused' : `Sign-in failed: ${query.error_description ?? query.error}`);
  }
  if (!query.code) throw new AppError('VALIDATION_FAILED', 'The sign-in answer has no code', { fields: [{ path: 'query.code', message: 'required' }] });
  const user = await findUserById(deps.db, row.user_id);
  if (!user) throw new AppError('NOT_FOUND', 'The user who started this sign-in no longer exists');
  const provider = row.provider as OAuthProviderId;
  const preset = getProvider(provider)!;
  const payload = JSON.parse(row.payload_json) as StatePayload;

  let tokens;
  try {
    tokens = await exchangeCode({ provider, config: deps.oauth, code: query.code, codeVerifier: row.code_verifier, redirectUri: oauthRedirectUri(deps.publicUrl) });
  } catch (error) {
    oauthFailure(error);
  }
  const credentials = { kind: 'oauth2' as const, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt };

  if (payload.accountId) {
    const account = await deps.db.selectFrom('email_accounts').selectAll().where('id', '=', payload.accountId).where('user_id', '=', user.id).executeTakeFirst();
    if (!account) throw new AppError('NOT_FOUND', 'E-mail account not found');
    const imap = { host: account.imap_host, port: account.imap_port, secure: account.imap_secure === 1 };
    const smtp = { host: account.smtp_host, port: account.smtp_port, secure: account.smtp_secure === 1 };
    await testMailConnection({ imap, smtp, username: account.username, auth: credentials, preset, outbound: deps.outbound, ...(deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}) });
    await deps.db
      .updateTable('email_accounts')
      .set({ credentials_enc: sealCredentials(deps.secrets, account.id, credentials), auth_kind: 'oauth2', status: 'connecting', status_detail: null, next_retry_at: null, updated_at: Date.now() })
      .where('id', '=', account.id)
      .execute();
    await deps.onChanged(account.id, 'reconnected');
    return getAccount(deps, user, account.id);
  }

  if (!tokens.email) throw new AppError('PROTOCOL_ERROR', 'The sign-in did not say which mailbox was chosen (no e-mail in the id_token)');
  const email = normalizeEmail(tokens.email);
  await assertNotConnected(deps.db, user, email);
  const imap = payload.imap ?? preset.imap;
  const smtp = payload.smtp ?? preset.smtp;
  await testMailConnection({ imap, smtp, username: email, auth: credentials, preset, outbound: deps.outbound, ...(deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}) });
  return insertAccount(deps, user, { preset, email, username: email, imap, smtp, syncMode: payload.syncMode, historyDays: payload.historyDays, credentials });
}
