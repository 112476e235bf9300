// Every answer of the API as a zod schema: the one statement of a response's shape. The routes declare them (so
// handlers are type-checked against them and answers checked in tests), the OpenAPI document is generated from them,
// and the web app reads their types (api-types.ts). This module imports zod only, so the web app can type-check it.
// Response schemas never transform: what a handler returns is what goes on the wire (input = output).
import { z } from 'zod';

// --- localised server texts (issue 15, H6) ---
// A sentence the server writes for a person comes with a stable code and parameters beside its English, so the web
// app says it in the user's language (`server.<code>` in its dictionaries; the English when a code is unknown).
// The code lists repeat the producers' `as const` lists (named on each); test/core/server-texts.test.ts keeps them
// equal and every code translated.

export const textParamsSchema = z.record(z.string(), z.union([z.string(), z.number()]));

/** src/mail/connection/mail-errors.ts MAIL_TEXT_CODES: why a connection to a mail server failed. */
export const mailTextCodes = [
  'MAIL_CERT_EXPIRED',
  'MAIL_CERT_WRONG_NAME',
  'MAIL_CERT_SELF_SIGNED',
  'MAIL_CERT_UNTRUSTED',
  'MAIL_TLS_REQUIRED',
  'MAIL_TLS_PORT_MISMATCH',
  'MAIL_TLS_FAILED',
  'MAIL_AUTH_NOT_OFFERED',
  'MAIL_AUTH_UNAVAILABLE',
  'MAIL_OAUTH_REFUSED',
  'MAIL_AUTH_REFUSED',
  'MAIL_HOST_NOT_FOUND',
  'MAIL_CONNECTION_REFUSED',
  'MAIL_NO_ROUTE',
  'MAIL_NO_GREETING',
  'MAIL_PLAIN_ON_TLS_PORT',
  'MAIL_CONNECT_TIMEOUT',
  'MAIL_ANSWER_TIMEOUT',
  'MAIL_CONNECTION_DROPPED',
  'MAIL_NOT_A_MAIL_SERVER',
  'MAIL_CONNECTION_CLOSED',
  'MAIL_UNEXPECTED',
] as const;

/** src/contacts/import-texts.ts IMPORT_TEXT_CODES: why a line of a contacts import was skipped. */
export const importTextCodes = [
  'CSV_QUOTE_NOT_CLOSED',
  'CSV_TEXT_AFTER_QUOTE',
  'CSV_QUOTE_IN_FIELD',
  'IMPORT_TOO_MANY_FIELDS',
  'IMPORT_TOO_MANY_EMAILS',
  'IMPORT_EMAIL_TOO_LONG',
  'IMPORT_FIELD_TOO_LONG',
  'IMPORT_NO_EMAIL',
  'IMPORT_NOT_AN_EMAIL',
  'IMPORT_DUPLICATE_IN_FILE',
  'IMPORT_EMAIL_TAKEN',
  'IMPORT_EMAIL_JUST_TAKEN',
  // Data-subject rights (issue 19, A4).
  'IMPORT_EMAIL_ERASED',
] as const;

/** src/mail/connection/mail-errors.ts MAIL_HINT_CODES: what to do about a refused sign-in. */
export const mailHintCodes = [
  'MAIL_HINT_SIGN_IN_AGAIN',
  'MAIL_HINT_APP_PASSWORD_WITH_2FA',
  'MAIL_HINT_APP_PASSWORD_ONLY',
  'MAIL_HINT_APP_PASSWORD_MAYBE',
] as const;

/** src/mail/accounts/account-status.ts SYNC_TEXT_CODES: the mail sync's own status details. */
export const syncTextCodes = [
  'SYNC_PASSWORD_REFUSED',
  'SYNC_ACCESS_REVOKED',
  'SYNC_OAUTH_NOT_CONFIGURED',
  'SYNC_OAUTH_FAILED',
  'SYNC_HOST_NOT_ALLOWED',
  'SYNC_SERVER_KEEPS_CLOSING',
  'SYNC_FAILED',
] as const;

/** src/mail/accounts/account-status.ts CALENDAR_TEXT_CODES: the calendar sync's status details. */
export const calendarTextCodes = [
  'CALENDAR_AUTH_FAILED',
  'CALENDAR_ACCESS_REVOKED',
  'CALENDAR_NOT_AVAILABLE',
  'CALENDAR_FAILED',
  'CALENDAR_NEEDS_PROVIDER_SIGNIN',
  'CALENDAR_NO_SERVICE',
  'CALENDAR_PARTIAL',
] as const;

