// Live calendar benchmark (issue 16): what the calendar change checks cost on idle calendars, and how long a change
// made in the calendar takes to reach the CRM.
//
// In this process: one private Radicale (test/servers/radicale.ts, stopped by PID whatever happens), a fresh SQLite
// database, N accounts (default 100) each with its own Radicale user and one calendar holding one meeting, and the
// real CalendarSupervisor / CalendarRunner / CalDAV driver with the production pace (checks every 30 s, whole passes
// every 30 min). The driver's fetch is wrapped to count every HTTP request by kind. Accounts are rows written
// straight into the database (no IMAP: the runner reads only the account's CalDAV URL; the driver is given the
// Radicale password), so only calendar work is measured.
//
//   npx tsx bench/calendar-idle-cost.ts                       100 calendars, 5 min idle, 20 changes; rewrites the
//                                                             calendar block of bench/README.md
//   npx tsx bench/calendar-idle-cost.ts --calendars 20 --idle-seconds 60 --changes 6 --no-readme   (a quick look)
//   --check-seconds S (default 30)
//
// Figures:
//  - idle: after every account's first whole pass, `idle-seconds` with nothing changing: HTTP requests by kind,
//    this process's CPU (process.cpuUsage: the runners, the driver, SQLite; the benchmark itself only sleeps) and
//    Radicale's CPU (/proc), scaled to 100 calendars and one hour. The whole pass (the 30-min safety net) is
//    measured on the first passes and added per hour.
//  - latency: `changes` changes (new, moved, cancelled in turn) made in Radicale directly on distinct accounts at
//    random moments over ~2 check intervals; each timed from Radicale's answer to the PUT/DELETE until the meeting
//    row the API reads (meetings.start_at / deleted) shows it (polled every 50 ms).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createCalDavDriver } from '../src/calendar/caldav/caldav-driver.js';
import { CalendarSupervisor } from '../src/calendar/calendar-supervisor.js';
import { migrateToLatest, openStorage, type Storage } from '../src/storage/database.js';
import { newId } from '../src/storage/ids.js';
import { createUser } from '../src/users/users.js';
import { startRadicale, type RadicaleServer } from '../test/servers/radicale.js';
import { cleanups, guardProcess, runCleanups } from './support/cleanup-stack.js';
import { fmt, log, percentile } from './support/format.js';
import { CLK_TCK, processStat } from './support/proc-stats.js';
import { writeFiguresBlock } from './support/readme-figures.js';

const { values: opts } = parseArgs({
  options: {
    calendars: { type: 'string', default: '100' },
    'idle-seconds': { type: 'string', default: '300' },
    changes: { type: 'string', default: '20' },
    'check-seconds': { type: 'string', default: '30' },
    'no-readme': { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '20' },
  },
});
const N = Number(opts.calendars);
const IDLE_MS = Number(opts['idle-seconds']) * 1000;
const CHANGES = Math.min(Number(opts.changes), N);
const CHECK_MS = Number(opts['check-seconds']) * 1000;
const WHOLE_MS = 30 * 60_000;
const HOUR = 3_600_000;

type Kind = 'check' | 'sync-collection' | 'multiget' | 'discovery' | 'other';
const requests: Record<Kind, number> = { check: 0, 'sync-collection': 0, multiget: 0, discovery: 0, other: 0 };
const totalRequests = () => Object.values(requests).reduce((a, b) => a + b, 0);

function kindOf(init: RequestInit | undefined): Kind {
  const method = init?.method ?? 'GET';
  const body = typeof init?.body === 'string' ? init.body : '';
  if (method === 'PROPFIND' && body.includes('getctag') && !body.includes('displayname')) return 'check';
  if (method === 'REPORT' && body.includes('sync-collection')) return 'sync-collection';
  if (method === 'REPORT' && body.includes('calendar-multiget')) return 'multiget';
  if (method === 'PROPFIND' || method === 'REPORT') return 'discovery';
  return 'other';
}

const countingFetch: typeof fetch = (input, init) => {
  requests[kindOf(init)]++;
  return fetch(input, init);
};

function icsTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function event(uid: string, start: number): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Conversa bench//EN',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    `DTSTAMP:${icsTime(Date.now())}`,
    `DTSTART:${icsTime(start)}`,
    `DTEND:${icsTime(start + HOUR)}`,
    'SUMMARY:Bench meeting',
    'ATTENDEE:mailto:client@bench.test',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

interface Account {
  id: string;
  auth: string;
  principal: string;
  calendar: string;
  uid: string;
  start: number;
}

async function dav(url: string, auth: string, method: string, body?: string): Promise<void> {
  const res = await fetch(url, {
    method,
    headers: { Authorization: auth, 'Content-Type': 'text/calendar; charset=utf-8' },
    ...(body ? { body } : {}),
  });
  await res.arrayBuffer();
  if (res.status >= 300) throw new Error(`${method} ${url} answered ${res.status}`);
}

