// Calendar push (issue 16): Google watch channels and Microsoft Graph subscriptions against the fakes built from
// the documented payloads, through the real webhook routes (buildServer) and the real calendar runner, on SQLite
// and PostgreSQL. A channel per calendar is made on start (Graph's validation handshake answered by the route) and
// renewed before it expires; a change reaches the CRM by notification while the poll cadence is set to 10 minutes;
// a wrong token, an unknown channel, a wrong clientState do nothing; a removed account's channels are stopped; and
// with PUBLIC_URL on loopback (the default) no channel is made and polling is as before.
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGoogleDriver } from '../../src/calendar/google/google-driver.js';
import { createMicrosoftDriver } from '../../src/calendar/microsoft/microsoft-driver.js';
import { CalendarSupervisor } from '../../src/calendar/calendar-supervisor.js';
import type { CalendarRunnerDeps, DriverFactory } from '../../src/calendar/calendar-runner.js';
import { calendarPushFor, type CalendarPushOptions } from '../../src/calendar/push/calendar-channels.js';
import { hookAddress, pushUsable } from '../../src/calendar/push/push-url.js';
import { accountSignals } from '../../src/app/background-work.js';
import { SecretBox } from '../../src/core/secret-box.js';
import { buildServer } from '../../src/http/build-server.js';
import { SlidingWindowLimiter } from '../../src/http/sliding-window-limiter.js';
import { sealCredentials } from '../../src/mail/accounts/account-credentials.js';
import type { Db } from '../../src/storage/database.js';
import { newId } from '../../src/storage/ids.js';
import { createUser } from '../../src/users/users.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { waitFor } from '../support/wait-for.js';
import { startGoogleCalendarFake, type GoogleCalendarFake } from './fakes/google-calendar-fake.js';
import { startGraphCalendarFake, type GraphCalendarFake } from './fakes/graph-calendar-fake.js';

const quiet = { info() {}, warn() {}, error() {} };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Polling this slow never brings a change within a test: what arrives came by push. */
const SLOW_POLL_MS = 10 * 60_000;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** Tomorrow plus `hours`, on a whole hour. */
const soon = (hours: number) => new Date(Math.floor(Date.now() / HOUR) * HOUR + DAY + hours * HOUR).toISOString();

