// Follow-up reminders: "remind me if no reply in N days" on a message sent from the CRM. A reminder waits from the
// moment the message left; a message in its thread from anyone but the sender (found by the sync, a BCC filing, or
// another mailbox the sender may read) closes it as 'cancelled' (reason 'replied'); else it becomes 'due' at
// sent + N days and stays so until the user marks it done. The same evaluation runs in the background sweep (every
// ~30 s, any process) and on every read, so a late sweep never shows a due reminder as waiting.
// Limits: a pass looks at the MAX_PER_PASS reminders due soonest; a reply is recognised by thread, by date after the
// sent message or by naming it (In-Reply-To/References), never by its content.
import { publishLiveEvents } from '../../live/live-events.js';
import type { Transaction } from 'kysely';
import { AppError } from '../../core/app-error.js';
import type { Logger } from '../../core/logger.js';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { Database, ReminderReason, ReminderState } from '../../storage/schema.js';
import type { User } from '../../users/users.js';
import { messageVisibleTo } from '../../access/access-policy.js';
import { WakeableSleep } from '../../jobs/wakeable-sleep.js';
import { normalizeMessageId } from '../rules/message-key.js';
import { isMachineAddress } from '../rules/machine-senders.js';

export const DAY_MS = 86_400_000;
export const MIN_REMINDER_DAYS = 1;
export const MAX_REMINDER_DAYS = 90;
/** Reminders looked at per pass (the soonest due first); the next pass takes the rest. */
const MAX_PER_PASS = 500;
/** Messages of one thread looked at for a reply. */
const MAX_THREAD_MESSAGES = 200;

type Trx = Transaction<Database>;

export interface Reminder {
  id: string;
  /** The CRM message's id. */
  messageId: string;
  dueAt: string;
  state: ReminderState;
  subject: string | null;
  threadId: string | null;
  contactIds: string[];
  days: number;
  /** When the message left; null while it waits in the outbox (scheduled, or not sent yet). */
  sentAt: string | null;
  reason: ReminderReason | null;
  /** The reply that closed it (reason 'replied'). */
  replyMessageId: string | null;
}

/** One reminder whose state a pass changed: what a live feed needs to tell its user. */
export interface ReminderChange {
  id: string;
  userId: string;
  messageId: string;
  state: 'due' | 'cancelled';
}

/**
 * Creates the reminder of a message being queued, inside the transaction that stores it. `plannedAt` is when it is
 * meant to leave (now, or its sendAt); the due time is counted from then and corrected to the real departure by the
 * next evaluation after the outbox sent it.
 */
export async function insertReminder(
  trx: Trx,
  input: {
    orgId: string;
    userId: string;
    messageId: string;
    threadId: string | null;
    days: number;
    plannedAt: number;
    now: number;
  },
): Promise<string> {
  const id = newId(input.now);
  await trx
    .insertInto('follow_up_reminders')
    .values({
      id,
      org_id: input.orgId,
      user_id: input.userId,
      message_id: input.messageId,
      thread_id: input.threadId,
      days: input.days,
      sent_at: null,
      due_at: input.plannedAt + input.days * DAY_MS,
      state: 'waiting',
      reason: null,
      reply_message_id: null,
      created_at: input.now,
      updated_at: input.now,
    })
    .execute();
  return id;
}

/** Moves a reminder along with its message's new send time (a reschedule). */
export async function rescheduleReminders(db: Db | Trx, messageId: string, plannedAt: number, now: number) {
  const rows = await db
    .selectFrom('follow_up_reminders')
    .select(['id', 'days'])
    .where('message_id', '=', messageId)
    .where('state', '=', 'waiting')
    .where('sent_at', 'is', null)
    .execute();
  for (const row of rows) {
    await db
      .updateTable('follow_up_reminders')
      .set({ due_at: plannedAt + row.days * DAY_MS, updated_at: now })
      .where('id', '=', row.id)
      .execute();
  }
}

/** The sender's own addresses: the user's sign-in address and every mailbox of theirs. */
async function ownAddresses(db: Db, userId: string): Promise<Set<string>> {
  const [user, accounts] = await Promise.all([
    db.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirst(),
    db.selectFrom('email_accounts').select('email').where('user_id', '=', userId).execute(),
  ]);
  const own = new Set<string>();
  if (user) own.add(user.email.toLowerCase());
  for (const a of accounts) own.add(a.email.toLowerCase());
  return own;
}

