// PostgreSQL through node-postgres. int8 (our epoch-millisecond columns and COUNTs) is read as a JS number:
// every such value we store is below 2^53.
//
// pg is loaded when the first connection is asked for, not when this module is: the embedded SQLite install never
// uses it, and it costs ~3 MB of heap (and more of RSS) that a `conversa serve` on SQLite keeps for its whole life
// (issue 18, bench/README.md).
import { PostgresDialect } from 'kysely';
import type { Pool } from 'pg';

const INT8_OID = 20;

async function openPool(connectionString: string, maxConnections: number): Promise<Pool> {
  const { default: pg } = await import('pg');
  const types = {
    getTypeParser: (oid: number, format?: string) =>
      oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'),
  };
  // JIT off: Conversa's statements are short, and PostgreSQL compiles one whenever its cost estimate passes
  // jit_above_cost, which a full-text search of many month tokens did (the estimate, not the work: tens of ms of
  // compiling for a statement that reads a few hundred rows). An `options` in DATABASE_URL wins over this one.
  const pool = new pg.Pool({ connectionString, max: maxConnections, types, options: '-c jit=off' });
  // An idle connection the server ends (a restart, a failover, an administrator) is dropped by the pool and
  // replaced on next use; without a listener its 'error' event would take the whole process down.
  pool.on('error', () => undefined);
  return pool;
}

export function postgresDialect(connectionString: string, maxConnections = 10): PostgresDialect {
  return new PostgresDialect({ pool: () => openPool(connectionString, maxConnections) });
}
