// Writes the read/unread changes made in the CRM back to the mail server as \Seen (read-state.ts queues them in
// flag_writes). Runs in the process holding the mailbox's lease, on the runner's own connection: at the start of
// every pass, and when woken for it (a PATCH in this process, or the lease round finding wishes queued by another).
// A wish is removed only once written, and only if no newer wish replaced it meanwhile; a location whose folder
// changed UIDVALIDITY (its UID means nothing now) or that left the mailbox drops its wish; any other failure keeps
// it for a later try with backoff. A broken connection is the runner's to handle: the error goes up.
import type { ImapFlow } from 'imapflow';
import type { Db } from '../../storage/database.js';
import { backoffDelay } from '../../jobs/backoff.js';

export interface FlagWriteResult {
  written: number;
  dropped: number;
  failed: number;
}

/** Wishes taken per call: a mailbox with more gets the rest at the next call. */
const BATCH = 500;

interface Wish {
  id: string;
  request_id: string;
  seen: number;
  attempts: number;
  uid: number;
  uid_validity: number;
  removed_at: number | null;
  path: string;
}

export async function writeBackFlags(
  db: Db,
  client: ImapFlow,
  accountId: string,
  options: { backoffBaseMs?: number; backoffMaxMs?: number } = {},
): Promise<FlagWriteResult> {
  const now = Date.now();
  const result: FlagWriteResult = { written: 0, dropped: 0, failed: 0 };
  const wishes = (await db
    .selectFrom('flag_writes')
    .innerJoin('message_locations', 'message_locations.id', 'flag_writes.location_id')
    .innerJoin('mail_folders', 'mail_folders.id', 'message_locations.folder_id')
    .select([
      'flag_writes.id',
      'flag_writes.request_id',
      'flag_writes.seen',
      'flag_writes.attempts',
      'message_locations.uid',
      'message_locations.uid_validity',
      'message_locations.removed_at',
      'mail_folders.path',
    ])
    .where('flag_writes.account_id', '=', accountId)
    .where((eb) => eb.or([eb('flag_writes.next_attempt_at', 'is', null), eb('flag_writes.next_attempt_at', '<=', now)]))
    .orderBy('flag_writes.created_at')
    .limit(BATCH)
    .execute()) as Wish[];
  if (wishes.length === 0) return result;

  const done = async (wish: Wish) => {
    await db.deleteFrom('flag_writes').where('id', '=', wish.id).where('request_id', '=', wish.request_id).execute();
  };
  const byFolder = new Map<string, Wish[]>();
  for (const wish of wishes) {
    if (wish.removed_at !== null) {
      // The message left that folder: nothing to write it on.
      await done(wish);
      result.dropped++;
      continue;
    }
    byFolder.set(wish.path, [...(byFolder.get(wish.path) ?? []), wish]);
  }
  if (byFolder.size === 0) return result;

  for (const [path, folderWishes] of byFolder) {
    try {
      // Read-write (SELECT): the sync's own opens are read-only (EXAMINE).
      const mailbox = await client.mailboxOpen(path, { readOnly: false });
      const uidValidity = Number(mailbox.uidValidity);
      for (const seen of [1, 0]) {
        const group = folderWishes.filter((w) => w.seen === seen);
        const valid = group.filter((w) => Number(w.uid_validity) === uidValidity);
        for (const stale of group.filter((w) => Number(w.uid_validity) !== uidValidity)) {
          await done(stale);
          result.dropped++;
        }
        if (valid.length === 0) continue;
        const uids = valid.map((w) => w.uid).join(',');
        if (seen === 1) await client.messageFlagsAdd(uids, ['\\Seen'], { uid: true });
        else await client.messageFlagsRemove(uids, ['\\Seen'], { uid: true });
        for (const wish of valid) await done(wish);
        result.written += valid.length;
      }
    } catch (error) {
      if (!client.usable) throw error;
      // The folder may be gone or refuse the change for now: keep every wish, try again later.
      const at = Date.now();
      for (const wish of folderWishes) {
        const attempts = wish.attempts + 1;
        await db
          .updateTable('flag_writes')
          .set({
            attempts,
            next_attempt_at:
              at + backoffDelay(attempts, options.backoffBaseMs ?? 5_000, options.backoffMaxMs ?? 30 * 60_000),
            last_error: describe(error),
            updated_at: at,
          })
          .where('id', '=', wish.id)
          .where('request_id', '=', wish.request_id)
          .execute();
        result.failed++;
      }
    }
  }
  return result;
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300);
  return String(error).slice(0, 300);
}
