// What each user changes about themselves: name, language and password. A new password ends every other session
// (a thief's among them) but keeps the one it was changed from; API tokens stay (they are listed and revoked apart).
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import { hashPassword, verifyPassword } from './passwords.js';
import { assertPasswordAllowed } from './password-rules.js';
import { digestToken } from './secret-tokens.js';
import { updateUserSettings, type Locale } from './settings.js';
import { findUserById, type User } from './users.js';

export async function updateProfile(
  db: Db,
  user: User,
  patch: { name?: string | null; locale?: Locale },
): Promise<User> {
  if (patch.name !== undefined) {
    await db
      .updateTable('users')
      .set({ display_name: patch.name?.trim() || null, updated_at: Date.now() })
      .where('id', '=', user.id)
      .execute();
  }
  if (patch.locale !== undefined) await updateUserSettings(db, user.id, { locale: patch.locale });
  return (await findUserById(db, user.id)) ?? user;
}

/** Changes the password after checking the current one; ends the user's sessions except `keepSession` (a cookie). */
export async function changePassword(
  db: Db,
  user: User,
  input: { currentPassword: string; newPassword: string },
  keepSession?: string,
): Promise<void> {
  const row = await db.selectFrom('users').select('password_hash').where('id', '=', user.id).executeTakeFirst();
  if (!row || !(await verifyPassword(input.currentPassword, row.password_hash))) {
    throw new AppError('VALIDATION_FAILED', 'The current password is not right', {
      fields: [{ path: 'currentPassword', message: 'not your current password' }],
    });
  }
  assertPasswordAllowed(input.newPassword, { field: 'newPassword', email: user.email });
  const hash = await hashPassword(input.newPassword);
  await db.transaction().execute(async (trx) => {
    await trx
      .updateTable('users')
      .set({ password_hash: hash, updated_at: Date.now() })
      .where('id', '=', user.id)
      .execute();
    let end = trx.deleteFrom('sessions').where('user_id', '=', user.id);
    if (keepSession) end = end.where('id', '!=', digestToken(keepSession));
    await end.execute();
  });
}
