// The mailbox login the sending code uses (SMTP in `mailbox` mode, IMAP for the Sent-folder copy): the sealed
// credentials, with an OAuth access token refreshed and stored again when it is about to expire. The same
// rule as the sync runner's (src/mail/sync/account-runner.ts), kept here so sending does not reach into it.
import type { SecretBox } from '../../core/secret-box.js';
import type { Logger } from '../../core/logger.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import { openCredentials, sealCredentials, type AccountCredentials } from './account-credentials.js';
import type { MailLogin } from '../connection/test-mail-connection.js';
import { refreshTokens, tokenNeedsRefresh } from '../oauth2/oauth-client.js';
import type { OAuthConfig } from '../oauth2/oauth-config.js';
import { isOAuthProviderId } from '../oauth2/oauth-providers.js';

export interface LoginDeps {
  db: Db;
  secrets: SecretBox;
  oauth: OAuthConfig;
  log: Pick<Logger, 'info'>;
}

/**
 * The stored credentials, with OAuth tokens refreshed (and stored again) when they expire within `skewMs` (default
 * 5 minutes: the mail runner and the sender keep the stored token fresh ahead of time; other users of the same
 * token pass a short skew and reuse it, so they do not refresh it again behind the mail runner's back).
 */
export async function freshAccountCredentials(
  deps: LoginDeps,
  row: Pick<EmailAccountsTable, 'id' | 'provider' | 'generation'>,
  signal?: AbortSignal,
  skewMs?: number,
): Promise<AccountCredentials> {
  const stored = await deps.db
    .selectFrom('email_accounts')
    .select('credentials_enc')
    .where('id', '=', row.id)
    .executeTakeFirstOrThrow();
  const credentials = openCredentials(deps.secrets, row.id, stored.credentials_enc);
  if (credentials.kind !== 'oauth2' || !tokenNeedsRefresh(credentials, Date.now(), skewMs)) return credentials;
  if (!credentials.refreshToken || !isOAuthProviderId(row.provider)) return credentials;
  const tokens = await refreshTokens({
    provider: row.provider,
    config: deps.oauth,
    refreshToken: credentials.refreshToken,
    ...(signal ? { signal } : {}),
  });
  const next: AccountCredentials = {
    kind: 'oauth2',
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    expiresAt: tokens.expiresAt,
  };
  await deps.db
    .updateTable('email_accounts')
    .set({ credentials_enc: sealCredentials(deps.secrets, row.id, next), updated_at: Date.now() })
    .where('id', '=', row.id)
    .where('generation', '=', row.generation)
    .execute();
  deps.log.info({ accountId: row.id }, 'refreshed OAuth access token');
  return next;
}

export function mailLoginOf(username: string, credentials: AccountCredentials): MailLogin {
  return {
    username,
    auth:
      credentials.kind === 'oauth2'
        ? { kind: 'oauth2', accessToken: credentials.accessToken }
        : { kind: 'password', password: credentials.password },
  };
}
