// Turns one raw RFC 5322 message into what the sync engine stores: normalised threading ids, decoded
// participants, the routing headers the smart mapping reads, sanitised bodies, attachments and a snippet.
// It never throws: whatever cannot be read is reported in `parseError` next to what could (headers at least).
//
// Split of work: the top-level header block is read here, from the raw bytes, because that is where legacy
// mail breaks (raw 8-bit names and subjects in some charset, absurdly long To lines) and because a message
// whose body cannot be parsed still needs its headers. postal-mime parses the MIME body (parts, transfer
// encodings, charsets via TextDecoder, RFC 2231 filenames); it is handed only the top-level Content-* fields,
// so it never re-parses the address lines. Limits: overall size, MIME nesting depth, total header bytes, and
// the length of a single header field (longer ones are cut, at an address boundary where possible).
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import chardet from 'chardet';
import PostalMime, { addressParser, decodeWords, type Address as PostalAddress } from 'postal-mime';
import { decoderFor, fixC1, isAscii } from './charsets.js';
import { decodeTransfer } from './decode-transfer.js';
import { sanitizeHtml } from './sanitize-html.js';
import { htmlToPlain } from './html-to-plain.js';
import { flattenDeepHtml } from './flatten-deep-html.js';
import { normalizeMessageId } from '../rules/message-key.js';
import type { BlobRef } from '../../storage/blob-store.js';

/** A participant's address, lower-cased, with its display name: one definition for scan, parser and rules. */
export type { Address } from '../rules/participants.js';
import type { Address } from '../rules/participants.js';

export interface ParsedAttachment {
  filename: string | null;
  contentType: string;
  size: number;
  content: Buffer;
  /** Without angle brackets, as `cid:` URLs name it. */
  contentId: string | null;
  /** Shown inside the body (referenced by cid from the HTML, or inline with a Content-ID) rather than listed. */
  inline: boolean;
}

export interface ParsedMessage {
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  subject: string | null;
  /** Epoch milliseconds; null when missing or unparseable. */
  date: number | null;
  from: Address | null;
  sender: Address | null;
  replyTo: Address[];
  to: Address[];
  cc: Address[];
  bcc: Address[];
  listId: string | null;
  /** X-Original-From (mailing lists that rewrite From, e.g. Google Groups). */
  originalFrom: Address | null;
  autoSubmitted: string | null;
  precedence: string | null;
  /** Top-level type/subtype, lower-cased, e.g. multipart/report. */
  contentType: string;
  /** report-type of a multipart/report (delivery-status, disposition-notification, feedback-report). */
  reportType: string | null;
  text: string | null;
  /** Sanitised for display (see sanitize-html.ts). */
  html: string | null;
  snippet: string;
  attachments: ParsedAttachment[];
  /** Bytes of the raw message. */
  size: number;
  parseError: string | null;
  /**
   * Set when the parse pool wrote the raw message and the attachments to the blob files (ParseOptions.storeBlobs):
   * `attachments[i]` is stored as `blobs.attachments[i]`, and its `content` is then empty.
   */
  blobs?: { raw: BlobRef; attachments: BlobRef[] };
}

export interface ParseLimits {
  /** A larger message is not parsed: headers only, plus a parseError. */
  maxBytes: number;
  /** Depth of nested MIME parts; deeper → headers only, plus a parseError. */
  maxNestingDepth: number;
  /** Header bytes across all parts (the top-level block included); more → headers only, plus a parseError. */
  maxHeadersSize: number;
  /** One unfolded header field; a longer one is cut and noted in parseError. */
  maxHeaderLength: number;
  /**
   * MIME parts (counted as lines starting with `--`, an upper bound of boundary lines); more → headers only,
   * plus a parseError. Parsing costs ~20 µs and ~1.5 KB of heap per part: a few MB of empty parts would
   * otherwise take seconds and gigabytes.
   */
  maxParts: number;
  /**
   * Characters of the HTML body; a longer one is not sanitised (the sanitiser's cost would hold the worker for
   * seconds): it is kept as text only, noted in parseError.
   */
  maxHtmlLength: number;
  /**
   * Element nesting of the HTML body; deeper markup is unwrapped before sanitising (text kept, noted in parseError).
   */
  maxHtmlDepth: number;
}

