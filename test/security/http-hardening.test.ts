// Audit items 2, 7, 8 (sign-in), 12 (files, logs) and 13: no amplification, CSRF, sign-in throttling, private
// files, redacted request logs. Each abuse is tried beside the use it must not break, over real HTTP where the
// answer's size or time matters, on SQLite and PostgreSQL where a change is stored.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/build-server.js';
import { LoginThrottle } from '../../src/http/login-throttle.js';
import { redactUrl } from '../../src/http/redact-url.js';
import { SlidingWindowLimiter } from '../../src/http/sliding-window-limiter.js';
import { createUser } from '../../src/users/users.js';
import { createBlobStore } from '../../src/storage/blob-store.js';
import { startTestApi, type TestApi } from '../support/api-client.js';
import { startTestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const PUBLIC_ORIGIN = 'http://127.0.0.1:3000'; // startTestApi's PUBLIC_URL
const FOREIGN_ORIGIN = 'http://127.0.0.1:5173'; // same host, another port: same site, another origin
const ONE_MB = 1024 * 1024;
// The audit asks for an answer in < 1 s; here ~0.3-0.5 s (printed by the measurements in the closing note). The test
// guards against the stall the audit found with headroom for a loaded two-core CI machine.
const ANSWER_TIME_GUARD_MS = 4_000;

/** A JSON object with as many unknown keys as fit in just under 1 MB. */
function manyUnknownKeys(base: Record<string, unknown>): { json: string; keys: number } {
  const parts: string[] = [];
  let size = JSON.stringify(base).length;
  for (let i = 0; size < ONE_MB - 40; i++) {
    const part = `"k${i}":0`;
    parts.push(part);
    size += part.length + 1;
  }
  const head = JSON.stringify(base).slice(0, -1);
  return { json: `${head}${head.length > 1 ? ',' : ''}${parts.join(',')}}`, keys: parts.length };
}

async function timed(
  url: string,
  init: RequestInit,
): Promise<{ status: number; body: any; bytes: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  const ms = performance.now() - started;
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, bytes: Buffer.byteLength(text), ms };
}

