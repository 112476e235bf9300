// Stores a batch of fetched messages and the folder cursor that covers them in ONE transaction: after a crash
// the database holds either the batch and its cursor or neither, so a restart neither loses nor repeats mail.
// Blobs (raw source, attachments) are written before the transaction: a blob without a row is garbage to
// collect later; a row without its blob never happens.
//
// Two arrivals are one message only when their content is the same (contentDigest), never on a Message-ID alone:
// a copy that differs is stored as a message of its own (same thread). Each arrival records the mailbox that
// brought it (message_holders), and only those mailboxes decide who reads the message; a later copy never
// changes another mailbox's direction or visibility. A message that cannot be stored at all is set aside with
// its reason and the rest of the batch, and all later mail, goes on.
import type { Insertable, Transaction } from 'kysely';
import type { Db } from '../../storage/database.js';
import { isUniqueViolation } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import { inChunks, MAX_IN_LIST, rowsPerInsert } from '../../storage/batches.js';
import { storableText } from '../../storage/storable-text.js';
import type {
  AttachmentsTable,
  Database,
  Direction,
  MessageContactsTable,
  MessageHoldersTable,
  MessageLocationsTable,
  MessageParticipantsTable,
  MessagesTable,
} from '../../storage/schema.js';
import type { ParsedMessage } from '../mime/parse-message.js';
import type { BlobRef } from '../../storage/blob-store.js';
import { ThreadResolver } from './resolve-thread.js';
import type { MessageToStore, StoreContext, StoredMessage } from './message-to-store.js';

export type { MessageToStore, StoreContext, StoredMessage } from './message-to-store.js';
import { contentDigest, variantKey } from '../rules/message-key.js';
import { publishLiveEvent, publishLiveEvents } from '../../live/live-events.js';
import { indexNewMessages, reindexMessages, type SearchDocument } from '../../storage/search-index.js';

type Trx = Transaction<Database>;

/** Participants kept per message; the raw source keeps every one. 100,000 recipients must not stop a mailbox. */
export const MAX_STORED_PARTICIPANTS = 1_000;

type BlobRefs = Map<MessageToStore, { raw: BlobRef | null; attachments: BlobRef[] }>;

/**
 * Rows of a batch that nothing later in the batch reads back (contact links, locations): written together at the
 * end of the transaction, a few hundred per statement, instead of one statement each per message.
 */
interface BatchRows {
  contacts: Insertable<MessageContactsTable>[];
  locations: Insertable<MessageLocationsTable>[];
}

/**
 * The rows of the batch's new messages (the message, its participants, holders and attachments), written a few
 * hundred per statement instead of one statement each per message (issue 18: those were ~4 of the seed's ~6.7 round
 * trips per message): messages and participants before anything reads them (insertPendingMessages), holders and
 * attachments once the batch's messages are in, before the full-text index reads the holders. Holders are keyed by
 * message, so that a second copy of a message in the same batch finds its mailbox's pending row.
 */
interface NewRows {
  /** Message rows not yet inserted, by id: a later copy in the batch may still change the row (its direction). */
  messages: Map<string, Insertable<MessagesTable>>;
  participants: Insertable<MessageParticipantsTable>[];
  /** Characters of the pending messages' bodies. */
  bodyChars: number;
  holders: Map<string, Insertable<MessageHoldersTable>[]>;
  attachments: Insertable<AttachmentsTable>[];
}

/**
 * Pending messages are inserted once this many, or this many participants or body characters, wait: hostile
 * recipient lists stay small in memory, and so does one statement (node-postgres keeps a connection's buffer as big
 * as the biggest statement it sent).
 */
const MAX_PENDING_MESSAGES = 200;
const MAX_PENDING_PARTICIPANTS = 5_000;
const MAX_PENDING_BODY_CHARS = 1 << 20;

/**
 * The batch's new messages and their participants, a few hundred per statement: before anything reads them (the
 * subject fallback of the thread lookup reads a thread's last message and its people) and before the rows that
 * refer to them.
 */
async function insertPendingMessages(trx: Trx, rows: NewRows): Promise<void> {
  const messages = [...rows.messages.values()];
  const participants = rows.participants;
  rows.messages.clear();
  rows.participants = [];
  rows.bodyChars = 0;
  if (messages.length === 0) return;
  for (const chunk of inChunks(messages, rowsPerInsert(Object.keys(messages[0]!).length)))
    await trx.insertInto('messages').values(chunk).execute();
  for (const chunk of inChunks(participants, rowsPerInsert(6)))
    await trx.insertInto('message_participants').values(chunk).execute();
}