/** src/mail/send/send-texts.ts SEND_TEXT_CODES: why a message was not sent (or not to everyone). */
export const sendTextCodes = [
  'SEND_REJECTED',
  'SEND_DEFERRED',
  'SEND_PARTIALLY_REJECTED',
  'SEND_RELAY_MISSING',
  'SEND_SENDER_NOT_VERIFIED',
  'SEND_CUSTOM_SMTP_MISSING',
  'SEND_HOST_NOT_ALLOWED',
  'SEND_MESSAGE_GONE',
  'SEND_NO_RECIPIENTS',
  'SEND_INTERNAL',
] as const;

/** src/mail/send/send-texts.ts SENT_COPY_TEXT_CODES: where the copy in the Sent folder went. */
export const sentCopyTextCodes = [
  'SENT_COPY_BY_PROVIDER',
  'SENT_COPY_FILED',
  'SENT_COPY_ALREADY_THERE',
  'SENT_COPY_NO_FOLDER',
  'SENT_COPY_GONE',
] as const;

/** src/mail/send/deliverability-texts.ts DELIVERABILITY_TEXT_CODES: the fixes of the deliverability checks. */
export const deliverabilityTextCodes = [
  'DELIV_SPF_MISSING',
  'DELIV_SPF_NOT_AUTHORISED',
  'DELIV_SPF_MULTIPLE_RECORDS',
  'DELIV_SPF_BROKEN',
  'DELIV_SPF_TOO_MANY_LOOKUPS',
  'DELIV_SPF_TOO_MANY_VOID_LOOKUPS',
  'DELIV_SPF_LOOKUP_FAILED',
  'DELIV_SPF_HOST_NOT_FOUND',
  'DELIV_DKIM_MISSING',
  'DELIV_DKIM_MISSING_CNAME',
  'DELIV_DKIM_UNKNOWN',
  'DELIV_DKIM_REVOKED',
  'DELIV_DKIM_INVALID',
  'DELIV_DKIM_NOT_DKIM',
  'DELIV_DKIM_SEVERAL',
  'DELIV_DKIM_NO_KEY',
  'DELIV_DKIM_BAD_VERSION',
  'DELIV_DKIM_BAD_KEY',
  'DELIV_DKIM_UNKNOWN_KEY_TYPE',
  'DELIV_DKIM_SHORT_KEY',
  'DELIV_DKIM_LOOKUP_FAILED',
  'DELIV_DKIM_SETUP_GOOGLE',
  'DELIV_DKIM_SETUP_MICROSOFT',
  'DELIV_DKIM_SETUP_ZOHO',
  'DELIV_DKIM_SETUP_FASTMAIL',
  'DELIV_DKIM_SETUP_ICLOUD',
  'DELIV_DKIM_SETUP_GENERIC',
  'DELIV_DMARC_MISSING',
  'DELIV_DMARC_WEAK',
  'DELIV_DMARC_INVALID_POLICY',
  'DELIV_DMARC_LOOKUP_FAILED',
] as const;

export const importTextCodeSchema = z.enum(importTextCodes);
export const mailTextCodeSchema = z.enum(mailTextCodes);
export const mailHintCodeSchema = z.enum(mailHintCodes);
/** An account's statusDetail and lastError: a sync text or a connection failure. */
export const statusTextCodeSchema = z.enum([...syncTextCodes, ...mailTextCodes]);
export const calendarTextCodeSchema = z.enum(calendarTextCodes);
/** Why a send failed: a send text or a connection failure on the way. */
export const sendReasonCodeSchema = z.enum([...sendTextCodes, ...mailTextCodes]);
export const sentFolderTextCodeSchema = z.enum([...sentCopyTextCodes, ...mailTextCodes]);
export const deliverabilityTextCodeSchema = z.enum(deliverabilityTextCodes);

/** Every server text code, for the dictionaries' test. */
export const serverTextCodes = [
  ...importTextCodes,
  ...mailTextCodes,
  ...mailHintCodes,
  ...syncTextCodes,
  ...calendarTextCodes,
  ...sendTextCodes,
  ...sentCopyTextCodes,
  ...deliverabilityTextCodes,
] as const;

/** Every non-2xx answer (contract.md): a stable code, a message, and sometimes a hint and the offending fields. */
export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    /** A failed mailbox connection test: the message as a text code and parameters, for the user's language. */
    detail: z.object({ code: mailTextCodeSchema, params: textParamsSchema }).optional(),
    /** Its hint likewise. */
    hintDetail: z.object({ code: mailHintCodeSchema, params: textParamsSchema }).optional(),
  }),
});

