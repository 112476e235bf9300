// Finds or creates the thread of each message of a batch being stored: Gmail's thread id, then the References /
// In-Reply-To chain (an unknown parent still links the children that name it), then a same-people, same-subject
// fallback within a few days. Runs inside the store transaction.
//
// One resolver per batch (issue 18: the seed spent ~3 of its ~5.4 round trips per message here). The batch's thread
// keys and subjects are looked up in one statement per 500 before its messages (a subject no thread has needs no
// fallback), and the keys a found thread learns and the thread's newest date are written once for the batch (flush)
// instead of one statement each per message. A thread CREATED by the batch registers its keys at once: on PostgreSQL
// that insert is what makes another mailbox's sync, creating a thread for the same conversation at the same moment,
// wait and then join (see resolve).
import { sql, type Transaction } from 'kysely';
import { newId } from '../../storage/ids.js';
import { inChunks, MAX_IN_LIST, rowsPerInsert } from '../../storage/batches.js';
import { storableText } from '../../storage/storable-text.js';
import type { Database } from '../../storage/schema.js';
import { threadKeys, normalizeSubject, subjectFallbackMatches } from '../rules/thread-keys.js';
import type { MessageToStore } from './message-to-store.js';

type Trx = Transaction<Database>;

const FALLBACK_WINDOW_MS = 7 * 24 * 3600 * 1000;

function keysOf(message: MessageToStore) {
  return threadKeys({
    messageId: message.messageId,
    inReplyTo: message.inReplyTo,
    references: message.references,
    gmThreadId: message.threadId,
  });
}

export class ThreadResolver {
  /** Thread of each key known so far: read from the database, or registered by this batch. */
  private readonly owners = new Map<string, string>();
  /** Keys whose owner is known to this resolver (looked up, or registered here): the rest are read when met. */
  private readonly looked = new Set<string>();
  /** Keys learnt by threads this batch found, written by flush. */
  private readonly newKeys = new Map<string, string>();
  /** The newest date of each thread this batch added to, where it may be newer than the stored one; written by flush. */
  private readonly lastAt = new Map<string, number>();

  /** Normalised subjects some thread of the organisation has (looked up, or created here): the fallback's candidates. */
  private readonly subjects = new Set<string>();
  /** Subjects looked up: one not in `subjects` has no thread, and its fallback has nothing to read. */
  private readonly subjectsLooked = new Set<string>();

  /**
   * @param beforeSubjectLookup writes what the fallback reads and the caller holds back: the batch's messages and
   * their participants.
   */
  constructor(
    private readonly trx: Trx,
    private readonly orgId: string,
    private readonly beforeSubjectLookup: () => Promise<void>,
  ) {}

  /** Looks up, in a few statements, every thread key and subject of these messages (those about to be stored). */
  async preload(messages: readonly MessageToStore[]): Promise<void> {
    await this.lookUp([...new Set(messages.flatMap((m) => keysOf(m).lookup))]);
    const subjects = [...new Set(messages.map((m) => normalizeSubject(m.subject ?? '')).filter((k) => k !== ''))];
    for (const chunk of inChunks(subjects, MAX_IN_LIST)) {
      const rows = await this.trx
        .selectFrom('threads')
        .select('subject_key')
        .distinct()
        .where('org_id', '=', this.orgId)
        .where('subject_key', 'in', chunk.map(storableText))
        .execute();
      for (const key of chunk) this.subjectsLooked.add(key);
      for (const row of rows) if (row.subject_key !== null) this.subjects.add(row.subject_key);
    }
  }

  private async lookUp(keys: string[]): Promise<void> {
    const missing = keys.filter((k) => !this.looked.has(k));
    if (missing.length === 0) return;
    const owners = await threadsOfKeys(this.trx, this.orgId, missing);
    for (const key of missing) this.looked.add(key);
    for (const [key, threadId] of owners) this.owners.set(key, threadId);
  }

