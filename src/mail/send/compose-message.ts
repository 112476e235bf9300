// Builds the one MIME message of a mail written in the CRM, with nodemailer's composer: our own Message-ID and
// Date, From = the account's address. These bytes are stored, sent and appended to the Sent folder unchanged,
// so every copy of the message is the same message. Bcc is never written into them: the recipients hidden
// from the others travel only in the SMTP envelope (and in the CRM's participants of the stored message).
import { randomUUID } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import { htmlToTextAlternative } from '../mime/html-to-text-alternative.js';

export interface OutgoingAddress {
  /** Lower-cased. */
  address: string;
  name: string | null;
}

export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface ComposeInput {
  /** Without angle brackets, e.g. `0190…@example.com`. */
  messageId: string;
  date: Date;
  from: OutgoingAddress;
  to: OutgoingAddress[];
  cc: OutgoingAddress[];
  subject: string;
  text?: string | null;
  html?: string | null;
  /** The Message-ID answered, without angle brackets. */
  inReplyTo?: string | null;
  /** Ids without angle brackets, oldest first, the answered message's own id last. */
  references?: string[];
  attachments?: OutgoingAttachment[];
  /**
   * An iCalendar invitation (booking pages, issue 16): nodemailer puts it in twice, as the text/calendar; method=…
   * alternative that mail programs show as an invitation, and as an invite.ics attachment for the others.
   */
  icalEvent?: { method: 'REQUEST' | 'CANCEL'; content: string } | null;
  /** Extra header fields (sequences, issue 17: List-Unsubscribe); internal only, never from an API body. */
  headers?: Record<string, string> | undefined;
}

/** A fresh Message-ID (without brackets) on the sender's own domain: `<uuid>@<domain>`. */
export function newMessageId(senderAddress: string): string {
  const at = senderAddress.lastIndexOf('@');
  const domain = at >= 0 ? senderAddress.slice(at + 1).toLowerCase() : 'conversa.invalid';
  return `${randomUUID()}@${domain}`;
}

/**
 * One recipient as the API takes it: `ana@example.com` or `Ana Souza <ana@example.com>`. Null when it is not
 * exactly one valid address (a group, two addresses, garbage).
 */
export function parseRecipient(raw: string): OutgoingAddress | null {
  const parsed = addressparser(raw.trim());
  if (parsed.length !== 1) return null;
  const entry = parsed[0]!;
  if (entry.group !== undefined) return null;
  const address = normalizeEmail(entry.address ?? '');
  if (!isValidEmail(address)) return null;
  const name = entry.name?.trim() || null;
  return { address, name };
}

// A reply prefix already there (as mail programs write it in the languages of our users): no second "Re: ".
const REPLY_PREFIX = /^\s*(?:re|aw|antw|sv|vs|res|resp|r|rif|odp|ynt)\s*(?:\[\d+\]|\(\d+\))?\s*:/iu;

export function replySubject(subject: string): string {
  return REPLY_PREFIX.test(subject) ? subject : `Re: ${subject}`;
}

/** How many ids a References header keeps: the root and the most recent ones (RFC 5322 §3.6.4 allows trimming). */
const MAX_REFERENCES = 20;

/** The References of a reply: the parent's References, then the parent's own id; trimmed in the middle when long. */
export function replyReferences(parentReferences: string[], parentMessageId: string): string[] {
  const ids = [...new Set([...parentReferences, parentMessageId])];
  if (ids.length <= MAX_REFERENCES) return ids;
  return [ids[0]!, ...ids.slice(ids.length - (MAX_REFERENCES - 1))];
}

function bracket(id: string): string {
  return `<${id}>`;
}

function mailbox(a: OutgoingAddress): { name: string; address: string } | string {
  return a.name ? { name: a.name, address: a.address } : a.address;
}

/** The complete message, CRLF line ends, ready for SMTP and IMAP APPEND. */
export async function composeMessage(input: ComposeInput): Promise<Buffer> {
  const hasText = typeof input.text === 'string';
  const hasHtml = typeof input.html === 'string';
  const composer = new MailComposer({
    from: mailbox(input.from),
    to: input.to.map(mailbox),
    ...(input.cc.length > 0 ? { cc: input.cc.map(mailbox) } : {}),
    subject: input.subject,
    messageId: bracket(input.messageId),
    date: input.date,
    ...(input.inReplyTo ? { inReplyTo: bracket(input.inReplyTo) } : {}),
    ...(input.references && input.references.length > 0 ? { references: input.references.map(bracket) } : {}),
    // HTML alone (the web app's editor) gets a text part made from it, so text-only readers and spam filters see
    // the same words; a message with neither still gets an (empty) text part rather than no body at all.
    text: hasText ? input.text! : hasHtml ? htmlToTextAlternative(input.html!) : '',
    ...(hasHtml ? { html: input.html! } : {}),
    attachments: (input.attachments ?? []).map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
    })),
    ...(input.headers ? { headers: input.headers } : {}),
    ...(input.icalEvent ? { icalEvent: { method: input.icalEvent.method, content: input.icalEvent.content } } : {}),
    // Nothing in a message written through the API may read the server's files or fetch URLs.
    disableFileAccess: true,
    disableUrlAccess: true,
    newline: 'win',
  });
  return composer.compile().build();
}

/** RFC 5322 date-time as nodemailer writes it: `Fri, 04 Dec 2026 21:30:20 +0000`. */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

/**
 * The same message with its Date header set to `date` (send later: a message composed when it was scheduled says
 * the time it leaves, as a mail program's outbox would). Only the top-level header block is touched, so the bytes
 * of the body, and any DKIM signature added later when sending, are unaffected; a message without a Date gets one.
 */
export function redateMessage(raw: Buffer, date: Date): Buffer {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const headerEnd = end < 0 ? text.length : end;
  const header = text.slice(0, headerEnd);
  const line = `Date: ${rfc5322Date(date)}`;
  // A header field with its folded continuation lines.
  const dateField = /(^|\r\n)Date:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*/i;
  const next = dateField.test(header)
    ? header.replace(dateField, (_m, lead: string) => `${lead}${line}`)
    : `${line}\r\n${header}`;
  return Buffer.from(next + text.slice(headerEnd), 'latin1');
}