export const healthSchema = z.object({ ok: z.literal(true) });

// --- users, settings, tokens ---

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  displayName: z.string().nullable(),
  isAdmin: z.boolean(),
  createdAt: z.string(),
});

export const loginSchema = z.object({ user: userSchema });

// Team (issue 14; contract.md "Additions"): setup, users and roles, invitations.
export const setupStateSchema = z.object({ needsSetup: z.boolean() });

export const roleSchema = z.enum(['admin', 'member']);

/** A user as an administrator sees them in Settings › Users. */
export const teamUserSchema = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string().nullable(),
  role: roleSchema,
  active: z.boolean(),
  /** Invited and not accepted yet (active is then false); absent is read as false. */
  pending: z.boolean().optional(),
  createdAt: z.string(),
});

export const teamUserListSchema = z.object({ items: z.array(teamUserSchema) });

/** An invitation just made: the link is shown once to the admin (and mailed when the relay is set). */
export const invitationSchema = z.object({
  user: teamUserSchema,
  inviteUrl: z.string(),
  expiresAt: z.string(),
  mailed: z.boolean(),
});

/** What the invitation page shows before the invitee chooses a password (GET /api/invites/:token). */
export const invitationInfoSchema = z.object({
  email: z.string(),
  orgName: z.string(),
  expiresAt: z.string(),
  name: z.string().nullable(),
});

export const localeSchema = z.enum(['en', 'pt-BR']);

export const settingsSchema = z.object({
  autoCreateContacts: z.boolean(),
  locale: localeSchema,
  neverLog: z
    .array(z.string().min(1).max(320))
    .max(1000)
    .describe('addresses (boss@x.com) and domains (@bank.com, bank.com) whose mail is never stored'),
  // Issue 15, tracking (H3).
  trackingEnabled: z
    .boolean()
    .describe(
      'Open and click tracking of mail you send to people outside the organisation, when a message asks (track)',
    ),
});

export const planSchema = z.enum(['growth', 'pro', 'enterprise']);

export const orgSchema = z.object({ id: z.string(), name: z.string(), plan: planSchema });

export const tokenInfoSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
  expiresAt: z.string().nullable(),
});

export const tokenListSchema = z.object({ items: z.array(tokenInfoSchema) });

export const newTokenSchema = z.object({ id: z.string(), token: z.string(), expiresAt: z.string().nullable() });

// --- contacts ---

