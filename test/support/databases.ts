// Fresh databases for a test file: a temp SQLite file, or a PostgreSQL database created for this run on
// the local server (TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres) and dropped after.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrateToLatest, openStorage, type Storage } from '../../src/storage/database.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type Dialect = (typeof DIALECTS)[number];

export const ADMIN_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  dialect: Dialect;
  /** What to pass as DATABASE_URL (postgres) or null for SQLite. */
  databaseUrl: string | null;
  dataDir: string;
  sqliteFile: string | null;
  storage: Storage;
  /** Closes the storage and removes the database and its files. */
  destroy(): Promise<void>;
}

/** One statement on the server's `postgres` database (CREATE or DROP DATABASE); benchmarks use it too. */
export async function adminQuery(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(dialect: Dialect, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-test-'));
  let databaseUrl: string | null = null;
  let dbName: string | null = null;
  if (dialect === 'postgres') {
    dbName = `conversa_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${dbName}`);
    const url = new URL(ADMIN_POSTGRES_URL);
    url.pathname = `/${dbName}`;
    databaseUrl = url.toString();
  }
  const sqliteFile = dialect === 'sqlite' ? path.join(dataDir, 'conversa.db') : null;
  const storage = openStorage({ dataDir, databaseUrl });
  if (options.migrate !== false) await migrateToLatest(storage.db);
  return {
    dialect,
    databaseUrl,
    dataDir,
    sqliteFile,
    storage,
    async destroy() {
      await storage.close();
      if (dbName) await adminQuery(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
