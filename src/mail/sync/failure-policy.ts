// What a failure means for an account, decided in one place: credentials refused → needs_reconnect and stop;
// anything else → retry with backoff and jitter, showing `error` with the next retry time meanwhile.
import { AppError } from '../../core/app-error.js';
import { classifyMailError } from '../connection/mail-errors.js';
import { OAuthError } from '../oauth2/oauth-error.js';

export type FailureDecision = { action: 'needs_reconnect'; detail: string } | { action: 'retry'; detail: string };

export function decideFailure(error: unknown): FailureDecision {
  if (error instanceof OAuthError) {
    if (error.code === 'INVALID_GRANT') {
      return {
        action: 'needs_reconnect',
        detail: `Access to the mailbox was revoked or has expired: sign in again (${error.message})`,
      };
    }
    if (error.code === 'NOT_CONFIGURED') return { action: 'needs_reconnect', detail: error.message };
    return { action: 'retry', detail: error.message };
  }
  if (error instanceof AppError) {
    return error.code === 'AUTH_FAILED'
      ? { action: 'needs_reconnect', detail: error.message }
      : { action: 'retry', detail: error.message };
  }
  const classified = classifyMailError(error, 'imap');
  if (classified.code === 'AUTH_FAILED') {
    return {
      action: 'needs_reconnect',
      detail:
        'The mail server refused the saved password (was it changed, or access revoked?). Reconnect the account with Edit.',
    };
  }
  return { action: 'retry', detail: classified.message };
}
