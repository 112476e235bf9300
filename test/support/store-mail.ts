// Raw messages stored as a mailbox's incoming mail, one batch, through the intake's storeMessages (the way sync and
// sends store them), for tests that read mail without a server to sync from.
import { messageFromParsed, participantsOfParsed } from '../../src/mail/intake/message-from-parsed.js';
import { storeMessages, type MessageToStore } from '../../src/mail/intake/store-messages.js';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import type { Db } from '../../src/storage/database.js';

/** A raw message parsed into what the intake stores, as a sync hands it over (with its folder copy when given). */
export async function mailToStore(
  text: string,
  direction: 'incoming' | 'outgoing' = 'incoming',
  location?: MessageToStore['location'],
): Promise<MessageToStore> {
  const raw = Buffer.from(text);
  const parsed = await parseMessage(raw);
  const message = messageFromParsed({
    raw,
    parsed,
    source: 'sync',
    direction,
    fallbackDate: Date.now(),
    participants: participantsOfParsed(parsed),
  });
  return location ? { ...message, location } : message;
}

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
  const messages = await Promise.all(raws.map((text) => mailToStore(text)));
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
