// One pass over one folder: UIDVALIDITY check, the newest-first first sync within the history window,
// new UIDs, flag changes (CONDSTORE) and removals. Every batch commits with its cursor (store-messages.ts).
import type { ImapFlow } from 'imapflow';
import type { Transaction } from 'kysely';
import type { Db } from '../../storage/database.js';
import type { Database, MailFoldersTable } from '../../storage/schema.js';
import { scanMessages } from '../imap/scan-messages.js';
import { mapScannedBatch, type MappingContext } from './map-messages.js';
import { storeMessages } from '../intake/store-messages.js';
import { inChunks } from '../../storage/batches.js';
import { publishLiveEvents, type LiveEventInput } from '../../live/live-events.js';

type Trx = Transaction<Database>;
type FolderRow = MailFoldersTable;

export const DAY_MS = 24 * 3600 * 1000;

export interface FolderSyncContext extends MappingContext {
  db: Db;
  batchSize: number;
  signal: AbortSignal;
  onProgress(progress: { folder: string; scanned: number; total: number }): Promise<void> | void;
}

export interface FolderSyncResult {
  scanned: number;
  stored: number;
}

async function updateFolder(db: Db | Trx, id: string, set: Partial<FolderRow>): Promise<void> {
  await db
    .updateTable('mail_folders')
    .set({ ...set, updated_at: Date.now() })
    .where('id', '=', id)
    .execute();
}

/** Scans, maps, fetches and stores one batch of UIDs; `cursor` moves in the same transaction. */
async function processBatch(
  ctx: FolderSyncContext,
  client: ImapFlow,
  folder: FolderRow,
  uidValidity: number,
  uids: number[],
  cursor: ((trx: Trx) => Promise<void>) | null,
): Promise<FolderSyncResult> {
  const scanned = await scanMessages(client, uids, ctx.signal);
  if (ctx.signal.aborted) return { scanned: 0, stored: 0 };
  const toStore = await mapScannedBatch(ctx, client, folder, uidValidity, scanned);
  if (ctx.signal.aborted) return { scanned: 0, stored: 0 };
  const stored = await storeMessages(ctx.db, ctx.store, toStore, cursor);
  return { scanned: scanned.length, stored: stored.filter((s) => s.created).length };
}

