// The intake's form of a message that arrives whole and parsed — a send from the CRM, a BCC filing — built one way,
// with the sync engine's recipes (participants, dedupe key), so a copy met later by the sync is the same message.
// The sync path builds its own from the IMAP envelope, because it decides what to download before downloading.
import type { Direction, MessageSource } from '../../storage/schema.js';
import type { Address, ParsedMessage } from '../mime/parse-message.js';
import { dedupeKey, normalizeMessageId } from '../rules/message-key.js';
import { computeParticipants, type ParticipantsResult } from '../rules/participants.js';
import type { MessageToStore } from './message-to-store.js';

/** Participants of a parsed message (Bcc given apart when it is not in the bytes, as for mail sent from the CRM). */
export function participantsOfParsed(parsed: ParsedMessage, bcc: Address[] = parsed.bcc): ParticipantsResult {
  return computeParticipants({
    from: parsed.from,
    sender: parsed.sender,
    replyTo: parsed.replyTo,
    to: parsed.to,
    cc: parsed.cc,
    bcc,
    listId: parsed.listId,
    originalFrom: parsed.originalFrom,
  });
}

/** The dedupe key of a parsed message: the sync engine's recipe, fed the same header values. */
export function dedupeKeyOfParsed(parsed: ParsedMessage, messageId: string | null): string {
  return dedupeKey({
    messageId,
    date: parsed.date,
    from: parsed.from?.address ?? null,
    to: parsed.to.map((a) => a.address),
    subject: parsed.subject,
  });
}

export interface ParsedArrival {
  raw: Buffer;
  parsed: ParsedMessage;
  source: MessageSource;
  direction: Direction;
  /** Normalised Message-ID; defaults to the parsed one. */
  messageId?: string | null;
  /** Epoch ms when the message has no usable Date header. */
  fallbackDate: number;
  participants: Pick<ParticipantsResult, 'participants' | 'mappingAddresses' | 'effectiveFrom'>;
}

export function messageFromParsed(arrival: ParsedArrival): MessageToStore {
  const { parsed } = arrival;
  const messageId = arrival.messageId !== undefined ? arrival.messageId : normalizeMessageId(parsed.messageId);
  return {
    dedupeKey: dedupeKeyOfParsed(parsed, messageId),
    messageId,
    emailId: null,
    threadId: null,
    inReplyTo: parsed.inReplyTo,
    references: parsed.references,
    subject: parsed.subject,
    date: parsed.date ?? arrival.fallbackDate,
    from: arrival.participants.effectiveFrom,
    participants: arrival.participants.participants,
    mappingAddresses: arrival.participants.mappingAddresses,
    direction: arrival.direction,
    source: arrival.source,
    parsed,
    raw: arrival.raw,
    size: arrival.raw.length,
    location: null,
  };
}