export const contactSchema = z.object({
  id: z.string(),
  firstName: z.string().nullable(),
  lastName: z.string().nullable(),
  company: z.string().nullable(),
  emails: z.array(z.string()),
  bouncedEmails: z.array(z.string()),
  source: z.enum(['manual', 'import', 'auto-email', 'auto-meeting']),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const contactPageSchema = z.object({ items: z.array(contactSchema), nextCursor: z.string().nullable() });

export const importResultSchema = z.object({
  created: z.number(),
  skipped: z.number(),
  errors: z.array(
    z.object({
      line: z.number(),
      message: z.string(),
      /** The reason as a code with parameters, for the user's language (localised server texts). */
      code: importTextCodeSchema,
      params: textParamsSchema,
    }),
  ),
});

// --- providers and mailboxes ---

export const endpointSchema = z.object({ host: z.string(), port: z.number().int(), secure: z.boolean() });

export const providerPresetSchema = z.object({
  id: z.string(),
  name: z.string(),
  auth: z.enum(['oauth2', 'password']),
  imap: endpointSchema,
  smtp: endpointSchema,
  domains: z.array(z.string()).describe('Address domains of this provider; `name.*` and `*.domain` are patterns'),
  appPassword: z
    .object({ requiredWith2fa: z.boolean(), instructionsUrl: z.string() })
    .nullable()
    .describe(
      'Set when mail programs need an app password: always (requiredWith2fa false) or once two-step verification is on',
    ),
  smtpSavesSent: z.boolean().describe('Whether mail sent over SMTP lands in the Sent folder by itself'),
  caldavUrl: z.string().nullable(),
  calendar: z.enum(['google', 'microsoft', 'caldav']).nullable(),
  help: z.string().optional(),
  oauth: z.enum(['google', 'microsoft-organizations', 'microsoft-consumers']).optional(),
});

export const providerListSchema = z.array(providerPresetSchema);

export const providerLookupSchema = providerPresetSchema.extend({
  matched: z.boolean().describe('false when the servers are only a guess'),
});

export const syncModeSchema = z.enum(['two-way', 'one-way']);

export const accountStatusSchema = z.enum(['connecting', 'syncing', 'active', 'needs_reconnect', 'error']);

export const accountSchema = z.object({
  id: z.string(),
  userId: z.string(),
  email: z.string(),
  provider: z.string(),
  authKind: z.enum(['password', 'oauth2']),
  username: z.string(),
  syncMode: syncModeSchema,
  status: accountStatusSchema,
  statusDetail: z.string().nullable(),
  statusDetailCode: statusTextCodeSchema.nullable().describe("statusDetail as a code, for the user's language"),
  statusDetailParams: textParamsSchema,
  nextRetryAt: z.string().nullable(),
  lastSyncedAt: z.string().nullable(),
  historyDays: z.number(),
  imap: z.object({ host: z.string(), port: z.number(), secure: z.boolean() }),
  smtp: z.object({ host: z.string(), port: z.number(), secure: z.boolean() }),
  caldavUrl: z.string().nullable(),
  bccAddress: z.string(),
  visibility: z.enum(['shared', 'private']),
  addressVerified: z
    .boolean()
    .describe('The address is proven (provider sign-in, or a mailed code): the company relay may send as it'),
  progress: z.object({ folder: z.string(), scanned: z.number(), total: z.number() }).nullable(),
  lastError: z
    .object({
      message: z.string(),
      code: statusTextCodeSchema.nullable(),
      params: textParamsSchema,
      at: z.string(),
    })
    .nullable(),
  setAside: z
    .object({
      count: z.number(),
      latest: z.array(
        z.object({ uid: z.number().nullable(), messageId: z.string().nullable(), reason: z.string(), at: z.string() }),
      ),
    })
    .describe('Mail that could not be stored, set aside with its reason; the rest of the mailbox went on'),
  // The calendar sync's own health; status null before its first pass.
  calendar: z.object({
    status: z.string().nullable(),
    detail: z.string().nullable(),
    detailCode: calendarTextCodeSchema.nullable(),
    detailParams: textParamsSchema,
    syncedAt: z.string().nullable(),
  }),
  // Signatures (issue 15, H5).
  signatureHtml: z
    .string()
    .nullable()
    .describe("The mailbox's signature, sanitised HTML; compose adds it to new mail and replies"),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const accountListSchema = z.object({ items: z.array(accountSchema) });

export const oauthStartSchema = z.object({ authorizeUrl: z.string() });

export const verificationSentSchema = z.object({ sent: z.literal(true), expiresAt: z.string() });

export const syncStartedSchema = z.object({
  accepted: z.boolean(),
  status: z.string(),
  // Issue 16 (live calendar): "Sync now" also asks the account's calendar; true when that was started or requested.
  calendarAccepted: z.boolean(),
});

const deliverabilityCheckSchema = z.object({
  status: z.string(),
  record: z.string().optional(),
  fix: z.string().optional(),
  fixCode: deliverabilityTextCodeSchema.optional(),
  fixParams: textParamsSchema.optional(),
});

export const deliverabilitySchema = z.object({
  domain: z.string(),
  spf: deliverabilityCheckSchema,
  dkim: deliverabilityCheckSchema.extend({ selector: z.string().optional() }),
  dmarc: deliverabilityCheckSchema.extend({ policy: z.string().optional() }),
});

export const smtpModeSchema = z.enum(['mailbox', 'app', 'custom']);

export const smtpSettingsSchema = z.object({
  mode: smtpModeSchema,
  host: z.string().optional(),
  port: z.number().optional(),
  secure: z.boolean().optional(),
  username: z.string().optional(),
  passwordSet: z.boolean().optional(),
  appAvailable: z.boolean(),
});

// --- messages ---

export const addressSchema = z.object({ address: z.string(), name: z.string().optional() });

/** Where a search found a message: `highlights` are [start, end) UTF-16 offsets into `snippet`. */
export const searchMatchSchema = z.object({
  snippet: z.string(),
  highlights: z.array(z.object({ start: z.number().int(), end: z.number().int() })),
});

export const messageSchema = z.object({
  id: z.string(),
  messageId: z.string().nullable(),
  threadId: z.string().nullable(),
  subject: z.string().nullable(),
  from: addressSchema.nullable(),
  to: z.array(addressSchema),
  cc: z.array(addressSchema),
  bcc: z.array(addressSchema),
  date: z.string(),
  direction: z.enum(['incoming', 'outgoing']),
  source: z.enum(['sync', 'crm', 'bcc']),
  snippet: z.string().nullable(),
  contactIds: z.array(z.string()),
  hasAttachments: z.boolean(),
  bounced: z.boolean(),
  // Issue 15, tracking (H3): present on tracked messages only.
  tracking: z
    .object({
      opens: z.number(),
      clicks: z.number(),
      replies: z.number(),
      automatedOpens: z.number(),
      automatedClicks: z.number(),
    })
    .optional()
    .describe('Opens and clicks by people, replies, and the opens and clicks judged automated (proxies, scanners)'),
  /** Read for the caller (issue 15): their own mailbox's \Seen flag, or their own mark on a colleague's shared mail. */
  read: z.boolean(),
  unread: z.boolean().describe('The opposite of `read`, kept for older clients'),
  // Issue 18: full-text search.
  match: searchMatchSchema
    .optional()
    .describe('With `q`: an excerpt (≤ 200 characters) around the first hit, and the hits in it'),
});

export const messagePageSchema = z.object({ items: z.array(messageSchema), nextCursor: z.string().nullable() });

export const attachmentSchema = z.object({
  id: z.string(),
  filename: z.string().nullable(),
  contentType: z.string(),
  size: z.number(),
  inline: z.boolean(),
  contentId: z.string().nullable(),
});

export const messageDetailSchema = messageSchema.extend({
  text: z.string().nullable(),
  html: z.string().nullable(),
  parseError: z.string().nullable(),
  attachments: z.array(attachmentSchema),
});

export const threadSchema = z.object({
  id: z.string(),
  subject: z.string().nullable(),
  messages: z.array(messageSchema),
});

// 'scheduled' (send later, issue 15): waiting for its sendAt; cancellable and reschedulable until a worker takes it.
export const sendStatusSchema = z.enum(['scheduled', 'queued', 'sending', 'sent', 'failed']);

const sendErrorSchema = z.object({
  code: z.enum(['SEND_FAILED', 'SENDER_NOT_VERIFIED']),
  message: z.string(),
  /** Why, as a text code and parameters; the sending server's own reply is the `reply` parameter, untranslated. */
  reason: z.object({ code: sendReasonCodeSchema, params: textParamsSchema }).optional(),
});

export const sentMessageSchema = messageSchema.extend({
  text: z.string().nullable(),
  html: z.string().nullable(),
  attachments: z.array(attachmentSchema.pick({ id: true, filename: true, contentType: true, size: true })),
  sendStatus: sendStatusSchema,
  sendError: sendErrorSchema.optional(),
  // Send later and follow-up reminders (issue 15).
  sendAt: z.string().nullable().optional().describe('When a scheduled message leaves (null: as soon as possible)'),
  reminder: z
    .object({ id: z.string(), dueAt: z.string() })
    .optional()
    .describe('The follow-up reminder made by remindIfNoReplyDays'),
});

export const sendProgressSchema = z.object({
  id: z.string(),
  sendStatus: sendStatusSchema,
  sendError: sendErrorSchema.optional(),
  attempts: z.number(),
  nextAttemptAt: z.string().nullable(),
  sentAt: z.string().nullable(),
  sentFolder: z.object({
    status: z.enum(['pending', 'appended', 'skipped', 'failed']).nullable(),
    detail: z.string().nullable(),
    detailCode: sentFolderTextCodeSchema.nullable(),
    detailParams: textParamsSchema,
  }),
  sendAt: z.string().nullable().optional().describe('When a scheduled message leaves (null: as soon as possible)'),
});

// --- send later and follow-up reminders (issue 15) ---

/** A message waiting for its time (GET /api/messages/scheduled). */
export const scheduledMessageSchema = z.object({
  id: z.string(),
  accountId: z.string(),
  subject: z.string().nullable(),
  to: z.array(addressSchema),
  sendAt: z.string(),
  threadId: z.string().nullable(),
  contactIds: z.array(z.string()),
});

export const scheduledListSchema = z.object({ items: z.array(scheduledMessageSchema) });

/** PATCH /api/messages/:id/schedule: the new time. */
export const rescheduledSchema = z.object({ id: z.string(), sendStatus: sendStatusSchema, sendAt: z.string() });

export const reminderStateSchema = z.enum(['waiting', 'due', 'done', 'cancelled']);

export const reminderSchema = z.object({
  id: z.string(),
  messageId: z.string().describe("The CRM message's id"),
  dueAt: z.string(),
  state: reminderStateSchema,
  subject: z.string().nullable(),
  threadId: z.string().nullable(),
  contactIds: z.array(z.string()),
  days: z.number(),
  sentAt: z.string().nullable().describe('When the message left; null while it waits in the outbox'),
  reason: z.enum(['replied', 'user', 'failed']).nullable(),
  replyMessageId: z.string().nullable().describe('The reply that closed it'),
});

export const reminderListSchema = z.object({ items: z.array(reminderSchema) });

// --- meetings and calendars ---

const personSchema = z.object({ address: z.string(), name: z.string().optional() });

export const meetingSchema = z.object({
  id: z.string(),
  title: z.string().nullable(),
  start: z.string(),
  end: z.string(),
  allDay: z.boolean(),
  location: z.string().optional(),
  description: z.string().optional(),
  organizer: personSchema.optional(),
  attendees: z.array(personSchema.extend({ status: z.string().optional(), kind: z.string().optional() })),
  contactIds: z.array(z.string()),
  status: z.string().nullable(),
  accountId: z.string().nullable(),
  calendarId: z.string().nullable(),
  uid: z.string(),
  recurrenceId: z.string(),
  editable: z.boolean(),
});

export const meetingListSchema = z.object({ items: z.array(meetingSchema) });

export const calendarSyncQueuedSchema = z.object({ queued: z.boolean() });

export const calendarHealthSchema = z.object({
  status: z.enum(['syncing', 'active', 'error', 'needs_reconnect', 'none']).nullable(),
  detail: z.string().nullable(),
  detailCode: calendarTextCodeSchema.nullable(),
  detailParams: textParamsSchema,
  syncedAt: z.string().nullable(),
  calendars: z.array(
    z.object({
      id: z.string(),
      url: z.string(),
      displayName: z.string().nullable(),
      writable: z.boolean(),
      objects: z.number(),
      // Objects with something left out or guessed (unreadable files, skipped events, unknown zones), and what.
      problems: z.array(z.object({ href: z.string(), problem: z.string() })),
    }),
  ),
});

// --- templates (issue 15, H1) ---

export const templateSchema = z.object({
  id: z.string(),
  name: z.string(),
  subject: z.string(),
  html: z.string().describe('Sanitised when saved; merge fields kept as written'),
  shared: z.boolean().describe('Shared with the whole organisation (managed by administrators); else personal'),
  ownerUserId: z.string(),
  editable: z.boolean().describe('Whether the caller may change and remove it'),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const templateListSchema = z.object({ items: z.array(templateSchema) });

export const renderedTemplateSchema = z.object({
  subject: z.string(),
  html: z.string(),
  missing: z
    .array(z.string())
    .describe('Merge fields with no value and no fallback; left in subject/html as written. Sending them is refused'),
});
// --- Issue 15, tracking (H3) ---

export const messageEventSchema = z.object({
  type: z.enum(['open', 'click', 'reply', 'bounce']),
  at: z.string(),
  automated: z.boolean(),
  url: z.string().optional(),
  reason: z
    .string()
    .optional()
    .describe('why it was judged automated: too-soon, head, image-proxy:gmail, apple-mpp, scanner, bot-agent, burst'),
});

export const messageEventListSchema = z.object({ items: z.array(messageEventSchema) });
// --- read state and the live inbox (issue 15, H4) ---

export const unreadCountSchema = z.object({
  unread: z.number().int().describe('Unread messages of the inbox, counted up to 100 (the badge shows 99+)'),
});

/**
 * One event of GET /api/live (text/event-stream): the SSE `event:` is `type`, `id:` its id (send it back as
 * Last-Event-ID to resume), `data:` this JSON. Ids only: the page refetches what it shows.
 */
export const liveEventSchema = z.discriminatedUnion('type', [
  z.object({
    id: z.string(),
    type: z.literal('message.new'),
    data: z.object({ messageId: z.string(), threadId: z.string().nullable() }),
  }),
  z.object({ id: z.string(), type: z.literal('messages.bulk'), data: z.object({ count: z.number() }) }),
  z.object({
    id: z.string(),
    type: z.literal('message.read'),
    data: z.object({ messageId: z.string(), read: z.boolean() }),
  }),
  z.object({ id: z.string(), type: z.literal('reminder.due'), data: z.object({ reminderId: z.string() }) }),
  z.object({
    id: z.string(),
    type: z.literal('tracking.event'),
    data: z.object({ messageId: z.string(), type: z.string() }),
  }),
]);
// Booking pages (issue 16, H8).
export const bookingHoursSchema = z.record(z.string(), z.array(z.tuple([z.string(), z.string()])));
export const bookingTeamSchema = z.object({
  accountIds: z.array(z.string()),
  mode: z.enum(['round-robin', 'first-free']),
});
export const bookingPageSchema = z.object({
  id: z.string(),
  slug: z.string(),
  url: z.string(),
  title: z.string(),
  durationMinutes: z.number(),
  accountId: z.string(),
  timeZone: z.string(),
  hours: bookingHoursSchema,
  bufferMinutes: z.number(),
  minNoticeMinutes: z.number(),
  horizonDays: z.number(),
  team: bookingTeamSchema.nullable(),
  active: z.boolean(),
});
export const bookingPageListSchema = z.object({ items: z.array(bookingPageSchema) });
/** What a visitor sees of a page: nothing about the owner but a name. */
export const publicBookingPageSchema = z.object({
  title: z.string(),
  durationMinutes: z.number(),
  timeZone: z.string(),
  owner: z.object({ name: z.string() }),
});
export const bookingSlotsSchema = z.object({ slots: z.array(z.object({ start: z.string(), end: z.string() })) });
export const bookingCreatedSchema = z.object({
  bookingId: z.string(),
  start: z.string(),
  end: z.string(),
  manageUrl: z.string(),
});
export const managedBookingSchema = z.object({
  bookingId: z.string(),
  title: z.string(),
  slug: z.string(),
  timeZone: z.string(),
  durationMinutes: z.number(),
  start: z.string(),
  end: z.string(),
  state: z.enum(['confirmed', 'cancelled']),
  name: z.string(),
});

// --- Sequences (issue 17, S1) ---
export const sequenceStepSchema = z.object({
  type: z.enum(['email', 'task']),
  waitMinutes: z.number(),
  templateId: z.string().optional(),
  subject: z.string().optional(),
  html: z.string().optional(),
  replyInThread: z.boolean().optional(),
  /** Extension: open/click tracking of the step's mail (needs the owner's tracking setting). */
  track: z.boolean().optional(),
});
export const sendWindowSchema = z.object({
  timeZone: z.string(),
  days: z.array(z.number()),
  from: z.string(),
  to: z.string(),
});
export const sequenceCountsSchema = z.object({
  sent: z.number(),
  replied: z.number(),
  bounced: z.number(),
  unsubscribed: z.number(),
  booked: z.number(),
  opened: z.number(),
  clicked: z.number(),
  automatedOpens: z.number(),
  replyRate: z.number(),
});
export const sequenceSchema = z.object({
  id: z.string(),
  name: z.string(),
  accountId: z.string(),
  steps: z.array(sequenceStepSchema),
  sendWindow: sendWindowSchema.optional(),
  dailyLimit: z.number().optional(),
  paused: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
  enrolled: z.number(),
  active: z.number(),
  stats: sequenceCountsSchema,
  stepStats: z.array(sequenceCountsSchema.extend({ index: z.number() })),
});
export const sequenceListSchema = z.object({ items: z.array(sequenceSchema) });
export const enrollmentSkipReasonSchema = z.enum([
  'not-found',
  'no-address',
  'unsubscribed',
  'bounced',
  'already-enrolled',
  'in-other-sequence',
]);
export const enrollResultSchema = z.object({
  enrolled: z.number(),
  skipped: z.array(z.object({ contactId: z.string(), reason: enrollmentSkipReasonSchema })),
});
export const enrollmentStateSchema = z.enum([
  'active',
  'finished',
  'replied',
  'bounced',
  'unsubscribed',
  'booked',
  'paused',
]);
export const enrollmentSchema = z.object({
  id: z.string(),
  contactId: z.string(),
  address: z.string(),
  state: enrollmentStateSchema,
  step: z.number(),
  nextAt: z.string().optional(),
  enrolledAt: z.string(),
  stoppedAt: z.string().optional(),
  /** replied, bounced, unsubscribed, booked, finished, merge-field-missing (state paused). */
  stopReason: z.string().optional(),
});
export const enrollmentListSchema = z.object({ items: z.array(enrollmentSchema) });
export const contactEnrollmentListSchema = z.object({
  items: z.array(
    enrollmentSchema.extend({
      sequenceId: z.string(),
      sequenceName: z.string(),
      steps: z.array(
        z.object({
          index: z.number(),
          type: z.enum(['email', 'task']),
          sentAt: z.string().optional(),
          messageId: z.string().optional(),
          taskId: z.string().optional(),
        }),
      ),
    }),
  ),
});
// Calendar push webhooks (issue 16, P1): Graph's validation handshake is answered with its token as text/plain.
export const webhookValidationSchema = z.string();

// --- data-subject rights (issue 19, A4): GET /api/contacts/:id/export, POST /api/contacts/:id/erase ---
const isoOrNull = z.string().nullable();

export const contactExportSchema = z.object({
  format: z.literal('conversa.contact-export.v1'),
  exportedAt: z.string(),
  scope: z.string(),
  contact: contactSchema,
  messages: z.array(
    z.object({
      id: z.string(),
      subject: z.string().nullable(),
      date: isoOrNull,
      direction: z.string(),
      from: z.object({ address: z.string().nullable(), name: z.string().nullable() }),
      participants: z.array(z.object({ role: z.string(), address: z.string(), name: z.string().nullable() })),
      textBody: z.string().nullable(),
      htmlBody: z.string().nullable(),
      /** Metadata only: the bytes are not in the export. */
      attachments: z.array(z.object({ filename: z.string().nullable(), contentType: z.string(), size: z.number() })),
      trackingEvents: z.array(
        z.object({ type: z.string(), at: isoOrNull, automated: z.boolean(), linkPosition: z.number().nullable() }),
      ),
      followUpReminders: z.array(z.object({ dueAt: isoOrNull, state: z.string() })),
    }),
  ),
  meetings: z.array(
    z.object({
      id: z.string(),
      title: z.string().nullable(),
      description: z.string().nullable(),
      location: z.string().nullable(),
      startAt: isoOrNull,
      endAt: isoOrNull,
      organizer: z.string().nullable(),
      attendees: z.array(z.object({ address: z.string(), name: z.string().nullable(), status: z.string().nullable() })),
    }),
  ),
  sequenceEnrollments: z.array(
    z.object({
      sequence: z.string(),
      address: z.string(),
      state: z.string(),
      step: z.number(),
      enrolledAt: isoOrNull,
      stoppedAt: isoOrNull,
      sends: z.array(z.object({ step: z.number(), sentAt: isoOrNull, messageId: z.string().nullable() })),
    }),
  ),
  suppressions: z.array(z.object({ reason: z.string(), since: isoOrNull })),
  bookings: z.array(
    z.object({
      name: z.string(),
      email: z.string(),
      note: z.string().nullable(),
      startAt: isoOrNull,
      state: z.string(),
    }),
  ),
  tasks: z.array(z.object({ title: z.string(), dueAt: isoOrNull, doneAt: isoOrNull })),
  notes: z.array(z.string()),
});

export const contactErasureSchema = z.object({
  addresses: z.number(),
  messagesDeleted: z.number(),
  messagesUnlinked: z.number(),
  meetingsDeleted: z.number(),
  meetingsUnlinked: z.number(),
  enrollments: z.number(),
  bookingsAnonymised: z.number(),
  tasks: z.number(),
  blobFilesDeleted: z.number(),
});

// --- audit log (issue 19, A3) ---

/** src/audit/audit-log.ts AUDIT_ACTIONS (a test keeps the two equal): what the log records. */
export const auditActions = [
  'auth.sign_in',
  'auth.sign_in_failed',
  'auth.sign_out',
  'mailbox.connected',
  'mailbox.changed',
  'mailbox.deleted',
  'mailbox.smtp_mode',
  'user.invited',
  'user.invitation_accepted',
  'user.role_changed',
  'user.deactivated',
  'user.reactivated',
  'user.password_changed',
  'token.created',
  'token.revoked',
  'settings.changed',
  'org.plan_changed',
  'contact.exported',
  'contact.erased',
  'backup.created',
  'backup.restored',
] as const;

export const auditActionSchema = z.enum(auditActions);

export const auditEntrySchema = z.object({
  /** The entry's id: pass the last one as ?before= for the next page. */
  id: z.string(),
  at: z.string(),
  actorId: z.string().nullable(),
  actorName: z.string().nullable(),
  action: auditActionSchema,
  target: z.string().nullable(),
  details: z.record(z.string(), z.unknown()).nullable(),
  ip: z.string().nullable(),
});

export const auditLogSchema = z.object({
  items: z.array(auditEntrySchema),
  /** The id to send as ?before= for older entries; null on the last page. */
  nextBefore: z.string().nullable(),
});