  async resolve(message: MessageToStore, now: number): Promise<string> {
    const trx = this.trx;
    const keys = keysOf(message);
    await this.lookUp(keys.lookup);
    let threadId = keys.lookup.map((k) => this.owners.get(k)).find((id) => id !== undefined);
    const subjectKey = normalizeSubject(message.subject ?? '');
    if (!threadId && subjectKey) threadId = await this.bySubject(message, subjectKey);
    if (threadId) {
      // Kept for flush. Keys already owned keep their thread, as the insert's ON CONFLICT DO NOTHING would.
      for (const key of keys.register) {
        if (this.owners.has(key)) continue;
        this.owners.set(key, threadId);
        this.looked.add(key);
        this.newKeys.set(key, threadId);
      }
      this.noteDate(threadId, message.date);
      return threadId;
    }
    threadId = newId(now);
    await trx
      .insertInto('threads')
      .values({
        id: threadId,
        org_id: this.orgId,
        subject: storableText(message.subject),
        subject_key: storableText(subjectKey) || null,
        gm_thrid: message.threadId,
        last_message_at: message.date,
        created_at: now,
      })
      .execute();
    if (subjectKey) this.subjects.add(storableText(subjectKey));
    if (keys.register.length === 0) return threadId;
    const created = threadId;
    const taken = await registerKeys(trx, this.orgId, keys.register, created);
    const owners = new Map(keys.register.filter((key) => taken.has(key)).map((key) => [key, created]));
    if (owners.size < keys.register.length) {
      // Another mailbox's sync (another transaction, on PostgreSQL) registered one of these keys for a thread of its
      // own a moment ago: the conflict above waited for it. Join that thread rather than split.
      const theirs = await threadsOfKeys(
        trx,
        this.orgId,
        keys.register.filter((key) => !taken.has(key)),
      );
      const other = [...theirs.values()].find((id) => id !== created);
      for (const [key, owner] of theirs) owners.set(key, owner);
      if (other) {
        await trx.deleteFrom('threads').where('id', '=', created).execute();
        const missing = [...taken];
        if (missing.length > 0) {
          await trx
            .deleteFrom('thread_keys')
            .where('org_id', '=', this.orgId)
            .where('thread_id', '=', created)
            .execute();
          await registerKeys(trx, this.orgId, missing, other);
        }
        for (const key of missing) owners.set(key, other);
        this.noteDate(other, message.date);
        threadId = other;
      }
    }
    for (const [key, owner] of owners) {
      this.owners.set(key, owner);
      this.looked.add(key);
    }
    return threadId;
  }

  /** Writes what the batch's found threads learnt: their new keys and newest dates. */
  async flush(): Promise<void> {
    const keys = [...this.newKeys];
    this.newKeys.clear();
    await insertKeys(this.trx, this.orgId, keys);
    await this.flushDates();
  }

  private noteDate(threadId: string, date: number): void {
    const known = this.lastAt.get(threadId);
    if (known === undefined || date > known) this.lastAt.set(threadId, date);
  }

  /**
   * Moves each thread's last_message_at forward to the newest date this batch gave it, never back: one statement
   * per few hundred threads, `CASE id WHEN … THEN …` (the same on SQLite and PostgreSQL).
   */
  private async flushDates(): Promise<void> {
    const dates = [...this.lastAt];
    this.lastAt.clear();
    for (const chunk of inChunks(dates, Math.floor(MAX_IN_LIST / 2))) {
      // Cast: PostgreSQL would type a CASE of bare parameters as text.
      const newest = sql<number>`case id ${sql.join(
        chunk.map(([id, date]) => sql`when ${id} then cast(${date} as bigint)`),
        sql` `,
      )} end`;
      await this.trx
        .updateTable('threads')
        .set({ last_message_at: newest })
        .where(
          'id',
          'in',
          chunk.map(([id]) => id),
        )
        .where((eb) => eb.or([eb('last_message_at', 'is', null), eb('last_message_at', '<', newest)]))
        .execute();
    }
  }

  /** The subject fallback: a recent thread of the same normalised subject whose last message has the same people. */
  private async bySubject(message: MessageToStore, subjectKey: string): Promise<string | undefined> {
    const trx = this.trx;
    // No thread has this subject (looked up before the batch, or created by it since): nothing to compare.
    if (this.subjectsLooked.has(subjectKey) && !this.subjects.has(storableText(subjectKey))) return undefined;
    // The window reads last_message_at, and the candidates' last messages and people: this batch's must be in.
    await this.flushDates();
    await this.beforeSubjectLookup();
    const candidates = await trx
      .selectFrom('threads')
      .select(['id', 'last_message_at'])
      .where('org_id', '=', this.orgId)
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
      )
        return candidate.id;
    }
    return undefined;
  }
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

/** Registers the keys for the thread where no thread has them yet; returns those it registered. */
function registerKeys(trx: Trx, orgId: string, keys: string[], threadId: string): Promise<Set<string>> {
  return insertKeys(
    trx,
    orgId,
    keys.map((key) => [key, threadId]),
  );
}

/** Inserts each [key, thread] where no thread has the key yet; returns the keys it inserted. */
async function insertKeys(trx: Trx, orgId: string, keys: Array<[string, string]>): Promise<Set<string>> {
  const taken = new Set<string>();
  for (const chunk of inChunks(keys, rowsPerInsert(3))) {
    const stored = new Map(chunk.map(([key, threadId]) => [storableText(key), { key, threadId }]));
    const rows = await trx
      .insertInto('thread_keys')
      .values([...stored].map(([key, { threadId }]) => ({ org_id: orgId, key, thread_id: threadId })))
      .onConflict((oc) => oc.columns(['org_id', 'key']).doNothing())
      .returning('key')
      .execute();
    for (const row of rows) taken.add(stored.get(row.key)?.key ?? row.key);
  }
  return taken;
}
