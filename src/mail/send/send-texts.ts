// Why a send failed, and where its Sent copy went, as text codes with parameters (web dictionaries: `server.<code>`)
// beside the English the outbox keeps in last_error / append_detail. The sending server's own words stay the `reply`
// parameter, untranslated ("550 5.1.1 user unknown"); `attempts` says the outbox gave up after that many tries.
// A reason may also be one of MAIL_TEXT_CODES: a connection failure on the way (DNS, TLS, a refused sign-in).
import type { TextParams } from '../../core/server-text.js';
import { MAIL_TEXT_CODES, type MailTextCode } from '../connection/mail-errors.js';

export const SEND_TEXT_CODES = [
  'SEND_REJECTED',
  'SEND_DEFERRED',
  'SEND_PARTIALLY_REJECTED',
  'SEND_RELAY_MISSING',
  'SEND_SENDER_NOT_VERIFIED',
  'SEND_CUSTOM_SMTP_MISSING',
  'SEND_HOST_NOT_ALLOWED',
  'SEND_MESSAGE_GONE',
  'SEND_NO_RECIPIENTS',
  'SEND_INTERNAL',
] as const;
export type SendTextCode = (typeof SEND_TEXT_CODES)[number];

export const SENT_COPY_TEXT_CODES = [
  'SENT_COPY_BY_PROVIDER',
  'SENT_COPY_FILED',
  'SENT_COPY_ALREADY_THERE',
  'SENT_COPY_NO_FOLDER',
  'SENT_COPY_GONE',
] as const;
export type SentCopyTextCode = (typeof SENT_COPY_TEXT_CODES)[number];

export type SendReasonCode = SendTextCode | MailTextCode;
export type SentFolderTextCode = SentCopyTextCode | MailTextCode;

export interface SendText<Code extends string> {
  code: Code;
  params: TextParams;
}

const SEND_REASONS = new Set<string>([...SEND_TEXT_CODES, ...MAIL_TEXT_CODES]);
const SENT_FOLDER = new Set<string>([...SENT_COPY_TEXT_CODES, ...MAIL_TEXT_CODES]);

/** A stored code this version knows; anything else reads as none (the English still shows). */
export function sendReasonCode(stored: string | null | undefined): SendReasonCode | null {
  return stored && SEND_REASONS.has(stored) ? (stored as SendReasonCode) : null;
}

export function sentFolderTextCode(stored: string | null | undefined): SentFolderTextCode | null {
  return stored && SENT_FOLDER.has(stored) ? (stored as SentFolderTextCode) : null;
}
