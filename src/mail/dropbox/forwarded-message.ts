// Finds the original message inside a forward, so that mail a user forwards to their BCC address is filed as
// what it is (Ana's mail to the user), not as the user's forward. Two shapes exist in the wild:
// - forwarded "as attachment": a message/rfc822 (or message/global, or a *.eml) part holding the original's bytes,
//   Message-ID included — the original is then exact;
// - forwarded "inline": a marker line ("---------- Forwarded message ---------", "-----Mensagem original-----",
//   "Begin forwarded message:", …) and a header block ("From:/De:", "Date:/Sent:/Enviada em:", "To:/Para:",
//   "Subject:/Assunto:") that the forwarder's program wrote in its own language and date format, then the
//   original's body. The original is then approximate: minute-precision local dates, display-name-only senders
//   (Outlook inside one Exchange organisation), no Message-ID, no HTML. Callers say so where it matters.
// Pure functions, except embeddedMessages (a second MIME pass through the parse pool, for the rare inline
// message/rfc822 part).
import { htmlToPlain } from '../mime/html-to-plain.js';
import { parseAddressList, type Address, type ParsedMessage } from '../mime/parse-message.js';
import { normalizeMessageId } from '../rules/message-key.js';

/** At most this many attached originals are taken from one forward (Gmail can attach dozens). */
export const MAX_ATTACHED_ORIGINALS = 20;

const MESSAGE_TYPES = new Set(['message/rfc822', 'message/global']);

// ---------------------------------------------------------------------------------------------------------
// Attached originals.

function looksLikeMessage(content: Buffer): boolean {
  // A header block: the first lines are "Name: value", and a From or Message-ID or Subject among them.
  const head = content.subarray(0, 8192).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = end === -1 ? head : head.slice(0, end);
  return /^[\x21-\x39\x3b-\x7e]+:/.test(block) && /^(?:from|message-id|subject):/im.test(block);
}

function isMessagePart(a: { contentType: string; filename: string | null; content: Buffer }): boolean {
  if (MESSAGE_TYPES.has(a.contentType)) return true;
  // Some clients attach a saved message as application/octet-stream with a .eml name.
  return /\.eml$/i.test(a.filename ?? '') && looksLikeMessage(a.content);
}

/** Parses a message keeping every message/rfc822 part as an attachment: the parse pool, off the event loop. */
export type ReparseWithMessageParts = (raw: Buffer) => Promise<ParsedMessage>;

/**
 * The raw bytes of every message attached to `parsed` (at most {@link MAX_ATTACHED_ORIGINALS}), in order.
 * A message part WITHOUT `Content-Disposition: attachment` (mutt, some webmails) is rendered into the body by the
 * parser rather than listed as an attachment; when the raw source shows such a part and none was listed, the
 * source is parsed once more by `reparse` keeping message parts apart. That second pass goes through the parse
 * pool like the first (same limits, same time budget), never on the SMTP listener's thread.
 */
export async function embeddedMessages(
  raw: Buffer,
  parsed: ParsedMessage,
  reparse: ReparseWithMessageParts,
): Promise<Buffer[]> {
  const attached = parsed.attachments.filter(isMessagePart).map((a) => a.content);
  if (attached.length > 0) return attached.slice(0, MAX_ATTACHED_ORIGINALS);
  if (!/^content-type:[ \t]*message\/(?:rfc822|global)\b/im.test(raw.toString('latin1'))) return [];
  const again = await reparse(raw);
  return again.attachments
    .filter((a) => MESSAGE_TYPES.has(a.contentType))
    .map((a) => a.content)
    .slice(0, MAX_ATTACHED_ORIGINALS);
}

// ---------------------------------------------------------------------------------------------------------
// Inline forwards.

export interface ForwardedHeaders {
  from: Address | null;
  to: Address[];
  cc: Address[];
  replyTo: Address[];
  subject: string | null;
  /** Epoch ms; null when the block has no date this module can read. */
  date: number | null;
  /** The date as the forwarder's program wrote it. */
  dateText: string | null;
  /** Rare in inline blocks (some clients can be set to show it). */
  messageId: string | null;
}

export interface InlineForward {
  headers: ForwardedHeaders;
  /** The original's body text, unquoted. */
  body: string;
  /** What the forwarder wrote above the block ("FYI, see below"). */
  note: string;
}

