// One pass over one folder: UIDVALIDITY check, the newest-first first sync within the history window,
// new UIDs, flag changes (CONDSTORE) and removals. Every batch commits with its cursor (store-messages.ts).
import type { ImapFlow } from 'imapflow';
import type { Transaction } from 'kysely';
import type { Db } from '../../storage/database.js';
import type { Database, MailFoldersTable } from '../../storage/schema.js';
import { scanMessages } from '../imap/scan-messages.js';
import {
  downloadBytes,
  fetchKept,
  groupByBytes,
  streamsToFile,
  mapScannedBatch,
  messagesToStore,
  type Candidate,
  type MappingContext,
} from './map-messages.js';
import { storeMessages } from '../intake/store-messages.js';
import { CommitPipeline } from './commit-pipeline.js';
import { inChunks } from '../../storage/batches.js';
import { collectGarbage, COLLECT_AFTER_BYTES } from '../../core/collect-garbage.js';
import { publishLiveEvents, type LiveEventInput } from '../../live/live-events.js';

type Trx = Transaction<Database>;
type FolderRow = MailFoldersTable;

export const DAY_MS = 24 * 3600 * 1000;

export interface FolderSyncContext extends MappingContext {
  db: Db;
  /** UIDs per header scan and at most per commit. */
  batchSize: number;
  /**
   * Bytes (RFC822.SIZE) of downloaded sources per commit; a bigger message is fetched and stored alone. Twice this
   * is the most that waits, fetched, for its commit (see CommitPipeline).
   */
  batchBytes: number;
  /** Tests: told of every download of kept mail (its UIDs and their RFC822.SIZE total) before it is sent. */
  onFetch?(fetch: { uids: number[]; bytes: number }): void;
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

/** `promise`'s value, or null as soon as `signal` aborts (the work behind the promise finishes unobserved). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) return Promise.resolve(null);
  return new Promise<T | null>((resolve, reject) => {
    const onAbort = () => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Batches waiting for their commit at once (scan/fetch of the next overlaps parse and store of these). */
const BATCHES_IN_FLIGHT = 3;

/**
 * Scans, maps, fetches and stores `uids` (in the order given) in batches of at most batchSize UIDs and batchBytes of
 * downloads, overlapped by a CommitPipeline. Each batch commits with `cursor(last UID of the batch)`, in order;
 * `committed` runs after each commit. Returns false when aborted before the last batch committed.
 */
async function syncUids(
  ctx: FolderSyncContext,
  client: ImapFlow,
  folder: FolderRow,
  uidValidity: number,
  uids: number[],
  cursor: ((last: number) => (trx: Trx) => Promise<void>) | null,
  total: FolderSyncResult,
  committed?: (count: number, last: number) => Promise<void> | void,
): Promise<boolean> {
  const budget = Math.max(1, ctx.batchBytes);
  const pipeline = new CommitPipeline(BATCHES_IN_FLIGHT, 2 * budget, ctx.signal);
  try {
    for (const chunk of inChunks(uids, ctx.batchSize)) {
      if (ctx.signal.aborted) break;
      const scanned = await scanMessages(client, chunk, ctx.signal);
      if (ctx.signal.aborted) break;
      const mapped = await mapScannedBatch(ctx, client, folder, uidValidity, scanned, budget);
      if (ctx.signal.aborted) break;
      const keptByUid = new Map<number, Candidate[]>();
      for (const c of mapped.kept) keptByUid.set(c.scanned.uid, [...(keptByUid.get(c.scanned.uid) ?? []), c]);
      const scannedUids = new Set(scanned.map((m) => m.uid));
      const bytesOf = (uid: number) => (keptByUid.get(uid) ?? []).reduce((sum, c) => sum + downloadBytes(mapped, c), 0);
      // What a download holds in memory until its commit: nothing for one that goes to a blob file.
      const heldBytesOf = (uid: number) =>
        (keptByUid.get(uid) ?? []).reduce((sum, c) => sum + (streamsToFile(ctx, c) ? 0 : downloadBytes(mapped, c)), 0);
      for (const group of groupByBytes(chunk, bytesOf, budget)) {
        const bytes = group.reduce((sum, uid) => sum + bytesOf(uid), 0);
        const held = group.reduce((sum, uid) => sum + heldBytesOf(uid), 0);
        await pipeline.room(held);
        if (ctx.signal.aborted) break;
        const kept = group.flatMap((uid) => keptByUid.get(uid) ?? []);
        if (bytes > 0) ctx.onFetch?.({ uids: group.filter((uid) => bytesOf(uid) > 0), bytes });
        const { sources, parsing } = await fetchKept(ctx, client, mapped, kept);
        // The IMAP reader's pieces of a big download are garbage once joined into the sources: freed now, not
        // while the parse worker holds its own copy and its decoded attachments.
        if (bytes >= COLLECT_AFTER_BYTES) collectGarbage();
        const last = group[group.length - 1]!;
        const count = group.filter((uid) => scannedUids.has(uid)).length;
        const commit = async () => {
          // An abort does not wait for the parse of batches that will not commit anyway.
          const parsed = await unlessAborted(parsing, ctx.signal);
          if (parsed === null || ctx.signal.aborted) return;
          const toStore = messagesToStore(ctx, mapped, kept, sources, parsed);
          // The sources and the parsed attachments go as soon as the blobs are written: nothing keeps a batch's
          // bytes past its commit.
          sources.clear();
          parsed.clear();
          const stored = await storeMessages(ctx.db, ctx.store, toStore, cursor ? cursor(last) : null);
          total.scanned += count;
          total.stored += stored.filter((s) => s.created).length;
          await committed?.(group.length, last);
        };
        pipeline.add(held, async () => {
          await commit();
          // A big batch's bytes (the source, its copy's leftovers from the IMAP reader, the attachments back from the
          // parser) are freed now rather than at V8's next full collection, which could be several such batches
          // later (issue 18: 506 MB peak for a mailbox of 27 MB messages).
          if (bytes >= COLLECT_AFTER_BYTES) collectGarbage();
        });
      }
    }
    await pipeline.drain();
  } finally {
    // Never return (or fail) while a commit still runs: the caller may close the connection or start another pass.
    await pipeline.settle();
  }
  return !ctx.signal.aborted;
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
    const finished = await syncUids(
      ctx,
      client,
      folder,
      uidValidity,
      remaining,
      (low) => (trx) => updateFolder(trx, folder.id, { first_sync_below_uid: low }),
      total,
      async (count) => {
        done += count;
        await ctx.onProgress({ folder: folder.path, scanned: done, total: windowTotal });
      },
    );
    if (!finished) return total;
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
    const finished = await syncUids(
      ctx,
      client,
      folder,
      uidValidity,
      fresh,
      (high) => (trx) => updateFolder(trx, folder.id, { last_seen_uid: high }),
      total,
      (_count, high) => {
        folder = { ...folder, last_seen_uid: high };
      },
    );
    if (!finished) return total;
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

/** Stored locations compared with the server's UID list per query. */
const REMOVALS_PAGE = 5_000;

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
    const now = Date.now();
    // The folder's stored locations are read a page at a time (by UID), so this pass's memory does not grow with
    // the mail already stored: only the server's UID list is held whole (numbers).
    let after = -1;
    for (;;) {
      const page = await ctx.db
        .selectFrom('message_locations')
        .select(['id', 'uid'])
        .where('folder_id', '=', folder.id)
        .where('uid_validity', '=', uidValidity)
        .where('uid', '>', after)
        .where('removed_at', 'is', null)
        .orderBy('uid')
        .limit(REMOVALS_PAGE)
        .execute();
      const gone = page.filter((row) => !present.has(row.uid)).map((row) => row.id);
      for (const batch of inChunks(gone, 500)) {
        await ctx.db.updateTable('message_locations').set({ removed_at: now }).where('id', 'in', batch).execute();
      }
      if (page.length < REMOVALS_PAGE) break;
      after = page[page.length - 1]!.uid;
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
    if (!(await syncUids(ctx, client, folder, uidValidity, uids, null, total))) return total;
  }
  return total;
}
