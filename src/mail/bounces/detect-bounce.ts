// Recognises bounces (delivery status notifications), so that the bounced message can be marked and the
// contact's address flagged. RFC 3464 reports are read field by field; the plain-text notices that qmail, Exim,
// Postfix and Sendmail without DSN, Exchange, Gmail, Yahoo, Lotus Notes, GroupWise and the like send are
// recognised by their sender and wording, and the failed addresses and status codes are picked out of the text.
// Not bounces (null): delays, success reports, read receipts, abuse reports, auto-replies, challenge-response
// mail, and bounces forwarded by a person. Limits: wording is matched in English plus the Exchange subjects of a
// few other languages; only what a report states is returned (no status code is made up).
import { isUtf8 } from 'node:buffer';
import { decoderFor, fixC1, isAscii } from '../mime/charsets.js';
import { decodeTransfer } from '../mime/decode-transfer.js';
import { htmlToPlain } from '../mime/html-to-plain.js';
import {
  normalizeMessageId,
  parseAddressList,
  parseMessageHeaders,
  parseStructured,
  type Address,
  type ParsedMessage,
} from '../mime/parse-message.js';

export type BounceKind = 'hard' | 'soft';

export interface BounceRecipient {
  /** Lower-cased. From a DSN, the Original-Recipient (the address as it was sent to) else the Final-Recipient. */
  address: string;
  /** RFC 3463 enhanced status code (`5.1.1`) as the report gives it; null when it gives none. */
  status: string | null;
  /** The DSN Action (always `failed` here); null for a report that is not RFC 3464. */
  action: string | null;
  /** The Diagnostic-Code, or the report's own words about this recipient. */
  diagnostic: string | null;
}

export interface BounceInfo {
  /**
   * hard: the address is bad (5.x.x, or a failure with no code); soft: given up on a temporary error (4.x.x, mailbox
   * full).
   */
  kind: BounceKind;
  /** The failed recipients only. May be empty when a mail server says a message failed but not for whom. */
  recipients: BounceRecipient[];
  /** Message-ID of the bounced message, normalised as parse-message does (no angle brackets, domain lower-cased). */
  originalMessageId: string | null;
  /** The MTA that wrote the report (Reporting-MTA, or the host its text names), else the report's From address. */
  reporter: string | null;
}

// ---------------------------------------------------------------------------------------------------------
// Just enough MIME: the part tree, without decoding anything but the parts a report is read from. The parsed
// message from parse-message cannot be used for this: postal-mime flattens nested parts into one attachment list
// and renders some message/rfc822 parts into the body, so a DSN inside a forwarded message would look like a
// DSN, and the original message's headers may be gone.

const MAX_DEPTH = 8;
const MAX_PARTS = 300;
/** Raw bytes of one text part that are decoded and read. */
const MAX_TEXT_BYTES = 512 * 1024;
/** Bytes read for the header block of the original message (or the top-level block). */
const MAX_HEADER_BYTES = 256 * 1024;
/** Characters of report text the wording is matched against. */
const MAX_SCAN_CHARS = 64 * 1024;
const MAX_RECIPIENTS = 100;
/** Characters of text read over all parts. */
const MAX_TEXT_TOTAL = 1024 * 1024;

type Headers = Map<string, string[]>;

interface MimePart {
  headers: Headers;
  /** type/subtype, lower-cased; text/plain when missing or malformed. */
  type: string;
  params: Record<string, string>;
  /** Undecoded body bytes. */
  body: Buffer;
  preamble: Buffer | null;
  parts: MimePart[];
}

function firstHeader(headers: Headers, name: string): string | null {
  return headers.get(name)?.[0] ?? null;
}

/**
 * A header block from `start`: fields unfolded (latin1; only ASCII structure is read from it) and where the body
 * starts.
 */
function readHeaderBlock(buf: Buffer, start: number, allowMbox: boolean): { headers: Headers; bodyStart: number } {
  const headers: Headers = new Map();
  const limit = Math.min(buf.length, start + MAX_HEADER_BYTES);
  let pos = start;
  let last: { key: string; index: number } | null = null;
  let first = true;
  while (pos < limit) {
    let nl = buf.indexOf(0x0a, pos);
    const next = nl === -1 ? buf.length : nl + 1;
    if (nl === -1) nl = buf.length;
    const end = nl > pos && buf[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === pos) return { headers, bodyStart: next };
    const line = buf.toString('latin1', pos, Math.min(end, pos + 64 * 1024));
    if (first && allowMbox && /^From [^:]*$/.test(line)) {
      // mbox separator line
    } else if ((line[0] === ' ' || line[0] === '\t') && last) {
      const list = headers.get(last.key)!;
      list[last.index] = `${list[last.index]} ${line.trim()}`;
    } else {
      const m = /^([!-9;-~]+)[ \t]*:(.*)$/.exec(line);
      if (!m) {
        // Not a field: with no field yet, the part has no header block and this is its body.
        if (headers.size === 0) return { headers, bodyStart: pos };
      } else {
        const key = m[1]!.toLowerCase();
        const list = headers.get(key) ?? [];
        list.push(m[2]!.trim());
        headers.set(key, list);
        last = { key, index: list.length - 1 };
      }
    }
    first = false;
    pos = next;
  }
  return { headers, bodyStart: Math.min(pos, buf.length) };
}

