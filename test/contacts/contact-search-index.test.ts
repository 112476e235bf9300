// Contact search through a trigram index (issue 18, migration 0037): whatever narrows the contacts a search tests,
// `q` must find exactly the contacts whose names, company or addresses contain every word, newest first, in the
// caller's organisation only, after every kind of write; and a word with the search syntax of FTS5 in it is text.
import { randomBytes } from 'node:crypto';
import { Kysely, Migrator, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactsContaining, indexBelowMatches } from '../../src/contacts/contact-search.js';
import {
  createContact,
  deleteContact,
  importContacts,
  listContacts,
  updateContact,
  type Contact,
} from '../../src/contacts/contacts.js';
import { migrateToLatest, type Db } from '../../src/storage/database.js';
import { newId } from '../../src/storage/ids.js';
import { postgresDialect } from '../../src/storage/postgres/open-postgres.js';
import type { Database } from '../../src/storage/schema.js';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import { defaultOrgId } from '../../src/users/users.js';
import { adminQuery, createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { addOrg } from '../support/org-rows.js';

/** Name parts with accents, case, and characters that mean something to LIKE or to FTS5. */
const PARTS = ['ana', 'João', 'SILVA', 'gonçalves', 'brandão', 'Mar', 'c123', 'o"neil', '50%', 'a_b', 'NEAR', 'x*'];

/** A small deterministic random source, so that a failure can be replayed. */
function randomSource(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

/** What the search must return: the org's contacts whose text contains every word, newest first. */
function expected(contacts: Contact[], q: string, limit: number): string[] {
  const words = q.trim().toLowerCase().split(/\s+/);
  const text = (c: Contact) =>
    [c.firstName, c.lastName, c.company, ...c.emails].filter(Boolean).join(' ').toLowerCase();
  return contacts
    .filter((c) => words.every((w) => text(c).includes(w)))
    .map((c) => c.id)
    .sort()
    .reverse()
    .slice(0, limit);
}

async function searchIds(db: Db, orgId: string, q: string, limit = 500): Promise<string[]> {
  return (await listContacts(db, orgId, { q, limit })).items.map((c) => c.id);
}

describe.each(DIALECTS)('contact search through the trigram index on %s', (dialect) => {
  let t: TestDatabase;
  let orgId: string;
  let otherOrg: string;
  const db = () => t.storage.db;
  const contacts: Contact[] = [];

  beforeAll(async () => {
    t = await createTestDatabase(dialect);
    orgId = await defaultOrgId(db());
    otherOrg = await addOrg(db(), 'Other');
    const random = randomSource(18);
    const pick = () => PARTS[Math.floor(random() * PARTS.length)]!;
    for (let i = 0; i < 120; i++) {
      contacts.push(
        await createContact(db(), orgId, {
          firstName: `${pick()}${i % 7 === 0 ? pick() : ''}`,
          lastName: random() < 0.8 ? pick() : null,
          company: random() < 0.5 ? `${pick()} Ltda` : null,
          emails: [`p${i}.${pick().replace(/[^a-z0-9]/gi, '')}@c${i % 5}.test`],
        }),
      );
    }
    // The other organisation has the same names: never in this one's results.
    for (let i = 0; i < 20; i++)
      await createContact(db(), otherOrg, { firstName: PARTS[i % PARTS.length]!, emails: [`o${i}@other.test`] });
  }, 120_000);
  afterAll(async () => {
    await t?.destroy();
  });

  it('finds exactly the contacts containing every word, whatever the words', async () => {
    const random = randomSource(7);
    const texts = contacts.map((c) => [c.firstName, c.lastName, c.company, ...c.emails].filter(Boolean).join(' '));
    const queries = new Set<string>([
      'silva',
      'SILVA ana',
      'joão',
      'JOAO',
      'ltda c123',
      'a',
      'ma',
      'o"n',
      '50%',
      'a_b',
    ]);
    // Substrings of real contacts (1–8 characters, one or two words) and words no contact has.
    while (queries.size < 150) {
      const text = texts[Math.floor(random() * texts.length)]!;
      const start = Math.floor(random() * text.length);
      const word = text.slice(start, start + 1 + Math.floor(random() * 8)).trim();
      if (!word) continue;
      queries.add(random() < 0.2 ? `${word} ${PARTS[Math.floor(random() * PARTS.length)]}` : word);
      if (random() < 0.1) queries.add(`${word}zq`);
    }
    let narrowed = 0;
    for (const q of queries) {
      expect(await searchIds(db(), orgId, q), q).toEqual(expected(contacts, q, 500));
      if (await contactsContaining(db(), q.toLowerCase().split(/\s+/))) narrowed++;
    }
    // On SQLite most of these searches went through the index (124 of the 150 have a word of 3 characters or more).
    if (dialect === 'sqlite') expect(narrowed).toBeGreaterThan(100);
    else expect(narrowed).toBe(0);
  });

  it('follows every write: a new name is found, an old one no longer, a deleted contact is gone', async () => {
    const renamed = contacts[3]!;
    const updated = await updateContact(db(), orgId, renamed.id, {
      lastName: 'Quixadá',
      emails: ['novo.endereco@zeta.test'],
    });
    contacts[3] = updated;
    expect(await searchIds(db(), orgId, 'quixadá')).toEqual([renamed.id]);
    expect(await searchIds(db(), orgId, 'novo.endereco@zeta')).toEqual([renamed.id]);
    for (const old of renamed.emails) expect(await searchIds(db(), orgId, old)).toEqual([]);

    const gone = contacts.splice(5, 1)[0]!;
    await deleteContact(db(), orgId, gone.id);
    expect(await searchIds(db(), orgId, gone.emails[0]!)).toEqual([]);

    const imported = await importContacts(
      db(),
      orgId,
      [{ line: 2, firstName: 'Ximena', lastName: 'Uirapuru', company: null, emails: ['ximena@import.test'] }],
      [],
    );
    expect(imported.created).toBe(1);
    const found = await listContacts(db(), orgId, { q: 'uirapuru', limit: 10 });
    expect(found.items.map((c) => c.emails)).toEqual([['ximena@import.test']]);
    contacts.push(found.items[0]!);

    for (const q of ['silva', 'ltda', 'quix', 'ximena', 'test']) {
      expect(await searchIds(db(), orgId, q), q).toEqual(expected(contacts, q, 500));
    }
    if (dialect === 'sqlite') {
      // One index row per contact of every organisation, none left behind by the deletion.
      const { rows } = await sql<{ docs: number; contacts: number }>`select
        (select count(*) from contact_search_docs) as docs, (select count(*) from contacts) as contacts`.execute(db());
      expect(Number(rows[0]!.docs)).toBe(Number(rows[0]!.contacts));
    } else {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_indexes
        where indexname = 'contacts_search_trgm_idx'`.execute(db());
      expect(rows[0]!.n).toBe(1);
    }
  });

  it('pages a narrowed search newest first without gaps or repeats', async () => {
    const q = 'test';
    const all = expected(contacts, q, 10_000);
    expect(all.length).toBeGreaterThan(20);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await listContacts(db(), orgId, { q, limit: 7, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((c) => c.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(all);
  });

  it('leaves the index aside for a word in very many contacts, and answers the same', async () => {
    if (dialect === 'postgres') {
      expect(await contactsContaining(db(), ['silva'])).toBeNull();
      return;
    }
    const crowd = newId();
    const now = Date.now();
    await addOrg(db(), 'Crowd', crowd);
    const CROWD = 600;
    await sql`insert into contacts
        (id, org_id, first_name, last_name, company, source, search_text, created_at, updated_at)
      with recursive n(i) as (select 1 union all select i + 1 from n where i < ${CROWD})
      select printf('00000000-0000-7000-8000-%012d', i), ${crowd}, 'Multidão', null, null, 'manual',
        'multidão ' || i, ${now}, ${now} from n`.execute(db());
    const { rows } = await sql<{ n: number }>`select count(*) as n from contacts`.execute(db());
    // With ~800 contacts in all, a word in 600 of them is read by walking the organisation, one in a few by the index.
    expect(CROWD).toBeGreaterThanOrEqual(indexBelowMatches(Number(rows[0]!.n)));
    expect(await contactsContaining(db(), ['multidão'])).toBeNull();
    expect(await contactsContaining(db(), ['multidão', '593'])).not.toBeNull();
    const id = (i: number) => `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`;
    const page = await listContacts(db(), crowd, { q: 'multidão', limit: 3 });
    expect(page.items.map((c) => c.id)).toEqual([id(600), id(599), id(598)]);
    expect((await listContacts(db(), crowd, { q: 'multidão 593', limit: 3 })).items.map((c) => c.id)).toEqual([
      id(593),
    ]);
  });

  it('indexes the contacts already there when the migration runs, and is undone cleanly', async () => {
    const migrator = new Migrator({ db: db(), provider: migrationProvider });
    expect((await migrator.migrateTo('0036-search-merge-width')).error).toBeUndefined();
    const { rows } =
      dialect === 'sqlite'
        ? await sql<{ n: number }>`select count(*) as n from sqlite_master where name like 'contact_search%'
            or name like 'contacts_search%'`.execute(db())
        : await sql<{ n: number }>`select count(*)::int as n from pg_indexes
            where indexname = 'contacts_search_trgm_idx'`.execute(db());
    expect(Number(rows[0]!.n)).toBe(0);
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    if (dialect === 'sqlite') expect(await contactsContaining(db(), ['silva'])).not.toBeNull();
    for (const q of ['silva', 'gonçalves ltda', 'quixadá', 'c123', 'o"neil', 'ximena@import']) {
      expect(await searchIds(db(), orgId, q), q).toEqual(expected(contacts, q, 500));
    }
  });
});

describe('contact search on PostgreSQL for a role that may not create pg_trgm', () => {
  it('migrates without the index and searches as before', async () => {
    // A role that owns nothing and may not create an extension in the database (no CREATE on it).
    const role = `conversa_noext_${randomBytes(4).toString('hex')}`;
    const t = await createTestDatabase('postgres', { migrate: false });
    await adminQuery(`CREATE ROLE ${role} LOGIN`);
    let db: Db | null = null;
    try {
      await sql`grant usage, create on schema public to ${sql.raw(role)}`.execute(t.storage.db);
      const url = new URL(t.databaseUrl!);
      url.username = role;
      db = new Kysely<Database>({ dialect: postgresDialect(url.toString()) });
      await migrateToLatest(db);
      const extensions = await sql<{ extname: string }>`select extname from pg_extension`.execute(db);
      expect(extensions.rows.map((r) => r.extname)).not.toContain('pg_trgm');
      const orgId = await defaultOrgId(db);
      const ana = await createContact(db, orgId, { firstName: 'Ana', lastName: 'Brandão', emails: ['ana@noext.test'] });
      await createContact(db, orgId, { firstName: 'Bruno', emails: ['bruno@noext.test'] });
      expect(await searchIds(db, orgId, 'brandão')).toEqual([ana.id]);
    } finally {
      await db?.destroy();
      await t.destroy();
      await adminQuery(`DROP ROLE IF EXISTS ${role}`);
    }
  });
});
