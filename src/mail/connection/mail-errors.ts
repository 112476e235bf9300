// Translates what imapflow, nodemailer and Node's net/tls/dns layers throw while connecting into the five
// stable codes of the contract, with a message a salesperson can act on: which server (receiving = IMAP,
// sending = SMTP), what went wrong, what to check. This is the one place that reads library error shapes;
// everything above it sees only MailErrorCode. The original error is kept as the AppError's cause.
// Messages name the failure; they quote a server only once it has proven to be a mail server (it greeted and
// answered a command), never what some other service on that port said (a database or queue banner).
// Each message also has a finer text code (MAIL_TEXT_CODES) with parameters, so the web app can say it in the
// user's language; the server's own words stay a parameter (`reply`), never translated.
import { AppError } from '../../core/app-error.js';
import type { TextParams } from '../../core/server-text.js';
import type { ProviderPreset } from '../providers/presets.js';

export type MailErrorCode = 'AUTH_FAILED' | 'TLS_FAILED' | 'HOST_UNREACHABLE' | 'TIMEOUT' | 'PROTOCOL_ERROR';
export type MailProtocol = 'imap' | 'smtp';

/**
 * The closed set of connection-failure texts (web dictionaries: `server.<code>`). Parameters: `server` ('imap' |
 * 'smtp'), `address` ("host:port", when known), `host`, `port`, `reply` (the mail server's own words, when quoted).
 */
export const MAIL_TEXT_CODES = [
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
export type MailTextCode = (typeof MAIL_TEXT_CODES)[number];

/** The hints of a refused sign-in (`hintDetail` in the error envelope); `provider` is its name, `url` its how-to page. */
export const MAIL_HINT_CODES = [
  'MAIL_HINT_SIGN_IN_AGAIN',
  'MAIL_HINT_APP_PASSWORD_WITH_2FA',
  'MAIL_HINT_APP_PASSWORD_ONLY',
  'MAIL_HINT_APP_PASSWORD_MAYBE',
] as const;
export type MailHintCode = (typeof MAIL_HINT_CODES)[number];

export interface ClassifiedMailError {
  code: MailErrorCode;
  message: string;
  /** The same message as a text code and parameters, for the user's language. */
  text: { code: MailTextCode; params: TextParams };
  protocol: MailProtocol;
  /** How the sign-in was attempted, when the caller said so (shapes the hint for AUTH_FAILED). */
  authKind?: 'password' | 'oauth2';
}

/** What the caller knows about the attempt; it makes the messages concrete ("imap.example.com on port 993"). */
export interface MailErrorContext {
  host?: string;
  port?: number;
  secure?: boolean;
  authKind?: 'password' | 'oauth2';
  /** The overall time budget, for "did not answer within 10 seconds". */
  timeoutMs?: number;
}

// Certificate verification failures (OpenSSL's names as Node reports them, plus Node's own host check).
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

const NAME_NOT_FOUND_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'EDNS']);
const REFUSED_CODES = new Set(['ECONNREFUSED']);
const NO_ROUTE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'ETIMEOUT',
  'ESOCKETTIMEDOUT',
  'CONNECT_TIMEOUT',
  'GREETING_TIMEOUT',
  'UPGRADE_TIMEOUT',
  'TIMEOUT',
]);
const PROTOCOL_CODES = new Set([
  'EPROTOCOL',
  'InvalidResponse',
  'UnexpectedTag',
  'MissingTag',
  'ResponseProcessingFailed',
  'LineTooLarge',
  'LiteralTooLarge',
  'ResponseTooLarge',
  'TooManyTokens',
  'TooManyResponses',
  'MAX_IMAP_NESTING_REACHED',
  'STARTTLS_INJECTION',
]);
const CLOSED_CODES = new Set([
  'ClosedAfterConnectText',
  'ClosedAfterConnectTLS',
  'NoConnection',
  'EConnectionClosed',
  'ECONNECTION',
]);

interface Facts {
  codes: Set<string>;
  /** Lower-cased messages along the cause chain. */
  text: string;
  serverText: string | undefined;
  serverResponseCode: string | undefined;
  smtpStatus: number | undefined;
  authenticationFailed: boolean;
  tlsFailed: boolean;
  timeoutType: string | undefined;
  command: string | undefined;
}

