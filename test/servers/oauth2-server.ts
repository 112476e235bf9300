// A local OAuth 2 authorization server on 127.0.0.1 standing in for Google's and Microsoft's endpoints,
// which cannot run here. It follows their documented requests and answers (RFC 6749 + PKCE, RFC 7636):
//   Google style:    /authorize, /token
//   Microsoft style: /{tenant}/oauth2/v2.0/authorize, /{tenant}/oauth2/v2.0/token
// The user "consents" at once (302 to redirect_uri with code and state) unless told to deny. On refresh,
// Google style answers without a refresh_token (the old one stays valid) and Microsoft style rotates it.
// id_tokens are unsigned (alg "none") but well formed. Not a security boundary: test use only.

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface StartOAuth2ServerOptions {
  clientId?: string;
  clientSecret?: string;
  /** Registered redirect URIs; when omitted, any absolute http(s) URI is accepted. */
  redirectUris?: string[];
  /** Who consents when the authorize request has no login_hint (default user@example.test). */
  email?: string;
  /** Lifetime of issued access tokens (default 3599 s, as Google answers). */
  expiresIn?: number;
}

export type TokenGrantType = 'authorization_code' | 'refresh_token';

export interface IssuedTokens {
  grantType: TokenGrantType;
  accessToken: string;
  /** The refresh token the client holds after this answer (new when issued or rotated). */
  refreshToken: string;
  email: string;
  scope: string;
  expiresIn: number;
  /** The `{tenant}` of a Microsoft-style path, null for the Google-style one. */
  tenant: string | null;
}

export type OnTokenHook = (issued: IssuedTokens) => void | Promise<void>;

export interface AccessTokenInfo {
  email: string;
  scope: string;
  expiresAt: number;
  revoked: boolean;
}

export interface OAuth2RequestLog {
  endpoint: 'authorize' | 'token';
  tenant: string | null;
  /** Query (authorize) or form body (token) parameters, as received. */
  params: URLSearchParams;
}

export interface OAuth2ServerCounts {
  authorize: number;
  token: number;
  authorizationCode: number;
  refreshToken: number;
  /** Token requests answered with an error. */
  tokenErrors: number;
}

export interface OAuth2TestServer {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Google-style endpoints. */
  authorizeUrl: string;
  tokenUrl: string;
  /** Microsoft-style endpoint templates, `{tenant}` left for the client to fill in. */
  microsoftAuthorizeUrl: string;
  microsoftTokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** GOOGLE_* and MICROSOFT_* variables that point both providers at this server. */
  env(): Record<string, string>;
  /** Who consents from now on when there is no login_hint. */
  setUser(email: string): void;
  /** Claims merged into every id_token from now on; a value of undefined removes the claim. */
  setIdTokenClaims(claims: Record<string, unknown>): void;
  /** While true, /authorize redirects with error=access_denied. */
  denyConsent(deny?: boolean): void;
  setExpiresIn(seconds: number): void;
  /** Revokes the grant the refresh token belongs to (all its tokens); false when unknown. */
  revoke(refreshToken: string): boolean;
  /** Called (and awaited) before each token answer is sent; returns an unsubscribe function. */
  onToken(hook: OnTokenHook): () => void;
  /** The next `count` token requests are answered with this status and body. */
  failNextToken(status: number, body?: Record<string, unknown>, count?: number): void;
  /** Delays every token answer (to exercise client timeouts). */
  setTokenDelay(ms: number): void;
  describeAccessToken(accessToken: string): AccessTokenInfo | null;
  readonly counts: Readonly<OAuth2ServerCounts>;
  readonly requests: readonly OAuth2RequestLog[];
  stop(): Promise<void>;
}

interface Grant {
  clientId: string;
  email: string;
  scopes: string[];
  tenant: string | null;
  revoked: boolean;
}

interface PendingCode {
  grant: Grant;
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
}

class OAuthFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
  }
}

const CODE_LIFETIME_MS = 10 * 60_000;
const MAX_BODY = 64 * 1024;
const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;
const ROUTE = /^(?:\/([^/]+)\/oauth2\/v2\.0)?\/(authorize|token)$/;

