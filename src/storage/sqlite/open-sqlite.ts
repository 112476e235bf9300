// The embedded default: one SQLite file in WAL mode, so readers never wait for the sync engine's writes.
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { SqliteDialect } from 'kysely';

export function sqliteDialect(file: string): SqliteDialect {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  return new SqliteDialect({
    database: async () => {
      const db = new SqliteDatabase(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      return withStatementCache(db);
    },
  });
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