describe('no amplification (item 2)', () => {
  let api: TestApi;
  let base: string;

  beforeAll(async () => {
    api = await startTestApi('sqlite');
    base = await api.app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await api?.close();
  });

  const routes = [
    {
      name: 'the public sign-in',
      url: '/api/auth/login',
      auth: false,
      base: { email: 'x@example.test', password: 'whatever pw' },
    },
    { name: 'an authenticated route', url: '/api/contacts', auth: true, base: { emails: ['amp@example.test'] } },
  ];

  for (const route of routes) {
    it(`refuses 1 MB of text/plain to ${route.name}: 415, small, fast`, async () => {
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (route.auth) headers.authorization = `Bearer ${api.token}`;
      const res = await timed(`${base}${route.url}`, { method: 'POST', headers, body: 'a'.repeat(ONE_MB - 100) });
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(res.bytes).toBeLessThan(64 * 1024);
      expect(res.ms).toBeLessThan(ANSWER_TIME_GUARD_MS);
    });

    it(`refuses 1 MB of text/csv to ${route.name} (CSV is for the import only)`, async () => {
      const headers: Record<string, string> = { 'content-type': 'text/csv' };
      if (route.auth) headers.authorization = `Bearer ${api.token}`;
      const res = await timed(`${base}${route.url}`, { method: 'POST', headers, body: 'email\n'.repeat(ONE_MB / 8) });
      expect(res.status).toBe(415);
      expect(res.bytes).toBeLessThan(64 * 1024);
    });

    it(`answers JSON with ~100k unknown keys to ${route.name} with a capped 400`, async () => {
      const { json, keys } = manyUnknownKeys(route.base);
      expect(keys).toBeGreaterThan(90_000);
      expect(json.length).toBeLessThanOrEqual(ONE_MB);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (route.auth) headers.authorization = `Bearer ${api.token}`;
      const res = await timed(`${base}${route.url}`, { method: 'POST', headers, body: json });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.fields.length).toBeLessThanOrEqual(10);
      expect(res.body.error.message.length).toBeLessThanOrEqual(500);
      expect(res.body.error.message).toMatch(/unknown fields "k0"/);
      expect(res.bytes).toBeLessThan(64 * 1024);
      expect(res.ms).toBeLessThan(ANSWER_TIME_GUARD_MS);
    });
  }

  it('caps the list of invalid items: 80k bad addresses name at most 10 fields', async () => {
    const emails = Array.from({ length: 80_000 }, (_, i) => `b${i}`);
    const res = await timed(`${base}/api/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
      body: JSON.stringify({ emails }),
    });
    expect(res.status).toBe(400);
    expect(res.body.error.fields.length).toBeLessThanOrEqual(10);
    expect(res.bytes).toBeLessThan(64 * 1024);
    expect(res.ms).toBeLessThan(ANSWER_TIME_GUARD_MS);
  });

  it('cuts a long Content-Type out of the answer', async () => {
    const res = await timed(`${base}/api/contacts`, {
      method: 'POST',
      headers: { 'content-type': `application/x-${'y'.repeat(8_000)}`, authorization: `Bearer ${api.token}` },
      body: 'x',
    });
    expect(res.status).toBe(415);
    expect(res.bytes).toBeLessThan(2_000);
  });

  it('still takes the JSON a route needs, and text/csv at the import', async () => {
    const login = await timed(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: api.user.email, password: 'correct horse' }),
    });
    expect(login.status).toBe(200);
    const created = await timed(`${base}/api/contacts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
      body: JSON.stringify({ emails: ['kept@example.test'] }),
    });
    expect(created.status).toBe(201);
    const csv = await timed(`${base}/api/contacts/import`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv; charset=utf-8', authorization: `Bearer ${api.token}` },
      body: 'email\nimported@example.test\n',
    });
    expect(csv.status).toBe(200);
    expect(csv.body.created).toBe(1);
    const plain = await timed(`${base}/api/contacts/import`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${api.token}` },
      body: 'email\nplain@example.test\n',
    });
    expect(plain.status).toBe(415);
    const json = await timed(`${base}/api/contacts/import`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
      body: '{"email":"x@example.test"}',
    });
    expect(json.status).toBe(415);
  });
});

describe.each(DIALECTS)('CSRF (item 7) on %s', (dialect) => {
  let api: TestApi;
  let cookie: string;

  const contacts = async () =>
    (await api.request({ method: 'GET', url: '/api/contacts?limit=200' }))
      .json()
      .items.map((c: { emails: string[] }) => c.emails[0]);
  const post = (email: string, headers: Record<string, string>) =>
    api.app.inject({ method: 'POST', url: '/api/contacts', headers, payload: { emails: [email] } });

  beforeAll(async () => {
    api = await startTestApi(dialect);
    const login = await api.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: { origin: PUBLIC_ORIGIN },
      payload: { email: api.user.email, password: 'correct horse' },
    });
    expect(login.statusCode).toBe(200);
    const session = login.cookies.find((c) => c.name === 'conversa_session')!;
    expect(session.sameSite).toBe('Lax');
    expect(session.httpOnly).toBe(true);
    cookie = session.value;
  });
  afterAll(async () => {
    await api?.close();
  });

  it('takes a cookie change from PUBLIC_URL (by Origin, or by Referer when there is no Origin)', async () => {
    expect(
      (await post('same-origin@example.test', { origin: PUBLIC_ORIGIN, cookie: `conversa_session=${cookie}` }))
        .statusCode,
    ).toBe(201);
    const byReferer = await post('same-referer@example.test', {
      referer: `${PUBLIC_ORIGIN}/contacts`,
      cookie: `conversa_session=${cookie}`,
    });
    expect(byReferer.statusCode).toBe(201);
    expect(await contacts()).toEqual(expect.arrayContaining(['same-origin@example.test', 'same-referer@example.test']));
  });

  it('refuses a cookie change from another port, a null origin, a foreign Referer or no origin at all, storing nothing', async () => {
    const attempts: Array<[string, Record<string, string>]> = [
      ['planted-port@example.test', { origin: FOREIGN_ORIGIN }],
      ['planted-null@example.test', { origin: 'null' }],
      ['planted-referer@example.test', { referer: `${FOREIGN_ORIGIN}/evil.html` }],
      ['planted-https@example.test', { origin: 'https://127.0.0.1:3000' }],
      ['planted-none@example.test', {}],
    ];
    for (const [email, headers] of attempts) {
      const res = await post(email, { ...headers, cookie: `conversa_session=${cookie}` });
      expect(res.statusCode, email).toBe(403);
      expect(res.json().error.code).toBe('CSRF_REFUSED');
    }
    const patched = await api.app.inject({
      method: 'PATCH',
      url: '/api/me/settings',
      headers: { origin: FOREIGN_ORIGIN, cookie: `conversa_session=${cookie}` },
      payload: { autoCreateContacts: true },
    });
    expect(patched.statusCode).toBe(403);
    const listed = await contacts();
    for (const [email] of attempts) expect(listed).not.toContain(email);
    expect((await api.request({ method: 'GET', url: '/api/me/settings' })).json().autoCreateContacts).toBe(false);
  });

  it('lets reads with the cookie through from anywhere (no change) and Bearer changes with any Origin', async () => {
    const read = await api.app.inject({
      method: 'GET',
      url: '/api/me',
      headers: { origin: FOREIGN_ORIGIN, cookie: `conversa_session=${cookie}` },
    });
    expect(read.statusCode).toBe(200);
    const bearer = await post('bearer-foreign@example.test', {
      origin: FOREIGN_ORIGIN,
      authorization: `Bearer ${api.token}`,
    });
    expect(bearer.statusCode).toBe(201);
  });

  it('refuses sign-in from a foreign page (login CSRF) but not from the app or a script without Origin', async () => {
    const payload = { email: api.user.email, password: 'correct horse' };
    const foreign = await api.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      headers: { origin: FOREIGN_ORIGIN },
      payload,
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().error.code).toBe('CSRF_REFUSED');
    expect(foreign.headers['set-cookie']).toBeUndefined();
    const script = await api.app.inject({ method: 'POST', url: '/api/auth/login', payload });
    expect(script.statusCode).toBe(200);
  });
});

describe('sign-in throttling (item 8)', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  const password = 'right password';
  const emails = ['victim@example.test', 'reset@example.test', 'ip1@example.test'];

  const login = (email: string, pw: string, ip = '127.0.0.1') =>
    app.inject({ method: 'POST', url: '/api/auth/login', remoteAddress: ip, payload: { email, password: pw } });

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    // Per IP lowered to 15 so the per-IP test needs few slow password checks; per address stays the default 10.
    app = await buildServer({
      db: database.storage.db,
      publicUrl: PUBLIC_ORIGIN,
      version: 'test',
      loginThrottle: new LoginThrottle({ perIp: 15 }),
    });
    for (const email of emails) await createUser(database.storage.db, { email, password });
  });
  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('throttles guessing invitation links per client IP, with the sign-in budget, and tells nothing else', async () => {
    const guess = (ip: string) =>
      app.inject({
        method: 'GET',
        url: `/api/invites/guess-${Math.random().toString(36).slice(2)}`,
        remoteAddress: ip,
      });
    for (let i = 1; i <= 15; i++) expect((await guess('10.9.9.9')).statusCode).toBe(404);
    const refused = await guess('10.9.9.9');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Another client is not held back by this one's guesses.
    expect((await guess('10.9.9.10')).statusCode).toBe(404);
  });

  it('answers the 11th failed attempt on an address with 429 and Retry-After, even with the right password', async () => {
    for (let i = 1; i <= 10; i++)
      expect((await login('Victim@Example.test', `wrong ${i}`, `10.0.0.${i}`)).statusCode).toBe(401);
    const eleventh = await login('victim@example.test', 'wrong 11', '10.0.1.1');
    expect(eleventh.statusCode).toBe(429);
    expect(eleventh.json().error.code).toBe('RATE_LIMITED');
    const retryAfter = Number(eleventh.headers['retry-after']);
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect((await login('victim@example.test', password, '10.0.1.2')).statusCode).toBe(429);
  });

  it('resets an address after a success', async () => {
    for (let i = 1; i <= 9; i++)
      expect((await login('reset@example.test', `wrong ${i}`, '10.1.0.1')).statusCode).toBe(401);
    expect((await login('reset@example.test', password, '10.1.0.1')).statusCode).toBe(200);
    for (let i = 1; i <= 10; i++)
      expect((await login('reset@example.test', `again ${i}`, '10.1.0.2')).statusCode).toBe(401);
    expect((await login('reset@example.test', 'again 11', '10.1.0.3')).statusCode).toBe(429);
  });

  it('limits one client IP spraying many addresses, and not the other IPs', async () => {
    for (let i = 0; i < 15; i++)
      expect((await login(`nobody${i}@example.test`, 'guess', '10.2.0.1')).statusCode).toBe(401);
    const spent = await login('ip1@example.test', password, '10.2.0.1');
    expect(spent.statusCode).toBe(429);
    expect(spent.headers['retry-after']).toBeDefined();
    expect((await login('ip1@example.test', password, '10.2.0.2')).statusCode).toBe(200);
  });

  it('keeps memory bounded when addresses are sprayed', () => {
    const throttle = new LoginThrottle({ perIp: 1_000_000, maxKeys: 100 });
    for (let i = 0; i < 5_000; i++) throttle.attempt(`spray${i}@example.test`, `10.3.${i >> 8}.${i & 255}`);
    expect(throttle.sizes.addresses).toBeLessThanOrEqual(100);
    expect(throttle.sizes.ips).toBeLessThanOrEqual(100);
  });

  it('forgets failures once the window has passed (sliding window)', () => {
    let now = 1_000_000;
    const limiter = new SlidingWindowLimiter({ limit: 2, windowMs: 1_000, maxKeys: 10, now: () => now });
    limiter.recordFailure('a');
    now += 600;
    limiter.recordFailure('a');
    expect(limiter.retryAfterMs('a')).toBe(400);
    now += 401;
    expect(limiter.retryAfterMs('a')).toBe(0);
  });
});

describe('private files (item 12)', () => {
  const mode = (file: string) => fs.statSync(file).mode & 0o777;

  it('makes the data dir 0700 and the database, its WAL companions, the key and blobs owner-only, even when left open by an older version', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-modes-'));
    fs.chmodSync(dataDir, 0o755);
    const db = path.join(dataDir, 'conversa.db');
    fs.writeFileSync(db, '');
    fs.chmodSync(db, 0o644);
    const conversa = await startTestConversa({ CONVERSA_DATA_DIR: dataDir });
    try {
      // A write, so the WAL and its index exist.
      expect((await conversa.api('POST', '/api/contacts', { emails: ['modes@example.test'] })).status).toBe(201);
      const blob = await conversa.server.blobs.put(Buffer.from('a mail body'));
      expect(mode(dataDir)).toBe(0o700);
      for (const file of [db, `${db}-wal`, `${db}-shm`, path.join(dataDir, 'secret.key')]) {
        expect(fs.existsSync(file), file).toBe(true);
        expect(mode(file), file).toBe(0o600);
      }
      const blobFile = createBlobStore(path.join(dataDir, 'blobs')).path(blob.sha256);
      expect(mode(blobFile)).toBe(0o600);
      expect(mode(path.dirname(blobFile))).toBe(0o700);
      expect(mode(path.dirname(path.dirname(blobFile)))).toBe(0o700);
    } finally {
      await conversa.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('request logs (item 12)', () => {
  it('never log OAuth codes, states or tokens from a URL', async () => {
    const conversa = await startTestConversa();
    try {
      await fetch(`${conversa.url}/api/email-accounts/oauth/callback?code=SECRETCODE123&state=SECRETSTATE456`, {
        redirect: 'manual',
      });
      await fetch(`${conversa.url}/api/health?token=SECRETTOKEN789&keep=visible`);
      const logs = conversa.logs.join('');
      expect(logs).toContain('/api/email-accounts/oauth/callback?code=[redacted]&state=[redacted]');
      expect(logs).toContain('/api/health?token=[redacted]&keep=visible');
      for (const secret of ['SECRETCODE123', 'SECRETSTATE456', 'SECRETTOKEN789']) expect(logs).not.toContain(secret);
    } finally {
      await conversa.stop();
    }
  });

  it('redacts secrets that live in a path, and leaves other URLs alone', () => {
    expect(redactUrl('/u/abc123')).toBe('/u/[redacted]');
    expect(redactUrl('/invite/tok?x=1')).toBe('/invite/[redacted]?x=1');
    expect(redactUrl('/api/invites/tok')).toBe('/api/invites/[redacted]');
    expect(redactUrl('/api/contacts?q=ana&limit=5')).toBe('/api/contacts?q=ana&limit=5');
    expect(redactUrl('/x?Code=1&%73tate=2')).toBe('/x?Code=[redacted]&%73tate=[redacted]');
  });
});