async function insertNewRows(trx: Trx, rows: NewRows): Promise<void> {
  await insertPendingMessages(trx, rows);
  for (const chunk of inChunks([...rows.holders.values()].flat(), rowsPerInsert(8)))
    await trx.insertInto('message_holders').values(chunk).execute();
  for (const chunk of inChunks(rows.attachments, rowsPerInsert(9)))
    await trx.insertInto('attachments').values(chunk).execute();
}

async function insertBatchRows(trx: Trx, rows: BatchRows): Promise<void> {
  for (const chunk of inChunks(rows.contacts, rowsPerInsert(3)))
    await trx
      .insertInto('message_contacts')
      .values(chunk)
      .onConflict((oc) => oc.columns(['message_id', 'contact_id']).doNothing())
      .execute();
  for (const chunk of inChunks(rows.locations, rowsPerInsert(10)))
    await trx
      .insertInto('message_locations')
      .values(chunk)
      .onConflict((oc) => oc.columns(['folder_id', 'uid_validity', 'uid']).doNothing())
      .execute();
}

/** How many blob files are written at once: one at a time is ~1 ms each here, a few together ~0.3 ms each. */
const BLOB_WRITES_IN_FLIGHT = 8;

/**
 * Writes raw sources and attachments to the blob store, outside any transaction: all in one call where the store
 * takes several (putMany: the database store, where each statement is a commit), else a few at a time; a message
 * whose parse wrote them (ParsedMessage.blobs) only has its refs taken.
 */
async function writeBlobs(ctx: StoreContext, messages: MessageToStore[]): Promise<BlobRefs> {
  const refs: BlobRefs = new Map();
  const pending: Array<{ content: Buffer; settle: (ref: BlobRef) => void }> = [];
  for (const message of messages) {
    // Written by the parse pool already (a first sync on the file blob store).
    if (message.parsed?.blobs) {
      refs.set(message, { raw: message.parsed.blobs.raw, attachments: message.parsed.blobs.attachments });
      continue;
    }
    const entry: { raw: BlobRef | null; attachments: BlobRef[] } = { raw: null, attachments: [] };
    refs.set(message, entry);
    if (message.raw) pending.push({ content: message.raw, settle: (ref) => (entry.raw = ref) });
    (message.parsed?.attachments ?? []).forEach((attachment, index) => {
      pending.push({ content: attachment.content, settle: (ref) => (entry.attachments[index] = ref) });
    });
  }
  if (pending.length === 0) return refs;
  if (ctx.blobs.putMany) {
    const written = await ctx.blobs.putMany(pending.map((p) => p.content));
    written.forEach((ref, i) => pending[i]!.settle(ref));
    return refs;
  }
  let next = 0;
  const lane = async () => {
    while (next < pending.length) {
      const job = pending[next++]!;
      job.settle(await ctx.blobs.put(job.content));
    }
  };
  await Promise.all(Array.from({ length: Math.min(BLOB_WRITES_IN_FLIGHT, pending.length) }, lane));
  return refs;
}

async function insertBlobRows(trx: Trx, refs: BlobRef[], now: number): Promise<void> {
  // In one order (by hash) in every transaction: two mailboxes storing the same attachment at the same moment
  // (on PostgreSQL) otherwise each wait for the other's row, and one batch dies of a deadlock (40P01).
  const unique = [...new Map(refs.map((r) => [r.sha256, r])).values()].sort((a, b) =>
    a.sha256 < b.sha256 ? -1 : a.sha256 > b.sha256 ? 1 : 0,
  );
  // Rows already there are not inserted again: on PostgreSQL even a conflicting insert waits for every other open
  // transaction that inserted the same hash, so mailboxes sharing attachments (a logo, one mail to a team) would
  // store one after the other.
  const known = new Set<string>();
  for (const chunk of inChunks(
    unique.map((r) => r.sha256),
    MAX_IN_LIST,
  )) {
    const rows = await trx.selectFrom('blobs').select('sha256').where('sha256', 'in', chunk).execute();
    for (const row of rows) known.add(row.sha256);
  }
  for (const chunk of inChunks(
    unique.filter((r) => !known.has(r.sha256)),
    rowsPerInsert(3),
  )) {
    await trx
      .insertInto('blobs')
      .values(chunk.map((r) => ({ sha256: r.sha256, size: r.size, created_at: now })))
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
  }
}

