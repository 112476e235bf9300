// Audit item 4: one outbound policy for every server a user names. Unit tests of the address classification and
// the allowed list; then, through a real Conversa on SQLite and PostgreSQL, that a loopback IMAP host or CalDAV URL
// is refused with 422 HOST_NOT_ALLOWED before any TCP connection, that a host change asks for the password again,
// and that error texts never repeat another service's banner; and that a CalDAV server cannot send the driver
// (with the mailbox password) to another origin.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCalDavDriver } from '../../src/calendar/caldav/caldav-driver.js';
import { CalendarError } from '../../src/calendar/calendar-driver.js';
import { AppError } from '../../src/core/app-error.js';
import { ConfigError } from '../../src/core/config-error.js';
import {
  classifyAddress,
  createOutboundPolicy,
  parseAllowedHosts,
  type LookupAll,
} from '../../src/net/outbound-policy.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { testOutbound } from '../support/outbound.js';
import { useDovecot } from '../support/servers.js';

const dovecot = useDovecot();

/** A TCP listener on loopback that counts connections and greets with `banner` (if any). */
async function listener(banner?: string): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let count = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    count++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    if (banner) socket.write(banner);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('classifying addresses', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.10.10', 'link-local'],
    ['fe80::1', 'link-local'],
    ['100.64.0.1', 'cgnat'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:808:808::', 'public'],
    ['fe80::1%lo', 'link-local'],
  ])('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind);
  });

  it('parses the allowed list, and refuses a malformed one at start-up', () => {
    const allowed = parseAllowedHosts(' Mail.Internal ,10.0.0.0/8, 127.0.0.1 ,fd00::/8,');
    expect([...allowed.names]).toEqual(['mail.internal']);
    expect(allowed.ranges).toHaveLength(3);
    expect(parseAllowedHosts('').names.size).toBe(0);
    expect(() => parseAllowedHosts('10.0.0.0/33')).toThrow(ConfigError);
    expect(() => parseAllowedHosts('http://x/')).toThrow(ConfigError);
  });
});

