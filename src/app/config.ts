// Reads the environment of contract.md once, at start-up, into a typed, validated config.
// Nothing else in the code reads process.env.
import path from 'node:path';
import { ConfigError } from '../core/config-error.js';
import { loadOAuthConfig, type OAuthConfig } from '../mail/oauth2/oauth-config.js';
import { loadAppSmtpConfig, type AppSmtpConfig } from '../mail/send/smtp-settings.js';
import { loadDkimConfig, type DkimConfig } from '../mail/send/dkim.js';
import { loadBccTlsConfig, type BccTlsConfig } from '../mail/dropbox/bcc-listener.js';
import { parseAllowedHosts, type AllowedHosts } from '../net/outbound-policy.js';

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  /** postgres://… selects PostgreSQL; unset means the embedded SQLite file in dataDir. */
  databaseUrl: string | null;
  secretKey: string | null;
  bccSmtpPort: number;
  bccDomain: string;
  publicUrl: string;
  logLevel: string;
  /**
   * LOG_FORMAT: `json` (one JSON object a line, for log collectors), `pretty` (readable lines), or unset: readable
   * on a terminal, JSON otherwise (decided where the log stream is made, start-server.ts).
   */
  logFormat: 'json' | 'pretty' | 'auto';
  /** UIDs per scan/fetch/store batch of the sync engine (SYNC_BATCH_SIZE, default 500). */
  syncBatchSize: number;
  /**
   * Bytes (RFC822.SIZE) of downloaded mail per batch of the sync engine (SYNC_BATCH_BYTES, default 8 MiB); a bigger
   * message is fetched and stored alone.
   */
  syncBatchBytes: number;
  /** OAuth2 client registrations (GOOGLE_* / MICROSOFT_*); a provider without one cannot sign in. */
  oauth: OAuthConfig;
  /** The application's outbound relay (APP_SMTP_*), or null. */
  appSmtp: AppSmtpConfig | null;
  /** DKIM signing on the relay (DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY[_FILE]), or null. */
  dkim: DkimConfig | null;
  /** DNS servers for the deliverability checks (CONVERSA_DNS_SERVERS, "host:port,…"); empty: the system's. */
  dnsServers: string[];
  /** `serve` also runs the background work (CONVERSA_SERVE_BACKGROUND, default true; false for web-only nodes). */
  serveBackground: boolean;
  /**
   * Minutes between whole calendar passes with discovery (CONVERSA_CALENDAR_INTERVAL_MINUTES, default 30): the
   * safety net under the change checks.
   */
  calendarIntervalMinutes: number;
  /** Seconds between calendar change checks (CONVERSA_CALENDAR_CHECK_SECONDS, default 30): a calendar change's delay. */
  calendarCheckSeconds: number;
  /** STARTTLS certificate of the BCC listener (BCC_TLS_CERT_FILE + BCC_TLS_KEY_FILE), or null. */
  bccTls: BccTlsConfig | null;
  /**
   * Internal hosts and ranges user-named servers may be on (CONVERSA_ALLOWED_HOSTS, default none); only these may
   * take a password without TLS.
   */
  allowedHosts: AllowedHosts;
  /**
   * Development setting (CONVERSA_CHECK_RESPONSES=1): every JSON answer is checked against its route's response
   * schema and a mismatch is a 500 naming the route and the field. Off by default: it costs a parse per answer.
   */
  checkResponses: boolean;
  /**
   * Metrics (issue 19, A2): METRICS_TOKEN, the Bearer token GET /metrics requires; null (unset): /metrics answers
   * loopback clients only.
   */
  metricsToken: string | null;
  /**
   * Bytes of the SQLite file read through a memory map (CONVERSA_SQLITE_MMAP_MB, default 0: off). Big installs write
   * faster with it (issue 18: a seed past 150,000 messages ran 24% faster at 2 GB), but mapped pages count in the
   * process's RSS, which then grows with the file read.
   */
  sqliteMmapBytes: number;
  /**
   * PostgreSQL: statements marked `prepared` (list pages, token and session lookups) are named prepared statements
   * per connection (CONVERSA_PG_PREPARED, default on). Off for a connection pooler in transaction mode that does not
   * track prepared statements (PgBouncer before 1.21, or without max_prepared_statements).
   */
  postgresPrepared: boolean;
  /**
   * Megabytes of large request bodies (256 KB or more: sends with attachments, imports) read at once
   * (CONVERSA_UPLOADS_IN_FLIGHT_MB, default 64; issue 18); the next waits for room, one bigger goes alone.
   */
  uploadsInFlightBytes: number;
}