/** Contact ids for normalised addresses of the org: one query per chunk, never one per message. */
export async function contactsByAddress(
  db: Db | Trx,
  orgId: string,
  addresses: Iterable<string>,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const chunk of inChunks([...new Set(addresses)], MAX_IN_LIST)) {
    const rows = await db
      .selectFrom('contact_addresses')
      .select(['address', 'contact_id'])
      .where('org_id', '=', orgId)
      .where('address', 'in', chunk)
      .execute();
    for (const row of rows) found.set(row.address, row.contact_id);
  }
  return found;
}

interface StoredRow {
  id: string;
  dedupe_key: string;
  content_digest: string | null;
  direction: Direction;
  thread_id: string | null;
  /** Copied onto each holder row: the inbox is read newest first from those (migration 0025). */
  date: number;
}

/** Stored messages under any of `keys`, by key. */
async function storedByKey(trx: Trx, orgId: string, keys: string[]): Promise<Map<string, StoredRow>> {
  const found = new Map<string, StoredRow>();
  for (const chunk of inChunks([...new Set(keys)], MAX_IN_LIST)) {
    const rows = await trx
      .selectFrom('messages')
      .select(['id', 'dedupe_key', 'content_digest', 'direction', 'thread_id', 'date'])
      .where('org_id', '=', orgId)
      .where('dedupe_key', 'in', chunk)
      .execute();
    for (const row of rows) found.set(row.dedupe_key, row);
  }
  return found;
}

/** The ids among `ids` that the mailbox `accountId` already holds. */
async function heldBy(trx: Trx, accountId: string | null, ids: string[]): Promise<Set<string>> {
  const held = new Set<string>();
  if (accountId === null) return held;
  for (const chunk of inChunks([...new Set(ids)], MAX_IN_LIST)) {
    const rows = await trx
      .selectFrom('message_holders')
      .select('message_id')
      .where('account_id', '=', accountId)
      .where('message_id', 'in', chunk)
      .execute();
    for (const row of rows) held.add(row.message_id);
  }
  return held;
}

function flagsSeen(flags: string[]): number {
  return flags.includes('\\Seen') ? 1 : 0;
}

/** The participants a message keeps, without characters the databases cannot hold. */
function storedParticipants(message: MessageToStore): MessageToStore['participants'] {
  return message.participants
    .slice(0, MAX_STORED_PARTICIPANTS)
    .map((p) => ({ role: p.role, address: storableText(p.address), name: storableText(p.name) }));
}

/** The digest of a message about to be stored, from exactly the fields its row will hold. */
function digestOf(message: MessageToStore, parsed: ParsedMessage, attachments: BlobRef[]): string {
  return contentDigest({
    subject: message.subject,
    date: message.date,
    from: message.from?.address ?? null,
    recipients: storedParticipants(message)
      .filter((p) => p.role === 'to' || p.role === 'cc')
      .map((p) => p.address),
    text: parsed.text,
    html: parsed.html,
    attachments: attachments.map((a) => a.sha256),
  });
}

/**
 * The digest of a message stored before digests existed, computed from its row the way digestOf computes it for
 * an arrival, and kept.
 */
async function storedDigest(trx: Trx, row: StoredRow): Promise<string | null> {
  if (row.content_digest !== null) return row.content_digest;
  const message = await trx
    .selectFrom('messages')
    .select(['subject', 'date', 'from_address', 'text_body', 'html_body'])
    .where('id', '=', row.id)
    .executeTakeFirst();
  if (!message) return null;
  const [people, attachments] = await Promise.all([
    trx
      .selectFrom('message_participants')
      .select('address')
      .where('message_id', '=', row.id)
      .where('role', 'in', ['to', 'cc'])
      .execute(),
    trx.selectFrom('attachments').select('blob_sha256').where('message_id', '=', row.id).execute(),
  ]);
  const digest = contentDigest({
    subject: message.subject,
    date: message.date,
    from: message.from_address,
    recipients: people.map((p) => p.address),
    text: message.text_body,
    html: message.html_body,
    attachments: attachments.map((a) => a.blob_sha256),
  });
  await trx.updateTable('messages').set({ content_digest: digest }).where('id', '=', row.id).execute();
  row.content_digest = digest;
  return digest;
}

