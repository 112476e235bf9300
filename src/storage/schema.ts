// The Kysely view of the database: one interface per table, shared by SQLite and PostgreSQL.
// Portable column types only: ids are UUIDv7 text, instants are epoch milliseconds (bigint),
// flags are integers 0/1, structured values are JSON text. IMAP MODSEQs are 63-bit, so they are text.

import type { Generated } from 'kysely';
export type Plan = 'growth' | 'pro' | 'enterprise';
export type ContactSource = 'manual' | 'import' | 'auto-email' | 'auto-meeting';
export type SyncMode = 'two-way' | 'one-way';
export type AccountStatus = 'connecting' | 'syncing' | 'active' | 'needs_reconnect' | 'error';
export type Direction = 'incoming' | 'outgoing';
export type MessageSource = 'sync' | 'crm' | 'bcc';
/** none: the account has no calendar (its provider has none, or no CalDAV server was found). */
export type CalendarStatus = 'syncing' | 'active' | 'error' | 'needs_reconnect' | 'none';
export type ParticipantRole = 'from' | 'to' | 'cc' | 'bcc' | 'reply-to' | 'sender';

export interface OrgsTable {
  id: string;
  name: string;
  plan: Plan;
  created_at: number;
  updated_at: number;
}

export interface UsersTable {
  id: string;
  org_id: string;
  email: string;
  display_name: string | null;
  password_hash: string;
  is_admin: number;
  /** 0 while deactivated, or invited and not yet accepted (0009); optional: rows built in code get the default 1. */
  active?: number;
  deactivated_at?: number | null;
  created_at: number;
  updated_at: number;
}

export interface SessionsTable {
  /** sha256 of the cookie value: a stolen database does not yield live sessions. */
  id: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  last_seen_at: number;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  token_hash: string;
  name: string | null;
  created_at: number;
  last_used_at: number | null;
  /** Epoch ms after which the token is refused; null: never (0005). */
  expires_at: number | null;
}

export interface UserSettingsTable {
  user_id: string;
  auto_create_contacts: number;
  locale: string;
  /** JSON array of addresses and domains whose mail is never stored. */
  never_log_json: Generated<string>;
  updated_at: number;
  /** Open and click tracking opted in (0012); 0 by default. */
  tracking_enabled: Generated<number>;
}

export interface ContactsTable {
  id: string;
  org_id: string;
  first_name: string | null;
  last_name: string | null;
  company: string | null;
  source: ContactSource;
  /** Lower-cased names, company and addresses: one portable LIKE for search on both dialects. */
  search_text: string;
  created_at: number;
  updated_at: number;
}

export interface ContactAddressesTable {
  id: string;
  org_id: string;
  contact_id: string;
  /** Normalised (trimmed, lower-cased); unique per organisation. */
  address: string;
  position: number;
  bounced_at: number | null;
  created_at: number;
}

export interface EmailAccountsTable {
  id: string;
  org_id: string;
  user_id: string;
  email: string;
  provider: string;
  auth_kind: 'password' | 'oauth2';
  sync_mode: SyncMode;
  status: AccountStatus;
  status_detail: string | null;
  next_retry_at: number | null;
  last_synced_at: number | null;
  history_days: number;
  imap_host: string;
  imap_port: number;
  imap_secure: number;
  smtp_host: string;
  smtp_port: number;
  smtp_secure: number;
  username: string;
  /** AES-256-GCM sealed JSON: password or OAuth2 tokens. Never leaves the server. */
  credentials_enc: string;
  smtp_mode: 'mailbox' | 'app' | 'custom';
  smtp_custom_enc: string | null;
  caldav_url: string | null;
  bcc_token: string;
  /** shared: the org's users read this mailbox's contact mail; private: only its owner does. */
  visibility: 'shared' | 'private';
  /** Bumped when the account is switched to another server: cursors of older generations are void. */
  generation: number;
  progress_json: string | null;
  /** Set by "sync now" in any process; the worker holding the account's lease acts on it. */
  sync_requested_at: number | null;
  /**
   * The calendar sync's own state (migration 0003), apart from the mail status: null until it first runs.
   * Optional so code that builds a whole row without them (connecting a mailbox) needs no change.
   */
  calendar_status?: CalendarStatus | null;
  calendar_detail?: string | null;
  calendar_synced_at?: number | null;
  /**
   * 1 once the address is proven (the OAuth provider vouched for it, or a code mailed to it came back): only then
   * may the company relay send as it (migration 0006; accounts existing then start at 0). Optional like the
   * calendar columns: rows built in code without it get the default 0.
   */
  address_verified?: number;
  /** 1 while the owner is deactivated (0009): not synced, nothing sent; the mail stays. */
  paused?: number;
  /** The mailbox's signature, sanitised HTML (0014); null: none. Optional like the columns above. */
  signature_html?: string | null;
  // Localised server texts (H6, migration 0015): the code and parameters of status_detail and calendar_detail.
  status_detail_code?: string | null;
  status_detail_params_json?: string | null;
  calendar_detail_code?: string | null;
  calendar_detail_params_json?: string | null;
  created_at: number;
  updated_at: number;
}