export async function syncFolder(
  ctx: FolderSyncContext,
  client: ImapFlow,
  initial: FolderRow,
): Promise<FolderSyncResult> {
  let folder = initial;
  const mailbox = await client.mailboxOpen(folder.path, { readOnly: true });
  const uidValidity = Number(mailbox.uidValidity);
  const modseq = mailbox.highestModseq !== undefined ? mailbox.highestModseq.toString() : null;
  const total: FolderSyncResult = { scanned: 0, stored: 0 };
  const add = (r: FolderSyncResult) => {
    total.scanned += r.scanned;
    total.stored += r.stored;
  };

  if (folder.uid_validity !== null && folder.uid_validity !== uidValidity) {
    // The folder's UIDs mean nothing now: forget where messages were, rescan. Dedupe keys find the stored
    // messages again, so nothing is duplicated.
    await ctx.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('message_locations').where('folder_id', '=', folder.id).execute();
      await updateFolder(trx, folder.id, {
        uid_validity: null,
        last_seen_uid: 0,
        first_sync_below_uid: null,
        first_sync_done: 0,
        highest_modseq: null,
        exists_count: null,
        window_start: null,
      });
    });
    folder = {
      ...folder,
      uid_validity: null,
      last_seen_uid: 0,
      first_sync_below_uid: null,
      first_sync_done: 0,
      highest_modseq: null,
      exists_count: null,
      window_start: null,
    };
  }

  if (folder.first_sync_done === 0) {
    if (folder.first_sync_below_uid === null) {
      // Everything above the current top is new mail for the incremental step; the first sync walks down from it.
      const top = Math.max(0, mailbox.uidNext - 1);
      const windowStart = Date.now() - ctx.account.historyDays * DAY_MS;
      const set = {
        uid_validity: uidValidity,
        last_seen_uid: top,
        first_sync_below_uid: top + 1,
        window_start: windowStart,
        highest_modseq: modseq,
        exists_count: mailbox.exists,
      };
      await updateFolder(ctx.db, folder.id, set);
      folder = { ...folder, ...set };
    }
    const since = new Date(folder.window_start ?? Date.now() - ctx.account.historyDays * DAY_MS);
    const inWindow = mailbox.exists === 0 ? [] : (await client.search({ since }, { uid: true })) || [];
    const below = folder.first_sync_below_uid!;
    const remaining = inWindow.filter((uid) => uid < below).sort((a, b) => b - a);
    const windowTotal = inWindow.filter((uid) => uid <= folder.last_seen_uid).length;
    let done = windowTotal - remaining.length;
    await ctx.onProgress({ folder: folder.path, scanned: done, total: windowTotal });
    for (const batch of inChunks(remaining, ctx.batchSize)) {
      if (ctx.signal.aborted) return total;
      const low = batch[batch.length - 1]!;
      add(
        await processBatch(ctx, client, folder, uidValidity, batch, (trx) =>
          updateFolder(trx, folder.id, { first_sync_below_uid: low }),
        ),
      );
      done += batch.length;
      await ctx.onProgress({ folder: folder.path, scanned: done, total: windowTotal });
    }
    await updateFolder(ctx.db, folder.id, { first_sync_below_uid: 0, first_sync_done: 1 });
    folder = { ...folder, first_sync_below_uid: 0, first_sync_done: 1 };
  }

  // New mail: UIDs above the cursor, oldest first so the cursor only moves forward.
  let freshCount = 0;
  if (mailbox.uidNext - 1 > folder.last_seen_uid) {
    const fresh = ((await client.search({ uid: `${folder.last_seen_uid + 1}:*` }, { uid: true })) || [])
      .filter((uid) => uid > folder.last_seen_uid)
      .sort((a, b) => a - b);
    freshCount = fresh.length;
    for (const batch of inChunks(fresh, ctx.batchSize)) {
      if (ctx.signal.aborted) return total;
      const high = batch[batch.length - 1]!;
      add(
        await processBatch(ctx, client, folder, uidValidity, batch, (trx) =>
          updateFolder(trx, folder.id, { last_seen_uid: high }),
        ),
      );
      folder = { ...folder, last_seen_uid: high };
    }
  }

  await syncFlags(ctx, client, folder, uidValidity, modseq);
  await syncRemovals(ctx, client, folder, uidValidity, mailbox.exists, freshCount);
  return total;
}

/** Read/unread and other flags changed since the last pass (CONDSTORE CHANGEDSINCE). */
async function syncFlags(
  ctx: FolderSyncContext,
  client: ImapFlow,
  folder: FolderRow,
  uidValidity: number,
  modseq: string | null,
): Promise<void> {
  if (!modseq || modseq === folder.highest_modseq) return;
  if (folder.highest_modseq && client.enabled.has('CONDSTORE')) {
    const changes = new Map<number, string[]>();
    for await (const msg of client.fetch(
      '1:*',
      { uid: true, flags: true },
      { uid: true, changedSince: BigInt(folder.highest_modseq) },
    )) {
      changes.set(msg.uid, [...(msg.flags ?? [])]);
    }
    const uids = [...changes.keys()];
    const readChanges: LiveEventInput[] = [];
    for (const batch of inChunks(uids, 500)) {
      const known = await ctx.db
        .selectFrom('message_locations')
        .leftJoin('flag_writes', 'flag_writes.location_id', 'message_locations.id')
        .select([
          'message_locations.id',
          'message_locations.uid',
          'message_locations.message_id',
          'message_locations.seen',
          'flag_writes.id as pending',
        ])
        .where('message_locations.folder_id', '=', folder.id)
        .where('message_locations.uid_validity', '=', uidValidity)
        .where('message_locations.uid', 'in', batch)
        .execute();
      for (const row of known) {
        const flags = changes.get(row.uid) ?? [];
        const seen = flags.includes('\\Seen') ? 1 : 0;
        // A read/unread change made in the CRM and not yet written to the server wins over the server's older
        // state (read-state.ts): once written, the server's flags are the truth again.
        const keep = row.pending !== null;
        await ctx.db
          .updateTable('message_locations')
          .set(keep ? { flags_json: JSON.stringify(flags) } : { flags_json: JSON.stringify(flags), seen })
          .where('id', '=', row.id)
          .execute();
        if (!keep && seen !== row.seen) {
          readChanges.push({
            orgId: ctx.account.orgId,
            userId: ctx.account.userId,
            type: 'message.read',
            data: { messageId: row.message_id, read: seen === 1 },
          });
        }
      }
    }
    // Read in the mail client: the owner's open pages show it (a nudge; the flags are stored either way).
    await publishLiveEvents(ctx.db, readChanges.slice(0, 200)).catch(() => undefined);
  }
  await updateFolder(ctx.db, folder.id, { highest_modseq: modseq });
}

