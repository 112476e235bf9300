// The one identity of a message across folders, mailboxes and servers: its Message-ID when it has a usable one,
// else a hash of what the author's program wrote once and every copy carries unchanged. Pure functions; the
// engine decides when to compute them, and must feed them the same inputs on every path (scan and store).
import { createHash } from 'node:crypto';

/** Longest Message-ID we keep: RFC 5322's line limit. Longer values are junk and would bloat a unique index. */
const MAX_MESSAGE_ID_LENGTH = 998;

/**
 * How many raw bytes of the body (`BODY.PEEK[TEXT]<0.512>`) the caller should hand to {@link dedupeKey} for a message
 * without a Message-ID. Only the first {@link BODY_KEY_CHARS} non-blank characters are hashed, so a caller that has
 * the whole body and one that fetched just this prefix (with CRLF, or a multi-byte character cut at the end)
 * compute the same key.
 */
export const BODY_PREFIX_FETCH_BYTES = 512;
export const BODY_KEY_CHARS = 128;

/** Removes RFC 5322 comments `( … )` (nested, with `\` escapes) outside quoted strings. */
function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += ch + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (depth === 0 && ch === '"') quoted = !quoted;
    if (!quoted) {
      if (ch === '(') {
        depth++;
        continue;
      }
      if (ch === ')' && depth > 0) {
        depth--;
        continue;
      }
    }
    if (depth === 0) out += ch;
  }
  return out;
}

// Whitespace, controls, angle brackets: never part of an id once folding whitespace is gone.
const BAD_ID_CHAR = /[\u0000-\u0020\u007f<>]/;

/**
 * A Message-ID (or one id of In-Reply-To/References) in its one comparable form: without angle brackets,
 * comments and folding whitespace (the obsolete `<1234 @ local(x) .machine .example>` becomes
 * `1234@local.machine.example`), the domain part lower-cased and the local part left as written (it is
 * case-sensitive by RFC 5322). Null for anything that is not `left@right`: empty, `<>`, `unknown`, a truncated
 * `<invalid.`, over-long values.
 */
export function normalizeMessageId(raw: string | null | undefined): string | null {
  if (raw == null) return null;
  let value = raw;
  const open = value.indexOf('<');
  if (open >= 0) {
    const close = value.indexOf('>', open + 1);
    value = close >= 0 ? value.slice(open + 1, close) : value.slice(open + 1);
  }
  value = stripComments(value).replace(/\s+/g, '');
  if (value.length === 0 || value.length > MAX_MESSAGE_ID_LENGTH || BAD_ID_CHAR.test(value)) return null;
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) return null;
  const left = value.slice(0, at);
  const right = value.slice(at + 1).toLowerCase();
  // A right side of only dots (`a@.`) is no domain.
  if (/^[.]*$/.test(right)) return null;
  return `${left}@${right}`;
}

/**
 * The ids of an In-Reply-To or References header (or an already split list), normalised, in order, without
 * repeats or garbage. Text outside `<…>` (old "Your message of …" phrases, comments) is ignored; a header with no
 * brackets at all is split on whitespace and commas.
 */
export function parseMessageIdList(raw: string | readonly (string | null | undefined)[] | null | undefined): string[] {
  if (raw == null) return [];
  const candidates: string[] = [];
  if (typeof raw === 'string') {
    const bracketed = raw.match(/<[^<>]*>/g);
    if (bracketed) candidates.push(...bracketed);
    else candidates.push(...stripComments(raw).split(/[\s,]+/));
  } else {
    for (const item of raw) if (item != null) candidates.push(...parseMessageIdList(item));
  }
  const seen = new Set<string>();
  for (const candidate of candidates) {
    const id = normalizeMessageId(candidate);
    if (id !== null) seen.add(id);
  }
  return [...seen];
}

export interface DedupeKeyInput {
  /** The Message-ID header, raw or normalised. */
  messageId: string | null;
  /** The Date header in epoch milliseconds — never INTERNALDATE, which differs for every copy. */
  date: number | null;
  /** The From address. */
  from: string | null;
  /** The To addresses. */
  to: readonly string[];
  /** The decoded Subject. */
  subject: string | null;
  /**
   * The start of the raw (still transfer-encoded) body, e.g. `BODY.PEEK[TEXT]<0.512>` decoded as latin1. Every
   * path computing the key for a message must pass it, or every path must leave it out.
   */
  bodyStart?: string | null;
}

function collapse(text: string): string {
  return text.normalize('NFC').replace(/\s+/g, ' ').trim();
}

function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}