export interface WorkersTable {
  id: string;
  hostname: string;
  pid: number;
  started_at: number;
  heartbeat_at: number;
}

export interface BackfillRequestsTable {
  id: string;
  org_id: string;
  addresses_json: string;
  created_at: number;
}

export interface AccountLeasesTable {
  account_id: string;
  holder: string;
  acquired_at: number;
  expires_at: number;
}

export interface MailFoldersTable {
  id: string;
  account_id: string;
  path: string;
  role: 'inbox' | 'sent' | 'archive' | 'all' | 'other';
  special_use: string | null;
  sync_enabled: number;
  uid_validity: number | null;
  last_seen_uid: number;
  uid_next: number | null;
  highest_modseq: string | null;
  window_start: number | null;
  first_sync_below_uid: number | null;
  first_sync_done: number;
  exists_count: number | null;
  generation: number;
  created_at: number;
  updated_at: number;
}

export interface ThreadsTable {
  id: string;
  org_id: string;
  subject: string | null;
  /** The subject without reply/forward prefixes, for the same-people fallback. */
  subject_key: string | null;
  gm_thrid: string | null;
  last_message_at: number | null;
  created_at: number;
}

export interface ThreadKeysTable {
  /** A Message-ID (or X-GM-THRID) known to belong to a thread, seen or only referenced. */
  org_id: string;
  key: string;
  thread_id: string;
}

export interface MessagesTable {
  id: string;
  org_id: string;
  dedupe_key: string;
  message_id_header: string | null;
  gm_msgid: string | null;
  thread_id: string | null;
  in_reply_to: string | null;
  references_json: string | null;
  subject: string | null;
  from_address: string | null;
  from_name: string | null;
  date: number;
  direction: Direction;
  source: MessageSource;
  snippet: string | null;
  text_body: string | null;
  html_body: string | null;
  has_attachments: number;
  bounced: number;
  size: number;
  raw_blob_sha256: string | null;
  parse_error: string | null;
  /** The user whose mailbox (or send) brought the message in: the privacy rules hang on it. */
  owner_user_id: string | null;
  /** A cache of "some holder is shared", kept for old readers; access is decided by message_holders only. */
  shared: number;
  /** sha256 of what a reader sees (subject, people, date, bodies, attachments): equal digests = the same mail. */
  content_digest: string | null;
  created_at: number;
}

/** One arrival of a message through one mailbox (sync, a send from the CRM, a BCC filing): who may read it. */
export interface MessageHoldersTable {
  id: string;
  message_id: string;
  /** Null once the mailbox is removed. */
  account_id: string | null;
  user_id: string | null;
  /** 1 when that mailbox is shared with the organisation (follows the mailbox's visibility). */
  shared: number;
  /** The message as this mailbox sees it (a colleague's Sent copy is this mailbox's incoming mail). */
  direction: Direction;
  /** The message's date (messages.date, which never changes): the inbox is read newest first from these rows. */
  date: number;
  created_at: number;
}

/** Mail that could not be stored, with the reason: the rest of the mailbox goes on without it. */
export interface SetAsideMessagesTable {
  id: string;
  account_id: string;
  folder_id: string | null;
  uid_validity: number | null;
  uid: number | null;
  message_id_header: string | null;
  reason: string;
  created_at: number;
}

