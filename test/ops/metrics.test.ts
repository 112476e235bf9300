// GET /metrics (issue 19, A2) against the real composition, on SQLite and PostgreSQL, with the real Dovecot: a mailbox
// whose password changes on the server shows its status detail code, a scheduled message shows in the outbox depth
// and next due time, requests show in the latency histogram under their route pattern — never an id, a token or
// the URL asked. Abuse: without the token 401 (an API token is not the metrics token), wrong guesses throttled;
// without METRICS_TOKEN a client that is not on this machine gets 403, whatever X-Forwarded-For says.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from '../../src/http/sliding-window-limiter.js';
import { checkMetricsAccess, isLoopbackAddress, tokensMatch } from '../../src/http/routes/metrics-routes.js';
import { loadConfig } from '../../src/app/config.js';
import { readMetricsSnapshot } from '../../src/ops/metrics-snapshot.js';
import { createConversaMetrics } from '../../src/ops/conversa-metrics.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { addOrg } from '../support/org-rows.js';

const dovecot = useDovecot();
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789abcdef';

/** The value of the one sample with exactly these labels (in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) found[pair[1]!] = pair[2]!;
    const wanted = Object.entries(labels);
    if (wanted.length === Object.keys(found).length && wanted.every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}

function fakeRequest(remoteAddress: string | undefined, headers: Record<string, string> = {}) {
  return { headers, socket: { remoteAddress } } as unknown as Parameters<typeof checkMetricsAccess>[0];
}

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

describe('who may read /metrics', () => {
  it('knows loopback peers, IPv4, IPv6 and IPv4-mapped, and nothing else', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1'])
      expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['192.0.2.2', '::ffff:10.0.0.1', 'fd00::2', '::', '0.0.0.0', 'localhost', '', undefined])
      expect(isLoopbackAddress(a), String(a)).toBe(false);
  });

  it('without a token: the socket peer decides, never X-Forwarded-For', () => {
    const limiter = new SlidingWindowLimiter({ limit: 3, windowMs: 60_000, maxKeys: 100 });
    expect(codeOf(() => checkMetricsAccess(fakeRequest('127.0.0.1'), null, limiter))).toBeUndefined();
    expect(codeOf(() => checkMetricsAccess(fakeRequest('::ffff:127.0.0.1'), null, limiter))).toBeUndefined();
    expect(codeOf(() => checkMetricsAccess(fakeRequest('192.0.2.2'), null, limiter))).toBe('FORBIDDEN');
    const forwarded = fakeRequest('192.0.2.2', { 'x-forwarded-for': '127.0.0.1', 'x-real-ip': '127.0.0.1' });
    expect(codeOf(() => checkMetricsAccess(forwarded, null, limiter))).toBe('FORBIDDEN');
    expect(codeOf(() => checkMetricsAccess(fakeRequest(undefined), null, limiter))).toBe('FORBIDDEN');
  });

  it('with a token: only that Bearer, from anywhere, and wrong guesses are throttled per client', () => {
    const limiter = new SlidingWindowLimiter({ limit: 3, windowMs: 60_000, maxKeys: 100 });
    const ok = fakeRequest('192.0.2.2', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(codeOf(() => checkMetricsAccess(ok, METRICS_TOKEN, limiter))).toBeUndefined();
    // A loopback client needs it too once it is set.
    expect(codeOf(() => checkMetricsAccess(fakeRequest('127.0.0.1'), METRICS_TOKEN, limiter))).toBe('UNAUTHENTICATED');
    for (const authorization of [`Bearer ${METRICS_TOKEN}x`, `Basic ${METRICS_TOKEN}`]) {
      expect(
        codeOf(() => checkMetricsAccess(fakeRequest('127.0.0.1', { authorization }), METRICS_TOKEN, limiter)),
      ).toBe('UNAUTHENTICATED');
    }
    // Three failures from 127.0.0.1: the fourth try is refused even with the right token; another client is not.
    const right = fakeRequest('127.0.0.1', { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(codeOf(() => checkMetricsAccess(right, METRICS_TOKEN, limiter))).toBe('RATE_LIMITED');
    expect(codeOf(() => checkMetricsAccess(ok, METRICS_TOKEN, limiter))).toBeUndefined();
    expect(tokensMatch('a', 'a')).toBe(true);
    expect(tokensMatch('a', 'ab')).toBe(false);
  });

  it('refuses a METRICS_TOKEN too short to protect anything, at start-up', () => {
    expect(loadConfig({}).metricsToken).toBeNull();
    expect(loadConfig({ METRICS_TOKEN: METRICS_TOKEN }).metricsToken).toBe(METRICS_TOKEN);
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
  });
});

describe.each(DIALECTS)('/metrics on %s', (dialect) => {
  let c: TestConversa;
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startTestConversa({ LOG_LEVEL: 'warn', METRICS_TOKEN }, database);
  });
  afterAll(async () => {
    await c?.stop();
    await database?.destroy();
  });

  const scrape = async (authorization: string | null = `Bearer ${METRICS_TOKEN}`) => {
    const res = await fetch(`${c.url}/metrics`, { headers: authorization ? { authorization } : {} });
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };

  it('asks for the metrics token: none or an API token is 401', async () => {
    const none = await scrape(null);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.text).error.code).toBe('UNAUTHENTICATED');
    // A valid API token of an administrator is not the metrics token (and is not read as one).
    const apiToken = await scrape(`Bearer ${c.token}`);
    expect(apiToken.status).toBe(401);
    expect(none.text).not.toContain('conversa_');
    const ok = await scrape();
    expect(ok.status, ok.text).toBe(200);
    const doc: any = await (await fetch(`${c.url}/api/openapi.json`)).json();
    expect(doc.paths['/metrics'].get.security).toEqual([{ metricsToken: [] }, {}]);
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('shows a failing mailbox, its error code, the scheduled queue and HTTP latency, with no id or token in a label', async () => {
    const creds = await dovecot.addUser();
    const created = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(created.status, created.text).toBe(201);
    const id = created.body.id as string;
    const bccAddress = String(created.body.bccAddress ?? '');
    const account = creds.user;
    await waitFor(
      `account ${id} active`,
      async () => (await c.api('GET', `/api/email-accounts/${id}`)).body.status === 'active',
      30_000,
    );

    const healthy = (await scrape()).text;
    expect(sample(healthy, 'conversa_account_sync_state', { account, state: 'active' })).toBe(1);
    expect(sample(healthy, 'conversa_account_sync_state', { account, state: 'error' })).toBe(0);
    expect(sample(healthy, 'conversa_account_sync_lag_seconds', { account })).toBeGreaterThanOrEqual(0);
    expect(sample(healthy, 'conversa_account_last_sync_timestamp_seconds', { account })).toBeGreaterThan(0);
    expect(sample(healthy, 'conversa_outbox_depth', { state: 'scheduled' })).toBe(0);
    // Nothing scheduled: 0 (prom-client keeps a label-less gauge), read beside the depth.
    expect(sample(healthy, 'conversa_scheduled_next_due_timestamp_seconds')).toBe(0);

    // A message scheduled for an hour from now: one in the scheduled queue, due then.
    const sendAt = Date.now() + 60 * 60_000;
    const sent = await c.api('POST', '/api/messages', {
      accountId: id,
      to: ['metrics-client@buyer.test'],
      subject: 'Later, for the metrics',
      text: 'Scheduled.',
      sendAt: new Date(sendAt).toISOString(),
    });
    expect(sent.status, sent.text).toBe(201);
    const messageId = sent.body.id as string;

    // Requests with ids and a token in their URLs: counted under their patterns only.
    expect((await c.api('GET', `/api/messages/${messageId}`)).status).toBe(200);
    expect((await c.api('GET', `/api/email-accounts/${id}?secret=query-secret-xyz`)).status).toBe(200);
    expect((await fetch(`${c.url}/t/o/pixel-token-secret-xyz.gif`)).status).toBe(200);
    expect((await fetch(`${c.url}/no/such/place/unmatched-secret-xyz`)).status).toBe(404);

    // The password changes on the server: the sync turns needs_reconnect with a code.
    await dovecot.setPassword(creds.user, `${creds.password}-changed-for-metrics`);
    await dovecot.kick(creds.user);
    await waitFor(
      `account ${id} needs_reconnect`,
      async () => (await c.api('GET', `/api/email-accounts/${id}`)).body.status === 'needs_reconnect',
      30_000,
    );

    const { text } = await scrape();
    expect(sample(text, 'conversa_account_sync_state', { account, state: 'needs_reconnect' })).toBe(1);
    expect(sample(text, 'conversa_account_sync_state', { account, state: 'active' })).toBe(0);
    expect(sample(text, 'conversa_account_error', { account, code: 'SYNC_PASSWORD_REFUSED' })).toBe(1);
    expect(sample(text, 'conversa_account_errors', { code: 'SYNC_PASSWORD_REFUSED' })).toBeGreaterThanOrEqual(1);

    expect(sample(text, 'conversa_outbox_depth', { state: 'scheduled' })).toBe(1);
    expect(sample(text, 'conversa_outbox_depth', { state: 'queued' })).toBe(0);
    expect(sample(text, 'conversa_outbox_depth', { state: 'failed' })).toBe(0);
    expect(sample(text, 'conversa_scheduled_next_due_timestamp_seconds')).toBe(sendAt / 1000);
    expect(sample(text, 'conversa_sequence_enrollments_due')).toBe(0);

    const count = (route: string, status_class: string, method = 'GET') =>
      sample(text, 'conversa_http_request_duration_seconds_count', { method, route, status_class });
    expect(count('/api/messages/:id', '2xx')).toBeGreaterThanOrEqual(1);
    expect(count('/api/email-accounts/:id', '2xx')).toBeGreaterThanOrEqual(2);
    expect(count('/t/o/:token.gif', '2xx')).toBe(1);
    expect(count('/metrics', '4xx')).toBeGreaterThanOrEqual(2);
    expect(count('/api/messages', '2xx', 'POST')).toBe(1);
    expect(
      (count('unmatched', '4xx') ?? 0) + (count('/*', '4xx') ?? 0),
      'the 404 counts as unmatched (or the web app fallback)',
    ).toBeGreaterThanOrEqual(1);

    // Nothing that identifies a row or opens a door: ids, tokens, the URLs asked, the password.
    for (const secret of [
      id,
      messageId,
      c.token,
      METRICS_TOKEN,
      'query-secret-xyz',
      'pixel-token-secret-xyz',
      'unmatched-secret-xyz',
      creds.password,
      ...(bccAddress ? [bccAddress] : []),
    ])
      expect(text).not.toContain(secret);

    // Every family is Conversa's, process metrics included.
    const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    expect(families.length).toBeGreaterThan(20);
    for (const name of families) expect(name).toMatch(/^conversa_/);
    expect(families).toContain('conversa_process_resident_memory_bytes');
    expect(families).toContain('conversa_process_cpu_seconds_total');
  });
});

describe.each(DIALECTS)('database figures (sequences due, calendars, paused) on %s', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('counts what the engine would take: active, due, not held, of a running sequence', async () => {
    const db = database.storage.db;
    const t = 1_800_000_000_000;
    await addOrg(db, 'Org', 'o1');
    const user = { org_id: 'o1', display_name: null, password_hash: 'x', is_admin: 1, created_at: t, updated_at: t };
    await db
      .insertInto('users')
      .values({ ...user, id: 'u1', email: 'owner@metrics.test' })
      .execute();
    await db
      .insertInto('email_accounts')
      .values({
        id: 'a1',
        org_id: 'o1',
        user_id: 'u1',
        email: 'owner@metrics.test',
        provider: 'other',
        auth_kind: 'password',
        sync_mode: 'two-way',
        status: 'active',
        status_detail: null,
        next_retry_at: null,
        last_synced_at: t,
        history_days: 30,
        imap_host: 'imap.metrics.test',
        imap_port: 993,
        imap_secure: 1,
        smtp_host: 'smtp.metrics.test',
        smtp_port: 465,
        smtp_secure: 1,
        username: 'owner',
        credentials_enc: 'sealed',
        smtp_mode: 'mailbox',
        smtp_custom_enc: null,
        caldav_url: null,
        bcc_token: 'bcc-token-metrics',
        visibility: 'shared',
        generation: 1,
        progress_json: null,
        sync_requested_at: null,
        created_at: t,
        updated_at: t,
      })
      .execute();
    await db
      .insertInto('contacts')
      .values({
        id: 'c1',
        org_id: 'o1',
        first_name: null,
        last_name: null,
        company: null,
        source: 'manual',
        search_text: 'lead@metrics.test',
        created_at: t,
        updated_at: t,
      })
      .execute();
    const sequence = { org_id: 'o1', owner_user_id: 'u1', account_id: 'a1', name: 'S', steps_json: '[]' };
    const extra = { send_window_json: null, daily_limit: null, created_at: t, updated_at: t };
    await db
      .insertInto('sequences')
      .values([
        { ...sequence, ...extra, id: 's-run', paused: 0 },
        { ...sequence, ...extra, id: 's-paused', paused: 1 },
      ])
      .execute();
    const enrollment = (id: string, sequenceId: string, more: Record<string, unknown>) => ({
      id,
      sequence_id: sequenceId,
      org_id: 'o1',
      contact_id: 'c1',
      address: 'lead@metrics.test',
      state: 'active' as const,
      step: 0,
      next_at: t,
      waiting_until: null,
      last_auto_reply_id: null,
      thread_message_id: null,
      enrolled_at: t,
      stopped_at: null,
      stop_reason: null,
      updated_at: t,
      ...more,
    });
    await db
      .insertInto('sequence_enrollments')
      .values([
        enrollment('e-due', 's-run', {}),
        enrollment('e-due-2', 's-run', { next_at: t - 60_000 }),
        enrollment('e-later', 's-run', { next_at: t + 3_600_000 }),
        enrollment('e-held', 's-run', { waiting_until: t + 3_600_000 }),
        enrollment('e-paused-seq', 's-paused', {}),
        enrollment('e-finished', 's-run', { state: 'finished' }),
      ])
      .execute();
    expect((await readMetricsSnapshot(db, t - 120_000)).sequencesDue).toBe(0);
    expect((await readMetricsSnapshot(db, t)).sequencesDue).toBe(2);
    expect((await readMetricsSnapshot(db, t + 3_600_000)).sequencesDue).toBe(4);
  });

  it('shows the calendar state one-hot, a paused mailbox without lag, and an unknown code as OTHER', async () => {
    const db = database.storage.db;
    const t = 1_800_000_000_000;
    await db
      .updateTable('email_accounts')
      .set({
        calendar_status: 'error',
        calendar_synced_at: t - 60_000,
        paused: 1,
        status_detail_code: 'FROM_THE_FUTURE',
      })
      .where('id', '=', 'a1')
      .execute();
    const text = await createConversaMetrics(db, { now: () => t }).scrape();
    const account = 'owner@metrics.test';
    expect(sample(text, 'conversa_calendar_state', { account, state: 'error' })).toBe(1);
    expect(sample(text, 'conversa_calendar_state', { account, state: 'active' })).toBe(0);
    expect(sample(text, 'conversa_calendar_last_sync_timestamp_seconds', { account })).toBe((t - 60_000) / 1000);
    expect(sample(text, 'conversa_account_paused', { account })).toBe(1);
    expect(sample(text, 'conversa_account_sync_lag_seconds', { account })).toBeUndefined();
    expect(sample(text, 'conversa_account_error', { account, code: 'OTHER' })).toBe(1);
    expect(text).not.toContain('FROM_THE_FUTURE');
    expect(sample(text, 'conversa_sequence_enrollments_due')).toBe(2);
  });
});

/** An address of this machine that is not loopback (the eth0 of a CI box), to be a "remote" client from. */
function externalAddress(): string | undefined {
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  return undefined;
}

