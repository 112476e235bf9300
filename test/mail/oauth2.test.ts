import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/app/config.js';
import {
  buildAuthorizeUrl,
  createPkce,
  exchangeCode,
  refreshTokens,
  tokenNeedsRefresh,
  type OAuthTokens,
} from '../../src/mail/oauth2/oauth-client.js';
import { loadOAuthConfig, type OAuthConfig } from '../../src/mail/oauth2/oauth-config.js';
import { OAuthError } from '../../src/mail/oauth2/oauth-error.js';
import type { OAuthProviderId } from '../../src/mail/oauth2/oauth-providers.js';
import { startOAuth2Server, type IssuedTokens, type OAuth2TestServer } from '../servers/oauth2-server.js';

const REDIRECT_URI = 'http://127.0.0.1:3000/api/email-accounts/oauth/callback';

let server: OAuth2TestServer;
let config: OAuthConfig;

beforeAll(async () => {
  server = await startOAuth2Server({ redirectUris: [REDIRECT_URI] });
  config = loadOAuthConfig(server.env());
});

afterAll(async () => {
  await server.stop();
});

afterEach(() => {
  server.denyConsent(false);
  server.setIdTokenClaims({});
  server.setExpiresIn(3599);
  server.setTokenDelay(0);
});

/** What the browser does: open the authorize URL, follow nothing, read the redirect back to us. */
async function authorize(authorizeUrl: string): Promise<URLSearchParams> {
  const response = await fetch(authorizeUrl, { redirect: 'manual' });
  expect(response.status).toBe(302);
  const location = new URL(response.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  return location.searchParams;
}

async function signIn(
  provider: OAuthProviderId,
  options: { loginHint?: string; verifier?: string } = {},
): Promise<{ tokens: OAuthTokens; state: string; code: string }> {
  const pkce = createPkce();
  const state = `state-${Math.random().toString(36).slice(2)}`;
  const url = buildAuthorizeUrl({
    provider,
    config,
    state,
    codeChallenge: pkce.challenge,
    redirectUri: REDIRECT_URI,
    ...(options.loginHint ? { loginHint: options.loginHint } : {}),
  });
  const back = await authorize(url);
  expect(back.get('state')).toBe(state);
  const code = back.get('code')!;
  expect(code).toBeTruthy();
  const tokens = await exchangeCode({
    provider,
    config,
    code,
    codeVerifier: options.verifier ?? pkce.verifier,
    redirectUri: REDIRECT_URI,
  });
  return { tokens, state, code };
}

async function rejection(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}

describe('PKCE', () => {
  it('makes a 43-character verifier and its S256 challenge', async () => {
    const { verifier, challenge } = createPkce();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { createHash } = await import('node:crypto');
    expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(createPkce().verifier).not.toBe(verifier);
  });
});

describe('authorize URL', () => {
  it('asks Google for mail, calendar and the address, offline, with consent', () => {
    const url = new URL(
      buildAuthorizeUrl({
        provider: 'gmail',
        config,
        state: 's1',
        codeChallenge: 'c'.repeat(43),
        redirectUri: REDIRECT_URI,
        loginHint: 'ana@example.test',
      }),
    );
    expect(`${url.origin}${url.pathname}`).toBe(server.authorizeUrl);
    const p = url.searchParams;
    expect(p.get('client_id')).toBe(server.clientId);
    expect(p.get('response_type')).toBe('code');
    expect(p.get('redirect_uri')).toBe(REDIRECT_URI);
    expect(p.get('state')).toBe('s1');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('access_type')).toBe('offline');
    expect(p.get('prompt')).toBe('consent');
    expect(p.get('login_hint')).toBe('ana@example.test');
    expect(p.get('scope')!.split(' ').sort()).toEqual(
      ['email', 'https://mail.google.com/', 'https://www.googleapis.com/auth/calendar', 'openid'].sort(),
    );
    // The client secret never travels through the browser.
    expect(url.toString()).not.toContain(server.clientSecret);
  });

  it('asks Microsoft for IMAP, SMTP, offline access and the Graph calendar', () => {
    const url = new URL(
      buildAuthorizeUrl({
        provider: 'microsoft365',
        config,
        state: 's',
        codeChallenge: 'c'.repeat(43),
        redirectUri: REDIRECT_URI,
      }),
    );
    expect(url.searchParams.get('scope')!.split(' ')).toEqual(
      expect.arrayContaining([
        'offline_access',
        'https://outlook.office.com/IMAP.AccessAsUser.All',
        'https://outlook.office.com/SMTP.Send',
        'openid',
        'email',
        'https://graph.microsoft.com/Calendars.ReadWrite',
      ]),
    );
    expect(url.searchParams.has('access_type')).toBe(false);
  });
});

