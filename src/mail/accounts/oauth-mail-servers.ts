// Where an OAuth access token may be presented: the provider preset's IMAP and SMTP servers, or the ones the
// operator configured in their place (GOOGLE_IMAP_URL …, see oauth-config.ts). Nothing a request says can
// change them: a Google or Microsoft token sent to another server is a stolen token.
import type { OAuthConfig } from '../oauth2/oauth-config.js';
import type { OAuthProviderId } from '../oauth2/oauth-providers.js';
import { getProvider, type ServerEndpoint } from '../providers/presets.js';

export interface OAuthMailServers {
  imap: ServerEndpoint;
  smtp: ServerEndpoint;
}

export function oauthMailServers(config: OAuthConfig, provider: OAuthProviderId): OAuthMailServers {
  const preset = getProvider(provider);
  if (!preset) throw new Error(`no preset for OAuth provider ${provider}`);
  const client = config[provider];
  return { imap: client?.imap ?? preset.imap, smtp: client?.smtp ?? preset.smtp };
}