export interface InlineForwardOptions {
  /**
   * The forwarder's UTC offset in minutes (from the forward's own Date header): dates in the block that carry no
   * zone are the forwarder's local time (Gmail, Outlook). Default 0.
   */
  defaultOffsetMinutes?: number;
}

type Field = 'from' | 'to' | 'cc' | 'bcc' | 'date' | 'subject' | 'replyTo' | 'messageId';

function fold(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[*_]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

// Header labels of forward blocks, folded (lower case, no accents): English, Portuguese, Spanish, French, German,
// Italian, Dutch — the languages of the clients our users and their contacts write with.
const LABELS = new Map<string, Field>([
  ...['from', 'de', 'von', 'da', 'van', 'remetente', 'expediteur', 'absender'].map((l) => [l, 'from'] as const),
  ...['to', 'para', 'an', 'a', 'aan', 'destinatario', 'destinatarios', 'destinataire'].map((l) => [l, 'to'] as const),
  ...['cc', 'copia', 'kopie', 'copie', 'cc para'].map((l) => [l, 'cc'] as const),
  ...['bcc', 'cco', 'cci', 'copia oculta'].map((l) => [l, 'bcc'] as const),
  ...[
    'date',
    'sent',
    'sent on',
    'data',
    'enviado',
    'enviada',
    'enviado em',
    'enviada em',
    'fecha',
    'enviado el',
    'gesendet',
    'datum',
    'envoye',
    'envoye le',
    'inviato',
    'verzonden',
  ].map((l) => [l, 'date'] as const),
  ...['subject', 'assunto', 'asunto', 'betreff', 'objet', 'oggetto', 'onderwerp'].map((l) => [l, 'subject'] as const),
  ...['reply-to', 'reply to', 'responder a', 'responder para', 'antwort an', 'repondre a', 'rispondi a'].map(
    (l) => [l, 'replyTo'] as const,
  ),
  ...['message-id', 'message id'].map((l) => [l, 'messageId'] as const),
]);

// Marker lines, folded and stripped of the dashes, equals signs and underscores around them.
const MARKERS = new Set([
  'forwarded message',
  'original message',
  'begin forwarded message',
  'forwarded message follows',
  'mensagem encaminhada',
  'mensagem original',
  'inicio da mensagem encaminhada',
  'mensagem reencaminhada',
  'mensaje reenviado',
  'mensaje original',
  'comienzo del mensaje reenviado',
  'inicio del mensaje reenviado',
  'message transfere',
  "message d'origine",
  'debut du message reexpedie',
  'message reexpedie',
  'weitergeleitete nachricht',
  'ursprungliche nachricht',
  'anfang der weitergeleiteten nachricht',
  'messaggio inoltrato',
  'messaggio originale',
  'inizio messaggio inoltrato',
  'doorgestuurd bericht',
  'oorspronkelijk bericht',
]);

const QUOTE = /^[ \t]*>[ \t]?/;

/** A marker line: "strong" names a forward or an original; "rule" is Outlook's bare line of underscores. */
function markerOf(line: string): 'strong' | 'rule' | null {
  const bare = line.replace(/^(?:[ \t]*>)+/, '').trim();
  if (/^_{10,}$/.test(bare)) return 'rule';
  if (bare.length > 80 || !/[a-z]/i.test(bare)) return null;
  const core = fold(bare.replace(/^[-=_*\s]+/, '').replace(/[-=_*\s:]+$/, ''));
  return MARKERS.has(core) ? 'strong' : null;
}

interface LabelLine {
  field: Field;
  value: string;
}

function labelOf(line: string): LabelLine | null {
  const m = /^[ \t]*\**([^:\t\r\n*]{1,30}?)\**[ \t]*:[ \t]*(.*)$/.exec(line);
  if (!m) return null;
  const field = LABELS.get(fold(m[1]!));
  if (!field) return null;
  return { field, value: m[2]!.replace(/\*+/g, '').trim() };
}

interface Block {
  fields: Map<Field, string>;
  /** Index of the first line after the block. */
  end: number;
}

const ADDRESS_FIELDS: ReadonlySet<Field> = new Set(['to', 'cc', 'bcc', 'replyTo']);

/** Reads a header block starting at `start` (blank lines before it are skipped). */
function readBlock(lines: string[], start: number): Block | null {
  let i = start;
  let skipped = 0;
  while (i < lines.length && lines[i]!.trim() === '' && skipped < 3) {
    i++;
    skipped++;
  }
  const fields = new Map<Field, string>();
  let last: Field | null = null;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      // Clients that render each header line as its own paragraph leave blank lines inside the block.
      let j = i + 1;
      while (j < lines.length && j - i <= 2 && lines[j]!.trim() === '') j++;
      const next = j < lines.length ? labelOf(lines[j]!) : null;
      if (fields.size > 0 && next && !fields.has(next.field) && j - i <= 2) {
        i = j;
        continue;
      }
      break;
    }
    const label = labelOf(line);
    if (label && !fields.has(label.field)) {
      fields.set(label.field, label.value);
      last = label.field;
      i++;
      continue;
    }
    // A long To/Cc wrapped onto the next line, or a wrapped subject.
    if (
      !label &&
      last !== null &&
      (ADDRESS_FIELDS.has(last) ? /@|^[ \t]/.test(line) : last === 'subject' && /^[ \t]/.test(line))
    ) {
      fields.set(last, `${fields.get(last)} ${line.trim()}`);
      i++;
      continue;
    }
    break;
  }
  // A real block names the sender and at least one more of date, subject, recipients.
  if (!fields.has('from') || !(fields.has('date') || fields.has('subject') || fields.has('to'))) return null;
  return { fields, end: i };
}

