// Smart mapping: from a batch of header scans, decide what the CRM keeps — mail with a contact in it (or one
// that automatic contact creation is about to make a contact) — and download only that. Mail already stored
// (same dedupe key in another folder of this same mailbox, same size or same Gmail id) only gains a location;
// a copy in another mailbox is downloaded, and store-messages links it only when its content is the same.
import type { ImapFlow } from 'imapflow';
import { ensureContacts } from '../../contacts/ensure-contacts.js';
import type { Db } from '../../storage/database.js';
import type { MailFoldersTable } from '../../storage/schema.js';
import type { ParsedMessage, ParseOptions } from '../mime/parse-message.js';
import type { DownloadParser } from '../mime/parse-pool.js';
import { downloadSource, fetchSources, type ScannedMessage } from '../imap/scan-messages.js';
import { addressesToAutoCreate } from '../rules/auto-contacts.js';
import { isMachineMessage } from '../rules/machine-senders.js';
import { dedupeKey, normalizeMessageId } from '../rules/message-key.js';
import { isNeverLogged, type NeverLogList } from '../rules/never-log.js';
import { computeParticipants } from '../rules/participants.js';
import { contactsByAddress, type MessageToStore, type StoreContext } from '../intake/store-messages.js';
import { detectBounce, type BounceInfo } from '../bounces/detect-bounce.js';
import { mayBeBounce } from '../bounces/record-bounce.js';
import { inChunks, MAX_IN_LIST } from '../../storage/batches.js';

export interface MappingContext {
  db: Db;
  store: StoreContext;
  account: { id: string; orgId: string; userId: string; email: string; historyDays: number };
  ownAddresses: Set<string>;
  autoCreateContacts: boolean;
  neverLog: NeverLogList;
  parse(raw: Buffer, options?: ParseOptions): Promise<ParsedMessage>;
  /**
   * Big messages written to the blob files as they download and parsed from there (the file blob store only): see
   * STREAM_FROM_BYTES. Without it every message is downloaded into memory.
   */
  downloads?: DownloadParser | null;
  /** Delivery reports met in this pass; recorded once every folder is done (the sent copy may come later). */
  bounces: BounceInfo[];
  signal: AbortSignal;
}

export interface Candidate {
  scanned: ScannedMessage;
  key: string;
  messageId: string | null;
  participants: MessageToStore['participants'];
  mappingAddresses: string[];
  from: MessageToStore['from'];
}

function candidateOf(scanned: ScannedMessage): Candidate {
  const computed = computeParticipants({
    from: scanned.from,
    sender: scanned.sender,
    replyTo: scanned.replyTo,
    to: scanned.to,
    cc: scanned.cc,
    bcc: scanned.bcc,
    listId: scanned.listId,
    originalFrom: scanned.originalFrom,
  });
  const messageId = normalizeMessageId(scanned.messageId);
  return {
    scanned,
    messageId,
    key: dedupeKey({
      messageId,
      date: scanned.date,
      from: scanned.from?.address ?? null,
      to: scanned.to.map((a) => a.address),
      subject: scanned.subject,
    }),
    participants: computed.participants,
    mappingAddresses: computed.mappingAddresses,
    from: computed.effectiveFrom,
  };
}

/** What a scanned batch keeps, before any download: the mail with a contact, and which of it needs its source. */
export interface MappedBatch {
  folder: MailFoldersTable;
  uidValidity: number;
  kept: Candidate[];
  /** Dedupe keys this mailbox already holds (same size or Gmail id): only a location, no download. */
  held: Set<string>;
}

/**
 * A message at least this big (RFC822.SIZE) is downloaded into a blob file, a piece at a time, and parsed from there
 * when the blob store is files (issue 18): a 27 MB message with a 20 MB attachment then never sits whole in memory,
 * nor does its attachment. Below it the whole batch is one FETCH into memory, which is faster for small mail.
 */
export const STREAM_FROM_BYTES = 2 * 1024 * 1024;

/** The bytes a candidate's download costs (RFC822.SIZE from the scan); nothing when this mailbox holds it. */
export function downloadBytes(mapped: MappedBatch, c: Candidate): number {
  return mapped.held.has(c.key) ? 0 : Math.max(1, c.scanned.size);
}

/** Whether `c`'s download goes to a blob file rather than into memory (see STREAM_FROM_BYTES). */
export function streamsToFile(ctx: Pick<MappingContext, 'downloads'>, c: Candidate): boolean {
  return !!ctx.downloads && c.scanned.size >= STREAM_FROM_BYTES;
}