interface Candidate {
  id: string;
  org_id: string;
  user_id: string;
  message_id: string;
}

/** A reply to the message in its thread, as the reminder's owner may read it; null when there is none. */
async function findReply(db: Db, reminder: Candidate, own: Set<string>): Promise<string | null> {
  const sent = await db
    .selectFrom('messages')
    .select(['thread_id', 'date', 'message_id_header'])
    .where('id', '=', reminder.message_id)
    .executeTakeFirst();
  if (!sent?.thread_id) return null;
  const rows = await db
    .selectFrom('messages')
    .select(['id', 'from_address', 'date', 'in_reply_to', 'references_json'])
    .where(messageVisibleTo({ id: reminder.user_id, orgId: reminder.org_id, isAdmin: false }))
    .where('messages.thread_id', '=', sent.thread_id)
    .where('messages.id', '!=', reminder.message_id)
    .where('messages.from_address', 'is not', null)
    .orderBy('messages.date', 'desc')
    .limit(MAX_THREAD_MESSAGES)
    .execute();
  const ours = normalizeMessageId(sent.message_id_header);
  const names = (row: (typeof rows)[number]): boolean => {
    if (!ours) return false;
    if (normalizeMessageId(row.in_reply_to) === ours) return true;
    try {
      const refs = row.references_json ? (JSON.parse(row.references_json) as string[]) : [];
      return refs.some((r) => normalizeMessageId(r) === ours);
    } catch {
      return false;
    }
  };
  // From a person other than the sender (a bounce from mailer-daemon is no answer), after the sent message or
  // naming it (a replier whose clock is behind ours).
  const replies = rows.filter((r) => {
    const from = (r.from_address ?? '').toLowerCase();
    return !own.has(from) && !isMachineAddress(from) && (Number(r.date) > Number(sent.date) || names(r));
  });
  if (replies.length === 0) return null;
  return replies.reduce((first, r) => (Number(r.date) < Number(first.date) ? r : first)).id;
}

/**
 * One evaluation: departures recorded, replies found, due times reached — for every user, or one (`userId`, the
 * read path). Returns the reminders that became due or were cancelled by a reply, for the live feed.
 */
