// Which SMTP server sends an account's mail (Editar SMTP): the mailbox's own server and login (the default,
// best for deliverability), the application's outbound relay from the environment, or a custom server whose
// password is sealed like the account credentials. Reading the choice never yields a password.
import { AppError } from '../../core/app-error.js';
import { ConfigError } from '../../core/config-error.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { User } from '../../users/users.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import type { DKIMOptions } from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import {
  checkSmtp,
  smtpConnectionOptions,
  type MailAuth,
  type MailClientOptions,
} from '../connection/test-mail-connection.js';
import type { ServerEndpoint } from '../providers/presets.js';
import { mailboxFor } from '../../access/access-policy.js';
import type { OutboundPolicy } from '../../net/outbound-policy.js';

export type SmtpMode = EmailAccountsTable['smtp_mode'];

/** The application's outbound relay (APP_SMTP_*). */
export interface AppSmtpConfig {
  host: string;
  port: number;
  secure: boolean;
  /** null: the relay takes mail without AUTH (e.g. trusted by source address). */
  auth: { user: string; pass: string } | null;
}

/** What GET /api/email-accounts/:id/smtp answers: never a password. */
export interface SmtpSettingsView {
  mode: SmtpMode;
  host?: string;
  port?: number;
  secure?: boolean;
  username?: string;
  /** custom: a password is stored (sealed). */
  passwordSet?: boolean;
  /** Whether this install has an application relay, i.e. whether `app` can be chosen. */
  appAvailable: boolean;
}

export interface SmtpSettingsInput {
  mode: SmtpMode;
  host?: string;
  port?: number;
  secure?: boolean;
  username?: string;
  password?: string;
}

/** Sealed in email_accounts.smtp_custom_enc. */
export interface CustomSmtp {
  host: string;
  port: number;
  secure: boolean;
  username: string;
  password: string;
}

export interface SmtpSettingsDeps {
  db: Db;
  secrets: SecretBox;
  appSmtp: AppSmtpConfig | null;
  tlsRejectUnauthorized?: boolean;
  /** Where a custom SMTP server may be. */
  outbound: OutboundPolicy;
  /** The connection test's budget (default 10 s). */
  testTimeoutMs?: number;
}

function envPort(env: NodeJS.ProcessEnv, name: string): number | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535)
    throw new ConfigError(`${name} must be a port number (1-65535), got "${raw}"`);
  return value;
}

function envBool(env: NodeJS.ProcessEnv, name: string): boolean | null {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return null;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

/**
 * The application's relay from APP_SMTP_HOST, APP_SMTP_PORT (default 465 when APP_SMTP_SECURE is on or
 * unset, else 587), APP_SMTP_SECURE (default: true on port 465), APP_SMTP_USER and APP_SMTP_PASSWORD (both or
 * neither). null when APP_SMTP_HOST is unset: the `app` choice is then not offered.
 */
export function loadAppSmtpConfig(env: NodeJS.ProcessEnv): AppSmtpConfig | null {
  const host = env.APP_SMTP_HOST?.trim();
  if (!host) return null;
  const explicitPort = envPort(env, 'APP_SMTP_PORT');
  const explicitSecure = envBool(env, 'APP_SMTP_SECURE');
  const port = explicitPort ?? (explicitSecure === false ? 587 : 465);
  const secure = explicitSecure ?? port === 465;
  const user = env.APP_SMTP_USER ?? '';
  const pass = env.APP_SMTP_PASSWORD ?? '';
  if ((user === '') !== (pass === ''))
    throw new ConfigError('APP_SMTP_USER and APP_SMTP_PASSWORD must be set together (or both left unset)');
  return { host: host.toLowerCase(), port, secure, auth: user ? { user, pass } : null };
}

/** How to reach the application's relay (its login, and DKIM when configured): the outbox's and the verifier's. */
export function appRelayTransportOptions(
  app: AppSmtpConfig,
  dkim: DKIMOptions | null | undefined,
  client: MailClientOptions,
): SMTPTransportOptions {
  return {
    ...smtpConnectionOptions({ host: app.host, port: app.port, secure: app.secure }, client),
    ...(app.auth ? { auth: { user: app.auth.user, pass: app.auth.pass } } : {}),
    ...(dkim ? { dkim } : {}),
  };
}

/** The relay sends only as proven addresses (audit item 6): refused with 403 SENDER_NOT_VERIFIED otherwise. */
export function assertRelayMayUse(account: Pick<EmailAccountsTable, 'email' | 'address_verified' | 'id'>): void {
  if (account.address_verified === 1) return;
  throw new AppError(
    'SENDER_NOT_VERIFIED',
    `${account.email} is not verified yet: the company relay sends only as proven addresses`,
    {
      hint: "Verify the address (a code is mailed to it) in the mailbox settings, or send through the mailbox's own server.",
      details: { accountId: account.id },
    },
  );
}

function aad(accountId: string): string {
  return `email_account_smtp:${accountId}`;
}

export function sealCustomSmtp(box: SecretBox, accountId: string, custom: CustomSmtp): string {
  return box.seal(custom, aad(accountId));
}

export function openCustomSmtp(box: SecretBox, accountId: string, sealed: string): CustomSmtp {
  return box.open<CustomSmtp>(sealed, aad(accountId));
}

type AccountRow = EmailAccountsTable;

/** The caller's own account (an admin may read anyone's choice, never change it); 404 otherwise. */
function accountFor(db: Db, user: User, id: string, access: 'read' | 'write'): Promise<AccountRow> {
  return mailboxFor(db, user, id, access === 'read' ? 'see' : 'change');
}

function view(deps: Pick<SmtpSettingsDeps, 'secrets' | 'appSmtp'>, row: AccountRow): SmtpSettingsView {
  const appAvailable = deps.appSmtp !== null;
  switch (row.smtp_mode) {
    case 'mailbox':
      return {
        mode: 'mailbox',
        host: row.smtp_host,
        port: row.smtp_port,
        secure: row.smtp_secure === 1,
        username: row.username,
        appAvailable,
      };
    case 'app':
      return deps.appSmtp
        ? { mode: 'app', host: deps.appSmtp.host, port: deps.appSmtp.port, secure: deps.appSmtp.secure, appAvailable }
        : { mode: 'app', appAvailable };
    case 'custom': {
      if (!row.smtp_custom_enc) return { mode: 'custom', passwordSet: false, appAvailable };
      const custom = openCustomSmtp(deps.secrets, row.id, row.smtp_custom_enc);
      return {
        mode: 'custom',
        host: custom.host,
        port: custom.port,
        secure: custom.secure,
        username: custom.username,
        passwordSet: true,
        appAvailable,
      };
    }
    default: {
      const never: never = row.smtp_mode;
      throw new Error(`unknown smtp_mode ${String(never)}`);
    }
  }
}

export async function getSmtpSettings(
  deps: Pick<SmtpSettingsDeps, 'db' | 'secrets' | 'appSmtp'>,
  user: User,
  accountId: string,
): Promise<SmtpSettingsView> {
  return view(deps, await accountFor(deps.db, user, accountId, 'read'));
}

function invalid(path: string, message: string, hint?: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { fields: [{ path, message }], ...(hint ? { hint } : {}) });
}

