// Sending mail from the CRM (new mail and replies), its send status, and the account's choice of SMTP server.
//
// Wiring (the composition root; nothing else needs to know these parts):
//   src/app/config.ts      Config gains `appSmtp: AppSmtpConfig | null` = loadAppSmtpConfig(env)
//                          (src/mail/send/smtp-settings.ts) and `dkim` = loadDkimConfig(env) (src/mail/send/dkim.ts).
//   src/http/build-server.ts
//                          ServerDeps gains `send?: Omit<SendRouteDeps, 'db' | 'blobs'>`, and after messageRoutes:
//                            if (deps.send && deps.blobs) sendRoutes(router, { ...deps.send, db: deps.db, blobs:
// deps.blobs });
//                          (POST /api/messages sets its own bodyLimit, SEND_BODY_LIMIT ≈ 42 MB; nothing else to
// change.)
//   src/app/start-server.ts
//                          let outbox: Outbox | undefined;
//                          buildServer({ …, send: {
//                              secrets, bccDomain: config.bccDomain, appSmtp: config.appSmtp,
//                              parse: (raw) => parsePool.parse(raw),
//                              outbox: { kick: () => outbox?.kick() },
//                              ...(options.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}) }
// });
//                          outbox = createOutbox({ db: storage.db, secrets, blobs, oauth: config.oauth,
//                              log: app.log.child({ component: 'outbox' }), appSmtp: config.appSmtp, dkim: config.dkim,
//                              ...(options.backoffBaseMs !== undefined ? { backoffBaseMs: options.backoffBaseMs } :
// {}),
//                              ...(options.backoffMaxMs !== undefined ? { backoffMaxMs: options.backoffMaxMs } : {}),
//                              ...(options.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}) });
//                          after app.listen(…): outbox.start();
//                          stop(): `await outbox.stop()` after app.close() and before storage.close();
//                          RunningServer gains `outbox: Outbox` (tests stop/restart it to simulate a crash).
//   `conversa worker`      runs createOutbox(…).start() too (sending is background work).
import { z } from 'zod';
import { recordAudit } from '../../audit/audit-log.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import type { ParsedMessage } from '../../mail/mime/parse-message.js';
import { MAX_BODY_CHARS, queueMessage, SEND_BODY_LIMIT, sendStatusFor } from '../../mail/send/queue-message.js';
import { getSmtpSettings, putSmtpSettings, type AppSmtpConfig } from '../../mail/send/smtp-settings.js';
import { MAX_REMINDER_DAYS, MIN_REMINDER_DAYS } from '../../mail/send/follow-up-reminders.js';
import type { ApiRouter } from '../api-router.js';
import type { OutboundPolicy } from '../../net/outbound-policy.js';
import { sendProgressSchema, sentMessageSchema, smtpModeSchema, smtpSettingsSchema } from '../api-schemas.js';
import { idParams } from './schemas.js';

export interface SendRouteDeps {
  db: Db;
  blobs: BlobStore;
  secrets: SecretBox;
  bccDomain: string;
  appSmtp: AppSmtpConfig | null;
  /** The outbox worker, told when a message is queued. */
  outbox: { kick(): void };
  /** The parse pool; default: parse in this thread. */
  parse?: (raw: Buffer) => Promise<ParsedMessage>;
  /** Tests only: custom SMTP servers with self-signed certificates. */
  tlsRejectUnauthorized?: boolean;
  /** Where a custom SMTP server may be (CONVERSA_ALLOWED_HOSTS). */
  outbound: OutboundPolicy;
  /** PUBLIC_URL: the tracking host (issue 15). */
  publicUrl?: string;
}

const addressList = z.array(z.string().min(3).max(500)).max(100);