async function accountRow(db: Db, provider: 'gmail' | 'microsoft365'): Promise<string> {
  const user = await createUser(db, {
    email: `push-${newId()}@example.test`,
    password: 'a long password',
    isAdmin: false,
    displayName: null,
  });
  const id = newId();
  const now = Date.now();
  await db
    .insertInto('email_accounts')
    .values({
      id,
      org_id: user.orgId,
      user_id: user.id,
      email: `me-${id.slice(-6)}@example.test`,
      provider,
      auth_kind: 'oauth2',
      sync_mode: 'two-way',
      status: 'active',
      status_detail: null,
      next_retry_at: null,
      last_synced_at: now,
      history_days: 90,
      imap_host: 'imap.example.test',
      imap_port: 993,
      imap_secure: 1,
      smtp_host: 'smtp.example.test',
      smtp_port: 465,
      smtp_secure: 1,
      username: 'me',
      // The drivers below take their token from the test; the row only needs to be an OAuth account.
      credentials_enc: sealCredentials(new SecretBox(randomBytes(32)), id, {
        kind: 'oauth2',
        accessToken: 'unused',
        refreshToken: 'unused',
        expiresAt: now + HOUR,
      }),
      smtp_mode: 'mailbox',
      smtp_custom_enc: null,
      caldav_url: null,
      bcc_token: randomBytes(10).toString('hex'),
      visibility: 'shared',
      generation: 1,
      progress_json: null,
      sync_requested_at: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}

/** The webhook routes on a real server; `pushed` records who was woken and passes it to the supervisor. */
async function startHooks(
  db: Db,
  wake: (accountId: string) => void,
  limiter?: SlidingWindowLimiter,
): Promise<{ app: FastifyInstance; url: string; pushed: string[] }> {
  const pushed: string[] = [];
  const app = await buildServer({
    db,
    publicUrl: 'http://127.0.0.1:9',
    version: 'test',
    webRoot: null,
    validateResponses: true,
    calendarHooks: {
      pushed: (accountId) => {
        pushed.push(accountId);
        wake(accountId);
      },
      ...(limiter ? { limiter } : {}),
    },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, pushed };
}

function supervisorFor(
  db: Db,
  driverFor: DriverFactory,
  push: CalendarPushOptions | null,
  extra: Partial<CalendarRunnerDeps> = {},
) {
  return new CalendarSupervisor({
    db,
    log: quiet,
    bccDomain: 'bcc.test',
    intervalMs: HOUR,
    checkIntervalMs: SLOW_POLL_MS,
    backoffBaseMs: 50,
    backoffMaxMs: 200,
    window: { pastDays: 7, futureDays: 60 },
    driverFor,
    ...(push ? { push } : {}),
    ...extra,
  });
}

async function titles(db: Db, accountId: string): Promise<string[]> {
  const rows = await db.selectFrom('meetings').select('title').where('account_id', '=', accountId).execute();
  return rows.map((r) => r.title ?? '');
}

async function activeCalendar(db: Db, accountId: string): Promise<boolean> {
  const row = await db
    .selectFrom('email_accounts')
    .select(['calendar_status', 'calendar_detail'])
    .where('id', '=', accountId)
    .executeTakeFirstOrThrow();
  if (row.calendar_status === 'error' || row.calendar_status === 'needs_reconnect')
    throw new Error(`${row.calendar_status}: ${row.calendar_detail}`);
  return row.calendar_status === 'active';
}

describe('whether PUBLIC_URL can take push', () => {
  it('only https on a public name or address', () => {
    expect(pushUsable('https://crm.example.com')).toBe(true);
    expect(pushUsable('https://crm.example.com:8443/conversa/')).toBe(true);
    expect(pushUsable('https://93.184.216.34')).toBe(true);
    expect(pushUsable('https://[2606:4700::1111]')).toBe(true);
    for (const url of [
      'http://127.0.0.1:3000',
      'http://crm.example.com',
      'https://localhost',
      'https://127.0.0.1',
      'https://10.1.2.3',
      'https://192.168.0.10',
      'https://172.20.0.5',
      'https://169.254.169.254',
      'https://100.64.1.1',
      'https://[::1]',
      'https://[fd00::1]',
      'https://[::ffff:192.168.0.1]',
      'https://crm',
      'https://crm.local',
      'https://crm.internal',
      'https://crm.lan',
      'https://app.localhost',
      'not a url',
    ])
      expect(pushUsable(url), url).toBe(false);
  });

  it('decides the runners’ push: off by default on loopback, forced only by an option', () => {
    expect(calendarPushFor('http://127.0.0.1:3000')).toBeNull();
    expect(calendarPushFor('https://crm.example.com')).toEqual({ publicUrl: 'https://crm.example.com' });
    expect(calendarPushFor('https://crm.example.com', null)).toBeNull();
    expect(calendarPushFor('http://127.0.0.1:3000', { publicUrl: 'http://127.0.0.1:1' })).toEqual({
      publicUrl: 'http://127.0.0.1:1',
    });
    expect(hookAddress('https://crm.example.com/base/', 'google')).toBe(
      'https://crm.example.com/base/hooks/google-calendar',
    );
    expect(hookAddress('https://crm.example.com', 'microsoft')).toBe('https://crm.example.com/hooks/graph-calendar');
  });
});

describe.each(DIALECTS)('Google Calendar push (%s)', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let fake: GoogleCalendarFake;
  let driverFor: DriverFactory;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    db = database.storage.db;
    fake = await startGoogleCalendarFake();
    fake.calendars = [
      { id: 'me@gmail.test', summary: 'me', accessRole: 'owner', timeZone: 'UTC', primary: true },
      { id: 'team@group.calendar.google.com', summary: 'Team', accessRole: 'writer', timeZone: 'UTC' },
    ];
    driverFor = async () => createGoogleDriver({ token: async () => fake.token, baseUrl: fake.url });
  });
  afterAll(async () => {
    await fake?.stop();
    await database?.destroy();
  });

  it('makes a channel per calendar on start; a change arrives by notification, not by polling', async () => {
    const id = await accountRow(db, 'gmail');
    let supervisor: CalendarSupervisor | undefined;
    const hooks = await startHooks(db, (accountId) => void supervisor?.poke(accountId));
    supervisor = supervisorFor(db, driverFor, { publicUrl: hooks.url });
    try {
      const before = fake.channels.length;
      await supervisor.start(id);
      await waitFor('channels made', async () => {
        const rows = await db.selectFrom('calendar_channels').selectAll().where('account_id', '=', id).execute();
        return (await activeCalendar(db, id)) && rows.length === 2;
      });
      const made = fake.channels.slice(before);
      expect(made.map((c) => c.calendarId).sort()).toEqual(['me@gmail.test', 'team@group.calendar.google.com']);
      expect(made.every((c) => c.address === `${hooks.url}/hooks/google-calendar`)).toBe(true);
      const rows = await db.selectFrom('calendar_channels').selectAll().where('account_id', '=', id).execute();
      for (const row of rows) {
        const channel = made.find((c) => c.id === row.channel_id)!;
        expect(row).toMatchObject({
          provider: 'google',
          resource_id: channel.resourceId,
          calendar_url: channel.calendarId,
        });
        // Only the hash is stored; the token itself is long and random.
        expect(channel.token!.length).toBeGreaterThanOrEqual(40);
        expect(row.secret_hash).toBe(sha256(channel.token!));
        expect(row.secret_hash).not.toContain(channel.token!);
        expect(Number(row.expires_at)).toBe(channel.expiration);
      }
      // Google's "sync" handshake was answered 200 and woke nobody.
      await fake.notified();
      expect(made.every((c) => c.sent.some((s) => s.state === 'sync' && s.status === 200))).toBe(true);
      expect(hooks.pushed).toEqual([]);

      fake.put('team@group.calendar.google.com', {
        id: `ev${randomBytes(4).toString('hex')}`,
        summary: 'Pushed planning',
        start: { dateTime: soon(10) },
        end: { dateTime: soon(11) },
      });
      await waitFor(
        'the change arrives by push',
        async () => (await titles(db, id)).includes('Pushed planning'),
        20_000,
      );
      expect(hooks.pushed).toContain(id);
      const channel = made.find((c) => c.calendarId === 'team@group.calendar.google.com')!;
      expect(channel.sent.some((s) => s.state === 'exists' && s.status === 200)).toBe(true);
    } finally {
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('believes no notification without the channel’s token and resource; always answers an empty 200', async () => {
    const id = await accountRow(db, 'gmail');
    let supervisor: CalendarSupervisor | undefined;
    const hooks = await startHooks(db, (accountId) => void supervisor?.poke(accountId));
    supervisor = supervisorFor(db, driverFor, { publicUrl: hooks.url });
    try {
      const before = fake.channels.length;
      await supervisor.start(id);
      await waitFor('channels made', async () => fake.channels.length >= before + 2);
      const channel = fake.channels.slice(before).find((c) => c.calendarId === 'me@gmail.test')!;
      await waitFor('stored', async () =>
        Boolean(
          await db.selectFrom('calendar_channels').select('id').where('channel_id', '=', channel.id).executeTakeFirst(),
        ),
      );
      await fake.notified();
      hooks.pushed.length = 0;
      const post = (headers: Record<string, string>) =>
        fetch(`${hooks.url}/hooks/google-calendar`, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=UTF-8', ...headers },
        });
      const right = {
        'x-goog-channel-id': channel.id,
        'x-goog-resource-id': channel.resourceId,
        'x-goog-channel-token': channel.token!,
        'x-goog-resource-state': 'exists',
      };
      const forged: Array<Record<string, string>> = [
        { ...right, 'x-goog-channel-token': 'wrong' },
        { ...right, 'x-goog-channel-token': channel.token!.slice(0, -1) },
        { ...right, 'x-goog-channel-id': '6f0c4c36-0000-4000-8000-000000000000' },
        { ...right, 'x-goog-resource-id': 'res-other' },
        { ...right, 'x-goog-resource-state': 'sync' },
        { 'x-goog-channel-id': channel.id, 'x-goog-resource-state': 'exists' },
        {},
      ];
      for (const headers of forged) {
        const answer = await post(headers);
        expect(answer.status).toBe(200);
        expect(await answer.text()).toBe('');
      }
      expect(hooks.pushed).toEqual([]);
      // Bodies are capped; the right one works.
      const big = await fetch(`${hooks.url}/hooks/google-calendar`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...right },
        body: JSON.stringify({ x: 'a'.repeat(100_000) }),
      });
      expect(big.status).toBe(413);
      expect((await post(right)).status).toBe(200);
      await waitFor('the right notification wakes the account', async () => hooks.pushed.includes(id));
    } finally {
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('renews a channel before it expires: a new one, then the old one stopped', async () => {
    const id = await accountRow(db, 'gmail');
    const hooks = await startHooks(db, () => undefined);
    // Google's shortest useful channel here is a minute (the driver asks at least 60 s): renew 57 s before.
    const supervisor = supervisorFor(db, driverFor, {
      publicUrl: hooks.url,
      ttlMs: 60_000,
      renewBeforeMs: 57_000,
      safetyCheckMs: SLOW_POLL_MS,
    });
    try {
      const before = fake.channels.length;
      await supervisor.start(id);
      await waitFor(
        'a channel renewed',
        async () => fake.channels.slice(before).filter((c) => c.calendarId === 'me@gmail.test').length >= 2,
        20_000,
      );
      await waitFor('the old one stopped', async () => {
        const mine = fake.channels.slice(before).filter((c) => c.calendarId === 'me@gmail.test');
        return mine[0]!.stopped;
      });
      // Still one channel per calendar, each a live one the fake knows. Channels this short renew every few seconds
      // and a renewal writes its new row before the old channel stops, so read a moment between two renewals.
      let rows: Array<{ calendar_url: string; channel_id: string }> = [];
      await waitFor('one live channel per calendar', async () => {
        rows = await db.selectFrom('calendar_channels').selectAll().where('account_id', '=', id).execute();
        return (
          rows.length === 2 &&
          rows.every((row) => fake.channels.find((c) => c.id === row.channel_id)?.stopped === false)
        );
      });
      expect(rows.map((r) => r.calendar_url).sort()).toEqual(['me@gmail.test', 'team@group.calendar.google.com']);
    } finally {
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('stops the channels when the account is removed', async () => {
    const id = await accountRow(db, 'gmail');
    const hooks = await startHooks(db, () => undefined);
    const supervisor = supervisorFor(db, driverFor, { publicUrl: hooks.url });
    try {
      const before = fake.channels.length;
      await supervisor.start(id);
      await waitFor('channels made', async () => {
        const rows = await db.selectFrom('calendar_channels').select('id').where('account_id', '=', id).execute();
        return rows.length === 2;
      });
      // As deleteAccount does: told first, then the row goes.
      await supervisor.onAccountChanged(id, 'deleted');
      await db.deleteFrom('email_accounts').where('id', '=', id).execute();
      const made = fake.channels.slice(before);
      expect(made.length).toBe(2);
      expect(made.every((c) => c.stopped)).toBe(true);
      expect(await db.selectFrom('calendar_channels').select('id').where('account_id', '=', id).execute()).toEqual([]);
      // A late notification for it is answered and does nothing.
      const answer = await fetch(`${hooks.url}/hooks/google-calendar`, {
        method: 'POST',
        headers: {
          'x-goog-channel-id': made[0]!.id,
          'x-goog-resource-id': made[0]!.resourceId,
          'x-goog-channel-token': made[0]!.token!,
          'x-goog-resource-state': 'exists',
        },
      });
      expect(answer.status).toBe(200);
      expect(hooks.pushed).toEqual([]);
    } finally {
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('with every calendar covered, the checks slow to the safety cadence; without, they keep the poll pace', async () => {
    const id = await accountRow(db, 'gmail');
    const hooks = await startHooks(db, () => undefined);
    let checks = 0;
    const supervisor = supervisorFor(
      db,
      driverFor,
      { publicUrl: hooks.url, safetyCheckMs: SLOW_POLL_MS },
      // Google has no change tag: each check is a light pass over the calendars' change lists.
      { checkIntervalMs: 200, onPass: (_id, _summary, light) => void (light && checks++) },
    );
    try {
      await supervisor.start(id);
      await waitFor('channels made', async () => {
        const rows = await db.selectFrom('calendar_channels').select('id').where('account_id', '=', id).execute();
        return rows.length === 2;
      });
      const before = checks;
      await new Promise((r) => setTimeout(r, 2_000));
      // At the 200 ms poll pace 2 s would hold about ten checks; covered by push, none (the next is 10 min away).
      expect(checks - before).toBeLessThanOrEqual(1);
    } finally {
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('a notification for an account another process holds reaches it through sync_requested_at', async () => {
    const id = await accountRow(db, 'gmail');
    // A web-only process: no background work here.
    await accountSignals(db, () => undefined).calendarPushed(id);
    const row = await db
      .selectFrom('email_accounts')
      .select('sync_requested_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.sync_requested_at).not.toBeNull();
  });

  it('without push (PUBLIC_URL on loopback) makes no channel and polls as before', async () => {
    const id = await accountRow(db, 'gmail');
    const push = calendarPushFor('http://127.0.0.1:3000');
    expect(push).toBeNull();
    const supervisor = supervisorFor(db, driverFor, push, { checkIntervalMs: 300 });
    const watchesBefore = fake.requests.filter((r) => r.includes('/watch')).length;
    try {
      await supervisor.start(id);
      await waitFor('synced', () => activeCalendar(db, id));
      fake.put('me@gmail.test', {
        id: `ev${randomBytes(4).toString('hex')}`,
        summary: 'Polled review',
        start: { dateTime: soon(12) },
        end: { dateTime: soon(13) },
      });
      await waitFor(
        'the change arrives by polling',
        async () => (await titles(db, id)).includes('Polled review'),
        20_000,
      );
      expect(fake.requests.filter((r) => r.includes('/watch')).length).toBe(watchesBefore);
      expect(await db.selectFrom('calendar_channels').select('id').where('account_id', '=', id).execute()).toEqual([]);
    } finally {
      await supervisor.close();
    }
  });
});

describe.each(DIALECTS)('Microsoft Graph change notifications (%s)', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let fake: GraphCalendarFake;
  let driverFor: DriverFactory;
  const token = `eyJ0eXAi.${randomBytes(8).toString('hex')}`;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    db = database.storage.db;
    fake = await startGraphCalendarFake();
    fake.tokens.add(token);
    fake.calendars = [
      {
        id: 'AAMkCal1',
        name: 'Calendar',
        canEdit: true,
        isDefaultCalendar: true,
        owner: { address: 'me@contoso.test' },
      },
    ];
    driverFor = async () => createMicrosoftDriver({ token: async () => token, baseUrl: fake.url });
  });
  afterAll(async () => {
    await fake?.stop();
    await database?.destroy();
  });

  it('answers the validation handshake with the token as text/plain', async () => {
    const hooks = await startHooks(db, () => undefined);
    try {
      const validationToken = 'Validation: Testing client application reachability for subscription Request-Id: 1<b>';
      const answer = await fetch(
        `${hooks.url}/hooks/graph-calendar?validationToken=${encodeURIComponent(validationToken)}`,
        { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' } },
      );
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await answer.text()).toBe(validationToken);
      // Not an echo service for anything longer than Graph's own tokens; text/plain elsewhere stays refused.
      const long = await fetch(`${hooks.url}/hooks/graph-calendar?validationToken=${'a'.repeat(2000)}`, {
        method: 'POST',
      });
      expect(long.status).toBe(404);
      const elsewhere = await fetch(`${hooks.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      });
      expect(elsewhere.status).toBe(415);
    } finally {
      await hooks.app.close();
    }
  });

  it('subscribes on start (validated by the route), gets changes by notification, deletes on removal', async () => {
    const id = await accountRow(db, 'microsoft365');
    let supervisor: CalendarSupervisor | undefined;
    const hooks = await startHooks(db, (accountId) => void supervisor?.poke(accountId));
    supervisor = supervisorFor(db, driverFor, { publicUrl: hooks.url });
    try {
      const before = fake.subscriptions.length;
      await supervisor.start(id);
      await waitFor('subscribed', async () => {
        const rows = await db.selectFrom('calendar_channels').selectAll().where('account_id', '=', id).execute();
        return (await activeCalendar(db, id)) && rows.length === 1;
      });
      const sub = fake.subscriptions.slice(before)[0]!;
      expect(sub).toMatchObject({
        resource: '/me/calendars/AAMkCal1/events',
        changeType: 'created,updated,deleted',
        notificationUrl: `${hooks.url}/hooks/graph-calendar`,
      });
      expect(fake.validations.at(-1)).toMatchObject({ status: 200, body: fake.validations.at(-1)!.token });
      const [row] = await db.selectFrom('calendar_channels').selectAll().where('account_id', '=', id).execute();
      expect(row).toMatchObject({ provider: 'microsoft', channel_id: sub.id, resource_id: null });
      expect(row!.secret_hash).toBe(sha256(sub.clientState!));

      fake.put('AAMkCal1', {
        id: `AAMk${randomBytes(4).toString('hex')}`,
        type: 'singleInstance',
        subject: 'Pushed review',
        start: { dateTime: soon(9).replace('Z', ''), timeZone: 'UTC' },
        end: { dateTime: soon(10).replace('Z', ''), timeZone: 'UTC' },
      });
      await waitFor('the change arrives by push', async () => (await titles(db, id)).includes('Pushed review'), 20_000);
      await fake.notified();
      expect(sub.sent.some((s) => s.changeType === 'created' && s.status === 202)).toBe(true);

      await supervisor.onAccountChanged(id, 'deleted');
      expect(sub.deleted).toBe(true);
      expect(await db.selectFrom('calendar_channels').select('id').where('account_id', '=', id).execute()).toEqual([]);
    } finally {
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('renews the subscription in place with PATCH before it expires', async () => {
    const id = await accountRow(db, 'microsoft365');
    const hooks = await startHooks(db, () => undefined);
    // Renewed every few seconds in this test.
    const supervisor = supervisorFor(db, driverFor, {
      publicUrl: hooks.url,
      ttlMs: 60_000,
      renewBeforeMs: 57_000,
      safetyCheckMs: SLOW_POLL_MS,
    });
    try {
      const before = fake.subscriptions.length;
      await supervisor.start(id);
      await waitFor('subscribed', async () => fake.subscriptions.length > before);
      const sub = fake.subscriptions.slice(before)[0]!;
      const first = sub.expiration;
      await waitFor('renewed in place', async () => sub.patches >= 1, 20_000);
      expect(sub.expiration).toBeGreaterThan(first);
      expect(fake.subscriptions.slice(before).length).toBe(1);
      await waitFor('the new expiry stored', async () => {
        const row = await db
          .selectFrom('calendar_channels')
          .selectAll()
          .where('account_id', '=', id)
          .executeTakeFirst();
        return Number(row?.expires_at) === sub.expiration;
      });
      // Graph dropped it behind our back (it does so with subscriptions it cannot deliver to): the renewal's 404
      // makes a new one instead of trusting a dead one.
      sub.deleted = true;
      await waitFor('subscribed again', async () => fake.subscriptions.length > before + 1, 20_000);
      const again = fake.subscriptions.at(-1)!;
      await waitFor('the new one stored, the dead one gone', async () => {
        const rows = await db
          .selectFrom('calendar_channels')
          .select('channel_id')
          .where('account_id', '=', id)
          .execute();
        return rows.length === 1 && rows[0]!.channel_id === again.id;
      });
    } finally {
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('a wrong clientState or an unknown subscription does nothing; answers 202 regardless', async () => {
    const id = await accountRow(db, 'microsoft365');
    let supervisor: CalendarSupervisor | undefined;
    const hooks = await startHooks(db, (accountId) => void supervisor?.poke(accountId));
    supervisor = supervisorFor(db, driverFor, { publicUrl: hooks.url });
    fake.pushEnabled = false;
    try {
      const before = fake.subscriptions.length;
      await supervisor.start(id);
      await waitFor('subscribed', async () => {
        const rows = await db.selectFrom('calendar_channels').select('id').where('account_id', '=', id).execute();
        return rows.length === 1 && fake.subscriptions.length > before;
      });
      const sub = fake.subscriptions.slice(before)[0]!;
      const post = (value: unknown, contentType = 'application/json') =>
        fetch(`${hooks.url}/hooks/graph-calendar`, {
          method: 'POST',
          headers: { 'content-type': contentType },
          body: typeof value === 'string' ? value : JSON.stringify(value),
        });
      const item = { subscriptionId: sub.id, clientState: sub.clientState, changeType: 'updated', resource: 'x' };
      for (const body of [
        { value: [{ ...item, clientState: 'guess' }] },
        { value: [{ ...item, clientState: undefined }] },
        { value: [{ ...item, subscriptionId: 'c0ffee00-0000-4000-8000-000000000000' }] },
        { value: 'nope' },
        'not json',
        {},
      ]) {
        const answer = await post(body);
        expect(answer.status).toBe(202);
        expect(await answer.text()).toBe('');
      }
      expect(hooks.pushed).toEqual([]);
      expect((await post({ value: [item] })).status).toBe(202);
      await waitFor('the right one wakes the account', async () => hooks.pushed.includes(id));
    } finally {
      fake.pushEnabled = true;
      await supervisor.close();
      await hooks.app.close();
    }
  });

  it('is rate limited per client', async () => {
    const hooks = await startHooks(
      db,
      () => undefined,
      new SlidingWindowLimiter({ limit: 3, windowMs: 60_000, maxKeys: 10 }),
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await fetch(`${hooks.url}/hooks/graph-calendar`, { method: 'POST' })).status);
      expect(statuses).toEqual([202, 202, 202, 429, 429]);
    } finally {
      await hooks.app.close();
    }
  });
});
