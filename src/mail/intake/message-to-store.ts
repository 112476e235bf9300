// What the intake takes and gives: a message arriving by sync, by a send from the CRM or by the BCC address,
// the mailbox it arrives through, and what became of it. Types only, so the intake's parts share them without
// importing one another.
import type { BlobStore } from '../../storage/blob-store.js';
import type { Direction, MessageSource, ParticipantRole } from '../../storage/schema.js';
import type { ParsedMessage } from '../mime/parse-message.js';

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
  /** Absent when only a location is recorded for a message this same mailbox already holds. */
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
  /** The mailbox bringing the messages: the synced account, the sending account, the BCC address's account. */
  accountId: string | null;
  blobs: BlobStore;
}

export interface StoredMessage {
  id: string;
  created: boolean;
  contactIds: string[];
  /** Set for a message that could not be stored (it was set aside with this reason). */
  setAside?: string;
  /** True when this mailbox did not hold the message before (it is news to the live inbox), with its thread. */
  arrived?: boolean;
  threadId?: string | null;
}