/**
 * Groups UIDs (in the order given) so that each group's downloads stay within `budget` bytes; a message bigger
 * than the budget is a group of its own. Groups are runs of the UID list, so each can commit its own cursor.
 */
export function groupByBytes<T>(items: T[], bytesOf: (item: T) => number, budget: number): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = bytesOf(item);
    if (current.length > 0 && bytes > 0 && size > 0 && bytes + size > budget) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * Decides what a batch of header scans keeps (contacts, automatic contacts, never-log) and reads the delivery
 * reports among the rest (downloaded at most `budget` bytes at a time). Nothing kept is downloaded here.
 */
export async function mapScannedBatch(
  ctx: MappingContext,
  client: ImapFlow,
  folder: MailFoldersTable,
  uidValidity: number,
  scanned: ScannedMessage[],
  budget: number,
): Promise<MappedBatch> {
  const candidates = scanned
    .map(candidateOf)
    // Never-log: such mail is never stored, whoever else is in it.
    .filter((c) => !c.participants.some((p) => isNeverLogged(p.address, ctx.neverLog)));
  const contacts = await contactsByAddress(
    ctx.db,
    ctx.account.orgId,
    candidates.flatMap((c) => c.mappingAddresses),
  );

  if (ctx.autoCreateContacts) {
    // Each creation is announced (contact-events), so the new contacts' earlier mail is looked for too.
    for (const c of candidates) {
      const direction = directionOf(folder, c, ctx.ownAddresses);
      const fresh = addressesToAutoCreate({
        direction,
        participants: c.participants,
        ownAddresses: [...ctx.ownAddresses],
        existingContactAddresses: new Set(contacts.keys()),
        neverLog: ctx.neverLog,
        machineMessage: isMachineMessage({
          autoSubmitted: c.scanned.autoSubmitted,
          precedence: c.scanned.precedence,
          listId: c.scanned.listId,
          ...(c.scanned.contentType ? { headers: { 'content-type': c.scanned.contentType } } : {}),
        }),
      });
      const ensured = await ensureContacts(ctx.db, ctx.account.orgId, fresh, 'auto-email');
      for (const [address, id] of ensured.ids) contacts.set(address, id);
    }
  }

  const kept = candidates.filter((c) => c.mappingAddresses.some((a) => contacts.has(a)));
  const keptSet = new Set(kept);
  // Delivery reports are fetched (they are small) to see whether they concern mail the organisation sent.
  const reports = candidates.filter((c) => !keptSet.has(c) && mayBeBounce(c.scanned));
  for (const group of groupByBytes(reports, (c) => Math.max(1, c.scanned.size), budget)) {
    if (ctx.signal.aborted) break;
    const sources = await fetchSources(
      client,
      group.map((c) => c.scanned.uid),
      ctx.signal,
    );
    for (const raw of sources.values()) {
      const bounce = detectBounce(raw);
      if (bounce) ctx.bounces.push(bounce);
    }
  }
  const held = kept.length === 0 ? new Set<string>() : await heldHere(ctx, kept);
  return { folder, uidValidity, kept, held };
}

/**
 * Downloads the sources `kept` needs and hands them to the parse pool; the promise is for the parsed messages. On
 * the file blob store the pool writes each source and its attachments (ParseOptions.storeBlobs): the source is
 * then dropped from `sources` at once, and only what is still there is written by the commit. A big message there
 * is downloaded into its blob file instead (streamsToFile) and never in `sources`.
 */
export async function fetchKept(
  ctx: MappingContext,
  client: ImapFlow,
  mapped: MappedBatch,
  kept: Candidate[],
): Promise<{ sources: Map<number, Buffer>; parsing: Promise<Map<number, ParsedMessage>> }> {
  const toFetch = kept.filter((c) => !mapped.held.has(c.key));
  const streamed = new Set(toFetch.filter((c) => streamsToFile(ctx, c)).map((c) => c.scanned.uid));
  const inMemory = [...new Set(toFetch.map((c) => c.scanned.uid))].filter((uid) => !streamed.has(uid));
  const sources = inMemory.length === 0 ? new Map<number, Buffer>() : await fetchSources(client, inMemory, ctx.signal);
  const parsed = new Map<number, ParsedMessage>();
  const jobs: Array<Promise<void>> = [];
  const track = (job: Promise<void>) => {
    // Awaited by the batch's commit; a rejection must not go unhandled meanwhile (nor when a download below fails).
    job.catch(() => undefined);
    jobs.push(job);
  };
  for (const [uid, raw] of sources) {
    track(
      ctx.parse(raw, { storeBlobs: true }).then((message) => {
        parsed.set(uid, message);
        if (message.blobs) sources.delete(uid);
      }),
    );
  }
  const downloads = ctx.downloads;
  if (downloads) {
    // One after another on this connection; each is parsed (on the pool) while the next downloads.
    for (const uid of streamed) {
      if (ctx.signal.aborted) break;
      const ref = await downloadSource(client, uid, (content) => downloads.store(content, ctx.signal));
      // Gone between the scan and the download: nothing to store, as for a batch FETCH that skips it.
      if (ref) track(downloads.parse(ref, { storeBlobs: true }).then((message) => void parsed.set(uid, message)));
    }
  }
  const parsing = Promise.all(jobs).then(() => parsed);
  // Awaited by the batch's commit; a rejection (the pool closing) must not go unhandled meanwhile.
  parsing.catch(() => undefined);
  return { sources, parsing };
}

