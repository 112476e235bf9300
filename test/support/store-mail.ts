// Raw messages stored as a mailbox's incoming mail, one batch, through the intake's storeMessages (the way sync and
// sends store them), for tests that read mail without a server to sync from.
import { messageFromParsed, participantsOfParsed } from '../../src/mail/intake/message-from-parsed.js';
import { storeMessages } from '../../src/mail/intake/store-messages.js';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import type { Db } from '../../src/storage/database.js';

/** Stores `raws` as the mailbox `accountId`'s incoming mail; the stored messages' ids, in order. */
export async function storeIncomingMail(
  db: Db,
  blobs: BlobStore,
  accountId: string,
  raws: string[],
): Promise<string[]> {
  const account = await db
    .selectFrom('email_accounts')
    .select(['org_id', 'user_id', 'visibility'])
    .where('id', '=', accountId)
    .executeTakeFirstOrThrow();
  const messages = await Promise.all(
    raws.map(async (text) => {
      const raw = Buffer.from(text);
      const parsed = await parseMessage(raw);
      return messageFromParsed({
        raw,
        parsed,
        source: 'sync',
        direction: 'incoming',
        fallbackDate: Date.now(),
        participants: participantsOfParsed(parsed),
      });
    }),
  );
  const stored = await storeMessages(
    db,
    {
      orgId: account.org_id,
      ownerUserId: account.user_id,
      shared: account.visibility === 'shared',
      accountId,
      blobs,
    },
    messages,
    null,
  );
  return stored.map((s) => s.id);
}
