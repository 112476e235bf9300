// What /metrics reports from the database, read at scrape time: one aggregate query per family (accounts, outbox,
// sequences), never one per account. The accounts' query returns a row per mailbox, which stays cheap up to a few
// thousand mailboxes (a full scan of a narrow table); the queues are counted through their (state, …) indexes.
import type { Db } from '../storage/database.js';
import type { AccountStatus, CalendarStatus } from '../storage/schema.js';

export interface AccountHealth {
  /** The mailbox address: what an operator recognises (ids are internal and never shown as labels). */
  email: string;
  status: AccountStatus;
  /** The status detail's code (H6's localised server texts), when the account is in error or needs a reconnect. */
  detailCode: string | null;
  lastSyncedAt: number | null;
  createdAt: number;
  paused: boolean;
  calendarStatus: CalendarStatus | null;
  calendarSyncedAt: number | null;
}

/** The outbox states that are work still to do or to look at ('sent' only grows and says nothing about health). */
export const OUTBOX_STATES = ['scheduled', 'queued', 'sending', 'failed'] as const;
export type OutboxQueueState = (typeof OUTBOX_STATES)[number];

export interface OutboxDepth {
  count: number;
  /** The earliest send_at among the rows (scheduled: the next one due), or null. */
  nextSendAt: number | null;
  /** When the oldest row of the state was created (queued: how long the oldest has waited), or null. */
  oldestCreatedAt: number | null;
}

export interface MetricsSnapshot {
  at: number;
  accounts: AccountHealth[];
  outbox: Record<OutboxQueueState, OutboxDepth>;
  /** Active enrollments of running sequences whose next step is due (next_at <= now, no auto-reply hold). */
  sequencesDue: number;
}

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

export async function readMetricsSnapshot(db: Db, now: number = Date.now()): Promise<MetricsSnapshot> {
  const [accountRows, outboxRows, dueRow] = await Promise.all([
    db
      .selectFrom('email_accounts')
      .select([
        'email',
        'status',
        'status_detail_code',
        'last_synced_at',
        'created_at',
        'paused',
        'calendar_status',
        'calendar_synced_at',
      ])
      .orderBy('email')
      .execute(),
    db
      .selectFrom('outbox')
      .select((eb) => [
        'state',
        eb.fn.countAll<number>().as('n'),
        eb.fn.min('send_at').as('next_send_at'),
        eb.fn.min('created_at').as('oldest_created_at'),
      ])
      .where('state', 'in', [...OUTBOX_STATES])
      .groupBy('state')
      .execute(),
    // What the sequence engine would take now (sequence-engine.ts): active, due, not held by an auto-reply, of a
    // sequence that is not paused — so a paused sequence does not look like a stuck queue.
    db
      .selectFrom('sequence_enrollments')
      .innerJoin('sequences', 'sequences.id', 'sequence_enrollments.sequence_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('sequence_enrollments.state', '=', 'active')
      .where('sequences.paused', '=', 0)
      .where('sequence_enrollments.next_at', '<=', now)
      .where((eb) =>
        eb.or([
          eb('sequence_enrollments.waiting_until', 'is', null),
          eb('sequence_enrollments.waiting_until', '<=', now),
        ]),
      )
      .executeTakeFirst(),
  ]);

  const outbox = Object.fromEntries(
    OUTBOX_STATES.map((state) => [state, { count: 0, nextSendAt: null, oldestCreatedAt: null }]),
  ) as Record<OutboxQueueState, OutboxDepth>;
  for (const row of outboxRows) {
    outbox[row.state as OutboxQueueState] = {
      count: Number(row.n),
      nextSendAt: num(row.next_send_at),
      oldestCreatedAt: num(row.oldest_created_at),
    };
  }

  return {
    at: now,
    accounts: accountRows.map((row) => ({
      email: row.email,
      status: row.status,
      detailCode: row.status_detail_code ?? null,
      lastSyncedAt: num(row.last_synced_at),
      createdAt: Number(row.created_at),
      paused: Number(row.paused ?? 0) === 1,
      calendarStatus: row.calendar_status ?? null,
      calendarSyncedAt: num(row.calendar_synced_at),
    })),
    outbox,
    sequencesDue: Number(dueRow?.n ?? 0),
  };
}
