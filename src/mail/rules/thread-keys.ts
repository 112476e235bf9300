// Which thread a message belongs to, as pure decisions: the keys to find an existing thread by and to register
// for it (Gmail's thread id, then the References/In-Reply-To chain), and the subject fallback for mail whose
// chain is missing — same normalised subject, same people, a few days apart. The engine does the lookups.
import { parseMessageIdList, normalizeMessageId } from './message-key.js';

/** At most this many referenced ids per message are used: the root and the most recent ones. */
export const MAX_REFERENCE_KEYS = 50;

/** The default distance in time between two messages the subject fallback may join. */
export const SUBJECT_FALLBACK_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;

export interface ThreadKeyInput {
  /** The message's Message-ID (raw or normalised). */
  messageId: string | null | undefined;
  /** In-Reply-To: a raw header or its ids. */
  inReplyTo: string | readonly string[] | null | undefined;
  /** References: a raw header or its ids, oldest (the root) first. */
  references: string | readonly string[] | null | undefined;
  /** X-GM-THRID on Gmail. */
  gmThreadId?: string | bigint | number | null | undefined;
}

export interface ThreadKeys {
  /** Keys to look existing threads up by, strongest first: the first one found decides the thread. */
  lookup: string[];
  /** Keys to record for the thread the message ends up in, so later relatives find it. */
  register: string[];
}

/** `gm:<X-GM-THRID>`, or null when absent or not a number. */
export function gmThreadKey(thrid: string | bigint | number | null | undefined): string | null {
  if (thrid == null) return null;
  const digits =
    typeof thrid === 'string'
      ? thrid.trim()
      : typeof thrid === 'number' && !Number.isSafeInteger(thrid)
        ? ''
        : String(thrid);
  if (!/^\d{1,20}$/.test(digits)) return null;
  return `gm:${BigInt(digits).toString()}`;
}

/** The thread key of a Message-ID: the same string as the message's dedupe key, so both read alike in the database. */
export function messageIdThreadKey(messageId: string): string {
  return `mid:${messageId}`;
}

/**
 * Lookup order: `gm:<thrid>` first (Gmail has already grouped the conversation), then the References root (the
 * thread's first message: the strongest anchor, since every later message names it), the other references
 * oldest first, In-Reply-To, and last the message's own id (found when a child arrived first and registered the
 * id of this then-unknown parent). Register: the thread id, the own id and every referenced id — so a child
 * whose parent was never synced still joins its siblings that name the same parent.
 * References beyond {@link MAX_REFERENCE_KEYS} are cut from the middle: the root and the nearest ancestors stay.
 */
export function threadKeys(input: ThreadKeyInput): ThreadKeys {
  const gm = gmThreadKey(input.gmThreadId);
  const own = normalizeMessageId(input.messageId ?? null);
  let references = parseMessageIdList(input.references);
  if (references.length > MAX_REFERENCE_KEYS) {
    references = [references[0]!, ...references.slice(references.length - (MAX_REFERENCE_KEYS - 1))];
  }
  const inReplyTo = parseMessageIdList(input.inReplyTo);
  const ids = (list: readonly string[]): string[] => list.map(messageIdThreadKey);
  const ownKeys = own !== null ? [messageIdThreadKey(own)] : [];
  const gmKeys = gm !== null ? [gm] : [];
  return {
    lookup: [...new Set([...gmKeys, ...ids(references), ...ids(inReplyTo), ...ownKeys])],
    register: [...new Set([...gmKeys, ...ownKeys, ...ids(references), ...ids(inReplyTo)])],
  };
}