export interface ParseOptions {
  /** Every message/rfc822 part comes back as an attachment, none is rendered into the body (the BCC forwards). */
  messagePartsAsAttachments?: boolean;
  /**
   * Parse pool only (ParsePoolOptions.blobFiles; parseMessage itself ignores it): the worker also writes the raw
   * message and its attachments to the blob files, and the result's `blobs` holds their refs instead of the
   * attachments' bytes. When a write fails the result comes back as without it, for the caller to write.
   */
  storeBlobs?: boolean;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxBytes: 50 * 1024 * 1024,
  maxNestingDepth: 50,
  maxHeadersSize: 1024 * 1024,
  maxHeaderLength: 64 * 1024,
  maxParts: 10_000,
  // Newsletters run to a few hundred KB; 4 MiB of HTML sanitises in well under a second once its depth is bounded.
  maxHtmlLength: 4 * 1024 * 1024,
  // Table layouts of real mail nest 20-40 deep; sanitising 2 MB at depth 100 takes ~0.1 s.
  maxHtmlDepth: 100,
});

const SNIPPET_LENGTH = 200;
// Nested message/rfc822 parts rendered into the body; deeper ones stay attachments.
const MAX_RFC822_DEPTH = 5;
// How much of a body charset detection looks at.
const DETECTION_SAMPLE = 64 * 1024;

export function resolveLimits(limits?: Partial<ParseLimits>): ParseLimits {
  const out: ParseLimits = { ...DEFAULT_PARSE_LIMITS };
  for (const key of Object.keys(DEFAULT_PARSE_LIMITS) as Array<keyof ParseLimits>) {
    const value = limits?.[key];
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) out[key] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// The top-level header block, read from raw bytes.

interface HeaderField {
  /** Lower-cased field name. */
  key: string;
  /** Unfolded value bytes (leading whitespace trimmed). */
  value: Buffer;
  /** The field exactly as written, folding included, for re-feeding to the MIME parser. */
  raw: Buffer;
}

interface HeaderBlock {
  fields: HeaderField[];
  /** Offset of the first body byte (raw.length when there is no body). */
  bodyStart: number;
  /** The block did not end within maxHeadersSize. */
  truncated: boolean;
}

function readHeaderBlock(raw: Buffer, maxHeadersSize: number): HeaderBlock {
  const fields: Array<{ key: string; lines: Buffer[]; start: number; end: number }> = [];
  const limit = Math.min(raw.length, maxHeadersSize);
  let pos = 0;
  let bodyStart = raw.length;
  let truncated = false;
  let first = true;
  while (pos < raw.length) {
    if (pos >= limit) {
      truncated = true;
      break;
    }
    let nl = raw.indexOf(0x0a, pos);
    const next = nl === -1 ? raw.length : nl + 1;
    if (nl === -1) nl = raw.length;
    const end = nl > pos && raw[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === pos) {
      bodyStart = next;
      break;
    }
    const line = raw.subarray(pos, end);
    const c = line[0];
    const current = fields[fields.length - 1];
    if (first && /^From [^:]*$/.test(line.toString('latin1', 0, Math.min(line.length, 200)))) {
      // mbox separator line ("From sender date"), not a From: field
    } else if ((c === 0x20 || c === 0x09) && !current) {
      // The block starts indented: read the line as a field rather than lose it.
      const trimmed = trimStart(line);
      const colon = trimmed.indexOf(0x3a);
      if (colon > 0) {
        const key = trimmed.toString('latin1', 0, colon).trim().toLowerCase();
        fields.push({ key, lines: [trimmed.subarray(colon + 1)], start: pos, end: next });
      }
    } else if (c === 0x20 || c === 0x09) {
      current!.lines.push(line);
      current!.end = next;
    } else {
      const colon = line.indexOf(0x3a);
      if (colon > 0) {
        const key = line.toString('latin1', 0, colon).trim().toLowerCase();
        fields.push({ key, lines: [line.subarray(colon + 1)], start: pos, end: next });
      } else if (current) {
        // A line with no colon inside the block: a continuation someone forgot to indent.
        current.lines.push(Buffer.concat([Buffer.from(' '), line]));
        current.end = next;
      }
    }
    first = false;
    pos = next;
  }
  return {
    fields: fields.map((f) => ({
      key: f.key,
      value: trimStart(f.lines.length === 1 ? f.lines[0]! : Buffer.concat(f.lines)),
      raw: raw.subarray(f.start, f.end),
    })),
    bodyStart,
    truncated,
  };
}

function trimStart(buf: Buffer): Buffer {
  let i = 0;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09)) i++;
  return buf.subarray(i);
}

const windows1252 = new TextDecoder('windows-1252');
const utf8 = new TextDecoder('utf-8');

const US_ASCII = new Set(['us-ascii', 'ascii', 'us_ascii', 'ansi_x3.4-1968', '646', 'iso646-us']);
const DETECTABLE = new Set([
  'Shift_JIS',
  'EUC-JP',
  'ISO-2022-JP',
  'Big5',
  'GB18030',
  'EUC-KR',
  'ISO-2022-KR',
  'ISO-2022-CN',
  'KOI8-R',
  'windows-1251',
  'ISO-8859-5',
  'windows-1256',
  'windows-1253',
  'ISO-8859-7',
  'windows-1255',
  'ISO-8859-8',
  'UTF-16LE',
  'UTF-16BE',
]);