interface Budget {
  parts: number;
}

function parsePart(buf: Buffer, depth: number, budget: Budget): MimePart {
  budget.parts++;
  const { headers, bodyStart } = readHeaderBlock(buf, 0, depth === 0);
  const contentType = parseStructured(firstHeader(headers, 'content-type') ?? '');
  const valid = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(contentType.value);
  const part: MimePart = {
    headers,
    type: valid ? contentType.value : 'text/plain',
    params: contentType.params,
    body: buf.subarray(bodyStart),
    preamble: null,
    parts: [],
  };
  if (part.type.startsWith('multipart/')) {
    const split =
      contentType.params.boundary && depth < MAX_DEPTH ? splitMultipart(part.body, contentType.params.boundary) : null;
    if (!split) {
      // Nothing to split on: whatever the body says is read as text.
      part.type = 'text/plain';
      return part;
    }
    part.preamble = split.preamble;
    for (const child of split.parts) {
      if (budget.parts >= MAX_PARTS) break;
      part.parts.push(parsePart(child, depth + 1, budget));
    }
  }
  return part;
}

/** Body parts between `--boundary` lines (trailing whitespace allowed); a missing closing line ends at the end. */
function splitMultipart(body: Buffer, boundary: string): { preamble: Buffer; parts: Buffer[] } | null {
  const delimiter = Buffer.from(`--${boundary}`, 'latin1');
  const marks: Array<{ at: number; next: number }> = [];
  let closed = false;
  let pos = 0;
  while (pos < body.length) {
    const at = body.indexOf(delimiter, pos);
    if (at === -1) break;
    pos = at + delimiter.length;
    if (at > 0 && body[at - 1] !== 0x0a) continue;
    let eol = body.indexOf(0x0a, pos);
    if (eol === -1) eol = body.length;
    const rest = eol - pos > 200 ? 'x' : body.toString('latin1', pos, eol).trim();
    if (rest !== '' && rest !== '--') continue;
    marks.push({ at, next: Math.min(eol + 1, body.length) });
    if (rest === '--') {
      closed = true;
      break;
    }
    if (marks.length > MAX_PARTS) break;
  }
  if (marks.length === 0) return null;
  const parts: Buffer[] = [];
  const count = closed ? marks.length - 1 : marks.length;
  for (let i = 0; i < count; i++) {
    const end = i + 1 < marks.length ? trimLineEnd(body, marks[i + 1]!.at) : body.length;
    parts.push(body.subarray(marks[i]!.next, Math.max(marks[i]!.next, end)));
  }
  return { preamble: body.subarray(0, trimLineEnd(body, marks[0]!.at)), parts };
}

/** The offset before the line break that ends at `at` (the CRLF before a boundary belongs to the boundary). */
function trimLineEnd(buf: Buffer, at: number): number {
  let end = at;
  if (end > 0 && buf[end - 1] === 0x0a) end--;
  if (end > 0 && buf[end - 1] === 0x0d) end--;
  return end;
}

/** A part's body with its transfer encoding undone, read only as far as `maxBytes` of result need (base64: 4/3). */
function partBytes(part: MimePart, maxBytes: number): Buffer {
  const encoding = (firstHeader(part.headers, 'content-transfer-encoding') ?? '').trim().toLowerCase();
  const read = encoding === 'base64' ? Math.ceil((maxBytes * 4) / 3) + 4 : maxBytes;
  return decodeTransfer(part.body.subarray(0, read), encoding);
}

/**
 * Bytes to text by the declared charset; 8-bit bytes under a 7-bit or unknown charset: UTF-8 if valid, else
 * windows-1252.
 */
function decodeText(bytes: Buffer, charset: string | undefined): string {
  if (isAscii(bytes)) return bytes.toString('latin1');
  const label = (charset ?? '').trim().toLowerCase();
  const sevenBit = label === '' || label === 'us-ascii' || label === 'ascii' || label.startsWith('iso-2022');
  const decoder = sevenBit ? null : decoderFor(label);
  if (decoder) return fixC1(decoder.decode(bytes));
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return fixC1(decoderFor('windows-1252')!.decode(bytes));
}