/**
 * Messages removed from the folder: their location is marked removed, the CRM's copy stays. Checked when the
 * message count is not what the cursor expects (a UID diff; cheap: UID SEARCH ALL returns numbers only).
 */
async function syncRemovals(
  ctx: FolderSyncContext,
  client: ImapFlow,
  folder: FolderRow,
  uidValidity: number,
  exists: number,
  scannedNew: number,
): Promise<void> {
  const expected = folder.exists_count === null ? null : folder.exists_count + scannedNew;
  if (expected !== null && expected === exists) return;
  if (expected !== null && exists > expected) {
    // More than expected only means mail we did not count (e.g. outside the window); nothing removed for sure.
    await updateFolder(ctx.db, folder.id, { exists_count: exists });
    return;
  }
  if (expected !== null) {
    const present = new Set(exists === 0 ? [] : (await client.search({ all: true }, { uid: true })) || []);
    const ours = await ctx.db
      .selectFrom('message_locations')
      .select(['id', 'uid'])
      .where('folder_id', '=', folder.id)
      .where('uid_validity', '=', uidValidity)
      .where('removed_at', 'is', null)
      .execute();
    const gone = ours.filter((row) => !present.has(row.uid)).map((row) => row.id);
    const now = Date.now();
    for (const batch of inChunks(gone, 500)) {
      await ctx.db.updateTable('message_locations').set({ removed_at: now }).where('id', 'in', batch).execute();
    }
  }
  await updateFolder(ctx.db, folder.id, { exists_count: exists });
}

/**
 * Earlier mail of new contacts: the server searches (From/To/Cc/Bcc within the window), only the matching
 * UIDs already behind the cursor are scanned and mapped; the cursor does not move.
 */
export async function backfillFolder(
  ctx: FolderSyncContext,
  client: ImapFlow,
  folder: FolderRow,
  addresses: string[],
): Promise<FolderSyncResult> {
  if (folder.uid_validity === null || addresses.length === 0) return { scanned: 0, stored: 0 };
  const mailbox = await client.mailboxOpen(folder.path, { readOnly: true });
  const uidValidity = Number(mailbox.uidValidity);
  if (uidValidity !== folder.uid_validity || mailbox.exists === 0) return { scanned: 0, stored: 0 };
  const since = new Date(folder.window_start ?? Date.now() - ctx.account.historyDays * DAY_MS);
  const total: FolderSyncResult = { scanned: 0, stored: 0 };
  for (const group of inChunks(addresses, 20)) {
    const query = {
      since,
      or: group.flatMap((address) => [{ from: address }, { to: address }, { cc: address }, { bcc: address }]),
    };
    const uids = ((await client.search(query, { uid: true })) || [])
      // Above the cursor is the incremental step's; below the first sync's low mark it has yet to scan.
      .filter(
        (uid) =>
          uid <= folder.last_seen_uid &&
          (folder.first_sync_done === 1 || uid >= (folder.first_sync_below_uid ?? Infinity)),
      )
      .sort((a, b) => b - a);
    for (const batch of inChunks(uids, ctx.batchSize)) {
      if (ctx.signal.aborted) return total;
      const result = await processBatch(ctx, client, folder, uidValidity, batch, null);
      total.scanned += result.scanned;
      total.stored += result.stored;
    }
  }
  return total;
}