/** "Ana <ana@x>", "Ana [mailto:ana@x]", "ana@x<mailto:ana@x>", "A <a@x>; B <b@x>" → addresses. */
export function parseForwardAddresses(value: string | undefined): Address[] {
  if (!value) return [];
  const cleaned = value
    .replace(/\[mailto:([^\]\s]+)\]/gi, '<$1>')
    .replace(/<mailto:/gi, '<')
    .replace(/([^\s<>,;]+@[^\s<>,;]+)\s*<\1>/gi, '<$1>')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/;/g, ',');
  return parseAddressList(cleaned);
}

/** Lines from `index` on without one level of "> " quoting, when the block there is quoted (marker or first line). */
function unquoteFrom(lines: string[], index: number): string[] {
  let first = index + 1;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (!QUOTE.test(lines[index] ?? '') && !QUOTE.test(lines[first] ?? '')) return lines;
  return [...lines.slice(0, index), ...lines.slice(index).map((l) => l.replace(QUOTE, ''))];
}

function headersOf(block: Block, options: InlineForwardOptions): ForwardedHeaders {
  const f = block.fields;
  const dateText = f.get('date')?.trim() || null;
  const subject = f.get('subject')?.trim() || null;
  return {
    from: parseForwardAddresses(f.get('from'))[0] ?? null,
    to: parseForwardAddresses(f.get('to')),
    cc: parseForwardAddresses(f.get('cc')),
    replyTo: parseForwardAddresses(f.get('replyTo')),
    subject,
    date: dateText ? parseForwardDate(dateText, options.defaultOffsetMinutes ?? 0) : null,
    dateText,
    messageId: normalizeMessageId(f.get('messageId')),
  };
}

function result(lines: string[], markerIndex: number, block: Block, options: InlineForwardOptions): InlineForward {
  let bodyStart = block.end;
  // Zoho closes the header block with the marker again (and ends the message with it).
  while (bodyStart < lines.length && (lines[bodyStart]!.trim() === '' || markerOf(lines[bodyStart]!) === 'strong'))
    bodyStart++;
  const bodyLines = lines.slice(bodyStart);
  while (
    bodyLines.length > 0 &&
    (bodyLines[bodyLines.length - 1]!.trim() === '' || markerOf(bodyLines[bodyLines.length - 1]!) === 'strong')
  )
    bodyLines.pop();
  return {
    headers: headersOf(block, options),
    body: bodyLines.join('\n'),
    note: lines.slice(0, markerIndex).join('\n').trim(),
  };
}

/**
 * The first (outermost) forwarded message in a plain-text body: a marker line followed by a header block, or,
 * failing that, a header block standing alone (Outlook's HTML forwards lose their separator line in plain text)
 * that names the sender, a date and a subject. Null when there is none.
 */