function partText(part: MimePart): string {
  return decodeText(partBytes(part, MAX_TEXT_BYTES), part.params.charset);
}

const DELIVERY_STATUS_TYPES = new Set(['message/delivery-status', 'message/global-delivery-status']);
const ORIGINAL_TYPES = new Set(['message/rfc822', 'message/global', 'text/rfc822-headers', 'message/global-headers']);
const RECEIPT_TYPES = new Set(['message/disposition-notification', 'message/global-disposition-notification']);

interface ReportParts {
  /** Human-readable text/plain parts, in order. */
  texts: string[];
  /** text/html parts, read only when there is no text/plain. */
  htmls: string[];
  deliveryStatus: string[];
  /** Header blocks of the attached original message(s). */
  originals: Headers[];
  receipt: boolean;
  feedback: boolean;
  /** Characters of text still to be read. */
  budget: number;
}

/** The parts of the report itself; attached messages are not entered (a DSN inside a forward is not this message's). */
function collectParts(part: MimePart, out: ReportParts): void {
  const type = part.type;
  if (type.startsWith('multipart/')) {
    for (const child of part.parts) collectParts(child, out);
    return;
  }
  if (DELIVERY_STATUS_TYPES.has(type)) out.deliveryStatus.push(partText(part));
  else if (RECEIPT_TYPES.has(type)) out.receipt = true;
  else if (type === 'message/feedback-report') out.feedback = true;
  else if (ORIGINAL_TYPES.has(type)) {
    const bytes = partBytes(part, MAX_HEADER_BYTES);
    out.originals.push(readHeaderBlock(bytes, 0, false).headers);
  } else if (type === 'text/plain' || type === 'text/html') {
    const disposition = parseStructured(firstHeader(part.headers, 'content-disposition') ?? '');
    if (disposition.value === 'attachment' && (disposition.params.filename || part.params.name)) return;
    if (out.budget <= 0) return;
    const text = partText(part);
    out.budget -= text.length;
    (type === 'text/plain' ? out.texts : out.htmls).push(text);
  }
}

// ---------------------------------------------------------------------------------------------------------
// RFC 3464 message/delivery-status.

interface DsnRecipient {
  original: string | null;
  final: string | null;
  action: string | null;
  status: string | null;
  diagnostic: string | null;
}

interface DeliveryStatus {
  reportingMta: string | null;
  originalMessageId: string | null;
  recipients: DsnRecipient[];
  /** Fields were found at all (a part labelled delivery-status may hold prose). */
  fields: number;
}

