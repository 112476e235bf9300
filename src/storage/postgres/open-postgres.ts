// PostgreSQL through node-postgres. int8 (our epoch-millisecond columns and COUNTs) is read as a JS number:
// every such value we store is below 2^53.
import pg from 'pg';
import { PostgresDialect } from 'kysely';

const INT8_OID = 20;

export function postgresDialect(connectionString: string, maxConnections = 10): PostgresDialect {
  const types = {
    getTypeParser: (oid: number, format?: string) =>
      oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'),
  };
  const pool = new pg.Pool({ connectionString, max: maxConnections, types });
  // An idle connection the server ends (a restart, a failover, an administrator) is dropped by the pool and
  // replaced on next use; without a listener its 'error' event would take the whole process down.
  pool.on('error', () => undefined);
  return new PostgresDialect({ pool });
}
