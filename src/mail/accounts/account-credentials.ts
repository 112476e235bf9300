// What is sealed in email_accounts.credentials_enc: a password, or OAuth2 tokens. The account id is the
// associated data, so a sealed value copied onto another account's row does not open.
import type { SecretBox } from '../../core/secret-box.js';

export type AccountCredentials =
  | { kind: 'password'; password: string }
  | { kind: 'oauth2'; accessToken: string; refreshToken: string | null; expiresAt: number };

export function sealCredentials(box: SecretBox, accountId: string, credentials: AccountCredentials): string {
  return box.seal(credentials, `email_account:${accountId}`);
}

export function openCredentials(box: SecretBox, accountId: string, sealed: string): AccountCredentials {
  return box.open<AccountCredentials>(sealed, `email_account:${accountId}`);
}
