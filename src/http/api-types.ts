// The API's answers as TypeScript types, inferred from the response schemas the routes declare (api-schemas.ts):
// the web app imports these (type-only, so nothing of the server reaches its bundle) instead of keeping a copy.
// Only types here: a value export would pull zod and the schemas into whatever imports it.
import type { z } from 'zod';
import type * as schemas from './api-schemas.js';

/** Every non-2xx answer: `{error: {code, message, hint?, fields?}}`. */
export type ApiErrorBody = z.infer<typeof schemas.errorSchema>;
export type Health = z.infer<typeof schemas.healthSchema>;

export type User = z.infer<typeof schemas.userSchema>;
export type LoginAnswer = z.infer<typeof schemas.loginSchema>;
export type SetupState = z.infer<typeof schemas.setupStateSchema>;
export type Role = z.infer<typeof schemas.roleSchema>;
export type TeamUser = z.infer<typeof schemas.teamUserSchema>;
export type TeamUserList = z.infer<typeof schemas.teamUserListSchema>;
export type Invitation = z.infer<typeof schemas.invitationSchema>;
export type InvitationInfo = z.infer<typeof schemas.invitationInfoSchema>;
export type Locale = z.infer<typeof schemas.localeSchema>;
export type UserSettings = z.infer<typeof schemas.settingsSchema>;
export type Plan = z.infer<typeof schemas.planSchema>;
export type Org = z.infer<typeof schemas.orgSchema>;
export type TokenInfo = z.infer<typeof schemas.tokenInfoSchema>;
export type TokenList = z.infer<typeof schemas.tokenListSchema>;
export type NewToken = z.infer<typeof schemas.newTokenSchema>;

export type Contact = z.infer<typeof schemas.contactSchema>;
export type ContactPage = z.infer<typeof schemas.contactPageSchema>;
export type ImportResult = z.infer<typeof schemas.importResultSchema>;

export type Endpoint = z.infer<typeof schemas.endpointSchema>;
export type ProviderPreset = z.infer<typeof schemas.providerPresetSchema>;
export type ProviderList = z.infer<typeof schemas.providerListSchema>;
/** GET /api/providers/lookup: a preset, and whether the address's domain was known. */
export type ProviderLookup = z.infer<typeof schemas.providerLookupSchema>;
export type SyncMode = z.infer<typeof schemas.syncModeSchema>;
export type AccountStatus = z.infer<typeof schemas.accountStatusSchema>;
export type EmailAccount = z.infer<typeof schemas.accountSchema>;
export type EmailAccountList = z.infer<typeof schemas.accountListSchema>;
export type OAuthStart = z.infer<typeof schemas.oauthStartSchema>;
export type VerificationSent = z.infer<typeof schemas.verificationSentSchema>;
export type SyncStarted = z.infer<typeof schemas.syncStartedSchema>;
export type DeliverabilityReport = z.infer<typeof schemas.deliverabilitySchema>;
export type DeliverabilityCheck = DeliverabilityReport['spf'];
export type SmtpMode = z.infer<typeof schemas.smtpModeSchema>;
export type SmtpSettings = z.infer<typeof schemas.smtpSettingsSchema>;

export type Address = z.infer<typeof schemas.addressSchema>;
export type MessageSummary = z.infer<typeof schemas.messageSchema>;
export type SearchMatch = z.infer<typeof schemas.searchMatchSchema>;
export type MessagePage = z.infer<typeof schemas.messagePageSchema>;
export type Attachment = z.infer<typeof schemas.attachmentSchema>;
export type MessageDetail = z.infer<typeof schemas.messageDetailSchema>;
export type Thread = z.infer<typeof schemas.threadSchema>;
export type SendStatus = z.infer<typeof schemas.sendStatusSchema>;
/** POST /api/messages: the stored copy (no parse error, no inline parts) and how far sending got. */
export type SentMessage = z.infer<typeof schemas.sentMessageSchema>;
export type SendProgress = z.infer<typeof schemas.sendProgressSchema>;
// Send later and follow-up reminders (issue 15).
export type ScheduledMessage = z.infer<typeof schemas.scheduledMessageSchema>;
export type ScheduledList = z.infer<typeof schemas.scheduledListSchema>;
export type Rescheduled = z.infer<typeof schemas.rescheduledSchema>;
export type ReminderState = z.infer<typeof schemas.reminderStateSchema>;
export type Reminder = z.infer<typeof schemas.reminderSchema>;
export type ReminderList = z.infer<typeof schemas.reminderListSchema>;

