// Proves a mailbox's settings work before anything is saved: IMAP login (then logout) and SMTP AUTH (then
// QUIT), one after the other inside one time budget, so a blackholed host fails in seconds, not minutes.
// Nothing retries. Every socket is closed on every path: on success, on failure, on timeout and on abort.
// The IMAP and SMTP client factories here are the one place their options are set, for the sync and
// sending code too, so certificate checking and timeouts are never configured twice. Every host is first checked
// by the outbound policy (src/net/outbound-policy.ts) and the clients connect to the checked address, with the
// name kept as the TLS server name (SNI and certificate check).
import { isIP } from 'node:net';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import SMTPConnection, { type SMTPConnectionAuth, type SMTPConnectionOptions } from 'nodemailer/lib/smtp-connection';
import type { SMTPTransportOptions } from 'nodemailer/lib/smtp-transport';
import XOAuth2 from 'nodemailer/lib/xoauth2';
import type { ProviderPreset, ServerEndpoint } from '../providers/presets.js';
import { classifyMailError, mailConnectionError, type MailProtocol } from './mail-errors.js';
import { STRICT_OUTBOUND_POLICY, type OutboundPolicy } from '../../net/outbound-policy.js';

export type MailAuth = { kind: 'password'; password: string } | { kind: 'oauth2'; accessToken: string };

/** Who signs in, and with what: a password (or app password) or an OAuth 2 access token (XOAUTH2). */
export interface MailLogin {
  username: string;
  auth: MailAuth;
}

export interface MailClientOptions {
  /** Certificates are verified unless this is explicitly false (tests against self-signed servers). */
  tlsRejectUnauthorized?: boolean;
  /** TCP (and implicit TLS) connect, DNS included. */
  connectionTimeoutMs?: number;
  /** From connected to the server's greeting. */
  greetingTimeoutMs?: number;
  /** Silence on an established connection. */
  socketTimeoutMs?: number;
  /**
   * Refuse to sign in over a connection that is not encrypted: with `secure: false`, STARTTLS must succeed.
   * Default false (upgrade when the server offers STARTTLS, like the libraries do).
   */
  requireTls?: boolean;
}

export const DEFAULT_TEST_TIMEOUT_MS = 10_000;

/** A server after the outbound policy: `host` stays the name (messages, TLS), `address` is what is connected to. */
export interface PinnedEndpoint extends ServerEndpoint {
  address?: string;
}

/**
 * Checks a user-named server with the policy (AppError HOST_NOT_ALLOWED before any connection) and pins it to the
 * checked address. `cleartext` is what the login may use: a password (or token) goes without TLS only to a listed
 * host, so for any other host a plain connection must upgrade with STARTTLS.
 */
export async function pinEndpoint(
  policy: OutboundPolicy | undefined,
  settings: ServerEndpoint,
): Promise<{ endpoint: PinnedEndpoint; options: Pick<MailClientOptions, 'requireTls'> }> {
  const checked = await (policy ?? STRICT_OUTBOUND_POLICY).check(settings.host);
  return {
    endpoint: { host: checked.host, port: settings.port, secure: settings.secure, address: checked.address },
    options: !settings.secure && !checked.listed ? { requireTls: true } : {},
  };
}

/** Where to connect and which name TLS checks: an IP literal the user gave is not a valid SNI name. */
function target(settings: PinnedEndpoint): { host: string; servername?: string } {
  if (!settings.address) return { host: settings.host };
  return { host: settings.address, ...(isIP(settings.host) ? {} : { servername: settings.host }) };
}

function tlsOptions(options: MailClientOptions): { rejectUnauthorized: boolean; minVersion: 'TLSv1.2' } {
  return { rejectUnauthorized: options.tlsRejectUnauthorized !== false, minVersion: 'TLSv1.2' };
}

