// Finds or creates the thread of a message being stored: Gmail's thread id, then the References /
// In-Reply-To chain (an unknown parent still links the children that name it), then a same-people,
// same-subject fallback within a few days. Runs inside the store transaction.
import type { Transaction } from 'kysely';
import { newId } from '../../storage/ids.js';
import { inChunks, MAX_IN_LIST, rowsPerInsert } from '../../storage/batches.js';
import { storableText } from '../../storage/storable-text.js';
import type { Database } from '../../storage/schema.js';
import { threadKeys, normalizeSubject, subjectFallbackMatches } from '../rules/thread-keys.js';
import type { MessageToStore } from './message-to-store.js';

type Trx = Transaction<Database>;

const FALLBACK_WINDOW_MS = 7 * 24 * 3600 * 1000;

export async function resolveThread(trx: Trx, orgId: string, message: MessageToStore, now: number): Promise<string> {
  const keys = threadKeys({
    messageId: message.messageId,
    inReplyTo: message.inReplyTo,
    references: message.references,
    gmThreadId: message.threadId,
  });
  let threadId: string | undefined;
  if (keys.lookup.length > 0) {
    const byKey = await threadsOfKeys(trx, orgId, keys.lookup);
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
      const theirs = (
        await trx.selectFrom('message_participants').select('address').where('message_id', '=', last.id).execute()
      ).map((p) => p.address);
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
      .values({
        id: threadId,
        org_id: orgId,
        subject: storableText(message.subject),
        subject_key: storableText(subjectKey) || null,
        gm_thrid: message.threadId,
        last_message_at: message.date,
        created_at: now,
      })
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
    await registerKeys(trx, orgId, keys.register, threadId);
    if (created) {
      // Another mailbox's sync (another transaction, on PostgreSQL) may have registered one of these keys for a
      // thread of its own a moment ago: the conflict above waited for it. Join that thread rather than split.
      const owners = await threadsOfKeys(trx, orgId, keys.register);
      const other = [...owners.values()].find((id) => id !== threadId);
      if (other) {
        await trx.deleteFrom('threads').where('id', '=', threadId).execute();
        const missing = keys.register.filter((key) => owners.get(key) === threadId);
        if (missing.length > 0) {
          await trx.deleteFrom('thread_keys').where('org_id', '=', orgId).where('thread_id', '=', threadId).execute();
          await registerKeys(trx, orgId, missing, other);
        }
        return other;
      }
    }
  }
  return threadId;
}

/** The thread of each known key: chunked, since a hostile message may name thousands of references. */
async function threadsOfKeys(trx: Trx, orgId: string, keys: string[]): Promise<Map<string, string>> {
  const byKey = new Map<string, string>();
  for (const chunk of inChunks(keys, MAX_IN_LIST)) {
    const rows = await trx
      .selectFrom('thread_keys')
      .select(['key', 'thread_id'])
      .where('org_id', '=', orgId)
      .where('key', 'in', chunk)
      .execute();
    for (const row of rows) byKey.set(row.key, row.thread_id);
  }
  return byKey;
}

async function registerKeys(trx: Trx, orgId: string, keys: string[], threadId: string): Promise<void> {
  for (const chunk of inChunks(keys, rowsPerInsert(3))) {
    await trx
      .insertInto('thread_keys')
      .values(chunk.map((key) => ({ org_id: orgId, key: storableText(key), thread_id: threadId })))
      .onConflict((oc) => oc.columns(['org_id', 'key']).doNothing())
      .execute();
  }
}