export async function evaluateReminders(db: Db, options: { now: number; userId?: string }): Promise<ReminderChange[]> {
  const { now, userId } = options;
  const changes: ReminderChange[] = [];

  // 1. The message left (or never will): the clock starts at the real departure.
  const departed = await db
    .selectFrom('follow_up_reminders')
    .innerJoin('outbox', 'outbox.message_id', 'follow_up_reminders.message_id')
    .select([
      'follow_up_reminders.id',
      'follow_up_reminders.days',
      'outbox.state as outboxState',
      'outbox.sent_at as outboxSentAt',
    ])
    .where('follow_up_reminders.state', '=', 'waiting')
    .where('follow_up_reminders.sent_at', 'is', null)
    .where('outbox.state', 'in', ['sent', 'failed'])
    .$if(userId !== undefined, (q) => q.where('follow_up_reminders.user_id', '=', userId!))
    .limit(MAX_PER_PASS)
    .execute();
  for (const row of departed) {
    if (row.outboxState === 'sent' && row.outboxSentAt != null) {
      const sentAt = Number(row.outboxSentAt);
      await db
        .updateTable('follow_up_reminders')
        .set({ sent_at: sentAt, due_at: sentAt + row.days * DAY_MS, updated_at: now })
        .where('id', '=', row.id)
        .where('sent_at', 'is', null)
        .execute();
    } else {
      // Never sent: nothing to follow up (the send status says why).
      await db
        .updateTable('follow_up_reminders')
        .set({ state: 'cancelled', reason: 'failed', updated_at: now })
        .where('id', '=', row.id)
        .where('state', '=', 'waiting')
        .execute();
    }
  }

  // 2. A reply closes a waiting (or already due) reminder.
  const open = await db
    .selectFrom('follow_up_reminders')
    .select([
      'follow_up_reminders.id',
      'follow_up_reminders.org_id',
      'follow_up_reminders.user_id',
      'follow_up_reminders.message_id',
    ])
    .where('follow_up_reminders.state', 'in', ['waiting', 'due'])
    .where('follow_up_reminders.sent_at', 'is not', null)
    .$if(userId !== undefined, (q) => q.where('follow_up_reminders.user_id', '=', userId!))
    .orderBy('follow_up_reminders.due_at')
    .limit(MAX_PER_PASS)
    .execute();
  const ownOf = new Map<string, Set<string>>();
  for (const reminder of open) {
    let own = ownOf.get(reminder.user_id);
    if (!own) {
      own = await ownAddresses(db, reminder.user_id);
      ownOf.set(reminder.user_id, own);
    }
    const reply = await findReply(db, reminder, own);
    if (!reply) continue;
    const closed = await db
      .updateTable('follow_up_reminders')
      .set({ state: 'cancelled', reason: 'replied', reply_message_id: reply, updated_at: now })
      .where('id', '=', reminder.id)
      .where('state', 'in', ['waiting', 'due'])
      .executeTakeFirst();
    if (Number(closed.numUpdatedRows) === 1)
      changes.push({ id: reminder.id, userId: reminder.user_id, messageId: reminder.message_id, state: 'cancelled' });
  }

  // 3. No reply by the due time: due.
  const becameDue: Array<{ orgId: string; userId: string; reminderId: string }> = [];
  const due = await db
    .selectFrom('follow_up_reminders')
    .select([
      'follow_up_reminders.id',
      'follow_up_reminders.org_id',
      'follow_up_reminders.user_id',
      'follow_up_reminders.message_id',
    ])
    .where('follow_up_reminders.state', '=', 'waiting')
    .where('follow_up_reminders.sent_at', 'is not', null)
    .where('follow_up_reminders.due_at', '<=', now)
    .$if(userId !== undefined, (q) => q.where('follow_up_reminders.user_id', '=', userId!))
    .orderBy('follow_up_reminders.due_at')
    .limit(MAX_PER_PASS)
    .execute();
  for (const reminder of due) {
    const moved = await db
      .updateTable('follow_up_reminders')
      .set({ state: 'due', updated_at: now })
      .where('id', '=', reminder.id)
      .where('state', '=', 'waiting')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) === 1) {
      changes.push({ id: reminder.id, userId: reminder.user_id, messageId: reminder.message_id, state: 'due' });
      becameDue.push({ orgId: reminder.org_id, userId: reminder.user_id, reminderId: reminder.id });
    }
  }
  // The owner's open pages hear of it (the badge, the Follow-ups page). A nudge only: a failure to publish must not
  // undo the state change, which any later read shows anyway.
  await publishLiveEvents(
    db,
    becameDue.map((d) => ({
      orgId: d.orgId,
      userId: d.userId,
      type: 'reminder.due',
      data: { reminderId: d.reminderId },
    })),
  ).catch(() => undefined);
  return changes;
}

const ALL_STATES: readonly ReminderState[] = ['waiting', 'due', 'done', 'cancelled'];

