// The OAuth 2 authorization-code flow with PKCE (S256) for the mail providers: the authorize URL, the code
// exchange and the refresh. Per-provider differences come from the table in oauth-providers.ts.
// Limits: no token revocation and no id_token signature check (see emailFromIdToken); the caller keeps
// `state` and the PKCE verifier between the redirect and the callback.

import { createHash, randomBytes } from 'node:crypto';
import type { OAuthClientConfig, OAuthConfig } from './oauth-config.js';
import { OAuthError } from './oauth-error.js';
import {
  OAUTH_PROVIDERS,
  type OAuthAudience,
  type OAuthProviderId,
  type OAuthProviderSpec,
} from './oauth-providers.js';

const TOKEN_TIMEOUT_MS = 10_000;
/** RFC 6749 recommends expires_in; when a provider leaves it out, assume the usual hour. */
const DEFAULT_EXPIRES_IN_S = 3600;
const MAX_DESCRIPTION = 300;

/** Answers meaning the grant is gone or needs the user again: the account must be reconnected. */
const RECONNECT_ERRORS: ReadonlySet<string> = new Set([
  'invalid_grant',
  // OpenID Connect: the user must sign in again (MFA, conditional access, withdrawn consent).
  'interaction_required',
  'login_required',
  'consent_required',
]);
const TEMPORARY_ERRORS: ReadonlySet<string> = new Set(['temporarily_unavailable', 'server_error']);
const TEMPORARY_STATUSES: ReadonlySet<number> = new Set([408, 429]);

export interface OAuthTokens {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** The scopes granted, as the provider wrote them (space-separated). */
  scope?: string;
  /**
   * The signed-in mailbox's address as the provider vouches for it (the id_token's address claim, see
   * OAuthProviderSpec.addressClaim), when the answer carried one.
   */
  email?: string;
}

export interface PkcePair {
  verifier: string;
  challenge: string;
}

/** A PKCE verifier (43 base64url characters = 256 random bits) and its S256 challenge (RFC 7636). */
export function createPkce(): PkcePair {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier, 'ascii').digest('base64url') };
}

function clientFor(config: OAuthConfig, provider: OAuthProviderId): OAuthClientConfig {
  const client = config[provider];
  if (!client) {
    const prefix = OAUTH_PROVIDERS[provider].client;
    throw new OAuthError(
      'NOT_CONFIGURED',
      provider,
      `${OAUTH_PROVIDERS[provider].displayName} sign-in is not configured on this server (set ${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET)`,
    );
  }
  return client;
}

export interface AuthorizeUrlOptions {
  provider: OAuthProviderId;
  config: OAuthConfig;
  state: string;
  codeChallenge: string;
  redirectUri: string;
  /** Pre-fills the account chooser (e.g. on reconnect). */
  loginHint?: string;
}

