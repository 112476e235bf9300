// Proving an account's address before the company relay sends as it (audit item 6): a 6-digit code mailed
// THROUGH the relay TO the address; whoever types it back reads that mailbox. The code is stored only as a scrypt
// hash, lives 30 minutes, allows 5 wrong tries (then it is void and a new one is needed), and is resent at most
// once a minute and 5 times an hour. OAuth accounts need none of this: the provider vouched for the address.
import { randomInt } from 'node:crypto';
import type { DKIMOptions } from 'nodemailer';
import { AppError, notFound } from '../../core/app-error.js';
import type { Db } from '../../storage/database.js';
import { hashPassword, verifyPassword } from '../../users/passwords.js';
import { getUserSettings } from '../../users/settings.js';
import type { User } from '../../users/users.js';
import type { AppSmtpConfig } from './smtp-settings.js';
import { sendSystemMail } from './system-mail.js';
import { getAccount, type EmailAccount } from '../accounts/email-accounts.js';

export const CODE_TTL_MS = 30 * 60_000;
export const MAX_CODE_ATTEMPTS = 5;
export const RESEND_INTERVAL_MS = 60_000;
export const MAX_SENDS_PER_HOUR = 5;
const HOUR_MS = 60 * 60_000;

export interface AddressVerificationDeps {
  db: Db;
  bccDomain: string;
  publicUrl: string;
  appSmtp: AppSmtpConfig | null;
  dkim?: DKIMOptions | null;
  tlsRejectUnauthorized?: boolean;
}

async function ownAccount(db: Db, user: User, id: string) {
  // Only the owner proves their address (an admin who may read the account may not verify it for them).
  const row = await db
    .selectFrom('email_accounts')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', user.orgId)
    .where('user_id', '=', user.id)
    .executeTakeFirst();
  if (!row) throw notFound('E-mail account');
  return row;
}

function rateLimited(retryAt: number, now: number): AppError {
  const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
  return new AppError('RATE_LIMITED', `A code was sent recently: wait ${seconds} s before asking for another`, {
    details: { retryAfterSeconds: seconds },
  });
}

const TEXTS = {
  en: {
    subject: (code: string) => `${code} is your Conversa verification code`,
    body: (code: string, email: string) =>
      `Someone (hopefully you) asked Conversa to send mail as ${email} through the company's server.\n\n` +
      `Your verification code is: ${code}\n\nIt works for 30 minutes. If you did not ask for it, ignore this message.\n`,
  },
  'pt-BR': {
    subject: (code: string) => `${code} é o seu código de verificação do Conversa`,
    body: (code: string, email: string) =>
      `Alguém (esperamos que você) pediu ao Conversa para enviar e-mails como ${email} pelo servidor da empresa.\n\n` +
      `Seu código de verificação é: ${code}\n\nEle vale por 30 minutos. Se não foi você, ignore esta mensagem.\n`,
  },
} as const;

/** POST /api/email-accounts/:id/verify `{}`: mails a new code to the address through the relay. */
export async function sendAddressCode(
  deps: AddressVerificationDeps,
  user: User,
  accountId: string,
): Promise<{ sent: true; expiresAt: string }> {
  const row = await ownAccount(deps.db, user, accountId);
  if (row.address_verified === 1) {
    throw new AppError('CONFLICT', `${row.email} is already verified`, { details: { accountId: row.id } });
  }
  const app = deps.appSmtp;
  if (!app) {
    throw new AppError(
      'VALIDATION_FAILED',
      'This server has no company relay, so there is nothing to verify the address for',
      {
        hint: 'An administrator sets APP_SMTP_HOST to offer the company relay.',
      },
    );
  }
  const now = Date.now();
  const previous = await deps.db
    .selectFrom('address_verifications')
    .selectAll()
    .where('account_id', '=', row.id)
    .executeTakeFirst();
  const windowOpen = previous !== undefined && now - Number(previous.window_started_at) < HOUR_MS;
  if (previous && now - Number(previous.last_sent_at) < RESEND_INTERVAL_MS)
    throw rateLimited(Number(previous.last_sent_at) + RESEND_INTERVAL_MS, now);
  if (previous && windowOpen && previous.sends_in_window >= MAX_SENDS_PER_HOUR)
    throw rateLimited(Number(previous.window_started_at) + HOUR_MS, now);

  const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const values = {
    code_hash: await hashPassword(code),
    expires_at: now + CODE_TTL_MS,
    attempts: 0,
    last_sent_at: now,
    window_started_at: windowOpen ? Number(previous.window_started_at) : now,
    sends_in_window: windowOpen ? previous.sends_in_window + 1 : 1,
  };
  // Recorded before sending: a send that fails still counts against the limits (no free retries of a relay).
  if (previous)
    await deps.db.updateTable('address_verifications').set(values).where('account_id', '=', row.id).execute();
  else
    await deps.db
      .insertInto('address_verifications')
      .values({ account_id: row.id, ...values })
      .execute();

  const texts = TEXTS[(await getUserSettings(deps.db, user.id)).locale];
  try {
    await sendSystemMail(
      { appSmtp: app, dkim: deps.dkim, publicUrl: deps.publicUrl, tlsRejectUnauthorized: deps.tlsRejectUnauthorized },
      { to: row.email, subject: texts.subject(code), text: texts.body(code, row.email) },
    );
  } catch (error) {
    throw new AppError('HOST_UNREACHABLE', 'The company relay did not take the verification message; try again later', {
      cause: error,
    });
  }
  return { sent: true, expiresAt: new Date(values.expires_at).toISOString() };
}

/** POST /api/email-accounts/:id/verify `{code}`: the right live code marks the address verified. */
export async function confirmAddressCode(
  deps: AddressVerificationDeps,
  user: User,
  accountId: string,
  code: string,
): Promise<EmailAccount> {
  const row = await ownAccount(deps.db, user, accountId);
  if (row.address_verified === 1) return getAccount(deps, user, row.id);
  const now = Date.now();
  const pending = await deps.db
    .selectFrom('address_verifications')
    .selectAll()
    .where('account_id', '=', row.id)
    .executeTakeFirst();
  const wrong = (message: string) =>
    new AppError('VALIDATION_FAILED', message, { fields: [{ path: 'body.code', message }] });
  if (!pending || Number(pending.expires_at) < now || pending.attempts >= MAX_CODE_ATTEMPTS) {
    throw wrong('No live code: ask for a new one');
  }
  // Counted before checking, in one statement guarded by the limit: parallel guesses cannot exceed it.
  const counted = await deps.db
    .updateTable('address_verifications')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('account_id', '=', row.id)
    .where('code_hash', '=', pending.code_hash)
    .where('attempts', '<', MAX_CODE_ATTEMPTS)
    .executeTakeFirst();
  if (Number(counted.numUpdatedRows) !== 1) throw wrong('No live code: ask for a new one');
  if (!/^\d{6}$/.test(code.trim()) || !(await verifyPassword(code.trim(), pending.code_hash))) {
    const left = MAX_CODE_ATTEMPTS - pending.attempts - 1;
    throw wrong(
      left > 0
        ? `The code is not right (${left} tries left)`
        : 'The code is not right, and that was the last try: ask for a new one',
    );
  }
  await deps.db.transaction().execute(async (trx) => {
    // Only if the address is still the one the code was mailed to.
    await trx
      .updateTable('email_accounts')
      .set({ address_verified: 1, updated_at: now })
      .where('id', '=', row.id)
      .where('email', '=', row.email)
      .execute();
    await trx.deleteFrom('address_verifications').where('account_id', '=', row.id).execute();
  });
  return getAccount(deps, user, row.id);
}