export function findInlineForward(text: string, options: InlineForwardOptions = {}): InlineForward | null {
  const original = text
    .replace(/\r\n?/g, '\n')
    .replace(/\u00a0/g, ' ')
    .split('\n');
  for (let i = 0; i < original.length; i++) {
    if (!markerOf(original[i]!)) continue;
    const lines = unquoteFrom(original, i);
    const block = readBlock(lines, i + 1);
    if (block) return result(lines, i, block, options);
  }
  for (let i = 0; i < original.length; i++) {
    const label = labelOf(original[i]!);
    if (label?.field !== 'from' || (i > 0 && original[i - 1]!.trim() !== '' && !markerOf(original[i - 1]!))) continue;
    const lines = unquoteFrom(original, i);
    const block = readBlock(lines, i);
    if (block && block.fields.has('date') && block.fields.has('subject')) return result(lines, i, block, options);
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// Dates as forwarders' programs write them.

const MONTHS = new Map<string, number>();
for (const [index, names] of [
  ['january', 'jan', 'janeiro', 'enero', 'ene', 'janvier', 'janv', 'januar', 'gennaio', 'gen', 'januari'],
  ['february', 'feb', 'fevereiro', 'fev', 'febrero', 'fevrier', 'fevr', 'februar', 'febbraio', 'februari'],
  ['march', 'mar', 'marco', 'marzo', 'mars', 'marz', 'maart', 'mrt'],
  ['april', 'apr', 'abril', 'abr', 'avril', 'avr', 'aprile'],
  ['may', 'maio', 'mai', 'mayo', 'maggio', 'mag', 'mei'],
  ['june', 'jun', 'junho', 'junio', 'juin', 'juni', 'giugno', 'giu'],
  ['july', 'jul', 'julho', 'julio', 'juillet', 'juil', 'juli', 'luglio', 'lug'],
  ['august', 'aug', 'agosto', 'ago', 'aout', 'augustus'],
  ['september', 'sep', 'sept', 'setembro', 'set', 'septiembre', 'setiembre', 'septembre', 'settembre'],
  ['october', 'oct', 'outubro', 'out', 'octubre', 'octobre', 'oktober', 'okt', 'ottobre', 'ott'],
  ['november', 'nov', 'novembro', 'noviembre', 'novembre'],
  ['december', 'dec', 'dezembro', 'dez', 'diciembre', 'dic', 'decembre', 'dezember', 'dicembre'],
].entries()) {
  for (const name of names) MONTHS.set(name, index);
}

// Zone abbreviations that forwarders print (Apple Mail, Thunderbird): minutes east of UTC.
const ZONES = new Map<string, number>([
  ['utc', 0],
  ['gmt', 0],
  ['ut', 0],
  ['z', 0],
  ['wet', 0],
  ['west', 60],
  ['bst', 60],
  ['cet', 60],
  ['cest', 120],
  ['eet', 120],
  ['eest', 180],
  ['brt', -180],
  ['brst', -120],
  ['art', -180],
  ['clt', -240],
  ['clst', -180],
  ['est', -300],
  ['edt', -240],
  ['cst', -360],
  ['cdt', -300],
  ['mst', -420],
  ['mdt', -360],
  ['pst', -480],
  ['pdt', -420],
]);

/**
 * A date from a forward block, in any of the shapes forwarders print — "Mon, Mar 4, 2024 at 10:15 AM" (Gmail),
 * "seg., 4 de mar. de 2024 às 10:15" (Gmail pt-BR), "Monday, March 4, 2024 10:15 AM" and "segunda-feira, 4 de
 * março de 2024 10:15" (Outlook), "March 4, 2024 at 10:15:32 AM GMT-3" (Apple Mail), RFC 5322 (Thunderbird) —
 * to epoch ms. A date without a zone is read in `defaultOffsetMinutes`. Null when no day, month and year are found.
 */
export function parseForwardDate(text: string, defaultOffsetMinutes = 0): number | null {
  let s = fold(text)
    .replace(/\ba\.\s?m\./g, 'am')
    .replace(/\bp\.\s?m\./g, 'pm');
  // A leading weekday ("Mon,", "seg.,", "segunda-feira,") goes; "March 4, 2024" keeps its comma.
  s = s.replace(/^[^\d,]+,\s*/, '');
  let hour = 0;
  let minute = 0;
  let second = 0;
  const time = /\b(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?:\s*(am|pm)\b)?/.exec(s);
  if (time) {
    hour = Number(time[1]);
    minute = Number(time[2]);
    second = Number(time[3] ?? 0);
    if (time[4] === 'pm' && hour < 12) hour += 12;
    if (time[4] === 'am' && hour === 12) hour = 0;
    s = `${s.slice(0, time.index)} ${s.slice(time.index + time[0].length)}`;
  }
  let offset: number | null = null;
  const zone = /(?:\b(?:gmt|utc)\s*)?([+-])(\d{1,2})(?::?(\d{2}))?\b/.exec(s);
  if (zone && (/gmt|utc/.test(zone[0]) || zone[2]!.length === 2)) {
    const minutes = Number(zone[2]) * 60 + Number(zone[3] ?? 0);
    if (minutes <= 18 * 60) offset = (zone[1] === '-' ? -1 : 1) * minutes;
    s = `${s.slice(0, zone.index)} ${s.slice(zone.index + zone[0].length)}`;
  }
  const tokens = s
    .replace(/[.,()]/g, ' ')
    .split(/[\s/-]+/)
    .filter(Boolean);
  if (offset === null) {
    for (const token of tokens) {
      const known = ZONES.get(token);
      if (known !== undefined) {
        offset = known;
        break;
      }
    }
  }
  const monthAt = tokens.findIndex((t) => MONTHS.has(t));
  const yearToken = tokens.find((t) => /^(?:19|20)\d{2}$/.test(t));
  if (monthAt === -1 || !yearToken) return null;
  const month = MONTHS.get(tokens[monthAt]!)!;
  // The day sits next to the month: "4 de março", "March 4", "4 mar".
  const isDay = (t: string | undefined): boolean =>
    t !== undefined &&
    /^\d{1,2}(?:st|nd|rd|th|º|o)?$/.test(t) &&
    Number.parseInt(t, 10) >= 1 &&
    Number.parseInt(t, 10) <= 31;
  const around = [tokens[monthAt + 1], tokens[monthAt - 1], tokens[monthAt - 2], tokens[monthAt + 2]];
  const dayToken = around.find(isDay) ?? tokens.find(isDay);
  if (!dayToken) return null;
  const day = Number.parseInt(dayToken, 10);
  const year = Number(yearToken);
  if (hour > 23 || minute > 59 || second > 60) return null;
  const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59));
  if (new Date(utc).getUTCDate() !== day) return null;
  return utc - (offset ?? defaultOffsetMinutes) * 60_000;
}

