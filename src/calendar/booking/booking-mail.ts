// Mails a booking's invitation from the owner's own mailbox through the outbox, like any mail written in the CRM:
// composed once (text, HTML and the text/calendar invitation with its .ics twin), stored as the owner's outgoing
// message (so it shows in the CRM, on the contact's timeline, and in the mailbox's Sent folder) and queued in the
// same transaction; the outbox worker sends it and retries.
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import { composeMessage, newMessageId } from '../../mail/send/compose-message.js';
import { parseMessage, type ParsedMessage } from '../../mail/mime/parse-message.js';
import { normalizeMessageId } from '../../mail/rules/message-key.js';
import { storeMessages } from '../../mail/intake/store-messages.js';
import { insertOutboxRow } from '../../mail/send/outbox.js';
import { messageFromParsed, participantsOfParsed } from '../../mail/intake/message-from-parsed.js';

export interface BookingMailDeps {
  db: Db;
  blobs: BlobStore;
  parse?: (raw: Buffer) => Promise<ParsedMessage>;
  outbox: { kick(): void };
}

export interface BookingMail {
  account: EmailAccountsTable;
  fromName: string | null;
  to: { address: string; name: string | null };
  subject: string;
  text: string;
  html: string;
  ics: { method: 'REQUEST' | 'CANCEL'; content: string };
}

/** Stores and queues the mail; answers the CRM message id (null when the account is paused: nothing is queued). */
export async function queueBookingMail(deps: BookingMailDeps, mail: BookingMail): Promise<string | null> {
  const { account } = mail;
  // A paused mailbox (its owner deactivated) sends nothing; its pages are not found anyway.
  if (account.paused === 1) return null;
  const date = new Date(Math.floor(Date.now() / 1000) * 1000);
  const messageId = newMessageId(account.email);
  const raw = await composeMessage({
    messageId,
    date,
    from: { address: account.email, name: mail.fromName },
    to: [mail.to],
    cc: [],
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    icalEvent: mail.ics,
  });
  const parsed = await (deps.parse ?? parseMessage)(raw);
  const toStore = messageFromParsed({
    raw,
    parsed,
    source: 'crm',
    direction: 'outgoing',
    messageId: normalizeMessageId(parsed.messageId) ?? normalizeMessageId(messageId),
    fallbackDate: date.getTime(),
    participants: participantsOfParsed(parsed, []),
  });
  const now = Date.now();
  let storedId: string | null = null;
  await storeMessages(
    deps.db,
    {
      orgId: account.org_id,
      ownerUserId: account.user_id,
      shared: account.visibility !== 'private',
      accountId: account.id,
      blobs: deps.blobs,
    },
    [toStore],
    async (trx, rows) => {
      const row = rows[0];
      if (!row?.created) return;
      storedId = row.id;
      await insertOutboxRow(trx, { messageId: row.id, accountId: account.id, now });
    },
  );
  deps.outbox.kick();
  return storedId;
}