/**
 * The charset of 8-bit text that declares none (or declares us-ascii and lies): UTF-8 when it is valid
 * UTF-8, else what chardet is confident about among scripts it tells apart reliably (CJK, Cyrillic, Greek,
 * Hebrew, Arabic), else windows-1252, the superset of Latin-1 that such mail nearly always is.
 */
function guessCharset(sample: Uint8Array): string {
  if (isUtf8(sample) || isUtf8(sample.subarray(0, lastCompleteUtf8(sample)))) return 'utf-8';
  const best = chardet.analyse(sample)[0];
  if (best && best.confidence >= 50 && DETECTABLE.has(best.name) && decoderFor(best.name)) return best.name;
  return 'windows-1252';
}

/** UTF-8 with a stray invalid byte or two (a cut sequence, a lone Latin-1 byte) is still UTF-8. */
function mostlyUtf8(bytes: Uint8Array): string | null {
  const text = utf8.decode(bytes);
  let bad = 0;
  let wide = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0xfffd) bad++;
    else if (code > 0x7f) wide++;
  }
  return wide >= 4 && bad * 10 <= wide ? text : null;
}

/** Length of a prefix that does not end inside a UTF-8 sequence (for samples cut from a longer text). */
function lastCompleteUtf8(buf: Uint8Array): number {
  let i = buf.length;
  for (let back = 0; back < 4 && i > 0; back++) {
    const b = buf[i - 1]!;
    if ((b & 0xc0) === 0x80) {
      i--;
      continue;
    }
    return b >= 0xc0 ? i - 1 : buf.length;
  }
  return buf.length;
}

class HeaderReader {
  private readonly byKey = new Map<string, HeaderField[]>();
  private fallback: TextDecoder | null | undefined;
  /** Cut fields, as parseError text. */
  readonly notes = new Set<string>();

