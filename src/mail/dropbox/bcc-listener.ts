// The BCC dropbox: an SMTP server that receives mail for `<token>@BCC_DOMAIN` and files it on the CRM's contacts
// (file-bcc-message.ts). It is an MX for one purpose, so it refuses early and says why: too many connections from
// one client (421; idle ones are dropped after 20 s, so idle sockets cannot lock senders out), unknown recipients (550
// 5.1.1), senders other than the mailbox's own address in the envelope or in From (550 5.7.1), mail the sender's
// domain disowns by SPF/DKIM/DMARC (550 5.7.x), oversized mail (552). The reply to DATA is sent only once the
// message is stored, so a failure to store is a 451 the sending server retries, never a 250 followed by a loss.
// No AUTH (the address is the credential, the From/SPF/DKIM checks the guard); STARTTLS when a certificate is set.
//
// ── Wiring (for the composition root; this module does not read the environment by itself) ─────────────────
// package.json: move "smtp-server" from devDependencies to dependencies (production code imports it now).
// src/app/config.ts:
//     import { loadBccTlsConfig, type BccTlsConfig } from '../mail/dropbox/bcc-listener.js';
//     interface Config { …  /** STARTTLS certificate of the BCC listener (BCC_TLS_CERT_FILE + BCC_TLS_KEY_FILE), or
// null. */
//                        bccTls: BccTlsConfig | null; }
//     loadConfig(): …, bccTls: loadBccTlsConfig(env),
//   (bccSmtpPort and bccDomain exist already. Optional: BCC_SMTP_HOST, default HOST, for an install whose web app
//   stays on loopback while its BCC listener faces the internet or a relay.)
// src/app/start-server.ts, startServer() (every `conversa serve`, background on or off; never startWorker, so that
// workers never compete for the port), right after `const address = await app.listen(…)`:
//     let bcc: BccListener;
//     try {
//       bcc = await startBccListener({
//         db: storage.db, blobs, parse, log: app.log.child({ component: 'bcc' }),
//         host: config.host, port: config.bccSmtpPort, domain: config.bccDomain, tls: config.bccTls,
//         resolver: createDnsResolver({ servers: config.dnsServers }),   // the deliverability checks' resolver
//       });
//     } catch (error) {   // the port is taken: stop what was started, say which port
//       await app.close(); await core.parsePool.close(); await storage.close(); throw error;
//     }
//     app.log.info({ port: bcc.port, domain: config.bccDomain }, 'BCC listener ready');
//   RunningServer: add `bcc: BccListener` (tests and the CLI read bcc.port). stop(): `await app.close();` then
//   `await bcc.close();` (it lets deliveries being stored finish and answer) BEFORE `work?.stop()`,
//   `core.parsePool.close()` and `storage.close()`.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
// mailauth is loaded on the first message only: with its public-suffix and DNS tables it is ~10 MB of heap that an
// idle process (most have no BCC traffic) would carry for nothing.
import type { DKIMVerifyResult } from 'mailauth';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import { ConfigError } from '../../core/config-error.js';
import type { Logger } from '../../core/logger.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Db } from '../../storage/database.js';
import type { ParsedMessage, ParseOptions } from '../mime/parse-message.js';
import type { DnsResolver } from '../send/dns-resolver.js';
import {
  fileBccMessage,
  findBccAccount,
  isAccountAddress,
  type BccAccount,
  type FilingResult,
} from './file-bcc-message.js';

/** The largest message accepted by default: what the large providers let a user send. */
export const DEFAULT_BCC_MAX_SIZE = 25 * 1024 * 1024;
export const DEFAULT_BCC_MAX_CONNECTIONS = 300;
/**
 * Simultaneous connections from one client address (an IPv6 client: its /64). Enough for a relay's parallel
 * deliveries (Postfix opens up to 20 per destination); a client holding more gets 421 at once, so a handful of
 * addresses can no longer fill the listener with idle sockets (audit item 8).
 */
