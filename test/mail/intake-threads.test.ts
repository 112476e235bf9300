// The intake threads a batch with one resolver (issue 18, resolve-thread.ts ThreadResolver): the batch's keys are read
// once, and what found threads learn (new keys, a newer last_message_at) is written at the end of the batch. These
// check that nothing of threading changed by it, on both databases: a chain in one batch, a child before its parent,
// the subject fallback reading a date this batch gave a thread, keys learnt in one batch found by the next, a date
// never moved back, a message naming two threads staying in the first, a batch written part way through; and, on
// PostgreSQL, two syncs creating the same conversation's thread at once.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { storeMessages, type MessageToStore, type StoreContext } from '../../src/mail/intake/store-messages.js';
import { openBlobStore } from '../../src/storage/open-blob-store.js';
import type { Db } from '../../src/storage/database.js';
import { createUser, defaultOrgId, findUserById } from '../../src/users/users.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { newId } from '../../src/storage/ids.js';
import { makeMessage, type MessageSpec } from '../support/make-message.js';
import { addFolder, addMailbox } from '../support/mailbox-rows.js';
import { mailToStore } from '../support/store-mail.js';

const DAY = 24 * 3600 * 1000;
const D0 = Date.UTC(2026, 10, 2, 9);

function mailOf(
  accountId: string,
  folderId: string,
  uid: number,
  spec: Omit<MessageSpec, 'from' | 'to'> & { day: number },
): Promise<MessageToStore> {
  const raw = makeMessage({
    from: 'bia@cliente.test',
    to: ['ana@threads.test'],
    date: new Date(D0 + spec.day * DAY),
    ...spec,
  });
  return mailToStore(raw, 'incoming', { accountId, folderId, uidValidity: 1, uid, flags: [] });
}

async function contextOf(
  database: TestDatabase,
  email: string,
): Promise<{ ctx: StoreContext; accountId: string; folderId: string }> {
  const db = database.storage.db;
  const orgId = await defaultOrgId(db);
  const user = (await findUserById(db, (await createUser(db, { email, password: 'long password 1' })).id))!;
  const accountId = await addMailbox(db, orgId, user, email, false);
  const folderId = await addFolder(db, accountId, { path: 'INBOX', role: 'inbox' });
  return {
    ctx: {
      orgId,
      ownerUserId: user.id,
      shared: false,
      accountId,
      blobs: openBlobStore(database.storage, database.dataDir),
    },
    accountId,
    folderId,
  };
}

