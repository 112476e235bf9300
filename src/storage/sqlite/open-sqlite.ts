// The embedded default: one SQLite file in WAL mode, so readers never wait for the sync engine's writes.
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { SqliteDialect } from 'kysely';

export function sqliteDialect(file: string, options: { mmapBytes?: number } = {}): SqliteDialect {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  return new SqliteDialect({
    database: async () => {
      const db = file === ':memory:' ? new SqliteDatabase(file) : openPrivately(file);
      db.pragma('synchronous = NORMAL');
      // Reads of the file through a memory map instead of a pread per page: on a big database the intake re-reads
      // index pages hundreds of thousands of times a second (issue 18), and the system calls were most of its time.
      if (options.mmapBytes) db.pragma(`mmap_size = ${Math.floor(options.mmapBytes)}`);
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      // The planner needs statistics: without them it takes `org_id = ?` (one value in most installs) for a
      // selective condition and walks a million messages by date. ANALYZE samples this many rows per index (a few
      // ms at any size), and optimize analyzes the tables that have none yet or have grown a lot since (openStorage
      // repeats it hourly).
      db.pragma('analysis_limit = 2000');
      db.pragma('optimize = 0x10002');
      return withStatementCache(db);
    },
  });
}

/**
 * A read-only connection to an existing database file, for a reader on another thread (the search workers): it
 * never writes (no statistics, no journal mode change), waits for the writer's brief locks, and sees each commit of
 * the app's own connection as soon as it is made (WAL).
 */
export function sqliteReaderDialect(file: string, options: { mmapBytes?: number } = {}): SqliteDialect {
  return new SqliteDialect({
    database: async () => {
      const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
      if (options.mmapBytes) db.pragma(`mmap_size = ${Math.floor(options.mmapBytes)}`);
      db.pragma('busy_timeout = 5000');
      return withStatementCache(db);
    },
  });
}

const OWNER_ONLY = 0o600;

/**
 * Every mail body is in this file: it and its -wal and -shm companions are readable by their owner only. The
 * file is created 0600 before SQLite sees it (SQLite gives the companions the main file's mode), files left by
 * an older version are chmodded, and the umask is narrowed while SQLite opens and switches to WAL, for the rest.
 */
function openPrivately(file: string): SqliteDatabase.Database {
  const companions = [file, `${file}-wal`, `${file}-shm`, `${file}-journal`];
  fs.closeSync(fs.openSync(file, 'a', OWNER_ONLY));
  const restrict = () => {
    for (const f of companions) {
      try {
        fs.chmodSync(f, OWNER_ONLY);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
  };
  restrict();
  const previous = narrowUmask();
  try {
    const db = new SqliteDatabase(file);
    db.pragma('journal_mode = WAL');
    restrict();
    return db;
  } finally {
    if (previous !== null) process.umask(previous);
  }
}

/** Sets umask 077 and returns the previous one; null where it cannot be changed (worker threads). */
function narrowUmask(): number | null {
  try {
    return process.umask(0o077);
  } catch {
    return null;
  }
}

/**
 * Kysely's SQLite driver prepares every query afresh; the sync engine runs the same few statements thousands of
 * times, and preparing was 14% of its main thread. Statements are cached by SQL text (bounded). Safe because the
 * driver runs one query at a time on a connection and never streams two statements at once.
 */
function withStatementCache(db: SqliteDatabase.Database): SqliteDatabase.Database {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, SqliteDatabase.Statement>();
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = prepare(sql);
      if (cache.size >= 2_000) cache.clear();
      cache.set(sql, statement);
    }
    return statement;
  }) as typeof db.prepare;
  return db;
}