function stringProp(value: unknown, key: string): string | undefined {
  const v = (value as Record<string, unknown>)[key];
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

/** Everything the error and its causes say, gathered once so the rules below read as a table. */
function gather(error: unknown): Facts {
  const facts: Facts = {
    codes: new Set(),
    text: '',
    serverText: undefined,
    serverResponseCode: undefined,
    smtpStatus: undefined,
    authenticationFailed: false,
    tlsFailed: false,
    timeoutType: undefined,
    command: undefined,
  };
  const messages: string[] = [];
  const seen = new Set<unknown>();
  const visit = (value: unknown, depth: number): void => {
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > 6) {
      if (typeof value === 'string') messages.push(value);
      return;
    }
    seen.add(value);
    const e = value as Record<string, unknown>;
    for (const key of ['code', 'originalCode', 'errno']) {
      const code = e[key];
      if (typeof code === 'string') facts.codes.add(code);
    }
    if (typeof e.message === 'string') messages.push(e.message);
    if (e.authenticationFailed === true) facts.authenticationFailed = true;
    if (e.tlsFailed === true) facts.tlsFailed = true;
    facts.timeoutType ??= stringProp(e, 'timeoutType');
    facts.command ??= stringProp(e, 'command');
    facts.serverResponseCode ??= stringProp(e, 'serverResponseCode');
    if (typeof e.responseCode === 'number') facts.smtpStatus ??= e.responseCode;
    // imapflow: responseText (tagged NO/BAD text), response (text once enhanced), reason (BYE text).
    // nodemailer: response ("535 5.7.8 …").
    facts.serverText ??= stringProp(e, 'responseText') ?? stringProp(e, 'response') ?? stringProp(e, 'reason');
    for (const inner of [e.cause, e._err, e.parserError]) if (inner !== undefined) visit(inner, depth + 1);
    if (Array.isArray(e.errors)) for (const inner of e.errors) visit(inner, depth + 1);
  };
  visit(error, 0);
  if (typeof error === 'string') messages.push(error);
  if (facts.serverText) messages.push(facts.serverText);
  facts.text = messages.join(' | ').toLowerCase();
  if (facts.smtpStatus === undefined && facts.serverText) {
    const status = /^([2-5]\d\d)[ -]/.exec(facts.serverText.trim());
    if (status) facts.smtpStatus = Number(status[1]);
  }
  return facts;
}

function hasAny(codes: Set<string>, wanted: Set<string>): string | undefined {
  for (const code of codes) if (wanted.has(code)) return code;
  return undefined;
}

/** The server's own words, short and on one line: only for answers to a command, after a mail server's greeting. */
function serverSaid(facts: Facts): string | undefined {
  // A greeting that was not a mail server's (nodemailer's CONN, imapflow's InvalidResponse) is never repeated.
  if (facts.command === 'CONN' || facts.codes.has('EPROTOCOL') || facts.codes.has('InvalidResponse')) return undefined;
  const said = facts.serverText?.replace(/\s+/g, ' ').trim();
  if (!said || said.length < 3) return undefined;
  return said.length > 200 ? `${said.slice(0, 197)}…` : said;
}

function quoteServer(facts: Facts): string {
  const said = serverSaid(facts);
  return said ? ` The server said: "${said}"` : '';
}

interface Wording {
  server: string;
  at: string;
  usualPorts: string;
}

function wording(protocol: MailProtocol, context: MailErrorContext): Wording {
  const server = protocol === 'imap' ? 'receiving (IMAP) server' : 'sending (SMTP) server';
  const where = context.host ? `${context.host}${context.port ? ` on port ${context.port}` : ''}` : '';
  return {
    server,
    at: where ? ` ${where}` : '',
    usualPorts:
      protocol === 'imap'
        ? 'IMAP normally uses port 993 with SSL/TLS on'
        : 'SMTP normally uses port 465 with SSL/TLS on, or port 587 with SSL/TLS off (STARTTLS)',
  };
}

function isTlsHandshakeProblem(facts: Facts): boolean {
  if (facts.tlsFailed || facts.codes.has('ETLS')) return true;
  for (const code of facts.codes)
    if (code.startsWith('ERR_SSL_') || (code.startsWith('ERR_TLS_') && code !== 'ERR_TLS_CERT_ALTNAME_INVALID'))
      return true;
  return /wrong version number|ssl routines|tls_validate_record_header|packet length too long|unknown protocol|handshake failure|before secure tls connection|ssl3_get_record|tlsv1 alert/.test(
    facts.text,
  );
}

