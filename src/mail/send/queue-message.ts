// POST /api/messages: checks what the user wrote, composes the MIME once, and in ONE transaction stores it as the
// CRM's outgoing message (parsed from those very bytes, as synced mail is, so the copy shown in the CRM goes
// through the same HTML sanitiser) and queues it in the outbox. The outbox worker sends it; a restart resumes it.
import { AppError, type FieldIssue } from '../../core/app-error.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import type { User } from '../../users/users.js';
import { getUserSettings } from '../../users/settings.js';
import { getMessage, type MessageDetail } from '../../messages/messages.js';
import { parseMessage, type ParsedMessage } from '../mime/parse-message.js';
import { addressesToAutoCreate } from '../rules/auto-contacts.js';
import { normalizeMessageId, parseMessageIdList } from '../rules/message-key.js';
import { parseNeverLogList } from '../rules/never-log.js';
import { contactsByAddress, storeMessages, type MessageToStore } from '../intake/store-messages.js';
import {
  composeMessage,
  newMessageId,
  parseRecipient,
  replyReferences,
  replySubject,
  type OutgoingAddress,
  type OutgoingAttachment,
} from './compose-message.js';
import { insertOutboxRow, type SendStatus } from './outbox.js';
import { organisationAddresses } from '../accounts/organisation-addresses.js';
import { mayOnMailbox } from '../../access/access-policy.js';
import { assertRelayMayUse } from './smtp-settings.js';
import { ensureContacts } from '../../contacts/ensure-contacts.js';
import { messageFromParsed, participantsOfParsed } from '../intake/message-from-parsed.js';
import { applyMergeFields } from './apply-merge-fields.js';
import { htmlToTextAlternative } from '../mime/html-to-text-alternative.js';
import { trackedHtml } from '../../tracking/tracked-html.js';
import { insertTrackedMessage, newTrackingToken } from '../../tracking/tracked-messages.js';
import { externalRecipients } from '../../tracking/external-recipients.js';
import { DAY_MS, insertReminder } from './follow-up-reminders.js';
import { checkSendAt } from './scheduled-messages.js';
// Localised server texts (H6): the send failure's reason and the Sent copy's detail as codes.
import { paramsFromJson, type TextParams } from '../../core/server-text.js';
import { sendReasonCode, sentFolderTextCode, type SendReasonCode, type SentFolderTextCode } from './send-texts.js';

/** Attachments of one message, decoded, at most (what the large providers accept). */
export const MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024;
/** Recipients of one message (To, Cc and Bcc together). */
export const MAX_RECIPIENTS = 100;
/** Characters of the text and of the HTML body, each. */
export const MAX_BODY_CHARS = 2 * 1024 * 1024;
/**
 * The request body limit of POST /api/messages: the attachments in base64 (4/3 of their size), plus the two
 * bodies with room for JSON escaping, plus the rest.
 */
export const SEND_BODY_LIMIT = Math.ceil((MAX_ATTACHMENT_BYTES * 4) / 3) + 3 * MAX_BODY_CHARS + 1024 * 1024;

export interface SendInput {
  accountId: string;
  to: string[];
  cc?: string[] | undefined;
  bcc?: string[] | undefined;
  subject?: string | undefined;
  text?: string | undefined;
  html?: string | undefined;
  /** The CRM id of the message answered. */
  inReplyTo?: string | undefined;
  attachments?: Array<{ filename: string; contentType: string; contentBase64: string }> | undefined;
  // Issue 15, templates (H1): subject and HTML from a template unless given; merge fields filled from this contact,
  // else from the contact of the first To address (apply-merge-fields.ts).
  templateId?: string | undefined;
  contactId?: string | undefined;
  /** Issue 15 (H3): open/click tracking of the copy for external recipients; needs the user's setting. */
  track?: { opens?: boolean | undefined; clicks?: boolean | undefined } | undefined;
  /** Send later (ISO instant, in the future, within a year): stored now, taken by the outbox from then. */
  sendAt?: string | undefined;
  /** A follow-up reminder if no reply comes within this many days of the message leaving. */
  remindIfNoReplyDays?: number | undefined;
  // Sequences (issue 17, S1) — internal only, never in the public POST /api/messages body:
  /** A chosen Message-ID (without brackets): a sequence step's is deterministic, so a retry finds it stored. */
  messageId?: string | undefined;
  /** Extra header fields (List-Unsubscribe, List-Unsubscribe-Post). */
  headers?: Record<string, string> | undefined;
}

