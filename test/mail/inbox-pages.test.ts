// The inbox, its cursor pages, one mailbox's inbox, the unread badge and a contact's timeline as they read at scale
// (issue 18, migrations 0025 and 0033): from the caller's holder rows, or the contact's links, newest first. Each message once, even when both of the
// caller's mailboxes hold it; ties on the date in id order; never another user's private mail, whatever the
// mailbox id or cursor asked for. On SQLite and PostgreSQL, through the intake's own storeMessages.
import fs from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  contactMessages,
  getThread,
  inbox,
  unreadCount,
  UNREAD_COUNT_CAP,
  type MessageSummary,
} from '../../src/messages/messages.js';
import { createContact } from '../../src/contacts/contacts.js';
import { contactMeetings } from '../../src/calendar/meetings/read-meetings.js';
import { contactEnrollments } from '../../src/sequences/sequences.js';
import { storeMessages, type MessageToStore, type StoreContext } from '../../src/mail/intake/store-messages.js';
import { createBlobStore, type BlobStore } from '../../src/storage/blob-store.js';
import { migrateToLatest } from '../../src/storage/database.js';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import type { Db } from '../../src/storage/database.js';
import type { Database } from '../../src/storage/schema.js';
import { postgresDialect } from '../../src/storage/postgres/open-postgres.js';
import { createUser, defaultOrgId, findUserById, type User } from '../../src/users/users.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { addMailbox } from '../support/mailbox-rows.js';
import { addOrg } from '../support/org-rows.js';

const DAY = 24 * 3600 * 1000;
const T0 = Date.UTC(2026, 0, 1);

function message(
  n: number,
  date: number,
  options: { from: string; to: string; direction?: 'incoming' | 'outgoing'; thread?: string },
): MessageToStore {
  const messageId = `page-${n}@pages.test`;
  const text = `Message ${n} about the proposta comercial`;
  return {
    dedupeKey: `mid:${messageId}`,
    messageId,
    emailId: null,
    threadId: null,
    inReplyTo: options.thread ?? null,
    references: options.thread ? [options.thread] : [],
    subject: `Subject ${n}`,
    date,
    from: { address: options.from, name: null },
    participants: [
      { role: 'from', address: options.from, name: null },
      { role: 'to', address: options.to, name: null },
    ],
    mappingAddresses: [options.direction === 'outgoing' ? options.to : options.from],
    direction: options.direction ?? 'incoming',
    source: 'sync',
    parsed: {
      messageId,
      inReplyTo: null,
      references: [],
      subject: `Subject ${n}`,
      date,
      from: { address: options.from, name: null },
      sender: null,
      replyTo: [],
      to: [{ address: options.to, name: null }],
      cc: [],
      bcc: [],
      listId: null,
      originalFrom: null,
      autoSubmitted: null,
      precedence: null,
      contentType: 'text/plain',
      reportType: null,
      text,
      html: null,
      snippet: text,
      attachments: [],
      size: 100,
      parseError: null,
    } as never,
    raw: null,
    size: 100,
    location: null,
  };
}

async function allPages(
  read: (cursor?: string) => Promise<{ items: MessageSummary[]; nextCursor: string | null }>,
): Promise<MessageSummary[]> {
  const items: MessageSummary[] = [];
  let cursor: string | undefined;
  for (let guard = 0; guard < 100; guard++) {
    const page = await read(cursor);
    items.push(...page.items);
    if (!page.nextCursor) return items;
    cursor = page.nextCursor;
  }
  throw new Error('the pages never end');
}