describe('the policy', () => {
  const zone = new Map<string, string[]>();
  const lookup: LookupAll = async (host) => {
    const addresses = zone.get(host);
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  zone.set('public.test', ['93.184.215.14']);
  zone.set('rebound.test', ['127.0.0.1']);
  zone.set('mixed.test', ['93.184.215.14', '10.0.0.5']);
  zone.set('mail.internal', ['10.9.9.9']);
  zone.set('office.test', ['10.1.1.1', '::ffff:10.2.2.2']);
  const strict = createOutboundPolicy({ allowed: parseAllowedHosts(''), lookup });
  const internal = createOutboundPolicy({ allowed: parseAllowedHosts('mail.internal,10.0.0.0/8'), lookup });

  it('lets a public host through, pinned to the address it checked', async () => {
    await expect(strict.check('Public.Test.')).resolves.toEqual({
      host: 'public.test',
      address: '93.184.215.14',
      family: 4,
      listed: false,
    });
  });

  it('refuses a name that resolves to loopback, and one with any internal address among public ones', async () => {
    const rebound = await rejection(strict.check('rebound.test'));
    expect(rebound.code).toBe('HOST_NOT_ALLOWED');
    expect(rebound.message).toMatch(/loopback/);
    expect((await rejection(strict.check('mixed.test'))).code).toBe('HOST_NOT_ALLOWED');
  });

  it('refuses IP literals in every spelling, and http(s) only for URLs', async () => {
    for (const host of ['127.0.0.1', '[::1]', '::ffff:127.0.0.1', '169.254.169.254', '0.0.0.0']) {
      expect((await rejection(strict.check(host))).code).toBe('HOST_NOT_ALLOWED');
    }
    // Decimal and octal spellings, as the system resolver and the URL parser read them.
    const policy = createOutboundPolicy({ allowed: parseAllowedHosts('') });
    for (const host of ['2130706433', '0177.0.0.1', '0x7f.1']) {
      expect(['HOST_NOT_ALLOWED', 'HOST_UNREACHABLE']).toContain((await rejection(policy.check(host))).code);
    }
    for (const url of [
      'http://2130706433:8080/',
      'http://0177.0.0.1/',
      'https://[::ffff:127.0.0.1]/',
      'http://169.254.169.254/latest/',
    ]) {
      expect((await rejection(policy.checkUrl(url))).code).toBe('HOST_NOT_ALLOWED');
    }
    for (const url of ['file:///etc/passwd', 'gopher://public.test/', 'ftp://public.test/']) {
      expect((await rejection(strict.checkUrl(url))).code).toBe('HOST_NOT_ALLOWED');
    }
    await expect(strict.checkUrl('https://public.test/dav/')).resolves.toMatchObject({
      checked: { address: '93.184.215.14' },
    });
  });

  it('allows what the operator listed, by name or by range (mapped addresses judged as IPv4), and only that', async () => {
    await expect(internal.check('mail.internal')).resolves.toMatchObject({ address: '10.9.9.9', listed: true });
    await expect(internal.check('office.test')).resolves.toMatchObject({ listed: true });
    await expect(internal.check('10.200.0.1')).resolves.toMatchObject({ listed: true });
    expect((await rejection(internal.check('rebound.test'))).code).toBe('HOST_NOT_ALLOWED');
    expect((await rejection(internal.check('192.168.0.1'))).code).toBe('HOST_NOT_ALLOWED');
    await expect(internal.check('public.test')).resolves.toMatchObject({ listed: false });
  });

  it('says HOST_UNREACHABLE for a name that does not resolve', async () => {
    expect((await rejection(strict.check('nowhere.test'))).code).toBe('HOST_UNREACHABLE');
  });
});

describe('CalDAV stays on the calendar’s own origin', () => {
  let elsewhere: { port: number; connections: () => number; close(): Promise<void> };
  let calendar: HttpServer;
  let calendarPort = 0;
  let answer: (path: string) => { status: number; headers?: Record<string, string>; body?: string } = () => ({
    status: 404,
  });

  beforeAll(async () => {
    elsewhere = await listener();
    calendar = createHttpServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const a = answer(req.url ?? '/');
        res.writeHead(a.status, a.headers ?? {});
        res.end(a.body ?? '');
      });
    });
    await new Promise<void>((resolve) => calendar.listen(0, '127.0.0.1', resolve));
    calendarPort = (calendar.address() as { port: number }).port;
  });
  afterAll(async () => {
    await elsewhere.close();
    await new Promise<void>((resolve) => calendar.close(() => resolve()));
  });

  const driver = () =>
    createCalDavDriver({
      url: `http://127.0.0.1:${calendarPort}/dav/`,
      discoveryDomains: [],
      outbound: testOutbound,
      authorization: async () => 'Basic c2VjcmV0OnBhc3N3b3Jk',
    });

  it('does not follow a redirect to another origin', async () => {
    answer = () => ({ status: 302, headers: { location: `http://localhost:${elsewhere.port}/steal` } });
    const error = await driver()
      .discover(new AbortController().signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CalendarError);
    expect((error as CalendarError).code).toBe('HOST_NOT_ALLOWED');
    expect(elsewhere.connections()).toBe(0);
  });

  it('does not follow a principal href on another origin', async () => {
    const multistatus = (href: string, prop: string) =>
      `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>${href}</d:href>` +
      `<d:propstat><d:prop>${prop}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`;
    answer = (path) =>
      path.startsWith('/.well-known')
        ? { status: 404 }
        : {
            status: 207,
            headers: { 'content-type': 'application/xml' },
            body: multistatus(
              path,
              `<d:resourcetype><d:collection/></d:resourcetype><d:current-user-principal><d:href>http://localhost:${elsewhere.port}/p/</d:href></d:current-user-principal>`,
            ),
          };
    const error = await driver()
      .discover(new AbortController().signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CalendarError);
    expect((error as CalendarError).code).toBe('HOST_NOT_ALLOWED');
    expect(elsewhere.connections()).toBe(0);
  });

  it('refuses a loopback calendar without the allowed list, before connecting', async () => {
    let hits = 0;
    answer = () => {
      hits++;
      return { status: 404 };
    };
    const strictDriver = createCalDavDriver({
      url: `http://127.0.0.1:${calendarPort}/dav/`,
      discoveryDomains: [],
      authorization: async () => 'Basic x',
    });
    const error = await strictDriver.discover(new AbortController().signal).catch((e: unknown) => e);
    expect((error as CalendarError).code).toBe('HOST_NOT_ALLOWED');
    expect(hits).toBe(0);
  });
});