/** Where to send the user's browser to sign in and consent. */
export function buildAuthorizeUrl(options: AuthorizeUrlOptions): string {
  const spec = OAUTH_PROVIDERS[options.provider];
  const client = clientFor(options.config, options.provider);
  if (!options.state) throw new TypeError('buildAuthorizeUrl: state is required');
  if (!options.codeChallenge) throw new TypeError('buildAuthorizeUrl: codeChallenge is required');
  const url = new URL(client.authorizeUrl);
  const params: Record<string, string> = {
    client_id: client.clientId,
    response_type: 'code',
    redirect_uri: options.redirectUri,
    scope: spec.consentScopes.join(' '),
    state: options.state,
    code_challenge: options.codeChallenge,
    code_challenge_method: 'S256',
    ...spec.authorizeParams,
  };
  if (options.loginHint) params.login_hint = options.loginHint;
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

interface TokenRequestOptions {
  provider: OAuthProviderId;
  config: OAuthConfig;
  signal?: AbortSignal;
  /** Default 10 s. */
  timeoutMs?: number;
}

export interface ExchangeCodeOptions extends TokenRequestOptions {
  code: string;
  codeVerifier: string;
  /** Exactly the redirect_uri of the authorize URL. */
  redirectUri: string;
}

export interface RefreshTokensOptions extends TokenRequestOptions {
  refreshToken: string;
  /**
   * What the access token is for (default 'mail'). Matters where a token is issued per resource
   * (Microsoft: Outlook for IMAP/SMTP, Graph for the calendar); elsewhere one token serves both.
   */
  audience?: OAuthAudience;
}

function tokenScope(spec: OAuthProviderSpec, audience: OAuthAudience): Record<string, string> {
  return spec.tokenScopes === null ? {} : { scope: spec.tokenScopes[audience].join(' ') };
}

/** Redeems the authorization code of the callback. The answer must include a refresh token. */
export async function exchangeCode(options: ExchangeCodeOptions): Promise<OAuthTokens> {
  const spec = OAUTH_PROVIDERS[options.provider];
  const startedAt = Date.now();
  const body = await postTokenRequest(
    options,
    {
      grant_type: 'authorization_code',
      code: options.code,
      code_verifier: options.codeVerifier,
      redirect_uri: options.redirectUri,
      ...tokenScope(spec, 'mail'),
    },
    'authorization code',
  );
  return readTokens(options.provider, body, startedAt, undefined);
}

/**
 * A fresh access token. Google answers without a refresh token (the old one stays valid); Microsoft
 * rotates it — either way the result holds the refresh token to store from now on.
 */
export async function refreshTokens(options: RefreshTokensOptions): Promise<OAuthTokens> {
  const spec = OAUTH_PROVIDERS[options.provider];
  const startedAt = Date.now();
  const body = await postTokenRequest(
    options,
    {
      grant_type: 'refresh_token',
      refresh_token: options.refreshToken,
      ...tokenScope(spec, options.audience ?? 'mail'),
    },
    'refresh token',
  );
  return readTokens(options.provider, body, startedAt, options.refreshToken);
}

/** True when the access token expires within `skewMs` (default 5 minutes) of `now`, or already has. */
export function tokenNeedsRefresh(
  tokens: Pick<OAuthTokens, 'expiresAt'>,
  now: number = Date.now(),
  skewMs: number = 5 * 60_000,
): boolean {
  return tokens.expiresAt - skewMs <= now;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The provider's words, cleaned for a message: no control characters, bounded, and no secret we sent. */
function cleanDescription(value: unknown, secrets: readonly string[]): string | undefined {
  if (typeof value !== 'string') return undefined;
  let text = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  for (const secret of secrets) {
    if (secret.length >= 8) text = text.split(secret).join('[redacted]');
  }
  if (text.length > MAX_DESCRIPTION) text = `${text.slice(0, MAX_DESCRIPTION)}…`;
  return text || undefined;
}

function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (isRecord(cause) && typeof cause.code === 'string') return cause.code;
  if (error instanceof Error && error.message) return error.message;
  return 'network error';
}

/**
 * POSTs a token request (client credentials in the body, as both providers document) and returns the
 * JSON answer, or throws an OAuthError whose code says what the failure means.
 */
async function postTokenRequest(
  options: TokenRequestOptions,
  grant: Record<string, string>,
  what: string,
): Promise<Record<string, unknown>> {
  const { provider } = options;
  const spec = OAUTH_PROVIDERS[provider];
  const client = clientFor(options.config, provider);
  const timeoutMs = options.timeoutMs ?? TOKEN_TIMEOUT_MS;
  const form = new URLSearchParams({ ...grant, client_id: client.clientId, client_secret: client.clientSecret });
  const secrets = [client.clientSecret, grant.code, grant.code_verifier, grant.refresh_token].filter(
    (value): value is string => typeof value === 'string',
  );

  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const failed = (error: unknown): never => {
    // The caller's own abort (shutdown, rescheduling) is not a provider failure: let it through as is.
    if (options.signal?.aborted) throw options.signal.reason;
    if (timeout.aborted) {
      throw new OAuthError(
        'TEMPORARY',
        provider,
        `${spec.displayName} did not answer the ${what} request within ${timeoutMs / 1000} s`,
        {
          cause: error,
        },
      );
    }
    throw new OAuthError(
      'TEMPORARY',
      provider,
      `could not reach ${spec.displayName}'s token endpoint (${networkReason(error)})`,
      {
        cause: error,
      },
    );
  };

  let status: number;
  let text: string;
  try {
    const response = await fetch(client.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form,
      // A redirect would replay the client secret to wherever it points.
      redirect: 'manual',
      signal,
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    return failed(error);
  }

  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  const answer = isRecord(parsed) ? parsed : undefined;
  const error = typeof answer?.error === 'string' ? answer.error : undefined;
  if (status >= 200 && status < 300 && answer && error === undefined) return answer;

  const description = cleanDescription(answer?.error_description, secrets);
  const detail =
    [description, error === undefined ? undefined : `(${error})`].filter(Boolean).join(' ') || `HTTP ${status}`;
  const details = { providerError: error, status };
  if (status >= 500 || TEMPORARY_STATUSES.has(status) || (error !== undefined && TEMPORARY_ERRORS.has(error))) {
    throw new OAuthError(
      'TEMPORARY',
      provider,
      `${spec.displayName} could not answer the ${what} request: ${detail}`,
      details,
    );
  }
  if (error !== undefined && RECONNECT_ERRORS.has(error)) {
    throw new OAuthError('INVALID_GRANT', provider, `${spec.displayName} refused the ${what}: ${detail}`, details);
  }
  if (status >= 300 && status < 400) {
    throw new OAuthError(
      'PROVIDER_ERROR',
      provider,
      `${spec.displayName}'s token endpoint answered with a redirect (HTTP ${status})`,
      details,
    );
  }
  if (status >= 200 && status < 300) {
    throw new OAuthError(
      'PROVIDER_ERROR',
      provider,
      `${spec.displayName} answered the ${what} request with ${error ? detail : 'something that is not a JSON object'}`,
      details,
    );
  }
  throw new OAuthError(
    'PROVIDER_ERROR',
    provider,
    `${spec.displayName} refused the ${what} request: ${detail}`,
    details,
  );
}

function readTokens(
  provider: OAuthProviderId,
  answer: Record<string, unknown>,
  startedAt: number,
  previousRefreshToken: string | undefined,
): OAuthTokens {
  const spec = OAUTH_PROVIDERS[provider];
  const invalid = (message: string): OAuthError =>
    new OAuthError('PROVIDER_ERROR', provider, `${spec.displayName}'s token answer ${message}`);

  const accessToken = answer.access_token;
  if (typeof accessToken !== 'string' || accessToken === '') throw invalid('has no access_token');
  if (typeof answer.token_type === 'string' && answer.token_type.toLowerCase() !== 'bearer') {
    throw invalid(`has token_type "${answer.token_type.slice(0, 20)}", expected Bearer`);
  }
  const refreshToken =
    typeof answer.refresh_token === 'string' && answer.refresh_token !== ''
      ? answer.refresh_token
      : previousRefreshToken;
  if (refreshToken === undefined) {
    throw invalid('has no refresh token: offline access was not granted, so the mailbox could not be synced later');
  }
  // Some Microsoft endpoints have sent expires_in as a string.
  const expiresIn = Number(answer.expires_in);
  const lifetimeS = Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : DEFAULT_EXPIRES_IN_S;

  const tokens: OAuthTokens = { accessToken, refreshToken, expiresAt: startedAt + lifetimeS * 1000 };
  if (typeof answer.scope === 'string' && answer.scope !== '') tokens.scope = answer.scope;
  const email = typeof answer.id_token === 'string' ? emailFromIdToken(answer.id_token, spec) : undefined;
  if (email !== undefined) tokens.email = email;
  return tokens;
}

/**
 * The mailbox address the provider vouches for in an id_token. The signature is deliberately not verified: the
 * token came straight from the provider's token endpoint, over TLS, in answer to our authenticated request, which
 * is the case where OpenID Connect Core (3.1.3.7) lets a client rely on TLS instead. Only the provider's address
 * claim counts (Google's `email` only with `email_verified`); an id_token we cannot read, or one without a vouched
 * address, yields none rather than an error: the caller then refuses with its own message.
 */
function emailFromIdToken(idToken: string, spec: OAuthProviderSpec): string | undefined {
  const payload = idToken.split('.')[1];
  if (!payload) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(decoded)) return undefined;
  // Google has sent email_verified as the string "true" in some id_tokens.
  if (spec.requireEmailVerified && decoded.email_verified !== true && decoded.email_verified !== 'true')
    return undefined;
  const value = decoded[spec.addressClaim];
  if (typeof value === 'string' && /^[^\s@]+@[^\s@]+$/.test(value.trim())) return value.trim();
  return undefined;
}
