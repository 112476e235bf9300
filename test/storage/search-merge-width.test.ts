// Migration 0036 (issue 18): SQLite's full-text index merges 16 segments of a level at a time instead of FTS5's 4,
// which halves the rewriting of its postings as the intake commits batch after batch. The setting is the index's own
// (every connection, a backup), and a search still finds every document once the segments of many commits merge.
import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStorage, type Db } from '../../src/storage/database.js';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import { SEARCH_MERGE_WIDTH } from '../../src/storage/migrations/0036-search-merge-width.js';
import { indexNewMessages } from '../../src/storage/search-index.js';
import { newId } from '../../src/storage/ids.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

let database: TestDatabase | undefined;

async function mergeWidth(db: Db): Promise<number | null> {
  const { rows } = await sql<{ v: number }>`select v from message_search_fts_config where k = 'automerge'`.execute(db);
  return rows[0] ? Number(rows[0].v) : null;
}

/** The message ids of the documents that MATCH `query`, sorted. */
async function matching(db: Db, query: string): Promise<string[]> {
  const { rows } = await sql<{ message_id: string }>`select d.message_id from message_search_fts f
    join message_search_docs d on d.doc = f.rowid where message_search_fts match ${query}
    order by d.message_id`.execute(db);
  return rows.map((r) => r.message_id);
}

afterEach(async () => {
  await database?.destroy();
  database = undefined;
});

describe('the full-text index merge width on SQLite', () => {
  it('is 16 after the migrations, for a connection that opens the file later, and 4 again when undone', async () => {
    database = await createTestDatabase('sqlite');
    expect(SEARCH_MERGE_WIDTH).toBe(16);
    expect(await mergeWidth(database.storage.db)).toBe(16);
    // Another connection (another process, a restored backup) reads the index's own setting.
    const again = openStorage({ dataDir: database.dataDir, databaseUrl: null });
    try {
      expect(await mergeWidth(again.db)).toBe(16);
      const migrator = new Migrator({ db: again.db, provider: migrationProvider });
      expect((await migrator.migrateTo('0035-drop-redundant-indexes')).error).toBeUndefined();
      expect(await mergeWidth(again.db)).toBe(4);
    } finally {
      await again.close();
    }
  });

  it('finds every document once the segments of 40 commits have merged', async () => {
    database = await createTestDatabase('sqlite');
    const db = database.storage.db;
    const ids: string[] = [];
    // One commit per document: a segment each, so a level fills and merges while they are written.
    for (let i = 0; i < 40; i++) {
      const messageId = newId();
      ids.push(messageId);
      await db.transaction().execute((trx) =>
        indexNewMessages(trx, [
          {
            messageId,
            subject: `Proposta ${i}`,
            people: ['ana@empresa.test'],
            attachmentNames: [],
            text: `orçamento revisado palavra${i} ${i % 2 === 0 ? 'par' : 'impar'}`,
            html: null,
          },
        ]),
      );
    }
    const all = [...ids].sort();
    expect(await matching(db, 'orcamento')).toEqual(all);
    expect(await matching(db, '"orcamento revisado"')).toEqual(all);
    expect(await matching(db, 'par')).toEqual(ids.filter((_, i) => i % 2 === 0).sort());
    for (const i of [0, 15, 16, 39]) expect(await matching(db, `palavra${i}`)).toEqual([ids[i]]);
    // FTS5's own check of the merged index, and the same answers after a full merge.
    await sql`insert into message_search_fts (message_search_fts, rank) values ('integrity-check', 0)`.execute(db);
    await sql`insert into message_search_fts (message_search_fts) values ('optimize')`.execute(db);
    expect(await matching(db, 'orcamento')).toEqual(all);
  });
});
