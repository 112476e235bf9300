// The connection test against the real Dovecot of the harness (right and wrong passwords, XOAUTH2 tokens,
// SMTP AUTH) and against small hand-made servers for what Dovecot cannot play: a closed port, a
// self-signed certificate, a server that never greets, and one that greets with nonsense. Each case also
// checks that no socket is left open in this process afterwards.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/app-error.js';
import { classifyMailError, mailConnectionError } from '../../src/mail/connection/mail-errors.js';
import {
  checkSmtp as checkSmtpWithPolicy,
  testMailConnection as testWithPolicy,
  type MailAuth,
} from '../../src/mail/connection/test-mail-connection.js';
import { getProvider, type ProviderPreset } from '../../src/mail/providers/presets.js';
import { freePort } from '../servers/free-port.js';
import { useDovecot } from '../support/servers.js';
import { testOutbound } from '../support/outbound.js';

// The test servers are on loopback: these tests run with the tests' allowed list (test/support/outbound.ts).
const testMailConnection: typeof testWithPolicy = (input) => testWithPolicy({ outbound: testOutbound, ...input });
const checkSmtp: typeof checkSmtpWithPolicy = (settings, login, options = {}) =>
  checkSmtpWithPolicy(settings, login, { outbound: testOutbound, ...options });

const dovecot = useDovecot();
const imap = { host: dovecot.host, port: dovecot.imapPort, secure: false };
const smtp = { host: dovecot.host, port: dovecot.submissionPort, secure: false };

/** Runs `fn` expecting an AppError, and returns it. */
async function failure(fn: () => Promise<unknown>): Promise<AppError> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected the call to fail').toBeInstanceOf(AppError);
  return caught as AppError;
}

// --- open sockets of this process -------------------------------------------------------------------

function openSockets(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TLSWrap').length;
}

let socketsBefore = 0;