export type Meeting = z.infer<typeof schemas.meetingSchema>;
export type MeetingList = z.infer<typeof schemas.meetingListSchema>;
export type CalendarSyncQueued = z.infer<typeof schemas.calendarSyncQueuedSchema>;
export type CalendarHealth = z.infer<typeof schemas.calendarHealthSchema>;

// Templates (issue 15, H1).
export type Template = z.infer<typeof schemas.templateSchema>;
export type TemplateList = z.infer<typeof schemas.templateListSchema>;
/** POST /api/templates/:id/render and /api/templates/render: the preview, and what compose inserts. */
export type RenderedTemplate = z.infer<typeof schemas.renderedTemplateSchema>;
// Issue 15, tracking (H3).
export type TrackingCounts = NonNullable<MessageSummary['tracking']>;
export type MessageEvent = z.infer<typeof schemas.messageEventSchema>;
export type MessageEventList = z.infer<typeof schemas.messageEventListSchema>;
// Read state and the live inbox (issue 15, H4).
export type UnreadCount = z.infer<typeof schemas.unreadCountSchema>;
/** One event of GET /api/live, as parsed from its `data:` line plus its `id:` and `event:`. */
export type LiveEventMessage = z.infer<typeof schemas.liveEventSchema>;
// Localised server texts (issue 15, H6): the codes of the sentences the server writes, and their parameters.
export type TextParams = z.infer<typeof schemas.textParamsSchema>;
export type ImportTextCode = z.infer<typeof schemas.importTextCodeSchema>;
export type MailTextCode = z.infer<typeof schemas.mailTextCodeSchema>;
export type MailHintCode = z.infer<typeof schemas.mailHintCodeSchema>;
export type StatusTextCode = z.infer<typeof schemas.statusTextCodeSchema>;
export type CalendarTextCode = z.infer<typeof schemas.calendarTextCodeSchema>;
export type SendReasonCode = z.infer<typeof schemas.sendReasonCodeSchema>;
export type SentFolderTextCode = z.infer<typeof schemas.sentFolderTextCodeSchema>;
export type DeliverabilityTextCode = z.infer<typeof schemas.deliverabilityTextCodeSchema>;
export type ServerTextCode = (typeof schemas.serverTextCodes)[number];
// Booking pages (issue 16, H8).
export type BookingHours = z.infer<typeof schemas.bookingHoursSchema>;
export type BookingPage = z.infer<typeof schemas.bookingPageSchema>;
export type BookingPageList = z.infer<typeof schemas.bookingPageListSchema>;
export type PublicBookingPage = z.infer<typeof schemas.publicBookingPageSchema>;
export type BookingSlots = z.infer<typeof schemas.bookingSlotsSchema>;
export type BookingCreated = z.infer<typeof schemas.bookingCreatedSchema>;
export type ManagedBooking = z.infer<typeof schemas.managedBookingSchema>;
// Sequences (issue 17, S1).
export type SequenceStep = z.infer<typeof schemas.sequenceStepSchema>;
export type SendWindow = z.infer<typeof schemas.sendWindowSchema>;
export type SequenceCounts = z.infer<typeof schemas.sequenceCountsSchema>;
export type Sequence = z.infer<typeof schemas.sequenceSchema>;
export type SequenceList = z.infer<typeof schemas.sequenceListSchema>;
export type EnrollmentSkipReason = z.infer<typeof schemas.enrollmentSkipReasonSchema>;
export type EnrollResult = z.infer<typeof schemas.enrollResultSchema>;
export type EnrollmentState = z.infer<typeof schemas.enrollmentStateSchema>;
export type Enrollment = z.infer<typeof schemas.enrollmentSchema>;
export type EnrollmentList = z.infer<typeof schemas.enrollmentListSchema>;
export type ContactEnrollmentList = z.infer<typeof schemas.contactEnrollmentListSchema>;
// Data-subject rights (issue 19, A4).
export type ContactExport = z.infer<typeof schemas.contactExportSchema>;
export type ContactErasure = z.infer<typeof schemas.contactErasureSchema>;
// Audit log (issue 19, A3).
export type AuditAction = z.infer<typeof schemas.auditActionSchema>;
export type AuditEntry = z.infer<typeof schemas.auditEntrySchema>;
export type AuditLog = z.infer<typeof schemas.auditLogSchema>;