describe('code flow against the local authorization server', () => {
  it('signs in to Gmail: code, exchange, tokens with the address from the id_token', async () => {
    const issued: IssuedTokens[] = [];
    const unsubscribe = server.onToken((t) => void issued.push(t));
    try {
      const before = Date.now();
      const { tokens } = await signIn('gmail', { loginHint: 'ana@example.test' });
      expect(tokens.email).toBe('ana@example.test');
      expect(tokens.accessToken).toBe(issued[0]!.accessToken);
      expect(tokens.refreshToken).toBe(issued[0]!.refreshToken);
      expect(tokens.expiresAt).toBeGreaterThanOrEqual(before + 3599_000);
      expect(tokens.expiresAt).toBeLessThanOrEqual(Date.now() + 3599_000);
      expect(tokens.scope).toContain('https://mail.google.com/');
      expect(server.describeAccessToken(tokens.accessToken)).toMatchObject({
        email: 'ana@example.test',
        revoked: false,
      });
      // Google's token endpoint is given no scope: its token covers everything consented.
      expect(server.requests.at(-1)!.params.has('scope')).toBe(false);
    } finally {
      unsubscribe();
    }
  });

  it('tells the callback when the user denies consent', async () => {
    server.denyConsent();
    const url = buildAuthorizeUrl({
      provider: 'gmail',
      config,
      state: 'st',
      codeChallenge: createPkce().challenge,
      redirectUri: REDIRECT_URI,
    });
    const back = await authorize(url);
    expect(back.get('error')).toBe('access_denied');
    expect(back.get('state')).toBe('st');
    expect(back.has('code')).toBe(false);
  });

  it('refuses a wrong PKCE verifier as INVALID_GRANT without echoing secrets', async () => {
    const wrong = createPkce().verifier;
    const error = await rejection(signIn('gmail', { verifier: wrong }));
    expect(error.code).toBe('INVALID_GRANT');
    expect(error.providerError).toBe('invalid_grant');
    expect(error.status).toBe(400);
    expect(error.message).toContain('Invalid code verifier');
    expect(error.message).not.toContain(wrong);
    expect(error.message).not.toContain(server.clientSecret);
  });

  it('refuses a code used twice', async () => {
    const pkce = createPkce();
    const back = await authorize(
      buildAuthorizeUrl({
        provider: 'gmail',
        config,
        state: 's',
        codeChallenge: pkce.challenge,
        redirectUri: REDIRECT_URI,
      }),
    );
    const exchange = {
      provider: 'gmail' as const,
      config,
      code: back.get('code')!,
      codeVerifier: pkce.verifier,
      redirectUri: REDIRECT_URI,
    };
    await exchangeCode(exchange);
    expect((await rejection(exchangeCode(exchange))).code).toBe('INVALID_GRANT');
  });

  it('refreshes Gmail: a new access token, the same refresh token', async () => {
    const { tokens } = await signIn('gmail');
    const count = server.counts.refreshToken;
    const refreshed = await refreshTokens({ provider: 'gmail', config, refreshToken: tokens.refreshToken });
    expect(server.counts.refreshToken).toBe(count + 1);
    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.refreshToken).toBe(tokens.refreshToken);
    expect(refreshed.email).toBe(tokens.email);
    expect(server.describeAccessToken(refreshed.accessToken)).not.toBeNull();
  });

  it('turns a revoked refresh token into INVALID_GRANT with the provider description', async () => {
    const { tokens } = await signIn('gmail');
    expect(server.revoke(tokens.refreshToken)).toBe(true);
    const error = await rejection(refreshTokens({ provider: 'gmail', config, refreshToken: tokens.refreshToken }));
    expect(error.code).toBe('INVALID_GRANT');
    expect(error.provider).toBe('gmail');
    expect(error.message).toContain('Token has been expired or revoked');
    expect(error.message).not.toContain(tokens.refreshToken);
    expect(error.message).not.toContain(server.clientSecret);
  });

  it('follows the expiry the server hands out', async () => {
    server.setExpiresIn(60);
    const { tokens } = await signIn('gmail');
    expect(tokenNeedsRefresh(tokens, Date.now())).toBe(true);
    server.setExpiresIn(3600);
    const refreshed = await refreshTokens({ provider: 'gmail', config, refreshToken: tokens.refreshToken });
    expect(tokenNeedsRefresh(refreshed, Date.now())).toBe(false);
  });
});

