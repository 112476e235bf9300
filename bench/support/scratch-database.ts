// A PostgreSQL database of its own for one benchmark run, made on the server of TEST_POSTGRES_URL (default the local
// postgres@127.0.0.1:5432) as the tests make theirs, and dropped by `drop()`, connections and all.
import { randomBytes } from 'node:crypto';
import { ADMIN_POSTGRES_URL, adminQuery } from '../../test/support/databases.js';

export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database named `<prefix>_<10 hex digits>` (prefix: lower-case letters, digits, underscores). */
export async function createScratchDatabase(prefix: string): Promise<ScratchDatabase> {
  if (!/^[a-z][a-z0-9_]*$/.test(prefix)) throw new Error(`not a database name prefix: ${prefix}`);
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_POSTGRES_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
