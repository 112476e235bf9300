// Calendar push benchmark (issue 16): what 100 idle Google / Microsoft Graph calendars cost with 30 s polling
// against push (watch channels / subscriptions, a 5-minute safety check, renewals), and how long a change takes to
// arrive with push.
//
// In this process: the Google Calendar and Graph fakes of test/calendar/fakes (built from the documented payloads;
// Google's and Microsoft's own servers cannot be used here), the real webhook routes (buildServer) on loopback, a
// fresh SQLite database, N accounts (default 100) with one calendar each, and the real CalendarSupervisor /
// CalendarRunner / drivers. Every request the drivers send is counted by kind (the fakes' own request logs).
//
//   npx tsx bench/calendar-push-cost.ts                     100 calendars per provider, ≈ 4 min
//   npx tsx bench/calendar-push-cost.ts --calendars 20 --idle-seconds 20 --changes 5
//
// The clock is compressed: polling runs at 3 s (production 30 s) and the push safety check at 30 s (production
// 5 min), both 10× faster, so an idle window of S seconds stands for 10·S seconds of production; requests and CPU
// are measured per check and scaled to one hour at the production pace. Renewals are counted from the channel
// lifetimes the runner asks for (Google 7 days, renewed 6 h before: a watch + a stop; Graph ~70 h, renewed 6 h
// before: a PATCH) and the requests each renewal made against the fakes in a short-TTL run.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CalendarSupervisor } from '../src/calendar/calendar-supervisor.js';
import type { DriverFactory } from '../src/calendar/calendar-runner.js';
import { createGoogleDriver } from '../src/calendar/google/google-driver.js';
import { createMicrosoftDriver, GRAPH_MAX_SUBSCRIPTION_MS } from '../src/calendar/microsoft/microsoft-driver.js';
import {
  DEFAULT_PUSH_TTL_MS,
  DEFAULT_RENEW_BEFORE_MS,
  type CalendarPushOptions,
} from '../src/calendar/push/calendar-channels.js';
import { SecretBox } from '../src/core/secret-box.js';
import { buildServer } from '../src/http/build-server.js';
import { sealCredentials } from '../src/mail/accounts/account-credentials.js';
import { migrateToLatest, openStorage, type Storage } from '../src/storage/database.js';
import { newId } from '../src/storage/ids.js';
import { createUser } from '../src/users/users.js';
import { startGoogleCalendarFake } from '../test/calendar/fakes/google-calendar-fake.js';
import { startGraphCalendarFake } from '../test/calendar/fakes/graph-calendar-fake.js';
import { fmt, log, spread } from './support/format.js';

const { values: opts } = parseArgs({
  options: {
    calendars: { type: 'string', default: '100' },
    'idle-seconds': { type: 'string', default: '60' },
    changes: { type: 'string', default: '10' },
  },
});
const N = Number(opts.calendars);
const IDLE_MS = Number(opts['idle-seconds']) * 1000;
const CHANGES = Number(opts.changes);
const SCALE = 10;
const POLL_MS = 30_000 / SCALE;
const SAFETY_MS = (5 * 60_000) / SCALE;
const HOUR = 3_600_000;
const WHOLE_MS = 30 * 60_000;
const quiet = { info() {}, warn() {}, error() {} };

type Provider = 'google' | 'microsoft';

interface Fake {
  requests: string[];
  put(title: string, start: number): void;
  notified(): Promise<void>;
  stop(): Promise<void>;
}