// An enhanced status code not inside a dotted number (an IP address, a version).
const ENHANCED_CODE = /(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)/;
// A basic SMTP reply code where a server's reply is quoted: at a line start (after `<<<`, `#`), after "said",
// "error", "reply", "response", "smtp;", "deferred:".
const BASIC_CODES =
  /(?:^[ \t>#<]*|(?:said|error|reply|response|smtp|deferred|code|reason)[ \t]*[:;]?[ \t]*(?:\(|#)?)([245][0-5]\d)(?=[\s:-]|$)/gim;

function recipientAddress(value: string | null): string | null {
  if (!value) return null;
  const semi = value.indexOf(';');
  const type = semi === -1 ? 'rfc822' : value.slice(0, semi).trim().toLowerCase();
  if (type !== 'rfc822' && type !== 'utf-8' && type !== '') return null;
  const address = (semi === -1 ? value : value.slice(semi + 1))
    .replace(/\([^()]*\)/g, ' ')
    .trim()
    .replace(/^<|>$/g, '')
    .trim()
    .toLowerCase();
  return isAddress(address) ? address : null;
}

/** local@domain.tld, nothing more (checked without a backtracking pattern: the value may be long). */
function isAddress(value: string): boolean {
  const at = value.lastIndexOf('@');
  if (at <= 0 || value.length > 320) return false;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  return /^[^\s@<>]+$/.test(local) && /^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}$/.test(domain.replace(/\.$/, ''));
}

function afterType(value: string): string {
  return value
    .replace(/^[A-Za-z][\w-]*[ \t]*;[ \t]*/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

function parseDeliveryStatus(text: string): DeliveryStatus {
  const out: DeliveryStatus = { reportingMta: null, originalMessageId: null, recipients: [], fields: 0 };
  // Unfold into fields; blank lines (and prose) separate groups.
  const items: Array<{ name: string; value: string } | null> = [];
  for (const line of text.split(/\r?\n|\r/)) {
    const prev = items[items.length - 1];
    if (/^[ \t]+\S/.test(line) && prev) prev.value += ` ${line.trim()}`;
    else {
      const m = /^([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)$/.exec(line);
      items.push(m ? { name: m[1]!.toLowerCase(), value: m[2]!.trim() } : null);
    }
  }
  let current: (DsnRecipient & { closed: boolean }) | null = null;
  for (const item of items) {
    if (!item) {
      if (current && (current.original || current.final)) current.closed = true;
      continue;
    }
    out.fields++;
    const { name, value } = item;
    if (name === 'original-recipient' || name === 'final-recipient') {
      const key = name === 'original-recipient' ? 'original' : 'final';
      // A new recipient starts unless this field completes the one being read (Original- and Final- both come
      // first); a missing blank line between recipients is tolerated.
      if (
        !current ||
        current.closed ||
        current[key] !== null ||
        current.action ||
        current.status ||
        current.diagnostic
      ) {
        current = { original: null, final: null, action: null, status: null, diagnostic: null, closed: false };
        out.recipients.push(current);
      }
      current[key] = recipientAddress(value) ?? '';
    } else if (name === 'reporting-mta') out.reportingMta ??= afterType(value) || null;
    else if (name === 'x-original-message-id' || name === 'original-message-id')
      out.originalMessageId ??= normalizeMessageId(value);
    else if (current && !current.closed) {
      if (name === 'action') current.action = value.split(/[\s;(]/)[0]!.toLowerCase() || null;
      else if (name === 'status') {
        const m = ENHANCED_CODE.exec(value);
        current.status = m ? `${m[1]}.${m[2]}.${m[3]}` : null;
      } else if (name === 'diagnostic-code') current.diagnostic = afterType(value) || null;
    }
  }
  return out;
}

/** 5, 4 or null: the class of an enhanced status code, else of the first SMTP reply code in the text. */
function codeClass(status: string | null, text: string | null): '5' | '4' | null {
  if (status?.[0] === '5' || status?.[0] === '4') return status[0];
  if (!text) return null;
  const enhanced = ENHANCED_CODE.exec(text);
  if (enhanced && (enhanced[1] === '5' || enhanced[1] === '4')) return enhanced[1];
  for (const m of text.matchAll(BASIC_CODES)) {
    if (m[1]![0] === '5' || m[1]![0] === '4') return m[1]![0];
  }
  return null;
}

function fromDeliveryStatus(reports: DeliveryStatus[]): { recipients: BounceRecipient[]; kind: BounceKind } | null {
  const recipients: BounceRecipient[] = [];
  const seen = new Set<string>();
  let hard = false;
  for (const report of reports) {
    for (const r of report.recipients) {
      const address = r.original || r.final;
      if (!address) continue;
      // Only `failed` is a bounce; without an Action, a permanent status is read as one.
      const failed = r.action ? /^fail/.test(r.action) : r.status?.[0] === '5';
      if (!failed || seen.has(address)) continue;
      seen.add(address);
      // Given up on a 4.x.x is soft; failed with no code at all is final, so hard.
      if (codeClass(r.status, r.diagnostic) !== '4') hard = true;
      recipients.push({ address, status: r.status, action: r.action, diagnostic: r.diagnostic });
    }
  }
  return recipients.length === 0
    ? null
    : { recipients: recipients.slice(0, MAX_RECIPIENTS), kind: hard ? 'hard' : 'soft' };
}

// ---------------------------------------------------------------------------------------------------------
// Plain-text notices.

// Senders that only ever send delivery reports.
const DAEMON_LOCAL =
  /^(?:mailer[-_.]?daemon|mail[-_.]?daemon|postmaster|mail[-_.]?delivery(?:[-_.]?(?:system|subsystem|service))?|mdaemon|microsoftexchange[0-9a-f]{32}|mail[-_.]?admin(?:istrator)?|mailadm|mail[-_.]?router|smtp[-_.]?gateway)$/i;
const DAEMON_NAME =
  /mail(?:er)?[ -]?daemon|mail delivery (?:system|subsystem|service)|delivery subsystem|postmaster|post ?office|mail administrator|mail system|mail router|groupwise internet agent|internet mail delivery/i;
const NO_REPLY_LOCAL = /^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply)(?:[-_.+].*)?$/i;
// Local parts that are never the failed recipient.
const NEVER_RECIPIENT = /^(?:postmaster|mailer[-_.]?daemon|mail[-_.]?daemon|abuse)$/i;

const FORWARD_SUBJECT = /^\s*(?:fwd?|fw|tr|wg|rv|enc|vs|doorst|i)\s*:/i;
const AUTO_REPLY_SUBJECT =
  /^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response|answer)|autoreply|out of (?:the )?office|on vacation|vacation reply|abwesenheit|automatische antwort|resposta autom[aá]tica|respuesta autom[aá]tica|r[ée]ponse automatique|risposta automatica|automatisch antwoord|fuera de la oficina|fora do escrit[oó]rio|aus[êe]ncia tempor[aá]ria)/i;

// Wording of a failure report (matched against the subject and the report text, whitespace collapsed).
const FAILURE = new RegExp(
  [
    'qmail-send program',
    "(?:could ?n[o']?t|cannot|can ?n[o']?t|was ?n[o']?t|were ?n[o']?t|has ?n[o']?t|have ?n[o']?t|did ?n[o']?t|will ?n[o']?t|could ?n[o']?t) (?:be )?(?:been )?delivered",
    "(?:unable|not able|was ?n[o']?t able|failed) to deliver",
    'undeliverable',
    'undelivered mail',
    'non-?deliverable',
    'not deliverable',
    'delivery (?:has |to (?:the following|these) recipients? (?:has )?)?failed',
    'delivery failure',
    'delivery status notification \\(failure\\)',
    'failure notice',
    'failed permanently',
    'permanent (?:fatal )?(?:error|failure)',
    'returned mail',
    'mail delivery failed',
    'message not delivered',
    'address not found',
    "did ?n[o']?t reach (?:some or all of )?the intended recipient",
    'recipients?(?:\\(s\\))? (?:could not|cannot) be reached',
    'delivery to the following recipients? (?:failed|was unsuccessful)',
    'failure reasons',
    'following address(?:es|\\(es\\))? (?:had permanent fatal errors|failed)',
    'message (?:was|has been) (?:rejected|bounced|returned)',
    'returned to sender',
    'unzustellbar',
    'non remis',
    'impossible de remettre',
    'n[ãa]o (?:foi|[ée]) poss[íi]vel entregar',
    'no se (?:pudo|puede) entregar',
    'non recapitabile',
    'onbestelbaar',
    // Exchange / Microsoft 365 NDR bodies: "Delivery has failed to these recipients or groups" translated.
    'falha na entrega',
    'error en la entrega',
    'fehler bei der zustellung',
    '[ée]chec de (?:la )?remise',
    'recapito non riuscito',
  ].join('|'),
  'i',
);
// A notice that delivery is still being tried.
const DELAY = new RegExp(
  [
    'warning message only',
    'this is a warning',
    'delayed mail',
    'delivery (?:is |has been )?delayed',
    'delivery incomplete',
    'will (?:keep|continue) (?:on )?(?:trying|to try|retrying)',
    'will (?:retry|be retried|try again)',
    'still (?:undelivered|being retried)',
    'could not send message for past',
    'not yet been delivered',
    '\\(delay\\)',
    'message delayed',
  ].join('|'),
  'i',
);
// Words that make a notice final even if it also speaks of retrying.
const FINAL =
  /returned mail|failed permanently|permanent (?:fatal )?(?:error|failure)|i'?ve given up|gave up|giving up|will not (?:be )?(?:retried|retry|try)|no further (?:delivery )?attempts/i;
// Challenge-response: the message is held until the sender proves to be a person.
const CHALLENGE =
  /(?:verify|confirm)(?:ing)? (?:that )?you are (?:a )?(?:human|real person|not a (?:robot|spammer))|challenge[- ]response|spam ?arrest|boxbe|(?:click|follow|visit) (?:on )?(?:the |this )?(?:link|url|page) (?:below )?to (?:verify|confirm|release|have your message delivered)|(?:verify|confirm) (?:your|this) (?:e-?mail|message|address) (?:address )?(?:so|and) (?:that )?(?:it|your message) (?:can|will) be delivered|awaiting (?:your )?(?:verification|confirmation)|approved senders? list/i;
// Temporary causes, for the kind when the report gives no code.
const TEMPORARY =
  /mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the|its|their) (?:storage|quota)|insufficient (?:disk )?space|temporar|deferred|timed? ?out|\d+ (?:delivery )?attempts|for \d+ (?:days|hours)|try again later|greylist/i;

// Lines where a report's text ends and a copy of the original message begins.
const ORIGINAL_MARKER =
  /^[ \t]*(?:-{2,}[ \t]*(?:this is a copy of|below this line is a copy|original message|returned message|unsent message|undelivered message|message header|forwarded message|original headers)|(?:original message (?:follows|headers?)|below this line is a copy of the message|unsent message follows)[ \t.:]*$)/im;
const HEADER_LINE = /^([A-Za-z][A-Za-z0-9-]*)[ \t]*:/;
const CORE_HEADERS = new Set([
  'received',
  'return-path',
  'message-id',
  'date',
  'from',
  'to',
  'subject',
  'mime-version',
]);

const LOCAL_CHAR = /[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]/;
const DOMAIN_CHAR = /[A-Za-z0-9.-]/;
const EXPANDED_FROM = /<([^<>\s@]+@[^<>\s]+)>[ \t]*\(expanded from[ \t:]*<?([^<>\s@]+@[^<>\s)]+)>?\)/gi;

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ');
}

