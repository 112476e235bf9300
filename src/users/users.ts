// Users, their API tokens and web sessions. An install is one organisation; a user belongs to it.
import { AppError } from '../core/app-error.js';
import { isUniqueViolation, type Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import { hashPassword, verifyAgainstNothing, verifyPassword } from './passwords.js';
import { digestToken, newSecretToken } from './secret-tokens.js';
import { normalizeEmail, isValidEmail } from '../contacts/email-address.js';
import { prepared } from '../storage/prepared-statement.js';

export interface User {
  id: string;
  orgId: string;
  email: string;
  displayName: string | null;
  isAdmin: boolean;
  createdAt: string;
}

export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;
const MIN_PASSWORD_LENGTH = 8;

function toUser(row: {
  id: string;
  org_id: string;
  email: string;
  display_name: string | null;
  is_admin: number;
  created_at: number;
}): User {
  return {
    id: row.id,
    orgId: row.org_id,
    email: row.email,
    displayName: row.display_name,
    isAdmin: row.is_admin === 1,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

const userColumns = ['id', 'org_id', 'email', 'display_name', 'is_admin', 'created_at'] as const;

export async function defaultOrgId(db: Db): Promise<string> {
  const org = await db.selectFrom('orgs').select('id').orderBy('id').executeTakeFirst();
  if (!org) throw new Error('the database has no organisation: migrations have not run');
  return org.id;
}

export async function createUser(
  db: Db,
  input: { email: string; password: string; isAdmin?: boolean; displayName?: string | null },
): Promise<User> {
  const email = normalizeEmail(input.email);
  if (!isValidEmail(email)) {
    throw new AppError('VALIDATION_FAILED', `"${input.email}" is not an e-mail address`, {
      fields: [{ path: 'email', message: 'not an e-mail address' }],
    });
  }
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    throw new AppError('VALIDATION_FAILED', `The password must have at least ${MIN_PASSWORD_LENGTH} characters`, {
      fields: [{ path: 'password', message: `at least ${MIN_PASSWORD_LENGTH} characters` }],
    });
  }
  const now = Date.now();
  const row = {
    id: newId(now),
    org_id: await defaultOrgId(db),
    email,
    display_name: input.displayName ?? null,
    password_hash: await hashPassword(input.password),
    is_admin: input.isAdmin ? 1 : 0,
    created_at: now,
    updated_at: now,
  };
  try {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('users').values(row).execute();
      await trx
        .insertInto('user_settings')
        .values({ user_id: row.id, auto_create_contacts: 0, locale: 'en', updated_at: now })
        .execute();
      // A user made by the CLI sets the install up: the web's first-run page must not appear afterwards.
      await trx
        .insertInto('setup_marks')
        .values({ id: 'setup', done_at: now })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError('USER_EMAIL_TAKEN', `A user with the e-mail ${email} already exists`, { cause: error });
    throw error;
  }
  return toUser(row);
}

export async function findUserByEmail(db: Db, email: string): Promise<User | undefined> {
  const row = await db
    .selectFrom('users')
    .select(userColumns)
    .where('email', '=', normalizeEmail(email))
    .executeTakeFirst();
  return row && toUser(row);
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').select(userColumns).where('id', '=', id).executeTakeFirst();
  return row && toUser(row);
}

/** The user for this e-mail and password, or undefined; as slow for an unknown e-mail as for a wrong password. */
export async function checkCredentials(db: Db, email: string, password: string): Promise<User | undefined> {
  const row = await db
    .selectFrom('users')
    .select([...userColumns, 'password_hash', 'active'])
    .where('email', '=', normalizeEmail(email))
    .executeTakeFirst();
  if (!row) return verifyAgainstNothing(password).then(() => undefined);
  if (!(await verifyPassword(password, row.password_hash))) return undefined;
  // Told only to someone who knows the password: the address's state is not revealed to guessers.
  if (row.active === 0) throw deactivated();
  return toUser(row);
}

function deactivated(): AppError {
  return new AppError('USER_DEACTIVATED', 'This user has been deactivated', {
    hint: 'An administrator of this Conversa can reactivate the user.',
  });
}

export interface ApiTokenInfo {
  id: string;
  name: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

export const MAX_TOKEN_DAYS = 3650;
const DAY_MS = 24 * 3600 * 1000;

/** A new token for the user; the secret is returned once and only its digest is stored. */
export async function issueApiToken(
  db: Db,
  userId: string,
  options: { name?: string | null; expiresInDays?: number | null } = {},
): Promise<{ id: string; token: string; expiresAt: string | null }> {
  const days = options.expiresInDays ?? null;
  if (days !== null && (!Number.isInteger(days) || days < 1 || days > MAX_TOKEN_DAYS)) {
    throw new AppError('VALIDATION_FAILED', `A token lasts from 1 to ${MAX_TOKEN_DAYS} days`, {
      fields: [{ path: 'expiresInDays', message: `a whole number from 1 to ${MAX_TOKEN_DAYS}` }],
    });
  }
  const token = newSecretToken('cnv');
  const now = Date.now();
  const id = newId(now);
  const expiresAt = days === null ? null : now + days * DAY_MS;
  await db
    .insertInto('api_tokens')
    .values({
      id,
      user_id: userId,
      token_hash: digestToken(token),
      name: options.name ?? null,
      created_at: now,
      last_used_at: null,
      expires_at: expiresAt,
    })
    .execute();
  return { id, token, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString() };
}

/** The token alone (CLI and tests); see issueApiToken. */
export async function createApiToken(db: Db, userId: string, name: string | null = null): Promise<string> {
  return (await issueApiToken(db, userId, { name })).token;
}

/** The user's tokens, newest first, without their secrets (only digests are stored anyway). */
export async function listApiTokens(db: Db, userId: string): Promise<ApiTokenInfo[]> {
  const rows = await db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'created_at', 'last_used_at', 'expires_at'])
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    createdAt: iso(r.created_at)!,
    lastUsedAt: iso(r.last_used_at),
    expiresAt: iso(r.expires_at),
  }));
}