async function startFake(provider: Provider): Promise<{ fake: Fake; driverFor: DriverFactory }> {
  if (provider === 'google') {
    const g = await startGoogleCalendarFake();
    g.calendars = [{ id: 'me@gmail.test', summary: 'me', accessRole: 'owner', timeZone: 'UTC', primary: true }];
    const driverFor: DriverFactory = async () => createGoogleDriver({ token: async () => g.token, baseUrl: g.url });
    return {
      driverFor,
      fake: {
        requests: g.requests,
        put: (title, start) =>
          void g.put('me@gmail.test', {
            id: `ev${randomBytes(5).toString('hex')}`,
            summary: title,
            start: { dateTime: new Date(start).toISOString() },
            end: { dateTime: new Date(start + HOUR).toISOString() },
          }),
        notified: () => g.notified(),
        stop: () => g.stop(),
      },
    };
  }
  const m = await startGraphCalendarFake();
  const token = `eyJ0eXAi.${randomBytes(8).toString('hex')}`;
  m.tokens.add(token);
  m.calendars = [{ id: 'AAMkCal1', name: 'Calendar', canEdit: true, isDefaultCalendar: true }];
  const driverFor: DriverFactory = async () => createMicrosoftDriver({ token: async () => token, baseUrl: m.url });
  return {
    driverFor,
    fake: {
      requests: m.requests,
      put: (title, start) =>
        void m.put('AAMkCal1', {
          id: `AAMk${randomBytes(5).toString('hex')}`,
          type: 'singleInstance',
          subject: title,
          start: { dateTime: new Date(start).toISOString().replace('Z', ''), timeZone: 'UTC' },
          end: { dateTime: new Date(start + HOUR).toISOString().replace('Z', ''), timeZone: 'UTC' },
        }),
      notified: () => m.notified(),
      stop: () => m.stop(),
    },
  };
}