export const DEFAULT_BCC_MAX_CONNECTIONS_PER_IP = 20;
/** Idle connections go after this long: an honest client talks within seconds, a starving one just waits. */
export const DEFAULT_BCC_IDLE_TIMEOUT_MS = 20_000;

export interface BccTlsConfig {
  key: Buffer;
  cert: Buffer;
}

/**
 * BCC_TLS_CERT_FILE and BCC_TLS_KEY_FILE (PEM files; the certificate file may hold the chain): both, or neither
 * (no STARTTLS). Read once at start-up; a missing or unreadable file stops start-up with its name.
 */
export function loadBccTlsConfig(env: NodeJS.ProcessEnv): BccTlsConfig | null {
  const certFile = env.BCC_TLS_CERT_FILE?.trim() || null;
  const keyFile = env.BCC_TLS_KEY_FILE?.trim() || null;
  if (!certFile && !keyFile) return null;
  if (!certFile || !keyFile) {
    throw new ConfigError(
      `BCC_TLS_CERT_FILE and BCC_TLS_KEY_FILE go together: set both (PEM files) to offer STARTTLS on the BCC listener, or neither`,
    );
  }
  const read = (name: string, file: string, marker: RegExp): Buffer => {
    let content: Buffer;
    try {
      content = readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
    if (!marker.test(content.toString('latin1')))
      throw new ConfigError(`${name}: ${file} is not a PEM file of the expected kind`);
    return content;
  };
  return {
    cert: read('BCC_TLS_CERT_FILE', certFile, /-----BEGIN CERTIFICATE-----/),
    key: read('BCC_TLS_KEY_FILE', keyFile, /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
  };
}

export interface BccListenerDeps {
  db: Db;
  blobs: BlobStore;
  /** The parse pool: every parse of a delivery runs there, off this thread, with its limits and time budget. */
  parse(raw: Buffer, options?: ParseOptions): Promise<ParsedMessage>;
  log: Logger;
  /** Address to bind (the app's HOST, 127.0.0.1 by default). */
  host: string;
  /** 0 picks a free port (tests); see `port` on the result. */
  port: number;
  /** BCC_DOMAIN: the domain of every BCC address. */
  domain: string;
  /** With a resolver, SPF/DKIM/DMARC are checked (see checkSenderDomain); without, only the addresses are. */
  resolver?: DnsResolver | null;
  /** STARTTLS certificate; null or absent: no STARTTLS. */
  tls?: BccTlsConfig | null;
  /** Bytes; announced in EHLO (SIZE) and enforced. Default 25 MiB. */
  maxSize?: number;
  /** Simultaneous connections; one more gets 421 and is closed. Default 300. */
  maxConnections?: number;
  /** Simultaneous connections from one address (IPv6: one /64); one more gets 421. Default 20. */
  maxConnectionsPerIp?: number;
  /** Name in the greeting and EHLO; default the BCC domain. */
  name?: string;
  /** Idle connections are closed after this long. Default 20 s. */
  socketTimeoutMs?: number;
  /** close(): how long connections still open get before they are cut. Default 5 s. */
  closeTimeoutMs?: number;
}

export interface BccListener {
  port: number;
  /** Stops accepting, lets deliveries being stored finish, closes the rest. */
  close(): Promise<void>;
}

type SmtpError = Error & { responseCode: number };

function smtpError(code: number, text: string): SmtpError {
  return Object.assign(new Error(text), { responseCode: code });
}

const TEMPORARY = (): SmtpError =>
  smtpError(451, '4.3.0 Conversa could not store the message just now (a temporary problem); please try again later');

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isLocalPeer(ip: string): boolean {
  const v4 = ip.replace(/^::ffff:/i, '');
  if (isIP(v4) === 4) return /^(?:127\.|10\.|192\.168\.|172\.(?:1[6-9]|2\d|3[01])\.|169\.254\.)/.test(v4);
  const v6 = ip.toLowerCase();
  return v6 === '::1' || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('fe80:');
}

/**
 * The client our relays received the message from: the newest Received header whose "from … [ip]" clause names a
 * public address (hops between this install's own machines, on private addresses, are passed over).
 */
function relayedClient(raw: Buffer): { ip: string; helo: string | null } | null {
  const head = raw.subarray(0, 256 * 1024).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = (end === -1 ? head : head.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  for (const line of block.split(/\r?\n/)) {
    const m = /^received:\s*from\s+(\S+)(.*?)(?:\sby\s|;|$)/i.exec(line);
    if (!m) continue;
    const ip = /\[(?:ipv6:)?([0-9a-f:.]+)\]/i.exec(m[2] ?? '')?.[1];
    if (ip && isIP(ip) && !isLocalPeer(ip)) return { ip, helo: m[1]!.replace(/^\[|\]$/g, '') };
  }
  return null;
}

export interface SenderDomainVerdict {
  refuse: SmtpError | null;
  /** spf=…, dkim=…, dmarc=… for the log. */
  summary: string;
}

/**
 * SPF, DKIM and DMARC of the sender's domain, when a resolver is given. Refused: SPF `fail` (the domain says this
 * client may not send for it), a DKIM signature of the From domain that fails (a bad signature or a changed body)
 * with no signature of that domain passing, and DMARC `fail` where the domain asks for quarantine or reject.
 * Not refused: `none` (no record: most small domains publish nothing, and the address checks already ran),
 * `softfail`/`neutral`, `permerror` (the domain's own broken record) and `temperror` (a DNS failure here or
 * there: refusing would hold the user's filing hostage to a lookup that says nothing about the sender; the
 * address checks still apply, and the outcome is logged).
 * SPF needs the client's address: the peer's, or, when the peer is on loopback or a private network (a relay of
 * this install, e.g. the MTA that faces the internet), the address in the Received header that relay added. A
 * local connection without one (a local tool) gets no SPF verdict.
 */
export async function checkSenderDomain(
  raw: Buffer,
  session: Pick<SMTPServerSession, 'remoteAddress' | 'hostNameAppearsAs'>,
  mailFrom: string,
  resolver: DnsResolver,
  mta: string,
): Promise<SenderDomainVerdict> {
  const { dkimVerify, dmarc, spf } = await import('mailauth');
  const dkimResult: DKIMVerifyResult = await dkimVerify(raw, { resolver, sender: mailFrom });
  const fromDomain = (dkimResult.headerFrom?.[0] ?? '').split('@').pop()?.toLowerCase() ?? '';

  let client: { ip: string; helo: string | null } | null = {
    ip: session.remoteAddress.replace(/^::ffff:/i, ''),
    helo: session.hostNameAppearsAs || null,
  };
  if (isLocalPeer(session.remoteAddress)) client = relayedClient(raw);
  const spfResult = client
    ? await spf({ sender: mailFrom, ip: client.ip, ...(client.helo ? { helo: client.helo } : {}), mta, resolver })
    : null;
  const spfStatus = spfResult?.status.result ?? 'none';

  const signatures = dkimResult.results ?? [];
  const ofFromDomain = signatures.filter((s) => s.signingDomain?.toLowerCase() === fromDomain || s.status.aligned);
  const failed = (s: (typeof signatures)[number]) =>
    s.status.result === 'fail' ||
    (s.status.result === 'neutral' && /body hash did not verify/i.test(s.status.comment ?? ''));
  const dkimFailed = ofFromDomain.some(failed) && !ofFromDomain.some((s) => s.status.result === 'pass');
  const dkimStatus =
    signatures.length === 0
      ? 'none'
      : signatures.some((s) => s.status.result === 'pass')
        ? 'pass'
        : dkimFailed
          ? 'fail'
          : signatures[0]!.status.result;

  const dmarcResult = fromDomain
    ? await dmarc({
        headerFrom: fromDomain,
        spfDomains: spfResult && spfStatus === 'pass' && spfResult.domain ? [spfResult.domain] : [],
        dkimDomains: signatures
          .filter((s) => s.status.result === 'pass')
          .map((s) => ({ domain: s.signingDomain, aligned: !!s.status.aligned, underSized: !!s.status.underSized })),
        resolver,
      })
    : false;
  const dmarcStatus = dmarcResult ? dmarcResult.status.result : 'none';
  const dmarcPolicy = dmarcResult ? (dmarcResult.policy || dmarcResult.p || 'none').toLowerCase() : 'none';
  const summary = `spf=${spfStatus} dkim=${dkimStatus} dmarc=${dmarcStatus}${dmarcResult ? `(p=${dmarcPolicy})` : ''}`;

  let refuse: SmtpError | null = null;
  if (spfStatus === 'fail') {
    refuse = smtpError(
      550,
      `5.7.23 SPF of ${spfResult?.domain ?? 'the sender domain'} does not allow ${client?.ip ?? 'this client'} to send its mail; nothing was filed`,
    );
  } else if (dkimFailed) {
    refuse = smtpError(
      550,
      `5.7.20 The DKIM signature of ${fromDomain} does not match the message (altered after it was signed, or forged); nothing was filed`,
    );
  } else if (dmarcStatus === 'fail' && (dmarcPolicy === 'reject' || dmarcPolicy === 'quarantine')) {
    refuse = smtpError(
      550,
      `5.7.1 ${fromDomain} publishes a DMARC policy of ${dmarcPolicy} and this message passes neither its SPF nor its DKIM; nothing was filed`,
    );
  }
  return { refuse, summary };
}

/**
 * What the per-client connection cap counts by: the IPv4 address (IPv4-mapped IPv6 included), or the /64 of an
 * IPv6 address (one host is handed a whole /64 and can pick any address in it).
 */
export function clientKey(remoteAddress: string | undefined): string {
  // A socket closed before Node learned its peer has no address: one bucket for all such.
  if (!remoteAddress) return 'unknown';
  const v4 = remoteAddress.replace(/^::ffff:/i, '');
  if (isIP(v4) !== 6) return v4;
  const [head = '', tail = ''] = v4.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = v4.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** Starts the listener; resolves once it is listening (rejects if it cannot bind). */
export async function startBccListener(deps: BccListenerDeps): Promise<BccListener> {
  const domain = deps.domain.trim().toLowerCase();
  const maxSize = deps.maxSize ?? DEFAULT_BCC_MAX_SIZE;
  const name = deps.name ?? domain;
  const log = deps.log;
  const inflight = new Set<Promise<void>>();
  const fileDeps = { db: deps.db, blobs: deps.blobs, parse: deps.parse, bccDomain: domain };
  const maxPerIp = deps.maxConnectionsPerIp ?? DEFAULT_BCC_MAX_CONNECTIONS_PER_IP;
  /** Open (accepted) connections by client key: session ids. */
  const perClient = new Map<string, Set<string>>();
  const keyOfSession = new Map<string, string>();

  const server = new SMTPServer({
    name,
    banner: 'Conversa BCC dropbox: mail copied or forwarded here from your own mailbox is filed on your CRM contacts',
    size: maxSize,
    maxClients: deps.maxConnections ?? DEFAULT_BCC_MAX_CONNECTIONS,
    // A user copies one mailbox's address, two at most; more accepted recipients are not a person's mail.
    maxRecipients: 50,
    authOptional: true,
    // The address is the credential: nothing to log in to, so AUTH is not offered at all.
    disabledCommands: deps.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    hideSTARTTLS: !deps.tls,
    ...(deps.tls ? { key: deps.tls.key, cert: deps.tls.cert } : {}),
    disableReverseLookup: true,
    logger: false,
    socketTimeout: deps.socketTimeoutMs ?? DEFAULT_BCC_IDLE_TIMEOUT_MS,
    closeTimeout: deps.closeTimeoutMs ?? 5_000,

    onConnect(session: SMTPServerSession, callback: (err?: Error | null) => void) {
      const key = clientKey(session.remoteAddress);
      const open = perClient.get(key) ?? new Set<string>();
      if (open.size >= maxPerIp) {
        log.info(
          { client: session.remoteAddress, open: open.size },
          'bcc: too many connections from one client, refused',
        );
        return callback(
          smtpError(
            421,
            `4.7.0 Too many connections from your address (at most ${maxPerIp} at once); try again in a moment`,
          ),
        );
      }
      open.add(session.id);
      perClient.set(key, open);
      keyOfSession.set(session.id, key);
      callback();
    },

    onClose(session: SMTPServerSession) {
      // Also called for connections never accepted by onConnect: only those counted are uncounted. The key is the
      // one counted at connect: by close, the socket may no longer know its peer's address.
      const key = keyOfSession.get(session.id);
      if (key === undefined) return;
      keyOfSession.delete(session.id);
      const open = perClient.get(key);
      if (!open?.delete(session.id)) return;
      if (open.size === 0) perClient.delete(key);
    },

    onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      if (address.address === '') {
        log.info({ client: session.remoteAddress }, 'bcc: null sender refused');
        return callback(smtpError(550, '5.7.1 BCC addresses do not take bounces or other mail with an empty sender'));
      }
      callback();
    },

    onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: (err?: Error | null) => void) {
      const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      findBccAccount(deps.db, domain, address.address).then(
        (account) => {
          if (!account) {
            log.info({ client: session.remoteAddress }, 'bcc: unknown recipient refused');
            return callback(
              smtpError(
                550,
                `5.1.1 <${address.address}> is not a Conversa BCC address (check the BCC address shown on your e-mail account in Conversa)`,
              ),
            );
          }
          if (!isAccountAddress(account, sender)) {
            log.info(
              { client: session.remoteAddress, accountId: account.id },
              'bcc: envelope sender is not the mailbox owner, refused',
            );
            return callback(
              smtpError(
                550,
                `5.7.1 <${sender}> may not file mail with this BCC address: Conversa files only mail sent from the address of the mailbox the BCC address belongs to`,
              ),
            );
          }
          callback();
        },
        (error: unknown) => {
          log.error({ err: describe(error) }, 'bcc: recipient look-up failed');
          callback(smtpError(451, '4.3.0 Conversa could not check this address just now, please try again later'));
        },
      );
    },

    onData(
      stream: SMTPServerDataStream,
      session: SMTPServerSession,
      reply: (err?: Error | null, message?: string) => void,
    ) {
      let replied = false;
      const callback = (err: Error | null, message?: string): void => {
        if (replied) return;
        replied = true;
        reply(err, message);
      };
      // What the transaction needs is copied now: smtp-server resets the session once the reply is sent.
      const mailFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
      const recipients = session.envelope.rcptTo.map((r) => r.address);
      const client = { remoteAddress: session.remoteAddress, hostNameAppearsAs: session.hostNameAppearsAs };
      const chunks: Buffer[] = [];
      let received = 0;
      stream.on('data', (chunk: Buffer) => {
        // Past the limit the rest is read and dropped (the client is still sending it), never kept.
        if (received + chunk.length <= maxSize) chunks.push(chunk);
        received += chunk.length;
      });
      stream.once('error', (error: Error) => callback(smtpError(451, `4.3.0 ${describe(error)}`)));
      stream.once('end', () => {
        if (stream.sizeExceeded || received > maxSize) {
          log.info({ client: client.remoteAddress, bytes: received, limit: maxSize }, 'bcc: oversized message refused');
          return callback(
            smtpError(552, `5.3.4 The message is ${received} bytes; the limit is ${maxSize} bytes. Nothing was filed`),
          );
        }
        const job = deliver(Buffer.concat(chunks, received), mailFrom, recipients, client).then(
          (text) => callback(null, text),
          (error: unknown) => {
            if ((error as SmtpError).responseCode) return callback(error as SmtpError);
            log.error(
              { err: describe(error), client: client.remoteAddress },
              'bcc: storing failed, sender told to retry',
            );
            callback(TEMPORARY());
          },
        );
        inflight.add(job);
        void job.finally(() => inflight.delete(job));
      });
    },
  });
  server.on('error', (error: Error) => log.warn({ err: describe(error) }, 'bcc: connection error'));

  async function deliver(
    raw: Buffer,
    mailFrom: string,
    recipients: string[],
    client: Pick<SMTPServerSession, 'remoteAddress' | 'hostNameAppearsAs'>,
  ): Promise<string> {
    // Looked up again: an account deleted since RCPT no longer files anything.
    const accounts = new Map<string, BccAccount>();
    for (const recipient of recipients) {
      const account = await findBccAccount(deps.db, domain, recipient);
      if (account && isAccountAddress(account, mailFrom)) accounts.set(account.id, account);
    }
    if (accounts.size === 0)
      throw smtpError(
        550,
        '5.1.1 The BCC address no longer exists (its e-mail account was removed from Conversa); nothing was filed',
      );

    const parsed = await deps.parse(raw);
    const from = parsed.from?.address ?? null;
    for (const account of accounts.values()) {
      if (!isAccountAddress(account, from)) {
        log.info(
          { client: client.remoteAddress, accountId: account.id },
          'bcc: From header is not the mailbox owner, refused',
        );
        throw smtpError(
          550,
          from
            ? `5.7.1 The From header <${from}> is not the address of the mailbox this BCC address belongs to; Conversa files only mail its owner sends`
            : '5.7.1 The message has no From header; Conversa files only mail the mailbox owner sends',
        );
      }
    }
    if (deps.resolver) {
      const verdict = await checkSenderDomain(raw, client, mailFrom, deps.resolver, name);
      if (verdict.refuse) {
        log.info(
          { client: client.remoteAddress, auth: verdict.summary },
          'bcc: sender domain authentication failed, refused',
        );
        throw verdict.refuse;
      }
      log.info({ auth: verdict.summary }, 'bcc: sender domain checked');
    }

    const results: FilingResult[] = [];
    for (const account of accounts.values()) {
      const result = await fileBccMessage(fileDeps, account, raw, parsed);
      results.push(result);
      log.info(
        {
          accountId: account.id,
          messages: result.filed.map((f) => ({
            id: f.id,
            created: f.created,
            kind: f.kind,
            contacts: f.contactIds.length,
          })),
          neverLogged: result.neverLogged,
          erasedOnly: result.erasedOnly,
          contactsCreated: result.contactsCreated,
        },
        'bcc: message filed',
      );
    }
    const filed = results.flatMap((r) => r.filed);
    if (filed.length === 0) {
      // Issue 19: the only other people in it were erased on request (a count, never the address, in the reply).
      if (results.some((r) => r.erasedOnly > 0) && results.every((r) => r.neverLogged === 0))
        return '2.0.0 Accepted; not filed: its other addresses belong to contacts erased on request';
      return '2.0.0 Accepted; not filed: an address in it is on your never-log list';
    }
    const contacts = new Set(filed.flatMap((f) => f.contactIds)).size;
    const what =
      filed.length === 1
        ? filed[0]!.kind.startsWith('forwarded')
          ? 'the forwarded message'
          : 'the message'
        : `${filed.length} messages`;
    return `2.0.0 Filed ${what} in Conversa${contacts > 0 ? ` on ${contacts} contact${contacts === 1 ? '' : 's'}` : ', on no contact yet'}`;
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) =>
      reject(
        new Error(`The BCC listener cannot listen on ${deps.host}:${deps.port}: ${error.message}`, { cause: error }),
      );
    server.server.once('error', onError);
    server.listen(deps.port, deps.host, () => {
      server.server.off('error', onError);
      resolve();
    });
  });
  const address = server.server.address();
  const port = address && typeof address === 'object' ? address.port : deps.port;

  let closing: Promise<void> | null = null;
  return {
    port,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        // Deliveries being stored answer their client before the connections go.
        await Promise.allSettled([...inflight]);
        await closed;
      })();
      return closing;
    },
  };
}