describe('/metrics without METRICS_TOKEN', () => {
  let c: TestConversa;
  const external = externalAddress();

  beforeAll(async () => {
    // Listening on every address, so this machine can also reach it from its non-loopback one.
    c = await startTestConversa({ LOG_LEVEL: 'warn', HOST: '0.0.0.0' });
  });
  afterAll(async () => {
    await c?.stop();
  });

  const port = () => new URL(c.url).port;

  it('answers a loopback client, whatever it sends, without reading its Bearer as an API token', async () => {
    const res = await fetch(`http://127.0.0.1:${port()}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('conversa_outbox_depth{state="queued"} 0');
    const withBearer = await fetch(`http://127.0.0.1:${port()}/metrics`, {
      headers: { authorization: 'Bearer not-an-api-token' },
    });
    expect(withBearer.status).toBe(200);
  });

  it.skipIf(!external)('refuses a client on another address with 403, X-Forwarded-For or not', async () => {
    for (const headers of [{}, { 'x-forwarded-for': '127.0.0.1' }] as Record<string, string>[]) {
      const res = await fetch(`http://${external}:${port()}/metrics`, { headers });
      expect(res.status).toBe(403);
      const body = await res.text();
      expect(JSON.parse(body).error.code).toBe('FORBIDDEN');
      expect(body).not.toContain('conversa_');
    }
  });
});