/**
 * Saves the choice. `custom` is tested first (SMTP AUTH, then QUIT) and nothing is saved when it fails: the
 * same 422 codes as connecting a mailbox. Without a new password, a custom server keeps the stored one.
 */
export async function putSmtpSettings(
  deps: SmtpSettingsDeps,
  user: User,
  accountId: string,
  input: SmtpSettingsInput,
): Promise<SmtpSettingsView> {
  const row = await accountFor(deps.db, user, accountId, 'write');
  let sealed: string | null = null;
  if (input.mode === 'app' && !deps.appSmtp) {
    throw invalid(
      'body.mode',
      'This server has no application outbound relay',
      'An administrator sets APP_SMTP_HOST (and APP_SMTP_USER/APP_SMTP_PASSWORD) to offer it.',
    );
  }
  if (input.mode === 'app') assertRelayMayUse(row);
  if (input.mode === 'custom') {
    const stored =
      row.smtp_mode === 'custom' && row.smtp_custom_enc
        ? openCustomSmtp(deps.secrets, row.id, row.smtp_custom_enc)
        : null;
    const host = input.host?.trim().toLowerCase() || stored?.host;
    if (!host) throw invalid('body.host', 'The SMTP server name is needed');
    const port = input.port ?? stored?.port;
    if (!port) throw invalid('body.port', 'The SMTP port is needed');
    const secure = input.secure ?? stored?.secure ?? port === 465;
    const username = input.username?.trim() || stored?.username || row.email;
    // Another server or user name: the old password was for someone else.
    const sameLogin = stored !== null && stored.host === host && stored.username === username;
    const password = input.password ?? (sameLogin ? stored.password : undefined);
    if (!password) throw invalid('body.password', 'The password of the SMTP server is needed');
    const endpoint: ServerEndpoint = { host, port, secure };
    const auth: MailAuth = { kind: 'password', password };
    // No provider preset: its app-password advice is about the mailbox's provider, not this server.
    await checkSmtp(
      endpoint,
      { username, auth },
      {
        outbound: deps.outbound,
        ...(deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
        ...(deps.testTimeoutMs ? { timeoutMs: deps.testTimeoutMs } : {}),
      },
    );
    sealed = sealCustomSmtp(deps.secrets, row.id, { host, port, secure, username, password });
  }
  // A custom password is kept only while it is in use.
  await deps.db
    .updateTable('email_accounts')
    .set({ smtp_mode: input.mode, smtp_custom_enc: sealed, updated_at: Date.now() })
    .where('id', '=', row.id)
    .execute();
  return getSmtpSettings(deps, user, accountId);
}