/** Classifies one failed IMAP or SMTP connection attempt. Never throws. */
export function classifyMailError(
  error: unknown,
  protocol: MailProtocol,
  context: MailErrorContext = {},
): ClassifiedMailError {
  const facts = gather(error);
  const w = wording(protocol, context);
  const base: TextParams = { server: protocol };
  if (context.host) {
    base.host = context.host;
    base.address = context.port ? `${context.host}:${context.port}` : context.host;
  }
  if (context.port) base.port = context.port;
  const said = serverSaid(facts);
  const result = (
    code: MailErrorCode,
    message: string,
    textCode: MailTextCode,
    options: { quote?: boolean } = {},
  ): ClassifiedMailError => ({
    code,
    message,
    text: { code: textCode, params: { ...base, ...(options.quote && said ? { reply: said } : {}) } },
    protocol,
    ...(context.authKind ? { authKind: context.authKind } : {}),
  });
  const Server = `The ${w.server}`;

  // 1. The certificate: the most specific failure, and one a wrong password cannot explain.
  const certCode =
    hasAny(facts.codes, CERTIFICATE_CODES) ??
    (/certificate|self[- ]signed|altnames/.test(facts.text) ? 'certificate' : undefined);
  if (certCode) {
    const certText: MailTextCode =
      certCode === 'CERT_HAS_EXPIRED'
        ? 'MAIL_CERT_EXPIRED'
        : certCode === 'ERR_TLS_CERT_ALTNAME_INVALID' || certCode === 'HOSTNAME_MISMATCH'
          ? 'MAIL_CERT_WRONG_NAME'
          : certCode === 'DEPTH_ZERO_SELF_SIGNED_CERT' || certCode === 'SELF_SIGNED_CERT_IN_CHAIN'
            ? 'MAIL_CERT_SELF_SIGNED'
            : 'MAIL_CERT_UNTRUSTED';
    const why =
      certCode === 'CERT_HAS_EXPIRED'
        ? 'it has expired'
        : certCode === 'ERR_TLS_CERT_ALTNAME_INVALID' || certCode === 'HOSTNAME_MISMATCH'
          ? 'it was issued for a different server name'
          : certCode === 'DEPTH_ZERO_SELF_SIGNED_CERT' || certCode === 'SELF_SIGNED_CERT_IN_CHAIN'
            ? 'it is self-signed, not issued by a trusted authority'
            : 'it is not signed by an authority this server trusts';
    return result(
      'TLS_FAILED',
      `${Server}${w.at} presented a security certificate that could not be trusted: ${why}. ` +
        "Check that the server name is exactly the one your provider gives (the certificate must match it); if it's your company's own server, ask your administrator to install a valid certificate.",
      certText,
    );
  }

  // 2. Sign-in refused because the connection is not encrypted.
  if (
    facts.serverResponseCode === 'PRIVACYREQUIRED' ||
    /login is disabled|logindisabled|must issue a starttls|starttls (is )?required|encryption required/.test(facts.text)
  ) {
    return result(
      'TLS_FAILED',
      `${Server}${w.at} does not accept a sign-in over an unencrypted connection. Turn SSL/TLS on (${w.usualPorts}).`,
      'MAIL_TLS_REQUIRED',
    );
  }

  // 3. TLS spoken to a plain port (or the reverse), or a handshake that failed for another reason.
  if (isTlsHandshakeProblem(facts)) {
    const mismatch =
      /wrong version number|packet length too long|unknown protocol|tls_validate_record_header|ssl3_get_record/.test(
        facts.text,
      );
    return result(
      'TLS_FAILED',
      mismatch
        ? `Could not start a secure connection with the ${w.server}${w.at}: that port does not speak SSL/TLS from the start. ` +
            `The SSL/TLS setting probably does not match the port: ${w.usualPorts}.`
        : `Could not set up a secure (SSL/TLS) connection with the ${w.server}${w.at}. Check the port and the SSL/TLS setting: ${w.usualPorts}.`,
      mismatch ? 'MAIL_TLS_PORT_MISMATCH' : 'MAIL_TLS_FAILED',
    );
  }

  // 4. The credentials.
  const commandUnsupported =
    facts.smtpStatus !== undefined &&
    [500, 502, 503, 504].includes(facts.smtpStatus) &&
    /^auth/i.test(facts.command ?? '');
  if (commandUnsupported) {
    return result(
      'PROTOCOL_ERROR',
      `${Server}${w.at} does not offer sign-in on this connection, so it cannot send mail for you. ` +
        `Use your provider's submission port: ${w.usualPorts}.${quoteServer(facts)}`,
      'MAIL_AUTH_NOT_OFFERED',
      { quote: true },
    );
  }
  if (facts.serverResponseCode === 'UNAVAILABLE') {
    return result(
      'PROTOCOL_ERROR',
      `${Server}${w.at} could not check the sign-in right now (a temporary problem on its side). Try again in a few minutes.${quoteServer(facts)}`,
      'MAIL_AUTH_UNAVAILABLE',
      { quote: true },
    );
  }
  const authRejected =
    facts.authenticationFailed ||
    facts.codes.has('EAUTH') ||
    facts.codes.has('ENOAUTH') ||
    facts.codes.has('EOAUTH2') ||
    facts.serverResponseCode === 'AUTHENTICATIONFAILED' ||
    facts.serverResponseCode === 'AUTHORIZATIONFAILED' ||
    facts.serverResponseCode === 'EXPIRED' ||
    facts.smtpStatus === 535 ||
    facts.smtpStatus === 534;
  if (authRejected) {
    return result(
      'AUTH_FAILED',
      context.authKind === 'oauth2'
        ? `${Server}${w.at} refused the sign-in: access was not granted, or it has expired or been revoked. Sign in with your provider again.${quoteServer(facts)}`
        : `${Server}${w.at} refused the sign-in: the username or password is not accepted. ` +
            `Check the username (usually your full e-mail address) and the password.${quoteServer(facts)}`,
      context.authKind === 'oauth2' ? 'MAIL_OAUTH_REFUSED' : 'MAIL_AUTH_REFUSED',
      { quote: true },
    );
  }

  // 5. Reaching the server at all.
  const notFound =
    hasAny(facts.codes, NAME_NOT_FOUND_CODES) ?? (/getaddrinfo|dns/.test(facts.text) ? 'dns' : undefined);
  if (notFound) {
    return result(
      'HOST_UNREACHABLE',
      `The ${w.server} name${context.host ? ` "${context.host}"` : ''} could not be found. Check its spelling (for example imap.example.com for receiving, smtp.example.com for sending).`,
      'MAIL_HOST_NOT_FOUND',
    );
  }
  if (hasAny(facts.codes, REFUSED_CODES) || /econnrefused|connection refused/.test(facts.text)) {
    return result(
      'HOST_UNREACHABLE',
      `Nothing answered${w.at}: the ${w.server} refused the connection. Check the server name and the port (${w.usualPorts}).`,
      'MAIL_CONNECTION_REFUSED',
    );
  }
  if (hasAny(facts.codes, NO_ROUTE_CODES)) {
    return result(
      'HOST_UNREACHABLE',
      `The ${w.server}${w.at} cannot be reached from the Conversa server (no network route). Check the server name, and that no firewall blocks the connection.`,
      'MAIL_NO_ROUTE',
    );
  }

  // 6. Waiting too long.
  const timeoutCode =
    hasAny(facts.codes, TIMEOUT_CODES) ?? facts.timeoutType ?? (/timed? ?out/.test(facts.text) ? 'timeout' : undefined);
  if (timeoutCode) {
    const within = context.timeoutMs ? ` within ${Math.round(context.timeoutMs / 100) / 10} seconds` : ' in time';
    const greeting =
      timeoutCode === 'GREETING_TIMEOUT' || facts.timeoutType === 'GREETING_TIMEOUT' || /greeting/.test(facts.text);
    const connecting =
      timeoutCode === 'CONNECT_TIMEOUT' ||
      facts.timeoutType === 'CONNECT_TIMEOUT' ||
      /connection timeout|connect timeout/.test(facts.text);
    const plainOnTlsPort = context.secure === false && (context.port === 993 || context.port === 465);
    if (greeting || plainOnTlsPort) {
      return result(
        'TIMEOUT',
        `${Server}${w.at} accepted the connection but did not answer${within}. ` +
          (plainOnTlsPort
            ? `Port ${String(context.port)} expects SSL/TLS from the start: turn SSL/TLS on.`
            : `The port or the SSL/TLS setting is probably wrong: ${w.usualPorts}.`),
        plainOnTlsPort ? 'MAIL_PLAIN_ON_TLS_PORT' : 'MAIL_NO_GREETING',
      );
    }
    return result(
      'TIMEOUT',
      connecting
        ? `${Server}${w.at} did not answer${within}. Check the server name and the port; a firewall may also be blocking the connection.`
        : `${Server}${w.at} did not finish answering${within}. Try again; if it keeps happening, check the port and the SSL/TLS setting (${w.usualPorts}).`,
      connecting ? 'MAIL_CONNECT_TIMEOUT' : 'MAIL_ANSWER_TIMEOUT',
    );
  }

  // 7. Something answered, but not the way an IMAP/SMTP server should.
  if (hasAny(facts.codes, DROPPED_CODES)) {
    return result(
      'HOST_UNREACHABLE',
      `${Server}${w.at} dropped the connection. Check the port and the SSL/TLS setting (${w.usualPorts}); a firewall may also be in the way.`,
      'MAIL_CONNECTION_DROPPED',
    );
  }
  const protocolCode = hasAny(facts.codes, PROTOCOL_CODES) ?? [...facts.codes].find((c) => c.startsWith('ParserError'));
  if (protocolCode || /invalid greeting|unexpected response|invalid server response/.test(facts.text)) {
    return result(
      'PROTOCOL_ERROR',
      `The server${w.at} did not answer as a ${protocol === 'imap' ? 'receiving (IMAP)' : 'sending (SMTP)'} mail server. ` +
        `Check the server name and the port: ${w.usualPorts}.`,
      'MAIL_NOT_A_MAIL_SERVER',
    );
  }
  if (hasAny(facts.codes, CLOSED_CODES) || /closed|connection ended|socket hang up/.test(facts.text)) {
    return result(
      'PROTOCOL_ERROR',
      `${Server}${w.at} closed the connection unexpectedly. Check the port and the SSL/TLS setting (${w.usualPorts}).`,
      'MAIL_CONNECTION_CLOSED',
    );
  }
  // The library's message may carry what the peer sent: name the failure only.
  return result(
    'PROTOCOL_ERROR',
    `Something unexpected happened while talking to the ${w.server}${w.at}.`,
    'MAIL_UNEXPECTED',
  );
}