/** A configured, not yet connected ImapFlow. Callers attach an 'error' listener before connect(). */
export function createImapClient(
  settings: PinnedEndpoint,
  login: MailLogin,
  options: MailClientOptions & {
    imap?: Omit<ImapFlowOptions, 'host' | 'port' | 'secure' | 'auth' | 'tls' | 'logger'>;
  } = {},
): ImapFlow {
  return new ImapFlow({
    clientInfo: { name: 'Conversa' },
    ...options.imap,
    ...target(settings),
    port: settings.port,
    secure: settings.secure,
    auth:
      login.auth.kind === 'oauth2'
        ? { user: login.username, accessToken: login.auth.accessToken }
        : { user: login.username, pass: login.auth.password },
    tls: tlsOptions(options),
    logger: false,
    ...(options.connectionTimeoutMs !== undefined ? { connectionTimeout: options.connectionTimeoutMs } : {}),
    ...(options.greetingTimeoutMs !== undefined ? { greetingTimeout: options.greetingTimeoutMs } : {}),
    ...(options.socketTimeoutMs !== undefined ? { socketTimeout: options.socketTimeoutMs } : {}),
    ...(options.requireTls && !settings.secure ? { doSTARTTLS: true } : {}),
  });
}

/** The connection options shared by an SMTPConnection and nodemailer's createTransport(). */
export function smtpConnectionOptions(
  settings: PinnedEndpoint,
  options: MailClientOptions = {},
): SMTPConnectionOptions {
  return {
    ...target(settings),
    port: settings.port,
    secure: settings.secure,
    tls: tlsOptions(options),
    ...(options.requireTls && !settings.secure ? { requireTLS: true } : {}),
    ...(options.connectionTimeoutMs !== undefined
      ? { connectionTimeout: options.connectionTimeoutMs, dnsTimeout: options.connectionTimeoutMs }
      : {}),
    ...(options.greetingTimeoutMs !== undefined ? { greetingTimeout: options.greetingTimeoutMs } : {}),
    ...(options.socketTimeoutMs !== undefined ? { socketTimeout: options.socketTimeoutMs } : {}),
    // Nothing lingers after close(): a peer that never answers our FIN must not hold a socket open.
    socketCloseTimeout: 1_000,
    logger: false,
    debug: false,
  };
}

/** What SMTPConnection.login() takes for this login (XOAUTH2 with the given token, never refreshed here). */
export function smtpAuth(login: MailLogin): SMTPConnectionAuth {
  if (login.auth.kind === 'oauth2') {
    return {
      user: login.username,
      oauth2: new XOAuth2({ user: login.username, accessToken: login.auth.accessToken }, false),
    };
  }
  return { user: login.username, pass: login.auth.password };
}

/** Options for nodemailer.createTransport() (the sending code): the same connection options, with the login. */
export function smtpTransportOptions(
  settings: PinnedEndpoint,
  login: MailLogin,
  options: MailClientOptions = {},
): SMTPTransportOptions {
  return {
    ...smtpConnectionOptions(settings, options),
    auth:
      login.auth.kind === 'oauth2'
        ? { type: 'OAuth2', user: login.username, accessToken: login.auth.accessToken }
        : { user: login.username, pass: login.auth.password },
  };
}

class DeadlineExceeded extends Error {
  readonly code = 'TIMEOUT';
  constructor() {
    super('connection test took longer than its time budget');
    this.name = 'TimeoutError';
  }
}

/**
 * Runs `operation` until it settles, the deadline passes or the signal aborts; in the last two cases calls
 * `cancel` (which must close the sockets) and rejects with DeadlineExceeded or the signal's reason.
 */
async function withinDeadline<T>(
  deadline: number,
  signal: AbortSignal | undefined,
  cancel: () => void,
  operation: () => Promise<T>,
): Promise<T> {
  signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const running = operation();
  const stopped = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => {
        cancel();
        reject(new DeadlineExceeded());
      },
      Math.max(0, deadline - Date.now()),
    );
    if (signal) {
      onAbort = () => {
        cancel();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
    }
  });
  try {
    return await Promise.race([running, stopped]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    // Whichever lost the race must not surface as an unhandled rejection.
    running.catch(() => undefined);
    stopped.catch(() => undefined);
  }
}