// Reply and forward prefixes as mail programs write them, by language. Matched case-insensitively as a whole word
// followed by an optional counter (`Re[2]`, `Re(2)`, `Re^2`) and a colon, possibly after a space (`Re :`, French).
const REPLY_PREFIXES = [
  're', // English and most others
  'aw',
  'antwort', // German (Outlook: AW)
  'antw', // Dutch
  'sv', // Swedish, Norwegian, Danish: svar
  'vs', // Finnish: vastaus; Danish/Norwegian Outlook forward: videresendt
  'res',
  'resp', // Portuguese (Outlook pt-BR: RES)
  'r',
  'rif', // Italian (Outlook: R; RIF: riferimento)
  'odp', // Polish
  'ynt', // Turkish
  'atb', // Latvian
  'vá', // Icelandic
  'απ',
  'σχετ', // Greek
  '回复',
  '回覆',
  '答复',
  '答覆', // Chinese
  '返信', // Japanese
];
const FORWARD_PREFIXES = [
  'fwd',
  'fw', // English
  'wg', // German: weitergeleitet
  'enc', // Portuguese: encaminhado (Outlook pt-BR: ENC)
  'tr', // French: transféré
  'doorst', // Dutch: doorsturen
  'i', // Italian Outlook: inoltrato (symmetric to R; no real subject starts with "I:")
  'rv', // Spanish: reenviado
  'pd', // Polish: przekaż dalej
  'vb', // Swedish: vidarebefordrat
  'vl', // Finnish: välitetty
  'ilt',
  'i̇lt', // Turkish: iletilen
  'πρθ', // Greek
  '转发',
  '轉寄',
  '转寄',
  '轉送',
  '転送', // Chinese, Japanese
];
const escape = (word: string): string => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const PREFIX_RE = new RegExp(
  `^(?:${[...REPLY_PREFIXES, ...FORWARD_PREFIXES].map(escape).join('|')})\\s*(?:\\[\\d+\\]|\\(\\d+\\)|\\^\\d+)?\\s*:`,
  'iu',
);
const TAG_RE = /^\[([^[\]]*)\]/u;
const TRAILING_FWD_RE = /\s*\((?:fwd|fw)\)\s*$/iu;

// Tags that security or spam gateways put in front of the subject of mail as it ENTERS one organisation: the
// sender's copy and the other side's copies never carry them, so they are noise for matching the same
// conversation. Any other bracketed tag — a list name ("[FRnOG]"), a ticket number ("[Ticket #123]"), a tracker
// ("[jira]") — is part of what the conversation is about and is kept: stripping it would join "[Ticket #1] Help"
// and "[Ticket #2] Help".
const GATEWAY_TAGS = new Set([
  'external',
  'ext',
  'extern',
  'externo',
  'externa',
  'external email',
  'external e mail',
  'external mail',
  'external sender',
  'external message',
  'email externo',
  'e mail externo',
  'mensagem externa',
  'caution',
  'caution external',
  'external caution',
  'spam',
  'suspected spam',
  'possible spam',
  'probable spam',
]);

function isGatewayTag(inner: string): boolean {
  return GATEWAY_TAGS.has(inner.replace(/[^\p{L}\p{N}]+/gu, ' ').trim());
}

/**
 * The comparable form of a subject: reply/forward prefixes removed wherever they sit in the leading run of
 * prefixes and tags (`AW: WG: RE: x`, `Re:Re: x`, `RES: ENC: x`, `Re[2]: x`, `[list] Re: x` and `Re: [list] x` all
 * lose their prefixes; the `[list]` tag stays), gateway tags (`[External]`) dropped, a trailing `(fwd)` dropped,
 * Unicode NFKC (full-width colons become `:`), whitespace collapsed, lower-cased. It is a key, not a title.
 */
export function normalizeSubject(subject: string | null | undefined): string {
  if (!subject) return '';
  // Lower-cased first: the key is lower-case anyway, and so "İLT:" meets its lower-case spelling.
  let rest = subject.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
  const tags: string[] = [];
  for (;;) {
    rest = rest.trimStart();
    const prefix = PREFIX_RE.exec(rest);
    if (prefix) {
      rest = rest.slice(prefix[0].length);
      continue;
    }
    const tag = TAG_RE.exec(rest);
    if (tag) {
      rest = rest.slice(tag[0].length);
      if (!isGatewayTag(tag[1] ?? '')) tags.push(tag[0]);
      continue;
    }
    break;
  }
  while (TRAILING_FWD_RE.test(rest)) rest = rest.replace(TRAILING_FWD_RE, '');
  return [...tags, rest].join(' ').replace(/\s+/g, ' ').trim();
}

