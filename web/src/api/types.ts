// The API's shapes as the web app reads them (contract.md; GET /api/openapi.json is the full reference).

export interface User {
  id: string;
  email: string;
  displayName: string | null;
  isAdmin: boolean;
  createdAt: string;
}

export type Locale = 'en' | 'pt-BR';

export interface UserSettings {
  autoCreateContacts: boolean;
  locale: Locale;
  neverLog: string[];
}

export type Plan = 'growth' | 'pro' | 'enterprise';

export interface Org {
  id: string;
  name: string;
  plan: Plan;
}

export interface Endpoint {
  host: string;
  port: number;
  secure: boolean;
}

export interface ProviderPreset {
  id: string;
  name: string;
  auth: 'oauth2' | 'password';
  imap: Endpoint;
  smtp: Endpoint;
  domains: string[];
  appPassword: { requiredWith2fa: boolean; instructionsUrl: string } | null;
  smtpSavesSent: boolean;
  caldavUrl: string | null;
  calendar: 'google' | 'microsoft' | 'caldav' | null;
  help?: string;
  oauth?: 'google' | 'microsoft-organizations' | 'microsoft-consumers';
  matched?: boolean;
}

export type SyncMode = 'two-way' | 'one-way';
export type AccountStatus = 'connecting' | 'syncing' | 'active' | 'needs_reconnect' | 'error';

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
  nextRetryAt: string | null;
  lastSyncedAt: string | null;
  historyDays: number;
  imap: Endpoint;
  smtp: Endpoint;
  caldavUrl: string | null;
  bccAddress: string;
  visibility: 'shared' | 'private';
  /** The address is proven: the company relay may send as it. */
  addressVerified: boolean;
  progress: { folder: string; scanned: number; total: number } | null;
  lastError: { message: string; at: string } | null;
  setAside?: { count: number; latest: Array<{ uid: number | null; messageId: string | null; reason: string; at: string }> };
  /** The calendar sync's own health; status null before its first pass. */
  calendar?: { status: string | null; detail: string | null; syncedAt: string | null };
  createdAt: string;
  updatedAt: string;
}

export type SmtpMode = 'mailbox' | 'app' | 'custom';

export interface SmtpSettings {
  mode: SmtpMode;
  host?: string;
  port?: number;
  secure?: boolean;
  username?: string;
  passwordSet?: boolean;
  appAvailable: boolean;
}

export interface DeliverabilityCheck {
  status: string;
  record?: string;
  fix?: string;
}

export interface DeliverabilityReport {
  domain: string;
  spf: DeliverabilityCheck;
  dkim: DeliverabilityCheck & { selector?: string };
  dmarc: DeliverabilityCheck & { policy?: string };
}

export interface Contact {
  id: string;
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  emails: string[];
  bouncedEmails: string[];
  source: 'manual' | 'import' | 'auto-email' | 'auto-meeting';
  createdAt: string;
  updatedAt: string;
}

export interface ImportResult {
  created: number;
  skipped: number;
  errors: Array<{ line: number; message: string }>;
}

export interface Address {
  address: string;
  name?: string;
}

export interface MessageSummary {
  id: string;
  messageId: string | null;
  threadId: string | null;
  subject: string | null;
  from: Address | null;
  to: Address[];
  cc: Address[];
  bcc: Address[];
  date: string;
  direction: 'incoming' | 'outgoing';
  source: 'sync' | 'crm' | 'bcc';
  snippet: string | null;
  contactIds: string[];
  hasAttachments: boolean;
  bounced: boolean;
  unread?: boolean;
}

export interface Attachment {
  id: string;
  filename: string | null;
  contentType: string;
  size: number;
  inline?: boolean;
  contentId?: string | null;
}

export interface MessageDetail extends MessageSummary {
  text: string | null;
  html: string | null;
  parseError?: string | null;
  attachments: Attachment[];
}

export type SendStatus = 'queued' | 'sending' | 'sent' | 'failed';

export interface SentMessage extends MessageDetail {
  sendStatus: SendStatus;
  sendError?: { code: 'SEND_FAILED'; message: string };
}

export interface Thread {
  id: string;
  subject: string | null;
  messages: MessageSummary[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Meeting {
  id: string;
  title: string | null;
  start: string;
  end: string;
  allDay?: boolean;
  location?: string | null;
  description?: string;
  organizer?: Address | null;
  attendees: Array<Address & { status?: string | null; kind?: string }>;
  contactIds: string[];
  status?: string | null;
  accountId?: string | null;
  editable?: boolean;
}