  constructor(
    readonly fields: HeaderField[],
    private readonly maxHeaderLength: number,
  ) {
    for (const field of fields) {
      const list = this.byKey.get(field.key);
      if (list) list.push(field);
      else this.byKey.set(field.key, [field]);
    }
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Every value of a field, decoded to a string (encoded-words left as they are). */
  all(key: string): string[] {
    return (this.byKey.get(key) ?? []).map((f) => this.decode(f));
  }

  first(key: string): string | null {
    const field = this.byKey.get(key)?.[0];
    return field ? this.decode(field) : null;
  }

  private decode(field: HeaderField): string {
    let bytes = field.value;
    if (bytes.length > this.maxHeaderLength) {
      this.notes.add(`header ${field.key} is ${bytes.length} bytes, cut to ${this.maxHeaderLength}`);
      bytes = bytes.subarray(0, this.maxHeaderLength);
    }
    let text: string;
    if (isAscii(bytes)) text = bytes.toString('latin1');
    else if (isUtf8(bytes))
      text = utf8.decode(bytes); // RFC 6532, and what most modern senders do
    else text = mostlyUtf8(bytes) ?? this.fallbackDecoder().decode(bytes);
    return fixC1(text.replace(/[\r\n]+/g, '').trim());
  }

  // Raw 8-bit header bytes that are not UTF-8: the charset the message declares for its body, else a guess
  // over all such header bytes together (more text, better guess), else windows-1252.
  private fallbackDecoder(): TextDecoder {
    if (this.fallback === undefined) {
      const declared = parseStructured(this.firstAscii('content-type') ?? '').params.charset;
      let decoder = declared && !US_ASCII.has(declared.toLowerCase()) ? decoderFor(declared) : null;
      if (!decoder || decoder.encoding === 'utf-8') {
        const eightBit = this.fields.filter((f) => !isAscii(f.value)).map((f) => f.value.subarray(0, 4096));
        decoder = decoderFor(guessCharset(Buffer.concat(eightBit).subarray(0, DETECTION_SAMPLE)));
      }
      this.fallback = decoder ?? windows1252;
    }
    return this.fallback ?? windows1252;
  }

  private firstAscii(key: string): string | null {
    const field = this.byKey.get(key)?.[0];
    return field ? field.value.toString('latin1').replace(/[\r\n]+/g, '') : null;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Field syntax.

interface Structured {
  value: string;
  params: Record<string, string>;
}

/** `type/subtype; name=value; name="quoted"` — enough for the top-level Content-Type and its charset. */
export function parseStructured(header: string): Structured {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < header.length; i++) {
    const c = header[i]!;
    if (quoted) {
      if (c === '\\' && i + 1 < header.length) current += header[++i];
      else if (c === '"') quoted = false;
      else current += c;
    } else if (c === '"') quoted = true;
    else if (c === ';') {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  const params: Record<string, string> = {};
  for (const part of parts.slice(1)) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim().toLowerCase();
    if (name && !(name in params)) params[name] = part.slice(eq + 1).trim();
  }
  return { value: (parts[0] ?? '').trim().toLowerCase(), params };
}

function stripComments(value: string): string {
  let out = value;
  // Innermost first; bounded so that a crafted header cannot loop for long.
  for (let i = 0; i < 8 && out.includes('('); i++) {
    const next = out.replace(/\((?:[^()\\]|\\.)*\)/g, ' ');
    if (next === out) break;
    out = next;
  }
  return out;
}

/** One definition of a Message-ID's normal form for the whole engine: the sync rules' (dedupe and thread keys). */
export { normalizeMessageId };

/** All message ids in References/In-Reply-To, in order, normalised, duplicates dropped. */
export function extractMessageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  const text = stripComments(value);
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (candidate: string): void => {
    const id = normalizeMessageId(candidate);
    if (id && !seen.has(id)) {
      seen.add(id);
      out.push(id);
    }
  };
  const bracketed = text.match(/<[^<>]*>/g);
  if (bracketed) for (const m of bracketed) add(m);
  else for (const token of text.split(/[\s,]+/)) add(token);
  return out;
}

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};
const ZONES: Record<string, number> = {
  ut: 0,
  utc: 0,
  gmt: 0,
  z: 0,
  est: -300,
  edt: -240,
  cst: -360,
  cdt: -300,
  mst: -420,
  mdt: -360,
  pst: -480,
  pdt: -420,
};

/** RFC 5322 date (obsolete forms included), ISO 8601, or asctime; epoch ms, or null for anything else. */
export function parseDate(value: string | null | undefined): number | null {
  if (!value) return null;
  const text = stripComments(value).replace(/\s+/g, ' ').replace(/ ?: ?/g, ':').trim();
  let m =
    /(\d{1,2})[ -]([A-Za-z]{3})[A-Za-z]*\.?[ -](\d{2,4}),? (\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)? ?([+-]\d{1,2}:?\d{2}|[A-Za-z]{1,5})?/.exec(
      text,
    );
  if (m) return build(m[3]!, m[2]!, m[1]!, m[4]!, m[5]!, m[6], m[7]);
  // asctime: "Tue Jul  1 10:52:37 2003"
  m = /([A-Za-z]{3}) (\d{1,2}) (\d{1,2}):(\d{2})(?::(\d{2}))? (?:([A-Za-z]{1,5}|[+-]\d{4}) )?(\d{4})/.exec(text);
  if (m) return build(m[7]!, m[1]!, m[2]!, m[3]!, m[4]!, m[5], m[6]);
  if (/^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const ms = Date.parse(text.replace(' ', 'T'));
    return Number.isFinite(ms) ? ms : null;
  }
  return null;
}

function build(
  yearText: string,
  monthText: string,
  dayText: string,
  hourText: string,
  minuteText: string,
  secondText: string | undefined,
  zoneText: string | undefined,
): number | null {
  const month = MONTHS[monthText.slice(0, 3).toLowerCase()];
  if (month === undefined) return null;
  let year = Number(yearText);
  if (yearText.length === 2) year += year < 50 ? 2000 : 1900;
  else if (yearText.length === 3) year += 1900;
  const day = Number(dayText);
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Math.min(Number(secondText ?? 0), 59);
  if (day < 1 || day > 31 || hour > 23 || minute > 59) return null;
  let offset = 0;
  if (zoneText) {
    const numeric = /^([+-])(\d{1,2}):?(\d{2})$/.exec(zoneText);
    if (numeric) {
      const minutes = Number(numeric[2]) * 60 + Number(numeric[3]);
      if (Number(numeric[3]) < 60 && minutes <= 18 * 60) offset = (numeric[1] === '-' ? -1 : 1) * minutes;
    } else offset = ZONES[zoneText.toLowerCase()] ?? 0;
  }
  const ms = Date.UTC(year, month, day, hour, minute, second);
  if (new Date(ms).getUTCDate() !== day) return null; // 31 Feb and friends
  return ms - offset * 60_000;
}

const ADDRESS = /^[^\s@<>()[\]\\,;:"]+@[^\s@<>()[\]\\,;:"]+$/;

/** `A <a@x> B <b@x>` (commas forgotten) → `A <a@x>, B <b@x>`; quoted strings and comments are respected. */
function insertMissingCommas(value: string): string {
  let out = '';
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    out += c;
    if (quoted) {
      if (c === '\\') out += value[++i] ?? '';
      else if (c === '"') quoted = false;
    } else if (depth > 0) {
      if (c === '\\') out += value[++i] ?? '';
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '"') quoted = true;
    else if (c === '(') depth++;
    else if (c === '>') {
      let j = i + 1;
      while (j < value.length && (value[j] === ' ' || value[j] === '\t')) j++;
      const after = value[j];
      if (after !== undefined && after !== ',' && after !== ';' && after !== '(') out += ',';
    }
  }
  return out;
}

