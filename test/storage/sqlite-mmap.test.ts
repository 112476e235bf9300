// CONVERSA_SQLITE_MMAP_MB (issue 18): the SQLite file read through a memory map when an operator asks for it, and
// never otherwise; a value that is not a whole number stops start-up with the setting's name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { migrateToLatest, openStorage, type Storage } from '../../src/storage/database.js';

const opened: Array<{ storage: Storage; dir: string }> = [];

async function open(sqliteMmapBytes?: number): Promise<Storage> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'conversa-mmap-'));
  const storage = openStorage({ dataDir: dir, databaseUrl: null, sqliteMmapBytes });
  opened.push({ storage, dir });
  await migrateToLatest(storage.db);
  return storage;
}

async function mmapSize(storage: Storage): Promise<number> {
  const { rows } = await sql<{ mmap_size: number }>`pragma mmap_size`.execute(storage.db);
  return Number(rows[0]!.mmap_size);
}

afterEach(async () => {
  for (const { storage, dir } of opened.splice(0)) {
    await storage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('the SQLite memory map', () => {
  it('is off by default and set to the configured size when asked', async () => {
    expect(loadConfig({}).sqliteMmapBytes).toBe(0);
    expect(await mmapSize(await open(loadConfig({}).sqliteMmapBytes))).toBe(0);
    const config = loadConfig({ CONVERSA_SQLITE_MMAP_MB: '64' });
    expect(config.sqliteMmapBytes).toBe(64 * 1024 * 1024);
    const mapped = await open(config.sqliteMmapBytes);
    expect(await mmapSize(mapped)).toBe(64 * 1024 * 1024);
    // Reads through the map see what was written.
    await mapped.db.insertInto('setup_marks').values({ id: 'mapped', done_at: 42 }).execute();
    const row = await mapped.db.selectFrom('setup_marks').selectAll().where('id', '=', 'mapped').executeTakeFirst();
    expect(row).toEqual({ id: 'mapped', done_at: 42 });
  });

  it('refuses a value that is not a whole number, naming the setting', () => {
    for (const bad of ['-1', '1.5', 'lots']) {
      expect(() => loadConfig({ CONVERSA_SQLITE_MMAP_MB: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ CONVERSA_SQLITE_MMAP_MB: bad })).toThrow(/CONVERSA_SQLITE_MMAP_MB/);
    }
  });
});