/** The caller's reminders (default: waiting and due), soonest due first, evaluated first. */
export async function listReminders(
  db: Db,
  user: User,
  options: { now: number; state?: ReminderState[]; contactId?: string; id?: string; limit?: number },
): Promise<{ items: Reminder[] }> {
  await evaluateReminders(db, { now: options.now, userId: user.id });
  const states: ReminderState[] = options.state && options.state.length > 0 ? options.state : ['waiting', 'due'];
  let query = db
    .selectFrom('follow_up_reminders')
    .innerJoin('messages', 'messages.id', 'follow_up_reminders.message_id')
    .select([
      'follow_up_reminders.id',
      'follow_up_reminders.message_id',
      'follow_up_reminders.due_at',
      'follow_up_reminders.state',
      'follow_up_reminders.days',
      'follow_up_reminders.sent_at',
      'follow_up_reminders.reason',
      'follow_up_reminders.reply_message_id',
      'messages.subject',
      'messages.thread_id',
    ])
    .where('follow_up_reminders.user_id', '=', user.id)
    .where(
      'follow_up_reminders.state',
      'in',
      states.filter((s) => ALL_STATES.includes(s)),
    );
  if (options.id) query = query.where('follow_up_reminders.id', '=', options.id);
  if (options.contactId) {
    const contactId = options.contactId;
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('message_contacts')
          .select('message_contacts.message_id')
          .whereRef('message_contacts.message_id', '=', 'follow_up_reminders.message_id')
          .where('message_contacts.contact_id', '=', contactId),
      ),
    );
  }
  const rows = await query
    .orderBy('follow_up_reminders.due_at')
    .orderBy('follow_up_reminders.id')
    .limit(options.limit ?? 200)
    .execute();
  const contacts =
    rows.length === 0
      ? []
      : await db
          .selectFrom('message_contacts')
          .select(['message_id', 'contact_id'])
          .where(
            'message_id',
            'in',
            rows.map((r) => r.message_id),
          )
          .execute();
  return {
    items: rows.map((r) => ({
      id: r.id,
      messageId: r.message_id,
      dueAt: new Date(Number(r.due_at)).toISOString(),
      state: r.state,
      subject: r.subject,
      threadId: r.thread_id,
      contactIds: contacts.filter((c) => c.message_id === r.message_id).map((c) => c.contact_id),
      days: r.days,
      sentAt: r.sent_at == null ? null : new Date(Number(r.sent_at)).toISOString(),
      reason: r.reason,
      replyMessageId: r.reply_message_id,
    })),
  };
}

/** The user closes one of their reminders ('done' or 'cancelled'); someone else's is not found. */
export async function closeReminder(
  db: Db,
  user: User,
  id: string,
  state: 'done' | 'cancelled',
  now: number,
): Promise<Reminder> {
  const row = await db
    .selectFrom('follow_up_reminders')
    .select(['id', 'state'])
    .where('id', '=', id)
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', 'Reminder not found');
  // Closing twice is the same as once; a reminder closed by a reply keeps its reason.
  if (row.state === 'waiting' || row.state === 'due') {
    await db
      .updateTable('follow_up_reminders')
      .set({ state, reason: 'user', updated_at: now })
      .where('id', '=', id)
      .where('state', 'in', ['waiting', 'due'])
      .execute();
  }
  const { items } = await listReminders(db, user, { now, state: [...ALL_STATES], id });
  const found = items[0];
  if (!found) throw new AppError('NOT_FOUND', 'Reminder not found');
  return found;
}

export interface ReminderSweeper {
  start(): void;
  stop(): Promise<void>;
  /** Evaluate now (a message was sent, mail was synced). */
  kick(): void;
  /** One pass, awaited (tests, and the read path's twin). */
  runOnce(): Promise<ReminderChange[]>;
}

export interface ReminderSweeperDeps {
  db: Db;
  log: Logger;
  /** Between passes without a kick (default 30 s). */
  intervalMs?: number;
  /** The clock (tests move it days ahead). */
  now?: () => number;
  /**
   * Told of the reminders a pass made due or cancelled: the hook for the live feed (src/live), which the
   * composition root connects to publish a "reminders changed" event to each user.
   */
  onChanged?: (changes: ReminderChange[]) => void;
}

/** The background sweep: one per process that runs the outbox; passes are idempotent, so several may run. */
export function createReminderSweeper(deps: ReminderSweeperDeps): ReminderSweeper {
  const sleep = new WakeableSleep();
  const now = deps.now ?? Date.now;
  let stopped = false;
  let running: Promise<void> | null = null;

  const runOnce = async (): Promise<ReminderChange[]> => {
    const changes = await evaluateReminders(deps.db, { now: now() });
    if (changes.length > 0) deps.onChanged?.(changes);
    return changes;
  };

  const loop = async () => {
    while (!stopped) {
      try {
        await runOnce();
      } catch (error) {
        deps.log.error({ err: error instanceof Error ? error.message : String(error) }, 'reminder sweep failed');
      }
      await sleep.sleep(deps.intervalMs ?? 30_000, stopped);
    }
  };

  return {
    start() {
      if (running) return;
      stopped = false;
      running = loop();
    },
    async stop() {
      stopped = true;
      sleep.interrupt();
      await running;
      running = null;
    },
    kick() {
      sleep.wake();
    },
    runOnce,
  };
}