// Subjects that say nothing about what the conversation is: two messages sharing one prove nothing.
const TRIVIAL_SUBJECTS = new Set([
  'hi',
  'hello',
  'hey',
  'hallo',
  'hola',
  'oi',
  'olá',
  'ola',
  'ciao',
  'salut',
  'bonjour',
  'bom dia',
  'boa tarde',
  'boa noite',
  'good morning',
  'guten tag',
  'test',
  'teste',
  'testing',
  'no subject',
  'sem assunto',
  'kein betreff',
  'ohne betreff',
  'sin asunto',
  'sans objet',
  'aucun objet',
  'untitled',
  'sem título',
  'fyi',
  'thanks',
  'thank you',
  'obrigado',
  'obrigada',
  'danke',
  'gracias',
  'question',
  'dúvida',
  'duvida',
  'quick question',
  'info',
  'contato',
  'contact',
  'urgent',
  'urgente',
  'important',
  'importante',
  're',
  'fwd',
  'fw',
]);

/**
 * True for an empty subject, one of fewer than 3 letters or digits (an ideograph counts 2), or a bare greeting like
 * "Hi" / "Oi" / "(no subject)".
 */
export function isTrivialSubject(subject: string | null | undefined): boolean {
  const bare = normalizeSubject(subject)
    .replace(/[\p{P}\p{S}\s]+/gu, ' ')
    .trim();
  // An ideograph says as much as a short word: 報価 (quote) is a subject, "ok" is not.
  const weight = [...bare.replace(/ /g, '')].reduce(
    (n, ch) => n + (/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u.test(ch) ? 2 : 1),
    0,
  );
  if (weight < 3) return true;
  return TRIVIAL_SUBJECTS.has(bare);
}

/**
 * Whether two sets of participant addresses are the same people. Pass every address of each message (From,
 * To, Cc, Bcc, Reply-To — the mailbox owner's own included). Equal sets always match. Otherwise they must share
 * at least two addresses — both sides of the conversation, not just the mailbox owner — and the shared ones must
 * be more than half of the smaller set. So a reply-all that adds colleagues ({me, ana} vs {me, ana, bia, caio})
 * matches, while the same subject sent separately to different customers ({me, ana} vs {me, bia}) does not, nor
 * two group mails that share only the sender and one recipient out of four.
 */
export function participantsOverlap(a: Iterable<string>, b: Iterable<string>): boolean {
  const setA = new Set([...a].map((x) => x.trim().toLowerCase()).filter((x) => x.length > 0));
  const setB = new Set([...b].map((x) => x.trim().toLowerCase()).filter((x) => x.length > 0));
  if (setA.size === 0 || setB.size === 0) return false;
  let shared = 0;
  for (const address of setA) if (setB.has(address)) shared++;
  if (shared === setA.size && shared === setB.size) return true;
  return shared >= 2 && shared * 2 > Math.min(setA.size, setB.size);
}

export interface SubjectFallbackSide {
  subject: string | null | undefined;
  /** Every participant address of the message (see {@link participantsOverlap}). */
  participants: Iterable<string>;
  /** The Date of the message: epoch milliseconds or a Date. */
  date: number | Date | null | undefined;
}

function millis(date: number | Date | null | undefined): number | null {
  if (date == null) return null;
  const ms = typeof date === 'number' ? date : date.getTime();
  return Number.isFinite(ms) ? ms : null;
}

/**
 * Whether a message without a usable References/In-Reply-To chain joins another message's thread: only when
 * their normalised subjects are equal and not trivial ({@link isTrivialSubject}), their participants are the
 * same people ({@link participantsOverlap}), and their dates are at most `windowMs` apart (inclusive).
 */
export function subjectFallbackMatches(
  a: SubjectFallbackSide,
  b: SubjectFallbackSide,
  windowMs: number = SUBJECT_FALLBACK_WINDOW_MS,
): boolean {
  const dateA = millis(a.date);
  const dateB = millis(b.date);
  if (dateA === null || dateB === null || Math.abs(dateA - dateB) > windowMs) return false;
  const subjectA = normalizeSubject(a.subject);
  if (subjectA !== normalizeSubject(b.subject) || isTrivialSubject(subjectA)) return false;
  return participantsOverlap(a.participants, b.participants);
}
