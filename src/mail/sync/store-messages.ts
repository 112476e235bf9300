// Stores a batch of fetched messages and the folder cursor that covers them in ONE transaction: after a crash
// the database holds either the batch and its cursor or neither, so a restart neither loses nor repeats mail.
// Blobs (raw source, attachments) are written before the transaction: a blob without a row is garbage to
// collect later; a row without its blob never happens.
import type { Transaction } from 'kysely';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { Database, Direction, MessageSource, ParticipantRole } from '../../storage/schema.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { ParsedMessage } from '../mime/parse-message.js';
import { resolveThread } from './resolve-thread.js';

type Trx = Transaction<Database>;

export interface MessageToStore {
  dedupeKey: string;
  messageId: string | null;
  emailId: string | null;
  threadId: string | null;
  inReplyTo: string | null;
  references: string[];
  subject: string | null;
  date: number;
  from: { address: string; name: string | null } | null;
  participants: Array<{ role: ParticipantRole; address: string; name: string | null }>;
  /** The addresses that decide which contacts the message goes on. */
  mappingAddresses: string[];
  direction: Direction;
  source: MessageSource;
  /** Absent when only a location is recorded for a message already stored. */
  parsed: ParsedMessage | null;
  raw: Buffer | null;
  size: number;
  location: { accountId: string; folderId: string; uidValidity: number; uid: number; flags: string[] } | null;
}

export interface StoreContext {
  orgId: string;
  ownerUserId: string | null;
  /** False when the mailbox bringing the messages is private. */
  shared: boolean;
  blobs: BlobStore;
}

export interface StoredMessage {
  id: string;
  created: boolean;
  contactIds: string[];
}

interface BlobRef {
  sha256: string;
  size: number;
}

/** How many blob files are written at once: one at a time is ~1 ms each here, a few together ~0.3 ms each. */
const BLOB_WRITES_IN_FLIGHT = 8;

/** Writes raw sources and attachments to the blob store, outside any transaction, a few at a time. */
async function writeBlobs(ctx: StoreContext, messages: MessageToStore[]): Promise<Map<MessageToStore, { raw: BlobRef | null; attachments: BlobRef[] }>> {
  const refs = new Map<MessageToStore, { raw: BlobRef | null; attachments: BlobRef[] }>();
  const jobs: Array<() => Promise<void>> = [];
  for (const message of messages) {
    const entry: { raw: BlobRef | null; attachments: BlobRef[] } = { raw: null, attachments: [] };
    refs.set(message, entry);
    if (message.raw) {
      const raw = message.raw;
      jobs.push(async () => {
        entry.raw = await ctx.blobs.put(raw);
      });
    }
    (message.parsed?.attachments ?? []).forEach((attachment, index) => {
      jobs.push(async () => {
        entry.attachments[index] = await ctx.blobs.put(attachment.content);
      });
    });
  }
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(BLOB_WRITES_IN_FLIGHT, jobs.length) }, lane));
  return refs;
}

async function insertBlobRows(trx: Trx, refs: BlobRef[], now: number): Promise<void> {
  const unique = [...new Map(refs.map((r) => [r.sha256, r])).values()];
  for (let i = 0; i < unique.length; i += 200) {
    const chunk = unique.slice(i, i + 200);
    await trx
      .insertInto('blobs')
      .values(chunk.map((r) => ({ sha256: r.sha256, size: r.size, created_at: now })))
      .onConflict((oc) => oc.column('sha256').doNothing())
      .execute();
  }
}

/** Contact ids for normalised addresses of the org: one query per chunk, never one per message. */
export async function contactsByAddress(db: Db | Trx, orgId: string, addresses: Iterable<string>): Promise<Map<string, string>> {
  const list = [...new Set(addresses)];
  const found = new Map<string, string>();
  for (let i = 0; i < list.length; i += 500) {
    const rows = await db
      .selectFrom('contact_addresses')
      .select(['address', 'contact_id'])
      .where('org_id', '=', orgId)
      .where('address', 'in', list.slice(i, i + 500))
      .execute();
    for (const row of rows) found.set(row.address, row.contact_id);
  }
  return found;
}

async function storedIds(trx: Trx, orgId: string, keys: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(keys)];
  const found = new Map<string, string>();
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await trx.selectFrom('messages').select(['id', 'dedupe_key']).where('org_id', '=', orgId).where('dedupe_key', 'in', unique.slice(i, i + 500)).execute();
    for (const row of rows) found.set(row.dedupe_key, row.id);
  }
  return found;
}

function flagsSeen(flags: string[]): number {
  return flags.includes('\\Seen') ? 1 : 0;
}

/**
 * Stores the batch and runs `advanceCursor` inside the same transaction. Messages already stored (same
 * dedupe key in the org) only gain the new location and any new contact links.
 */