describe.each(DIALECTS)('user-named servers through the API on %s', (dialect) => {
  let database: TestDatabase;
  let closed: TestConversa;
  let open: TestConversa;
  const listeners: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    // Production default: nothing internal. And the tests' list (127.0.0.1, localhost) for the use cases.
    closed = await startTestConversa({ CONVERSA_ALLOWED_HOSTS: '' }, database, { background: false });
    open = await startTestConversa({}, database, { background: false });
  });
  afterAll(async () => {
    await closed?.stop();
    await open?.stop();
    await database?.destroy();
  });
  afterEach(async () => {
    for (const l of listeners.splice(0)) await l.close();
  });

  it('refuses a loopback IMAP host, a name for loopback and a loopback CalDAV URL with 422 before any connection', async () => {
    const trap = await listener('* OK trap\r\n');
    listeners.push(trap);
    const creds = await dovecot.addUser();
    const base = dovecotAccountBody(dovecot, creds);
    for (const host of ['127.0.0.1', 'localhost', '2130706433']) {
      const res = await closed.api('POST', '/api/email-accounts', {
        ...base,
        imap: { host, port: trap.port, secure: false },
      });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('HOST_NOT_ALLOWED');
    }
    const calendarUrl = await closed.api('POST', '/api/email-accounts', {
      ...base,
      caldavUrl: `http://127.0.0.1:${trap.port}/`,
    });
    expect(calendarUrl.status).toBe(422);
    expect(calendarUrl.body.error.code).toBe('HOST_NOT_ALLOWED');
    expect(trap.connections()).toBe(0);
    // The same request is accepted where the operator allows loopback (the use case).
    const allowed = await open.api('POST', '/api/email-accounts', base);
    expect(allowed.status).toBe(201);
  });

  it('never repeats what another service said in the error text', async () => {
    const mariadb = await listener('-ERR MariaDB secret 10.11.6\r\n');
    const nats = await listener('INFO {"server_id":"NATS-SECRET-ID","version":"2.10"}\r\n');
    listeners.push(mariadb, nats);
    const creds = await dovecot.addUser();
    const imapSide = await open.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { imap: { host: '127.0.0.1', port: mariadb.port, secure: false } }),
    );
    expect(imapSide.status).toBe(422);
    expect(imapSide.body.error.code).toBe('PROTOCOL_ERROR');
    expect(imapSide.text).not.toMatch(/MariaDB|secret/i);
    const smtpSide = await open.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { smtp: { host: '127.0.0.1', port: nats.port, secure: false } }),
    );
    expect(smtpSide.status).toBe(422);
    expect(smtpSide.body.error.code).toBe('PROTOCOL_ERROR');
    expect(smtpSide.text).not.toMatch(/NATS|server_id/i);
  });

  it('asks for the password again when a server changes, and refuses an internal one', async () => {
    const creds = await dovecot.addUser();
    const created = await open.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const moved = await open.api('PATCH', `/api/email-accounts/${id}`, {
      imap: { host: 'localhost', port: dovecot.imapPort, secure: false },
    });
    expect(moved.status).toBe(400);
    expect(moved.body.error.code).toBe('VALIDATION_FAILED');
    expect(JSON.stringify(moved.body.error)).toContain('password');
    const calendarMoved = await open.api('PATCH', `/api/email-accounts/${id}`, {
      caldavUrl: 'http://localhost:1/dav/',
    });
    expect(calendarMoved.status).toBe(400);
    expect(JSON.stringify(calendarMoved.body.error)).toContain('password');
    // With the password the change is tested and saved (use case).
    const withPassword = await open.api('PATCH', `/api/email-accounts/${id}`, {
      imap: { host: 'localhost', port: dovecot.imapPort, secure: false },
      password: creds.password,
    });
    expect(withPassword.status).toBe(200);
    expect(withPassword.body.imap.host).toBe('localhost');
    // On the closed server (same database) the account's owner differs, so use a fresh account there.
    const creds2 = await dovecot.addUser();
    const refused = await closed.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds2, { caldavUrl: 'http://169.254.169.254/latest/' }),
    );
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('HOST_NOT_ALLOWED');
  });

  it('refuses a custom SMTP server on loopback without the allowed list', async () => {
    const trap = await listener('220 trap ESMTP\r\n');
    listeners.push(trap);
    const creds = await dovecot.addUser();
    // The account is connected on the open server; the closed server shares the database but not the user.
    const created = await open.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(created.status).toBe(201);
    const body = { mode: 'custom', host: '127.0.0.1', port: trap.port, secure: false, username: 'u', password: 'p' };
    const token = open.token;
    const res = await fetch(`${closed.url}/api/email-accounts/${created.body.id as string}/smtp`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as { error: { code: string } };
    expect(res.status).toBe(422);
    expect(answer.error.code).toBe('HOST_NOT_ALLOWED');
    expect(trap.connections()).toBe(0);
  });
});