async function insertMessage(
  trx: Trx,
  ctx: StoreContext,
  message: MessageToStore,
  parsed: ParsedMessage,
  key: string,
  digest: string,
  refs: { raw: BlobRef | null; attachments: BlobRef[] },
  now: number,
  searchDocs: SearchDocument[],
  newRows: NewRows,
  threads: ThreadResolver,
): Promise<{ id: string; threadId: string | null }> {
  const id = newId(now);
  const threadId = await threads.resolve(message, now);
  newRows.messages.set(id, {
    id,
    org_id: ctx.orgId,
    dedupe_key: storableText(key),
    message_id_header: storableText(message.messageId),
    gm_msgid: message.emailId,
    thread_id: threadId,
    in_reply_to: storableText(message.inReplyTo),
    references_json: message.references.length ? storableText(JSON.stringify(message.references)) : null,
    subject: storableText(message.subject),
    from_address: storableText(message.from?.address ?? null),
    from_name: storableText(message.from?.name ?? null),
    date: message.date,
    direction: message.direction,
    source: message.source,
    snippet: storableText(parsed.snippet),
    text_body: storableText(parsed.text),
    html_body: storableText(parsed.html),
    has_attachments: parsed.attachments.some((a) => !a.inline) ? 1 : 0,
    bounced: 0,
    size: message.size,
    raw_blob_sha256: refs.raw?.sha256 ?? null,
    parse_error: storableText(parsed.parseError),
    owner_user_id: ctx.ownerUserId,
    shared: ctx.shared ? 1 : 0,
    content_digest: digest,
    created_at: now,
  });
  const participants = storedParticipants(message);
  participants.forEach((p, position) =>
    newRows.participants.push({
      id: newId(now),
      message_id: id,
      role: p.role,
      address: p.address,
      name: p.name,
      position,
    }),
  );
  newRows.bodyChars += (parsed.text?.length ?? 0) + (parsed.html?.length ?? 0);
  if (
    newRows.messages.size >= MAX_PENDING_MESSAGES ||
    newRows.participants.length >= MAX_PENDING_PARTICIPANTS ||
    newRows.bodyChars >= MAX_PENDING_BODY_CHARS
  )
    await insertPendingMessages(trx, newRows);
  // Written with the batch's (insertNewRows): nothing in the batch reads a new message's attachments (its digest is
  // in its row).
  const attachments = parsed.attachments.map((a, position) => ({
    id: newId(now),
    message_id: id,
    blob_sha256: refs.attachments[position]!.sha256,
    filename: storableText(a.filename),
    content_type: storableText(a.contentType),
    size: a.size,
    content_id: storableText(a.contentId),
    inline: a.inline ? 1 : 0,
    position,
  }));
  newRows.attachments.push(...attachments);
  // Indexed once for the whole batch (storeInTransaction), from exactly what the rows hold.
  searchDocs.push({
    messageId: id,
    subject: storableText(message.subject),
    people: [
      storableText(message.from?.name ?? null),
      storableText(message.from?.address ?? null),
      ...participants.flatMap((p) => [p.name, p.address]),
    ],
    attachmentNames: attachments.map((a) => a.filename),
    text: storableText(parsed.text),
    html: storableText(parsed.html),
  });
  return { id, threadId };
}

/**
 * Stores the batch and runs `advanceCursor` inside the same transaction. A message already stored with the same
 * content only gains the new location, holder and contact links. When the batch cannot be stored as a whole,
 * each message is tried on its own: those that still fail are set aside (with their reason, for sync health)
 * when they came from a mailbox folder, and the cursor moves past them.
 */
export async function storeMessages(
  db: Db,
  ctx: StoreContext,
  messages: MessageToStore[],
  advanceCursor: ((trx: Trx, stored: StoredMessage[]) => Promise<void>) | null,
): Promise<StoredMessage[]> {
  const blobRefs = await writeBlobs(ctx, messages);
  let stored: StoredMessage[];
  try {
    stored = await db.transaction().execute(async (trx) => {
      const stored = await storeInTransaction(trx, ctx, messages, blobRefs);
      if (advanceCursor) await advanceCursor(trx, stored);
      return stored;
    });
  } catch (error) {
    if (isTransientDbError(error) || messages.length === 0) throw error;
    if (messages.length === 1 && !messages[0]!.location) throw error;
    stored = await storeOneByOne(db, ctx, messages, blobRefs, advanceCursor, error);
  }
  await announceArrivals(db, ctx, stored);
  return stored;
}

