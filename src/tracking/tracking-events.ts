// What became of a sent message, for the people who may read it: its opens and clicks (with their verdicts), the
// replies in its thread and a bounce, as one list (GET /api/messages/:id/events), and the counts shown on the message
// and the contact's timeline — one grouped query per page, never one per message. Replies and bounces are derived
// at read time from the synced mail, so they need no tracking at all.
import { notFound } from '../core/app-error.js';
import { messageVisibleTo, type Actor } from '../access/access-policy.js';
import type { Db } from '../storage/database.js';

export interface MessageEvent {
  type: 'open' | 'click' | 'reply' | 'bounce';
  at: string;
  automated: boolean;
  /** The link followed (clicks). */
  url?: string;
  /** Why it was judged automated (verdict.ts), for the "+3 automated (image proxy, scanner)" line. */
  reason?: string;
}

export interface TrackingCounts {
  opens: number;
  clicks: number;
  replies: number;
  automatedOpens: number;
  automatedClicks: number;
}

interface Sent {
  id: string;
  thread_id: string | null;
  from_address: string | null;
  date: number;
}

/** Replies of each message: later mail in its thread, readable by the caller, not from its sender. */
async function repliesOf(db: Db, actor: Actor, sent: Sent[]): Promise<Map<string, Array<{ at: number }>>> {
  const out = new Map<string, Array<{ at: number }>>();
  const threads = [...new Set(sent.map((s) => s.thread_id).filter((t): t is string => t !== null))];
  if (threads.length === 0) return out;
  const rows = await db
    .selectFrom('messages')
    .select(['messages.id', 'messages.thread_id', 'messages.from_address', 'messages.date'])
    .where(messageVisibleTo(actor))
    .where('messages.thread_id', 'in', threads)
    .orderBy('messages.date')
    .execute();
  for (const s of sent) {
    const replies = rows
      .filter(
        (r) =>
          r.thread_id === s.thread_id &&
          r.id !== s.id &&
          Number(r.date) > Number(s.date) &&
          r.from_address !== null &&
          r.from_address !== s.from_address,
      )
      .map((r) => ({ at: Number(r.date) }));
    out.set(s.id, replies);
  }
  return out;
}

export async function messageTrackingEvents(
  db: Db,
  actor: Actor,
  messageId: string,
): Promise<{ items: MessageEvent[] }> {
  const message = await db
    .selectFrom('messages')
    .select(['messages.id', 'messages.thread_id', 'messages.from_address', 'messages.date', 'messages.bounced'])
    .where(messageVisibleTo(actor))
    .where('messages.id', '=', messageId)
    .executeTakeFirst();
  if (!message) throw notFound('Message');
  const [events, replies] = await Promise.all([
    db
      .selectFrom('tracking_events')
      .leftJoin('tracked_links', (join) =>
        join
          .onRef('tracked_links.message_id', '=', 'tracking_events.message_id')
          .onRef('tracked_links.position', '=', 'tracking_events.link_position'),
      )
      .select([
        'tracking_events.type',
        'tracking_events.at',
        'tracking_events.automated',
        'tracking_events.reason',
        'tracked_links.url',
      ])
      .where('tracking_events.message_id', '=', messageId)
      .orderBy('tracking_events.at')
      .orderBy('tracking_events.id')
      // Bounded: a message opened by a scanner farm must not make an unbounded answer.
      .limit(1000)
      .execute(),
    repliesOf(db, actor, [message]),
  ]);
  const items: Array<MessageEvent & { ms: number }> = events.map((e) => ({
    type: e.type,
    at: new Date(Number(e.at)).toISOString(),
    ms: Number(e.at),
    automated: e.automated === 1,
    ...(e.url ? { url: e.url } : {}),
    ...(e.reason ? { reason: e.reason } : {}),
  }));
  for (const r of replies.get(message.id) ?? [])
    items.push({ type: 'reply', at: new Date(r.at).toISOString(), ms: r.at, automated: false });
  if (message.bounced === 1) {
    // The bounce's own time is not kept; the first time one of its recipients was flagged bounced after it left
    // is, else the message's date.
    const flagged = await db
      .selectFrom('contact_addresses')
      .innerJoin('message_participants', 'message_participants.address', 'contact_addresses.address')
      .select((eb) => eb.fn.min('contact_addresses.bounced_at').as('at'))
      .where('message_participants.message_id', '=', message.id)
      .where('message_participants.role', 'in', ['to', 'cc', 'bcc'])
      .where('contact_addresses.org_id', '=', actor.orgId)
      .where('contact_addresses.bounced_at', '>=', Number(message.date))
      .executeTakeFirst();
    const at = flagged?.at === null || flagged?.at === undefined ? Number(message.date) : Number(flagged.at);
    items.push({ type: 'bounce', at: new Date(at).toISOString(), ms: at, automated: false });
  }
  items.sort((a, b) => a.ms - b.ms);
  return { items: items.map(({ ms: _ms, ...item }) => item) };
}

/**
 * The counts of the tracked messages among `messageIds` (others are absent from the map). The ids come from a page
 * the caller was already allowed to read; replies are still counted only from mail the caller may read.
 */
export async function trackingCounts(db: Db, actor: Actor, messageIds: string[]): Promise<Map<string, TrackingCounts>> {
  const out = new Map<string, TrackingCounts>();
  if (messageIds.length === 0) return out;
  const tracked = await db
    .selectFrom('tracked_messages')
    .innerJoin('messages', 'messages.id', 'tracked_messages.message_id')
    .select(['messages.id', 'messages.thread_id', 'messages.from_address', 'messages.date'])
    .where('tracked_messages.org_id', '=', actor.orgId)
    .where('tracked_messages.message_id', 'in', messageIds)
    .execute();
  if (tracked.length === 0) return out;
  const ids = tracked.map((t) => t.id);
  const [grouped, replies] = await Promise.all([
    db
      .selectFrom('tracking_events')
      .select(['message_id', 'type', 'automated', (eb) => eb.fn.countAll<number | string | bigint>().as('n')])
      .where('message_id', 'in', ids)
      .groupBy(['message_id', 'type', 'automated'])
      .execute(),
    repliesOf(db, actor, tracked),
  ]);
  for (const t of tracked) {
    out.set(t.id, {
      opens: 0,
      clicks: 0,
      replies: replies.get(t.id)?.length ?? 0,
      automatedOpens: 0,
      automatedClicks: 0,
    });
  }
  for (const g of grouped) {
    const counts = out.get(g.message_id);
    if (!counts) continue;
    const n = Number(g.n);
    if (g.type === 'open') counts[g.automated === 1 ? 'automatedOpens' : 'opens'] += n;
    else counts[g.automated === 1 ? 'automatedClicks' : 'clicks'] += n;
  }
  return out;
}

/** The same items with their counts, for answers that list messages. */
export async function withTrackingCounts<T extends { id: string }>(
  db: Db,
  actor: Actor,
  items: T[],
): Promise<Array<T & { tracking?: TrackingCounts }>> {
  const counts = await trackingCounts(
    db,
    actor,
    items.map((i) => i.id),
  );
  return items.map((i) => {
    const c = counts.get(i.id);
    return c ? { ...i, tracking: c } : i;
  });
}