function appPasswordHintText(preset: ProviderPreset): { code: MailHintCode; params: TextParams } | undefined {
  const policy = preset.appPassword;
  if (!policy) return undefined;
  return {
    code: policy.requiredWith2fa ? 'MAIL_HINT_APP_PASSWORD_WITH_2FA' : 'MAIL_HINT_APP_PASSWORD_ONLY',
    params: { provider: preset.name, url: policy.instructionsUrl },
  };
}

function appPasswordHint(preset: ProviderPreset): string | undefined {
  const policy = preset.appPassword;
  if (!policy) return undefined;
  const why = policy.requiredWith2fa
    ? `If two-step verification is on for your ${preset.name} account, your usual password does not work here.`
    : `${preset.name} accepts only an app password from programs like Conversa, not your usual password.`;
  return (
    `${why} Turn on two-step verification if it isn't on yet, generate an app password, and enter it here instead of your usual password. ` +
    `How to: ${policy.instructionsUrl}`
  );
}

/**
 * The AppError for a failed connection test: 422 with the classified code and message, the server
 * (`imap`/`smtp`) in the details, and for a refused password on a provider known for app passwords the
 * how-to as the hint.
 */
export function mailConnectionError(
  classified: ClassifiedMailError,
  preset?: ProviderPreset,
  cause?: unknown,
): AppError {
  let hint: string | undefined;
  let hintDetail: { code: MailHintCode; params: TextParams } | undefined;
  if (classified.code === 'AUTH_FAILED') {
    hint =
      classified.authKind === 'oauth2'
        ? `Connect ${preset ? preset.name : 'the account'} again with its sign-in button to grant access anew.`
        : ((preset && appPasswordHint(preset)) ??
          'If your provider uses two-step verification, it may want an app password (made in its security settings) instead of your usual password.');
    hintDetail =
      classified.authKind === 'oauth2'
        ? { code: 'MAIL_HINT_SIGN_IN_AGAIN', params: preset ? { provider: preset.name } : {} }
        : ((preset && appPasswordHintText(preset)) ?? { code: 'MAIL_HINT_APP_PASSWORD_MAYBE', params: {} });
  }
  return new AppError(classified.code, classified.message, {
    ...(hint ? { hint } : {}),
    details: {
      server: classified.protocol,
      // The message and the hint as codes with parameters, for the user's language.
      detail: { code: classified.text.code, params: classified.text.params },
      ...(hintDetail ? { hintDetail } : {}),
    },
    ...(cause === undefined ? {} : { cause }),
  });
}