/** Revokes (deletes) a token; with `userId`, only one of that user's. False when there was none. */
export async function revokeApiToken(db: Db, tokenId: string, userId?: string): Promise<boolean> {
  let query = db.deleteFrom('api_tokens').where('id', '=', tokenId);
  if (userId !== undefined) query = query.where('user_id', '=', userId);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

export async function userForApiToken(db: Db, token: string): Promise<User | undefined> {
  const now = Date.now();
  const row = await db
    .selectFrom('api_tokens')
    .innerJoin('users', 'users.id', 'api_tokens.user_id')
    // Every API request asks it: PostgreSQL keeps its plan.
    .modifyFront(prepared)
    .select([
      'api_tokens.id as token_id',
      'api_tokens.last_used_at',
      'users.active',
      ...userColumns.map((c) => `users.${c}` as const),
    ])
    .where('api_tokens.token_hash', '=', digestToken(token))
    .where((eb) => eb.or([eb('api_tokens.expires_at', 'is', null), eb('api_tokens.expires_at', '>', now)]))
    .executeTakeFirst();
  if (!row) return undefined;
  // Read on every request (no cache): a deactivation takes effect on the very next call. The token is kept, so a
  // reactivation gives the user's scripts back.
  if (row.active === 0) throw deactivated();
  // Written at most once a minute: a busy script must not turn every read into a write.
  if (row.last_used_at === null || now - row.last_used_at > 60_000) {
    await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.token_id).execute();
  }
  return toUser(row);
}

export async function createSession(db: Db, userId: string): Promise<{ cookieValue: string; expiresAt: Date }> {
  const cookieValue = newSecretToken('cnvs');
  const now = Date.now();
  const expiresAt = now + SESSION_TTL_MS;
  await db
    .insertInto('sessions')
    .values({
      id: digestToken(cookieValue),
      user_id: userId,
      created_at: now,
      expires_at: expiresAt,
      last_seen_at: now,
    })
    .execute();
  return { cookieValue, expiresAt: new Date(expiresAt) };
}

export async function userForSession(db: Db, cookieValue: string): Promise<User | undefined> {
  const row = await db
    .selectFrom('sessions')
    .innerJoin('users', 'users.id', 'sessions.user_id')
    // Every request of the web app asks it: PostgreSQL keeps its plan.
    .modifyFront(prepared)
    .select(['sessions.expires_at', 'users.active', ...userColumns.map((c) => `users.${c}` as const)])
    .where('sessions.id', '=', digestToken(cookieValue))
    .executeTakeFirst();
  if (!row || row.expires_at <= Date.now()) return undefined;
  if (row.active === 0) throw deactivated();
  return toUser(row);
}

export async function deleteSession(db: Db, cookieValue: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', digestToken(cookieValue)).execute();
}