/** Index (into `lines`) of the first run of at least 3 header fields that includes a message's usual ones. */
function findHeaderBlock(lines: string[], from = 0): number {
  for (let i = from; i < lines.length; i++) {
    const m = HEADER_LINE.exec(lines[i]!);
    if (!m) continue;
    let fields = 0;
    let core = false;
    let j = i;
    for (; j < lines.length && j < i + 200; j++) {
      const line = lines[j]!;
      const field = HEADER_LINE.exec(line);
      if (field) {
        fields++;
        if (CORE_HEADERS.has(field[1]!.toLowerCase())) core = true;
      } else if (!(/^[ \t]+\S/.test(line) && fields > 0)) break;
    }
    if (fields >= 3 && core) return i;
    i = Math.max(i, j - 1);
  }
  return -1;
}

function headerBlockFromLines(lines: string[], start: number): Headers {
  return readHeaderBlock(Buffer.from(lines.slice(start, start + 500).join('\n'), 'utf8'), 0, false).headers;
}

/** The report's own text, and the header block of the copy of the original that follows it (if any). */
function splitReport(text: string): { report: string; original: Headers | null } {
  const marker = ORIGINAL_MARKER.exec(text);
  const lines = text.split(/\r?\n|\r/);
  let cut = lines.length;
  let headerStart = -1;
  if (marker) {
    cut = text.slice(0, marker.index).split(/\r?\n|\r/).length - 1;
    headerStart = findHeaderBlock(lines, cut + 1);
  } else {
    headerStart = findHeaderBlock(lines);
    if (headerStart !== -1) cut = headerStart;
  }
  return {
    report: lines.slice(0, cut).join('\n'),
    original: headerStart === -1 ? null : headerBlockFromLines(lines, headerStart),
  };
}

