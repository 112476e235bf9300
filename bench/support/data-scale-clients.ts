// Who the data-scale benchmark's clients are and what they search for: one definition for the HTTP bench
// (data-scale.ts) and the in-process one (data-scale-calls.ts), so that the two time the same calls.
import type { Db } from '../../src/storage/database.js';
import { findUserById, type User } from '../../src/users/users.js';

/** The full-text endpoints' queries: a word of the seeded vocabulary, and one of its phrases. */
export const SEARCH_WORD = 'orçamento';
export const SEARCH_PHRASE = '"proposta comercial"';

/** The users `count` clients ask as: several, from both ends of the team (user 0 is the admin). */
export async function clientUsers(db: Db, count: number): Promise<User[]> {
  const sellers = await db
    .selectFrom('users')
    .select('id')
    .where('email', 'like', 'seller%')
    .orderBy('email')
    .execute();
  const users: User[] = [];
  for (let c = 0; c < count; c++) users.push((await findUserById(db, sellers[(c * 7 + 1) % sellers.length]!.id))!);
  return users;
}
