// Migration 0036 (issue 18): SQLite's full-text index merges 16 segments of a level at a time instead of FTS5's 4,
// which halves the rewriting of its postings as the intake commits batch after batch. The setting is the index's own
// (every connection, a backup), and a search still finds every document once the segments of many commits merge.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Migrator, sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateToLatest, openStorage, type Storage } from '../../src/storage/database.js';
import { migrationProvider } from '../../src/storage/migrations/index.js';
import { SEARCH_MERGE_WIDTH } from '../../src/storage/migrations/0036-search-merge-width.js';
import { indexNewMessages } from '../../src/storage/search-index.js';
import { newId } from '../../src/storage/ids.js';

const opened: Array<{ storage: Storage; dir: string }> = [];

async function open(dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conversa-merge-'))): Promise<Storage> {
  const storage = openStorage({ dataDir: dir, databaseUrl: null });
  opened.push({ storage, dir });
  await migrateToLatest(storage.db);
  return storage;
}

async function mergeWidth(storage: Storage): Promise<number | null> {
  const { rows } = await sql<{ v: number }>`select v from message_search_fts_config where k = 'automerge'`.execute(
    storage.db,
  );
  return rows[0] ? Number(rows[0].v) : null;
}

/** The message ids of the documents that MATCH `query`, sorted. */
async function matching(storage: Storage, query: string): Promise<string[]> {
  const { rows } = await sql<{ message_id: string }>`select d.message_id from message_search_fts f
    join message_search_docs d on d.doc = f.rowid where message_search_fts match ${query}
    order by d.message_id`.execute(storage.db);
  return rows.map((r) => r.message_id);
}

afterEach(async () => {
  for (const { storage, dir } of opened.splice(0)) {
    await storage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('the full-text index merge width on SQLite', () => {
  it('is 16 after the migrations, for a connection that opens the file later, and 4 again when undone', async () => {
    const first = await open();
    expect(SEARCH_MERGE_WIDTH).toBe(16);
    expect(await mergeWidth(first)).toBe(16);
    // Another connection (another process, a restored backup) reads the index's own setting.
    const { dir } = opened[0]!;
    await first.close();
    opened.length = 0;
    const again = await open(dir);
    expect(await mergeWidth(again)).toBe(16);
    const migrator = new Migrator({ db: again.db, provider: migrationProvider });
    expect((await migrator.migrateTo('0035-drop-redundant-indexes')).error).toBeUndefined();
    expect(await mergeWidth(again)).toBe(4);
  });

  it('finds every document once the segments of 40 commits have merged', async () => {
    const storage = await open();
    const ids: string[] = [];
    // One commit per document: a segment each, so a level fills and merges while they are written.
    for (let i = 0; i < 40; i++) {
      const messageId = newId();
      ids.push(messageId);
      await storage.db.transaction().execute((trx) =>
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
    expect(await matching(storage, 'orcamento')).toEqual(all);
    expect(await matching(storage, '"orcamento revisado"')).toEqual(all);
    expect(await matching(storage, 'par')).toEqual(ids.filter((_, i) => i % 2 === 0).sort());
    for (const i of [0, 15, 16, 39]) expect(await matching(storage, `palavra${i}`)).toEqual([ids[i]]);
    // FTS5's own check of the merged index, and the same answers after a full merge.
    await sql`insert into message_search_fts (message_search_fts, rank) values ('integrity-check', 0)`.execute(
      storage.db,
    );
    await sql`insert into message_search_fts (message_search_fts) values ('optimize')`.execute(storage.db);
    expect(await matching(storage, 'orcamento')).toEqual(all);
  });
});
