// An organisation as a row, for tests that need a second one (another tenant's data must never show).
import type { Db } from '../../src/storage/database.js';
import { newId } from '../../src/storage/ids.js';

/** Inserts an organisation named `name` (its id `id`, a new one by default) and returns its id. */
export async function addOrg(db: Db, name = 'Other', id = newId()): Promise<string> {
  const t = Date.now();
  await db.insertInto('orgs').values({ id, name, plan: 'growth', created_at: t, updated_at: t }).execute();
  return id;
}