function token(prefix: string): string {
  return `${prefix}.${randomBytes(24).toString('base64url')}`;
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new OAuthFailure(413, 'invalid_request', 'request body too large'));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...headers,
  });
  res.end(text);
}

function redirect(res: ServerResponse, target: URL): void {
  res.writeHead(302, { location: target.toString() });
  res.end();
}

export async function startOAuth2Server(options: StartOAuth2ServerOptions = {}): Promise<OAuth2TestServer> {
  const clientId = options.clientId ?? `test-client-${randomBytes(4).toString('hex')}.apps.example.test`;
  const clientSecret = options.clientSecret ?? `test-secret-${randomBytes(12).toString('base64url')}`;
  let defaultEmail = options.email ?? 'user@example.test';
  let expiresIn = options.expiresIn ?? 3599;
  let claimOverrides: Record<string, unknown> = {};
  let deny = false;
  let tokenDelayMs = 0;
  const failures: Array<{ status: number; body: Record<string, unknown> }> = [];
  const hooks = new Set<OnTokenHook>();

  const codes = new Map<string, PendingCode>();
  const refreshTokens = new Map<string, Grant>();
  const accessTokens = new Map<string, { grant: Grant; scope: string; expiresAt: number }>();
  const counts: OAuth2ServerCounts = { authorize: 0, token: 0, authorizationCode: 0, refreshToken: 0, tokenErrors: 0 };
  const requests: OAuth2RequestLog[] = [];
  let baseUrl = '';

  function checkRedirectUri(value: string | null): string {
    if (!value) throw new OAuthFailure(400, 'invalid_request', 'Missing required parameter: redirect_uri');
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new OAuthFailure(400, 'redirect_uri_mismatch', 'redirect_uri is not an absolute URI');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new OAuthFailure(400, 'redirect_uri_mismatch', 'redirect_uri must be http(s)');
    }
    if (options.redirectUris && !options.redirectUris.includes(value)) {
      throw new OAuthFailure(400, 'redirect_uri_mismatch', 'redirect_uri is not registered for this client');
    }
    return value;
  }

  function idToken(grant: Grant): string {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: grant.tenant === null ? baseUrl : `${baseUrl}/${grant.tenant}/v2.0`,
      aud: clientId,
      sub: createHash('sha256').update(grant.email).digest('hex').slice(0, 21),
      email: grant.email,
      email_verified: true,
      iat: now,
      exp: now + 3600,
    };
    if (grant.tenant !== null) claims.preferred_username = grant.email;
    for (const [name, value] of Object.entries(claimOverrides)) {
      if (value === undefined) delete claims[name];
      else claims[name] = value;
    }
    return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
  }

  /** The requested token scope must be among the consented ones (Microsoft: one resource per token). */
  function tokenScope(grant: Grant, requested: string | null): string {
    if (!requested) return grant.scopes.join(' ');
    const scopes = requested.split(' ').filter(Boolean);
    const missing = scopes.filter((scope) => !grant.scopes.includes(scope));
    if (missing.length > 0) {
      throw new OAuthFailure(400, 'invalid_scope', `The requested scope was not consented to: ${missing.join(' ')}`);
    }
    return scopes.join(' ');
  }

  function handleAuthorize(req: IncomingMessage, res: ServerResponse, url: URL, tenant: string | null): void {
    counts.authorize++;
    const params = url.searchParams;
    requests.push({ endpoint: 'authorize', tenant, params: new URLSearchParams(params) });
    // Errors about the client or the redirect URI must not redirect (RFC 6749 4.1.2.1).
    if (params.get('client_id') !== clientId) {
      throw new OAuthFailure(401, 'invalid_client', 'The OAuth client was not found.');
    }
    const redirectUri = checkRedirectUri(params.get('redirect_uri'));
    const state = params.get('state');
    const back = (query: Record<string, string>): void => {
      const target = new URL(redirectUri);
      for (const [name, value] of Object.entries(query)) target.searchParams.set(name, value);
      if (state !== null) target.searchParams.set('state', state);
      redirect(res, target);
    };
    const refuse = (error: string, description: string): void => back({ error, error_description: description });

    if (params.get('response_type') !== 'code')
      return refuse('unsupported_response_type', 'response_type must be code');
    const scope = params.get('scope');
    if (!scope?.trim()) return refuse('invalid_request', 'Missing required parameter: scope');
    if (!state) return refuse('invalid_request', 'Missing required parameter: state');
    const challenge = params.get('code_challenge');
    if (!challenge || !PKCE_VALUE.test(challenge))
      return refuse('invalid_request', 'code_challenge is missing or malformed');
    if (params.get('code_challenge_method') !== 'S256') {
      return refuse('invalid_request', 'code_challenge_method must be S256');
    }
    if (deny) return refuse('access_denied', 'The user denied the request.');

    const grant: Grant = {
      clientId,
      email: params.get('login_hint') || defaultEmail,
      scopes: scope.split(' ').filter(Boolean),
      tenant,
      revoked: false,
    };
    const code = token('code');
    codes.set(code, { grant, redirectUri, codeChallenge: challenge, expiresAt: Date.now() + CODE_LIFETIME_MS });
    back(tenant === null ? { code, scope: grant.scopes.join(' ') } : { code });
  }

  function authenticateClient(req: IncomingMessage, form: URLSearchParams): void {
    let id = form.get('client_id');
    let secret = form.get('client_secret');
    const header = req.headers.authorization;
    if (header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      id = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    }
    if (id !== clientId || secret !== clientSecret) {
      throw new OAuthFailure(401, 'invalid_client', 'Unauthorized: client authentication failed.');
    }
  }

  async function handleToken(req: IncomingMessage, res: ServerResponse, tenant: string | null): Promise<void> {
    counts.token++;
    if (req.method !== 'POST') throw new OAuthFailure(405, 'invalid_request', 'The token endpoint takes POST');
    const type = req.headers['content-type'] ?? '';
    if (!type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      throw new OAuthFailure(400, 'invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams(await readBody(req));
    requests.push({ endpoint: 'token', tenant, params: new URLSearchParams(form) });
    if (tokenDelayMs > 0) await sleep(tokenDelayMs);
    const failure = failures.shift();
    if (failure) {
      counts.tokenErrors++;
      return sendJson(res, failure.status, failure.body);
    }
    authenticateClient(req, form);

    const grantType = form.get('grant_type');
    let grant: Grant;
    let refreshToken: string;
    let newRefreshToken: string | undefined;
    if (grantType === 'authorization_code') {
      counts.authorizationCode++;
      const code = form.get('code') ?? '';
      const pending = codes.get(code);
      // A code is good for one attempt, whatever its outcome.
      codes.delete(code);
      if (!pending || pending.expiresAt < Date.now())
        throw new OAuthFailure(400, 'invalid_grant', 'Malformed auth code.');
      if (form.get('redirect_uri') !== pending.redirectUri) {
        throw new OAuthFailure(400, 'invalid_grant', 'redirect_uri does not match the authorization request');
      }
      const verifier = form.get('code_verifier');
      if (!verifier || !PKCE_VALUE.test(verifier))
        throw new OAuthFailure(400, 'invalid_grant', 'Missing code verifier.');
      if (createHash('sha256').update(verifier, 'ascii').digest('base64url') !== pending.codeChallenge) {
        throw new OAuthFailure(400, 'invalid_grant', 'Invalid code verifier.');
      }
      grant = pending.grant;
      newRefreshToken = refreshToken = token('refresh');
    } else if (grantType === 'refresh_token') {
      counts.refreshToken++;
      const presented = form.get('refresh_token') ?? '';
      const found = refreshTokens.get(presented);
      if (!found || found.revoked) throw new OAuthFailure(400, 'invalid_grant', 'Token has been expired or revoked.');
      grant = found;
      refreshToken = presented;
      // Microsoft hands out a new refresh token with each refresh; Google keeps the old one.
      if (tenant !== null) newRefreshToken = refreshToken = token('refresh');
    } else {
      throw new OAuthFailure(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType ?? ''}`);
    }

    const scope = tokenScope(grant, form.get('scope'));
    if (newRefreshToken !== undefined) refreshTokens.set(newRefreshToken, grant);
    const accessToken = token('access');
    const lifetime = expiresIn;
    accessTokens.set(accessToken, { grant, scope, expiresAt: Date.now() + lifetime * 1000 });
    const issued: IssuedTokens = {
      grantType,
      accessToken,
      refreshToken,
      email: grant.email,
      scope,
      expiresIn: lifetime,
      tenant,
    };
    for (const hook of hooks) await hook(issued);

    const answer: Record<string, unknown> = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: lifetime,
      scope,
    };
    if (tenant !== null) answer.ext_expires_in = lifetime;
    if (newRefreshToken !== undefined) answer.refresh_token = newRefreshToken;
    if (grant.scopes.includes('openid')) answer.id_token = idToken(grant);
    sendJson(res, 200, answer);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', baseUrl);
    const route = ROUTE.exec(url.pathname);
    const respondError = (error: unknown): void => {
      if (res.headersSent) return void res.destroy();
      if (error instanceof OAuthFailure) {
        if (route?.[2] === 'token') counts.tokenErrors++;
        const headers: Record<string, string> =
          error.status === 401 ? { 'www-authenticate': 'Basic realm="oauth2"' } : {};
        return sendJson(res, error.status, { error: error.error, error_description: error.description }, headers);
      }
      sendJson(res, 500, { error: 'server_error', error_description: String(error) });
    };
    if (!route) return sendJson(res, 404, { error: 'not_found' });
    const tenant = route[1] === undefined ? null : decodeURIComponent(route[1]);
    try {
      if (route[2] === 'authorize') return handleAuthorize(req, res, url, tenant);
      handleToken(req, res, tenant).catch(respondError);
    } catch (error) {
      respondError(error);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;
  const microsoftBase = `${baseUrl}/{tenant}/oauth2/v2.0`;

  return {
    url: baseUrl,
    authorizeUrl: `${baseUrl}/authorize`,
    tokenUrl: `${baseUrl}/token`,
    microsoftAuthorizeUrl: `${microsoftBase}/authorize`,
    microsoftTokenUrl: `${microsoftBase}/token`,
    clientId,
    clientSecret,
    env: () => ({
      GOOGLE_CLIENT_ID: clientId,
      GOOGLE_CLIENT_SECRET: clientSecret,
      GOOGLE_AUTHORIZE_URL: `${baseUrl}/authorize`,
      GOOGLE_TOKEN_URL: `${baseUrl}/token`,
      MICROSOFT_CLIENT_ID: clientId,
      MICROSOFT_CLIENT_SECRET: clientSecret,
      MICROSOFT_AUTHORIZE_URL: `${microsoftBase}/authorize`,
      MICROSOFT_TOKEN_URL: `${microsoftBase}/token`,
    }),
    setUser(email) {
      defaultEmail = email;
    },
    setIdTokenClaims(claims) {
      claimOverrides = { ...claims };
    },
    denyConsent(value = true) {
      deny = value;
    },
    setExpiresIn(seconds) {
      expiresIn = seconds;
    },
    revoke(refreshToken) {
      const grant = refreshTokens.get(refreshToken);
      if (!grant) return false;
      grant.revoked = true;
      return true;
    },
    onToken(hook) {
      hooks.add(hook);
      return () => void hooks.delete(hook);
    },
    failNextToken(status, body = { error: 'server_error', error_description: 'Backend Error' }, count = 1) {
      for (let i = 0; i < count; i++) failures.push({ status, body });
    },
    setTokenDelay(ms) {
      tokenDelayMs = ms;
    },
    describeAccessToken(accessToken) {
      const found = accessTokens.get(accessToken);
      if (!found) return null;
      return { email: found.grant.email, scope: found.scope, expiresAt: found.expiresAt, revoked: found.grant.revoked };
    },
    counts,
    requests,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
