// The error of the OAuth 2 layer. The code says what the caller should do; the account layer maps it once:
// INVALID_GRANT → the account needs reconnecting, TEMPORARY → retry later, PROVIDER_ERROR → a configuration
// or provider problem to show as is, NOT_CONFIGURED → the install has no client registration for it.
// Messages carry the provider's error_description, never a token, code, verifier or client secret.

import type { OAuthProviderId } from './oauth-providers.js';

export type OAuthErrorCode = 'INVALID_GRANT' | 'TEMPORARY' | 'PROVIDER_ERROR' | 'NOT_CONFIGURED';

export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly provider: OAuthProviderId;
  /** The OAuth `error` value of the provider's answer (e.g. `invalid_grant`), when there was one. */
  readonly providerError: string | undefined;
  /** The HTTP status of the provider's answer, when there was one. */
  readonly status: number | undefined;

  constructor(
    code: OAuthErrorCode,
    provider: OAuthProviderId,
    message: string,
    options: { providerError?: string; status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OAuthError';
    this.code = code;
    this.provider = provider;
    this.providerError = options.providerError;
    this.status = options.status;
  }
}