interface TestContext {
  deadline: number;
  budgetMs: number;
  signal: AbortSignal | undefined;
  login: MailLogin;
  options: MailClientOptions;
  preset: ProviderPreset | undefined;
}

/**
 * The libraries' own connect/greeting/socket timeouts: a little inside what is left of the budget, so their
 * errors (which say which phase stalled) normally win over our deadline, which stays the backstop.
 */
function libraryBudget(ctx: TestContext): { phases: number; socket: number } {
  const left = ctx.deadline - Date.now();
  const margin = Math.min(250, Math.floor(left / 10));
  // The inactivity timer runs from the moment of connecting too; it must not beat the greeting timeout.
  return { phases: Math.max(1, left - margin), socket: Math.max(1, left - Math.floor(margin / 2)) };
}

function translate(error: unknown, protocol: MailProtocol, settings: ServerEndpoint, ctx: TestContext): unknown {
  // The caller's own abort is not a mailbox problem: pass it through untouched.
  if (ctx.signal?.aborted && error === ctx.signal.reason) return error;
  const classified = classifyMailError(error, protocol, {
    host: settings.host,
    port: settings.port,
    secure: settings.secure,
    authKind: ctx.login.auth.kind,
    timeoutMs: ctx.budgetMs,
  });
  return mailConnectionError(classified, ctx.preset, error);
}

async function checkImap(settings: ServerEndpoint, ctx: TestContext): Promise<string[]> {
  const budget = libraryBudget(ctx);
  const client = createImapClient(settings, ctx.login, {
    ...ctx.options,
    connectionTimeoutMs: budget.phases,
    greetingTimeoutMs: budget.phases,
    socketTimeoutMs: budget.socket,
    // 'log' events (with logger: false nothing is printed) show the server's first line, see below.
    imap: { disableAutoIdle: true, disableCompression: true, disableAutoEnable: true, emitLogs: true },
  });
  // Failures reach us through connect()/logout(); an 'error' event without a listener would crash the process.
  client.on('error', () => undefined);
  // imapflow skips lines it can't parse while it waits for "* OK", so a server that talks but is not an IMAP
  // server (an SMTP, SSH or HTTP port) would only show up as a greeting timeout. Its first line tells at once.
  let firstLineSeen = false;
  let wrongServer: ((error: Error) => void) | undefined;
  const notImap = new Promise<never>((_resolve, reject) => (wrongServer = reject));
  notImap.catch(() => undefined);
  client.on('log', (entry: { src?: unknown; msg?: unknown }) => {
    if (firstLineSeen || entry.src !== 's' || typeof entry.msg !== 'string') return;
    firstLineSeen = true;
    if (/^\* (OK|PREAUTH|BYE)\b/i.test(entry.msg)) return;
    wrongServer?.(
      Object.assign(new Error('The server did not greet like an IMAP server'), {
        code: 'InvalidResponse',
        response: entry.msg.slice(0, 200),
      }),
    );
    client.close();
  });
  try {
    return await withinDeadline(
      ctx.deadline,
      ctx.signal,
      () => client.close(),
      () =>
        Promise.race([
          (async () => {
            await client.connect();
            const capabilities = [...client.capabilities.keys()];
            await client.logout();
            return capabilities;
          })(),
          notImap,
        ]),
    );
  } catch (error) {
    throw translate(error, 'imap', settings, ctx);
  } finally {
    client.close();
  }
}

/** Connects, signs in (AUTH PLAIN/LOGIN or XOAUTH2) and quits. Exported for tests of the SMTP half alone. */
export async function checkSmtp(
  settings: ServerEndpoint,
  login: MailLogin,
  options: MailClientOptions & {
    timeoutMs?: number;
    signal?: AbortSignal;
    preset?: ProviderPreset;
    outbound?: OutboundPolicy;
  } = {},
): Promise<void> {
  const pinned = await pinEndpoint(options.outbound, settings);
  const budgetMs = options.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const ctx: TestContext = {
    deadline: Date.now() + budgetMs,
    budgetMs,
    signal: options.signal,
    login,
    options: { ...options, ...pinned.options },
    preset: options.preset,
  };
  return smtpWithin(pinned.endpoint, ctx);
}