/** The messages to store for `kept`, from their downloaded sources and parsed results. */
export function messagesToStore(
  ctx: MappingContext,
  mapped: MappedBatch,
  kept: Candidate[],
  sources: Map<number, Buffer>,
  parsed: Map<number, ParsedMessage>,
): MessageToStore[] {
  const { folder, uidValidity } = mapped;
  const out: MessageToStore[] = [];
  for (const c of kept) {
    const isNew = !mapped.held.has(c.key);
    // Gone between the scan and the fetch (moved or deleted meanwhile): never fetched nor parsed, nothing to store.
    const p = isNew ? (parsed.get(c.scanned.uid) ?? null) : null;
    if (isNew && !p) continue;
    // Its blobs written by the parse pool already, or its source to write.
    const raw = p && !p.blobs ? sources.get(c.scanned.uid) : undefined;
    if (p && !p.blobs && !raw) continue;
    out.push({
      dedupeKey: c.key,
      messageId: c.messageId,
      emailId: c.scanned.emailId,
      threadId: c.scanned.threadId,
      inReplyTo: normalizeMessageId(c.scanned.inReplyTo),
      references: c.scanned.references.map((r) => normalizeMessageId(r)).filter((r): r is string => r !== null),
      subject: c.scanned.subject,
      date: p?.date ?? c.scanned.date ?? c.scanned.internalDate,
      from: c.from,
      participants: c.participants,
      mappingAddresses: c.mappingAddresses,
      direction: directionOf(folder, c, ctx.ownAddresses),
      source: 'sync',
      parsed: p,
      raw: raw ?? null,
      size: c.scanned.size,
      location: {
        accountId: ctx.account.id,
        folderId: folder.id,
        uidValidity,
        uid: c.scanned.uid,
        flags: c.scanned.flags,
      },
    });
  }
  return out;
}

function directionOf(folder: MailFoldersTable, c: Candidate, own: Set<string>): 'incoming' | 'outgoing' {
  if (folder.role === 'sent') return 'outgoing';
  return c.from && own.has(c.from.address) ? 'outgoing' : 'incoming';
}

/**
 * The dedupe keys of `kept` that this mailbox already holds under the same key with the same size (or Gmail's
 * own message id): another folder's copy of the same message, which needs no download. Anything else is
 * downloaded and compared by content, so a Message-ID borrowed by a stranger never opens a stored message.
 */
async function heldHere(ctx: MappingContext, kept: Candidate[]): Promise<Set<string>> {
  const held = new Set<string>();
  const keys = [...new Set(kept.map((c) => c.key))];
  const rows: Array<{ dedupe_key: string; size: number; gm_msgid: string | null }> = [];
  for (const chunk of inChunks(keys, MAX_IN_LIST)) {
    rows.push(
      ...(await ctx.db
        .selectFrom('messages')
        .innerJoin('message_holders', 'message_holders.message_id', 'messages.id')
        .select(['messages.dedupe_key', 'messages.size', 'messages.gm_msgid'])
        .where('messages.org_id', '=', ctx.account.orgId)
        .where('message_holders.account_id', '=', ctx.account.id)
        .where('messages.dedupe_key', 'in', chunk)
        .execute()),
    );
  }
  const byKey = new Map(rows.map((r) => [r.dedupe_key, r]));
  for (const c of kept) {
    const row = byKey.get(c.key);
    if (!row) continue;
    const sameGmail = row.gm_msgid !== null && c.scanned.emailId !== null && row.gm_msgid === c.scanned.emailId;
    if (sameGmail || Number(row.size) === c.scanned.size) held.add(c.key);
  }
  return held;
}
