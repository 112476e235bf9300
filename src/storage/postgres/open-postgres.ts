// PostgreSQL through node-postgres. int8 (our epoch-millisecond columns and COUNTs) is read as a JS number:
// every such value we store is below 2^53.
//
// pg is loaded when the first connection is asked for, not when this module is: the embedded SQLite install never
// uses it, and it costs ~3 MB of heap (and more of RSS) that a `conversa serve` on SQLite keeps for its whole life
// (issue 18, bench/README.md).
import { createHash } from 'node:crypto';
import { PostgresDialect } from 'kysely';
import type { Pool, PoolClient } from 'pg';
import { PREPARED_MARK } from '../prepared-statement.js';

const INT8_OID = 20;

/** The client's `query` names a marked statement after its text, so node-postgres prepares it once per connection. */
function preparing(client: PoolClient): PoolClient {
  const patched = client as PoolClient & { conversaPreparing?: true };
  if (patched.conversaPreparing) return client;
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (text: unknown, values?: unknown, callback?: unknown) =>
    typeof text === 'string' && text.includes(PREPARED_MARK)
      ? query({ name: `c${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text, values }, callback)
      : query(text, values, callback);
  patched.conversaPreparing = true;
  return client;
}

async function openPool(connectionString: string, maxConnections: number, prepared: boolean): Promise<Pool> {
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
  if (prepared) {
    // Kysely asks for clients with the promise form; the callback form (pg's own pool.query) is left as it was.
    const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown;
    (pool as { connect: unknown }).connect = (...args: unknown[]) =>
      args.length > 0 ? connect(...args) : (connect() as Promise<PoolClient>).then(preparing);
  }
  return pool;
}

export interface PostgresOptions {
  /** Connections in the pool (10). */
  maxConnections?: number;
  /** Statements marked `prepared` (prepared-statement.ts) become named prepared statements (true). */
  prepared?: boolean;
}

export function postgresDialect(connectionString: string, options: PostgresOptions = {}): PostgresDialect {
  const { maxConnections = 10, prepared = true } = options;
  return new PostgresDialect({ pool: () => openPool(connectionString, maxConnections, prepared) });
}