export interface MessageLocationsTable {
  id: string;
  message_id: string;
  account_id: string;
  folder_id: string;
  uid_validity: number;
  uid: number;
  flags_json: string | null;
  seen: number;
  removed_at: number | null;
  created_at: number;
}

export interface MessageParticipantsTable {
  id: string;
  message_id: string;
  role: ParticipantRole;
  address: string;
  name: string | null;
  position: number;
}

export interface MessageContactsTable {
  message_id: string;
  contact_id: string;
  /** The message's date (migration 0033), for a contact's timeline newest first from its own index. */
  date: number;
}

export interface BlobsTable {
  sha256: string;
  size: number;
  created_at: number;
}

/** A blob's bytes, on PostgreSQL (migration 0024); empty on SQLite, whose blobs are files. */
export interface BlobContentsTable {
  sha256: string;
  size: number;
  content: Buffer;
  created_at: number;
  /** The last put of these bytes: the collector's grace period counts from it. */
  written_at: number;
  /** How many blob_parts rows hold the bytes (migration 0034); 0: `content` holds them. */
  parts: Generated<number>;
}

/** A piece of a big blob (migration 0034), at byte offset `position`. */
export interface BlobPartsTable {
  sha256: string;
  position: number;
  content: Buffer;
}

export interface AttachmentsTable {
  id: string;
  message_id: string;
  blob_sha256: string;
  filename: string | null;
  content_type: string;
  size: number;
  content_id: string | null;
  inline: number;
  position: number;
}

export interface OutboxTable {
  id: string;
  message_id: string;
  account_id: string;
  /** 'scheduled' (migration 0011): waits for send_at, then is claimed like 'queued'. */
  state: 'scheduled' | 'queued' | 'sending' | 'sent' | 'failed';
  attempts: number;
  last_error: string | null;
  next_attempt_at: number | null;
  created_at: number;
  updated_at: number;
  /**
   * The copy for the mailbox's Sent folder, a step of its own after 'sent': null until sent; 'pending' (to do),
   * 'appended' (done, or found already there), 'skipped' (not needed or not possible: see append_detail),
   * 'failed' (gave up after retries).
   */
  append_state: 'pending' | 'appended' | 'skipped' | 'failed' | null;
  append_detail: string | null;
  append_attempts: Generated<number>;
  sent_at: number | null;
  /** The SMTP server's answer to the accepted message (its queue id), for support. */
  smtp_response: string | null;
  /** A worker holds the row until then; a crashed worker's row is taken again after it. */
  lease_until: number | null;
  /** A stable code for last_error when it is not the generic SEND_FAILED (migration 0006: SENDER_NOT_VERIFIED). */
  last_error_code?: string | null;
  // Localised server texts (H6, migration 0015): why it failed as a code with parameters, and the Sent copy's detail.
  last_error_reason_code?: string | null;
  last_error_params_json?: string | null;
  append_detail_code?: string | null;
  append_detail_params_json?: string | null;
  /** The tracked copy for external recipients (0012), and who they are (JSON array); null when nothing is tracked. */
  tracked_raw_blob_sha256?: string | null;
  tracked_rcpts_json?: string | null;
  /** Send later (migration 0011): not taken before this instant; null = as soon as possible. */
  send_at?: number | null;
}

// --- Issue 15, tracking (H3, migration 0012) ---

export interface TrackedMessagesTable {
  message_id: string;
  org_id: string;
  user_id: string | null;
  token: string;
  opens: number;
  clicks: number;
  sent_at: number | null;
  created_at: number;
}

export interface TrackedLinksTable {
  message_id: string;
  position: number;
  url: string;
}

export interface TrackingEventsTable {
  id: string;
  message_id: string;
  org_id: string;
  type: 'open' | 'click';
  at: number;
  automated: number;
  reason: string | null;
  link_position: number | null;
  agent: string | null;
}

