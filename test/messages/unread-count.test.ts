// The unread badge (issue 18) is driven by the rows that can make a message unread (read-state.ts, unreadCandidates)
// instead of the whole inbox: it must still count exactly what the read rule, applied message by message
// (each inbox item's `read`, read-state.ts readOf), calls unread in the caller's inbox, up to its cap.
// Every combination of holders (own mailboxes, both of them, a colleague's shared one, mail the user sent), own copies
// (live or removed, seen or not, none), marks (the user's own, a colleague's) and source (synced, sent from the CRM),
// on SQLite and PostgreSQL.
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inbox, unreadCount, UNREAD_COUNT_CAP } from '../../src/messages/messages.js';
import { inChunks } from '../../src/storage/batches.js';
import type { Db } from '../../src/storage/database.js';
import { postgresDialect } from '../../src/storage/postgres/open-postgres.js';
import type { Database } from '../../src/storage/schema.js';
import { newId } from '../../src/storage/ids.js';
import { createUser, defaultOrgId, findUserById, type User } from '../../src/users/users.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { addFolder, addMailbox } from '../support/mailbox-rows.js';

const T0 = Date.UTC(2026, 0, 1);
/** A cap past every count of one round of combinations: the rule compared whole, beyond the route's cap. */
const WHOLE = 1_000;

type Box = 'anaPrivate' | 'anaShared' | 'brunoShared';
/** Who holds the message, as each mailbox sees it. */
const HOLDERS: Array<Array<[Box, 'incoming' | 'outgoing']>> = [
  [['anaPrivate', 'incoming']],
  [['anaShared', 'incoming']],
  // In both of Ana's mailboxes: one inbox entry, two copies.
  [
    ['anaPrivate', 'incoming'],
    ['anaShared', 'incoming'],
  ],
  // A colleague's shared mailbox only: not Ana's inbox, whatever its state.
  [['brunoShared', 'incoming']],
  [
    ['anaPrivate', 'incoming'],
    ['brunoShared', 'incoming'],
  ],
  // Sent by Ana from her private mailbox, received by her shared one.
  [
    ['anaPrivate', 'outgoing'],
    ['anaShared', 'incoming'],
  ],
  // Sent by Ana only: not her inbox.
  [['anaPrivate', 'outgoing']],
];
/** Copies on the servers: mailbox, \Seen, removed since. */
const COPIES: Array<Array<[Box, boolean, boolean]>> = [
  [],
  [['anaPrivate', false, false]],
  [['anaPrivate', true, false]],
  [['anaPrivate', false, true]],
  [['anaPrivate', true, true]],
  // Both of her mailboxes, one copy seen: read.
  [
    ['anaPrivate', false, false],
    ['anaShared', true, false],
  ],
  [
    ['anaPrivate', false, false],
    ['anaShared', false, false],
  ],
  // A live unseen copy beats a removed seen one; removed copies decide only when no live one is left.
  [
    ['anaShared', false, false],
    ['anaPrivate', true, true],
  ],
  [
    ['anaShared', false, true],
    ['anaPrivate', true, true],
  ],
  // Only the colleague's copy: Ana has none of her own.
  [['brunoShared', false, false]],
  [['brunoShared', true, false]],
];
const MARKS = ['none', 'ana read', 'ana unread', 'bruno unread', 'bruno read'] as const;
const SOURCES = ['sync', 'crm'] as const;