async function addAccount(storage: Storage, radicale: RadicaleServer, i: number): Promise<Account> {
  const creds = await radicale.addUser();
  const auth = radicale.authHeader(creds);
  const principal = radicale.principalUrl(creds.user);
  const calendar = `${principal}work/`;
  await dav(calendar, auth, 'MKCALENDAR');
  const uid = `bench-${i}-${randomBytes(4).toString('hex')}`;
  const start = Math.floor((Date.now() + 2 * 86_400_000) / 60_000) * 60_000;
  await dav(`${calendar}${uid}.ics`, auth, 'PUT', event(uid, start));
  const user = await createUser(storage.db, {
    email: `bench-${i}-${newId()}@example.test`,
    password: 'a long password',
    isAdmin: false,
    displayName: null,
  });
  const id = newId();
  const now = Date.now();
  await storage.db
    .insertInto('email_accounts')
    .values({
      id,
      org_id: user.orgId,
      user_id: user.id,
      email: creds.user,
      provider: 'other',
      auth_kind: 'password',
      sync_mode: 'two-way',
      status: 'active',
      status_detail: null,
      next_retry_at: null,
      last_synced_at: now,
      history_days: 90,
      imap_host: '127.0.0.1',
      imap_port: 1,
      imap_secure: 0,
      smtp_host: '127.0.0.1',
      smtp_port: 1,
      smtp_secure: 0,
      username: creds.user,
      credentials_enc: 'unused',
      smtp_mode: 'mailbox',
      smtp_custom_enc: null,
      caldav_url: principal,
      bcc_token: id.replace(/-/g, ''),
      visibility: 'shared',
      generation: 1,
      progress_json: null,
      sync_requested_at: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return { id, auth, principal, calendar, uid, start };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function radicaleCpuMs(pid: number): number {
  return ((processStat(pid)?.ticks ?? 0) * 1000) / CLK_TCK;
}

async function main(): Promise<void> {
  guardProcess({ maxMinutes: opts['max-minutes'], stopping: 'Radicale' });
  const radicale = await startRadicale();
  cleanups.push({ what: 'Radicale', fn: () => radicale.stop() });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cnv-calbench-'));
  cleanups.push({ what: 'data dir', fn: async () => rmSync(dataDir, { recursive: true, force: true }) });
  const storage = openStorage({ dataDir, databaseUrl: null });
  await migrateToLatest(storage.db);

  log(`creating ${N} accounts with one calendar each on Radicale`);
  const accounts: Account[] = [];
  for (let i = 0; i < N; i++) accounts.push(await addAccount(storage, radicale, i));
  const byId = new Map(accounts.map((a) => [a.id, a]));

  let wholePasses = 0;
  let idleChecks = 0;
  const supervisor = new CalendarSupervisor({
    db: storage.db,
    log: { info() {}, warn: (o, m) => log(`warn: ${m} ${JSON.stringify(o)}`), error: (o, m) => log(`error: ${m}`) },
    bccDomain: 'bcc.bench.test',
    driverFor: async (row) =>
      createCalDavDriver({
        url: row.caldav_url,
        discoveryDomains: [],
        authorization: async () => byId.get(row.id)!.auth,
        fetch: countingFetch,
      }),
    intervalMs: WHOLE_MS,
    checkIntervalMs: CHECK_MS,
    backoffBaseMs: 2_000,
    backoffMaxMs: 60_000,
    onPass: (_id, _summary, light) => {
      if (!light) wholePasses++;
    },
    onIdleCheck: () => idleChecks++,
  });
  cleanups.push({ what: 'calendar runners', fn: () => supervisor.close() });

  // First passes (all runners at once): their requests give the cost of one whole pass.
  const firstStart = Date.now();
  for (const a of accounts) await supervisor.start(a.id);
  while (wholePasses < N) await sleep(100);
  const wholeRequests = totalRequests();
  log(
    `first whole passes done in ${fmt((Date.now() - firstStart) / 1000, 1)} s: ${wholeRequests} requests (${JSON.stringify(requests)})`,
  );
  // Runners whose first check came before the last whole pass ended are not part of a whole pass's cost.
  const perWholePass = (wholeRequests - requests.check + N) / N;

  // Idle.
  await sleep(CHECK_MS * 1.2); // every runner past its first check
  for (const k of Object.keys(requests) as Kind[]) requests[k] = 0;
  const checksBefore = idleChecks;
  const cpu0 = cpuMs();
  const rad0 = radicaleCpuMs(radicale.pid);
  const t0 = Date.now();
  log(`idle for ${IDLE_MS / 1000} s`);
  await sleep(IDLE_MS);
  const elapsed = Date.now() - t0;
  const cpu = cpuMs() - cpu0;
  const radCpu = radicaleCpuMs(radicale.pid) - rad0;
  const idle = { ...requests };
  const checks = idleChecks - checksBefore;
  const scale = (100 / N) * (HOUR / elapsed);
  const reqPerHour = totalRequests() * scale;
  const cpuPerHour = cpu * scale;
  const radPerHour = radCpu * scale;
  // The whole pass every 30 min on top: 2 per hour per calendar.
  const safetyNetReqPerHour = perWholePass * 100 * (HOUR / WHOLE_MS);
  log(`idle: ${checks} checks, ${totalRequests()} requests ${JSON.stringify(idle)}, CPU ${fmt(cpu)} ms`);

  // Latency: changes on distinct accounts at random moments over two check intervals.
  const kinds = ['new', 'moved', 'cancelled'] as const;
  const latencies: Array<{ kind: (typeof kinds)[number]; ms: number }> = [];
  await Promise.all(
    accounts.slice(0, CHANGES).map(async (a, i) => {
      const kind = kinds[i % 3]!;
      await sleep(Math.random() * 2 * CHECK_MS);
      const newUid = `bench-new-${i}-${randomBytes(4).toString('hex')}`;
      const moved = a.start + 2 * HOUR;
      if (kind === 'new') await dav(`${a.calendar}${newUid}.ics`, a.auth, 'PUT', event(newUid, a.start));
      else if (kind === 'moved') await dav(`${a.calendar}${a.uid}.ics`, a.auth, 'PUT', event(a.uid, moved));
      else await dav(`${a.calendar}${a.uid}.ics`, a.auth, 'DELETE');
      const done = Date.now();
      for (;;) {
        const rows = await storage.db
          .selectFrom('meetings')
          .select(['uid', 'start_at', 'deleted_at'])
          .where('account_id', '=', a.id)
          .execute();
        const live = rows.filter((r) => r.deleted_at === null);
        const arrived =
          kind === 'new'
            ? live.some((r) => r.uid === newUid)
            : kind === 'moved'
              ? live.some((r) => r.uid === a.uid && r.start_at === moved)
              : !live.some((r) => r.uid === a.uid);
        if (arrived) break;
        if (Date.now() - done > 10 * CHECK_MS) throw new Error(`change ${i} (${kind}) never arrived`);
        await sleep(50);
      }
      latencies.push({ kind, ms: Date.now() - done });
    }),
  );
  const sorted = latencies.map((l) => l.ms).sort((a, b) => a - b);
  const s = (ms: number) => `${fmt(ms / 1000, 1)} s`;

  const block = [
    `Run: ${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} cores, Node ${process.version}, Radicale on loopback, SQLite;`,
    `${N} idle calendars (one per account, one meeting each), checks every ${CHECK_MS / 1000} s (±10 % jitter), whole passes every 30 min;`,
    `idle window ${fmt(elapsed / 1000)} s; command: \`npx tsx bench/calendar-idle-cost.ts --calendars ${N} --idle-seconds ${IDLE_MS / 1000} --changes ${CHANGES} --check-seconds ${CHECK_MS / 1000}\``,
    '',
    '| per 100 idle calendars, per hour | value |',
    '|---|---|',
    `| change checks done (measured ${checks} in the window) | ${fmt(checks * scale)} |`,
    `| HTTP requests of the checks (all PROPFIND depth 0, tags only) | ${fmt(reqPerHour)} (${fmt(reqPerHour / 3600, 1)}/s) |`,
    `| of which listings / downloads (sync-collection, multiget) | ${fmt((idle['sync-collection'] + idle.multiget + idle.discovery) * scale)} |`,
    `| HTTP requests of the 30-min safety-net whole passes (${fmt(perWholePass, 1)} per pass, measured) | ${fmt(safetyNetReqPerHour)} |`,
    `| Conversa CPU (runners + driver + SQLite, process.cpuUsage) | ${fmt(cpuPerHour / 1000, 1)} s (${fmt((cpuPerHour / HOUR) * 100, 2)} % of a core) |`,
    `| Radicale CPU (the server answering the checks) | ${fmt(radPerHour / 1000, 1)} s (${fmt((radPerHour / HOUR) * 100, 2)} % of a core) |`,
    `| for comparison: a whole pass every 30 s instead of a check | ${fmt(perWholePass * 100 * (HOUR / CHECK_MS))} requests |`,
    '',
    `Change latency (made in Radicale directly → the meeting row the API reads), ${latencies.length} changes ` +
      `(${kinds.map((k) => `${latencies.filter((l) => l.kind === k).length} ${k}`).join(', ')}): ` +
      `p50 ${s(percentile(sorted, 50))}, p95 ${s(percentile(sorted, 95))}, max ${s(sorted.at(-1) ?? NaN)}.`,
  ].join('\n');
  console.log(block);
  if (!opts['no-readme'])
    writeFiguresBlock(
      path.join(import.meta.dirname, 'README.md'),
      'calendar',
      'Live calendar (calendar-idle-cost.ts)',
      block,
    );
  await supervisor.close();
  await storage.close();
}

main()
  .then(() => runCleanups())
  .catch(async (error: unknown) => {
    console.error(error);
    await runCleanups();
    process.exitCode = 1;
  });