describe('the address Google vouches for', () => {
  it('counts only with email_verified', async () => {
    server.setIdTokenClaims({ email_verified: false });
    expect((await signIn('gmail', { loginHint: 'eve@example.test' })).tokens.email).toBeUndefined();
    server.setIdTokenClaims({ email_verified: undefined });
    expect((await signIn('gmail', { loginHint: 'eve@example.test' })).tokens.email).toBeUndefined();
    server.setIdTokenClaims({});
    expect((await signIn('gmail', { loginHint: 'eve@example.test' })).tokens.email).toBe('eve@example.test');
  });
});

describe("the operator's mail servers for OAuth accounts", () => {
  it('reads GOOGLE_IMAP_URL / MICROSOFT_SMTP_URL, and nothing else moves them', () => {
    const moved = loadOAuthConfig({
      ...server.env(),
      GOOGLE_IMAP_URL: 'imap://127.0.0.1:1143',
      MICROSOFT_SMTP_URL: 'smtps://Mail.Example.test:465',
    });
    expect(moved.gmail?.imap).toEqual({ host: '127.0.0.1', port: 1143, secure: false });
    expect(moved.gmail?.smtp).toBeUndefined();
    expect(moved.outlook?.smtp).toEqual({ host: 'mail.example.test', port: 465, secure: true });
    expect(() => loadOAuthConfig({ ...server.env(), GOOGLE_IMAP_URL: 'http://127.0.0.1:1143' })).toThrow(
      /GOOGLE_IMAP_URL/,
    );
    expect(() => loadOAuthConfig({ ...server.env(), GOOGLE_SMTP_URL: 'smtp://host-without-port' })).toThrow(
      /GOOGLE_SMTP_URL/,
    );
  });
});