function flatten(list: PostalAddress[], out: Array<{ address: string; name: string }>): void {
  for (const entry of list) {
    if (entry.group) flatten(entry.group, out);
    else out.push({ address: entry.address ?? '', name: entry.name ?? '' });
  }
}

/** An address list header → valid, lower-cased, de-duplicated mailboxes; groups flattened. */
export function parseAddressList(value: string | null | undefined): Address[] {
  if (!value) return [];
  const mailboxes: Array<{ address: string; name: string }> = [];
  flatten(addressParser(insertMissingCommas(value)), mailboxes);
  const out: Address[] = [];
  const seen = new Set<string>();
  for (const mailbox of mailboxes) {
    const address = stripComments(mailbox.address).replace(/\s+/g, '').toLowerCase();
    if (!ADDRESS.test(address) || seen.has(address)) continue;
    seen.add(address);
    const name = fixC1(mailbox.name).replace(/\s+/g, ' ').trim();
    out.push({ address, name: name === '' ? null : name });
  }
  return out;
}

function firstAddress(values: string[]): Address | null {
  for (const value of values) {
    const [address] = parseAddressList(value);
    if (address) return address;
  }
  return null;
}

function unstructured(value: string | null): string | null {
  if (value === null) return null;
  const text = fixC1(decodeWords(value))
    .replace(/[\r\n\t]+/g, ' ')
    .trim();
  return text === '' ? null : text;
}

function token(value: string | null): string | null {
  if (value === null) return null;
  const text = stripComments(value).split(';')[0]!.trim().toLowerCase();
  return text === '' ? null : text;
}

function listIdOf(value: string | null): string | null {
  if (value === null) return null;
  const m = /<([^<>]+)>/.exec(value);
  const id = (m ? m[1]! : stripComments(value)).replace(/\s+/g, '').toLowerCase();
  return id === '' ? null : id;
}

// ---------------------------------------------------------------------------------------------------------
// Snippet.

// "On <date>, <name> wrote:" in the languages our users' contacts write in; the line must carry a date or an
// address (or be the bare word, when a client wrapped the line) so that "here is what she wrote:" survives.
const REPLY_HEADER_END =
  /(?:^|\s)(?:wrote|escreveu|escribió|a écrit|schrieb|scrisse|schreef|napisał|skrev|kirjoitti|написал|написала)\s*:\s*$/i;
