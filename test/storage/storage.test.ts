// One storage suite, run on SQLite and on PostgreSQL: the same repositories must behave the same on both.
import fs from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/app-error.js';
import {
  createContact,
  deleteContact,
  getContact,
  importContacts,
  listContacts,
  updateContact,
} from '../../src/contacts/contacts.js';
import { migrateToLatest, openStorage } from '../../src/storage/database.js';
import { loadConfig } from '../../src/app/config.js';
import { getOrg, getUserSettings, setOrgPlan, updateUserSettings } from '../../src/users/settings.js';
import {
  checkCredentials,
  createApiToken,
  createSession,
  createUser,
  defaultOrgId,
  deleteSession,
  userForApiToken,
  userForSession,
} from '../../src/users/users.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { prepared } from '../../src/storage/prepared-statement.js';
import { addOrg } from '../support/org-rows.js';

async function expectCode(promise: Promise<unknown>, code: string): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe(code);
  return error as AppError;
}

describe.each(DIALECTS)('storage on %s', (dialect) => {
  let t: TestDatabase;
  let orgId: string;
  const db = () => t.storage.db;

  beforeAll(async () => {
    t = await createTestDatabase(dialect);
    orgId = await defaultOrgId(db());
  });
  afterAll(async () => {
    await t?.destroy();
  });

  describe('migrations', () => {
    it('creates every table of the product and one organisation on the enterprise plan', async () => {
      const tables = await db().introspection.getTables();
      const names = tables.map((table) => table.name);
      for (const table of [
        'orgs',
        'users',
        'sessions',
        'api_tokens',
        'user_settings',
        'contacts',
        'contact_addresses',
        'email_accounts',
        'mail_folders',
        'messages',
        'message_locations',
        'message_participants',
        'message_contacts',
        'threads',
        'thread_keys',
        'attachments',
        'blobs',
        'outbox',
        'calendars',
        'meetings',
        'meeting_attendees',
        'meeting_contacts',
        'oauth_states',
        'sync_events',
      ]) {
        expect(names).toContain(table);
      }
      expect((await getOrg(db(), orgId)).plan).toBe('enterprise');
    });

    it('runs again without changing anything', async () => {
      const again = await migrateToLatest(db());
      expect(again.results).toEqual([]);
      const orgs = await db().selectFrom('orgs').select('id').execute();
      expect(orgs).toHaveLength(1);
    });

    if (dialect === 'sqlite') {
      it('puts SQLite in WAL mode with foreign keys on', async () => {
        const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db());
        expect(journal.rows[0]?.journal_mode).toBe('wal');
        const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(db());
        expect(fk.rows[0]?.foreign_keys).toBe(1);
        expect(fs.existsSync(t.sqliteFile!)).toBe(true);
      });
    }
    if (dialect === 'postgres') {
      it("runs PostgreSQL's connections with JIT off (short statements; see open-postgres.ts)", async () => {
        const jit = await sql<{ jit: string }>`show jit`.execute(db());
        expect(jit.rows).toEqual([{ jit: 'off' }]);
      });
    }
    it('CONVERSA_PG_PREPARED=0 (a pooler that loses prepared statements) runs marked statements unprepared', async () => {
      expect(loadConfig({}).postgresPrepared).toBe(true);
      for (const off of ['0', 'false', 'no', 'OFF'])
        expect(loadConfig({ CONVERSA_PG_PREPARED: off }).postgresPrepared).toBe(false);
      if (dialect !== 'postgres') return;
      const storage = openStorage({ dataDir: t.dataDir, databaseUrl: t.databaseUrl, postgresPrepared: false });
      try {
        await storage.db.connection().execute(async (conn) => {
          for (let round = 0; round < 7; round++)
            expect(
              await conn.selectFrom('users').modifyFront(prepared).select('id').where('id', '=', 'x').execute(),
            ).toEqual([]);
          const statements = await sql`select statement from pg_prepared_statements`.execute(conn);
          expect(statements.rows).toEqual([]);
        });
      } finally {
        await storage.close();
      }
    });
    it('a statement marked `prepared` answers for each value it is given; PostgreSQL keeps it prepared, and only it', async () => {
      const orgId = await defaultOrgId(db());
      const users = await Promise.all(
        ['prep-a@example.test', 'prep-b@example.test'].map((email) =>
          createUser(db(), { email, password: 'a long secret' }),
        ),
      );
      // One connection throughout, so that its prepared statements are the ones asked about.
      await db()
        .connection()
        .execute(async (conn) => {
          const marked = (id: string) =>
            conn.selectFrom('users').modifyFront(prepared).select(['id', 'email']).where('id', '=', id).execute();
          // More than five runs: PostgreSQL may keep a generic plan after the fifth.
          for (let round = 0; round < 4; round++)
            for (const user of users) expect(await marked(user.id)).toEqual([{ id: user.id, email: user.email }]);
          expect(await marked('nobody')).toEqual([]);
          await conn.selectFrom('users').select('id').where('org_id', '=', orgId).execute();
          if (dialect !== 'postgres') return;
          const statements = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(
            conn,
          );
          expect(statements.rows.map((r) => r.statement)).toEqual([
            expect.stringContaining('select /* prepared */ "id", "email" from "users"'),
          ]);
        });
    });
  });

  describe('users, tokens and sessions', () => {
    it('stores a scrypt hash, never the password, and checks it', async () => {
      const user = await createUser(db(), { email: '  Maria@Example.TEST ', password: 'a long secret', isAdmin: true });
      expect(user.email).toBe('maria@example.test');
      expect(user.isAdmin).toBe(true);
      const row = await db()
        .selectFrom('users')
        .select('password_hash')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      expect(row.password_hash).toMatch(/^scrypt\$/);
      expect(row.password_hash).not.toContain('a long secret');
      expect((await checkCredentials(db(), 'MARIA@example.test', 'a long secret'))?.id).toBe(user.id);
      expect(await checkCredentials(db(), 'maria@example.test', 'a long secreT')).toBeUndefined();
      expect(await checkCredentials(db(), 'nobody@example.test', 'a long secret')).toBeUndefined();
    });

    it('refuses a second user with the same e-mail and a short password', async () => {
      await createUser(db(), { email: 'joao@example.test', password: 'password1' });
      await expectCode(createUser(db(), { email: 'JOAO@example.test', password: 'password2' }), 'USER_EMAIL_TAKEN');
      await expectCode(createUser(db(), { email: 'short@example.test', password: 'abc' }), 'VALIDATION_FAILED');
    });

    it('keeps API tokens only as digests', async () => {
      const user = await createUser(db(), { email: 'tokens@example.test', password: 'password1' });
      const token = await createApiToken(db(), user.id, 'script');
      expect(token).toMatch(/^cnv_[A-Za-z0-9_-]{43}$/);
      const rows = await db().selectFrom('api_tokens').selectAll().where('user_id', '=', user.id).execute();
      expect(rows).toHaveLength(1);
      expect(JSON.stringify(rows)).not.toContain(token.slice(4));
      expect((await userForApiToken(db(), token))?.id).toBe(user.id);
      expect(await userForApiToken(db(), `${token}x`)).toBeUndefined();
      const used = await db()
        .selectFrom('api_tokens')
        .select('last_used_at')
        .where('user_id', '=', user.id)
        .executeTakeFirstOrThrow();
      expect(used.last_used_at).toBeTypeOf('number');
    });

    it('creates, resolves and deletes sessions; an expired one resolves to nobody', async () => {
      const user = await createUser(db(), { email: 'sessions@example.test', password: 'password1' });
      const session = await createSession(db(), user.id);
      expect((await userForSession(db(), session.cookieValue))?.id).toBe(user.id);
      await deleteSession(db(), session.cookieValue);
      expect(await userForSession(db(), session.cookieValue)).toBeUndefined();
      const old = await createSession(db(), user.id);
      await db()
        .updateTable('sessions')
        .set({ expires_at: Date.now() - 1 })
        .where('user_id', '=', user.id)
        .execute();
      expect(await userForSession(db(), old.cookieValue)).toBeUndefined();
    });

    it('keeps per-user settings and the organisation plan', async () => {
      const user = await createUser(db(), { email: 'settings@example.test', password: 'password1' });
      expect(await getUserSettings(db(), user.id)).toEqual({
        autoCreateContacts: false,
        locale: 'en',
        neverLog: [],
        trackingEnabled: false,
      });
      expect(await updateUserSettings(db(), user.id, { autoCreateContacts: true })).toEqual({
        autoCreateContacts: true,
        locale: 'en',
        neverLog: [],
        trackingEnabled: false,
      });
      expect(await updateUserSettings(db(), user.id, { locale: 'pt-BR', neverLog: ['@Bank.test'] })).toEqual({
        autoCreateContacts: true,
        locale: 'pt-BR',
        neverLog: ['@bank.test'],
        trackingEnabled: false,
      });
      expect((await setOrgPlan(db(), orgId, 'growth')).plan).toBe('growth');
      expect((await setOrgPlan(db(), orgId, 'enterprise')).plan).toBe('enterprise');
    });
  });

  describe('contacts', () => {
    it('creates a contact with normalised, de-duplicated addresses', async () => {
      const contact = await createContact(db(), orgId, {
        firstName: ' Ana ',
        lastName: 'Lima',
        company: 'ACME',
        emails: [' Ana@ACME.com ', 'ana@acme.com', 'ana.lima@gmail.com'],
      });
      expect(contact).toMatchObject({
        firstName: 'Ana',
        lastName: 'Lima',
        company: 'ACME',
        emails: ['ana@acme.com', 'ana.lima@gmail.com'],
        source: 'manual',
      });
      expect(new Date(contact.createdAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
      expect(await getContact(db(), orgId, contact.id)).toEqual(contact);
    });

    it('refuses an address another contact has, case-insensitively, and stores nothing', async () => {
      await createContact(db(), orgId, { firstName: 'Bruno', emails: ['bruno@acme.com'] });
      const before = await db()
        .selectFrom('contacts')
        .select(sql<number>`count(*)`.as('n'))
        .executeTakeFirstOrThrow();
      const error = await expectCode(
        createContact(db(), orgId, { firstName: 'Other', emails: ['new@acme.com', 'BRUNO@acme.com'] }),
        'CONTACT_EMAIL_TAKEN',
      );
      expect(error.message).toContain('bruno@acme.com');
      const after = await db()
        .selectFrom('contacts')
        .select(sql<number>`count(*)`.as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
      expect((await listContacts(db(), orgId, { email: 'new@acme.com', limit: 10 })).items).toHaveLength(0);
    });

    it('lets exactly one of two racing creations of the same address win', async () => {
      const results = await Promise.allSettled([
        createContact(db(), orgId, { emails: ['race@acme.com'] }),
        createContact(db(), orgId, { emails: ['race@acme.com'] }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect((rejected.reason as AppError).code).toBe('CONTACT_EMAIL_TAKEN');
    });

    it('rejects an address that is not one', async () => {
      const error = await expectCode(createContact(db(), orgId, { emails: ['not an address'] }), 'VALIDATION_FAILED');
      expect(error.fields?.[0]?.path).toBe('emails.0');
    });

    it('pages newest first with a cursor, without gaps or repeats', async () => {
      const org2 = await addOrg(db(), 'Paging');
      const created: string[] = [];
      for (let i = 0; i < 7; i++)
        created.push((await createContact(db(), org2, { firstName: `P${i}`, emails: [`p${i}@paging.test`] })).id);
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await listContacts(db(), org2, { limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(...page.items.map((c) => c.id));
        cursor = page.nextCursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual([...created].reverse());
      await expectCode(listContacts(db(), org2, { limit: 3, cursor: 'garbage!' }), 'VALIDATION_FAILED');
    });

    it('keeps organisations apart', async () => {
      const org3 = await addOrg(db(), 'Other org');
      // The same address may exist once in each organisation.
      const mine = await createContact(db(), orgId, { emails: ['shared@two-orgs.test'] });
      const theirs = await createContact(db(), org3, { emails: ['shared@two-orgs.test'] });
      expect(mine.id).not.toBe(theirs.id);
      await expectCode(getContact(db(), org3, mine.id), 'NOT_FOUND');
      await expectCode(deleteContact(db(), org3, mine.id), 'NOT_FOUND');
      expect((await listContacts(db(), org3, { limit: 50 })).items.map((c) => c.id)).toEqual([theirs.id]);
    });

    it('searches names, company and addresses case-insensitively, with LIKE wildcards taken literally', async () => {
      const carla = await createContact(db(), orgId, {
        firstName: 'Carla',
        lastName: 'Mendes',
        company: 'Café Brasil',
        emails: ['carla@cafe.test'],
      });
      await createContact(db(), orgId, { firstName: 'Percent', emails: ['100%@percent.test'] });
      const ids = async (q: string) => (await listContacts(db(), orgId, { q, limit: 50 })).items.map((c) => c.id);
      expect(await ids('CARLA')).toEqual([carla.id]);
      expect(await ids('café')).toEqual([carla.id]);
      expect(await ids('mendes carla')).toEqual([carla.id]);
      expect(await ids('cafe.test')).toEqual([carla.id]);
      expect(await ids('%')).toHaveLength(1);
      expect(await ids('_')).toHaveLength(0);
      expect((await listContacts(db(), orgId, { email: ' CARLA@cafe.test', limit: 5 })).items.map((c) => c.id)).toEqual(
        [carla.id],
      );
    });

    it('updates fields, replaces addresses (keeping a kept address bounce flag) and frees removed ones', async () => {
      const c = await createContact(db(), orgId, { firstName: 'Davi', emails: ['davi@one.test', 'davi@two.test'] });
      await db()
        .updateTable('contact_addresses')
        .set({ bounced_at: 123 })
        .where('address', '=', 'davi@two.test')
        .execute();
      const updated = await updateContact(db(), orgId, c.id, {
        lastName: 'Rocha',
        emails: ['DAVI@two.test', 'davi@three.test'],
      });
      expect(updated).toMatchObject({
        firstName: 'Davi',
        lastName: 'Rocha',
        emails: ['davi@two.test', 'davi@three.test'],
      });
      const kept = await db()
        .selectFrom('contact_addresses')
        .select('bounced_at')
        .where('address', '=', 'davi@two.test')
        .executeTakeFirstOrThrow();
      expect(kept.bounced_at).toBe(123);
      // davi@one.test is free again.
      await createContact(db(), orgId, { emails: ['davi@one.test'] });
      await expectCode(updateContact(db(), orgId, c.id, { emails: ['davi@one.test'] }), 'CONTACT_EMAIL_TAKEN');
      expect((await getContact(db(), orgId, c.id)).emails).toEqual(['davi@two.test', 'davi@three.test']);
      expect((await updateContact(db(), orgId, c.id, { firstName: null })).firstName).toBeNull();
    });

    it('deletes a contact with its addresses', async () => {
      const c = await createContact(db(), orgId, { emails: ['gone@acme.com'] });
      await deleteContact(db(), orgId, c.id);
      await expectCode(getContact(db(), orgId, c.id), 'NOT_FOUND');
      const left = await db().selectFrom('contact_addresses').select('id').where('contact_id', '=', c.id).execute();
      expect(left).toEqual([]);
      await expectCode(deleteContact(db(), orgId, c.id), 'NOT_FOUND');
    });

    it('imports good rows and reports each bad one by its line', async () => {
      await createContact(db(), orgId, { emails: ['exists@import.test'] });
      const result = await importContacts(
        db(),
        orgId,
        [
          { line: 2, firstName: 'Eva', lastName: null, company: 'X', emails: ['eva@import.test', 'EVA2@import.test'] },
          { line: 3, firstName: 'NoMail', lastName: null, company: null, emails: [] },
          { line: 4, firstName: 'Bad', lastName: null, company: null, emails: ['bad@@import'] },
          { line: 5, firstName: 'Dup', lastName: null, company: null, emails: ['exists@import.test'] },
          { line: 6, firstName: 'Again', lastName: null, company: null, emails: ['eva2@import.test'] },
          { line: 7, firstName: 'Fábio', lastName: 'Ñ', company: null, emails: ['fabio@import.test'] },
        ],
        [{ line: 8, message: 'broken CSV', code: 'CSV_QUOTE_NOT_CLOSED', params: {} }],
      );
      expect(result.created).toBe(2);
      expect(result.skipped).toBe(5);
      expect(result.errors.map((e) => e.line)).toEqual([3, 4, 5, 6, 8]);
      expect(result.errors[3]!.message).toContain('line 2');
      // Each reason also as a code with parameters, for the user's language.
      expect(result.errors.map((e) => e.code)).toEqual([
        'IMPORT_NO_EMAIL',
        'IMPORT_NOT_AN_EMAIL',
        'IMPORT_EMAIL_TAKEN',
        'IMPORT_DUPLICATE_IN_FILE',
        'CSV_QUOTE_NOT_CLOSED',
      ]);
      expect(result.errors[3]!.params).toEqual({ address: 'eva2@import.test', earlierLine: 2 });
      const eva = (await listContacts(db(), orgId, { email: 'eva2@import.test', limit: 1 })).items[0]!;
      expect(eva).toMatchObject({
        firstName: 'Eva',
        source: 'import',
        emails: ['eva@import.test', 'eva2@import.test'],
      });
      expect((await listContacts(db(), orgId, { email: 'fabio@import.test', limit: 1 })).items[0]?.lastName).toBe('Ñ');
    });
  });
});