/** The UTC offset (minutes east) of a message's own Date header, read from its raw header block; null if none. */
export function dateHeaderOffset(raw: Buffer): number | null {
  const head = raw.subarray(0, 64 * 1024).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = (end === -1 ? head : head.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const date = /^date:[ \t]*(.*)$/im.exec(block)?.[1];
  const m = date ? /([+-])(\d{2})(\d{2})\s*(?:\(.*\))?\s*$/.exec(date.trim()) : null;
  if (!m) return null;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

// ---------------------------------------------------------------------------------------------------------
// Subjects and bodies.

const FORWARD_PREFIX = /^\s*(?:(?:fwd?|fw|enc|tr|wg|rv|i|doorst)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+/i;

/** Whether a subject starts with a forward prefix: Fwd:, Fw:, ENC: (pt-BR Outlook), TR:, WG:, RV:, I:. */
export function isForwardSubject(subject: string | null | undefined): boolean {
  return !!subject && FORWARD_PREFIX.test(subject);
}

/** The subject without its leading forward prefixes ("Fwd: ENC: Proposta" → "Proposta"). */
export function stripForwardPrefix(subject: string | null | undefined): string | null {
  if (!subject) return null;
  return subject.replace(FORWARD_PREFIX, '').trim() || null;
}

/**
 * Readable text of an (already sanitised) HTML body, for forwards that come without a text part: the one converter,
 * read whole and the way forward blocks need it (see HtmlToPlainOptions.forwardBlocks).
 */
export function htmlToText(html: string): string {
  return htmlToPlain(html, { maxLength: Infinity, forwardBlocks: true });
}
