// The organisation's users as its administrators manage them: the list, invitations (a single-use link valid for
// 7 days), roles and deactivation. A role is users.is_admin. An invited user exists from the invitation on, inactive
// and with an unusable password, until the link is accepted; a deactivated user is inactive with deactivated_at set.
//
// Deactivation, in one transaction: the user's sessions are deleted, their API tokens are refused (kept, so a
// reactivation gives scripts back; authenticate answers 403 USER_DEACTIVATED), their mailboxes are paused (the
// lease claim skips them and their leases are dropped, the outbox refuses them) and nothing is handed over: contacts
// are the organisation's already and each mailbox keeps its visibility. An admin may switch a deactivated user's
// mailboxes to shared (`shareMailboxes`) so the team keeps reading that mail. Their mail is kept.
import { AppError, notFound } from '../core/app-error.js';
import { isUniqueViolation, type Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import { isValidEmail, normalizeEmail } from '../contacts/email-address.js';
import { hashPassword } from './passwords.js';
import { assertPasswordAllowed } from './password-rules.js';
import { digestToken, newSecretToken } from './secret-tokens.js';
import { getOrg, getUserSettings, type Locale } from './settings.js';
import { findUserById, type User } from './users.js';

export type Role = 'admin' | 'member';

export interface TeamUser {
  id: string;
  email: string;
  name: string | null;
  role: Role;
  active: boolean;
  /** Invited and not accepted yet (then active is false). */
  pending: boolean;
  createdAt: string;
}

export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;
/** Stored instead of a hash for an invited user: no password verifies against it (passwords.ts wants "scrypt$"). */
const NO_PASSWORD = 'invited:no-password';

export interface InviteMail {
  to: string;
  inviteUrl: string;
  orgName: string;
  invitedBy: string;
  locale: Locale;
  expiresAt: Date;
}

/** Mails an invitation through the app relay; given by the composition root when APP_SMTP_* is set. */
export type MailInvite = (mail: InviteMail) => Promise<void>;

export interface TeamDeps {
  db: Db;
  publicUrl: string;
  mailInvite?: MailInvite | null;
  /** The user's mailboxes were paused (deactivation) or resumed: stop or start their background work now. */
  mailboxesChanged?: (accountIds: string[], change: 'paused' | 'resumed') => Promise<void>;
  log?: { warn(object: object, message: string): void };
}

interface UserRow {
  id: string;
  email: string;
  display_name: string | null;
  is_admin: number;
  active?: number | undefined;
  deactivated_at?: number | null | undefined;
  created_at: number;
}

function toTeamUser(row: UserRow): TeamUser {
  const active = row.active !== 0;
  return {
    id: row.id,
    email: row.email,
    name: row.display_name,
    role: row.is_admin === 1 ? 'admin' : 'member',
    active,
    pending: !active && (row.deactivated_at ?? null) === null,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

const teamColumns = ['id', 'email', 'display_name', 'is_admin', 'active', 'deactivated_at', 'created_at'] as const;

export async function listTeam(db: Db, orgId: string): Promise<TeamUser[]> {
  const rows = await db
    .selectFrom('users')
    .select(teamColumns)
    .where('org_id', '=', orgId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map(toTeamUser);
}

async function teamUser(db: Db, orgId: string, id: string): Promise<TeamUser> {
  const row = await db
    .selectFrom('users')
    .select(teamColumns)
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('User');
  return toTeamUser(row);
}

export interface Invitation {
  user: TeamUser;
  inviteUrl: string;
  expiresAt: string;
  mailed: boolean;
}

/**
 * Invites a colleague: creates them (inactive until they accept) and a 7-day single-use link, shown to the admin
 * and mailed when the relay is set. Inviting a pending address again replaces its link.
 */
export async function inviteUser(
  deps: TeamDeps,
  admin: User,
  input: { email: string; name?: string | null; role: Role },
): Promise<Invitation> {
  const { db } = deps;
  const email = normalizeEmail(input.email);
  if (!isValidEmail(email)) {
    throw new AppError('VALIDATION_FAILED', `"${input.email}" is not an e-mail address`, {
      fields: [{ path: 'email', message: 'not an e-mail address' }],
    });
  }
  const token = newSecretToken('cnvi');
  const now = Date.now();
  const expiresAt = now + INVITATION_TTL_MS;
  const existing = await db.selectFrom('users').select(teamColumns).where('email', '=', email).executeTakeFirst();
  let userId: string;
  if (existing) {
    if (!toTeamUser(existing).pending)
      throw new AppError('USER_EMAIL_TAKEN', `A user with the e-mail ${email} already exists`);
    userId = existing.id;
  } else userId = newId(now);
  // Read before the transaction: on SQLite the one connection is the transaction's until it ends.
  const inviterLocale = (await getUserSettings(db, admin.id)).locale;
  try {
    await db.transaction().execute(async (trx) => {
      if (existing) {
        await trx.deleteFrom('invitations').where('user_id', '=', userId).execute();
        await trx
          .updateTable('users')
          .set({
            is_admin: input.role === 'admin' ? 1 : 0,
            display_name: input.name?.trim() || existing.display_name,
            updated_at: now,
          })
          .where('id', '=', userId)
          .execute();
      } else {
        await trx
          .insertInto('users')
          .values({
            id: userId,
            org_id: admin.orgId,
            email,
            display_name: input.name?.trim() || null,
            password_hash: NO_PASSWORD,
            is_admin: input.role === 'admin' ? 1 : 0,
            active: 0,
            deactivated_at: null,
            created_at: now,
            updated_at: now,
          })
          .execute();
        await trx
          .insertInto('user_settings')
          .values({ user_id: userId, auto_create_contacts: 0, locale: inviterLocale, updated_at: now })
          .execute();
      }
      await trx
        .insertInto('invitations')
        .values({
          id: newId(now),
          org_id: admin.orgId,
          user_id: userId,
          token_hash: digestToken(token),
          created_by: admin.id,
          expires_at: expiresAt,
          accepted_at: null,
          created_at: now,
        })
        .execute();
    });
  } catch (error) {
    if (isUniqueViolation(error))
      throw new AppError('USER_EMAIL_TAKEN', `A user with the e-mail ${email} already exists`, { cause: error });
    throw error;
  }
  const inviteUrl = `${deps.publicUrl.replace(/\/+$/, '')}/invite/${token}`;
  let mailed = false;
  if (deps.mailInvite) {
    try {
      const org = await getOrg(db, admin.orgId);
      await deps.mailInvite({
        to: email,
        inviteUrl,
        orgName: org.name,
        invitedBy: admin.displayName ?? admin.email,
        locale: (await getUserSettings(db, userId)).locale,
        expiresAt: new Date(expiresAt),
      });
      mailed = true;
    } catch (error) {
      // The admin still has the link to hand over; the relay's failure is logged, not fatal.
      deps.log?.warn({ err: error, userId }, 'the invitation could not be mailed');
    }
  }
  return {
    user: await teamUser(db, admin.orgId, userId),
    inviteUrl,
    expiresAt: new Date(expiresAt).toISOString(),
    mailed,
  };
}

/** The invitation behind a link, for the accept page; NOT_FOUND when unknown, used or expired. */
export async function invitationInfo(
  db: Db,
  token: string,
): Promise<{ email: string; orgName: string; expiresAt: string; name: string | null }> {
  const row = await db
    .selectFrom('invitations')
    .innerJoin('users', 'users.id', 'invitations.user_id')
    .innerJoin('orgs', 'orgs.id', 'invitations.org_id')
    .select(['users.email', 'users.display_name', 'orgs.name as org_name', 'invitations.expires_at'])
    .where('invitations.token_hash', '=', digestToken(token))
    .where('invitations.accepted_at', 'is', null)
    .where('invitations.expires_at', '>', Date.now())
    .executeTakeFirst();
  if (!row) throw invitationGone();
  return {
    email: row.email,
    orgName: row.org_name,
    expiresAt: new Date(row.expires_at).toISOString(),
    name: row.display_name,
  };
}

function invitationGone(): AppError {
  return new AppError('NOT_FOUND', 'This invitation link is not valid: it was used, it expired or it was replaced', {
    hint: 'Ask an administrator for a new invitation.',
  });
}

/** Accepts an invitation: sets the password (and name), activates the user. The link works once. */
export async function acceptInvitation(db: Db, token: string, input: { password: string; name?: string | null }) {
  const info = await invitationInfo(db, token);
  assertPasswordAllowed(input.password, { email: info.email });
  const passwordHash = await hashPassword(input.password);
  const now = Date.now();
  const userId = await db.transaction().execute(async (trx) => {
    // The claim is the update itself: of two racing accepts, one changes the row and the other finds it used.
    const claimed = await trx
      .updateTable('invitations')
      .set({ accepted_at: now })
      .where('token_hash', '=', digestToken(token))
      .where('accepted_at', 'is', null)
      .where('expires_at', '>', now)
      .returning('user_id')
      .executeTakeFirst();
    if (!claimed) throw invitationGone();
    const name = input.name?.trim();
    await trx
      .updateTable('users')
      .set({
        password_hash: passwordHash,
        active: 1,
        deactivated_at: null,
        ...(name ? { display_name: name } : {}),
        updated_at: now,
      })
      .where('id', '=', claimed.user_id)
      .execute();
    return claimed.user_id;
  });
  const user = await findUserById(db, userId);
  if (!user) throw invitationGone();
  return user;
}

export interface TeamUserPatch {
  role?: Role;
  active?: boolean;
  /** Only for a deactivated user: make their mailboxes shared so the team keeps reading that mail. */
  shareMailboxes?: boolean;
}

/** Changes a user's role or active state; the last active administrator can be neither demoted nor deactivated. */
export async function updateTeamUser(
  deps: TeamDeps,
  admin: User,
  userId: string,
  patch: TeamUserPatch,
): Promise<TeamUser> {
  const { db } = deps;
  const now = Date.now();
  const { accountIds, change } = await db.transaction().execute(async (trx) => {
    // Team changes of one organisation go one at a time: writing its row takes a row lock on PostgreSQL (SQLite runs
    // one transaction at a time anyway), so two admins demoting each other cannot both pass the last-admin check.
    await trx.updateTable('orgs').set({ updated_at: now }).where('id', '=', admin.orgId).execute();
    const before = await teamUser(trx, admin.orgId, userId);
    const losesAdmin = before.role === 'admin' && before.active && (patch.role === 'member' || patch.active === false);
    if (losesAdmin) {
      const others = await trx
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', admin.orgId)
        .where('is_admin', '=', 1)
        .where('active', '=', 1)
        .where('id', '!=', userId)
        .executeTakeFirstOrThrow();
      if (Number(others.n) === 0) {
        throw new AppError(
          'CONFLICT',
          'This is the last active administrator: make another user an administrator first',
          { details: { reason: 'last-admin' } },
        );
      }
    }
    if (patch.role !== undefined) {
      await trx
        .updateTable('users')
        .set({ is_admin: patch.role === 'admin' ? 1 : 0, updated_at: now })
        .where('id', '=', userId)
        .execute();
    }
    const accounts = await trx.selectFrom('email_accounts').select('id').where('user_id', '=', userId).execute();
    const ids = accounts.map((a) => a.id);
    let change: 'paused' | 'resumed' | null = null;
    if (patch.active === false && (before.active || before.pending)) {
      await trx
        .updateTable('users')
        .set({ active: 0, deactivated_at: now, updated_at: now })
        .where('id', '=', userId)
        .execute();
      await trx.deleteFrom('sessions').where('user_id', '=', userId).execute();
      await trx.deleteFrom('invitations').where('user_id', '=', userId).execute();
      if (ids.length > 0) {
        await trx
          .updateTable('email_accounts')
          .set({ paused: 1, updated_at: now })
          .where('user_id', '=', userId)
          .execute();
        // Whichever process holds them drops them at its next round; this process stops them at once (below).
        await trx.deleteFrom('account_leases').where('account_id', 'in', ids).execute();
      }
      change = 'paused';
    } else if (patch.active === true && !before.active) {
      if (before.pending)
        throw new AppError('CONFLICT', 'This user has not accepted the invitation yet; invite them again instead');
      await trx
        .updateTable('users')
        .set({ active: 1, deactivated_at: null, updated_at: now })
        .where('id', '=', userId)
        .execute();
      await trx
        .updateTable('email_accounts')
        .set({ paused: 0, updated_at: now })
        .where('user_id', '=', userId)
        .execute();
      change = 'resumed';
    }
    if (patch.shareMailboxes) {
      const deactivatedNow = patch.active === false || (patch.active === undefined && !before.active);
      if (!deactivatedNow)
        throw new AppError('CONFLICT', "Only a deactivated user's mailboxes can be shared by an administrator");
      await trx
        .updateTable('email_accounts')
        .set({ visibility: 'shared', updated_at: now })
        .where('user_id', '=', userId)
        .execute();
    }
    return { accountIds: ids, change };
  });
  if (change && accountIds.length > 0) await deps.mailboxesChanged?.(accountIds, change);
  return teamUser(db, admin.orgId, userId);
}
