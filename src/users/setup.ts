// The first run: while nobody has set the install up, the web app opens on a setup page that names the organisation
// and creates its first administrator. It works exactly once, also under racing requests: the setup inserts the one
// `setup_marks` row (fixed primary key) in the same transaction as the admin, so the database itself lets one win and
// the other fails on the key (409 ALREADY_SET_UP) on SQLite and PostgreSQL alike.
import { AppError } from '../core/app-error.js';
import { isUniqueViolation, type Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import { isValidEmail, normalizeEmail } from '../contacts/email-address.js';
import { hashPassword } from './passwords.js';
import { assertPasswordAllowed } from './password-rules.js';
import type { Locale } from './settings.js';
import { defaultOrgId, findUserById, type User } from './users.js';

export interface SetupInput {
  orgName: string;
  email: string;
  password: string;
  name?: string | null;
  locale?: Locale;
}

/** True until the first run is done (by the setup page or a user created with the CLI). */
export async function needsSetup(db: Db): Promise<boolean> {
  const mark = await db.selectFrom('setup_marks').select('id').where('id', '=', 'setup').executeTakeFirst();
  return mark === undefined;
}

function alreadySetUp(cause?: unknown): AppError {
  return new AppError('ALREADY_SET_UP', 'Conversa is already set up; sign in instead', {
    hint: 'An administrator invites more users from Settings › Users.',
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Names the organisation and creates its first administrator; once only. */
export async function runSetup(db: Db, input: SetupInput): Promise<User> {
  // Cheap refusal first; the transaction below is what makes "once" hold under a race.
  if (!(await needsSetup(db))) throw alreadySetUp();
  const orgName = input.orgName.trim();
  const email = normalizeEmail(input.email);
  const fields = [];
  if (!orgName) fields.push({ path: 'orgName', message: 'the organisation needs a name' });
  if (!isValidEmail(email)) fields.push({ path: 'email', message: 'not an e-mail address' });
  if (fields.length > 0) throw new AppError('VALIDATION_FAILED', fields[0]!.message, { fields });
  assertPasswordAllowed(input.password, { email });
  const passwordHash = await hashPassword(input.password);
  const now = Date.now();
  const orgId = await defaultOrgId(db);
  const id = newId(now);
  try {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('setup_marks').values({ id: 'setup', done_at: now }).execute();
      await trx.updateTable('orgs').set({ name: orgName, updated_at: now }).where('id', '=', orgId).execute();
      await trx
        .insertInto('users')
        .values({
          id,
          org_id: orgId,
          email,
          display_name: input.name?.trim() || null,
          password_hash: passwordHash,
          is_admin: 1,
          active: 1,
          created_at: now,
          updated_at: now,
        })
        .execute();
      await trx
        .insertInto('user_settings')
        .values({ user_id: id, auto_create_contacts: 0, locale: input.locale ?? 'en', updated_at: now })
        .execute();
    });
  } catch (error) {
    // The mark's key (a racing setup won) or the e-mail's (a CLI user with this address appeared meanwhile).
    if (isUniqueViolation(error)) throw alreadySetUp(error);
    throw error;
  }
  const user = await findUserById(db, id);
  if (!user) throw new Error('the administrator just created is missing');
  return user;
}