describe('Microsoft', () => {
  it('substitutes the tenant: organizations for Microsoft 365, consumers for Outlook', () => {
    const defaults = loadOAuthConfig({ MICROSOFT_CLIENT_ID: 'id', MICROSOFT_CLIENT_SECRET: 'secret' });
    expect(defaults.microsoft365).toEqual({
      clientId: 'id',
      clientSecret: 'secret',
      authorizeUrl: 'https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize',
      tokenUrl: 'https://login.microsoftonline.com/organizations/oauth2/v2.0/token',
    });
    expect(defaults.outlook?.authorizeUrl).toBe('https://login.microsoftonline.com/consumers/oauth2/v2.0/authorize');
    expect(defaults.outlook?.tokenUrl).toBe('https://login.microsoftonline.com/consumers/oauth2/v2.0/token');
    expect(defaults.gmail).toBeNull();

    const single = loadOAuthConfig({
      MICROSOFT_CLIENT_ID: 'id',
      MICROSOFT_CLIENT_SECRET: 's',
      MICROSOFT_TENANT: 'contoso.onmicrosoft.com',
    });
    expect(single.microsoft365?.tokenUrl).toBe(
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token',
    );
    expect(single.outlook?.tokenUrl).toBe('https://login.microsoftonline.com/consumers/oauth2/v2.0/token');

    expect(config.outlook?.authorizeUrl).toBe(server.microsoftAuthorizeUrl.replace('{tenant}', 'consumers'));
  });

  it('signs in to Outlook through the consumers tenant and rotates the refresh token', async () => {
    const first = server.requests.length;
    const { tokens } = await signIn('outlook', { loginHint: 'bob@outlook.example' });
    expect(tokens.email).toBe('bob@outlook.example');
    const seen = server.requests.slice(first);
    expect(seen.map((r) => [r.endpoint, r.tenant])).toEqual([
      ['authorize', 'consumers'],
      ['token', 'consumers'],
    ]);
    // A token request names one resource: the Outlook one for mail, not Graph.
    const scope = seen[1]!.params.get('scope')!;
    expect(scope).toContain('https://outlook.office.com/IMAP.AccessAsUser.All');
    expect(scope).not.toContain('graph.microsoft.com');

    const refreshed = await refreshTokens({ provider: 'outlook', config, refreshToken: tokens.refreshToken });
    expect(refreshed.refreshToken).not.toBe(tokens.refreshToken);
    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    // The rotated one works.
    await refreshTokens({ provider: 'outlook', config, refreshToken: refreshed.refreshToken });
  });

  it('asks a Graph token for the calendar audience', async () => {
    const { tokens } = await signIn('microsoft365');
    const calendar = await refreshTokens({
      provider: 'microsoft365',
      config,
      refreshToken: tokens.refreshToken,
      audience: 'calendar',
    });
    expect(server.requests.at(-1)!.tenant).toBe('organizations');
    expect(calendar.scope).toContain('https://graph.microsoft.com/Calendars.ReadWrite');
    expect(calendar.scope).not.toContain('IMAP');
  });

  it("ignores Microsoft's unverified email claim: the address is the sign-in name (preferred_username)", async () => {
    server.setIdTokenClaims({ email: 'ceo@victim.example', preferred_username: 'dana@contoso.example' });
    const { tokens } = await signIn('microsoft365');
    expect(tokens.email).toBe('dana@contoso.example');
    server.setIdTokenClaims({ email: 'ceo@victim.example', preferred_username: undefined });
    expect((await signIn('microsoft365')).tokens.email).toBeUndefined();
  });

  it('reads the address from preferred_username when a work account has no email claim', async () => {
    server.setIdTokenClaims({ email: undefined, preferred_username: 'carla@contoso.example' });
    const { tokens } = await signIn('microsoft365');
    expect(tokens.email).toBe('carla@contoso.example');
  });
});

