// What Conversa knows about a mail provider before the user types anything: servers and ports, how to sign
// in, which addresses belong to it, and what it does on its own (saving sent mail, calendars). Pure data;
// the presets live in one file per provider family next to this one and are gathered in presets.ts.

export interface ServerEndpoint {
  host: string;
  port: number;
  /** true: TLS from the first byte (IMAP 993, SMTP 465). false: plain connect, then STARTTLS (SMTP 587). */
  secure: boolean;
}

export interface AppPasswordPolicy {
  /**
   * true: the usual password stops working for mail programs once two-step verification is turned on, and an
   * app password is needed from then on. false: mail programs always need an app password (the provider
   * takes the usual password only on its own sign-in page).
   */
  requiredWith2fa: boolean;
  /** The provider's own page explaining how to create one. */
  instructionsUrl: string;
}

export interface ProviderPreset {
  id: string;
  name: string;
  /** How the web app connects it by default: its own sign-in page (OAuth 2) or e-mail and password. */
  auth: 'oauth2' | 'password';
  imap: ServerEndpoint;
  smtp: ServerEndpoint;
  /**
   * Address domains that belong to this provider. An entry may be a pattern: `gmx.*` (that name under any
   * suffix) or `*.onmicrosoft.com` (any name under that domain). Exact entries win over patterns.
   */
  domains: string[];
  /** null when the provider has no app passwords (or no password sign-in at all). */
  appPassword: AppPasswordPolicy | null;
  /**
   * Whether mail submitted over SMTP appears in the mailbox's Sent folder by itself. When false, whoever
   * sends must append a copy to Sent over IMAP, or the sent mail is missing from the mailbox.
   */
  smtpSavesSent: boolean;
  /** A CalDAV server or principal URL; null when the calendar is reached another way or not at all. */
  caldavUrl: string | null;
  /** Which calendar driver serves this provider's accounts; null: no calendar sync. */
  calendar: 'google' | 'microsoft' | 'caldav' | null;
  /** Advice shown next to the choice, in English. */
  help?: string;
  /** Which OAuth 2 client signs in to it (see src/mail/oauth2). Absent for password-only providers. */
  oauth?: 'google' | 'microsoft-organizations' | 'microsoft-consumers';
}

/** IMAP on 993 with TLS from the start: what every provider here documents for receiving. */
export function imapsOn(host: string): ServerEndpoint {
  return { host, port: 993, secure: true };
}

/** SMTP submission with TLS from the start (RFC 8314's preference). */
export function smtpsOn(host: string): ServerEndpoint {
  return { host, port: 465, secure: true };
}

/** SMTP submission on 587, upgraded with STARTTLS. */
export function submissionOn(host: string): ServerEndpoint {
  return { host, port: 587, secure: false };
}