const sendBody = z.strictObject({
  accountId: z.string().uuid('not a valid id'),
  to: addressList,
  cc: addressList.optional(),
  bcc: addressList.optional(),
  subject: z
    .string()
    .max(998)
    .optional()
    .describe('Required for new mail; a reply without one answers "Re: <the original subject>"'),
  text: z.string().max(MAX_BODY_CHARS).optional(),
  html: z
    .string()
    .max(MAX_BODY_CHARS)
    .optional()
    .describe('Sent as written; the copy shown in the CRM is sanitised like synced mail'),
  inReplyTo: z.string().uuid('not a valid message id').optional().describe('The id of the CRM message answered'),
  attachments: z
    .array(
      z.strictObject({
        filename: z.string().min(1).max(255),
        contentType: z.string().min(3).max(255),
        contentBase64: z.string(),
      }),
    )
    .max(50)
    .optional()
    .describe('At most 25 MB in all'),
  // Issue 15, templates (H1).
  templateId: z
    .string()
    .uuid('not a valid id')
    .optional()
    .describe('Subject and html come from this template unless given (a reply keeps its own subject)'),
  contactId: z
    .string()
    .uuid('not a valid id')
    .optional()
    .describe('Whose values fill the merge fields; default: the contact of the first To address'),
  // Issue 15, tracking (H3).
  track: z
    .strictObject({ opens: z.boolean().optional(), clicks: z.boolean().optional() })
    .optional()
    .describe(
      'Track opens (a pixel) and clicks (link redirects) of the copy sent to recipients outside the organisation; HTML mail only; 422 TRACKING_OFF when your tracking setting is off',
    ),
  // Send later and follow-up reminders (issue 15).
  sendAt: z
    .string()
    .datetime({ offset: true, message: 'not an ISO 8601 instant' })
    .optional()
    .describe('Send later: an instant in the future, at most a year ahead (else 422 SEND_AT_PAST / SEND_AT_TOO_FAR)'),
  remindIfNoReplyDays: z
    .number()
    .int()
    .min(MIN_REMINDER_DAYS)
    .max(MAX_REMINDER_DAYS)
    .optional()
    .describe('A follow-up reminder when no reply comes in the thread within this many days of the message leaving'),
});

const smtpMode = smtpModeSchema;

const smtpBody = z.strictObject({
  mode: smtpMode,
  host: z.string().min(1).max(253).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  secure: z.boolean().optional(),
  username: z.string().min(1).max(320).optional(),
  password: z.string().min(1).max(4096).optional(),
});

export function sendRoutes(router: ApiRouter, deps: SendRouteDeps): void {
  router.route({
    method: 'POST',
    path: '/api/messages',
    summary: 'Send mail (new or a reply) from one of your mailboxes; stored and queued at once, sent by the outbox',
    tag: 'messages',
    auth: 'user',
    status: 201,
    body: sendBody,
    bodyLimit: SEND_BODY_LIMIT,
    responses: {
      201: { description: 'Stored and queued; sendStatus tells how far sending got', schema: sentMessageSchema },
    },
    handler: ({ user, body }) => queueMessage(deps, user, body),
  });

  router.route({
    method: 'GET',
    path: '/api/messages/:id/send-status',
    summary:
      'How sending a message written in the CRM went: queued, sending, sent or failed (SEND_FAILED with the reason), and its Sent-folder copy',
    tag: 'messages',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The send status', schema: sendProgressSchema } },
    handler: ({ user, params }) => sendStatusFor(deps.db, user, params.id),
  });

  router.route({
    method: 'GET',
    path: '/api/email-accounts/:id/smtp',
    summary: "Which SMTP server sends this account's mail (never a password)",
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The choice', schema: smtpSettingsSchema } },
    handler: ({ user, params }) => getSmtpSettings(deps, user, params.id),
  });

  router.route({
    method: 'PUT',
    path: '/api/email-accounts/:id/smtp',
    summary:
      "Choose the sending server: the mailbox's own (default), the application's relay, or a custom one (tested first)",
    tag: 'email-accounts',
    auth: 'user',
    params: idParams,
    body: smtpBody,
    responses: { 200: { description: 'Saved', schema: smtpSettingsSchema } },
    handler: async ({ user, params, body, request }) => {
      const saved = await putSmtpSettings(deps, user, params.id, body);
      // The choice and the server, never the password.
      await recordAudit(deps.db, {
        orgId: user.orgId,
        actorId: user.id,
        action: 'mailbox.smtp_mode',
        target: `mailbox:${params.id}`,
        details: { mode: saved.mode, ...(saved.host ? { host: saved.host, port: saved.port } : {}) },
        ip: request.ip,
      });
      return saved;
    },
  });
}