/** More new messages than this in one batch (a first sync) make one `messages.bulk` event instead of one each. */
const MAX_SINGLE_EVENTS = 20;

/**
 * Tells the live inbox what arrived, after the commit (a page must never be told of a message it cannot read yet):
 * to the mailbox's owner for a private mailbox, to the organisation for a shared one (the live route checks each
 * reader against the access policy again).
 */
async function announceArrivals(db: Db, ctx: StoreContext, stored: StoredMessage[]): Promise<void> {
  const arrived = stored.filter((s) => s.arrived && s.id !== '');
  if (arrived.length === 0) return;
  const userId = ctx.shared ? null : ctx.ownerUserId;
  try {
    if (arrived.length > MAX_SINGLE_EVENTS) {
      // A count names no message, so it goes only where every reader may know of the mailbox's mail.
      if (userId !== null || ctx.shared)
        await publishLiveEvent(db, {
          orgId: ctx.orgId,
          userId,
          type: 'messages.bulk',
          data: { count: arrived.length },
        });
      return;
    }
    await publishLiveEvents(
      db,
      arrived.map((s) => ({
        orgId: ctx.orgId,
        userId,
        type: 'message.new' as const,
        data: { messageId: s.id, threadId: s.threadId ?? null },
      })),
    );
  } catch {
    // The feed is a nudge to refetch, not the mail: the messages are stored, and a page catches up at its next
    // event or reload. A failure here must not fail the sync that stored them.
  }
}

async function storeOneByOne(
  db: Db,
  ctx: StoreContext,
  messages: MessageToStore[],
  blobRefs: BlobRefs,
  advanceCursor: ((trx: Trx, stored: StoredMessage[]) => Promise<void>) | null,
  batchError: unknown,
): Promise<StoredMessage[]> {
  const stored: StoredMessage[] = [];
  for (const message of messages) {
    let lastError: unknown = batchError;
    let done = false;
    // A unique violation is another writer storing the same message at the same moment: once more finds it.
    for (let attempt = 0; attempt < 2 && !done; attempt++) {
      try {
        stored.push(...(await db.transaction().execute((trx) => storeInTransaction(trx, ctx, [message], blobRefs))));
        done = true;
      } catch (error) {
        if (isTransientDbError(error)) throw error;
        lastError = error;
        if (!isUniqueViolation(error)) break;
      }
    }
    if (done) continue;
    // Mail handed over by a person (a send, a BCC delivery) gets the error back; a mailbox's mail is set aside.
    if (!message.location) throw lastError;
    const reason = describeStoreFailure(lastError);
    await setAside(db, message, reason);
    stored.push({ id: '', created: false, contactIds: [], setAside: reason });
  }
  // Even a batch whose every message fails alone moves on: the database's own trouble is transient and retried
  // above; what is left is the mail's, and a mailbox must never stop on it (each reason is in the sync health).
  if (advanceCursor) await db.transaction().execute((trx) => advanceCursor(trx, stored));
  return stored;
}