describe.each(DIALECTS)('threads of a batch on %s', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let ctx: StoreContext;
  let folderId: string;
  let accountId: string;
  let uid = 0;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    db = database.storage.db;
    ({ ctx, accountId, folderId } = await contextOf(database, 'ana@threads.test'));
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const mail = (spec: Omit<MessageSpec, 'from' | 'to'> & { day: number }) => mailOf(accountId, folderId, ++uid, spec);

  async function store(batch: MessageToStore[]): Promise<string[]> {
    // One transaction: a batch that failed as a whole would be stored again message by message, and pass for fine.
    const transactions = vi.spyOn(db, 'transaction');
    let opened = 0;
    const stored = await storeMessages(db, ctx, batch, null).finally(() => {
      opened = transactions.mock.calls.length;
      transactions.mockRestore();
    });
    expect(opened).toBe(1);
    expect(stored.map((s) => s.created)).toEqual(batch.map(() => true));
    return stored.map((s) => s.threadId!);
  }

  async function lastMessageAt(threadId: string): Promise<number | null> {
    const row = await db
      .selectFrom('threads')
      .select('last_message_at')
      .where('id', '=', threadId)
      .executeTakeFirstOrThrow();
    return row.last_message_at === null ? null : Number(row.last_message_at);
  }

  async function ownerOf(key: string): Promise<string | undefined> {
    const row = await db.selectFrom('thread_keys').select('thread_id').where('key', '=', key).executeTakeFirst();
    return row?.thread_id;
  }

  it('a chain and a child before its parent, in one batch; keys and the newest date written with it', async () => {
    const [root, reply, orphan, parent, late] = await store([
      await mail({ subject: 'Plano anual', messageId: '<root@t>', day: 0 }),
      await mail({ subject: 'Re: Plano anual', messageId: '<reply@t>', references: ['<root@t>'], day: 2 }),
      // Answers a parent not yet stored: the parent, later in the batch, finds the child's thread by its own id.
      await mail({ subject: 'Re: Visita', messageId: '<orphan@t>', inReplyTo: '<parent@t>', day: 5 }),
      await mail({ subject: 'Visita', messageId: '<parent@t>', day: 4 }),
      // An older message of the chain: the thread's date stays the newest.
      await mail({ subject: 'Re: Plano anual', messageId: '<late@t>', references: ['<root@t>', '<reply@t>'], day: 1 }),
    ]);
    expect(reply).toBe(root);
    expect(late).toBe(root);
    expect(parent).toBe(orphan);
    expect(orphan).not.toBe(root);
    expect(await lastMessageAt(root!)).toBe(D0 + 2 * DAY);
    expect(await lastMessageAt(orphan!)).toBe(D0 + 5 * DAY);
    for (const key of ['mid:root@t', 'mid:reply@t', 'mid:late@t']) expect(await ownerOf(key)).toBe(root);
    for (const key of ['mid:orphan@t', 'mid:parent@t']) expect(await ownerOf(key)).toBe(orphan);
  });

  it('the next batch finds a thread by a key a found thread learnt, and moves its date forward', async () => {
    // <reply@t> was learnt by a found thread (the root created it): only the end of the batch wrote it.
    const [answer, other] = await store([
      await mail({ subject: 'Re: Plano anual', messageId: '<answer@t>', inReplyTo: '<reply@t>', day: 9 }),
      await mail({ subject: 'Assunto novo', messageId: '<new@t>', day: 9 }),
    ]);
    expect(answer).toBe(await ownerOf('mid:root@t'));
    expect(other).not.toBe(answer);
    expect(await lastMessageAt(answer!)).toBe(D0 + 9 * DAY);
    expect(await ownerOf('mid:answer@t')).toBe(answer);
  });

  it('the subject fallback reads the date this same batch gave a thread', async () => {
    // Day 20 then a reply on day 26 (by its references), then the same subject and people without references on day
    // 32: in the window of the reply (6 days), not of the first message (12) — the thread's date must already be 26.
    const [first, reply, unlinked] = await store([
      await mail({ subject: 'Orçamento 2027', messageId: '<budget@t>', day: 20 }),
      await mail({ subject: 'Re: Orçamento 2027', messageId: '<budget-re@t>', references: ['<budget@t>'], day: 26 }),
      await mail({ subject: 'RE: Orçamento 2027', messageId: '<budget-again@t>', day: 32 }),
    ]);
    expect(reply).toBe(first);
    expect(unlinked).toBe(first);
    expect(await lastMessageAt(first!)).toBe(D0 + 32 * DAY);
  });

  it('a batch of long recipient lists is written part way through (bounded memory) and threads the same', async () => {
    // 6 messages of 1,000 stored participants each: the pending rows are written after the fifth (5,000 rows).
    const cc = Array.from({ length: 1_200 }, (_, i) => `pessoa${i}@lista.test`);
    const batch = [];
    for (let i = 0; i < 6; i++)
      batch.push(
        await mail({
          subject: i === 0 ? 'Convite geral' : 'Re: Convite geral',
          messageId: `<crowd-${i}@t>`,
          references: i === 0 ? [] : ['<crowd-0@t>', `<crowd-${i - 1}@t>`],
          cc,
          day: 60 + i,
        }),
      );
    const threads = await store(batch);
    expect(new Set(threads).size).toBe(1);
    const counts = await db
      .selectFrom('message_participants')
      .innerJoin('messages', 'messages.id', 'message_participants.message_id')
      .select(['messages.message_id_header as id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('messages.thread_id', '=', threads[0]!)
      .groupBy('messages.message_id_header')
      .execute();
    expect(counts.map((c) => Number(c.n))).toEqual([1000, 1000, 1000, 1000, 1000, 1000]);
    expect(await lastMessageAt(threads[0]!)).toBe(D0 + 65 * DAY);
  });

  it('a message naming two threads joins the first it names; the other keeps its keys', async () => {
    const [a, b] = await store([
      await mail({ subject: 'Contrato A', messageId: '<a@t>', day: 40 }),
      await mail({ subject: 'Contrato B', messageId: '<b@t>', day: 40 }),
    ]);
    expect(b).not.toBe(a);
    const [both] = await store([
      await mail({ subject: 'Re: Contratos', messageId: '<both@t>', references: ['<b@t>', '<a@t>'], day: 41 }),
    ]);
    expect(both).toBe(b);
    expect(await ownerOf('mid:a@t')).toBe(a);
    expect(await lastMessageAt(a!)).toBe(D0 + 40 * DAY);
    expect(await lastMessageAt(b!)).toBe(D0 + 41 * DAY);
  });
});

// Two mailboxes' syncs storing the same conversation at the same moment (two transactions): the one that creates a
// thread second must wait on the first one's key and join its thread, never split the conversation. The first
// transaction is held open by hand, with the key registered and not yet committed.
describe('threads of two mailboxes at the same moment on postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it("the second creator waits for the first one's key and joins its thread", async () => {
    const db = database.storage.db;
    const { ctx, accountId, folderId } = await contextOf(database, 'caio@threads.test');
    const reply = await mailOf(accountId, folderId, 1, {
      subject: 'Re: Proposta conjunta',
      messageId: '<joint-re@t>',
      references: ['<joint@t>'],
      day: 50,
    });
    const first = newId(Date.now());
    let storing: Promise<unknown> | undefined;
    let threadId: string | null | undefined;
    await db.transaction().execute(async (trx) => {
      await trx
        .insertInto('threads')
        .values({ id: first, org_id: ctx.orgId, subject: 'Proposta conjunta', created_at: Date.now() })
        .execute();
      await trx.insertInto('thread_keys').values({ org_id: ctx.orgId, key: 'mid:joint@t', thread_id: first }).execute();
      storing = storeMessages(db, ctx, [reply], null).then((stored) => (threadId = stored[0]!.threadId));
      // Commits only once the other sync waits on this transaction's key.
      let waiting = 0;
      for (let i = 0; i < 500 && waiting === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        const rows = await sql<{ n: number }>`
          select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock'`.execute(db);
        waiting = rows.rows[0]!.n;
      }
      expect(waiting).toBe(1);
      expect(threadId).toBeUndefined();
    });
    await storing;
    expect(threadId).toBe(first);
    const threads = await db
      .selectFrom('threads')
      .select('id')
      .where('subject', 'like', '%Proposta conjunta')
      .execute();
    expect(threads.map((t) => t.id)).toEqual([first]);
    const keys = await db
      .selectFrom('thread_keys')
      .select(['key', 'thread_id'])
      .where('key', 'like', 'mid:joint%')
      .orderBy('key')
      .execute();
    expect(keys).toEqual([
      { key: 'mid:joint-re@t', thread_id: first },
      { key: 'mid:joint@t', thread_id: first },
    ]);
    const row = await db
      .selectFrom('threads')
      .select('last_message_at')
      .where('id', '=', first)
      .executeTakeFirstOrThrow();
    expect(Number(row.last_message_at)).toBe(D0 + 50 * DAY);
  });
});