export interface CalendarsTable {
  id: string;
  account_id: string;
  url: string;
  display_name: string | null;
  ctag: string | null;
  sync_token: string | null;
  /** From discovery (migration 0003): the calendar's own zone (IANA), whether we may write, RFC 6578 support. */
  time_zone: string | null;
  writable: Generated<number>;
  supports_sync: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface MeetingsTable {
  id: string;
  org_id: string;
  account_id: string | null;
  calendar_id: string | null;
  uid: string;
  recurrence_id: string;
  href: string | null;
  etag: string | null;
  title: string | null;
  description: string | null;
  location: string | null;
  start_at: number;
  end_at: number;
  all_day: number;
  status: string | null;
  organizer_address: string | null;
  organizer_name: string | null;
  raw_ics: string | null;
  deleted_at: number | null;
  /** 1 when the organizer is the account itself: the CRM may move or cancel it. */
  organizer_is_self: Generated<number>;
  /** 1 for TRANSP:TRANSPARENT (shown as free): booking pages do not count it as busy (0017). */
  transparent: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface MeetingAttendeesTable {
  id: string;
  meeting_id: string;
  address: string;
  name: string | null;
  status: string | null;
  role: string | null;
  /** CUTYPE, lower-cased (individual, group, room, resource, unknown); rooms and resources never become contacts. */
  kind: string | null;
}

export interface CalendarObjectsTable {
  id: string;
  calendar_id: string;
  href: string;
  etag: string | null;
  uid: string | null;
  raw_ics: string | null;
  problem: string | null;
  event_count: Generated<number>;
  created_at: number;
  updated_at: number;
}

export interface MeetingContactsTable {
  meeting_id: string;
  contact_id: string;
}

/** The live address-verification code of an account (migration 0006). */
export interface AddressVerificationsTable {
  account_id: string;
  /** scrypt of the code (the password hash's form): a leaked row does not give a live code away in time. */
  code_hash: string;
  expires_at: number;
  /** Wrong codes entered; at the limit the code is void and a new one is needed. */
  attempts: number;
  last_sent_at: number;
  window_started_at: number;
  sends_in_window: number;
}

export interface OauthStatesTable {
  state: string;
  user_id: string;
  provider: string;
  code_verifier: string;
  payload_json: string;
  created_at: number;
  expires_at: number;
}

export interface SyncEventsTable {
  id: string;
  account_id: string;
  kind: string;
  detail: string | null;
  // Localised server texts (H6, migration 0015).
  detail_code?: string | null;
  detail_params_json?: string | null;
  created_at: number;
}

/** One row per user who filed a message through a BCC address (migration 0008); the first filing is kept. */
export interface BccFilingsTable {
  message_id: string;
  user_id: string;
  /** The account whose BCC address was used; null once that account is removed. */
  account_id: string | null;
  filed_at: number;
}

export interface InvitationsTable {
  id: string;
  org_id: string;
  user_id: string;
  /** sha256 of the link's token. */
  token_hash: string;
  created_by: string | null;
  expires_at: number;
  accepted_at: number | null;
  created_at: number;
}

/** At most one row, id 'setup': the first-run setup is done (0009). */
export interface SetupMarksTable {
  id: string;
  done_at: number;
}

// --- issue 15: templates (0010) ---

/** A saved subject + HTML with merge fields; personal (shared 0, its owner's only) or shared with the organisation. */
export interface TemplatesTable {
  id: string;
  org_id: string;
  owner_user_id: string;
  shared: number;
  name: string;
  subject: string;
  /** Sanitised when saved (src/http/routes/template-routes.ts), merge fields kept as written. */
  html: string;
  created_at: number;
  updated_at: number;
}

// --- send later and follow-up reminders (issue 15, migration 0011) ---

export type ReminderState = 'waiting' | 'due' | 'done' | 'cancelled';
export type ReminderReason = 'replied' | 'user' | 'failed';

/** "Remind me if no reply in N days" for one message sent from the CRM. */
export interface FollowUpRemindersTable {
  id: string;
  org_id: string;
  user_id: string;
  /** The CRM message (messages.id). */
  message_id: string;
  thread_id: string | null;
  days: number;
  /** When the message left; null until the outbox sent it. */
  sent_at: number | null;
  due_at: number;
  state: ReminderState;
  reason: ReminderReason | null;
  reply_message_id: string | null;
  created_at: number;
  updated_at: number;
}

// --- Read state and the live inbox (issue 15, H4; migration 0013) ---

/** A user's read mark on a message they see only through someone else's (shared) mailbox. */
export interface MessageReadsTable {
  user_id: string;
  message_id: string;
  read: number;
  updated_at: number;
}

/** A \Seen change waiting to be written back to the mail server: the latest wish for one location. */
export interface FlagWritesTable {
  id: string;
  account_id: string;
  location_id: string;
  /** 1: add \Seen; 0: remove it. */
  seen: number;
  /** Changes with every new wish, so a drainer only removes the wish it wrote. */
  request_id: string;
  attempts: Generated<number>;
  next_attempt_at: number | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

/** One change a signed-in page may want to know about (ids only, never content); kept a few minutes. */
export interface LiveEventsTable {
  id: string;
  org_id: string;
  /** Null: everyone in the organisation who may see what it names. */
  user_id: string | null;
  type: string;
  data_json: string;
  created_at: number;
}

// Booking pages (issue 16, H8; migration 0017).
export type BookingTeamMode = 'round-robin' | 'first-free';
export type BookingState = 'confirmed' | 'cancelled';

export interface BookingPagesTable {
  id: string;
  org_id: string;
  owner_user_id: string;
  slug: string;
  title: string;
  duration_minutes: number;
  account_id: string;
  time_zone: string;
  hours_json: string;
  buffer_minutes: number;
  min_notice_minutes: number;
  horizon_days: number;
  team_account_ids_json: string | null;
  team_mode: BookingTeamMode | null;
  active: number;
  created_at: number;
  updated_at: number;
}

export interface BookingsTable {
  id: string;
  page_id: string;
  account_id: string;
  start_at: number;
  end_at: number;
  invitee_name: string;
  invitee_email: string;
  note: string | null;
  manage_token_hash: string;
  state: BookingState;
  event_uid: string;
  meeting_id: string | null;
  sequence: number;
  locale: string;
  created_at: number;
  updated_at: number;
}

export interface BookingClaimsTable {
  account_id: string;
  cell_at: number;
  booking_id: string;
}

// Calendar push (issue 16, P1): Google watch channels and Graph subscriptions (0019).
export type CalendarChannelProvider = 'google' | 'microsoft';

export interface CalendarChannelsTable {
  id: string;
  account_id: string;
  calendar_url: string;
  provider: CalendarChannelProvider;
  channel_id: string;
  resource_id: string | null;
  secret_hash: string;
  expires_at: number;
  created_at: number;
}

// The audit log (issue 19, migration 0020): inserted only.
export interface AuditLogTable {
  id: string;
  org_id: string | null;
  at: number;
  actor_id: string | null;
  action: string;
  target: string | null;
  details_json: string | null;
  ip: string | null;
}

// Data-subject rights (issue 19, A4, migration 0022): an erased person's addresses, only as hashes.
export interface ErasedAddressesTable {
  org_id: string;
  /** sha256 hex of the trimmed, lower-cased address (no salt, like suppressions). */
  address_hash: string;
  erased_at: number;
}

/** SQLite only: the search index's own integer key per message (never `messages.rowid`, which VACUUM may renumber). */
export interface MessageSearchDocsTable {
  doc: Generated<number>;
  message_id: string;
}

/** PostgreSQL only: one weighted tsvector per message (A subject, B people and attachment names, C body, D views). */
export interface MessageSearchTable {
  message_id: string;
  /** The message's date (migration 0031), so a view's newest matches are read from this table alone. */
  date: number;
  /** The document's lexemes of weights A and B (subject; people and attachment names), which the ranking asks. */
  fields: string;
  doc: string;
}

export interface Database {
  orgs: OrgsTable;
  users: UsersTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  user_settings: UserSettingsTable;
  contacts: ContactsTable;
  contact_addresses: ContactAddressesTable;
  email_accounts: EmailAccountsTable;
  mail_folders: MailFoldersTable;
  threads: ThreadsTable;
  thread_keys: ThreadKeysTable;
  messages: MessagesTable;
  message_holders: MessageHoldersTable;
  set_aside_messages: SetAsideMessagesTable;
  message_locations: MessageLocationsTable;
  message_participants: MessageParticipantsTable;
  message_contacts: MessageContactsTable;
  blobs: BlobsTable;
  attachments: AttachmentsTable;
  outbox: OutboxTable;
  calendars: CalendarsTable;
  calendar_objects: CalendarObjectsTable;
  meetings: MeetingsTable;
  meeting_attendees: MeetingAttendeesTable;
  meeting_contacts: MeetingContactsTable;
  oauth_states: OauthStatesTable;
  address_verifications: AddressVerificationsTable;
  sync_events: SyncEventsTable;
  workers: WorkersTable;
  account_leases: AccountLeasesTable;
  backfill_requests: BackfillRequestsTable;
  bcc_filings: BccFilingsTable;
  invitations: InvitationsTable;
  setup_marks: SetupMarksTable;
  // issue 15: templates (0010)
  templates: TemplatesTable;
  // Issue 15, tracking (H3).
  tracked_messages: TrackedMessagesTable;
  tracked_links: TrackedLinksTable;
  tracking_events: TrackingEventsTable;
  follow_up_reminders: FollowUpRemindersTable;
  // Read state and the live inbox (issue 15, H4).
  message_reads: MessageReadsTable;
  flag_writes: FlagWritesTable;
  live_events: LiveEventsTable;
  // Booking pages (issue 16, H8).
  booking_pages: BookingPagesTable;
  bookings: BookingsTable;
  booking_claims: BookingClaimsTable;
  // Calendar push (issue 16, P1).
  calendar_channels: CalendarChannelsTable;
  // Sequences (issue 17, S1).
  sequences: SequencesTable;
  sequence_enrollments: SequenceEnrollmentsTable;
  sequence_sends: SequenceSendsTable;
  sequence_unsubscribe_tokens: SequenceUnsubscribeTokensTable;
  suppressions: SuppressionsTable;
  tasks: TasksTable;
  sequence_cursors: SequenceCursorsTable;
  // The audit log (issue 19).
  audit_log: AuditLogTable;
  // Full-text search (issue 18): SQLite's doc keys (its FTS5 table is reached with sql``), PostgreSQL's tsvectors.
  message_search_docs: MessageSearchDocsTable;
  message_search: MessageSearchTable;
  // Data-subject rights (issue 19, A4).
  erased_addresses: ErasedAddressesTable;
  // Blobs in PostgreSQL (issue 18, part B, migration 0024).
  blob_contents: BlobContentsTable;
  blob_parts: BlobPartsTable;
}

// Sequences (issue 17, S1).
export type EnrollmentState = 'active' | 'finished' | 'replied' | 'bounced' | 'unsubscribed' | 'booked' | 'paused';

export interface SequencesTable {
  id: string;
  org_id: string;
  owner_user_id: string;
  account_id: string;
  name: string;
  steps_json: string;
  send_window_json: string | null;
  daily_limit: number | null;
  paused: number;
  created_at: number;
  updated_at: number;
}

export interface SequenceEnrollmentsTable {
  id: string;
  sequence_id: string;
  org_id: string;
  contact_id: string;
  address: string;
  state: EnrollmentState;
  step: number;
  next_at: number | null;
  waiting_until: number | null;
  last_auto_reply_id: string | null;
  thread_message_id: string | null;
  enrolled_at: number;
  stopped_at: number | null;
  stop_reason: string | null;
  updated_at: number;
}

export interface SequenceSendsTable {
  id: string;
  enrollment_id: string;
  sequence_id: string;
  account_id: string;
  step_index: number;
  message_id: string | null;
  task_id: string | null;
  state: 'claimed' | 'done';
  lease_until: number | null;
  due_at: number | null;
  created_at: number;
  sent_at: number | null;
}

export interface SequenceUnsubscribeTokensTable {
  token_hash: string;
  enrollment_id: string;
  created_at: number;
}

export interface SuppressionsTable {
  org_id: string;
  address_hash: string;
  reason: 'unsubscribed' | 'bounced';
  created_at: number;
}

export interface TasksTable {
  id: string;
  org_id: string;
  user_id: string;
  contact_id: string | null;
  title: string;
  due_at: number;
  done_at: number | null;
  created_at: number;
}

export interface SequenceCursorsTable {
  name: string;
  at: number;
}