export interface QueueDeps {
  db: Db;
  blobs: BlobStore;
  bccDomain: string;
  /** Parses the composed bytes (the parse pool); default parseMessage in this thread. */
  parse?: (raw: Buffer) => Promise<ParsedMessage>;
  /** Told that a row was queued. */
  outbox: { kick(): void };
  /** PUBLIC_URL: the host of tracking pixels and link redirects (issue 15). */
  publicUrl?: string;
}

export interface SendError {
  code: 'SEND_FAILED' | 'SENDER_NOT_VERIFIED';
  message: string;
  /** Why, as a text code with parameters for the user's language (absent for rows failed before migration 0015). */
  reason?: { code: SendReasonCode; params: TextParams };
}

/**
 * The answer to POST /api/messages (its schema is the contract): the stored message without what only a parsed
 * arrival has (a parse error, inline parts), and how far sending got.
 */
export type SentMessage = Omit<MessageDetail, 'parseError' | 'attachments'> & {
  attachments: Array<{ id: string; filename: string | null; contentType: string; size: number }>;
  sendStatus: SendStatus;
  sendError?: SendError;
  sendAt?: string | null;
  reminder?: { id: string; dueAt: string };
};

export interface SendStatusView {
  /** The CRM message id. */
  id: string;
  sendStatus: SendStatus;
  sendError?: SendError;
  attempts: number;
  nextAttemptAt: string | null;
  sentAt: string | null;
  /** The copy in the mailbox's Sent folder: pending, appended, skipped (see detail) or failed; null before sending. */
  sentFolder: {
    status: 'pending' | 'appended' | 'skipped' | 'failed' | null;
    detail: string | null;
    detailCode: SentFolderTextCode | null;
    detailParams: TextParams;
  };
  /** When a scheduled message leaves; null for one sent as soon as possible. */
  sendAt: string | null;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const CONTENT_TYPE = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/i;

function recipients(list: string[] | undefined, field: 'to' | 'cc' | 'bcc', issues: FieldIssue[]): OutgoingAddress[] {
  const out: OutgoingAddress[] = [];
  (list ?? []).forEach((raw, index) => {
    const parsed = parseRecipient(raw);
    if (parsed) out.push(parsed);
    else issues.push({ path: `body.${field}.${index}`, message: `"${raw.slice(0, 100)}" is not an e-mail address` });
  });
  return out;
}

function decodeAttachments(input: SendInput['attachments'], issues: FieldIssue[]): OutgoingAttachment[] {
  const out: OutgoingAttachment[] = [];
  (input ?? []).forEach((a, index) => {
    const base64 = a.contentBase64.replace(/\s+/g, '');
    if (base64.length % 4 !== 0 || !BASE64.test(base64)) {
      issues.push({ path: `body.attachments.${index}.contentBase64`, message: 'not base64' });
      return;
    }
    if (!CONTENT_TYPE.test(a.contentType.trim())) {
      issues.push({ path: `body.attachments.${index}.contentType`, message: 'not a MIME type (type/subtype)' });
      return;
    }
    const filename = a.filename.replace(/[\u0000-\u001f\u007f/\\]+/g, '_').trim();
    if (!filename) {
      issues.push({ path: `body.attachments.${index}.filename`, message: 'empty' });
      return;
    }
    out.push({ filename, contentType: a.contentType.trim().toLowerCase(), content: Buffer.from(base64, 'base64') });
  });
  return out;
}

function validation(issues: FieldIssue[]): AppError {
  return new AppError(
    'VALIDATION_FAILED',
    `Invalid request body: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { fields: issues },
  );
}

async function sendingAccount(db: Db, user: User, accountId: string): Promise<EmailAccountsTable> {
  // Only the caller's own mailbox sends as the caller: an admin cannot send from someone else's.
  const account = await db
    .selectFrom('email_accounts')
    .selectAll()
    .where('id', '=', accountId)
    .where('org_id', '=', user.orgId)
    .executeTakeFirst();
  if (!account || !mayOnMailbox(user, account, 'use'))
    throw new AppError('NOT_FOUND', 'E-mail account not found', {
      fields: [{ path: 'body.accountId', message: 'not one of your e-mail accounts' }],
    });
  if (account.paused === 1) {
    // Its owner is deactivated (0009): the outbox would hold the message forever, so it is refused here.
    throw new AppError('CONFLICT', `${account.email} is paused because its owner is deactivated`, {
      details: { accountId: account.id },
    });
  }
  if (account.status === 'needs_reconnect') {
    throw new AppError('AUTH_FAILED', `${account.email} must be reconnected before it can send`, {
      hint: 'Edit the account and enter its credentials again (or sign in with the provider again), then send.',
      details: { accountId: account.id },
    });
  }
  // Through the company relay only as a proven address: refused before anything is stored or queued.
  if (account.smtp_mode === 'app') assertRelayMayUse(account);
  return account;
}

interface Parent {
  messageId: string;
  references: string[];
  subject: string | null;
}

async function parentOf(db: Db, user: User, id: string): Promise<Parent> {
  // getMessage applies the visibility rule: a message the caller may not read cannot be answered either.
  const notFound = () =>
    new AppError('VALIDATION_FAILED', 'The message answered was not found', {
      fields: [{ path: 'body.inReplyTo', message: 'no such message' }],
    });
  try {
    await getMessage(db, user, id);
  } catch (error) {
    if (error instanceof AppError && error.code === 'NOT_FOUND') throw notFound();
    throw error;
  }
  const row = await db
    .selectFrom('messages')
    .select(['message_id_header', 'references_json', 'subject'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  if (!row.message_id_header) {
    throw new AppError(
      'VALIDATION_FAILED',
      'The message answered has no Message-ID, so a reply could not be threaded with it',
      {
        fields: [{ path: 'body.inReplyTo', message: 'message without a Message-ID' }],
        hint: 'Send it as a new message instead.',
      },
    );
  }
  return {
    messageId: row.message_id_header,
    references: parseMessageIdList(row.references_json ? (JSON.parse(row.references_json) as string[]) : []),
    subject: row.subject,
  };
}

/** Creates a contact for each new recipient when the user's automatic contact creation is on (product.md §3). */
async function autoCreateContacts(
  deps: QueueDeps,
  user: User,
  participants: MessageToStore['participants'],
): Promise<void> {
  const settings = await getUserSettings(deps.db, user.id);
  if (!settings.autoCreateContacts) return;
  const existing = await contactsByAddress(
    deps.db,
    user.orgId,
    participants.map((p) => p.address),
  );
  const fresh = addressesToAutoCreate({
    direction: 'outgoing',
    participants,
    ownAddresses: [...(await organisationAddresses(deps.db, user.orgId, deps.bccDomain))],
    existingContactAddresses: new Set(existing.keys()),
    neverLog: parseNeverLogList(settings.neverLog),
    machineMessage: false,
  });
  await ensureContacts(deps.db, user.orgId, fresh, 'auto-email');
}

/**
 * Issue 15 (H3): whether this message is tracked, and for whom. Only when the message asks and the user opted in
 * (asking while the setting is off is refused, so nobody believes they track when they do not), only for HTML
 * mail, and only for recipients outside the organisation; null when nothing is to be tracked.
 */
async function trackingPlan(
  deps: QueueDeps,
  user: User,
  input: SendInput,
  senderAddress: string,
  recipients: OutgoingAddress[],
): Promise<{ options: { publicUrl: string; opens: boolean; clicks: boolean }; external: string[] } | null> {
  const opens = input.track?.opens === true;
  const clicks = input.track?.clicks === true;
  if (!opens && !clicks) return null;
  const settings = await getUserSettings(deps.db, user.id);
  if (!settings.trackingEnabled) {
    throw new AppError('TRACKING_OFF', 'Tracking is off in your settings, so this message cannot be tracked', {
      hint: 'Turn tracking on in your profile, or send the message without tracking.',
      fields: [{ path: 'body.track', message: 'tracking is off in your settings' }],
    });
  }
  if (typeof input.html !== 'string' || !deps.publicUrl) return null;
  const external = externalRecipients(
    recipients.map((r) => r.address),
    {
      organisationAddresses: await organisationAddresses(deps.db, user.orgId, deps.bccDomain),
      senderAddress,
    },
  );
  if (external.length === 0) return null;
  return { options: { publicUrl: deps.publicUrl, opens, clicks }, external };
}

/** Validates, composes, stores and queues; answers the stored message with its send status. */
export async function queueMessage(deps: QueueDeps, user: User, input: SendInput): Promise<SentMessage> {
  const issues: FieldIssue[] = [];
  const to = recipients(input.to, 'to', issues);
  const cc = recipients(input.cc, 'cc', issues);
  const bcc = recipients(input.bcc, 'bcc', issues);
  if (issues.length === 0 && to.length + cc.length + bcc.length === 0)
    issues.push({ path: 'body.to', message: 'at least one recipient is needed' });
  if (to.length + cc.length + bcc.length > MAX_RECIPIENTS)
    issues.push({ path: 'body.to', message: `at most ${MAX_RECIPIENTS} recipients (To, Cc and Bcc together)` });
  const attachments = decodeAttachments(input.attachments, issues);
  if (issues.length > 0) throw validation(issues);
  const attachmentBytes = attachments.reduce((sum, a) => sum + a.content.length, 0);
  if (attachmentBytes > MAX_ATTACHMENT_BYTES) {
    throw new AppError(
      'PAYLOAD_TOO_LARGE',
      `The attachments come to ${(attachmentBytes / 1048576).toFixed(1)} MB; at most ${MAX_ATTACHMENT_BYTES / 1048576} MB can be sent`,
      {
        fields: [{ path: 'body.attachments', message: `more than ${MAX_ATTACHMENT_BYTES / 1048576} MB in all` }],
        hint: 'Share large files as a link instead.',
      },
    );
  }

  // Templates and merge fields (issue 15): a field without value or fallback refuses the message here, unqueued.
  input = await applyMergeFields(deps.db, user, input);
  // Send later: refused before anything is stored when the time is past or too far.
  const sendAt = input.sendAt === undefined ? null : checkSendAt(input.sendAt, Date.now());

  const account = await sendingAccount(deps.db, user, input.accountId);
  const tracking = await trackingPlan(deps, user, input, account.email, [...to, ...cc, ...bcc]);
  const parent = input.inReplyTo ? await parentOf(deps.db, user, input.inReplyTo) : null;
  const subject = parent ? replySubject(input.subject?.trim() || parent.subject || '') : (input.subject ?? '');
  const sender = await deps.db.selectFrom('users').select('display_name').where('id', '=', user.id).executeTakeFirst();
  const messageId = input.messageId ?? newMessageId(account.email);
  // Whole seconds: the Date header has no more, and the stored date must equal it. A scheduled message is dated
  // for its time here and re-dated by the outbox to the moment it really leaves.
  const date = new Date(Math.floor((sendAt ?? Date.now()) / 1000) * 1000);

  const composeInput = {
    messageId,
    date,
    from: { address: account.email, name: sender?.display_name?.trim() || null },
    to,
    cc,
    subject,
    text: input.text ?? null,
    html: input.html ?? null,
    inReplyTo: parent?.messageId ?? null,
    references: parent ? replyReferences(parent.references, parent.messageId) : [],
    attachments,
    headers: input.headers,
  };
  const raw = await composeMessage(composeInput);
  // The copy for external recipients: the same message (same Message-ID and Date) with its links through the
  // tracking host and a pixel; stored as a blob of its own, never as the CRM's or the Sent folder's copy.
  const trackedCopy =
    tracking && typeof input.html === 'string'
      ? (() => {
          const token = newTrackingToken();
          const rewritten = trackedHtml(input.html, { ...tracking.options, token });
          return { token, links: rewritten.links, html: rewritten.html };
        })()
      : null;
  const trackedBlob = trackedCopy
    ? await deps.blobs.put(
        await composeMessage({
          ...composeInput,
          html: trackedCopy.html,
          // The text part is the untracked copy's: written from the original HTML, real URLs, no redirects.
          text: composeInput.text ?? htmlToTextAlternative(composeInput.html ?? ''),
        }),
      )
    : null;
  const parsed = await (deps.parse ?? parseMessage)(raw);

  // Bcc is not in the bytes (the other recipients must not see it) but it is a participant of the message.
  const computed = participantsOfParsed(parsed, bcc);
  await autoCreateContacts(deps, user, computed.participants);

  const normalizedId = normalizeMessageId(parsed.messageId) ?? normalizeMessageId(messageId);
  const toStore = messageFromParsed({
    raw,
    parsed,
    source: 'crm',
    direction: 'outgoing',
    messageId: normalizedId,
    fallbackDate: date.getTime(),
    participants: computed,
  });
  const now = Date.now();
  let storedId: string | null = null;
  // Written inside the store transaction's callback (TypeScript does not follow assignments made in a closure).
  const made: { reminder?: { id: string; dueAt: string } } = {};
  const [stored] = await storeMessages(
    deps.db,
    {
      orgId: user.orgId,
      ownerUserId: user.id,
      shared: account.visibility !== 'private',
      accountId: account.id,
      blobs: deps.blobs,
    },
    [toStore],
    // Runs inside the store transaction: the message and its outbox row exist together or not at all.
    async (trx, rows) => {
      const row = rows[0];
      if (!row?.created) return;
      storedId = row.id;
      await insertOutboxRow(trx, {
        messageId: row.id,
        accountId: account.id,
        now,
        sendAt,
        trackedRawSha256: trackedBlob?.sha256 ?? null,
        trackedRecipients: trackedBlob && tracking ? tracking.external : null,
      });
      if (trackedBlob && trackedCopy && tracking) {
        await trx
          .insertInto('blobs')
          .values({ sha256: trackedBlob.sha256, size: trackedBlob.size, created_at: now })
          .onConflict((oc) => oc.column('sha256').doNothing())
          .execute();
        await insertTrackedMessage(trx, {
          messageId: row.id,
          orgId: user.orgId,
          userId: user.id,
          token: trackedCopy.token,
          opens: tracking.options.opens,
          clicks: tracking.options.clicks,
          links: trackedCopy.links,
          now,
        });
      }
      if (input.remindIfNoReplyDays !== undefined) {
        const thread = await trx.selectFrom('messages').select('thread_id').where('id', '=', row.id).executeTakeFirst();
        const plannedAt = sendAt ?? now;
        const id = await insertReminder(trx, {
          orgId: user.orgId,
          userId: user.id,
          messageId: row.id,
          threadId: thread?.thread_id ?? null,
          days: input.remindIfNoReplyDays,
          plannedAt,
          now,
        });
        made.reminder = { id, dueAt: new Date(plannedAt + input.remindIfNoReplyDays * DAY_MS).toISOString() };
      }
    },
  );
  // A fresh UUID Message-ID cannot already be stored; if it somehow were, the outbox would send the old bytes.
  if (!stored?.created || storedId === null)
    throw new AppError('CONFLICT', 'A message with this Message-ID is already stored');
  deps.outbox.kick();
  const { parseError: _parseError, attachments: parts, ...message } = await getMessage(deps.db, user, storedId);
  const status = await sendStatusFor(deps.db, user, storedId);
  return {
    ...message,
    attachments: parts.map(({ id, filename, contentType, size }) => ({ id, filename, contentType, size })),
    sendStatus: status.sendStatus,
    ...(status.sendError ? { sendError: status.sendError } : {}),
    sendAt: status.sendAt,
    ...(made.reminder ? { reminder: made.reminder } : {}),
  };
}

/** The send status of a message written in the CRM; 404 for a message the caller cannot read or did not send here. */
export async function sendStatusFor(db: Db, user: User, messageId: string): Promise<SendStatusView> {
  await getMessage(db, user, messageId);
  const row = await db
    .selectFrom('outbox')
    .selectAll()
    .where('message_id', '=', messageId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', 'This message was not sent from Conversa, so it has no send status');
  const iso = (ms: number | null) => (ms === null ? null : new Date(Number(ms)).toISOString());
  return {
    id: messageId,
    sendStatus: row.state,
    ...(row.last_error
      ? {
          sendError: {
            code:
              row.last_error_code === 'SENDER_NOT_VERIFIED'
                ? ('SENDER_NOT_VERIFIED' as const)
                : ('SEND_FAILED' as const),
            message: row.last_error,
            ...reasonOf(row.last_error_reason_code, row.last_error_params_json),
          },
        }
      : {}),
    attempts: row.attempts,
    nextAttemptAt: row.state === 'queued' ? iso(row.next_attempt_at) : null,
    sentAt: iso(row.sent_at),
    sentFolder: {
      status: row.append_state,
      detail: row.append_detail,
      detailCode: row.append_detail === null ? null : sentFolderTextCode(row.append_detail_code),
      detailParams: row.append_detail === null ? {} : paramsFromJson(row.append_detail_params_json),
    },
    sendAt: row.send_at == null ? null : iso(row.send_at),
  };
}

/** The stored reason code and parameters, when this version knows the code. */
function reasonOf(code: string | null | undefined, paramsJson: string | null | undefined): Pick<SendError, 'reason'> {
  const known = sendReasonCode(code);
  return known ? { reason: { code: known, params: paramsFromJson(paramsJson) } } : {};
}