async function accounts(storage: Storage, provider: Provider, n: number): Promise<string[]> {
  const db = storage.db;
  const user = await createUser(db, {
    email: `bench-${newId()}@example.test`,
    password: 'a long password',
    isAdmin: false,
    displayName: null,
  });
  const secrets = new SecretBox(randomBytes(32));
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = newId();
    const now = Date.now();
    await db
      .insertInto('email_accounts')
      .values({
        id,
        org_id: user.orgId,
        user_id: user.id,
        email: `me-${id.slice(-8)}@example.test`,
        provider: provider === 'google' ? 'gmail' : 'microsoft365',
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
        credentials_enc: sealCredentials(secrets, id, {
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
    ids.push(id);
  }
  return ids;
}

function kinds(requests: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of requests) {
    const [method, url] = r.split(' ');
    const p = url!.split('?')[0]!;
    const kind = p.endsWith('/watch')
      ? 'watch'
      : p.endsWith('/channels/stop')
        ? 'stop'
        : p.includes('/subscriptions')
          ? `${method} subscription`
          : p.endsWith('/calendarList') || p.endsWith('/me/calendars')
            ? 'discovery'
            : 'changes';
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}

interface Run {
  provider: Provider;
  mode: 'poll' | 'push';
  wholePassRequests: number;
  idleChecks: number;
  idleRequests: number;
  idleKinds: Record<string, number>;
  idleCpuMs: number;
  latencies: number[];
  setupKinds: Record<string, number>;
}

async function run(provider: Provider, mode: 'poll' | 'push', push?: Partial<CalendarPushOptions>): Promise<Run> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cnv-push-bench-'));
  const storage = openStorage({ dataDir: dir, databaseUrl: null });
  await migrateToLatest(storage.db);
  const { fake, driverFor } = await startFake(provider);
  let supervisor: CalendarSupervisor | undefined;
  const app = await buildServer({
    db: storage.db,
    publicUrl: 'http://127.0.0.1:9',
    version: 'bench',
    webRoot: null,
    calendarHooks: { pushed: (id) => void supervisor?.poke(id) },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const hookUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  let idleChecks = 0;
  const passed = new Set<string>();
  try {
    const ids = await accounts(storage, provider, N);
    supervisor = new CalendarSupervisor({
      db: storage.db,
      log: quiet,
      bccDomain: 'bcc.test',
      intervalMs: WHOLE_MS,
      checkIntervalMs: POLL_MS,
      backoffBaseMs: 1_000,
      backoffMaxMs: 10_000,
      window: { pastDays: 7, futureDays: 60 },
      driverFor,
      // Google and Graph have no change tag: each check is a light pass over every calendar's change list.
      onPass: (id, _s, light) => void (light ? idleChecks++ : passed.add(id)),
      onIdleCheck: () => void idleChecks++,
      ...(mode === 'push' ? { push: { publicUrl: hookUrl, safetyCheckMs: SAFETY_MS, ...push } } : {}),
    });
    const firstPassStart = fake.requests.length;
    for (const id of ids) await supervisor.start(id);
    while (passed.size < N) await sleep(100);
    const firstPassRequests = fake.requests.slice(firstPassStart);
    // Channels are made right after each account's first pass.
    if (mode === 'push') {
      for (;;) {
        const row = await storage.db
          .selectFrom('calendar_channels')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        if (Number(row.n) >= N) break;
        await sleep(100);
      }
    }
    const setupKinds = kinds(firstPassRequests);
    const wholePassRequests = (kinds(firstPassRequests).discovery ?? 0) + (kinds(firstPassRequests).changes ?? 0);
    await sleep(1_000);
    const idleStart = fake.requests.length;
    idleChecks = 0;
    const cpu0 = process.cpuUsage();
    await sleep(IDLE_MS);
    const cpu = process.cpuUsage(cpu0);
    const idle = fake.requests.slice(idleStart);
    const run: Run = {
      provider,
      mode,
      wholePassRequests: wholePassRequests / N,
      idleChecks,
      idleRequests: idle.length,
      idleKinds: kinds(idle),
      idleCpuMs: (cpu.user + cpu.system) / 1000,
      latencies: [],
      setupKinds,
    };
    // Latency: changes made in the fake, each timed until its meeting row exists (every account sees the calendar;
    // the first account's row is watched).
    for (let i = 0; i < CHANGES; i++) {
      const title = `Change ${i} ${randomBytes(3).toString('hex')}`;
      await sleep(Math.random() * (mode === 'poll' ? POLL_MS : 500));
      const t0 = performance.now();
      fake.put(title, Math.floor(Date.now() / HOUR) * HOUR + 2 * 24 * HOUR + i * HOUR);
      for (;;) {
        const row = await storage.db
          .selectFrom('meetings')
          .select('id')
          .where('account_id', '=', ids[0]!)
          .where('title', '=', title)
          .executeTakeFirst();
        if (row) break;
        await sleep(20);
      }
      run.latencies.push(performance.now() - t0);
    }
    await fake.notified();
    return run;
  } finally {
    await supervisor?.close();
    await app.close();
    await fake.stop();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Requests one renewal makes, measured with a channel life that renews every few seconds. */
async function renewalCost(provider: Provider): Promise<Record<string, number>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cnv-push-bench-'));
  const storage = openStorage({ dataDir: dir, databaseUrl: null });
  await migrateToLatest(storage.db);
  const { fake, driverFor } = await startFake(provider);
  const app = await buildServer({
    db: storage.db,
    publicUrl: 'http://127.0.0.1:9',
    version: 'bench',
    webRoot: null,
    calendarHooks: { pushed: () => undefined },
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const hookUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const supervisor = new CalendarSupervisor({
    db: storage.db,
    log: quiet,
    bccDomain: 'bcc.test',
    intervalMs: WHOLE_MS,
    checkIntervalMs: HOUR,
    backoffBaseMs: 1_000,
    backoffMaxMs: 10_000,
    window: { pastDays: 7, futureDays: 60 },
    driverFor,
    push: { publicUrl: hookUrl, ttlMs: 60_000, renewBeforeMs: 55_000, safetyCheckMs: HOUR },
  });
  try {
    const [id] = await accounts(storage, provider, 1);
    await supervisor.start(id!);
    await sleep(2_000);
    const start = fake.requests.length;
    await sleep(5_500);
    const all = kinds(fake.requests.slice(start));
    // Renewals in the window: one per ~5 s; the checks that wake with them are counted apart.
    return all;
  } finally {
    await supervisor.close();
    await app.close();
    await fake.stop();
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const lines: string[] = [];
const out = (line = '') => {
  lines.push(line);
  console.log(line);
};
const results: Run[] = [];
for (const provider of ['google', 'microsoft'] as const) {
  for (const mode of ['poll', 'push'] as const) {
    log(`${provider} ${mode}: ${N} calendars, idle ${IDLE_MS / 1000} s, ${CHANGES} changes`);
    results.push(await run(provider, mode));
  }
}
const renewals = { google: await renewalCost('google'), microsoft: await renewalCost('microsoft') };

out(
  `Run: ${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} cores, Node ${process.version}, fakes + webhooks on loopback, SQLite;`,
);
out(
  `${N} idle calendars per provider (one per account); clock compressed ${SCALE}×: polling every ${POLL_MS / 1000} s stands for 30 s, the push safety check every ${SAFETY_MS / 1000} s for 5 min; idle window ${IDLE_MS / 1000} s; command: \`npx tsx bench/calendar-push-cost.ts --calendars ${N} --idle-seconds ${IDLE_MS / 1000} --changes ${CHANGES}\``,
);
out();
out(
  '| per 100 idle calendars, per hour (production pace) | Google, 30 s polling | Google, push | Graph, 30 s polling | Graph, push |',
);
out('|---|---|---|---|---|');
const per = (r: Run) => {
  const checksPerHourPerCal = HOUR / (r.mode === 'poll' ? 30_000 : 5 * 60_000);
  const reqPerCheck = r.idleChecks > 0 ? r.idleRequests / r.idleChecks : NaN;
  const cpuPerCheckMs = r.idleChecks > 0 ? r.idleCpuMs / r.idleChecks : NaN;
  const checks = checksPerHourPerCal * 100;
  const whole = (HOUR / WHOLE_MS) * 100 * r.wholePassRequests;
  const lifeMs =
    r.provider === 'google'
      ? DEFAULT_PUSH_TTL_MS - DEFAULT_RENEW_BEFORE_MS
      : GRAPH_MAX_SUBSCRIPTION_MS - DEFAULT_RENEW_BEFORE_MS;
  const renewalRequests = r.provider === 'google' ? 2 : 1;
  const renew = r.mode === 'push' ? (100 * renewalRequests * HOUR) / lifeMs : 0;
  return { checks, reqPerCheck, cpuPerCheckMs, checkRequests: checks * reqPerCheck, whole, renew };
};
const cols = results.map(per);
const row = (label: string, f: (c: ReturnType<typeof per>, r: Run) => string) =>
  out(`| ${label} | ${cols.map((c, i) => f(c, results[i]!)).join(' | ')} |`);
row('idle checks measured in the window', (_c, r) => fmt(r.idleChecks));
row('requests per idle check (measured)', (c) => fmt(c.reqPerCheck, 2));
row('change checks', (c) => fmt(c.checks));
row('requests of the checks', (c) => fmt(c.checkRequests));
row('requests of the 30-min whole passes', (c) => fmt(c.whole));
row('requests of channel renewals', (c, r) => (r.mode === 'push' ? fmt(c.renew, 1) : '–'));
row('**total requests**', (c) => `**${fmt(c.checkRequests + c.whole + c.renew)}**`);
row(
  'Conversa CPU of the checks (per check measured × checks)',
  (c) => `${fmt((c.cpuPerCheckMs * c.checks) / 1000, 1)} s`,
);
out();
for (const r of results)
  out(
    `- ${r.provider === 'google' ? 'Google' : 'Graph'} ${r.mode}: change latency over ${r.latencies.length} changes: ${spread(r.latencies, 'ms')}` +
      (r.mode === 'poll'
        ? ` (at the compressed ${POLL_MS / 1000} s cadence; ×10 for 30 s)`
        : ' (notification → change check → row)'),
  );
out(
  `- Setup per account (first whole pass, push adds the channel): Google push ${JSON.stringify(results[1]!.setupKinds)}, Graph push ${JSON.stringify(results[3]!.setupKinds)} over ${N} accounts.`,
);
out(
  `- A renewal measured with a 60 s channel life renewed 55 s before (5.5 s window): Google ${JSON.stringify(renewals.google)}, Graph ${JSON.stringify(renewals.microsoft)} — Google renews by a new watch and a stop of the old channel, Graph by one PATCH.`,
);