/**
 * The key a message is stored under, unique per organisation: `mid:<normalised Message-ID>` when there is one,
 * else `hash:<sha256 hex>`.
 *
 * Why these hashed fields: Date, From, To, Subject and the body are written once by the author's mail program and
 * travel byte for byte into every copy — the Sent folder, each recipient's inbox, a folder it is moved or copied
 * to, another server it is migrated to. What differs between copies is never hashed: UID, INTERNALDATE, flags,
 * Received/Return-Path/X-* headers added in transit, and Bcc (present only in the sender's copy). Each field is
 * reduced to what a different parser (IMAP ENVELOPE at scan time, the MIME parser at store time) would agree on:
 * the date to the second, addresses lower-cased and To sorted without repeats, the subject with collapsed
 * whitespace, and only the first non-blank characters of the body. The body prefix separates messages that share
 * the other fields (a form mailer sending the same subject to the same person in the same second).
 */
export function dedupeKey(input: DedupeKeyInput): string {
  const id = normalizeMessageId(input.messageId);
  if (id !== null) return `mid:${id}`;
  const date = input.date != null && Number.isFinite(input.date) ? Math.floor(input.date / 1000) : null;
  const from = input.from ? normalizeAddress(input.from) || null : null;
  const to = [...new Set(input.to.map(normalizeAddress).filter((a) => a.length > 0))].sort();
  // A missing Subject and an empty one are the same: ENVELOPE gives NIL where a parser may give "".
  const subject = input.subject != null ? collapse(input.subject) || null : null;
  // Whitespace and U+FFFD go: line endings differ between paths and a prefix may end in half a character.
  const body = input.bodyStart ? input.bodyStart.replace(/[\s\uFFFD]+/g, '').slice(0, BODY_KEY_CHARS) : '';
  // JSON keeps the fields apart unambiguously; the version lets a future change of recipe coexist with old keys.
  const payload = JSON.stringify(['v1', date, from, to, subject, body]);
  return `hash:${createHash('sha256').update(payload, 'utf8').digest('hex')}`;
}

/**
 * Gmail's own id of a message (`X-GM-MSGID`, an unsigned 64-bit number), the same in every label/folder of the
 * account: a second key to find a stored message by, as `gmmsg:<decimal>`. Null when absent or not a number.
 */
export function gmMsgKey(xGmMsgId: string | bigint | number | null | undefined): string | null {
  if (xGmMsgId == null) return null;
  let digits: string;
  if (typeof xGmMsgId === 'bigint') digits = xGmMsgId >= 0n ? xGmMsgId.toString() : '';
  else if (typeof xGmMsgId === 'number')
    digits = Number.isSafeInteger(xGmMsgId) && xGmMsgId >= 0 ? String(xGmMsgId) : '';
  else digits = xGmMsgId.trim();
  if (!/^\d{1,20}$/.test(digits)) return null;
  return `gmmsg:${BigInt(digits).toString()}`;
}

export interface ContentDigestInput {
  subject: string | null;
  /** The Date header in epoch milliseconds (to the second). */
  date: number | null;
  from: string | null;
  /** To and Cc addresses: what every copy shows. Bcc is left out: only the sender's copy has it. */
  recipients: readonly string[];
  text: string | null;
  html: string | null;
  /** sha256 of each attachment's content. */
  attachments: readonly string[];
}

/**
 * What a reader of the message sees, as one sha256: subject, date, sender, visible recipients, bodies and
 * attachments. Two arrivals with the same dedupe key are one message only when their digests are equal — a
 * Message-ID alone is a claim anyone can copy, so a stranger's (or a colleague's) mail that borrows the id of a
 * private message is stored as a message of its own and never opens the private one. Whitespace is collapsed so
 * that line-ending differences between paths do not split a message.
 */
export function contentDigest(input: ContentDigestInput): string {
  const squeeze = (text: string | null) => (text == null ? null : collapse(text.replace(/\u0000/g, '')) || null);
  const payload = JSON.stringify([
    'c1',
    squeeze(input.subject),
    input.date != null && Number.isFinite(input.date) ? Math.floor(input.date / 1000) : null,
    input.from ? normalizeAddress(input.from) : null,
    [...new Set(input.recipients.map(normalizeAddress).filter(Boolean))].sort(),
    squeeze(input.text),
    squeeze(input.html),
    [...input.attachments].sort(),
  ]);
  return createHash('sha256').update(payload, 'utf8').digest('hex');
}

/**
 * The dedupe key of a copy whose content differs from the message already stored under `key`: the same
 * conversation (same thread), a message of its own.
 */
export function variantKey(key: string, digest: string): string {
  return `${key}~${digest.slice(0, 32)}`;
}
