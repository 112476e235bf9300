// What a failure means for an account, decided in one place: credentials refused → needs_reconnect and stop;
// anything else → retry with backoff and jitter, showing `error` with the next retry time meanwhile.
// The detail is said twice: in English (logs, API users) and as a text code with parameters (the web app's language).
import { AppError } from '../../core/app-error.js';
import type { TextParams } from '../../core/server-text.js';
import {
  classifyMailError,
  MAIL_TEXT_CODES,
  type MailErrorContext,
  type MailTextCode,
} from '../connection/mail-errors.js';
import type { StatusTextCode } from '../accounts/account-status.js';
import { OAuthError } from '../oauth2/oauth-error.js';

export interface FailureDetail {
  detail: string;
  detailCode: StatusTextCode;
  detailParams: TextParams;
}

export type FailureDecision = ({ action: 'needs_reconnect' } | { action: 'retry' }) & FailureDetail;

const MAIL_TEXT = new Set<string>(MAIL_TEXT_CODES);

/** A connection test's text code, when the AppError came from mailConnectionError. */
function mailTextOf(error: AppError): { code: MailTextCode; params: TextParams } | undefined {
  const detail = error.details?.detail as { code?: unknown; params?: unknown } | undefined;
  if (!detail || typeof detail.code !== 'string' || !MAIL_TEXT.has(detail.code)) return undefined;
  return { code: detail.code as MailTextCode, params: (detail.params ?? {}) as TextParams };
}

/** `context`: the account's IMAP server, so a connection failure names where it happened. */
export function decideFailure(error: unknown, context: MailErrorContext = {}): FailureDecision {
  if (error instanceof OAuthError) {
    if (error.code === 'INVALID_GRANT') {
      return {
        action: 'needs_reconnect',
        detail: `Access to the mailbox was revoked or has expired: sign in again (${error.message})`,
        detailCode: 'SYNC_ACCESS_REVOKED',
        detailParams: { reason: error.message },
      };
    }
    if (error.code === 'NOT_CONFIGURED')
      return {
        action: 'needs_reconnect',
        detail: error.message,
        detailCode: 'SYNC_OAUTH_NOT_CONFIGURED',
        detailParams: { reason: error.message },
      };
    return {
      action: 'retry',
      detail: error.message,
      detailCode: 'SYNC_OAUTH_FAILED',
      detailParams: { reason: error.message },
    };
  }
  if (error instanceof AppError) {
    const action = error.code === 'AUTH_FAILED' ? 'needs_reconnect' : 'retry';
    const mail = mailTextOf(error);
    if (mail) return { action, detail: error.message, detailCode: mail.code, detailParams: mail.params };
    const host = error.details?.host;
    if (error.code === 'HOST_NOT_ALLOWED' && typeof host === 'string')
      return { action, detail: error.message, detailCode: 'SYNC_HOST_NOT_ALLOWED', detailParams: { host } };
    return { action, detail: error.message, detailCode: 'SYNC_FAILED', detailParams: { reason: error.message } };
  }
  const classified = classifyMailError(error, 'imap', context);
  if (classified.code === 'AUTH_FAILED') {
    return {
      action: 'needs_reconnect',
      detail:
        'The mail server refused the saved password (was it changed, or access revoked?). Reconnect the account with Edit.',
      detailCode: 'SYNC_PASSWORD_REFUSED',
      detailParams: classified.text.params,
    };
  }
  return {
    action: 'retry',
    detail: classified.message,
    detailCode: classified.text.code,
    detailParams: classified.text.params,
  };
}

/** The detail of a healthy session the server keeps closing too soon. */
export const SERVER_KEEPS_CLOSING: FailureDetail = {
  detail: 'The mail server keeps closing the connection',
  detailCode: 'SYNC_SERVER_KEEPS_CLOSING',
  detailParams: {},
};
