// Connecting, reconnecting, switching and deleting mailboxes. Every change of server or credentials is
// tested (IMAP login and SMTP AUTH) before anything is written; only a working connection is saved.
import { randomBytes } from 'node:crypto';
import { AppError } from '../../core/app-error.js';
import type { SecretBox } from '../../core/secret-box.js';
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import type { Db } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import type { AccountStatus, EmailAccountsTable, Plan, SyncMode } from '../../storage/schema.js';
import type { User } from '../../users/users.js';
import { getProvider, type ProviderPreset } from '../providers/presets.js';
import { testMailConnection } from '../connection/test-mail-connection.js';
import type { OutboundPolicy } from '../../net/outbound-policy.js';
import { openCredentials, sealCredentials, type AccountCredentials } from './account-credentials.js';
import { mailboxFor } from '../../access/access-policy.js';
import { htmlToPlain } from '../mime/html-to-plain.js';
import { sanitizeAuthoredHtml } from '../mime/sanitize-html.js';
import { paramsFromJson, type TextParams } from '../../core/server-text.js';
import { calendarTextCode, statusTextCode, type CalendarTextCode, type StatusTextCode } from './account-status.js';

export interface ServerSettings {
  host: string;
  port: number;
  secure: boolean;
}

export interface EmailAccount {
  id: string;
  userId: string;
  email: string;
  provider: string;
  authKind: 'password' | 'oauth2';
  username: string;
  syncMode: SyncMode;
  status: AccountStatus;
  statusDetail: string | null;
  /** statusDetail as a text code and parameters, for the user's language (null for details stored before 0015). */
  statusDetailCode: StatusTextCode | null;
  statusDetailParams: TextParams;
  nextRetryAt: string | null;
  lastSyncedAt: string | null;
  historyDays: number;
  imap: ServerSettings;
  smtp: ServerSettings;
  caldavUrl: string | null;
  bccAddress: string;
  /** shared: the organisation reads this mailbox's contact mail; private: only its owner does. */
  visibility: 'shared' | 'private';
  /**
   * The address is proven (the OAuth provider vouched for it, or a mailed code came back): the app relay may send as
   * it.
   */
  addressVerified: boolean;
  /** First-sync progress of the folder being scanned, while there is one. */
  progress: { folder: string; scanned: number; total: number } | null;
  /** The latest failure, kept after recovery so the health view can show it. */
  lastError: { message: string; code: StatusTextCode | null; params: TextParams; at: string } | null;
  /** Mail that could not be stored (set aside with its reason) while the rest of the mailbox went on. */
  setAside: {
    count: number;
    latest: Array<{ uid: number | null; messageId: string | null; reason: string; at: string }>;
  };
  /** The calendar sync's own health (a calendar failure never stops mail). */
  calendar: {
    status: string | null;
    detail: string | null;
    detailCode: CalendarTextCode | null;
    detailParams: TextParams;
    syncedAt: string | null;
  };
  /** The mailbox's signature (sanitised HTML), added by compose to new mail and replies; null: none. */
  signatureHtml: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface ConnectInput {
  provider: string;
  email: string;
  password?: string;
  username?: string;
  imap?: ServerSettings;
  smtp?: ServerSettings;
  caldavUrl?: string | null;
  syncMode?: SyncMode;
  historyDays?: number;
  visibility?: 'shared' | 'private';
}

export interface AccountDeps {
  db: Db;
  secrets: SecretBox;
  bccDomain: string;
  /** Lets tests (and only tests) talk to servers with self-signed certificates. */
  tlsRejectUnauthorized?: boolean;
  /** Where user-named servers (IMAP, SMTP, CalDAV) may be: checked before anything connects. */
  outbound: OutboundPolicy;
  /** Told when an account's configuration changed or it was removed, so its sync runner restarts or stops. */
  onChanged(accountId: string, change: 'created' | 'reconnected' | 'switched' | 'deleted'): Promise<void> | void;
}

export const DEFAULT_HISTORY_DAYS = 90;
const ONE_WAY_PLANS: readonly Plan[] = ['pro', 'enterprise'];

type AccountRow = EmailAccountsTable;

export function toEmailAccount(
  row: AccountRow,
  bccDomain: string,
  lastError: EmailAccount['lastError'] = null,
  setAside: EmailAccount['setAside'] = { count: 0, latest: [] },
): EmailAccount {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: row.id,
    userId: row.user_id,
    email: row.email,
    provider: row.provider,
    authKind: row.auth_kind,
    username: row.username,
    syncMode: row.sync_mode,
    status: row.status,
    statusDetail: row.status_detail,
    // A code only beside a detail: a reset that cleared the words clears what they said.
    statusDetailCode: row.status_detail === null ? null : statusTextCode(row.status_detail_code),
    statusDetailParams: row.status_detail === null ? {} : paramsFromJson(row.status_detail_params_json),
    nextRetryAt: iso(row.next_retry_at),
    lastSyncedAt: iso(row.last_synced_at),
    historyDays: row.history_days,
    imap: { host: row.imap_host, port: row.imap_port, secure: row.imap_secure === 1 },
    smtp: { host: row.smtp_host, port: row.smtp_port, secure: row.smtp_secure === 1 },
    caldavUrl: row.caldav_url,
    bccAddress: `${row.bcc_token}@${bccDomain}`,
    visibility: row.visibility,
    addressVerified: row.address_verified === 1,
    progress: row.progress_json ? (JSON.parse(row.progress_json) as EmailAccount['progress']) : null,
    lastError,
    setAside,
    calendar: {
      status: row.calendar_status ?? null,
      detail: row.calendar_detail ?? null,
      detailCode: row.calendar_detail ? calendarTextCode(row.calendar_detail_code) : null,
      detailParams: row.calendar_detail ? paramsFromJson(row.calendar_detail_params_json) : {},
      syncedAt: iso(row.calendar_synced_at ?? null),
    },
    signatureHtml: row.signature_html ?? null,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

function requirePreset(id: string): ProviderPreset {
  const preset = getProvider(id);
  if (!preset) {
    throw new AppError('VALIDATION_FAILED', `Unknown provider "${id}"`, {
      hint: 'GET /api/providers lists them; use "other" for any IMAP/SMTP server.',
      fields: [{ path: 'body.provider', message: 'unknown provider' }],
    });
  }
  return preset;
}

function requireServer(
  settings: ServerSettings | undefined,
  fallback: ServerSettings,
  which: 'imap' | 'smtp',
): ServerSettings {
  const chosen = settings ?? fallback;
  if (!chosen.host || !chosen.port) {
    throw new AppError(
      'VALIDATION_FAILED',
      `The ${which.toUpperCase()} server's host and port are needed for this provider`,
      {
        fields: [{ path: `body.${which}`, message: 'host and port required' }],
      },
    );
  }
  return { host: chosen.host.trim().toLowerCase(), port: chosen.port, secure: chosen.secure };
}

export async function requirePlanFor(db: Db, orgId: string, syncMode: SyncMode): Promise<void> {
  if (syncMode !== 'one-way') return;
  const org = await db.selectFrom('orgs').select('plan').where('id', '=', orgId).executeTakeFirstOrThrow();
  if (!ONE_WAY_PLANS.includes(org.plan)) {
    throw new AppError('PLAN_REQUIRED', 'One-way sync is part of the Pro and Enterprise plans', {
      hint: 'Choose two-way sync, or ask an administrator to change the plan.',
      details: { plan: org.plan },
    });
  }
}

/** The access policy's answer for this mailbox (404 for one the caller may not touch). */
function accountRow(db: Db, user: User, id: string, access: 'read' | 'write' | 'delete'): Promise<AccountRow> {
  return mailboxFor(db, user, id, access === 'read' ? 'see' : access === 'write' ? 'change' : 'remove');
}

/** 80 random bits in lower-case hex: unguessable, and safe in any mail system's local part. */
function newBccToken(): string {
  return randomBytes(10).toString('hex');
}

export async function assertNotConnected(db: Db, user: User, email: string, exceptId?: string): Promise<void> {
  let query = db.selectFrom('email_accounts').select('id').where('user_id', '=', user.id).where('email', '=', email);
  if (exceptId) query = query.where('id', '!=', exceptId);
  const existing = await query.executeTakeFirst();
  if (existing) {
    throw new AppError('EMAIL_ACCOUNT_EXISTS', `${email} is already connected`, {
      hint: 'Use Edit on that account to reconnect it.',
      details: { accountId: existing.id },
    });
  }
}

export async function connectAccount(deps: AccountDeps, user: User, input: ConnectInput): Promise<EmailAccount> {
  const preset = requirePreset(input.provider);
  const email = normalizeEmail(input.email);
  if (!isValidEmail(email)) {
    throw new AppError('VALIDATION_FAILED', `"${input.email}" is not an e-mail address`, {
      fields: [{ path: 'body.email', message: 'not an e-mail address' }],
    });
  }
  if (input.password === undefined || input.password === '') {
    throw new AppError(
      'VALIDATION_FAILED',
      preset.auth === 'oauth2' ? `${preset.name} connects with its own sign-in` : 'The password is needed',
      {
        hint:
          preset.auth === 'oauth2'
            ? 'Start with POST /api/email-accounts/oauth/start, or give an app password.'
            : undefined,
        fields: [{ path: 'body.password', message: 'required' }],
      } as { hint?: string; fields: { path: string; message: string }[] },
    );
  }
  const syncMode = input.syncMode ?? 'two-way';
  await requirePlanFor(deps.db, user.orgId, syncMode);
  await assertNotConnected(deps.db, user, email);
  const imap = requireServer(input.imap, preset.imap, 'imap');
  const smtp = requireServer(input.smtp, preset.smtp, 'smtp');
  const username = input.username?.trim() || email;
  const credentials: AccountCredentials = { kind: 'password', password: input.password };

  const caldavUrl = await checkCaldavUrl(deps, input.caldavUrl);
  await testMailConnection({
    imap,
    smtp,
    username,
    auth: credentials,
    preset,
    outbound: deps.outbound,
    ...tlsOption(deps),
  });
  return insertAccount(deps, user, {
    preset,
    email,
    username,
    imap,
    smtp,
    syncMode,
    historyDays: input.historyDays,
    caldavUrl,
    visibility: input.visibility,
    credentials,
  });
}

/**
 * A calendar URL the user gives: http(s) on an allowed host (422 HOST_NOT_ALLOWED otherwise), before anything is saved.
 */
async function checkCaldavUrl(deps: AccountDeps, url: string | null | undefined): Promise<string | null | undefined> {
  if (url === undefined || url === null || url.trim() === '') return url === undefined ? undefined : null;
  const { url: parsed } = await deps.outbound.checkUrl(url.trim());
  return parsed.href;
}

function tlsOption(deps: AccountDeps): { tlsRejectUnauthorized?: boolean } {
  return deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {};
}

export async function insertAccount(
  deps: AccountDeps,
  user: User,
  a: {
    preset: ProviderPreset;
    email: string;
    username: string;
    imap: ServerSettings;
    smtp: ServerSettings;
    syncMode: SyncMode;
    historyDays?: number | undefined;
    caldavUrl?: string | null | undefined;
    visibility?: 'shared' | 'private' | undefined;
    credentials: AccountCredentials;
    /** Only when the provider vouched for `email` (OAuth); a password login proves nothing about the address. */
    addressVerified?: boolean;
  },
): Promise<EmailAccount> {
  const now = Date.now();
  const id = newId(now);
  const row: AccountRow = {
    id,
    org_id: user.orgId,
    user_id: user.id,
    email: a.email,
    provider: a.preset.id,
    auth_kind: a.credentials.kind,
    sync_mode: a.syncMode,
    status: 'connecting',
    status_detail: null,
    next_retry_at: null,
    last_synced_at: null,
    history_days: a.historyDays ?? DEFAULT_HISTORY_DAYS,
    imap_host: a.imap.host,
    imap_port: a.imap.port,
    imap_secure: a.imap.secure ? 1 : 0,
    smtp_host: a.smtp.host,
    smtp_port: a.smtp.port,
    smtp_secure: a.smtp.secure ? 1 : 0,
    username: a.username,
    credentials_enc: sealCredentials(deps.secrets, id, a.credentials),
    smtp_mode: 'mailbox',
    smtp_custom_enc: null,
    caldav_url: a.caldavUrl ?? a.preset.caldavUrl ?? null,
    bcc_token: newBccToken(),
    visibility: a.visibility ?? 'shared',
    generation: 1,
    progress_json: null,
    sync_requested_at: null,
    address_verified: a.addressVerified === true ? 1 : 0,
    created_at: now,
    updated_at: now,
  };
  await deps.db.insertInto('email_accounts').values(row).execute();
  await deps.onChanged(id, 'created');
  return getAccount(deps, user, id);
}

async function lastErrorOf(db: Db, accountId: string): Promise<EmailAccount['lastError']> {
  const event = await db
    .selectFrom('sync_events')
    .select(['detail', 'detail_code', 'detail_params_json', 'created_at'])
    .where('account_id', '=', accountId)
    .where('kind', 'in', ['status:error', 'status:needs_reconnect'])
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return event
    ? {
        message: event.detail ?? '',
        code: statusTextCode(event.detail_code),
        params: paramsFromJson(event.detail_params_json),
        at: new Date(event.created_at).toISOString(),
      }
    : null;
}

/** The latest mail set aside for this account, and how many there are. */
async function setAsideOf(db: Db, accountId: string): Promise<EmailAccount['setAside']> {
  const [count, latest] = await Promise.all([
    db
      .selectFrom('set_aside_messages')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('account_id', '=', accountId)
      .executeTakeFirst(),
    db
      .selectFrom('set_aside_messages')
      .select(['uid', 'message_id_header', 'reason', 'created_at'])
      .where('account_id', '=', accountId)
      .orderBy('created_at', 'desc')
      .limit(5)
      .execute(),
  ]);
  return {
    count: Number(count?.n ?? 0),
    latest: latest.map((r) => ({
      uid: r.uid === null ? null : Number(r.uid),
      messageId: r.message_id_header,
      reason: r.reason,
      at: new Date(Number(r.created_at)).toISOString(),
    })),
  };
}

export async function getAccount(
  deps: Pick<AccountDeps, 'db' | 'bccDomain'>,
  user: User,
  id: string,
): Promise<EmailAccount> {
  const row = await accountRow(deps.db, user, id, 'read');
  return toEmailAccount(row, deps.bccDomain, await lastErrorOf(deps.db, id), await setAsideOf(deps.db, id));
}

export async function listAccounts(
  deps: Pick<AccountDeps, 'db' | 'bccDomain'>,
  user: User,
  options: { all?: boolean } = {},
): Promise<EmailAccount[]> {
  let query = deps.db.selectFrom('email_accounts').selectAll().where('org_id', '=', user.orgId);
  if (!(options.all && user.isAdmin)) query = query.where('user_id', '=', user.id);
  const rows = await query.orderBy('id').execute();
  return Promise.all(
    rows.map(async (row) =>
      toEmailAccount(row, deps.bccDomain, await lastErrorOf(deps.db, row.id), await setAsideOf(deps.db, row.id)),
    ),
  );
}

export type PatchInput = Partial<ConnectInput> & {
  /** The signature's HTML (sanitised here); null or empty removes it. Not a connection change: nothing is tested. */
  signatureHtml?: string | null;
};

/** A signature's size at most, in UTF-8 bytes, as written and as stored. */
export const MAX_SIGNATURE_BYTES = 64 * 1024;

/** The signature to store: sanitised, null when empty; SIGNATURE_TOO_LARGE above MAX_SIGNATURE_BYTES. */
export function signatureToStore(html: string | null): string | null {
  const tooLarge = (text: string) => Buffer.byteLength(text, 'utf8') > MAX_SIGNATURE_BYTES;
  // Checked before sanitising too, so a huge input is refused before the sanitiser spends time on it.
  if (html !== null && tooLarge(html)) throw signatureTooLarge();
  const clean = html === null ? '' : sanitizeAuthoredHtml(html).trim();
  if (tooLarge(clean)) throw signatureTooLarge();
  // Markup with no text and no image (an empty editor's "<p></p>") is no signature.
  return clean === '' || (!/<img\b/i.test(clean) && htmlToPlain(clean).trim() === '') ? null : clean;
}

function signatureTooLarge(): AppError {
  return new AppError('SIGNATURE_TOO_LARGE', `A signature can be ${MAX_SIGNATURE_BYTES / 1024} KB at most`, {
    fields: [{ path: 'body.signatureHtml', message: `more than ${MAX_SIGNATURE_BYTES / 1024} KB` }],
    hint: 'Use smaller or linked images instead of embedded ones.',
  });
}

/**
 * An OAuth account's token may only go to its provider's servers, as that provider's address: without a new
 * password (which makes it a password account), its provider, address, login and servers are not the request's
 * to change. Reconnecting is signing in again (POST /api/email-accounts/oauth/start with accountId).
 */
function refuseOAuthRedirection(row: AccountRow, patch: PatchInput): void {
  const differs = (settings: ServerSettings | undefined, host: string, port: number, secure: number) =>
    settings !== undefined &&
    (settings.host.trim().toLowerCase() !== host || settings.port !== port || settings.secure !== (secure === 1));
  const fields = [
    patch.provider !== undefined && patch.provider !== row.provider ? 'body.provider' : null,
    patch.email !== undefined && normalizeEmail(patch.email) !== row.email ? 'body.email' : null,
    patch.username !== undefined && patch.username.trim() !== row.username ? 'body.username' : null,
    differs(patch.imap, row.imap_host, row.imap_port, row.imap_secure) ? 'body.imap' : null,
    differs(patch.smtp, row.smtp_host, row.smtp_port, row.smtp_secure) ? 'body.smtp' : null,
  ].filter((field): field is string => field !== null);
  if (fields.length === 0) return;
  throw new AppError(
    'VALIDATION_FAILED',
    "A mailbox connected by signing in with its provider keeps that provider's servers and address",
    {
      hint: 'Sign in with the provider again to reconnect it, or give a password to connect it by password instead.',
      fields: fields.map((path) => ({ path, message: 'cannot change on an account signed in with OAuth2' })),
    },
  );
}

/**
 * Reconnect (new credentials, same server: sync resumes from its cursors) or switch (another provider,
 * server or mailbox: the old folders and cursors are dropped and sync starts afresh). Tested first.
 */
export async function patchAccount(
  deps: AccountDeps,
  user: User,
  id: string,
  patch: PatchInput,
): Promise<EmailAccount> {
  const row = await accountRow(deps.db, user, id, 'write');
  // Refused before any connection test: a signature alone changes nothing of the connection.
  const signature = patch.signatureHtml !== undefined ? signatureToStore(patch.signatureHtml) : undefined;
  // A signature alone touches nothing else: no plan, server or credential rule applies to it.
  const onlySignature = Object.entries(patch).every(([key, value]) => key === 'signatureHtml' || value === undefined);
  if (signature !== undefined && onlySignature) {
    await deps.db
      .updateTable('email_accounts')
      .set({ signature_html: signature, updated_at: Date.now() })
      .where('id', '=', id)
      .execute();
    return getAccount(deps, user, id);
  }
  if (row.auth_kind === 'oauth2' && patch.password === undefined) refuseOAuthRedirection(row, patch);
  const preset = requirePreset(patch.provider ?? row.provider);
  const providerChanged = patch.provider !== undefined && patch.provider !== row.provider;
  const email = patch.email !== undefined ? normalizeEmail(patch.email) : row.email;
  if (!isValidEmail(email)) {
    throw new AppError('VALIDATION_FAILED', `"${patch.email}" is not an e-mail address`, {
      fields: [{ path: 'body.email', message: 'not an e-mail address' }],
    });
  }
  const current = {
    imap: { host: row.imap_host, port: row.imap_port, secure: row.imap_secure === 1 },
    smtp: { host: row.smtp_host, port: row.smtp_port, secure: row.smtp_secure === 1 },
  };
  // A new provider brings its own servers unless the caller names them.
  const imap = requireServer(patch.imap, providerChanged ? preset.imap : current.imap, 'imap');
  const smtp = requireServer(patch.smtp, providerChanged ? preset.smtp : current.smtp, 'smtp');
  const username = patch.username?.trim() || (patch.email !== undefined ? email : row.username);
  const syncMode = patch.syncMode ?? row.sync_mode;
  await requirePlanFor(deps.db, user.orgId, syncMode);
  if (email !== row.email) await assertNotConnected(deps.db, user, email, id);

  const switched =
    providerChanged ||
    email !== row.email ||
    imap.host !== row.imap_host ||
    imap.port !== row.imap_port ||
    username !== row.username;
  const connectionTouched =
    switched || patch.password !== undefined || patch.imap !== undefined || patch.smtp !== undefined;

  let credentials: AccountCredentials = openCredentials(deps.secrets, row.id, row.credentials_enc);
  if (patch.password !== undefined) credentials = { kind: 'password', password: patch.password };
  if (
    switched &&
    patch.password === undefined &&
    credentials.kind === 'password' &&
    (providerChanged || email !== row.email)
  ) {
    throw new AppError('VALIDATION_FAILED', 'The password of the new mailbox is needed', {
      fields: [{ path: 'body.password', message: 'required' }],
    });
  }
  // The stored password goes only to the servers it was given for: a new host (mail or calendar) asks for it again.
  const caldavUrl = patch.caldavUrl !== undefined ? await checkCaldavUrl(deps, patch.caldavUrl) : undefined;
  const caldavHostChanged =
    caldavUrl !== undefined && caldavUrl !== null && hostOf(caldavUrl) !== hostOf(row.caldav_url);
  const hostChanged = imap.host !== row.imap_host || smtp.host !== row.smtp_host || caldavHostChanged;
  if (hostChanged && credentials.kind === 'password' && (patch.password === undefined || patch.password === '')) {
    throw new AppError('VALIDATION_FAILED', 'The password is needed again when a server changes', {
      hint: 'Give the password in the same request as the new server.',
      fields: [{ path: 'body.password', message: 'required when a server changes' }],
    });
  }
  if (connectionTouched) {
    await testMailConnection({
      imap,
      smtp,
      username,
      auth: credentials,
      preset,
      outbound: deps.outbound,
      ...tlsOption(deps),
    });
  }

  const now = Date.now();
  await deps.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('email_accounts')
      .set({
        provider: preset.id,
        email,
        username,
        auth_kind: credentials.kind,
        imap_host: imap.host,
        imap_port: imap.port,
        imap_secure: imap.secure ? 1 : 0,
        smtp_host: smtp.host,
        smtp_port: smtp.port,
        smtp_secure: smtp.secure ? 1 : 0,
        sync_mode: syncMode,
        history_days: patch.historyDays ?? row.history_days,
        caldav_url: caldavUrl !== undefined ? caldavUrl : providerChanged ? preset.caldavUrl : row.caldav_url,
        credentials_enc: sealCredentials(deps.secrets, row.id, credentials),
        ...(connectionTouched
          ? {
              status: 'connecting' as const,
              status_detail: null,
              status_detail_code: null,
              status_detail_params_json: null,
              next_retry_at: null,
            }
          : {}),
        ...(switched ? { generation: row.generation + 1, last_synced_at: null, progress_json: null } : {}),
        ...(patch.signatureHtml !== undefined ? { signature_html: signature } : {}),
        // Another address must be proven again before the company relay sends as it.
        ...(email !== row.email ? { address_verified: 0 } : {}),
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    if (email !== row.email) await trx.deleteFrom('address_verifications').where('account_id', '=', id).execute();
    // The old server's UIDs mean nothing on the new one; stored mail stays on its contacts.
    if (switched) await trx.deleteFrom('mail_folders').where('account_id', '=', id).execute();
    if (patch.visibility !== undefined && patch.visibility !== row.visibility) {
      await trx.updateTable('email_accounts').set({ visibility: patch.visibility }).where('id', '=', id).execute();
      // Who reads this mailbox's mail follows its visibility (the access policy reads the holders).
      await trx
        .updateTable('message_holders')
        .set({ shared: patch.visibility === 'shared' ? 1 : 0 })
        .where('account_id', '=', id)
        .execute();
      // A message stays readable by the org while any shared mailbox holds it (a cache; access reads the holders).
      await trx
        .updateTable('messages')
        .set((eb) => ({
          shared: eb
            .case()
            .when(
              eb.exists(
                eb
                  .selectFrom('message_locations')
                  .innerJoin('email_accounts', 'email_accounts.id', 'message_locations.account_id')
                  .select('message_locations.id')
                  .whereRef('message_locations.message_id', '=', 'messages.id')
                  .where('email_accounts.visibility', '=', 'shared'),
              ),
            )
            .then(1)
            .else(0)
            .end(),
        }))
        .where('id', 'in', (eb) => eb.selectFrom('message_locations').select('message_id').where('account_id', '=', id))
        .execute();
    }
  });
  if (connectionTouched) await deps.onChanged(id, switched ? 'switched' : 'reconnected');
  return getAccount(deps, user, id);
}

function hostOf(url: string | null): string | null {
  if (!url) return null;
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return null;
  }
}

/**
 * A new BCC address for the account (owner only: an admin may see the address, never change it). The old address
 * is refused from this moment (the listener looks the token up on every RCPT and again before filing), so a
 * leaked address stops working the moment its owner regenerates it.
 */
export async function regenerateBccAddress(
  deps: Pick<AccountDeps, 'db' | 'bccDomain'>,
  user: User,
  id: string,
): Promise<EmailAccount> {
  await accountRow(deps.db, user, id, 'write');
  await deps.db
    .updateTable('email_accounts')
    .set({ bcc_token: newBccToken(), updated_at: Date.now() })
    .where('id', '=', id)
    .execute();
  return getAccount(deps, user, id);
}

/** Removes the configuration and credentials; mail already on contacts stays, the BCC address goes. */
export async function deleteAccount(deps: AccountDeps, user: User, id: string): Promise<void> {
  await accountRow(deps.db, user, id, 'delete');
  // Stop the runner first, so no connection outlives the configuration.
  await deps.onChanged(id, 'deleted');
  // Its holder rows lose their mailbox (account_id set null): the mail leaves its owner's inbox. The search index's
  // view tokens of that mail stay; a token only narrows a search that still tests the inbox (search-index.ts).
  await deps.db.deleteFrom('email_accounts').where('id', '=', id).execute();
}
