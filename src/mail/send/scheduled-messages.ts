// Send later, the user's side: checking a sendAt, listing one's scheduled messages, moving one to another time and
// cancelling one. Each change is one conditional statement on the outbox row (… WHERE state = 'scheduled'), so it
// and a worker's claim (which moves the row to 'sending') exclude each other in the database: once a worker took
// the message, the answer is 409 SEND_STARTED and nothing is changed.
// A cancelled message is deleted from the CRM (with its outbox row, participants, links and reminder): it was never
// sent, so it is no part of any conversation. Editing the content is a cancel and a new send (the web app does it).
import { AppError } from '../../core/app-error.js';
import type { Db } from '../../storage/database.js';
import type { User } from '../../users/users.js';
import { rescheduleReminders } from './follow-up-reminders.js';

/** How far ahead a message may be scheduled. */
export const MAX_SCHEDULE_MS = 365 * 86_400_000;

/** The epoch ms of a sendAt the API accepts: in the future and within a year; 422 otherwise. */
export function checkSendAt(sendAt: string, now: number): number {
  const at = Date.parse(sendAt);
  if (!Number.isFinite(at))
    throw new AppError('VALIDATION_FAILED', 'sendAt is not a date and time', {
      fields: [{ path: 'body.sendAt', message: 'not an ISO 8601 instant' }],
    });
  if (at <= now)
    throw new AppError('SEND_AT_PAST', 'The time to send is already past', {
      fields: [{ path: 'body.sendAt', message: 'must be in the future' }],
      hint: 'Choose a later time, or send now.',
      details: { sendAt: new Date(at).toISOString() },
    });
  if (at > now + MAX_SCHEDULE_MS)
    throw new AppError('SEND_AT_TOO_FAR', 'A message can be scheduled at most a year ahead', {
      fields: [{ path: 'body.sendAt', message: 'at most 365 days ahead' }],
      details: { sendAt: new Date(at).toISOString(), maxDays: 365 },
    });
  return at;
}

export interface ScheduledMessage {
  id: string;
  accountId: string;
  subject: string | null;
  to: Array<{ address: string; name?: string }>;
  sendAt: string;
  threadId: string | null;
  contactIds: string[];
}

/**
 * The message `id` when the caller sent it from the CRM: only its sender may cancel or move it (an administrator,
 * or a colleague who may read a shared mailbox, gets 404 like for a message that is not there).
 */
async function ownOutboxMessage(db: Db, user: User, id: string): Promise<{ threadId: string | null }> {
  const row = await db
    .selectFrom('messages')
    .innerJoin('outbox', 'outbox.message_id', 'messages.id')
    .select(['messages.thread_id'])
    .where('messages.id', '=', id)
    .where('messages.org_id', '=', user.orgId)
    .where('messages.owner_user_id', '=', user.id)
    .where('messages.source', '=', 'crm')
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', 'Message not found');
  return { threadId: row.thread_id };
}

function started(): AppError {
  return new AppError('SEND_STARTED', 'Sending this message has already begun, so it can no longer be changed', {
    hint: 'Once a message is being sent or was sent, it cannot be cancelled or moved.',
  });
}

/** The caller's messages waiting for their time, soonest first. */
export async function listScheduled(db: Db, user: User): Promise<{ items: ScheduledMessage[] }> {
  const rows = await db
    .selectFrom('outbox')
    .innerJoin('messages', 'messages.id', 'outbox.message_id')
    .select(['messages.id', 'messages.subject', 'messages.thread_id', 'outbox.account_id', 'outbox.send_at'])
    .where('messages.org_id', '=', user.orgId)
    .where('messages.owner_user_id', '=', user.id)
    .where('outbox.state', '=', 'scheduled')
    .orderBy('outbox.send_at')
    .orderBy('messages.id')
    .limit(500)
    .execute();
  if (rows.length === 0) return { items: [] };
  const ids = rows.map((r) => r.id);
  const [people, contacts] = await Promise.all([
    db
      .selectFrom('message_participants')
      .select(['message_id', 'address', 'name'])
      .where('message_id', 'in', ids)
      .where('role', '=', 'to')
      .orderBy('position')
      .execute(),
    db.selectFrom('message_contacts').select(['message_id', 'contact_id']).where('message_id', 'in', ids).execute(),
  ]);
  return {
    items: rows.map((r) => ({
      id: r.id,
      accountId: r.account_id,
      subject: r.subject,
      to: people
        .filter((p) => p.message_id === r.id)
        .map((p) => ({ address: p.address, ...(p.name ? { name: p.name } : {}) })),
      sendAt: new Date(Number(r.send_at)).toISOString(),
      threadId: r.thread_id,
      contactIds: contacts.filter((c) => c.message_id === r.id).map((c) => c.contact_id),
    })),
  };
}

/** DELETE /api/messages/:id: cancels a scheduled message not yet taken by a worker, and removes it from the CRM. */
export async function cancelScheduled(db: Db, user: User, id: string): Promise<void> {
  const { threadId } = await ownOutboxMessage(db, user, id);
  await db.transaction().execute(async (trx) => {
    // The same row a worker's claim updates: whichever statement runs first wins, the other finds nothing.
    const cancelled = await trx
      .deleteFrom('outbox')
      .where('message_id', '=', id)
      .where('state', '=', 'scheduled')
      .executeTakeFirst();
    if (Number(cancelled.numDeletedRows) === 0) throw started();
    await trx.deleteFrom('messages').where('id', '=', id).execute();
    // A thread the message started alone goes with it (its keys too, by cascade): nothing else refers to it.
    if (threadId) {
      const rest = await trx.selectFrom('messages').select('id').where('thread_id', '=', threadId).executeTakeFirst();
      if (!rest) await trx.deleteFrom('threads').where('id', '=', threadId).execute();
    }
  });
}

/** PATCH /api/messages/:id/schedule: another time for a scheduled message not yet taken by a worker. */
export async function rescheduleMessage(
  db: Db,
  user: User,
  id: string,
  sendAtIso: string,
  now: number,
): Promise<{ id: string; sendStatus: 'scheduled'; sendAt: string }> {
  await ownOutboxMessage(db, user, id);
  const sendAt = checkSendAt(sendAtIso, now);
  await db.transaction().execute(async (trx) => {
    const moved = await trx
      .updateTable('outbox')
      .set({ send_at: sendAt, updated_at: now })
      .where('message_id', '=', id)
      .where('state', '=', 'scheduled')
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) === 0) throw started();
    // Shown at its new time; the bytes are re-dated when it leaves, and the digest follows (store-messages.ts).
    await trx
      .updateTable('messages')
      .set({ date: Math.floor(sendAt / 1000) * 1000, content_digest: null })
      .where('id', '=', id)
      .execute();
    await rescheduleReminders(trx, id, sendAt, now);
  });
  return { id, sendStatus: 'scheduled', sendAt: new Date(sendAt).toISOString() };
}
