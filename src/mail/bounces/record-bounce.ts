// A bounce met by the sync marks the message it reports on as bounced and flags the failed addresses on their
// contacts. Idempotent, so a rescan of the same bounce changes nothing.
import type { Db } from '../../storage/database.js';
import type { BounceInfo } from './detect-bounce.js';
import type { ScannedMessage } from '../imap/scan-messages.js';
import { dedupeKey } from '../rules/message-key.js';

/** Cheap header test for what may be a delivery report; only these are downloaded to be checked. */
export function mayBeBounce(scanned: ScannedMessage): boolean {
  if (scanned.contentType === 'multipart/report') return true;
  const from = scanned.from;
  if (!from) return false;
  const local = from.address.split('@')[0] ?? '';
  return (
    /^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)$/i.test(local) ||
    /mail delivery (sub)?system/i.test(from.name ?? '')
  );
}

export async function recordBounce(db: Db, orgId: string, bounce: BounceInfo): Promise<boolean> {
  if (bounce.kind !== 'hard' || !bounce.originalMessageId) return false;
  const key = dedupeKey({ messageId: bounce.originalMessageId, date: null, from: null, to: [], subject: null });
  const original = await db
    .selectFrom('messages')
    .select('id')
    .where('org_id', '=', orgId)
    .where('dedupe_key', '=', key)
    .executeTakeFirst();
  if (!original) return false;
  const now = Date.now();
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('messages').set({ bounced: 1 }).where('id', '=', original.id).execute();
    const failed = bounce.recipients.map((r) => r.address);
    if (failed.length > 0) {
      await trx
        .updateTable('contact_addresses')
        .set({ bounced_at: now })
        .where('org_id', '=', orgId)
        .where('address', 'in', failed)
        .where('bounced_at', 'is', null)
        .execute();
    }
  });
  return true;
}
