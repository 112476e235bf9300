// Every answer of the API as a zod schema: the one statement of a response's shape. The routes declare them (so
// handlers are type-checked against them and answers checked in tests), the OpenAPI document is generated from them,
// and the web app reads their types (api-types.ts). This module imports zod only, so the web app can type-check it.
// Response schemas never transform: what a handler returns is what goes on the wire (input = output).
import { z } from 'zod';

/** Every non-2xx answer (contract.md): a stable code, a message, and sometimes a hint and the offending fields. */
export const errorSchema = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
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
  errors: z.array(z.object({ line: z.number(), message: z.string() })),
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
  lastError: z.object({ message: z.string(), at: z.string() }).nullable(),
  setAside: z
    .object({
      count: z.number(),
      latest: z.array(
        z.object({ uid: z.number().nullable(), messageId: z.string().nullable(), reason: z.string(), at: z.string() }),
      ),
    })
    .describe('Mail that could not be stored, set aside with its reason; the rest of the mailbox went on'),
  // The calendar sync's own health; status null before its first pass.
  calendar: z.object({ status: z.string().nullable(), detail: z.string().nullable(), syncedAt: z.string().nullable() }),
  createdAt: z.string(),
  updatedAt: z.string(),
});

export const accountListSchema = z.object({ items: z.array(accountSchema) });

export const oauthStartSchema = z.object({ authorizeUrl: z.string() });

export const verificationSentSchema = z.object({ sent: z.literal(true), expiresAt: z.string() });

export const syncStartedSchema = z.object({ accepted: z.boolean(), status: z.string() });

const deliverabilityCheckSchema = z.object({
  status: z.string(),
  record: z.string().optional(),
  fix: z.string().optional(),
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
  unread: z.boolean(),
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

export const sendStatusSchema = z.enum(['queued', 'sending', 'sent', 'failed']);

const sendErrorSchema = z.object({ code: z.enum(['SEND_FAILED', 'SENDER_NOT_VERIFIED']), message: z.string() });

export const sentMessageSchema = messageSchema.extend({
  text: z.string().nullable(),
  html: z.string().nullable(),
  attachments: z.array(attachmentSchema.pick({ id: true, filename: true, contentType: true, size: true })),
  sendStatus: sendStatusSchema,
  sendError: sendErrorSchema.optional(),
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
  }),
});

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