export { ConfigError };

function logFormat(raw: string | undefined): Config['logFormat'] {
  const value = (raw ?? '').trim().toLowerCase();
  if (value === '' || value === 'auto') return 'auto';
  if (value === 'json' || value === 'pretty') return value;
  throw new ConfigError(`LOG_FORMAT must be json or pretty (or unset: readable on a terminal), got "${raw}"`);
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new ConfigError(`${name} must be a whole number (0 or more), got "${raw}"`);
  return value;
}

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new ConfigError(`${name} must be a port number (0-65535), got "${raw}"`);
  }
  return value;
}

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new ConfigError(`${name} must be a positive whole number, got "${raw}"`);
  return value;
}

/** A token short enough to guess would protect nothing: refuse it at start-up rather than serve behind it. */
function metricsToken(raw: string | undefined): string | null {
  const value = (raw ?? '').trim();
  if (value === '') return null;
  if (value.length < 16 || /\s/.test(value))
    throw new ConfigError('METRICS_TOKEN must be at least 16 characters without spaces (e.g. openssl rand -hex 32)');
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const host = env.HOST || '127.0.0.1';
  const listenPort = port(env, 'PORT', 3000);
  const databaseUrl = env.DATABASE_URL || null;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must start with postgres:// (leave it unset for the embedded SQLite database)');
  }
  return {
    port: listenPort,
    host,
    dataDir: path.resolve(env.CONVERSA_DATA_DIR || './data'),
    databaseUrl,
    secretKey: env.CONVERSA_SECRET_KEY || null,
    bccSmtpPort: port(env, 'BCC_SMTP_PORT', 2525),
    bccDomain: env.BCC_DOMAIN || 'bcc.localhost',
    publicUrl: (env.PUBLIC_URL || `http://${host.includes(':') ? `[${host}]` : host}:${listenPort}`).replace(
      /\/+$/,
      '',
    ),
    logLevel: env.LOG_LEVEL || 'info',
    logFormat: logFormat(env.LOG_FORMAT),
    syncBatchSize: positive(env, 'SYNC_BATCH_SIZE', 500),
    syncBatchBytes: positive(env, 'SYNC_BATCH_BYTES', 8 * 1024 * 1024),
    oauth: loadOAuthConfig(env),
    appSmtp: loadAppSmtpConfig(env),
    dkim: loadDkimConfig(env),
    serveBackground: !/^(0|false|no|off)$/i.test(env.CONVERSA_SERVE_BACKGROUND ?? ''),
    bccTls: loadBccTlsConfig(env),
    calendarIntervalMinutes: positive(env, 'CONVERSA_CALENDAR_INTERVAL_MINUTES', 30),
    calendarCheckSeconds: positive(env, 'CONVERSA_CALENDAR_CHECK_SECONDS', 30),
    allowedHosts: parseAllowedHosts(env.CONVERSA_ALLOWED_HOSTS),
    dnsServers: (env.CONVERSA_DNS_SERVERS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    sqliteMmapBytes: wholeNumber(env, 'CONVERSA_SQLITE_MMAP_MB', 0) * 1024 * 1024,
    postgresPrepared: !/^(0|false|no|off)$/i.test(env.CONVERSA_PG_PREPARED ?? ''),
    checkResponses: /^(1|true|yes|on)$/i.test(env.CONVERSA_CHECK_RESPONSES ?? ''),
    metricsToken: metricsToken(env.METRICS_TOKEN),
    uploadsInFlightBytes: positive(env, 'CONVERSA_UPLOADS_IN_FLIGHT_MB', 64) * 1024 * 1024,
  };
}
