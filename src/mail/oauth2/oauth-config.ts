// Reads the OAuth 2 client registrations from the environment (passed in by the composition root) and
// resolves each provider's endpoints. Endpoint URLs are overridable so a local authorization server can
// stand in for Google's and Microsoft's in tests. A provider without a client id is "not configured":
// its entry is null and the flow functions refuse it with OAuthError NOT_CONFIGURED.
// The IMAP/SMTP servers an OAuth token is presented to are the provider preset's; only the operator (this
// environment, never a request) may point them elsewhere (GOOGLE_IMAP_URL etc.: a stand-in in tests).

import { ConfigError } from '../../core/config-error.js';
import type { ServerEndpoint } from '../providers/provider-preset.js';
import { OAUTH_PROVIDER_IDS, OAUTH_PROVIDERS, type OAuthProviderId } from './oauth-providers.js';

export interface OAuthClientConfig {
  clientId: string;
  clientSecret: string;
  /** With `{tenant}` already replaced. */
  authorizeUrl: string;
  tokenUrl: string;
  /** The operator's replacement for the preset's IMAP server (`<PREFIX>_IMAP_URL`); absent: the preset's. */
  imap?: ServerEndpoint;
  /** The operator's replacement for the preset's SMTP server (`<PREFIX>_SMTP_URL`); absent: the preset's. */
  smtp?: ServerEndpoint;
}

export type OAuthConfig = Readonly<Record<OAuthProviderId, OAuthClientConfig | null>>;

function readUrl(env: NodeJS.ProcessEnv, name: string, fallback: string): string {
  const raw = env[name]?.trim();
  const value = raw ? raw : fallback;
  // `{tenant}` is not valid in a host or path for URL parsing everywhere, so check a substituted copy.
  let url: URL;
  try {
    url = new URL(value.replaceAll('{tenant}', 'tenant'));
  } catch {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${value}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`${name} must be an absolute http(s) URL, got "${value}"`);
  }
  return value;
}

/** `imaps://host:993` (TLS from the first byte) or `imap://host:143` (STARTTLS or clear); smtp(s) alike. */
function readMailServer(env: NodeJS.ProcessEnv, name: string, scheme: 'imap' | 'smtp'): ServerEndpoint | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  const invalid = () =>
    new ConfigError(`${name} must look like ${scheme}s://host:port or ${scheme}://host:port, got "${raw}"`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid();
  }
  const secure = url.protocol === `${scheme}s:`;
  if (
    (!secure && url.protocol !== `${scheme}:`) ||
    !url.hostname ||
    !url.port ||
    (url.pathname !== '' && url.pathname !== '/')
  ) {
    throw invalid();
  }
  return { host: url.hostname.replace(/^\[|\]$/g, '').toLowerCase(), port: Number(url.port), secure };
}

const TENANT = /^[A-Za-z0-9.-]+$/;

function readTenant(env: NodeJS.ProcessEnv, name: string | null, fallback: string | null): string | null {
  const raw = name === null ? undefined : env[name]?.trim();
  if (!raw) return fallback;
  if (!TENANT.test(raw)) {
    throw new ConfigError(`${name} must be a tenant id or domain (or "organizations"/"common"), got "${raw}"`);
  }
  return raw;
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

export function loadOAuthConfig(env: NodeJS.ProcessEnv): OAuthConfig {
  const entries = OAUTH_PROVIDER_IDS.map((provider): [OAuthProviderId, OAuthClientConfig | null] => {
    const spec = OAUTH_PROVIDERS[provider];
    const prefix = spec.client;
    const clientId = env[`${prefix}_CLIENT_ID`]?.trim();
    if (!clientId) return [provider, null];
    const clientSecret = env[`${prefix}_CLIENT_SECRET`]?.trim();
    if (!clientSecret) {
      // Both providers require a secret from a server-side (web) app; failing at start-up beats an
      // `invalid_client` at the first sign-in.
      throw new ConfigError(`${prefix}_CLIENT_SECRET must be set when ${prefix}_CLIENT_ID is`);
    }
    const tenant = readTenant(env, spec.tenantEnv, spec.tenant);
    const resolve = (template: string): string =>
      tenant === null ? template : template.replaceAll('{tenant}', encodeURIComponent(tenant));
    return [
      provider,
      {
        clientId,
        clientSecret,
        authorizeUrl: resolve(readUrl(env, `${prefix}_AUTHORIZE_URL`, spec.defaultAuthorizeUrl)),
        tokenUrl: resolve(readUrl(env, `${prefix}_TOKEN_URL`, spec.defaultTokenUrl)),
        ...optional('imap', readMailServer(env, `${prefix}_IMAP_URL`, 'imap')),
        ...optional('smtp', readMailServer(env, `${prefix}_SMTP_URL`, 'smtp')),
      },
    ];
  });
  return Object.fromEntries(entries) as Record<OAuthProviderId, OAuthClientConfig | null>;
}

export function isOAuthConfigured(config: OAuthConfig, provider: OAuthProviderId): boolean {
  return config[provider] !== null;
}
