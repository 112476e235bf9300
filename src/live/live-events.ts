// The live feed's write side: any process (a worker's sync, an API request, the outbox) records what changed as a
// row of `live_events`; every API process polls the table (live-feed.ts) and tells its connected pages. A row names
// ids only, never content, and lives a few minutes: it is a nudge to refetch, not a copy of the data.
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';

/** What a page may be told about, with the ids it needs to refetch. */
export interface LiveEventData {
  /** A message arrived in (or was sent from) a mailbox. */
  'message.new': { messageId: string; threadId: string | null };
  /** Many messages arrived at once (a first sync): refetch, rather than one event per message. */
  'messages.bulk': { count: number };
  /** A message became read or unread for the user the event is addressed to. */
  'message.read': { messageId: string; read: boolean };
  /** A follow-up reminder became due (published by the reminders worker). */
  'reminder.due': { reminderId: string };
  /** An open, click or reply was recorded for a tracked message. */
  'tracking.event': { messageId: string; type: string };
}

export type LiveEventType = keyof LiveEventData;

export const LIVE_EVENT_TYPES: readonly LiveEventType[] = [
  'message.new',
  'messages.bulk',
  'message.read',
  'reminder.due',
  'tracking.event',
];

export interface LiveEventInput<T extends LiveEventType = LiveEventType> {
  orgId: string;
  /** The one user it is for; null or absent: everyone in the organisation who may see what it names. */
  userId?: string | null;
  type: T;
  data: LiveEventData[T];
}

export interface LiveEvent {
  id: string;
  orgId: string;
  userId: string | null;
  type: LiveEventType;
  data: Record<string, unknown>;
  createdAt: number;
}

/** Rows older than this are pruned; a page away longer than this refetches everything anyway. */
export const LIVE_EVENT_TTL_MS = 10 * 60_000;

const PRUNE_EVERY_MS = 60_000;
let lastPrune = 0;

/** Records one event for the pages of its organisation (or of one user). */
export async function publishLiveEvent<T extends LiveEventType>(db: Db, event: LiveEventInput<T>): Promise<string> {
  const now = Date.now();
  const id = newId(now);
  await db
    .insertInto('live_events')
    .values({
      id,
      org_id: event.orgId,
      user_id: event.userId ?? null,
      type: event.type,
      data_json: JSON.stringify(event.data),
      created_at: now,
    })
    .execute();
  if (now - lastPrune > PRUNE_EVERY_MS) {
    lastPrune = now;
    await pruneLiveEvents(db, now);
  }
  return id;
}

/** Many events in one statement (a batch of stored messages). */
export async function publishLiveEvents(db: Db, events: LiveEventInput[]): Promise<void> {
  if (events.length === 0) return;
  const now = Date.now();
  await db
    .insertInto('live_events')
    .values(
      events.map((event) => ({
        id: newId(now),
        org_id: event.orgId,
        user_id: event.userId ?? null,
        type: event.type,
        data_json: JSON.stringify(event.data),
        created_at: now,
      })),
    )
    .execute();
}

export async function pruneLiveEvents(db: Db, now = Date.now()): Promise<void> {
  await db
    .deleteFrom('live_events')
    .where('created_at', '<', now - LIVE_EVENT_TTL_MS)
    .execute();
}

export function liveEventFromRow(row: {
  id: string;
  org_id: string;
  user_id: string | null;
  type: string;
  data_json: string;
  created_at: number | string;
}): LiveEvent | null {
  if (!(LIVE_EVENT_TYPES as readonly string[]).includes(row.type)) return null;
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(row.data_json) as Record<string, unknown>;
  } catch {
    return null;
  }
  return {
    id: row.id,
    orgId: row.org_id,
    userId: row.user_id,
    type: row.type as LiveEventType,
    data,
    createdAt: Number(row.created_at),
  };
}