async function expectSocketsClosed(): Promise<void> {
  // A closed socket leaves the active list once its close has gone through the event loop.
  const deadline = Date.now() + 2_000;
  while (openSockets() > socketsBefore && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(openSockets()).toBe(socketsBefore);
}

// --- small fake servers on 127.0.0.1 -----------------------------------------------------------------

interface FakeServer {
  port: number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', (socket: Socket) => socket.on('error', () => undefined));
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const servers: FakeServer[] = [];

async function fakeServer(onConnection: (socket: Socket) => void): Promise<FakeServer> {
  const server = await listen(createTcpServer(onConnection));
  servers.push(server);
  return server;
}

let tlsDir = '';
let certificate: { key: Buffer; cert: Buffer };

beforeAll(async () => {
  tlsDir = await mkdtemp(join(tmpdir(), 'cnv-tls-'));
  const key = join(tlsDir, 'key.pem');
  const cert = join(tlsDir, 'cert.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  certificate = { key: await readFile(key), cert: await readFile(cert) };
});

afterAll(async () => {
  await rm(tlsDir, { recursive: true, force: true });
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function password(value: string): MailAuth {
  return { kind: 'password', password: value };
}

/** Dovecot's servers for IMAP and SMTP, under a preset's name (for the app-password hint). */
function asPreset(id: string): ProviderPreset {
  const preset = getProvider(id);
  if (!preset) throw new Error(`no preset ${id}`);
  return preset;
}

describe('testMailConnection against Dovecot', () => {
  beforeAll(() => {
    socketsBefore = openSockets();
  });

  it('accepts the right password and reports the IMAP capabilities', async () => {
    const creds = await dovecot.addUser();
    const result = await testMailConnection({ imap, smtp, username: creds.user, auth: password(creds.password) });
    expect(result.imapCapabilities).toContain('IMAP4rev1');
    expect(result.imapCapabilities.length).toBeGreaterThan(3);
    await expectSocketsClosed();
  });

  it('says AUTH_FAILED for a wrong password, naming the receiving server', async () => {
    const creds = await dovecot.addUser();
    const error = await failure(() =>
      testMailConnection({ imap, smtp, username: creds.user, auth: password('not-the-password') }),
    );
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toMatch(/receiving \(IMAP\) server/);
    expect(error.message).toContain(`${dovecot.host} on port ${dovecot.imapPort}`);
    expect(error.details).toEqual({
      server: 'imap',
      // The message as a code and parameters for the user's language; the password is in neither.
      detail: { code: 'MAIL_AUTH_REFUSED', params: expect.objectContaining({ server: 'imap' }) },
      hintDetail: { code: 'MAIL_HINT_APP_PASSWORD_MAYBE', params: {} },
    });
    expect(JSON.stringify(error.details)).not.toContain('not-the-password');
    expect(error.hint).toBeDefined();
    expect(error.hint).not.toMatch(/https:/);
    await expectSocketsClosed();
  });

  it("adds the provider's app-password how-to when the preset needs one", async () => {
    const creds = await dovecot.addUser();
    for (const id of ['yahoo', 'zoho-eu']) {
      const preset = asPreset(id);
      const error = await failure(() =>
        testMailConnection({ imap, smtp, username: creds.user, auth: password('wrong'), preset }),
      );
      expect(error.code).toBe('AUTH_FAILED');
      expect(error.hint).toMatch(/two-step verification/);
      expect(error.hint).toMatch(/app password/);
      expect(error.hint).toContain(preset.appPassword?.instructionsUrl);
    }
    // A provider without app passwords gets no link.
    const error = await failure(() =>
      testMailConnection({ imap, smtp, username: creds.user, auth: password('wrong'), preset: asPreset('uol') }),
    );
    expect(error.hint).not.toMatch(/https:/);
    await expectSocketsClosed();
  });

  it('says AUTH_FAILED for a refused SMTP password, naming the sending server', async () => {
    const creds = await dovecot.addUser();
    await checkSmtp(smtp, { username: creds.user, auth: password(creds.password) });
    const error = await failure(() =>
      checkSmtp(smtp, { username: creds.user, auth: password('wrong') }, { preset: asPreset('fastmail') }),
    );
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toMatch(/sending \(SMTP\) server/);
    expect(error.details).toEqual({
      server: 'smtp',
      detail: {
        code: 'MAIL_AUTH_REFUSED',
        params: expect.objectContaining({ server: 'smtp', reply: expect.stringMatching(/^535 /) }),
      },
      // The preset's app-password advice, with its how-to page, as a code too.
      hintDetail: {
        code: expect.stringMatching(/^MAIL_HINT_APP_PASSWORD_(WITH_2FA|ONLY)$/),
        params: { provider: 'Fastmail', url: expect.stringContaining('fastmail.help') },
      },
    });
    expect(error.hint).toContain('fastmail.help');
    await expectSocketsClosed();
  });

  it('signs in with XOAUTH2 on IMAP and SMTP when given the access token', async () => {
    const creds = await dovecot.addUser();
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    await dovecot.setPassword(creds.user, token);
    const result = await testMailConnection({
      imap,
      smtp,
      username: creds.user,
      auth: { kind: 'oauth2', accessToken: token },
    });
    expect(result.imapCapabilities).toContain('IMAP4rev1');

    const error = await failure(() =>
      testMailConnection({
        imap,
        smtp,
        username: creds.user,
        auth: { kind: 'oauth2', accessToken: 'expired-token' },
        preset: asPreset('gmail'),
      }),
    );
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.message).toMatch(/expired or been revoked/);
    expect(error.hint).toMatch(/Connect Gmail again/);

    const smtpError = await failure(() =>
      checkSmtp(smtp, { username: creds.user, auth: { kind: 'oauth2', accessToken: 'expired-token' } }),
    );
    expect(smtpError.code).toBe('AUTH_FAILED');
    await expectSocketsClosed();
  });

  it('says TLS_FAILED when SSL/TLS is used on a port that does not speak it', async () => {
    const creds = await dovecot.addUser();
    const error = await failure(() =>
      testMailConnection({
        imap: { ...imap, secure: true },
        smtp,
        username: creds.user,
        auth: password(creds.password),
      }),
    );
    expect(error.code).toBe('TLS_FAILED');
    expect(error.message).toMatch(/SSL\/TLS/);
    const smtpError = await failure(() =>
      checkSmtp({ ...smtp, secure: true }, { username: creds.user, auth: password(creds.password) }),
    );
    expect(smtpError.code).toBe('TLS_FAILED');
    await expectSocketsClosed();
  });
});

describe('testMailConnection against servers that misbehave', () => {
  const creds = { username: 'someone@example.test', auth: password('secret') };

  beforeAll(() => {
    socketsBefore = openSockets();
  });

  it('says HOST_UNREACHABLE for a closed port, well within the time budget', { timeout: 10_000 }, async () => {
    const port = await freePort();
    const error = await failure(() =>
      testMailConnection({ imap: { host: '127.0.0.1', port, secure: true }, smtp, ...creds }),
    );
    expect(error.code).toBe('HOST_UNREACHABLE');
    expect(error.message).toContain(`127.0.0.1 on port ${port}`);
    expect(error.message).toMatch(/receiving \(IMAP\) server refused the connection/);

    const smtpError = await failure(() => checkSmtp({ host: '127.0.0.1', port, secure: false }, creds));
    expect(smtpError.code).toBe('HOST_UNREACHABLE');
    await expectSocketsClosed();
  });

  it('says HOST_UNREACHABLE for a server name that does not resolve', { timeout: 10_000 }, async () => {
    // .invalid never resolves (RFC 6761), with or without a network.
    const error = await failure(() =>
      testMailConnection({
        imap: { host: 'imap.conversa.invalid', port: 993, secure: true },
        smtp,
        ...creds,
        timeoutMs: 5_000,
      }),
    );
    expect(['HOST_UNREACHABLE', 'TIMEOUT']).toContain(error.code);
    await expectSocketsClosed();
  });

  it('says TLS_FAILED for a self-signed certificate, and connects when verification is turned off', async () => {
    const server = await listen(
      createTlsServer(certificate, (socket) => {
        socket.on('error', () => undefined);
        socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fake ready\r\n');
        socket.on('data', (chunk: Buffer) => {
          for (const line of chunk.toString('utf8').split('\r\n')) {
            const tag = line.split(' ')[0];
            if (!tag) continue;
            if (/ CAPABILITY/i.test(line)) socket.write(`* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n${tag} OK done\r\n`);
            else if (/ LOGOUT/i.test(line)) socket.end(`* BYE bye\r\n${tag} OK done\r\n`);
            else socket.write(`${tag} NO [AUTHENTICATIONFAILED] nope\r\n`);
          }
        });
      }),
    );
    servers.push(server);
    const tlsImap = { host: '127.0.0.1', port: server.port, secure: true };
    const error = await failure(() => testMailConnection({ imap: tlsImap, smtp, ...creds }));
    expect(error.code).toBe('TLS_FAILED');
    expect(error.message).toMatch(/certificate/);
    expect(error.message).toMatch(/self-signed/);

    // With verification explicitly off the handshake passes and the (fake) login is what fails.
    const unverified = await failure(() =>
      testMailConnection({ imap: tlsImap, smtp, ...creds, tlsRejectUnauthorized: false }),
    );
    expect(unverified.code).toBe('AUTH_FAILED');
    await expectSocketsClosed();
  });

  it('says TIMEOUT for a server that accepts the connection but never greets', async () => {
    const silent = await fakeServer(() => undefined);
    const started = Date.now();
    const error = await failure(() =>
      testMailConnection({
        imap: { host: '127.0.0.1', port: silent.port, secure: false },
        smtp,
        ...creds,
        timeoutMs: 1_500,
      }),
    );
    expect(error.code).toBe('TIMEOUT');
    expect(error.message).toMatch(/did not answer within 1.5 seconds/);
    expect(Date.now() - started).toBeLessThan(5_000);

    const smtpError = await failure(() =>
      checkSmtp({ host: '127.0.0.1', port: silent.port, secure: false }, creds, { timeoutMs: 1_500 }),
    );
    expect(smtpError.code).toBe('TIMEOUT');
    await expectSocketsClosed();
  });

  it('says PROTOCOL_ERROR for a server that greets with something else', async () => {
    const garbage = await fakeServer((socket) => socket.write('SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n'));
    const error = await failure(() =>
      testMailConnection({
        imap: { host: '127.0.0.1', port: garbage.port, secure: false },
        smtp,
        ...creds,
        timeoutMs: 3_000,
      }),
    );
    expect(error.code).toBe('PROTOCOL_ERROR');
    expect(error.message).toMatch(/did not answer as a receiving \(IMAP\) mail server/);
    // What the other service said is never repeated (it could be any internal service's banner).
    expect(error.message).not.toMatch(/OpenSSH|mismatch/);

    const smtpError = await failure(() =>
      checkSmtp({ host: '127.0.0.1', port: garbage.port, secure: false }, creds, { timeoutMs: 3_000 }),
    );
    expect(smtpError.code).toBe('PROTOCOL_ERROR');
    expect(smtpError.message).not.toMatch(/OpenSSH|mismatch/);
    await expectSocketsClosed();
  });

  it('passes the caller’s abort through and closes the socket', async () => {
    const silent = await fakeServer(() => undefined);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('shutting down')), 200);
    await expect(
      testMailConnection({
        imap: { host: '127.0.0.1', port: silent.port, secure: false },
        smtp,
        ...creds,
        signal: controller.signal,
      }),
    ).rejects.toThrow('shutting down');
    await expectSocketsClosed();
  });
});

describe('classifyMailError on the shapes imapflow, nodemailer and Node throw', () => {
  const err = (message: string, props: Record<string, unknown> = {}) => Object.assign(new Error(message), props);
  const at = { host: 'mail.example.com', port: 993, secure: true };

  it.each([
    [
      'imapflow refused login',
      'imap',
      err('Command failed', {
        authenticationFailed: true,
        serverResponseCode: 'AUTHENTICATIONFAILED',
        responseText: 'Invalid credentials (Failure)',
      }),
      'AUTH_FAILED',
    ],
    [
      'nodemailer EAUTH 535',
      'smtp',
      err('Invalid login: 535 5.7.8 Username and Password not accepted', {
        code: 'EAUTH',
        responseCode: 535,
        response: '535 5.7.8 Username and Password not accepted',
        command: 'AUTH PLAIN',
      }),
      'AUTH_FAILED',
    ],
    [
      'Gmail 534 web login required',
      'smtp',
      err('Invalid login', { code: 'EAUTH', responseCode: 534, command: 'AUTH PLAIN' }),
      'AUTH_FAILED',
    ],
    [
      'SMTP without AUTH',
      'smtp',
      err('Invalid login', {
        code: 'EAUTH',
        responseCode: 502,
        command: 'AUTH PLAIN',
        response: '502 5.5.2 Error: command not recognized',
      }),
      'PROTOCOL_ERROR',
    ],
    ['LOGINDISABLED', 'imap', err('Login is disabled', { authenticationFailed: true }), 'TLS_FAILED'],
    [
      '530 STARTTLS first',
      'smtp',
      err('Invalid login', {
        code: 'EAUTH',
        responseCode: 530,
        response: '530 5.7.0 Must issue a STARTTLS command first',
      }),
      'TLS_FAILED',
    ],
    [
      'refused (imapflow passes Node through)',
      'imap',
      err('connect ECONNREFUSED 10.0.0.1:993', { code: 'ECONNREFUSED', errno: -111 }),
      'HOST_UNREACHABLE',
    ],
    [
      'refused (nodemailer wraps)',
      'smtp',
      err('connect ECONNREFUSED 10.0.0.1:587', { code: 'ESOCKET', originalCode: 'ECONNREFUSED' }),
      'HOST_UNREACHABLE',
    ],
    [
      'refused on every address (AggregateError)',
      'imap',
      Object.assign(new AggregateError([err('a', { code: 'ECONNREFUSED' }), err('b', { code: 'ECONNREFUSED' })], ''), {
        code: 'ECONNREFUSED',
      }),
      'HOST_UNREACHABLE',
    ],
    ['unknown name', 'imap', err('getaddrinfo ENOTFOUND imap.exmaple.com', { code: 'ENOTFOUND' }), 'HOST_UNREACHABLE'],
    [
      'nodemailer DNS',
      'smtp',
      err('getaddrinfo EAI_AGAIN smtp.example.com', { code: 'EDNS', originalCode: 'EAI_AGAIN' }),
      'HOST_UNREACHABLE',
    ],
    ['no route', 'imap', err('connect EHOSTUNREACH', { code: 'EHOSTUNREACH' }), 'HOST_UNREACHABLE'],
    ['connection reset', 'imap', err('read ECONNRESET', { code: 'ECONNRESET' }), 'HOST_UNREACHABLE'],
    [
      'imapflow connect timeout',
      'imap',
      err('Failed to establish connection in required time', { code: 'CONNECT_TIMEOUT' }),
      'TIMEOUT',
    ],
    [
      'imapflow greeting timeout',
      'imap',
      err('Failed to receive greeting from server in required time', { code: 'GREETING_TIMEOUT' }),
      'TIMEOUT',
    ],
    ['imapflow socket timeout', 'imap', err('Socket timeout', { code: 'ETIMEOUT' }), 'TIMEOUT'],
    [
      'nodemailer connection timeout',
      'smtp',
      err('Connection timeout', { code: 'ETIMEDOUT', timeoutType: 'CONNECT_TIMEOUT' }),
      'TIMEOUT',
    ],
    ['self-signed', 'imap', err('self-signed certificate', { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'TLS_FAILED'],
    [
      'wrong name on the certificate',
      'smtp',
      err("Hostname/IP does not match certificate's altnames", {
        code: 'ESOCKET',
        originalCode: 'ERR_TLS_CERT_ALTNAME_INVALID',
      }),
      'TLS_FAILED',
    ],
    [
      'incomplete chain',
      'imap',
      err('unable to verify the first certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
      'TLS_FAILED',
    ],
    ['expired', 'imap', err('certificate has expired', { code: 'CERT_HAS_EXPIRED' }), 'TLS_FAILED'],
    [
      'TLS to a plain port',
      'imap',
      err('SSL routines:ssl3_get_record:wrong version number', { code: 'ERR_SSL_WRONG_VERSION_NUMBER' }),
      'TLS_FAILED',
    ],
    ['STARTTLS failed', 'smtp', err('Error initiating TLS', { code: 'ETLS' }), 'TLS_FAILED'],
    ['imapflow STARTTLS failure flag', 'imap', err('Failed to upgrade', { tlsFailed: true }), 'TLS_FAILED'],
    [
      'nodemailer invalid greeting',
      'smtp',
      err('Invalid greeting. response=SSH-2.0-OpenSSH', { code: 'EPROTOCOL', response: 'SSH-2.0-OpenSSH' }),
      'PROTOCOL_ERROR',
    ],
    ['imapflow parser error', 'imap', err('Unexpected char', { code: 'ParserError2' }), 'PROTOCOL_ERROR'],
    [
      'closed right after connecting',
      'imap',
      err('Connection closed', { code: 'ClosedAfterConnectText' }),
      'PROTOCOL_ERROR',
    ],
    [
      'BYE at the greeting',
      'imap',
      err('Too many connections', { code: 'NoConnection', reason: 'Too many simultaneous connections' }),
      'PROTOCOL_ERROR',
    ],
    ['something else entirely', 'imap', new Error('boom'), 'PROTOCOL_ERROR'],
    ['not even an Error', 'smtp', 'a string', 'PROTOCOL_ERROR'],
  ] as const)('%s → %s', (_label, protocol, error, code) => {
    const classified = classifyMailError(error, protocol, at);
    expect(classified.code).toBe(code);
    expect(classified.protocol).toBe(protocol);
    expect(classified.message).toContain(protocol === 'imap' ? 'receiving (IMAP)' : 'sending (SMTP)');
    expect(classified.message).not.toMatch(/undefined/);
  });

  it('quotes the server in an AUTH_FAILED message and adds the app-password hint for the preset', () => {
    const classified = classifyMailError(
      Object.assign(new Error('Invalid login'), {
        code: 'EAUTH',
        responseCode: 535,
        response: '535-5.7.8 Username and Password not accepted',
      }),
      'smtp',
      { host: 'smtp.gmail.com', port: 465, secure: true, authKind: 'password' },
    );
    expect(classified.message).toContain('smtp.gmail.com on port 465');
    expect(classified.message).toContain('Username and Password not accepted');
    const error = mailConnectionError(classified, asPreset('gmail'), new Error('cause'));
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.hint).toContain('https://support.google.com/accounts/answer/185833');
    expect(error.cause).toBeInstanceOf(Error);
    // Other codes carry no app-password hint, even with such a preset.
    const timeout = mailConnectionError(
      classifyMailError(Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), 'smtp'),
      asPreset('gmail'),
    );
    expect(timeout.hint).toBeUndefined();
  });
});
