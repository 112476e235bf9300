// Finds or creates the thread of a message being stored: Gmail's thread id, then the References /
// In-Reply-To chain (an unknown parent still links the children that name it), then a same-people,
// same-subject fallback within a few days. Runs inside the store transaction.
import type { Transaction } from 'kysely';
import { newId } from '../../storage/ids.js';
import type { Database } from '../../storage/schema.js';
import { threadKeys, normalizeSubject, subjectFallbackMatches } from './rules/thread-keys.js';
import type { MessageToStore } from './store-messages.js';

type Trx = Transaction<Database>;

const FALLBACK_WINDOW_MS = 7 * 24 * 3600 * 1000;

export async function resolveThread(trx: Trx, orgId: string, message: MessageToStore, now: number): Promise<string> {
  const keys = threadKeys({ messageId: message.messageId, inReplyTo: message.inReplyTo, references: message.references, gmThreadId: message.threadId });
  let threadId: string | undefined;
  if (keys.lookup.length > 0) {
    const rows = await trx.selectFrom('thread_keys').select(['key', 'thread_id']).where('org_id', '=', orgId).where('key', 'in', keys.lookup).execute();
    const byKey = new Map(rows.map((r) => [r.key, r.thread_id]));
    threadId = keys.lookup.map((k) => byKey.get(k)).find((id) => id !== undefined);
  }
  const subjectKey = normalizeSubject(message.subject ?? '');
  if (!threadId && subjectKey) {
    const candidates = await trx
      .selectFrom('threads')
      .select(['id', 'last_message_at'])
      .where('org_id', '=', orgId)
      .where('subject_key', '=', subjectKey)
      .where('last_message_at', '>=', message.date - FALLBACK_WINDOW_MS)
      .where('last_message_at', '<=', message.date + FALLBACK_WINDOW_MS)
      .orderBy('last_message_at', 'desc')
      .limit(5)
      .execute();
    const mine = message.participants.map((p) => p.address);
    for (const candidate of candidates) {
      const last = await trx
        .selectFrom('messages')
        .select(['id', 'subject', 'date'])
        .where('thread_id', '=', candidate.id)
        .orderBy('date', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (!last) continue;
      const theirs = (await trx.selectFrom('message_participants').select('address').where('message_id', '=', last.id).execute()).map((p) => p.address);
      if (
        subjectFallbackMatches(
          { subject: message.subject ?? '', participants: mine, date: message.date },
          { subject: last.subject ?? '', participants: theirs, date: last.date },
          FALLBACK_WINDOW_MS,
        )
      ) {
        threadId = candidate.id;
        break;
      }
    }
  }
  let created = false;
  if (!threadId) {
    created = true;
    threadId = newId(now);
    await trx
      .insertInto('threads')
      .values({ id: threadId, org_id: orgId, subject: message.subject, subject_key: subjectKey || null, gm_thrid: message.threadId, last_message_at: message.date, created_at: now })
      .execute();
  } else {
    // A plain conditional update: SQLite's two-argument max() is PostgreSQL's greatest().
    await trx
      .updateTable('threads')
      .set({ last_message_at: message.date })
      .where('id', '=', threadId)
      .where((eb) => eb.or([eb('last_message_at', 'is', null), eb('last_message_at', '<', message.date)]))
      .execute();
  }
  if (keys.register.length > 0) {
    await trx
      .insertInto('thread_keys')
      .values(keys.register.map((key) => ({ org_id: orgId, key, thread_id: threadId! })))
      .onConflict((oc) => oc.columns(['org_id', 'key']).doNothing())
      .execute();
    if (created) {
      // Another mailbox's sync (another transaction, on PostgreSQL) may have registered one of these keys for a
      // thread of its own a moment ago: the conflict above waited for it. Join that thread rather than split.
      const owners = await trx.selectFrom('thread_keys').select(['key', 'thread_id']).where('org_id', '=', orgId).where('key', 'in', keys.register).execute();
      const other = owners.find((o) => o.thread_id !== threadId);
      if (other) {
        await trx.deleteFrom('threads').where('id', '=', threadId).execute();
        const joined = other.thread_id;
        const missing = keys.register.filter((key) => !owners.some((o) => o.key === key && o.thread_id !== threadId));
        if (missing.length > 0) {
          await trx
            .insertInto('thread_keys')
            .values(missing.map((key) => ({ org_id: orgId, key, thread_id: joined })))
            .onConflict((oc) => oc.columns(['org_id', 'key']).doNothing())
            .execute();
        }
        return joined;
      }
    }
  }
  return threadId;
}