function addressesOf(headers: Headers | null, names: string[]): string[] {
  if (!headers) return [];
  return names.flatMap((name) => parseAddressList((headers.get(name) ?? []).join(', ')).map((a) => a.address));
}

/** Every address-like `local@domain` in a text, lower-cased: found from each '@' outwards, in linear time. */
function* addressesInText(text: string): Generator<{ address: string; index: number }> {
  let at = text.indexOf('@');
  while (at !== -1) {
    let start = at;
    while (start > 0 && start > at - 64 && LOCAL_CHAR.test(text[start - 1]!)) start--;
    let end = at + 1;
    while (end < text.length && end < at + 256 && DOMAIN_CHAR.test(text[end]!)) end++;
    const local = text.slice(start, at).replace(/^[.'=]+/, '');
    const domain = text.slice(at + 1, end).replace(/[.-]+$/, '');
    if (local && domain) yield { address: `${local}@${domain}`.toLowerCase(), index: at - local.length };
    at = text.indexOf('@', Math.max(end, at + 1));
  }
}

/** The addresses a report's text names, but not its own sender's, the bounced message's sender's or the daemons'. */
function addressesInReport(report: string, exclude: Set<string>): string[] {
  const found: string[] = [];
  const seen = new Set(exclude);
  // Postfix: "<alias@host> (expanded from <what-was-sent-to@domain>)": the address that was written is the one.
  for (const m of report.matchAll(EXPANDED_FROM)) seen.add(m[1]!.toLowerCase());
  for (const m of addressesInText(report)) {
    const before = report.slice(Math.max(0, m.index - 24), m.index);
    // The envelope sender in a transcript, and ids in Received lines, are not recipients.
    if (/(?:mail from|envelope-from|return-path|sender|\bid|message-id)[ \t:=]*<?$/i.test(before)) continue;
    const address = m.address;
    if (!isAddress(address) || NEVER_RECIPIENT.test(address.slice(0, address.lastIndexOf('@')))) continue;
    if (seen.has(address)) continue;
    seen.add(address);
    found.push(address);
    if (found.length >= MAX_RECIPIENTS) break;
  }
  return found;
}

/** The lines from line `i`: up to 6, or to a blank line, whitespace collapsed. */
function windowAt(lines: string[], i: number): string {
  const window: string[] = [];
  for (let j = i; j < lines.length && j < i + 6; j++) {
    if (j > i && lines[j]!.trim() === '') break;
    window.push(lines[j]!);
  }
  return collapse(window.join(' ')).trim();
}

/**
 * What the report says about one address: the lines that name it, the first of them with a status code. When
 * the report is about a single address, its first coded lines are about that address even if they do not name it
 * (Gmail: "The response was: 550 5.1.1 …").
 */
function textRecipient(lines: string[], lower: string[], address: string, single: boolean): BounceRecipient {
  const windows: string[] = [];
  for (let i = 0; i < lines.length && windows.length < 10; i++)
    if (lower[i]!.includes(address)) windows.push(windowAt(lines, i));
  let coded = windows.find((w) => codeClass(null, w) !== null);
  if (!coded && single) {
    const i = lines.findIndex((line) => codeClass(null, line) !== null);
    if (i !== -1) coded = windowAt(lines, i);
  }
  const described = coded ?? windows.find((w) => w.length > address.length + 8) ?? null;
  const status = coded ? ENHANCED_CODE.exec(coded) : null;
  return {
    address,
    status: status ? `${status[1]}.${status[2]}.${status[3]}` : null,
    action: null,
    diagnostic: described ? described.slice(0, 500) : null,
  };
}

function reporterInText(text: string): string | null {
  const m =
    /qmail-send program at ([\w.-]+)/i.exec(text) ??
    /mail system at host ([\w.-]+)/i.exec(text) ??
    /Generating server:[ \t]*([\w.-]+)/i.exec(text) ??
    /Reporting-MTA:[ \t]*dns;[ \t]*([\w.-]+)/i.exec(text) ??
    /This message was generated by ([\w.-]+)/i.exec(text);
  return m ? m[1]!.replace(/\.+$/, '') : null;
}

function isDaemon(address: Address | null): boolean {
  if (!address) return false;
  const local = address.address.slice(0, address.address.lastIndexOf('@'));
  return DAEMON_LOCAL.test(local) || (address.name !== null && DAEMON_NAME.test(address.name));
}

function isAutoReply(message: ParsedMessage, headers: Headers, mailSystem: boolean): boolean {
  if (AUTO_REPLY_SUBJECT.test(message.subject ?? '')) return true;
  if (['x-autoreply', 'x-autorespond', 'x-autoresponder'].some((h) => headers.has(h))) return true;
  if (/vacation/i.test(firstHeader(headers, 'x-apple-action') ?? '')) return true;
  // Postfix and Exim mark their bounces auto-replied too: only a person's (or a vacation program's) counts.
  return message.autoSubmitted === 'auto-replied' && !mailSystem;
}

// ---------------------------------------------------------------------------------------------------------

/**
 * Whether a message is a bounce, and what it says: the failed recipients, the kind, the bounced message's id.
 * `parsed` is the message as parse-message read it (its headers are used); without it the headers are read here.
 * Null for anything that is not a failure report. Does not throw; reads at most a bounded part of huge messages.
 */
export function detectBounce(raw: Buffer, parsed?: ParsedMessage): BounceInfo | null {
  const message = parsed ?? parseMessageHeaders(raw);
  if (message.reportType === 'disposition-notification' || message.reportType === 'feedback-report') return null;

  const root = parsePart(raw, 0, { parts: 0 });
  const found: ReportParts = {
    texts: [],
    htmls: [],
    deliveryStatus: [],
    originals: [],
    receipt: false,
    feedback: false,
    budget: MAX_TEXT_TOTAL,
  };
  collectParts(root, found);
  if (found.receipt || found.feedback) return null;
  if (found.texts.length === 0 && root.preamble && root.preamble.length > 0) {
    found.texts.push(decodeText(root.preamble.subarray(0, MAX_TEXT_BYTES), undefined));
  }

  const reports = found.deliveryStatus.map(parseDeliveryStatus);
  for (const [i, report] of reports.entries()) {
    // A part labelled delivery-status that holds prose is read as the report's text.
    if (report.recipients.length === 0 && report.fields === 0) found.texts.push(found.deliveryStatus[i]!);
  }
  const text =
    found.texts.length > 0
      ? found.texts.join('\n\n')
      : found.htmls.map((html) => htmlToPlain(html, { maxLength: MAX_TEXT_BYTES })).join('\n\n');
  const { report, original: originalInText } = splitReport(text);
  const original = found.originals.find((h) => h.has('message-id')) ?? found.originals[0] ?? originalInText;

  const originalMessageId =
    normalizeMessageId(firstHeader(original ?? new Map(), 'message-id')) ??
    reports.map((r) => r.originalMessageId).find((id) => id !== null) ??
    normalizeMessageId(firstHeader(originalInText ?? new Map(), 'message-id')) ??
    // A multipart report whose original part was lost to broken framing (a boundary that does not match).
    (found.originals.length === 0 && root.type.startsWith('multipart/') ? originalIdInRaw(raw) : null) ??
    message.inReplyTo;

  const reportingMta = reports.map((r) => r.reportingMta).find((m) => m !== null) ?? null;

  // RFC 3464: the report says, recipient by recipient, what happened. Recipients but none failed (delays,
  // successes) is not a bounce, whatever the text says.
  if (reports.some((r) => r.recipients.some((x) => x.original || x.final))) {
    const failed = fromDeliveryStatus(reports);
    if (!failed) return null;
    return {
      ...failed,
      originalMessageId,
      reporter: reportingMta ?? reporterInText(report) ?? message.from?.address ?? null,
    };
  }

  // A notice in words. It must come from a mail system, not from a person (a forwarded bounce).
  const headers = root.headers;
  const daemon = isDaemon(message.from) || isDaemon(message.sender);
  const nullSender = ['return-path', 'x-envelope-from'].some((h) =>
    /^<\s*>$/.test((firstHeader(headers, h) ?? '').trim()),
  );
  const failedHeader = parseAddressList((headers.get('x-failed-recipients') ?? []).join(', ')).map((a) => a.address);
  const reportLike = message.reportType === 'delivery-status';
  const strongSender = daemon || nullSender || failedHeader.length > 0 || reportLike;
  const noReply =
    message.from !== null && NO_REPLY_LOCAL.test(message.from.address.slice(0, message.from.address.lastIndexOf('@')));
  if (!strongSender && !noReply && message.autoSubmitted !== 'auto-generated') return null;
  const subject = message.subject ?? '';
  if (FORWARD_SUBJECT.test(subject) || isAutoReply(message, headers, daemon || failedHeader.length > 0)) return null;

  const scan = collapse(`${subject}\n${report.slice(0, MAX_SCAN_CHARS)}`);
  if (CHALLENGE.test(scan) || !FAILURE.test(scan)) return null;
  if (DELAY.test(scan) && !FINAL.test(scan)) return null;

  const exclude = new Set([
    ...[message.from, message.sender].filter((a): a is Address => a !== null).map((a) => a.address),
    ...message.to.map((a) => a.address),
    ...message.cc.map((a) => a.address),
    ...addressesOf(headers, ['delivered-to', 'x-original-to', 'return-path']),
    ...addressesOf(original, ['from', 'sender', 'reply-to', 'return-path']),
  ]);
  let addresses = failedHeader.length > 0 ? failedHeader : addressesInReport(report, exclude);
  if (addresses.length === 0) {
    // The report names no one: a message that went to a single address failed for that address.
    const sentTo = [...new Set(addressesOf(original, ['to', 'cc']))];
    if (sentTo.length === 1) addresses = sentTo;
  }
  // A no-reply sender's notice must at least say who it is about.
  if (addresses.length === 0 && !strongSender) return null;

  const lines = report.split(/\r?\n|\r/);
  const lower = lines.map((line) => line.toLowerCase());
  const recipients = addresses.map((address) => textRecipient(lines, lower, address, addresses.length === 1));
  const classes = recipients.map((r) => codeClass(r.status, r.diagnostic)).filter((c) => c !== null);
  const overall = classes.length > 0 ? classes : [codeClass(null, report)].filter((c) => c !== null);
  let kind: BounceKind;
  if (overall.includes('5')) kind = 'hard';
  else if (overall.includes('4') || TEMPORARY.test(scan)) kind = 'soft';
  else kind = 'hard';
  return {
    kind,
    recipients,
    originalMessageId,
    reporter: reportingMta ?? reporterInText(report) ?? message.from?.address ?? null,
  };
}

/**
 * The Message-ID of an original message whose MIME framing is broken (a boundary that does not match): the header
 * block after the first `Content-Type: message/rfc822` or `text/rfc822-headers` line in the raw message.
 */
function originalIdInRaw(raw: Buffer): string | null {
  const text = raw.toString('latin1', 0, Math.min(raw.length, 4 * 1024 * 1024));
  const m = /^content-type:[ \t]*(?:message\/(?:rfc822|global)|text\/rfc822-headers|message\/global-headers)\b/im.exec(
    text,
  );
  if (!m) return null;
  // Past the rest of that part's header block, to the copied headers.
  const blank = /\r?\n\r?\n/g;
  blank.lastIndex = m.index;
  const gap = blank.exec(text);
  if (!gap) return null;
  const headers = readHeaderBlock(raw, gap.index + gap[0].length, false).headers;
  return normalizeMessageId(firstHeader(headers, 'message-id'));
}