async function storeInTransaction(
  trx: Trx,
  ctx: StoreContext,
  messages: MessageToStore[],
  blobRefs: BlobRefs,
): Promise<StoredMessage[]> {
  const now = Date.now();
  await insertBlobRows(
    trx,
    [...blobRefs.entries()]
      .filter(([m]) => messages.includes(m))
      .flatMap(([, r]) => [...(r.raw ? [r.raw] : []), ...r.attachments]),
    now,
  );
  const contacts = await contactsByAddress(
    trx,
    ctx.orgId,
    messages.flatMap((m) => m.mappingAddresses),
  );
  const digests = new Map<MessageToStore, string>();
  for (const message of messages) {
    if (message.parsed)
      digests.set(message, digestOf(message, message.parsed, blobRefs.get(message)?.attachments ?? []));
  }
  // One lookup for the batch (each key and the variant key of its content); rows stored by this batch join as they go.
  const known = await storedByKey(
    trx,
    ctx.orgId,
    messages.flatMap((m) => (digests.has(m) ? [m.dedupeKey, variantKey(m.dedupeKey, digests.get(m)!)] : [m.dedupeKey])),
  );
  const held = await heldBy(
    trx,
    ctx.accountId,
    [...known.values()].map((r) => r.id),
  );
  const stored: StoredMessage[] = [];
  const searchDocs: SearchDocument[] = [];
  const rows: BatchRows = { contacts: [], locations: [] };
  const newRows: NewRows = { messages: new Map(), participants: [], bodyChars: 0, holders: new Map(), attachments: [] };
  // The thread keys and subjects of the messages not yet stored, read at once; what found threads learn is written at
  // the end (flush). The resolver has the batch's pending messages written before its subject fallback reads them.
  const threads = new ThreadResolver(trx, ctx.orgId, () => insertPendingMessages(trx, newRows));
  await threads.preload(messages.filter((m) => digests.has(m) && !known.has(m.dedupeKey)));
  const linked = new Set<string>();
  /** Messages stored before that this batch put in another inbox: their documents need that inbox's view token. */
  const viewChanged = new Set<string>();
  for (const message of messages) {
    const digest = digests.get(message) ?? null;
    let row: StoredRow | undefined;
    let created = false;
    if (digest === null) {
      // Only a location: map-messages sends this for a message this same mailbox already holds.
      const base = known.get(message.dedupeKey);
      if (base && held.has(base.id)) row = base;
    } else {
      for (const key of [message.dedupeKey, variantKey(message.dedupeKey, digest)]) {
        const candidate = known.get(key);
        if (candidate && (await storedDigest(trx, candidate)) === digest) {
          row = candidate;
          break;
        }
      }
      // A BCC filing is the mailbox owner's own word about mail this same mailbox holds (an inline forward is a
      // retelling, not the bytes): it files that message. Linking changes nobody's access: the mailbox holds it.
      const base = known.get(message.dedupeKey);
      if (!row && message.source === 'bcc' && base && held.has(base.id)) row = base;
      if (!row) {
        const key = known.has(message.dedupeKey) ? variantKey(message.dedupeKey, digest) : message.dedupeKey;
        const inserted = await insertMessage(
          trx,
          ctx,
          message,
          message.parsed!,
          key,
          digest,
          blobRefs.get(message)!,
          now,
          searchDocs,
          newRows,
          threads,
        );
        row = {
          id: inserted.id,
          dedupe_key: key,
          content_digest: digest,
          direction: message.direction,
          thread_id: inserted.threadId,
          date: message.date,
        };
        known.set(key, row);
        created = true;
      }
    }
    if (!row) continue;
    const arrived = await addHolder(trx, ctx, row, message.direction, created, now, viewChanged, newRows);
    held.add(row.id);
    const contactIds = [
      ...new Set(message.mappingAddresses.map((a) => contacts.get(a)).filter((id): id is string => id !== undefined)),
    ];
    for (const contactId of contactIds) {
      // Two copies of one message in a batch link the same contacts once.
      const key = `${row.id} ${contactId}`;
      if (linked.has(key)) continue;
      linked.add(key);
      rows.contacts.push({ message_id: row.id, contact_id: contactId, date: row.date });
    }
    if (message.location) {
      const loc = message.location;
      rows.locations.push({
        id: newId(now),
        message_id: row.id,
        account_id: loc.accountId,
        folder_id: loc.folderId,
        uid_validity: loc.uidValidity,
        uid: loc.uid,
        flags_json: storableText(JSON.stringify(loc.flags)),
        seen: flagsSeen(loc.flags),
        removed_at: null,
        created_at: now,
      });
    }
    stored.push({ id: row.id, created, contactIds, arrived, threadId: row.thread_id });
  }
  await threads.flush();
  await insertNewRows(trx, newRows);
  // The full-text index, in the same transaction as the rows: a few multi-row statements for the batch.
  // After the holder rows: each document carries the inbox view tokens they give (search-index.ts). The new
  // documents first: a reindex drops documents, which must not come between FTS5 inserts (search-index.ts).
  await indexNewMessages(trx, searchDocs);
  for (const doc of searchDocs) viewChanged.delete(doc.messageId);
  await reindexMessages(trx, [...viewChanged]);
  await insertBatchRows(trx, rows);
  return stored;
}

