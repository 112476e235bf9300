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
  const pool = new pg.Pool({ connectionString, max: maxConnections, types });
  // An idle connection the server ends (a restart, a failover, an administrator) is dropped by the pool and
  // replaced on next use; without a listener its 'error' event would take the whole process down.
  pool.on('error', () => undefined);
  return pool;
}

export function postgresDialect(connectionString: string, maxConnections = 10): PostgresDialect {
  return new PostgresDialect({ pool: () => openPool(connectionString, maxConnections) });
}
