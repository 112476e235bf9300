// The tracked messages and what their public URLs do: the pixel records an open, a link records a click and
// answers the URL that was in the message (looked up by the message's token and the link's position, never taken
// from the request). Unknown tokens and positions record nothing and answer nothing. No IP is stored.
import { publishLiveEvent } from '../live/live-events.js';
import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../storage/schema.js';
import { newId } from '../storage/ids.js';
import type { TrackedLink } from './tracked-html.js';
import { trackableUrl } from './tracked-html.js';
import { BURST_MS, judgeEvent, type Verdict } from './verdict.js';

type Db = Kysely<Database> | Transaction<Database>;

/** 128 random bits, base64url: 22 characters. */
export function newTrackingToken(): string {
  return randomBytes(16).toString('base64url');
}

/** What a token in a URL must look like; anything else is not looked up at all. */
export const TRACKING_TOKEN = /^[A-Za-z0-9_-]{22}$/;

export interface NewTrackedMessage {
  messageId: string;
  orgId: string;
  userId: string;
  token: string;
  opens: boolean;
  clicks: boolean;
  links: TrackedLink[];
  now: number;
}

/** Records a message as tracked, with its links; runs in the transaction that stores and queues the message. */
export async function insertTrackedMessage(db: Db, input: NewTrackedMessage): Promise<void> {
  await db
    .insertInto('tracked_messages')
    .values({
      message_id: input.messageId,
      org_id: input.orgId,
      user_id: input.userId,
      token: input.token,
      opens: input.opens ? 1 : 0,
      clicks: input.clicks ? 1 : 0,
      sent_at: null,
      created_at: input.now,
    })
    .execute();
  // A few hundred rows at most (MAX_TRACKED_LINKS); chunks keep each insert under the dialects' parameter limits.
  for (let i = 0; i < input.links.length; i += 200) {
    await db
      .insertInto('tracked_links')
      .values(
        input.links.slice(i, i + 200).map((l) => ({ message_id: input.messageId, position: l.position, url: l.url })),
      )
      .execute();
  }
}

/** The outbox tells when the tracked copy left: the "too soon" rule counts from there. Set once. */
export async function markTrackedSent(db: Db, messageId: string, at: number): Promise<void> {
  await db
    .updateTable('tracked_messages')
    .set({ sent_at: at })
    .where('message_id', '=', messageId)
    .where('sent_at', 'is', null)
    .execute();
}

/** Whether the tracked copy already left (a retried send must not send it twice). */
export async function trackedSentAt(db: Db, messageId: string): Promise<number | null> {
  const row = await db
    .selectFrom('tracked_messages')
    .select('sent_at')
    .where('message_id', '=', messageId)
    .executeTakeFirst();
  return row?.sent_at === null || row?.sent_at === undefined ? null : Number(row.sent_at);
}

export interface TrackingRequest {
  method: string;
  userAgent: string | undefined;
  /** Epoch ms; injectable so tests need not wait 30 s. */
  now: number;
}

async function insertEvent(
  db: Db,
  row: { message_id: string; org_id: string },
  type: 'open' | 'click',
  at: number,
  verdict: Verdict,
  linkPosition: number | null,
): Promise<void> {
  await db
    .insertInto('tracking_events')
    .values({
      id: newId(at),
      message_id: row.message_id,
      org_id: row.org_id,
      type,
      at,
      automated: verdict.automated ? 1 : 0,
      reason: verdict.reason,
      link_position: linkPosition,
      agent: verdict.agent,
    })
    .execute();
  // Open pages showing the message refresh its counts; everyone who may see the message is told (the feed checks).
  await publishLiveEvent(db, {
    orgId: row.org_id,
    userId: null,
    type: 'tracking.event',
    data: { messageId: row.message_id, type },
  }).catch(() => undefined);
}

/** The pixel was fetched: records an open when the token is known and opens are tracked. */
export async function recordOpen(db: Db, token: string, request: TrackingRequest): Promise<boolean> {
  if (!TRACKING_TOKEN.test(token)) return false;
  const row = await db
    .selectFrom('tracked_messages')
    .select(['message_id', 'org_id', 'sent_at'])
    .where('token', '=', token)
    .where('opens', '=', 1)
    .executeTakeFirst();
  if (!row) return false;
  const verdict = judgeEvent({
    type: 'open',
    at: request.now,
    sentAt: row.sent_at === null ? null : Number(row.sent_at),
    method: request.method,
    userAgent: request.userAgent,
  });
  await insertEvent(db, row, 'open', request.now, verdict, null);
  return true;
}

/**
 * A tracked link was followed: the URL stored for link `position` of the token's message (and a click recorded),
 * or null when there is no such link — the caller then answers 404 and redirects nowhere.
 */
export async function followLink(
  db: Db,
  token: string,
  position: number,
  request: TrackingRequest,
): Promise<string | null> {
  if (!TRACKING_TOKEN.test(token) || !Number.isSafeInteger(position) || position < 0) return null;
  const row = await db
    .selectFrom('tracked_messages')
    .innerJoin('tracked_links', 'tracked_links.message_id', 'tracked_messages.message_id')
    .select(['tracked_messages.message_id', 'tracked_messages.org_id', 'tracked_messages.sent_at', 'tracked_links.url'])
    .where('tracked_messages.token', '=', token)
    .where('tracked_messages.clicks', '=', 1)
    .where('tracked_links.position', '=', position)
    .executeTakeFirst();
  // Checked again on the way out: only an absolute http(s) URL is ever a Location.
  const url = row ? trackableUrl(row.url) : null;
  if (!row || !url) return null;
  const others = await db
    .selectFrom('tracking_events')
    .select((eb) => eb.fn.countAll<number | string | bigint>().as('n'))
    .where('message_id', '=', row.message_id)
    .where('type', '=', 'click')
    .where('at', '>', request.now - BURST_MS)
    .where('link_position', '<>', position)
    .executeTakeFirst();
  const verdict = judgeEvent({
    type: 'click',
    at: request.now,
    sentAt: row.sent_at === null ? null : Number(row.sent_at),
    method: request.method,
    userAgent: request.userAgent,
    otherLinksClickedWithinSecond: Number(others?.n ?? 0),
  });
  await insertEvent(db, row, 'click', request.now, verdict, position);
  return url;
}
