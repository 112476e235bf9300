// The header-only scan: what the sync engine learns about a message without downloading it — flags, dates,
// the envelope's addresses and the threading and list headers. One UID FETCH per batch.
import type { FetchMessageObject, FetchQueryObject, ImapFlow, MessageAddressObject } from 'imapflow';
import addressparser from 'nodemailer/lib/addressparser/index.js';

/** A participant's address, lower-cased, with its display name: one definition for scan, parser and rules. */
export type { Address } from '../rules/participants.js';
import type { Address } from '../rules/participants.js';

export interface ScannedMessage {
  uid: number;
  flags: string[];
  internalDate: number;
  size: number;
  messageId: string | null;
  inReplyTo: string | null;
  references: string[];
  subject: string | null;
  date: number | null;
  from: Address | null;
  sender: Address | null;
  replyTo: Address[];
  to: Address[];
  cc: Address[];
  bcc: Address[];
  listId: string | null;
  originalFrom: Address | null;
  autoSubmitted: string | null;
  precedence: string | null;
  contentType: string | null;
  /** Gmail's X-GM-MSGID / X-GM-THRID (or OBJECTID's EMAILID / THREADID) when the server has them. */
  emailId: string | null;
  threadId: string | null;
}

/**
 * The header fields the scan asks for besides the envelope (BODY.PEEK[HEADER.FIELDS (...)]): threading, lists,
 * machine senders, the top-level type. One list, shared with the sync benchmark's raw baseline.
 */
export const SCAN_HEADERS: readonly string[] = [
  'references',
  'list-id',
  'x-original-from',
  'auto-submitted',
  'precedence',
  'content-type',
];

function addresses(list: MessageAddressObject[] | undefined): Address[] {
  const out: Address[] = [];
  for (const entry of list ?? []) {
    const address = entry.address?.trim().toLowerCase();
    // Group syntax and broken entries come through without an address (or without '@'): not a participant.
    if (address && address.includes('@')) out.push({ address, name: entry.name?.trim() || null });
  }
  return out;
}

/** Unfolds a raw header block into lower-cased name → first value. */
export function parseHeaderBlock(block: Buffer | undefined): Map<string, string> {
  const headers = new Map<string, string>();
  if (!block) return headers;
  const text = block.toString('utf8').replace(/\r?\n[ \t]+/g, ' ');
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}

export function parseMessageIdList(value: string | undefined | null): string[] {
  if (!value) return [];
  const ids = value.match(/<[^<>\s]+>/g);
  return ids ? ids : value.split(/\s+/).filter((part) => part.includes('@'));
}

function firstAddress(value: string | undefined): Address | null {
  if (!value) return null;
  try {
    for (const entry of addressparser(value, { flatten: true })) {
      const address = entry.address?.trim().toLowerCase();
      if (address && address.includes('@')) return { address, name: entry.name?.trim() || null };
    }
  } catch {
    // An unreadable header is as good as none.
  }
  return null;
}

function toEpoch(value: Date | string | undefined): number | null {
  if (!value) return null;
  const ms = (value instanceof Date ? value : new Date(value)).getTime();
  return Number.isFinite(ms) ? ms : null;
}

export function toScannedMessage(msg: FetchMessageObject): ScannedMessage {
  const env = msg.envelope;
  const headers = parseHeaderBlock(msg.headers);
  const internalDate = toEpoch(msg.internalDate) ?? Date.now();
  return {
    uid: msg.uid,
    flags: [...(msg.flags ?? [])],
    internalDate,
    size: msg.size ?? 0,
    messageId: env?.messageId?.trim() || null,
    inReplyTo: parseMessageIdList(env?.inReplyTo)[0] ?? null,
    references: parseMessageIdList(headers.get('references')),
    subject: env?.subject ?? null,
    date: toEpoch(env?.date),
    from: addresses(env?.from)[0] ?? null,
    sender: addresses(env?.sender)[0] ?? null,
    replyTo: addresses(env?.replyTo),
    to: addresses(env?.to),
    cc: addresses(env?.cc),
    bcc: addresses(env?.bcc),
    listId: headers.get('list-id') ?? null,
    originalFrom: firstAddress(headers.get('x-original-from')),
    autoSubmitted: headers.get('auto-submitted') ?? null,
    precedence: headers.get('precedence') ?? null,
    contentType: headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() ?? null,
    emailId: msg.emailId ?? null,
    threadId: msg.threadId ?? null,
  };
}

/**
 * Scans the given UIDs (a UID set string such as "1:500" or a list). imapflow must not run another command
 * while a fetch is being iterated, so the batch is collected first. Duplicate UIDs (a notification
 * arriving mid-command) are dropped.
 */
export async function scanMessages(
  client: ImapFlow,
  uids: string | number[],
  signal?: AbortSignal,
): Promise<ScannedMessage[]> {
  const range = Array.isArray(uids) ? uids.join(',') : uids;
  if (!range) return [];
  const seen = new Map<number, ScannedMessage>();
  const query: FetchQueryObject = {
    uid: true,
    flags: true,
    envelope: true,
    internalDate: true,
    size: true,
    headers: [...SCAN_HEADERS],
    threadId: true,
  };
  for await (const msg of client.fetch(range, query, { uid: true })) {
    if (signal?.aborted) break;
    if (!seen.has(msg.uid)) seen.set(msg.uid, toScannedMessage(msg));
  }
  return [...seen.values()];
}

/** Downloads the full source of the given UIDs (BODY.PEEK[]: unread mail stays unread). */
export async function fetchSources(
  client: ImapFlow,
  uids: number[],
  signal?: AbortSignal,
): Promise<Map<number, Buffer>> {
  const sources = new Map<number, Buffer>();
  if (uids.length === 0) return sources;
  for await (const msg of client.fetch(uids.join(','), { uid: true, source: true }, { uid: true })) {
    if (signal?.aborted) break;
    if (msg.source) sources.set(msg.uid, msg.source);
  }
  return sources;
}

/**
 * Pieces of a download: a big message is asked for this much at a time (BODY.PEEK[]<offset.length>). memattach (40
 * messages of 27 MB): 1 MiB pieces peaked at 190-202 MB of RSS (imapflow's buffers of each piece), 256 KiB at 167-170 MB
 * and faster; 128 KiB no lower and slower (more round trips).
 */
const DOWNLOAD_PIECE_BYTES = 256 * 1024;

/**
 * Downloads the full source of `uid` a piece at a time into `store` (BODY.PEEK[] by ranges: unread mail stays
 * unread), for a message too big to hold in memory; null when the message is gone. `store` must consume the stream.
 */
export async function downloadSource<T>(
  client: ImapFlow,
  uid: number,
  store: (content: AsyncIterable<Uint8Array>) => Promise<T>,
): Promise<T | null> {
  const download = await client.download(String(uid), undefined, { uid: true, chunkSize: DOWNLOAD_PIECE_BYTES });
  if (!download.content) return null;
  const content = download.content;
  try {
    return await store(content);
  } finally {
    // A store that failed midway leaves the rest unread: the download stops rather than run on into nothing.
    if (!content.readableEnded) content.destroy();
  }
}
