// The helpers that keep a statement's text and plan fixed (src/storage/prepared-statement.ts): `inValues` matches
// exactly the values given, whatever characters they hold (on PostgreSQL they travel as one array parameter), and
// `withKeptPlans` leaves the pooled connection as it found it, also when its statement fails.
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inValues, withKeptPlans } from '../../src/storage/prepared-statement.js';
import type { Database } from '../../src/storage/schema.js';
import { postgresDialect } from '../../src/storage/postgres/open-postgres.js';
import { addOrg } from '../support/org-rows.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

/** Ids with what an array literal or an IN list would have to escape. */
const HOSTILE = ['plain', 'a,b', '{x}', '"q"', "it's", 'back\\slash', 'NULL', ' spaced ', 'ação', ''];

describe.each(DIALECTS)('prepared-statement helpers on %s', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    for (const id of [...HOSTILE, 'other', 'null']) await addOrg(database.storage.db, `org ${id}`, `org-${id}`);
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const idsIn = async (db: Kysely<Database>, values: string[]) =>
    (
      await db
        .selectFrom('orgs')
        .select('id')
        .where(inValues(db, 'orgs.id', values))
        .orderBy('id')
        .execute()
    ).map((r) => r.id);

  it('inValues matches exactly the values given, however they are written', async () => {
    const db = database.storage.db;
    const wanted = HOSTILE.map((id) => `org-${id}`);
    expect(await idsIn(db, wanted)).toEqual([...wanted].sort());
    // "NULL" is a value, not the null: the org named "null" (lower case) does not match it.
    expect(await idsIn(db, ['org-NULL'])).toEqual(['org-NULL']);
    expect(await idsIn(db, ['org-a', 'b'])).toEqual([]);
    expect(await idsIn(db, ['org-other'])).toEqual(['org-other']);
  });

  it('withKeptPlans returns what its statement reads, and rolls back and rethrows when it fails', async () => {
    const db = database.storage.db;
    expect(await withKeptPlans(db, (conn) => idsIn(conn, ['org-plain']))).toEqual(['org-plain']);
    await expect(
      withKeptPlans(db, async (conn) => {
        await addOrg(conn, 'written then undone', 'org-undone');
        await sql`select * from no_such_table`.execute(conn);
      }),
    ).rejects.toThrow(/no_such_table/);
    // On PostgreSQL the insert was inside the failed transaction; SQLite runs the statements as they come.
    expect(await idsIn(db, ['org-undone'])).toEqual(dialect === 'postgres' ? [] : ['org-undone']);
  });

  if (dialect === 'postgres')
    it('withKeptPlans leaves its connection out of any transaction and with its own plan setting', async () => {
      // One connection, so that the checks after the failure run on the connection that failed.
      const one = new Kysely<Database>({ dialect: postgresDialect(database.databaseUrl!, { maxConnections: 1 }) });
      try {
        const inside = await withKeptPlans(one, async (conn) => {
          const { rows } = await sql<{ plan_cache_mode: string }>`show plan_cache_mode`.execute(conn);
          return rows[0]!.plan_cache_mode;
        });
        expect(inside).toBe('force_generic_plan');
        await expect(
          withKeptPlans(one, async (conn) => {
            await sql`select 1 / 0`.execute(conn);
          }),
        ).rejects.toThrow(/division by zero/);
        const { rows } = await sql<{ plan_cache_mode: string; in_transaction: boolean }>`select
          current_setting('plan_cache_mode') as plan_cache_mode,
          now() <> statement_timestamp() as in_transaction`.execute(one);
        expect(rows[0]).toEqual({ plan_cache_mode: 'auto', in_transaction: false });
      } finally {
        await one.destroy();
      }
    });
});