const REPLY_HEADER_START = /^\s*(?:On|Em|El|Le|Am|Op|Il|W dniu)\b/;
// What follows these is someone else's message (or a signature).
const SEPARATOR =
  /^\s*(?:-{2,}\s*(?:Original Message|Mensagem original|Mensaje original|Message d'origine|Ursprüngliche Nachricht|Forwarded message|Mensagem encaminhada|Mensaje reenviado)\s*-{2,}|_{20,}|-- ?)\s*$/i;
const DEVICE_FOOTER = /^\s*(?:Sent from my|Enviado do meu|Enviado desde mi|Envoyé de mon|Von meinem)\b/i;

/** The first half of a reply header that a client wrapped: "On Mon, 2 Apr 2012 at 18:26, Megan <" */
function isWrappedHeaderStart(line: string): boolean {
  return REPLY_HEADER_START.test(line) || /<\s*$/.test(line) || /\d{1,2}:\d{2}/.test(line);
}

function isReplyHeader(line: string): boolean {
  return REPLY_HEADER_END.test(line) && (/[\d@]/.test(line) || line.trim().split(/\s+/).length <= 2);
}

/** First ~200 readable characters: quoted lines, reply headers and signatures dropped where easy. */
export function makeSnippet(text: string | null, html: string | null): string {
  let body = text ?? (html ? htmlToPlain(html) : '');
  if (body.length > 20_000) body = body.slice(0, 20_000);
  const own: string[] = [];
  let ownLength = 0;
  for (const line of body.split(/\r?\n|\r/)) {
    const reply = isReplyHeader(line);
    if (reply || SEPARATOR.test(line)) {
      // With nothing of the sender's own yet (a bottom-posted reply, a bare forward) read past it.
      if (ownLength === 0) continue;
      if (reply && own.length > 0 && isWrappedHeaderStart(own[own.length - 1]!)) own.pop();
      break;
    }
    if (/^\s*>/.test(line) || DEVICE_FOOTER.test(line)) continue;
    own.push(line);
    ownLength += line.trim().length;
    if (ownLength > SNIPPET_LENGTH * 4) break;
  }
  let snippet = collapse(own.join(' '));
  if (snippet === '') snippet = collapse(body);
  if (snippet.length <= SNIPPET_LENGTH) return snippet;
  let end = SNIPPET_LENGTH;
  const space = snippet.lastIndexOf(' ', end);
  if (space > SNIPPET_LENGTH * 0.75) end = space;
  else if (/[\udc00-\udfff]/.test(snippet[end] ?? '')) end--; // do not split a surrogate pair
  return `${snippet.slice(0, end).trimEnd()}…`;
}

function collapse(text: string): string {
  // eslint-disable-next-line no-misleading-character-class -- single invisible spaces, not one joined sequence
  return text.replace(/[\s\u00a0\u200b\u200c\u200d\ufeff]+/g, ' ').trim();
}

// ---------------------------------------------------------------------------------------------------------
// Body.

/**
 * A single-part text message with no charset, or us-ascii over 8-bit bytes, is common in old and badly
 * configured mail; postal-mime would read it as UTF-8 (replacement characters) or windows-1252. Here the
 * bytes decide, and the Content-Type handed to the MIME parser says what they are. Multipart bodies are left
 * to the parser's own defaults.
 */
function repairedContentType(contentType: string | null, encoding: string | null, body: Buffer): string | null {
  const parsed = parseStructured(contentType ?? 'text/plain');
  if (!parsed.value.startsWith('text/')) return null;
  const declared = parsed.params.charset?.toLowerCase();
  if (declared && !US_ASCII.has(declared)) return null;
  const sample = decodeTransfer(body.subarray(0, DETECTION_SAMPLE * 2), (encoding ?? '').trim().toLowerCase());
  const bytes = sample.subarray(0, DETECTION_SAMPLE);
  if (isAscii(bytes)) return null;
  const charset = guessCharset(bytes);
  const params = Object.entries({ ...parsed.params, charset })
    .map(([k, v]) => `; ${k}="${v.replace(/["\\]/g, '\\$&')}"`)
    .join('');
  return `${parsed.value}${params}`;
}

function contentTypeOf(value: string | null): string {
  const type = parseStructured(value ?? '').value;
  return /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(type) ? type : 'text/plain'; // RFC 2045 §5.2
}

function toBuffer(content: ArrayBuffer | Uint8Array | string): Buffer {
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  if (content instanceof ArrayBuffer) return Buffer.from(content);
  return Buffer.from(content.buffer, content.byteOffset, content.byteLength);
}

function stripBrackets(value: string | undefined): string | null {
  if (!value) return null;
  const id = value.trim().replace(/^<|>$/g, '').trim();
  return id === '' ? null : id;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---------------------------------------------------------------------------------------------------------

function emptyMessage(size: number, parseError: string | null): ParsedMessage {
  return {
    messageId: null,
    inReplyTo: null,
    references: [],
    subject: null,
    date: null,
    from: null,
    sender: null,
    replyTo: [],
    to: [],
    cc: [],
    bcc: [],
    listId: null,
    originalFrom: null,
    autoSubmitted: null,
    precedence: null,
    contentType: 'text/plain',
    reportType: null,
    text: null,
    html: null,
    snippet: '',
    attachments: [],
    size,
    parseError,
  };
}

function headerFields(headers: HeaderReader, size: number): ParsedMessage {
  const contentTypeHeader = headers.first('content-type');
  const contentType = contentTypeOf(contentTypeHeader);
  const reportType =
    contentType === 'multipart/report'
      ? (parseStructured(contentTypeHeader ?? '').params['report-type'] ?? '').toLowerCase() || null
      : null;
  const references = headers.all('references').flatMap(extractMessageIds);
  return {
    ...emptyMessage(size, null),
    messageId: normalizeMessageId(headers.first('message-id')),
    inReplyTo: extractMessageIds(headers.first('in-reply-to'))[0] ?? null,
    references: [...new Set(references)],
    subject: unstructured(headers.first('subject')),
    date: parseDate(headers.first('date')),
    from: firstAddress(headers.all('from')),
    sender: firstAddress(headers.all('sender')),
    replyTo: parseAddressList(headers.all('reply-to').join(', ')),
    to: parseAddressList(headers.all('to').join(', ')),
    cc: parseAddressList(headers.all('cc').join(', ')),
    bcc: parseAddressList(headers.all('bcc').join(', ')),
    listId: listIdOf(headers.first('list-id')),
    originalFrom: firstAddress(headers.all('x-original-from')),
    autoSubmitted: token(headers.first('auto-submitted')),
    precedence: token(headers.first('precedence')),
    contentType,
    reportType,
  };
}

function joinErrors(errors: Array<string | null | undefined>): string | null {
  const list = errors.filter((e): e is string => !!e);
  return list.length === 0 ? null : list.join('; ');
}

/**
 * Headers only, for a message whose body is not to be parsed (too large, or the body parser failed or was
 * stopped elsewhere); `parseError` says why. Never throws.
 */
export function parseMessageHeaders(raw: Buffer, limits?: Partial<ParseLimits>, parseError?: string): ParsedMessage {
  const resolved = resolveLimits(limits);
  try {
    const block = readHeaderBlock(raw, resolved.maxHeadersSize);
    const headers = new HeaderReader(block.fields, resolved.maxHeaderLength);
    const message = headerFields(headers, raw.length);
    message.parseError = joinErrors([
      parseError,
      block.truncated ? `header block exceeds ${resolved.maxHeadersSize} bytes` : null,
      ...headers.notes,
    ]);
    return message;
  } catch (error) {
    return emptyMessage(raw.length, joinErrors([parseError, `headers unreadable: ${describe(error)}`]));
  }
}

/** Parses a raw message; never throws (see the module comment). */
export async function parseMessage(
  raw: Buffer,
  limits?: Partial<ParseLimits>,
  options: ParseOptions = {},
  /**
   * The caller never reads `raw` again (the parse worker's own copy): its header block may be overwritten to hand
   * postal-mime the body without a copy of the whole message (see mimeInput).
   */
  rawIsScratch = false,
): Promise<ParsedMessage> {
  const resolved = resolveLimits(limits);
  if (raw.length > resolved.maxBytes) {
    return parseMessageHeaders(
      raw,
      resolved,
      `message is ${raw.length} bytes, over the ${resolved.maxBytes} byte limit`,
    );
  }
  let block: HeaderBlock;
  let headers: HeaderReader;
  let message: ParsedMessage;
  try {
    block = readHeaderBlock(raw, resolved.maxHeadersSize);
    headers = new HeaderReader(block.fields, resolved.maxHeaderLength);
    message = headerFields(headers, raw.length);
  } catch (error) {
    return emptyMessage(raw.length, `headers unreadable: ${describe(error)}`);
  }
  if (block.truncated) {
    message.parseError = joinErrors([`header block exceeds ${resolved.maxHeadersSize} bytes`, ...headers.notes]);
    return message;
  }
  if (
    /^(?:multipart|message)\//.test(message.contentType) &&
    countDashLines(raw, block.bodyStart, resolved.maxParts) > resolved.maxParts
  ) {
    message.parseError = joinErrors([`more than ${resolved.maxParts} MIME parts`, ...headers.notes]);
    return message;
  }

  const errors: string[] = [];
  try {
    const body = raw.subarray(block.bodyStart);
    const email = await new PostalMime({
      attachmentEncoding: 'arraybuffer',
      maxNestingDepth: resolved.maxNestingDepth,
      maxHeadersSize: resolved.maxHeadersSize,
      maxRfc822NestingDepth: Math.min(MAX_RFC822_DEPTH, resolved.maxNestingDepth),
      ...(options.messagePartsAsAttachments ? { forceRfc822Attachments: true } : {}),
    }).parse(mimeInput(block, headers, body, rawIsScratch ? raw : null));

    const text = fixC1(email.text ?? null);
    const rawHtml = fixC1(email.html ?? null);
    let html: string | null = null;
    // The HTML could not be shown whole: its text is kept as the body text when the message has no text part.
    let htmlCut = false;
    if (rawHtml && rawHtml.length > resolved.maxHtmlLength) {
      errors.push(`html is ${rawHtml.length} characters, over the ${resolved.maxHtmlLength} limit: kept as text only`);
      htmlCut = true;
    } else if (rawHtml) {
      const flat = flattenDeepHtml(rawHtml, resolved.maxHtmlDepth);
      if (flat.flattened) {
        errors.push(
          `html is nested ${flat.depth} deep: markup below depth ${resolved.maxHtmlDepth} dropped, text kept`,
        );
        htmlCut = true;
      }
      try {
        html = sanitizeHtml(flat.html);
      } catch (error) {
        errors.push(`html dropped, sanitiser failed: ${describe(error)}`);
        htmlCut = true;
      }
    }
    message.text = text ?? (htmlCut && rawHtml ? htmlToPlain(rawHtml, { maxLength: resolved.maxBytes }) : null);
    message.html = html;
    message.snippet = makeSnippet(message.text, rawHtml);
    message.attachments = email.attachments.map((a) => {
      const content = toBuffer(a.content);
      const contentId = stripBrackets(a.contentId);
      return {
        filename: fixC1(a.filename?.trim() || null),
        contentType: (a.mimeType || 'application/octet-stream').toLowerCase(),
        size: content.length,
        content,
        contentId,
        inline: a.related === true || (a.disposition === 'inline' && contentId !== null),
      };
    });
  } catch (error) {
    errors.push(`body unreadable: ${describe(error)}`);
  }
  message.parseError = joinErrors([...errors, ...headers.notes]);
  return message;
}

/** Lines starting with `--` from `start`, counting stops past `max`. */
function countDashLines(raw: Buffer, start: number, max: number): number {
  let count = 0;
  let pos = raw.indexOf('\n--', Math.max(0, start - 1), 'latin1');
  while (pos !== -1 && count <= max) {
    count++;
    pos = raw.indexOf('\n--', pos + 3, 'latin1');
  }
  return count;
}

/**
 * The body with only the top-level fields that shape it (Content-*, MIME-Version) in front, as an ArrayBuffer:
 * postal-mime takes an ArrayBuffer as it is but copies a Buffer (a view) once more. With `scratch` (the whole raw
 * message in an ArrayBuffer of its own, which nobody reads afterwards) those fields are written over the message's
 * own header block, padded with filler fields to its length, so the body is not copied at all; otherwise the
 * fields and the body are copied into a new ArrayBuffer. Either way postal-mime sees the same fields and body:
 * for a 27 MB message with a 20 MB attachment this saved two 27 MB copies for the length of the parse (issue 18).
 */
function mimeInput(block: HeaderBlock, headers: HeaderReader, body: Buffer, scratch: Buffer | null): ArrayBuffer {
  const contentType = headers.first('content-type');
  const encoding = headers.first('content-transfer-encoding');
  const repaired =
    headers.has('content-type') && /^multipart\//.test(contentTypeOf(contentType))
      ? null
      : repairedContentType(contentType, encoding, body);
  const parts: Buffer[] = [];
  let contentTypeSeen = false;
  for (const field of block.fields) {
    if (!field.key.startsWith('content-') && field.key !== 'mime-version') continue;
    if (field.key === 'content-type') {
      if (contentTypeSeen) continue; // the first one wins, as for every other field here
      contentTypeSeen = true;
      if (repaired) {
        parts.push(Buffer.from(`Content-Type: ${repaired}\r\n`, 'utf8'));
        continue;
      }
    }
    parts.push(field.raw);
    const last = field.raw[field.raw.length - 1];
    if (last !== 0x0a) parts.push(Buffer.from('\r\n'));
  }
  if (repaired && !contentTypeSeen) parts.push(Buffer.from(`Content-Type: ${repaired}\r\n`, 'utf8'));
  // A copy of its own: the fields are views of the raw bytes that an in-place write would overwrite.
  const fields = Buffer.concat(parts);
  const inPlace = scratch ? writtenInPlace(scratch, fields, block.bodyStart) : null;
  if (inPlace) return inPlace;
  const input = new Uint8Array(fields.length + 2 + body.length);
  input.set(fields, 0);
  input.set(CRLF, fields.length);
  input.set(body, fields.length + 2);
  return input.buffer;
}

const CRLF = Buffer.from('\r\n');
/** Filler field lines: `X-Conversa-Pad: xxx…` + CRLF, at most 998 bytes (RFC 5322's line limit) each. */
const PAD_NAME = Buffer.from('X-Conversa-Pad: ');
const PAD_MIN = PAD_NAME.length + 2;
const PAD_MAX = 998;

/** `fields`, filler lines and the blank line written over scratch[0, bodyStart); null when they do not fit. */
function writtenInPlace(scratch: Buffer, fields: Buffer, bodyStart: number): ArrayBuffer | null {
  const buffer = scratch.buffer;
  if (!(buffer instanceof ArrayBuffer) || scratch.byteOffset !== 0 || scratch.length !== buffer.byteLength) return null;
  let pad = bodyStart - fields.length - 2;
  if (pad !== 0 && pad < PAD_MIN) return null;
  let at = fields.copy(scratch, 0);
  while (pad > 0) {
    let length = Math.min(pad, PAD_MAX);
    if (pad - length > 0 && pad - length < PAD_MIN) length = pad - PAD_MIN;
    PAD_NAME.copy(scratch, at);
    scratch.fill(0x78, at + PAD_NAME.length, at + length - 2);
    CRLF.copy(scratch, at + length - 2);
    at += length;
    pad -= length;
  }
  CRLF.copy(scratch, at);
  return buffer;
}
