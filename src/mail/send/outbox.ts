// Sends what the CRM queued and files a copy in the mailbox's Sent folder, as two persisted steps:
//   queued → sending → sent (append_state 'pending') → append_state 'appended' | 'skipped' | 'failed'
//                    ↘ queued again (transient failure, with backoff)  ↘ failed (5xx, or out of attempts)
// 'sent' is written right after the SMTP server accepted the message and before the APPEND, so a crash between
// the two resumes the append without sending again; before appending, the Sent folder is searched for our
// Message-ID, so a crash after the APPEND but before recording it does not append twice. A row is taken with a
// lease (lease_until): a worker that dies mid-send leaves a row another worker (or this one, restarted) takes
// again once the lease runs out — at-least-once for that one unlucky instant, never lost.
// Send later (migration 0011): a row may wait in state 'scheduled' until its send_at; the same atomic claim takes it
// then (one worker wins), the loop sleeps until the nearest send_at, and the Date header (and the CRM message's
// date) is set to the moment it is taken, since it was composed when it was scheduled.
// Limits: one row at a time per worker; a recipient refused with a 4xx while others were accepted is reported,
// not retried.
import type { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import type { DKIMOptions } from 'nodemailer';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import type { Logger } from '../../core/logger.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable, OutboxTable } from '../../storage/schema.js';
import { newId } from '../../storage/ids.js';
import { classifyMailError } from '../connection/mail-errors.js';
import {
  createImapClient,
  pinEndpoint,
  smtpTransportOptions,
  type MailClientOptions,
} from '../connection/test-mail-connection.js';
import type { OutboundPolicy } from '../../net/outbound-policy.js';
import { folderRole } from '../imap/folder-roles.js';
import type { OAuthConfig } from '../oauth2/oauth-config.js';
import { getProvider } from '../providers/presets.js';
import { backoffDelay } from '../../jobs/backoff.js';
import { freshAccountCredentials, mailLoginOf } from '../accounts/account-login.js';
import { appRelayTransportOptions, openCustomSmtp, type AppSmtpConfig } from './smtp-settings.js';
import { sendCopies } from './send-copies.js';
import { redateMessage } from './compose-message.js';
// Localised server texts (H6): failure reasons and Sent-copy details as codes with parameters.
import { AppError } from '../../core/app-error.js';
import { paramsToJson } from '../../core/server-text.js';
import type { SendReasonCode, SendText, SentFolderTextCode } from './send-texts.js';

export interface OutboxDeps {
  db: Db;
  secrets: SecretBox;
  blobs: BlobStore;
  oauth: OAuthConfig;
  log: Logger;
  /** The application's relay (loadAppSmtpConfig); null when the install has none. */
  appSmtp: AppSmtpConfig | null;
  /** DKIM signing for mail sent through the application's relay (loadDkimConfig in dkim.ts). */
  dkim?: DKIMOptions | null;
  tlsRejectUnauthorized?: boolean;
  /** Where the account's servers may be: checked at every connection (the app relay is the operator's own). */
  outbound: OutboundPolicy;
  /** First retry delay after a transient failure (default 30 s), doubling up to backoffMaxMs (default 30 min). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Attempts (sending, and separately appending) before giving up (default 8). */
  maxAttempts?: number;
  /**
   * How often the table is looked at without a kick, for rows queued or scheduled by other processes (default 30 s:
   * a message scheduled elsewhere leaves within that of its time; this process's own rows wake the loop at once).
   */
  pollIntervalMs?: number;
  /** How long a worker holds a row it took (default 10 min). */
  leaseMs?: number;
  /** Connect/greeting budget of each SMTP or IMAP connection (default 30 s); silence allowed twice that. */
  timeoutMs?: number;
}

export interface Outbox {
  start(): void;
  /** Stops taking rows, closes the connection in use, waits for the loop to end. */
  stop(): Promise<void>;
  /** Look at the table now (something was queued). */
  kick(): void;
}

export type SendStatus = 'scheduled' | 'queued' | 'sending' | 'sent' | 'failed';

/**
 * Queues a message the CRM has just stored (inside the transaction that stored it, so the two exist together or not
 * at all): nothing tried yet; `sendAt` makes it wait as 'scheduled'; a tracked copy for external recipients rides along.
 */
export async function insertOutboxRow(
  db: Db,
  row: {
    messageId: string;
    accountId: string;
    now: number;
    sendAt?: number | null;
    trackedRawSha256?: string | null;
    trackedRecipients?: string[] | null;
  },
): Promise<void> {
  const sendAt = row.sendAt ?? null;
  await db
    .insertInto('outbox')
    .values({
      id: newId(row.now),
      message_id: row.messageId,
      account_id: row.accountId,
      state: sendAt === null ? 'queued' : 'scheduled',
      send_at: sendAt,
      attempts: 0,
      last_error: null,
      next_attempt_at: null,
      created_at: row.now,
      updated_at: row.now,
      append_state: null,
      append_detail: null,
      append_attempts: 0,
      sent_at: null,
      smtp_response: null,
      lease_until: null,
      tracked_raw_blob_sha256: row.trackedRawSha256 ?? null,
      tracked_rcpts_json: row.trackedRecipients ? JSON.stringify(row.trackedRecipients) : null,
    })
    .execute();
}

type OutboxRow = OutboxTable & { append_attempts: number };

const DEFAULTS = {
  backoffBaseMs: 30_000,
  backoffMaxMs: 30 * 60_000,
  maxAttempts: 8,
  pollIntervalMs: 30_000,
  leaseMs: 10 * 60_000,
  timeoutMs: 30_000,
};

type Settings = typeof DEFAULTS;

function settingsOf(deps: OutboxDeps): Settings {
  return {
    backoffBaseMs: deps.backoffBaseMs ?? DEFAULTS.backoffBaseMs,
    backoffMaxMs: deps.backoffMaxMs ?? DEFAULTS.backoffMaxMs,
    maxAttempts: deps.maxAttempts ?? DEFAULTS.maxAttempts,
    pollIntervalMs: deps.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
    leaseMs: deps.leaseMs ?? DEFAULTS.leaseMs,
    timeoutMs: deps.timeoutMs ?? DEFAULTS.timeoutMs,
  };
}

/** What one failed attempt means: try again later, or never. */
interface Failure {
  permanent: boolean;
  reason: string;
  /** The reason as a text code with parameters (send-texts.ts), for the user's language. */
  text: SendText<SendReasonCode>;
  /** A stable code for the send status when it is not the generic SEND_FAILED. */
  code?: SendErrorCode;
}

/** What GET /api/messages/:id/send-status names a failure: SEND_FAILED, or why the message was never handed over. */
export type SendErrorCode = 'SEND_FAILED' | 'SENDER_NOT_VERIFIED';

class PermanentFailure extends Error {
  constructor(
    message: string,
    readonly text: SendText<SendReasonCode>,
    readonly code?: SendErrorCode,
  ) {
    super(message);
  }
}

function oneLine(text: string, max = 400): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * An SMTP failure in words, decided in one place: the server refusing the message or its recipients with a 5xx
 * is final (the server's reason is kept); a refused sign-in, a 4xx and anything on the way (DNS, TCP, TLS,
 * timeouts) are retried, since a reconnect or the server's recovery makes them go away.
 */
function smtpFailure(
  error: unknown,
  endpoint: { host: string; port: number; secure: boolean },
  authKind: 'password' | 'oauth2',
): Failure {
  if (error instanceof PermanentFailure)
    return { permanent: true, reason: error.message, text: error.text, ...(error.code ? { code: error.code } : {}) };
  const e = (error ?? {}) as { responseCode?: unknown; response?: unknown; code?: unknown; message?: unknown };
  if (error instanceof AppError && error.code === 'HOST_NOT_ALLOWED') {
    const host = typeof error.details?.host === 'string' ? error.details.host : endpoint.host;
    return { permanent: false, reason: error.message, text: { code: 'SEND_HOST_NOT_ALLOWED', params: { host } } };
  }
  const classified = classifyMailError(error, 'smtp', { ...endpoint, authKind });
  if (classified.code === 'AUTH_FAILED') return { permanent: false, reason: classified.message, text: classified.text };
  const status = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const said = typeof e.response === 'string' ? oneLine(e.response) : undefined;
  const reply = said ?? oneLine(String(e.message ?? status));
  if (status !== undefined && status >= 500 && status < 600) {
    return {
      permanent: true,
      reason: `The sending server refused the message: ${reply}`,
      text: { code: 'SEND_REJECTED', params: { reply } },
    };
  }
  if (status !== undefined && status >= 400 && status < 500) {
    return {
      permanent: false,
      reason: `The sending server deferred the message (temporary): ${reply}`,
      text: { code: 'SEND_DEFERRED', params: { reply } },
    };
  }
  return { permanent: false, reason: classified.message, text: classified.text };
}

function describe(error: unknown): string {
  if (error instanceof Error)
    return oneLine(
      `${error.message}${(error as { responseText?: string }).responseText ? ` (${(error as { responseText?: string }).responseText})` : ''}`,
      300,
    );
  return oneLine(String(error), 300);
}

/** How the account's mail leaves: the transport options and whether the provider files a copy in Sent itself. */
async function transportFor(
  deps: OutboxDeps,
  settings: Settings,
  account: EmailAccountsTable,
  signal: AbortSignal,
): Promise<{
  options: SMTPTransportOptions;
  endpoint: { host: string; port: number; secure: boolean };
  authKind: 'password' | 'oauth2';
  providerFilesSent: boolean;
}> {
  const clientOptions: MailClientOptions = {
    connectionTimeoutMs: settings.timeoutMs,
    greetingTimeoutMs: settings.timeoutMs,
    socketTimeoutMs: settings.timeoutMs * 2,
    ...(deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
  };
  switch (account.smtp_mode) {
    case 'mailbox': {
      const endpoint = { host: account.smtp_host, port: account.smtp_port, secure: account.smtp_secure === 1 };
      const pinned = await pinEndpoint(deps.outbound, endpoint);
      const credentials = await freshAccountCredentials(deps, account, signal);
      return {
        options: smtpTransportOptions(pinned.endpoint, mailLoginOf(account.username, credentials), {
          ...clientOptions,
          ...pinned.options,
        }),
        endpoint,
        authKind: credentials.kind,
        providerFilesSent: getProvider(account.provider)?.smtpSavesSent === true,
      };
    }
    case 'app': {
      const app = deps.appSmtp;
      if (!app)
        throw new PermanentFailure(
          'This account sends through the application relay, but the server has none configured any more (APP_SMTP_HOST)',
          { code: 'SEND_RELAY_MISSING', params: {} },
        );
      // Defence in depth: the API refuses this already, but a message queued before the address changed (or
      // before migration 0006) must not leave either.
      if (account.address_verified !== 1) {
        throw new PermanentFailure(
          `${account.email} is not verified: the company relay sends only as proven addresses`,
          { code: 'SEND_SENDER_NOT_VERIFIED', params: { address: account.email } },
          'SENDER_NOT_VERIFIED',
        );
      }
      const endpoint = { host: app.host, port: app.port, secure: app.secure };
      return {
        options: appRelayTransportOptions(app, deps.dkim, clientOptions),
        endpoint,
        authKind: 'password',
        providerFilesSent: false,
      };
    }
    case 'custom': {
      if (!account.smtp_custom_enc)
        throw new PermanentFailure(
          'This account sends through a custom SMTP server, but none is saved: choose the server again',
          { code: 'SEND_CUSTOM_SMTP_MISSING', params: {} },
        );
      const custom = openCustomSmtp(deps.secrets, account.id, account.smtp_custom_enc);
      const endpoint = { host: custom.host, port: custom.port, secure: custom.secure };
      const pinned = await pinEndpoint(deps.outbound, endpoint);
      const login = { username: custom.username, auth: { kind: 'password' as const, password: custom.password } };
      return {
        options: smtpTransportOptions(pinned.endpoint, login, { ...clientOptions, ...pinned.options }),
        endpoint,
        authKind: 'password',
        providerFilesSent: false,
      };
    }
    default: {
      const never: never = account.smtp_mode;
      throw new PermanentFailure(`unknown SMTP mode ${String(never)}`, {
        code: 'SEND_INTERNAL',
        params: { reason: `unknown SMTP mode ${String(never)}` },
      });
    }
  }
}

/** Accounts whose owner is deactivated (migration 0009): nothing of theirs is sent or appended until reactivated. */
function pausedAccounts(db: Db) {
  return db.selectFrom('email_accounts').select('id').where('paused', '=', 1);
}

/** The SMTP step and the Sent-folder step of one row, each taken under a lease. Shared by the worker and tests. */
export class OutboxSteps {
  readonly settings: Settings;

  constructor(
    private readonly deps: OutboxDeps,
    private readonly signal: AbortSignal = new AbortController().signal,
    private readonly track: (closer: (() => void) | null) => void = () => undefined,
  ) {
    this.settings = settingsOf(deps);
  }

  /**
   * Rows whose SMTP step is due: scheduled and their time has come, queued and due, or left 'sending' by a worker
   * whose lease ran out.
   */
  async dueForSending(now: number, limit = 20): Promise<string[]> {
    const rows = await this.deps.db
      .selectFrom('outbox')
      .select('id')
      .where((eb) =>
        eb.or([
          eb.and([eb('state', '=', 'scheduled'), eb('send_at', '<=', now)]),
          eb.and([
            eb('state', '=', 'queued'),
            eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]),
            eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]),
          ]),
          eb.and([eb('state', '=', 'sending'), eb('lease_until', '<', now)]),
        ]),
      )
      .where('account_id', 'not in', pausedAccounts(this.deps.db))
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Rows sent whose Sent-folder copy is due. */
  async dueForAppending(now: number, limit = 20): Promise<string[]> {
    const rows = await this.deps.db
      .selectFrom('outbox')
      .select('id')
      .where('state', '=', 'sent')
      .where('append_state', '=', 'pending')
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
      .where('account_id', 'not in', pausedAccounts(this.deps.db))
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** When the next row becomes due (null: nothing waits): a retry, a pending copy or a scheduled send. */
  async nextDueAt(): Promise<number | null> {
    const [retry, scheduled] = await Promise.all([
      this.deps.db
        .selectFrom('outbox')
        .select((eb) => eb.fn.min('next_attempt_at').as('next'))
        .where((eb) =>
          eb.or([eb('state', '=', 'queued'), eb.and([eb('state', '=', 'sent'), eb('append_state', '=', 'pending')])]),
        )
        .executeTakeFirst(),
      this.deps.db
        .selectFrom('outbox')
        .select((eb) => eb.fn.min('send_at').as('next'))
        .where('state', '=', 'scheduled')
        .executeTakeFirst(),
    ]);
    const times = [retry?.next, scheduled?.next].filter((t): t is number => t !== null && t !== undefined).map(Number);
    return times.length === 0 ? null : Math.min(...times);
  }

  /**
   * Takes the row for sending (one worker wins), sends the stored bytes unchanged and records the outcome.
   * Returns true when it was sent and its Sent-folder copy is pending.
   */
  async send(outboxId: string): Promise<boolean> {
    const { db, log } = this.deps;
    const now = Date.now();
    const taken = await db
      .updateTable('outbox')
      .set((eb) => ({
        state: 'sending',
        lease_until: now + this.settings.leaseMs,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', '=', outboxId)
      .where((eb) =>
        eb.or([
          // A scheduled row is never taken early, whoever asks; a cancel (a DELETE … WHERE state = 'scheduled')
          // and this claim exclude each other in the database.
          eb.and([eb('state', '=', 'scheduled'), eb('send_at', '<=', now)]),
          eb.and([eb('state', '=', 'queued'), eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)])]),
          eb.and([eb('state', '=', 'sending'), eb('lease_until', '<', now)]),
        ]),
      )
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== 1) return false;
    const row = (await db
      .selectFrom('outbox')
      .selectAll()
      .where('id', '=', outboxId)
      .executeTakeFirstOrThrow()) as OutboxRow;
    const account = await db
      .selectFrom('email_accounts')
      .selectAll()
      .where('id', '=', row.account_id)
      .executeTakeFirst();
    const message = await db
      .selectFrom('messages')
      .select(['id', 'raw_blob_sha256', 'message_id_header'])
      .where('id', '=', row.message_id)
      .executeTakeFirst();
    if (!account || !message) {
      await this.finishSend(row, {
        permanent: true,
        reason: 'The account or the message is gone',
        text: { code: 'SEND_MESSAGE_GONE', params: {} },
      });
      return false;
    }
    if (account.paused === 1) {
      // Its owner was deactivated after the row was picked: it waits, unsent, for a reactivation.
      await db
        .updateTable('outbox')
        .set((eb) => ({
          // A scheduled message not yet attempted stays scheduled (so still cancellable) until the reactivation.
          state: row.send_at != null && row.attempts === 1 ? 'scheduled' : 'queued',
          lease_until: null,
          attempts: eb('attempts', '-', 1),
          updated_at: Date.now(),
        }))
        .where('id', '=', outboxId)
        .execute();
      return false;
    }
    let endpoint = { host: account.smtp_host, port: account.smtp_port, secure: account.smtp_secure === 1 };
    let authKind: 'password' | 'oauth2' = account.auth_kind;
    try {
      if (!message.raw_blob_sha256)
        throw new PermanentFailure('The stored copy of the message is missing', {
          code: 'SEND_MESSAGE_GONE',
          params: {},
        });
      let raw = await this.deps.blobs.get(message.raw_blob_sha256, { signal: this.signal });
      // Scheduled and taken for the first time: it says the time it leaves (a retry keeps the first attempt's).
      let sending: OutboxRow = row;
      if (row.send_at != null && row.attempts === 1) {
        const redated = await this.redate(row, message.id, raw, Date.now());
        raw = redated.raw;
        sending = { ...row, tracked_raw_blob_sha256: redated.trackedSha };
      }
      const recipients = await db
        .selectFrom('message_participants')
        .select('address')
        .where('message_id', '=', message.id)
        .where('role', 'in', ['to', 'cc', 'bcc'])
        .orderBy('position')
        .execute();
      const to = [...new Set(recipients.map((r) => r.address))];
      if (to.length === 0)
        throw new PermanentFailure('The message has no recipients', { code: 'SEND_NO_RECIPIENTS', params: {} });
      const transport = await transportFor(this.deps, this.settings, account, this.signal);
      endpoint = transport.endpoint;
      authKind = transport.authKind;
      const transporter = nodemailer.createTransport(transport.options);
      this.track(() => transporter.close());
      let info;
      try {
        this.signal.throwIfAborted();
        // Issue 15 (H3): one transaction, or two when external recipients get a tracked copy (send-copies.ts).
        info = await sendCopies({
          db,
          blobs: this.deps.blobs,
          signal: this.signal,
          transporter,
          from: account.email,
          to,
          raw,
          messageId: message.id,
          outbox: sending,
        });
      } finally {
        this.track(null);
        transporter.close();
      }
      const rejected = info.rejected ?? [];
      const rejectedReply = oneLine(
        (info.rejectedErrors ?? []).map((e) => (e as { response?: string }).response ?? e.message).join('; ') ||
          'refused',
      );
      const partial = rejected.length > 0 ? `Not delivered to ${rejected.join(', ')}: ${rejectedReply}` : null;
      const appendNeeded = !(account.smtp_mode === 'mailbox' && transport.providerFilesSent);
      const sentAt = Date.now();
      await db
        .updateTable('outbox')
        .set({
          state: 'sent',
          sent_at: sentAt,
          smtp_response: typeof info.response === 'string' ? oneLine(info.response, 300) : null,
          last_error: partial,
          last_error_reason_code: partial ? 'SEND_PARTIALLY_REJECTED' : null,
          last_error_params_json: partial
            ? paramsToJson({ recipients: rejected.join(', '), reply: rejectedReply })
            : null,
          next_attempt_at: null,
          lease_until: null,
          append_state: appendNeeded ? 'pending' : 'skipped',
          append_detail: appendNeeded
            ? null
            : 'The provider files mail sent through its SMTP server in the Sent folder itself',
          append_detail_code: appendNeeded ? null : 'SENT_COPY_BY_PROVIDER',
          append_detail_params_json: null,
          updated_at: sentAt,
        })
        .where('id', '=', row.id)
        .execute();
      log.info(
        { outboxId: row.id, accountId: account.id, recipients: to.length, rejected: rejected.length },
        'message sent',
      );
      return appendNeeded;
    } catch (error) {
      if (this.signal.aborted) {
        // Shutting down mid-send: let the row be taken again at once by the next start, not after the lease.
        await db
          .updateTable('outbox')
          .set({ state: 'queued', lease_until: null, updated_at: Date.now() })
          .where('id', '=', row.id)
          .where('state', '=', 'sending')
          .execute();
        return false;
      }
      const failure = smtpFailure(error, endpoint, authKind);
      log.warn(
        {
          outboxId: row.id,
          accountId: account.id,
          permanent: failure.permanent,
          attempt: row.attempts,
          reason: describe(error),
        },
        'sending failed',
      );
      await this.finishSend(row, failure);
      return false;
    }
  }

  /**
   * Sets the Date header of a scheduled message to `at` (whole seconds) and stores those bytes as the message's
   * copy, with the CRM message's date: the copy filed in Sent and the one the sync meets later are these bytes.
   * The content digest is cleared, so the intake recomputes it from the row when it meets a copy (store-messages.ts).
   */
  private async redate(
    row: OutboxRow,
    messageId: string,
    raw: Buffer,
    at: number,
  ): Promise<{ raw: Buffer; trackedSha: string | null }> {
    const date = Math.floor(at / 1000) * 1000;
    const redated = redateMessage(raw, new Date(date));
    const blob = await this.deps.blobs.put(redated);
    // The tracked copy for external recipients (tracking) carries the same Date as every other copy.
    const trackedRaw = row.tracked_raw_blob_sha256
      ? redateMessage(await this.deps.blobs.get(row.tracked_raw_blob_sha256, { signal: this.signal }), new Date(date))
      : null;
    const trackedBlob = trackedRaw ? await this.deps.blobs.put(trackedRaw) : null;
    await this.deps.db.transaction().execute(async (trx) => {
      for (const b of trackedBlob ? [blob, trackedBlob] : [blob]) {
        await trx
          .insertInto('blobs')
          .values({ sha256: b.sha256, size: b.size, created_at: Date.now() })
          .onConflict((oc) => oc.column('sha256').doNothing())
          .execute();
      }
      await trx
        .updateTable('messages')
        .set({ raw_blob_sha256: blob.sha256, size: redated.length, date, content_digest: null })
        .where('id', '=', messageId)
        .execute();
      if (trackedBlob) {
        await trx
          .updateTable('outbox')
          .set({ tracked_raw_blob_sha256: trackedBlob.sha256 })
          .where('id', '=', row.id)
          .execute();
      }
    });
    return { raw: redated, trackedSha: trackedBlob?.sha256 ?? null };
  }

  private async finishSend(row: OutboxRow, failure: Failure): Promise<void> {
    const now = Date.now();
    const giveUp = failure.permanent || row.attempts >= this.settings.maxAttempts;
    await this.deps.db
      .updateTable('outbox')
      .set({
        state: giveUp ? 'failed' : 'queued',
        last_error:
          giveUp && !failure.permanent ? `Gave up after ${row.attempts} attempts: ${failure.reason}` : failure.reason,
        last_error_code: failure.code ?? null,
        last_error_reason_code: failure.text.code,
        last_error_params_json: paramsToJson({
          ...failure.text.params,
          ...(giveUp && !failure.permanent ? { attempts: row.attempts } : {}),
        }),
        next_attempt_at: giveUp
          ? null
          : now + backoffDelay(row.attempts, this.settings.backoffBaseMs, this.settings.backoffMaxMs),
        lease_until: null,
        updated_at: now,
      })
      .where('id', '=', row.id)
      .execute();
  }

  /**
   * Takes a sent row whose copy is pending and files the same bytes in the account's Sent folder with \Seen,
   * unless a copy with our Message-ID is already there.
   */
  async append(outboxId: string): Promise<void> {
    const { db, log } = this.deps;
    const now = Date.now();
    const taken = await db
      .updateTable('outbox')
      .set((eb) => ({
        lease_until: now + this.settings.leaseMs,
        append_attempts: eb('append_attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', '=', outboxId)
      .where('state', '=', 'sent')
      .where('append_state', '=', 'pending')
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== 1) return;
    const row = (await db
      .selectFrom('outbox')
      .selectAll()
      .where('id', '=', outboxId)
      .executeTakeFirstOrThrow()) as OutboxRow;
    const finish = async (
      state: 'pending' | 'appended' | 'skipped' | 'failed',
      detail: string | null,
      retryAt: number | null = null,
      text: SendText<SentFolderTextCode> | null = null,
    ) => {
      await db
        .updateTable('outbox')
        .set({
          append_state: state,
          append_detail: detail,
          append_detail_code: text?.code ?? null,
          append_detail_params_json: paramsToJson(text?.params),
          next_attempt_at: retryAt,
          lease_until: null,
          updated_at: Date.now(),
        })
        .where('id', '=', row.id)
        .execute();
    };
    const account = await db
      .selectFrom('email_accounts')
      .selectAll()
      .where('id', '=', row.account_id)
      .executeTakeFirst();
    const message = await db
      .selectFrom('messages')
      .select(['raw_blob_sha256', 'message_id_header', 'date'])
      .where('id', '=', row.message_id)
      .executeTakeFirst();
    if (!account || !message?.raw_blob_sha256 || !message.message_id_header) {
      await finish('skipped', 'The account or the stored copy of the message is gone', null, {
        code: 'SENT_COPY_GONE',
        params: {},
      });
      return;
    }
    let client: ImapFlow | null = null;
    try {
      const raw = await this.deps.blobs.get(message.raw_blob_sha256, { signal: this.signal });
      const pinned = await pinEndpoint(this.deps.outbound, {
        host: account.imap_host,
        port: account.imap_port,
        secure: account.imap_secure === 1,
      });
      const credentials = await freshAccountCredentials(this.deps, account, this.signal);
      client = createImapClient(pinned.endpoint, mailLoginOf(account.username, credentials), {
        ...pinned.options,
        connectionTimeoutMs: this.settings.timeoutMs,
        greetingTimeoutMs: this.settings.timeoutMs,
        socketTimeoutMs: this.settings.timeoutMs * 2,
        imap: { disableAutoIdle: true },
        ...(this.deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
      });
      const imap = client;
      imap.on('error', (err: unknown) => log.warn({ outboxId: row.id, err: describe(err) }, 'imap connection error'));
      this.track(() => imap.close());
      this.signal.throwIfAborted();
      await imap.connect();
      const path = await sentFolderPath(db, imap, account.id);
      if (!path) {
        await finish(
          'skipped',
          'The mailbox has no Sent folder (none is marked \\Sent or has a Sent folder name), so no copy was filed there',
          null,
          { code: 'SENT_COPY_NO_FOLDER', params: {} },
        );
        return;
      }
      const messageId = `<${message.message_id_header}>`;
      const lock = await imap.getMailboxLock(path);
      let found: number[] = [];
      try {
        const result = await imap.search({ header: { 'message-id': messageId } }, { uid: true });
        found = Array.isArray(result) ? result : [];
      } finally {
        lock.release();
      }
      if (found.length > 0) {
        await finish('appended', `Already in ${path}`, null, {
          code: 'SENT_COPY_ALREADY_THERE',
          params: { folder: path },
        });
      } else {
        await imap.append(path, raw, ['\\Seen'], new Date(message.date));
        await finish('appended', `Filed in ${path}`, null, { code: 'SENT_COPY_FILED', params: { folder: path } });
      }
      log.info(
        { outboxId: row.id, accountId: account.id, folder: path, alreadyThere: found.length > 0 },
        'sent copy filed',
      );
      await imap.logout().catch(() => undefined);
    } catch (error) {
      if (this.signal.aborted) {
        await finish('pending', null);
        return;
      }
      const classified = classifyMailError(error, 'imap', {
        host: account.imap_host,
        port: account.imap_port,
        secure: account.imap_secure === 1,
        authKind: account.auth_kind,
      });
      const reason = classified.message;
      log.warn(
        { outboxId: row.id, accountId: account.id, attempt: row.append_attempts, reason: describe(error) },
        'filing the sent copy failed',
      );
      if (row.append_attempts >= this.settings.maxAttempts)
        await finish('failed', `Gave up after ${row.append_attempts} attempts: ${reason}`, null, {
          code: classified.text.code,
          params: { ...classified.text.params, attempts: row.append_attempts },
        });
      else
        await finish(
          'pending',
          reason,
          Date.now() + backoffDelay(row.append_attempts, this.settings.backoffBaseMs, this.settings.backoffMaxMs),
          classified.text,
        );
    } finally {
      this.track(null);
      client?.close();
    }
  }
}

/** The Sent folder: the one the sync knows, else the one the server marks \Sent (or names so). */
async function sentFolderPath(db: Db, client: ImapFlow, accountId: string): Promise<string | null> {
  const known = await db
    .selectFrom('mail_folders')
    .select('path')
    .where('account_id', '=', accountId)
    .where('role', '=', 'sent')
    .orderBy('id')
    .executeTakeFirst();
  if (known) return known.path;
  const listed = await client.list();
  const marked = listed.find((f) => f.specialUse === '\\Sent');
  if (marked) return marked.path;
  const named = listed.find(
    (f) => folderRole({ path: f.path, specialUse: f.specialUse, flags: f.flags, delimiter: f.delimiter }) === 'sent',
  );
  return named?.path ?? null;
}

/**
 * The worker: a loop that sends due rows, files their copies, and sleeps until the next due row, a kick or the poll.
 */
export function createOutbox(deps: OutboxDeps): Outbox {
  const abort = new AbortController();
  let closeCurrent: (() => void) | null = null;
  const steps = new OutboxSteps(deps, abort.signal, (closer) => (closeCurrent = closer));
  let wakeUp: (() => void) | null = null;
  let kicked = false;
  let running: Promise<void> | null = null;

  const sleep = (ms: number): Promise<void> => {
    if (kicked || abort.signal.aborted) {
      kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        if (wakeUp === done) wakeUp = null;
        kicked = false;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      wakeUp = done;
    });
  };

  const pass = async (): Promise<void> => {
    for (;;) {
      if (abort.signal.aborted) return;
      const sending = await steps.dueForSending(Date.now());
      for (const id of sending) {
        if (abort.signal.aborted) return;
        // The copy right after the send: the same connection details are fresh, and the user sees it at once.
        if (await steps.send(id)) await steps.append(id);
      }
      const appending = await steps.dueForAppending(Date.now());
      for (const id of appending) {
        if (abort.signal.aborted) return;
        await steps.append(id);
      }
      if (sending.length === 0 && appending.length === 0) return;
    }
  };

  const loop = async (): Promise<void> => {
    while (!abort.signal.aborted) {
      try {
        kicked = false;
        await pass();
      } catch (error) {
        deps.log.error({ err: describe(error) }, 'outbox pass failed');
      }
      if (abort.signal.aborted) return;
      let wait = steps.settings.pollIntervalMs;
      try {
        const next = await steps.nextDueAt();
        if (next !== null) wait = Math.min(wait, Math.max(0, next - Date.now()) + 5);
      } catch {
        // The poll interval then.
      }
      await sleep(wait);
    }
  };

  return {
    start() {
      if (running) return;
      running = loop();
    },
    async stop() {
      abort.abort();
      wakeUp?.();
      closeCurrent?.();
      await running;
    },
    kick() {
      kicked = true;
      wakeUp?.();
    },
  };
}
