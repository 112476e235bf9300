// The live feed's read side, one per API process: while at least one page listens, it polls `live_events` every
// ~700 ms and hands each new row to the listeners (the SSE route filters what each user may see). Polling the table,
// rather than an in-process emitter, is what carries a worker's change to a page served by another process, on
// SQLite and PostgreSQL alike. Ids are time-ordered but two processes' rows may commit slightly out of order, so
// each poll looks back a few seconds and skips what it already delivered.
import type { Db } from '../storage/database.js';
import { LIVE_EVENT_TTL_MS, liveEventFromRow, pruneLiveEvents, type LiveEvent } from './live-events.js';

export type LiveListener = (event: LiveEvent) => void;

export interface LiveFeedOptions {
  /** Poll interval while someone listens (default 700 ms). */
  intervalMs?: number;
  /** How far back each poll looks for rows committed late by another process (default 5 s). */
  lookbackMs?: number;
  /** Called when a poll fails (the next poll tries again). */
  onError?(error: unknown): void;
}

/** Rows a resume (Last-Event-ID) replays at most. */
export const MAX_REPLAY = 500;

export class LiveFeed {
  private readonly listeners = new Set<LiveListener>();
  private readonly delivered = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private since = 0;
  private lastPrune = 0;
  private closed = false;
  private readonly intervalMs: number;
  private readonly lookbackMs: number;

  constructor(
    private readonly db: Db,
    private readonly options: LiveFeedOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 700;
    this.lookbackMs = options.lookbackMs ?? 5_000;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Starts polling with the first listener and stops with the last. */
  subscribe(listener: LiveListener): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1 && !this.closed) {
      // Only what happens from now on is news; a page resuming asks for the rest (replay).
      this.since = Date.now();
      this.schedule(0);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
      }
    };
  }

  /** Events after `lastId` still kept (at most MAX_REPLAY, oldest first), for a page that reconnects. */
  async replay(orgId: string, lastId: string): Promise<LiveEvent[]> {
    const rows = await this.db
      .selectFrom('live_events')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('id', '>', lastId)
      .where('created_at', '>=', Date.now() - LIVE_EVENT_TTL_MS)
      .orderBy('id')
      .limit(MAX_REPLAY)
      .execute();
    return rows.map(liveEventFromRow).filter((e): e is LiveEvent => e !== null);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
  }

  private schedule(ms: number): void {
    if (this.closed || this.listeners.size === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.polling = this.poll().finally(() => {
        this.polling = null;
        this.schedule(this.intervalMs);
      });
    }, ms);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const now = Date.now();
    try {
      const rows = await this.db
        .selectFrom('live_events')
        .selectAll()
        .where('created_at', '>=', this.since - this.lookbackMs)
        .orderBy('id')
        .limit(2_000)
        .execute();
      for (const row of rows) {
        if (this.delivered.has(row.id)) continue;
        this.delivered.set(row.id, Number(row.created_at));
        const event = liveEventFromRow(row);
        if (!event) continue;
        for (const listener of [...this.listeners]) {
          try {
            listener(event);
          } catch (error) {
            this.options.onError?.(error);
          }
        }
      }
      this.since = Math.max(this.since, now);
      for (const [id, at] of this.delivered) if (at < now - 3 * this.lookbackMs) this.delivered.delete(id);
      if (now - this.lastPrune > 60_000) {
        this.lastPrune = now;
        await pruneLiveEvents(this.db, now);
      }
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}