/**
 * Records that the context's mailbox holds the message, once per mailbox, with the direction it has there. Met
 * first in this mailbox's inbox, then in its Sent folder, it is this mailbox's outgoing mail; the message's own
 * direction follows only while no other mailbox holds it — another mailbox's copy never changes it. A message stored
 * before that this puts in another inbox goes into `viewChanged`, to be indexed again with that inbox's view token.
 * The new holder row waits in `newRows` for the batch's insert; a later copy in the same batch finds it there.
 */
async function addHolder(
  trx: Trx,
  ctx: StoreContext,
  message: Pick<StoredRow, 'id' | 'date'>,
  direction: Direction,
  fresh: boolean,
  now: number,
  viewChanged: Set<string>,
  newRows: NewRows,
): Promise<boolean> {
  const messageId = message.id;
  const pending = newRows.holders.get(messageId) ?? [];
  const stored = fresh
    ? []
    : await trx
        .selectFrom('message_holders')
        .select(['id', 'account_id', 'user_id', 'direction'])
        .where('message_id', '=', messageId)
        .execute();
  const isMine = (h: { account_id?: string | null; user_id?: string | null }) =>
    ctx.accountId === null ? h.account_id === null && h.user_id === ctx.ownerUserId : h.account_id === ctx.accountId;
  const minePending = pending.find(isMine);
  const mine = minePending ?? stored.find(isMine);
  if (mine) {
    if (direction === 'outgoing' && mine.direction === 'incoming') {
      // Its view token may stay in the index: a token only narrows a search that still tests the inbox.
      if (minePending) minePending.direction = 'outgoing';
      else await trx.updateTable('message_holders').set({ direction: 'outgoing' }).where('id', '=', mine.id!).execute();
      // Held by this mailbox alone: the message's direction follows (a row of this batch not yet written, in place).
      if (stored.length + pending.length === 1) {
        const row = newRows.messages.get(messageId);
        if (row) row.direction = 'outgoing';
        else await trx.updateTable('messages').set({ direction: 'outgoing' }).where('id', '=', messageId).execute();
      }
    }
    return false;
  }
  pending.push({
    id: newId(now),
    message_id: messageId,
    account_id: ctx.accountId,
    user_id: ctx.ownerUserId,
    shared: ctx.shared ? 1 : 0,
    direction,
    date: message.date,
    created_at: now,
  });
  newRows.holders.set(messageId, pending);
  if (!fresh && ctx.accountId !== null && direction === 'incoming') viewChanged.add(messageId);
  // A message inserted just now already has its mailbox's visibility (insertMessage).
  if (ctx.shared && !fresh)
    await trx.updateTable('messages').set({ shared: 1 }).where('id', '=', messageId).where('shared', '=', 0).execute();
  return true;
}

async function setAside(db: Db, message: MessageToStore, reason: string): Promise<void> {
  const loc = message.location!;
  await db
    .insertInto('set_aside_messages')
    .values({
      id: newId(),
      account_id: loc.accountId,
      folder_id: loc.folderId,
      uid_validity: loc.uidValidity,
      uid: loc.uid,
      message_id_header: storableText(message.messageId)?.slice(0, 998) ?? null,
      reason,
      created_at: Date.now(),
    })
    .execute();
}

/** A short reason for sync health: the database's error class, never the message's content. */
function describeStoreFailure(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  const text = error instanceof Error ? error.message : String(error);
  return `could not be stored${typeof code === 'string' ? ` (${code})` : ''}: ${text.replace(/\s+/g, ' ').slice(0, 200)}`;
}

/**
 * Errors of the database or the connection to it rather than of the data: the batch is tried again later as it
 * is. Everything else is taken as the mail's fault, and the batch is split to find the message to set aside.
 */
export function isTransientDbError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (/^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|READONLY|INTERRUPT|PROTOCOL)/.test(code)) return true;
    // PostgreSQL classes: 08 connection, 40 transaction rollback, 53 resources, 57 operator, 58 system.
    if (/^(08|40|53|57|58)[0-9A-Z]{3}$/.test(code)) return true;
    if (/^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|ENOSPC|EIO)$/.test(code)) return true;
  }
  const text = error instanceof Error ? error.message : '';
  return /Connection terminated|connection is closed|Client has encountered a connection error|timeout exceeded when trying to connect/i.test(
    text,
  );
}