describe('errors', () => {
  it('maps a 5xx answer to TEMPORARY', async () => {
    const { tokens } = await signIn('gmail');
    server.failNextToken(503, { error: 'temporarily_unavailable', error_description: 'Backend Error' });
    const error = await rejection(refreshTokens({ provider: 'gmail', config, refreshToken: tokens.refreshToken }));
    expect(error.code).toBe('TEMPORARY');
    expect(error.status).toBe(503);
    expect(error.message).toContain('Backend Error');
  });

  it('maps a 5xx answer that is not JSON to TEMPORARY', async () => {
    server.failNextToken(502, {});
    const error = await rejection(refreshTokens({ provider: 'gmail', config, refreshToken: 'whatever-token' }));
    expect(error.code).toBe('TEMPORARY');
  });

  it('maps other 4xx answers (a wrong client secret) to PROVIDER_ERROR', async () => {
    const { tokens } = await signIn('gmail');
    const wrongSecret = loadOAuthConfig({ ...server.env(), GOOGLE_CLIENT_SECRET: 'not-the-secret-at-all' });
    const error = await rejection(
      refreshTokens({ provider: 'gmail', config: wrongSecret, refreshToken: tokens.refreshToken }),
    );
    expect(error.code).toBe('PROVIDER_ERROR');
    expect(error.providerError).toBe('invalid_client');
    expect(error.status).toBe(401);
    expect(error.message).not.toContain('not-the-secret-at-all');
  });

  it('maps an unreachable endpoint to TEMPORARY', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const offline = loadOAuthConfig({ ...server.env(), GOOGLE_TOKEN_URL: `http://127.0.0.1:${port}/token` });
    const error = await rejection(refreshTokens({ provider: 'gmail', config: offline, refreshToken: 'rt-whatever' }));
    expect(error.code).toBe('TEMPORARY');
    expect(error.message).toMatch(/could not reach Google's token endpoint \(ECONNREFUSED\)/);
  });

  it('gives up after the timeout with TEMPORARY', async () => {
    server.setTokenDelay(1_000);
    const error = await rejection(
      refreshTokens({ provider: 'gmail', config, refreshToken: 'rt-whatever', timeoutMs: 100 }),
    );
    expect(error.code).toBe('TEMPORARY');
    expect(error.message).toMatch(/did not answer .* within 0\.1 s/);
  });

  it("lets the caller's abort through as an abort, not a provider error", async () => {
    server.setTokenDelay(1_000);
    const controller = new AbortController();
    const pending = refreshTokens({
      provider: 'gmail',
      config,
      refreshToken: 'rt-whatever',
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    const error = await pending.catch((reason: unknown) => reason);
    expect(error).not.toBeInstanceOf(OAuthError);
    expect((error as Error).name).toBe('AbortError');
  });

  it('refuses an unconfigured provider with NOT_CONFIGURED', async () => {
    const none = loadOAuthConfig({});
    expect(none).toEqual({ gmail: null, microsoft365: null, outlook: null });
    let thrown: unknown;
    try {
      buildAuthorizeUrl({ provider: 'gmail', config: none, state: 's', codeChallenge: 'c', redirectUri: REDIRECT_URI });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(OAuthError);
    expect((thrown as OAuthError).code).toBe('NOT_CONFIGURED');
    expect((thrown as OAuthError).message).toMatch(/GOOGLE_CLIENT_ID/);
    const error = await rejection(refreshTokens({ provider: 'outlook', config: none, refreshToken: 'x' }));
    expect(error.code).toBe('NOT_CONFIGURED');
  });

  it('refuses half a client registration or a bad URL at start-up', () => {
    expect(() => loadOAuthConfig({ GOOGLE_CLIENT_ID: 'id' })).toThrow(ConfigError);
    expect(() => loadOAuthConfig({ GOOGLE_CLIENT_ID: 'id' })).toThrow(/GOOGLE_CLIENT_SECRET/);
    expect(() =>
      loadOAuthConfig({ GOOGLE_CLIENT_ID: 'id', GOOGLE_CLIENT_SECRET: 's', GOOGLE_TOKEN_URL: 'not a url' }),
    ).toThrow(/GOOGLE_TOKEN_URL/);
    expect(() =>
      loadOAuthConfig({ MICROSOFT_CLIENT_ID: 'id', MICROSOFT_CLIENT_SECRET: 's', MICROSOFT_TENANT: '../x' }),
    ).toThrow(/MICROSOFT_TENANT/);
  });
});

describe('tokenNeedsRefresh', () => {
  const now = 1_700_000_000_000;
  it('says yes within five minutes of expiry or after it', () => {
    expect(tokenNeedsRefresh({ expiresAt: now + 10 * 60_000 }, now)).toBe(false);
    expect(tokenNeedsRefresh({ expiresAt: now + 5 * 60_000 + 1 }, now)).toBe(false);
    expect(tokenNeedsRefresh({ expiresAt: now + 5 * 60_000 }, now)).toBe(true);
    expect(tokenNeedsRefresh({ expiresAt: now + 60_000 }, now)).toBe(true);
    expect(tokenNeedsRefresh({ expiresAt: now - 1 }, now)).toBe(true);
  });

  it('takes another skew', () => {
    expect(tokenNeedsRefresh({ expiresAt: now + 60_000 }, now, 30_000)).toBe(false);
    expect(tokenNeedsRefresh({ expiresAt: now + 60_000 }, now, 0)).toBe(false);
    expect(tokenNeedsRefresh({ expiresAt: now }, now, 0)).toBe(true);
  });
});