describe.each(DIALECTS)('inbox pages on %s', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let blobs: BlobStore;
  let orgId: string;
  let ana: User;
  let bruno: User;
  const mailbox: Record<'anaPrivate' | 'anaShared' | 'brunoPrivate' | 'brunoShared', string> = {
    anaPrivate: '',
    anaShared: '',
    brunoPrivate: '',
    brunoShared: '',
  };
  const client = 'client@customer.test';
  let contactId: string;
  const expectedAna: Array<{ id: string; date: number }> = [];
  const expectedAnaShared = new Set<string>();

  const ctx = (user: User, accountId: string, shared: boolean): StoreContext => ({
    orgId,
    ownerUserId: user.id,
    shared,
    accountId,
    blobs,
  });

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    db = database.storage.db;
    blobs = createBlobStore(path.join(database.dataDir, 'blobs'));
    orgId = await defaultOrgId(db);
    ana = (await findUserById(
      db,
      (await createUser(db, { email: 'ana@pages.test', password: 'long password 1' })).id,
    ))!;
    bruno = (await findUserById(
      db,
      (await createUser(db, { email: 'bruno@pages.test', password: 'long password 2' })).id,
    ))!;
    mailbox.anaPrivate = await addMailbox(db, orgId, ana, 'ana@pages.test', false);
    mailbox.anaShared = await addMailbox(db, orgId, ana, 'vendas@pages.test', true);
    mailbox.brunoPrivate = await addMailbox(db, orgId, bruno, 'bruno@pages.test', false);
    mailbox.brunoShared = await addMailbox(db, orgId, bruno, 'suporte@pages.test', true);
    contactId = (
      await createContact(db, orgId, { firstName: 'Cliente', lastName: null, company: null, emails: [client] })
    ).id;

    // Ana's private mailbox: 23 incoming (dates repeat: ties are broken by id), 4 sent.
    const anaPrivate: MessageToStore[] = [];
    for (let n = 0; n < 23; n++)
      anaPrivate.push(message(n, T0 + Math.floor(n / 3) * DAY, { from: client, to: 'ana@pages.test' }));
    for (let n = 100; n < 104; n++)
      anaPrivate.push(message(n, T0 + n * 1000, { from: 'ana@pages.test', to: client, direction: 'outgoing' }));
    const stored = await storeMessages(db, ctx(ana, mailbox.anaPrivate, false), anaPrivate, null);
    stored.slice(0, 23).forEach((s, i) => expectedAna.push({ id: s.id, date: anaPrivate[i]!.date }));
    // Three of them also reach her shared mailbox (the same message: one row, two holders), and two of its own.
    const again = [anaPrivate[2]!, anaPrivate[10]!, anaPrivate[22]!];
    const own = [
      message(200, T0 + 5 * DAY, { from: client, to: 'vendas@pages.test' }),
      message(201, T0 + 30 * DAY, { from: client, to: 'vendas@pages.test' }),
    ];
    const shared = await storeMessages(db, ctx(ana, mailbox.anaShared, true), [...again, ...own], null);
    expect(shared.slice(0, 3).map((s) => s.id)).toEqual([stored[2]!.id, stored[10]!.id, stored[22]!.id]);
    shared.forEach((s) => expectedAnaShared.add(s.id));
    own.forEach((m, i) => expectedAna.push({ id: shared[3 + i]!.id, date: m.date }));
    // Bruno's mail with the same client: private and shared. Neither is Ana's inbox.
    await storeMessages(
      db,
      ctx(bruno, mailbox.brunoPrivate, false),
      [message(300, T0 + 40 * DAY, { from: client, to: 'bruno@pages.test' })],
      null,
    );
    await storeMessages(
      db,
      ctx(bruno, mailbox.brunoShared, true),
      [message(301, T0 + 41 * DAY, { from: client, to: 'suporte@pages.test' })],
      null,
    );
    expectedAna.sort((a, b) => b.date - a.date || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('pages the inbox newest first, each message once, ties in id order, to the end', async () => {
    const items = await allPages((cursor) => inbox(db, ana, { limit: 4, ...(cursor ? { cursor } : {}) }));
    expect(items.map((i) => i.id)).toEqual(expectedAna.map((e) => e.id));
    const first = await inbox(db, ana, { limit: 50 });
    expect(first.items.map((i) => i.id)).toEqual(expectedAna.map((e) => e.id));
    expect(first.nextCursor).toBeNull();
  });

  if (dialect === 'postgres')
    it("on PostgreSQL, keeps the inbox page's plan per connection and leaves the connection as it was", async () => {
      // One connection, so that every page and the checks after them run on it.
      const one = new Kysely<Database>({ dialect: postgresDialect(database.databaseUrl!, { maxConnections: 1 }) });
      try {
        for (let i = 0; i < 4; i++) {
          expect(await inbox(one, ana, { limit: 4 })).toEqual(await inbox(db, ana, { limit: 4 }));
          const mine = { accountId: mailbox.anaShared, limit: 2 };
          expect(await inbox(one, ana, mine)).toEqual(await inbox(db, ana, mine));
        }
        // Two statements (the inbox, one mailbox's), each planned once and kept: 4 generic plans each, no custom.
        const plans = await sql<{ generic_plans: string; custom_plans: string }>`select generic_plans, custom_plans
          from pg_prepared_statements where statement like '%message_holders%'`.execute(one);
        expect(plans.rows.map((r) => [Number(r.generic_plans), Number(r.custom_plans)])).toEqual([
          [4, 0],
          [4, 0],
        ]);
        const mode = await sql<{ plan_cache_mode: string }>`show plan_cache_mode`.execute(one);
        expect(mode.rows[0]!.plan_cache_mode).toBe('auto');
      } finally {
        await one.destroy();
      }
    });

  it("one mailbox's inbox has only what that mailbox holds", async () => {
    const items = await allPages((cursor) =>
      inbox(db, ana, { accountId: mailbox.anaShared, limit: 2, ...(cursor ? { cursor } : {}) }),
    );
    expect(new Set(items.map((i) => i.id))).toEqual(expectedAnaShared);
    expect(items).toHaveLength(expectedAnaShared.size);
  });

  it('the unread badge counts what the pages show as unread', async () => {
    const items = await allPages((cursor) => inbox(db, ana, { limit: 7, ...(cursor ? { cursor } : {}) }));
    expect(await unreadCount(db, ana)).toBe(items.filter((i) => !i.read).length);
    expect(await unreadCount(db, ana)).toBe(expectedAna.length);
  });

  it('the unread badge stops counting at its cap (the web shows 99+), and counts exactly below it', async () => {
    const carla = (await findUserById(
      db,
      (await createUser(db, { email: 'carla@pages.test', password: 'long password 3' })).id,
    ))!;
    const box = await addMailbox(db, orgId, carla, 'carla@pages.test', false);
    const many = Array.from({ length: UNREAD_COUNT_CAP + 3 }, (_, i) =>
      message(10_000 + i, T0 + i * 1000, { from: client, to: 'carla@pages.test' }),
    );
    await storeMessages(db, ctx(carla, box, false), many.slice(0, 7), null);
    expect(await unreadCount(db, carla)).toBe(7);
    await storeMessages(db, ctx(carla, box, false), many.slice(7), null);
    expect(await unreadCount(db, carla)).toBe(UNREAD_COUNT_CAP);
    // Carla's mail is nobody else's badge.
    expect(await unreadCount(db, ana)).toBe(expectedAna.length);
  });

  it("another user's mailbox or a forged cursor never opens their private mail", async () => {
    expect((await inbox(db, ana, { accountId: mailbox.brunoPrivate, limit: 50 })).items).toEqual([]);
    expect((await inbox(db, ana, { accountId: mailbox.brunoShared, limit: 50 })).items).toEqual([]);
    // A cursor from far in the future is only a position: still Ana's own rows.
    const future = Buffer.from(`${T0 + 365 * DAY}|ffffffff-ffff-ffff-ffff-ffffffffffff`).toString('base64url');
    const page = await inbox(db, ana, { limit: 50, cursor: future });
    expect(page.items.map((i) => i.id)).toEqual(expectedAna.map((e) => e.id));
    const brunos = await inbox(db, bruno, { limit: 50 });
    expect(brunos.items.map((i) => i.subject).sort()).toEqual(['Subject 300', 'Subject 301']);
    expect(await unreadCount(db, bruno)).toBe(2);
  });

  it("a contact's timeline pages the mail the reader may open, newest first", async () => {
    const items = await allPages((cursor) =>
      contactMessages(db, ana, contactId, { limit: 5, ...(cursor ? { cursor } : {}) }),
    );
    const subjects = items.map((i) => i.subject);
    // Ana's 23 + 4 sent + 2 of the shared mailbox, and Bruno's SHARED message — never his private one.
    expect(items).toHaveLength(30);
    expect(subjects).toContain('Subject 301');
    expect(subjects).not.toContain('Subject 300');
    const dates = items.map((i) => Date.parse(i.date));
    expect([...dates].sort((a, b) => b - a)).toEqual(dates);
    const forBruno = await allPages((cursor) =>
      contactMessages(db, bruno, contactId, { limit: 50, ...(cursor ? { cursor } : {}) }),
    );
    // Bruno sees his own two and Ana's shared mailbox's five, not her private mail.
    expect(forBruno.map((i) => i.subject).sort()).toEqual(
      ['Subject 10', 'Subject 2', 'Subject 200', 'Subject 201', 'Subject 22', 'Subject 300', 'Subject 301'].sort(),
    );
  });

  it("a contact's timeline pages by date from the contact's own links, ties in id order, each message once", async () => {
    const items = await allPages((cursor) =>
      contactMessages(db, ana, contactId, { limit: 3, ...(cursor ? { cursor } : {}) }),
    );
    const whole = await contactMessages(db, ana, contactId, { limit: 100 });
    expect(whole.nextCursor).toBeNull();
    expect(items.map((i) => i.id)).toEqual(whole.items.map((i) => i.id));
    expect(new Set(items.map((i) => i.id)).size).toBe(items.length);
    const keys = items.map((i) => [Date.parse(i.date), i.id] as const);
    const sorted = [...keys].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0));
    expect(keys).toEqual(sorted);
    // Ana's 23 incoming come in the order her inbox shows them (ties on the date included).
    const inboxOrder = expectedAna.map((e) => e.id);
    expect(items.map((i) => i.id).filter((id) => inboxOrder.includes(id))).toEqual(inboxOrder);
    // Each link carries its message's date.
    const links = await db
      .selectFrom('message_contacts')
      .innerJoin('messages', 'messages.id', 'message_contacts.message_id')
      .select(['message_contacts.date as linked', 'messages.date'])
      .where('message_contacts.contact_id', '=', contactId)
      .execute();
    expect(links.length).toBeGreaterThanOrEqual(31);
    for (const link of links) expect(Number(link.linked)).toBe(Number(link.date));
  });

  it('a contact created after its mail was stored gets that mail with its dates, newest first', async () => {
    const later = (
      await createContact(db, orgId, { firstName: 'Ana', lastName: 'Self', company: null, emails: ['ana@pages.test'] })
    ).id;
    const items = await allPages((cursor) =>
      contactMessages(db, ana, later, { limit: 4, ...(cursor ? { cursor } : {}) }),
    );
    // Her address is a participant (the sender role aside) of the 23 she received and the 4 she sent.
    expect(items.map((i) => i.subject).sort()).toEqual(
      [
        ...Array.from({ length: 23 }, (_, n) => `Subject ${n}`),
        ...[100, 101, 102, 103].map((n) => `Subject ${n}`),
      ].sort(),
    );
    const keys = items.map((i) => [Date.parse(i.date), i.id] as const);
    expect(keys).toEqual([...keys].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0)));
  });

  it("a contact's timeline: another organisation's contact or an unknown id is not found; a forged cursor opens nothing", async () => {
    await addOrg(db, 'Other', 'org-other');
    const foreign = (
      await createContact(db, 'org-other', { firstName: 'Outro', lastName: null, company: null, emails: [client] })
    ).id;
    // The foreign contact links nothing of this organisation's mail, and its id is a 404 for Ana, not an empty page.
    await expect(contactMessages(db, ana, foreign, { limit: 50 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(contactMessages(db, ana, 'no-such-contact', { limit: 50 })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // Every read scoped to a contact answers the same (assertContactInOrg): the contact's meetings and sequences.
    for (const id of [foreign, 'no-such-contact']) {
      await expect(contactMeetings(db, ana, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(contactEnrollments(db, ana, id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    // A contact of Ana's organisation with no mail is an empty timeline.
    const quiet = (
      await createContact(db, orgId, { firstName: 'Quiet', lastName: null, company: null, emails: ['quiet@x.test'] })
    ).id;
    expect(await contactMessages(db, ana, quiet, { limit: 50 })).toEqual({ items: [], nextCursor: null });
    expect(await contactMeetings(db, ana, quiet)).toEqual([]);
    expect(await contactEnrollments(db, ana, quiet)).toEqual({ items: [] });
    // A cursor from the future is only a position: Bruno still never reads Ana's private mail.
    const future = Buffer.from(`${T0 + 365 * DAY}|ffffffff-ffff-ffff-ffff-ffffffffffff`).toString('base64url');
    const forBruno = await contactMessages(db, bruno, contactId, { limit: 50, cursor: future });
    expect(forBruno.items.map((i) => i.subject).sort()).toEqual(
      ['Subject 10', 'Subject 2', 'Subject 200', 'Subject 201', 'Subject 22', 'Subject 300', 'Subject 301'].sort(),
    );
  });

  it('a thread reads in date order from its own index', async () => {
    const first = expectedAna.at(-1)!;
    const { threadId } = (await inbox(db, ana, { limit: 50 })).items.find((i) => i.id === first.id)!;
    const thread = await getThread(db, ana, threadId!);
    const dates = thread.messages.map((m) => Date.parse(m.date));
    expect([...dates].sort((a, b) => a - b)).toEqual(dates);
  });
});

describe.each(DIALECTS)('migration 0033 on %s', (dialect) => {
  it('gives contact links stored before it their message dates, and the timeline reads them newest first', async () => {
    const database = await createTestDatabase(dialect, { migrate: false });
    try {
      const db = database.storage.db;
      const result = await new Migrator({ db, provider: migrationProvider }).migrateTo('0032-search-months');
      expect(result.error).toBeUndefined();
      const orgId = await defaultOrgId(db);
      const reader = (await findUserById(
        db,
        (await createUser(db, { email: 'old@pages.test', password: 'long password 4' })).id,
      ))!;
      const t = Date.now();
      await sql`insert into contacts (id, org_id, first_name, source, search_text, created_at, updated_at)
        values ('c-old', ${orgId}, 'Old', 'manual', 'old', ${t}, ${t})`.execute(db);
      for (const [id, day] of [
        ['m-a', 3],
        ['m-b', 9],
        ['m-c', 1],
      ] as const) {
        await sql`insert into messages (id, org_id, dedupe_key, date, direction, source, has_attachments, bounced, size, shared, created_at)
          values (${id}, ${orgId}, ${'mid:' + id}, ${T0 + day * DAY}, 'incoming', 'sync', 0, 0, 10, 1, ${t})`.execute(
          db,
        );
        await sql`insert into message_holders (id, message_id, account_id, user_id, shared, direction, created_at, date)
          values (${'h-' + id}, ${id}, null, null, 1, 'incoming', ${t}, ${T0 + day * DAY})`.execute(db);
        await sql`insert into message_contacts (message_id, contact_id) values (${id}, 'c-old')`.execute(db);
      }
      await migrateToLatest(db);
      const links = await db
        .selectFrom('message_contacts')
        .select(['message_id', 'date'])
        .orderBy('message_id')
        .execute();
      expect(links.map((l) => [l.message_id, Number(l.date)])).toEqual([
        ['m-a', T0 + 3 * DAY],
        ['m-b', T0 + 9 * DAY],
        ['m-c', T0 + 1 * DAY],
      ]);
      const page = await contactMessages(db, reader, 'c-old', { limit: 2 });
      expect(page.items.map((i) => i.id)).toEqual(['m-b', 'm-a']);
      const rest = await contactMessages(db, reader, 'c-old', { limit: 2, cursor: page.nextCursor! });
      expect(rest.items.map((i) => i.id)).toEqual(['m-c']);
      expect(rest.nextCursor).toBeNull();
    } finally {
      await database.destroy();
      fs.rmSync(database.dataDir, { recursive: true, force: true });
    }
  });
});

describe.each(DIALECTS)('migration 0025 on %s', (dialect) => {
  it('gives holder rows stored before it their message dates', async () => {
    const database = await createTestDatabase(dialect, { migrate: false });
    try {
      const db = database.storage.db;
      const result = await new Migrator({ db, provider: migrationProvider }).migrateTo('0022-erased-addresses');
      expect(result.error).toBeUndefined();
      const orgId = await defaultOrgId(db);
      const t = Date.now();
      await sql`insert into messages (id, org_id, dedupe_key, date, direction, source, has_attachments, bounced, size, shared, created_at)
        values ('m-old', ${orgId}, 'mid:old@pages.test', ${T0 + 7 * DAY}, 'incoming', 'sync', 0, 0, 10, 0, ${t})`.execute(
        db,
      );
      await sql`insert into message_holders (id, message_id, account_id, user_id, shared, direction, created_at)
        values ('h-old', 'm-old', null, null, 0, 'incoming', ${t})`.execute(db);
      await migrateToLatest(db);
      const holder = await db
        .selectFrom('message_holders')
        .select('date')
        .where('id', '=', 'h-old')
        .executeTakeFirstOrThrow();
      expect(Number(holder.date)).toBe(T0 + 7 * DAY);
    } finally {
      await database.destroy();
      fs.rmSync(database.dataDir, { recursive: true, force: true });
    }
  });
});