async function smtpWithin(settings: ServerEndpoint, ctx: TestContext): Promise<void> {
  const budget = libraryBudget(ctx);
  const connection = new SMTPConnection(
    smtpConnectionOptions(settings, {
      ...ctx.options,
      connectionTimeoutMs: budget.phases,
      greetingTimeoutMs: budget.phases,
      socketTimeoutMs: budget.socket,
    }),
  );
  // Socket failures are emitted as 'error' (and end the connection); keep the first one for the rejection.
  let emitted: unknown;
  let failEarly: ((error: unknown) => void) | undefined;
  connection.on('error', (error: unknown) => {
    emitted ??= error;
    failEarly?.(error);
  });
  try {
    await withinDeadline(
      ctx.deadline,
      ctx.signal,
      () => connection.close(),
      async () => {
        await new Promise<void>((resolve, reject) => {
          failEarly = reject;
          connection.once('end', () => reject(emitted ?? new Error('Connection closed unexpectedly')));
          connection.connect((error?: Error | null) => (error ? reject(error) : resolve()));
        });
        if (!connection.allowsAuth) {
          throw Object.assign(new Error('The server does not offer AUTH on this connection'), {
            code: 'EAUTH',
            command: 'AUTH',
            responseCode: 502,
          });
        }
        await new Promise<void>((resolve, reject) => {
          failEarly = reject;
          connection.login(smtpAuth(ctx.login), (error?: Error | null) => (error ? reject(error) : resolve()));
        });
        failEarly = undefined;
        connection.quit();
      },
    );
  } catch (error) {
    throw translate(error, 'smtp', settings, ctx);
  } finally {
    connection.close();
  }
}

export interface TestMailConnectionInput {
  imap: ServerEndpoint;
  smtp: ServerEndpoint;
  username: string;
  auth: MailAuth;
  /** Certificates are verified unless this is explicitly false. */
  tlsRejectUnauthorized?: boolean;
  /** For IMAP and SMTP together; default 10 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Shapes the messages: a refused password on a provider with app passwords says how to make one. */
  preset?: ProviderPreset;
  requireTls?: boolean;
  /** Where the servers may be (CONVERSA_ALLOWED_HOSTS); default: public addresses only. */
  outbound?: OutboundPolicy;
}

/**
 * Logs in to IMAP, logs out, then authenticates to SMTP, within `timeoutMs` in all. Resolves with the IMAP
 * capabilities seen after login; rejects with an AppError (AUTH_FAILED, TLS_FAILED, HOST_UNREACHABLE,
 * TIMEOUT, PROTOCOL_ERROR), HOST_NOT_ALLOWED before any connection, or with the signal's reason when the
 * caller aborts.
 */
export async function testMailConnection(input: TestMailConnectionInput): Promise<{ imapCapabilities: string[] }> {
  // Both hosts are checked before either is connected to.
  const imap = await pinEndpoint(input.outbound, input.imap);
  const smtp = await pinEndpoint(input.outbound, input.smtp);
  const budgetMs = input.timeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
  const ctx: TestContext = {
    deadline: Date.now() + budgetMs,
    budgetMs,
    signal: input.signal,
    login: { username: input.username, auth: input.auth },
    options: {
      ...(input.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
      ...(input.requireTls ? { requireTls: true } : {}),
    },
    preset: input.preset,
  };
  const imapCapabilities = await checkImap(imap.endpoint, { ...ctx, options: { ...ctx.options, ...imap.options } });
  await smtpWithin(smtp.endpoint, { ...ctx, options: { ...ctx.options, ...smtp.options } });
  return { imapCapabilities };
}
