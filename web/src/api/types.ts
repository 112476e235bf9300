// The API's shapes as the web app reads them: re-exported from the server's response types
// (src/http/api-types.ts, inferred from the schemas the routes declare and check), so there is no copy to drift.
// Type-only: these imports vanish from the bundle, and no server code reaches the browser.
export type {
  // Templates (issue 15, H1).
  Template,
  TemplateList,
  RenderedTemplate,
  // Send later and follow-up reminders (issue 15).
  Reminder,
  ReminderList,
  ReminderState,
  Rescheduled,
  ScheduledList,
  ScheduledMessage,
  InvitationInfo,
  Invitation,
  Role,
  SetupState,
  TeamUser,
  TeamUserList,
  NewToken,
  TokenInfo,
  TokenList,
  AccountStatus,
  Address,
  ApiErrorBody,
  Attachment,
  Contact,
  ContactPage,
  DeliverabilityCheck,
  DeliverabilityReport,
  EmailAccount,
  EmailAccountList,
  Endpoint,
  ImportResult,
  Locale,
  Meeting,
  MeetingList,
  MessageDetail,
  MessagePage,
  MessageSummary,
  SearchMatch,
  OAuthStart,
  Org,
  Plan,
  ProviderList,
  ProviderLookup,
  ProviderPreset,
  SendStatus,
  SentMessage,
  SmtpMode,
  SmtpSettings,
  SyncMode,
  Thread,
  User,
  UserSettings,
  VerificationSent,
  // Issue 15, tracking (H3).
  MessageEvent,
  MessageEventList,
  TrackingCounts,
  // Read state and the live inbox (issue 15).
  UnreadCount,
  LiveEventMessage,
} from '@conversa/api-types';

// Booking pages (issue 16, H8).
export type {
  BookingHours,
  BookingPage,
  BookingPageList,
  PublicBookingPage,
  BookingSlots,
  BookingCreated,
  ManagedBooking,
  // Data-subject rights (issue 19, A4).
  ContactExport,
  ContactErasure,
} from '@conversa/api-types';

// Audit log (issue 19, A3).
export type { AuditAction, AuditEntry, AuditLog } from '@conversa/api-types';