describe.each(DIALECTS)('the unread badge against the read rule on %s', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let orgId: string;
  let ana: User;
  let bruno: User;
  const box = {} as Record<Box, string>;
  const folder = {} as Record<Box, string>;
  let uid = 0;
  let n = 0;

  async function user(email: string): Promise<User> {
    return (await findUserById(db, (await createUser(db, { email, password: 'long password 1' })).id))!;
  }

  /** One round of every combination: messages, holders, copies and marks as rows. */
  async function storeCombinations(): Promise<void> {
    const messages: object[] = [];
    const holders: object[] = [];
    const locations: object[] = [];
    const reads: object[] = [];
    const t = Date.now();
    for (const held of HOLDERS)
      for (const copies of COPIES)
        for (const mark of MARKS)
          for (const source of SOURCES) {
            const id = newId();
            const date = T0 + n++ * 1000;
            messages.push({
              id,
              org_id: orgId,
              dedupe_key: `mid:${id}@unread.test`,
              date,
              direction: held[0]![1],
              source,
              has_attachments: 0,
              bounced: 0,
              size: 10,
              shared: 0,
              created_at: t,
            });
            for (const [b, direction] of held)
              holders.push({
                id: `${id}:${b}`,
                message_id: id,
                account_id: box[b],
                user_id: b.startsWith('ana') ? ana.id : bruno.id,
                shared: b === 'anaPrivate' ? 0 : 1,
                direction,
                date,
                created_at: t,
              });
            for (const [b, seen, removed] of copies)
              locations.push({
                id: newId(),
                message_id: id,
                account_id: box[b],
                folder_id: folder[b],
                uid_validity: 1,
                uid: ++uid,
                flags_json: null,
                seen: seen ? 1 : 0,
                removed_at: removed ? t : null,
                created_at: t,
              });
            if (mark !== 'none')
              reads.push({
                user_id: mark.startsWith('ana') ? ana.id : bruno.id,
                message_id: id,
                read: mark.endsWith(' read') ? 1 : 0,
                updated_at: t,
              });
          }
    const insert = async (
      table: 'messages' | 'message_holders' | 'message_locations' | 'message_reads',
      rows: object[],
    ) => {
      for (const chunk of inChunks(rows, 200))
        await db
          .insertInto(table)
          .values(chunk as never)
          .execute();
    };
    await insert('messages', messages);
    await insert('message_holders', holders);
    await insert('message_locations', locations);
    await insert('message_reads', reads);
  }

  /** The rule applied message by message over the whole inbox (each item's `read`): how many are unread (no cap). */
  async function unreadByTheRule(reader: User): Promise<number> {
    let unread = 0;
    let cursor: string | undefined;
    for (;;) {
      const page = await inbox(db, reader, { limit: 500, ...(cursor ? { cursor } : {}) });
      unread += page.items.filter((i) => !i.read).length;
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    return unread;
  }

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    db = database.storage.db;
    orgId = await defaultOrgId(db);
    ana = await user('ana@unread.test');
    bruno = await user('bruno@unread.test');
    box.anaPrivate = await addMailbox(db, orgId, ana, 'ana@unread.test', false);
    box.anaShared = await addMailbox(db, orgId, ana, 'vendas@unread.test', true);
    box.brunoShared = await addMailbox(db, orgId, bruno, 'suporte@unread.test', true);
    for (const b of Object.keys(box) as Box[])
      folder[b] = await addFolder(db, box[b], { path: 'INBOX', role: 'inbox' });
    await storeCombinations();
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('counts exactly what the rule calls unread in the inbox, for the owner and for a colleague', async () => {
    const anas = await unreadByTheRule(ana);
    // The combinations give both states plenty of cases; counted past the route's cap to compare them all.
    expect(anas).toBeGreaterThan(UNREAD_COUNT_CAP);
    expect(await unreadCount(db, ana, WHOLE)).toBe(anas);
    expect(await unreadCount(db, ana)).toBe(UNREAD_COUNT_CAP);
    // Bruno's inbox is his shared mailbox: Ana's copies and marks are not his.
    const brunos = await unreadByTheRule(bruno);
    expect(brunos).toBeGreaterThan(10);
    expect(await unreadCount(db, bruno, WHOLE)).toBe(brunos);
    expect(await unreadCount(db, bruno)).toBe(Math.min(brunos, UNREAD_COUNT_CAP));
  });

  it('a colleague reading mail of both inboxes changes only their own count', async () => {
    const before = await unreadCount(db, ana, WHOLE);
    const shared = await db
      .selectFrom('message_holders')
      .select('message_id')
      .where('account_id', '=', box.brunoShared)
      .execute();
    // Bruno marks everything his shared mailbox holds read, Ana's inbox holds some of it.
    for (const chunk of inChunks(
      shared.map((s) => s.message_id),
      200,
    ))
      await db
        .insertInto('message_reads')
        .values(chunk.map((message_id) => ({ user_id: bruno.id, message_id, read: 1, updated_at: Date.now() })))
        .onConflict((oc) => oc.columns(['user_id', 'message_id']).doUpdateSet({ read: 1 }))
        .execute();
    expect(await unreadCount(db, bruno, WHOLE)).toBe(await unreadByTheRule(bruno));
    expect(await unreadCount(db, ana, WHOLE)).toBe(before);
  });

  it('stops at the cap when more is unread, and the rule agrees there is more', async () => {
    for (let round = 0; round < 3; round++) await storeCombinations();
    const anas = await unreadByTheRule(ana);
    expect(anas).toBeGreaterThan(WHOLE);
    expect(await unreadCount(db, ana, WHOLE)).toBe(WHOLE);
    expect(await unreadCount(db, ana)).toBe(UNREAD_COUNT_CAP);
    // Read them all through the copies and marks: down to exactly what is left by the rule.
    await db
      .updateTable('message_locations')
      .set({ seen: 1 })
      .where('account_id', 'in', [box.anaPrivate, box.anaShared])
      .execute();
    await db.updateTable('message_reads').set({ read: 1 }).where('user_id', '=', ana.id).execute();
    const left = await unreadByTheRule(ana);
    // Left unread: mail with no copy and no mark of hers, neither from the CRM nor sent by her.
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(WHOLE);
    expect(await unreadCount(db, ana, WHOLE)).toBe(left);
    expect(await unreadCount(db, ana)).toBe(Math.min(left, UNREAD_COUNT_CAP));
  });

  // PostgreSQL's own planning: registered for it alone.
  if (dialect === 'postgres')
    it('on PostgreSQL, plans the count once per connection and leaves the connection as it was', async () => {
      // One connection, so that every count and the checks after them run on it.
      const one = new Kysely<Database>({ dialect: postgresDialect(database.databaseUrl!, { maxConnections: 1 }) });
      try {
        for (let i = 0; i < 8; i++) {
          const who = i % 2 === 0 ? ana : bruno;
          expect(await unreadCount(one, who)).toBe(await unreadCount(db, who));
        }
        const plans = await sql<{ generic_plans: string; custom_plans: string }>`select generic_plans, custom_plans
          from pg_prepared_statements where statement like '%count(*) as "n" from (select "unread_message"%'`.execute(
          one,
        );
        expect(plans.rows.map((r) => [Number(r.generic_plans), Number(r.custom_plans)])).toEqual([[8, 0]]);
        const mode = await sql<{ plan_cache_mode: string }>`show plan_cache_mode`.execute(one);
        expect(mode.rows[0]!.plan_cache_mode).toBe('auto');
      } finally {
        await one.destroy();
      }
    });
});