export async function storeMessages(
  db: Db,
  ctx: StoreContext,
  messages: MessageToStore[],
  advanceCursor: ((trx: Trx) => Promise<void>) | null,
): Promise<StoredMessage[]> {
  const blobRefs = await writeBlobs(ctx, messages);
  const now = Date.now();
  return db.transaction().execute(async (trx) => {
    await insertBlobRows(trx, [...blobRefs.values()].flatMap((r) => [...(r.raw ? [r.raw] : []), ...r.attachments]), now);
    const contacts = await contactsByAddress(trx, ctx.orgId, messages.flatMap((m) => m.mappingAddresses));
    // One lookup for the batch; messages stored by this same batch are added as they go.
    const existing = await storedIds(trx, ctx.orgId, messages.map((m) => m.dedupeKey));
    const stored: StoredMessage[] = [];
    for (const message of messages) {
      const refs = blobRefs.get(message)!;
      const known = existing.get(message.dedupeKey);
      let row: { id: string } | undefined = known ? { id: known } : undefined;
      let created = false;
      if (!row && message.parsed) {
        const id = newId(now);
        const threadId = await resolveThread(trx, ctx.orgId, message, now);
        const parsed = message.parsed;
        await trx
          .insertInto('messages')
          .values({
            id,
            org_id: ctx.orgId,
            dedupe_key: message.dedupeKey,
            message_id_header: message.messageId,
            gm_msgid: message.emailId,
            thread_id: threadId,
            in_reply_to: message.inReplyTo,
            references_json: message.references.length ? JSON.stringify(message.references) : null,
            subject: message.subject,
            from_address: message.from?.address ?? null,
            from_name: message.from?.name ?? null,
            date: message.date,
            direction: message.direction,
            source: message.source,
            snippet: parsed.snippet,
            text_body: parsed.text,
            html_body: parsed.html,
            has_attachments: parsed.attachments.some((a) => !a.inline) ? 1 : 0,
            bounced: 0,
            size: message.size,
            raw_blob_sha256: refs.raw?.sha256 ?? null,
            parse_error: parsed.parseError,
            owner_user_id: ctx.ownerUserId,
            shared: ctx.shared ? 1 : 0,
            created_at: now,
          })
          .execute();
        if (message.participants.length > 0) {
          await trx
            .insertInto('message_participants')
            .values(message.participants.map((p, position) => ({ id: newId(now), message_id: id, role: p.role, address: p.address, name: p.name, position })))
            .execute();
        }
        if (parsed.attachments.length > 0) {
          await trx
            .insertInto('attachments')
            .values(
              parsed.attachments.map((a, position) => ({
                id: newId(now),
                message_id: id,
                blob_sha256: refs.attachments[position]!.sha256,
                filename: a.filename,
                content_type: a.contentType,
                size: a.size,
                content_id: a.contentId,
                inline: a.inline ? 1 : 0,
                position,
              })),
            )
            .execute();
        }
        row = { id };
        existing.set(message.dedupeKey, id);
        created = true;
      }
      if (!row) continue;
      // Seen in a shared mailbox too: readable by the organisation from now on.
      if (!created && ctx.shared) await trx.updateTable('messages').set({ shared: 1 }).where('id', '=', row.id).where('shared', '=', 0).execute();
      // First met in a recipient's inbox, then in the sender's Sent folder: it is the organisation's outgoing mail.
      if (!created && message.direction === 'outgoing') {
        await trx.updateTable('messages').set({ direction: 'outgoing' }).where('id', '=', row.id).where('direction', '=', 'incoming').execute();
      }
      const contactIds = [...new Set(message.mappingAddresses.map((a) => contacts.get(a)).filter((id): id is string => id !== undefined))];
      if (contactIds.length > 0) {
        await trx
          .insertInto('message_contacts')
          .values(contactIds.map((contactId) => ({ message_id: row!.id, contact_id: contactId })))
          .onConflict((oc) => oc.columns(['message_id', 'contact_id']).doNothing())
          .execute();
      }
      if (message.location) {
        const loc = message.location;
        await trx
          .insertInto('message_locations')
          .values({
            id: newId(now),
            message_id: row.id,
            account_id: loc.accountId,
            folder_id: loc.folderId,
            uid_validity: loc.uidValidity,
            uid: loc.uid,
            flags_json: JSON.stringify(loc.flags),
            seen: flagsSeen(loc.flags),
            removed_at: null,
            created_at: now,
          })
          .onConflict((oc) => oc.columns(['folder_id', 'uid_validity', 'uid']).doNothing())
          .execute();
      }
      stored.push({ id: row.id, created, contactIds });
    }
    if (advanceCursor) await advanceCursor(trx);
    return stored;
  });
}
