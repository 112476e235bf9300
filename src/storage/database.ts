// Opens the database the config names (SQLite file or PostgreSQL) behind one Kysely instance and runs
// the migrations. Dialect differences stay in the dialect folders and in `Storage.dialect` capabilities.
import path from 'node:path';
import { Kysely, Migrator, sql, type MigrationResultSet } from 'kysely';
import type { Database } from './schema.js';
import { migrationProvider } from './migrations/index.js';
import { sqliteDialect, sqliteReaderDialect } from './sqlite/open-sqlite.js';
import { postgresDialect } from './postgres/open-postgres.js';
import { walCheckpointsOnAThread } from './sqlite/wal-checkpointer.js';

export type Db = Kysely<Database>;

export interface Storage {
  db: Db;
  dialect: 'sqlite' | 'postgres';
  /** SQLite: the database file, for readers on other threads (openSqliteReader); null in memory or on PostgreSQL. */
  sqliteFile: string | null;
  close(): Promise<void>;
}

export interface StorageOptions {
  dataDir: string;
  databaseUrl: string | null;
  /** Overrides the SQLite file (tests use ':memory:' or a temp file). */
  sqliteFile?: string;
  /** SQLite's mmap_size (0 or absent: no memory map); see Config.sqliteMmapBytes. */
  sqliteMmapBytes?: number;
  /** PostgreSQL: marked statements prepared per connection (absent: yes); see Config.postgresPrepared. */
  postgresPrepared?: boolean;
  /**
   * SQLite file: once the database is this big (0: at once), WAL checkpoints run on a worker thread
   * (wal-checkpointer.ts, WAL_WORKER_FROM_BYTES), for the long-lived processes that write (serve, worker); absent:
   * SQLite's own checkpoints (a short command).
   */
  sqliteWalWorkerFromBytes?: number;
}

export class MigrationError extends Error {}

export function openStorage(options: StorageOptions): Storage {
  const dialect = options.databaseUrl ? 'postgres' : 'sqlite';
  const file = options.sqliteFile ?? path.join(options.dataDir, 'conversa.db');
  const db = new Kysely<Database>({
    dialect: options.databaseUrl
      ? postgresDialect(options.databaseUrl, { prepared: options.postgresPrepared ?? true })
      : sqliteDialect(file, { mmapBytes: options.sqliteMmapBytes }),
  });
  if (dialect === 'postgres') return { db, dialect, sqliteFile: null, close: () => db.destroy() };
  const stop = refreshSqliteStatistics(db);
  const walCheckpointer =
    options.sqliteWalWorkerFromBytes !== undefined && file !== ':memory:'
      ? walCheckpointsOnAThread(file, {
          fromBytes: options.sqliteWalWorkerFromBytes,
          setWriterLimit: async (pages) => {
            await sql`pragma wal_autocheckpoint = ${sql.lit(Math.floor(pages))}`.execute(db);
          },
        })
      : null;
  return {
    db,
    dialect,
    sqliteFile: file === ':memory:' ? null : file,
    close: async () => {
      stop();
      // The worker first: the app's connection, closed last, checkpoints what is left and removes the WAL.
      await walCheckpointer?.close();
      return db.destroy();
    },
  };
}

/** A read-only Kysely on the SQLite file of a Storage, for a reader on another thread (sqliteReaderDialect). */
export function openSqliteReader(file: string, options: { mmapBytes?: number } = {}): Db {
  return new Kysely<Database>({ dialect: sqliteReaderDialect(file, options) });
}

/** How often SQLite's statistics are checked (PostgreSQL's autovacuum keeps its own). */
const SQLITE_OPTIMIZE_EVERY_MS = 3600_000;

/**
 * A database that grows from empty to a million messages in one process must not keep planning with the empty
 * one's (missing) statistics: `PRAGMA optimize` re-analyzes the tables that grew a lot, cheaply (open-sqlite.ts).
 */
function refreshSqliteStatistics(db: Db): () => void {
  const timer = setInterval(() => {
    sql`PRAGMA optimize = 0x10002`.execute(db).catch(() => {
      // Statistics only steer the planner; the next round tries again.
    });
  }, SQLITE_OPTIMIZE_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    throw new MigrationError(`migration ${failed?.migrationName ?? '(unknown)'} failed`, { cause: result.error });
  }
  return result;
}

/** True when `error` is a unique-constraint violation, on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
