// Scale-out benchmark: N mailboxes shared by TWO `conversa worker` processes on PostgreSQL, against ONE private
// Dovecot on loopback — the set-up of README "Scale-out" and test/scale/workers.test.ts, at a size.
//
// It starts (and stops, by PID, whatever happens): Dovecot (test/servers/dovecot.ts), a fresh PostgreSQL database on
// 127.0.0.1:5432 (test/support/databases.ts; dropped at the end), a web-only `conversa serve` child
// (CONVERSA_SERVE_BACKGROUND=false) that creates the contacts and connects the N accounts through the API, an empty
// worker for a moment (its RSS is the baseline; spawnConversa of test/support/spawn-conversa.ts for these two), then
// the two measured workers (spawned here: see spawnWorker). Measured:
// the time until every inbox's first sync is done, the lag from delivery to "on its contact" under a steady arrival
// of new mail, each worker's CPU, RSS, IMAP connections and lease share. See bench/README.md, "Scale-out".
//
// Run from the repo root, as root (Dovecot's mail user), after `npm run build` (the children run dist/):
//   npx tsx bench/scale-benchmark.ts                      1,000 mailboxes; rewrites the scale block of bench/README.md
//   npx tsx bench/scale-benchmark.ts --mailboxes 500      a smaller N (also written to the README)
//   npx tsx bench/scale-benchmark.ts --mailboxes 50 --seconds 10 --no-readme --keep-logs     a quick try
//
// What the benchmarks share (the cleanup stack, /proc readers, formatting, the README block) is in bench/support/.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { startDovecot, type Credentials, type DovecotServer } from '../test/servers/dovecot.js';
import { run } from '../test/servers/process.js';
import { createTestDatabase, type TestDatabase } from '../test/support/databases.js';
import { dovecotAccountBody } from '../test/support/dovecot-account.js';
import { makeMessage } from '../test/support/make-message.js';
import { CLI, spawnConversa, type SpawnedConversa } from '../test/support/spawn-conversa.js';
import { childPids, cleanups, guardProcess, runCleanups } from './support/cleanup-stack.js';
import { fmt, inPool, log, mb, now, percentile, seeded, spread } from './support/format.js';
import {
  allStats,
  CLK_TCK,
  connectionsTo,
  machineBusyTicks,
  memory,
  openFilesLimit,
  processStat,
} from './support/proc-stats.js';
import { writeFiguresBlock } from './support/readme-figures.js';
import { waitQuiet as waitQuietMachine } from './support/wait-quiet.js';

// ---------------------------------------------------------------------------------------------------------
// Options

const { values: opts } = parseArgs({
  options: {
    mailboxes: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '20' },
    'contact-messages': { type: 'string', default: '2' },
    contacts: { type: 'string', default: '50' },
    rate: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '60' },
    'connect-concurrency': { type: 'string', default: '20' },
    'max-minutes': { type: 'string', default: '15' },
    'no-readme': { type: 'boolean', default: false },
    'keep-logs': { type: 'boolean', default: false },
    'quiet-wait': { type: 'string', default: '45' },
    'keep-inotify-limit': { type: 'boolean', default: false },
    'worker-ready-timeout': { type: 'string', default: '180' },
  },
});
const int = (name: keyof typeof opts, min: number): number => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min)
    throw new Error(`--${name} must be a whole number ≥ ${min}, got ${String(opts[name])}`);
  return v;
};
const N = int('mailboxes', 2);
const PER_MAILBOX = int('messages', 1);
const CONTACT_PER_MAILBOX = int('contact-messages', 1);
const CONTACTS = int('contacts', 1);
const RATE = Number(opts.rate);
const ARRIVAL_S = int('seconds', 1);
const CONNECT_CONCURRENCY = int('connect-concurrency', 1);
const MAX_MS = Number(opts['max-minutes']) * 60_000;
if (CONTACT_PER_MAILBOX > PER_MAILBOX) throw new Error('--contact-messages must not exceed --messages');
if (!(RATE > 0)) throw new Error('--rate must be > 0');
const WRITE_README = opts['no-readme'] !== true;

const REPO = process.cwd();
const README = path.join(REPO, 'bench', 'README.md');
const OWNER = 'owner@scale.bench';
const DAY = 24 * 3600 * 1000;
/** Idle window after the first syncs (IDLE connections and lease renewals only). */
const IDLE_S = 15;
/** After the last arrival, how long the last ones may take to show up before they count as lost. */
const DRAIN_S = 30;
/** Kept for reporting and cleanup at the end of the time budget. */
const RESERVE_S = 60;

// ---------------------------------------------------------------------------------------------------------
// Cleanup: everything started is stopped by PID, on success, failure, Ctrl-C or the hard time limit.

/** What to save with --keep-logs or after a failure: each child's output and Dovecot's log. */
const logSources: Array<{ name: string; text: () => string }> = [];
/** Set on Ctrl-C / the hard limit: the measurement loops stop instead of running on while everything is stopped. */
let aborted = false;

/** Direct children of this process that are still alive (a spawn that timed out before handing back its PID). */
function liveChildren(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = processStat(Number(name));
    if (s && s.ppid === process.pid && s.state !== 'Z' && s.comm === 'node') out.push(Number(name));
  }
  return out;
}

// Every Dovecot session of the harness runs as one user (nobody), and each IDLE session takes one inotify instance.
// The kernel's default of 128 instances per user makes Dovecot switch inotify off past ~128 sessions ("Inotify
// instance limit for user 65534 exceeded, disabling") and look for new mail only every mailbox_idle_check_interval
// (30 s): the lag would measure that, not Conversa. So the limit is raised for the run and put back at the end.
const INOTIFY_INSTANCES = '/proc/sys/fs/inotify/max_user_instances';
let inotifyRestore: { from: number; to: number } | null = null;

function restoreInotify(): void {
  if (!inotifyRestore) return;
  try {
    // Only if nobody changed it meanwhile.
    if (Number(readFileSync(INOTIFY_INSTANCES, 'utf8').trim()) === inotifyRestore.to)
      writeFileSync(INOTIFY_INSTANCES, String(inotifyRestore.from));
  } catch (error) {
    console.error(`bench: could not restore ${INOTIFY_INSTANCES}: ${(error as Error).message}`);
  }
  inotifyRestore = null;
}

function raiseInotify(): string {
  const before = Number(readFileSync(INOTIFY_INSTANCES, 'utf8').trim());
  // One per session, and other test runs on the machine use the same uid.
  const want = N + 512;
  if (before >= want) return `fs.inotify.max_user_instances ${before} (enough)`;
  if (opts['keep-inotify-limit'])
    return `fs.inotify.max_user_instances ${before}, left as is (--keep-inotify-limit): Dovecot falls back to 30 s polling past it`;
  writeFileSync(INOTIFY_INSTANCES, String(want));
  inotifyRestore = { from: before, to: want };
  cleanups.push({ what: 'restore fs.inotify.max_user_instances', fn: async () => restoreInotify() });
  return `fs.inotify.max_user_instances raised from ${before} to ${want} for the run (restored at the end)`;
}

// Exit hook, Ctrl-C and the hard limit (bench/support/cleanup-stack.ts); the measurement loops stop on `aborted`.
const hardLimit = guardProcess({
  maxMinutes: opts['max-minutes']!,
  stopping: 'everything',
  onStop: () => {
    aborted = true;
  },
  onExit: restoreInotify,
});

// ---------------------------------------------------------------------------------------------------------
// The phase budget (the small helpers are in bench/support/format.ts)

const T0 = performance.now();
class OutOfTime extends Error {}

/** The phase budget: everything must leave RESERVE_S of the hard limit for the report and the cleanup. */
function remainingMs(): number {
  return MAX_MS - RESERVE_S * 1000 - (now() - T0);
}

class Aborted extends Error {}

function checkTime(what: string): void {
  if (aborted) throw new Aborted(`${what}: stopped`);
  if (remainingMs() <= 0) throw new OutOfTime(`${what}: out of the ${opts['max-minutes']}-minute budget`);
}

// ---------------------------------------------------------------------------------------------------------
// /proc readings: CPU (utime+stime, all threads), RSS, established connections

/** Before a measurement (bench/support/wait-quiet.ts), leaving a minute of the budget for the run itself. */
async function waitQuiet(label: string): Promise<number> {
  const limitMs = Math.min(Number(opts['quiet-wait']) * 1000, Math.max(0, remainingMs() - 60_000));
  return Math.max(0, await waitQuietMachine(label, limitMs));
}

interface Procs {
  workers: Array<{ name: string; pid: number }>;
  web: number;
  dovecot: number;
}

interface CpuSnapshot {
  t: number;
  workers: number[];
  web: number;
  /** Dovecot: every live process of its group, plus what the master reaped (logins, finished sessions). */
  dovecot: number;
  /** PostgreSQL (the whole server, every database): live processes plus what the postmaster reaped. */
  postgres: number;
  /** This script, plus its reaped children (doveadm save / fill, the CLI). */
  bench: number;
  machine: number;
}

function cpuSnapshot(p: Procs): CpuSnapshot {
  const stats = allStats();
  let dovecot = 0;
  let postgres = 0;
  for (const [pid, s] of stats) {
    if (s.pgid === p.dovecot) dovecot += s.ticks + (pid === p.dovecot ? s.childTicks : 0);
    if (s.comm === 'postgres') postgres += s.ticks + (stats.get(s.ppid)?.comm !== 'postgres' ? s.childTicks : 0);
  }
  const self = stats.get(process.pid);
  return {
    t: now(),
    workers: p.workers.map((w) => stats.get(w.pid)?.ticks ?? NaN),
    web: stats.get(p.web)?.ticks ?? NaN,
    dovecot,
    postgres,
    bench: (self?.ticks ?? 0) + (self?.childTicks ?? 0),
    machine: machineBusyTicks(),
  };
}

interface CpuDelta {
  wallS: number;
  workersS: number[];
  webS: number;
  dovecotS: number;
  postgresS: number;
  benchS: number;
  otherS: number;
}

function cpuDelta(a: CpuSnapshot, b: CpuSnapshot): CpuDelta {
  const d = (x: number, y: number) => (y - x) / CLK_TCK;
  const workersS = a.workers.map((w, i) => d(w, b.workers[i]!));
  const known =
    workersS.reduce((s, v) => s + v, 0) +
    d(a.web, b.web) +
    d(a.dovecot, b.dovecot) +
    d(a.postgres, b.postgres) +
    d(a.bench, b.bench);
  return {
    wallS: (b.t - a.t) / 1000,
    workersS,
    webS: d(a.web, b.web),
    dovecotS: d(a.dovecot, b.dovecot),
    postgresS: d(a.postgres, b.postgres),
    benchS: d(a.bench, b.bench),
    otherS: Math.max(0, d(a.machine, b.machine) - known),
  };
}

const pctCore = (cpuS: number, wallS: number) => (100 * cpuS) / wallS;

/** Samples each worker's RSS and IMAP connections every second; keeps the maxima. */
function sampler(p: Procs, imapPort: number) {
  const maxRss = p.workers.map(() => 0);
  const maxConns = p.workers.map(() => 0);
  const take = () =>
    p.workers.forEach((w, i) => {
      const m = memory(w.pid);
      if (Number.isFinite(m.rssKb)) maxRss[i] = Math.max(maxRss[i]!, m.rssKb);
      const c = connectionsTo(w.pid, imapPort);
      if (Number.isFinite(c)) maxConns[i] = Math.max(maxConns[i]!, c);
    });
  take();
  const timer = setInterval(take, 1_000);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { maxRss: [...maxRss], maxConns: [...maxConns] };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Mail

const WORDS =
  'account agenda approval budget call client contract delivery draft estimate feedback follow forecast invoice launch meeting milestone offer order pipeline plan pricing project proposal quarter quote renewal report review roadmap schedule shipment signature status support team terms timeline update vendor workshop'.split(
    ' ',
  );

function text(rand: () => number, chars: number): string {
  const words: string[] = [];
  let size = 0;
  while (size < chars) {
    const w = WORDS[Math.floor(rand() * WORDS.length)]!;
    words.push(w);
    size += w.length + 1;
  }
  // Lines of ~10 words.
  return words.map((w, i) => (i % 10 === 9 ? `${w}\r\n` : `${w} `)).join('');
}

const contactAddress = (i: number) => `client${i}@customer${i % 17}.test`;

/** A small mailbox: PER_MAILBOX messages over the last 60 days, CONTACT_PER_MAILBOX of them from contacts. */
function mailbox(user: string, index: number): { raws: string[]; dates: Date[] } {
  const rand = seeded(1000 + index);
  const nowMs = Date.now();
  const raws: string[] = [];
  const dates: Date[] = [];
  for (let i = 0; i < PER_MAILBOX; i++) {
    const date = new Date(nowMs - 60 * DAY + Math.floor(((i + 1) * 60 * DAY) / (PER_MAILBOX + 1)));
    // Contact mail spread evenly, as in sync-benchmark.ts.
    const isContact =
      Math.floor(((i + 1) * CONTACT_PER_MAILBOX) / PER_MAILBOX) > Math.floor((i * CONTACT_PER_MAILBOX) / PER_MAILBOX);
    const from = isContact
      ? `Client ${index} <${contactAddress((index * CONTACT_PER_MAILBOX + i) % CONTACTS)}>`
      : `Vendor <s${Math.floor(rand() * 5000)}@vendor${Math.floor(rand() * 300)}.test>`;
    raws.push(
      makeMessage({
        from,
        to: [user],
        subject: `${isContact ? 'Contract' : 'Offer'} ${index}-${i} ${WORDS[i % WORDS.length]}`,
        date,
        body: text(rand, 300 + Math.floor(rand() * 1500)),
      }),
    );
    dates.push(date);
  }
  return { raws, dates };
}

// ---------------------------------------------------------------------------------------------------------
// Children: `conversa serve` (web only) and `conversa worker`, via test/support/spawn-conversa.ts

interface Child {
  name: string;
  pid: number;
  spawned: SpawnedConversa;
  exitCode: number | null | undefined;
  /** From spawn to its ready line. */
  readyMs: number;
  stop(): Promise<void>;
}

/**
 * `conversa worker` like spawnConversa(env, 'worker'), but with a longer wait for its ready line, and its PID
 * registered for the cleanup at once. A worker prints "Conversa worker is running" only after its first lease
 * round, which claims its share (up to 500 accounts) one account at a time: at 1,000 mailboxes that took longer
 * than spawnConversa's fixed 20 s on this machine, and spawnConversa then rejects without handing back the child.
 */
function spawnWorker(
  env: NodeJS.ProcessEnv,
  onPid: (pid: number, output: () => string) => void,
): Promise<SpawnedConversa & { readyMs: number }> {
  const t0 = now();
  const child = spawn(process.execPath, [CLI, 'worker'], {
    env: { ...process.env, PORT: '0', BCC_SMTP_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  if (child.pid !== undefined) onPid(child.pid, () => output);
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const timeoutMs = Number(opts['worker-ready-timeout']) * 1000;
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (output.includes('Conversa worker is running')) {
        clearInterval(timer);
        resolve({
          url: '',
          child,
          readyMs: now() - t0,
          output: () => output,
          stop: async () => {
            child.kill('SIGTERM');
            return exited;
          },
          kill: async () => {
            child.kill('SIGKILL');
            await exited;
          },
        });
      } else if (now() - t0 > timeoutMs) {
        clearInterval(timer);
        reject(
          new Error(
            `conversa worker (pid ${child.pid}) not ready after ${timeoutMs / 1000} s:\n${output.slice(-2000)}`,
          ),
        );
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`conversa worker exited with ${code}:\n${output.slice(-3000)}`));
    });
  });
}

async function startChild(
  name: string,
  env: NodeJS.ProcessEnv,
  command: 'serve' | 'worker' | 'measured worker',
): Promise<Child> {
  let early: Child | undefined;
  const spawned =
    command === 'measured worker'
      ? await spawnWorker(env, (pid, output) => {
          // Known before it is ready: stopped by the cleanup even if it never gets there.
          childPids.add(pid);
          logSources.push({ name, text: output });
          cleanups.push({
            what: `${name} (pid ${pid}, starting)`,
            fn: async () => {
              if (early) return early.stop();
              try {
                process.kill(pid, 'SIGKILL');
              } catch {
                // gone
              }
            },
          });
        })
      : await spawnConversa(env, command);
  const pid = spawned.child.pid!;
  childPids.add(pid);
  const child: Child = {
    name,
    pid,
    spawned,
    exitCode: undefined,
    readyMs: (spawned as { readyMs?: number }).readyMs ?? NaN,
    stop: async () => undefined,
  };
  early = child;
  if (command !== 'measured worker') logSources.push({ name, text: () => spawned.output() });
  const exited = new Promise<void>((resolve) =>
    spawned.child.once('exit', (code, signal) => {
      child.exitCode = code ?? (signal ? -1 : null);
      childPids.delete(pid);
      resolve();
    }),
  );
  let stopping: Promise<void> | undefined;
  child.stop = () =>
    (stopping ??= (async () => {
      if (child.exitCode !== undefined) return;
      spawned.child.kill('SIGTERM');
      // A worker hands its leases back on SIGTERM; with hundreds of runners closing that can take a moment.
      const done = await Promise.race([exited.then(() => true), sleep(20_000).then(() => false)]);
      if (!done) {
        log(`${name}: pid ${pid} ignored SIGTERM for 20 s, SIGKILL`);
        spawned.child.kill('SIGKILL');
        await exited;
      }
    })());
  cleanups.push({ what: `${name} (pid ${pid})`, fn: () => child.stop() });
  return child;
}

function childEnv(extra: Record<string, string>): Record<string, string> {
  // The children run compiled JS: no tsx loader from the caller's NODE_OPTIONS.
  // The benchmark's Dovecot is on loopback, which the outbound policy refuses unless the operator allows it.
  return {
    NODE_OPTIONS: process.env.NODE_OPTIONS?.includes('tsx') ? '' : (process.env.NODE_OPTIONS ?? ''),
    LOG_LEVEL: 'info',
    CONVERSA_ALLOWED_HOSTS: '127.0.0.1,localhost',
    ...extra,
  };
}

function pinoSummary(output: string): string {
  const counts = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; reason?: string; err?: unknown };
      if ((entry.level ?? 0) < 40) continue;
      const key = `${entry.level === 40 ? 'warn' : 'error'} "${entry.msg ?? ''}"${entry.reason ? ` (${String(entry.reason).slice(0, 80)})` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    } catch {
      // not JSON
    }
  }
  return counts.size === 0
    ? 'none'
    : [...counts]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 5)
        .map(([k, n]) => `${n}× ${k}`)
        .join('; ');
}

// ---------------------------------------------------------------------------------------------------------
// Machine facts

let inotifyNote = '';

async function machineFacts(db: TestDatabase['storage']['db']): Promise<Record<string, string>> {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? '?';
  const dovecot = (await run('/usr/sbin/dovecot', ['--version']).catch(() => ({ stdout: '?' }))).stdout.trim();
  const git = await run('git', ['rev-parse', '--short', 'HEAD']).catch(() => ({ stdout: '?' }));
  const dirty = await run('git', ['status', '--porcelain', '--', 'src']).catch(() => ({ stdout: '' }));
  const { rows } = await sql<{
    v: string;
    mc: string;
  }>`select current_setting('server_version') as v, current_setting('max_connections') as mc`.execute(db);
  return {
    nproc: String(os.availableParallelism()),
    cpu,
    memory: `${fmt(os.totalmem() / 2 ** 30, 1)} GiB`,
    kernel: os.release(),
    node: process.version,
    dovecot,
    postgres: `${rows[0]?.v ?? '?'} (max_connections ${rows[0]?.mc ?? '?'})`,
    nofile: String(openFilesLimit('self')),
    inotify: inotifyNote,
    commit: `${git.stdout.trim()}${dirty.stdout.trim() ? ' + uncommitted changes in src/' : ''}`,
  };
}

async function dovecotLimits(dovecot: DovecotServer): Promise<Record<string, number>> {
  const keys = [
    'service/imap/process_limit',
    'service/imap/client_limit',
    'default_process_limit',
    'default_client_limit',
    'service/imap-login/service_count',
  ];
  const { stdout } = await run('/usr/bin/doveconf', ['-c', dovecot.info.configPath, ...keys]);
  const out: Record<string, number> = {};
  for (const line of stdout.split('\n')) {
    const m = /^(\S+) = (\d+)/.exec(line.trim());
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Main

interface RunnerHistory {
  /** Accounts whose runner was started by both workers, one after the other. */
  moved: number;
  /** Accounts whose runner one worker started more than once (and never the other). */
  restarted: number;
  /** For moved accounts: seconds from the first worker's runner:start to the second worker's. */
  takeoverS: number[];
  /** The same, from spawning the workers to the second worker's runner:start. */
  takeoverAtS: number[];
  /**
   * Accounts where runners of the two workers overlapped in time (runner:start of one before runner:stop of the other).
   */
  overlaps: number;
  maxOverlapMs: number;
}

interface Results {
  started: Date;
  facts: Record<string, string>;
  limits: Record<string, number>;
  fillS: number;
  connectS: number;
  postMs: number[];
  baselineRssKb: number;
  workers: Array<{ name: string; pid: number }>;
  firstSync?: {
    /** Each worker, from spawn to its ready line (after its first lease round). */
    readyS: number[];
    /**
     * Accounts whose runner each worker started during the first syncs (more than leased at the end if leases moved).
     */
    runners: number[];
    doneS: number;
    done: number;
    perAccountS: number[];
    leasesTakenS: number;
    cpu: CpuDelta;
    maxRss: number[];
    maxConns: number[];
    statuses: string;
  };
  afterSync?: {
    held: number[];
    conns: number[];
    rss: number[];
    hwm: number[];
    dovecotImap: number;
    history: RunnerHistory;
    stored: number;
  };
  idle?: { cpu: CpuDelta; held: number[] };
  arrivals?: {
    held: number[];
    sent: number;
    lagsMs: number[];
    lagsByWorker: number[][];
    saveMs: number[];
    lost: number;
    cpu: CpuDelta;
    maxRss: number[];
    maxConns: number[];
  };
  final?: {
    held: number[];
    conns: number[];
    rss: number[];
    hwm: number[];
    dovecotImap: number;
    history: RunnerHistory;
    stored: number;
    locations: number;
    expected: number;
  };
  warnings: string[];
  quietWaitS: number[];
}

async function main(): Promise<Results> {
  if (!existsSync(CLI)) throw new Error(`${CLI} not found: run \`npm run build\` first (from the repo root)`);
  if (process.getuid?.() !== 0) throw new Error('run as root: the test Dovecot hands mail to its mail user (nobody)');
  const started = new Date();
  const warnings: string[] = [];

  // File descriptors: each worker holds one IMAP connection per leased mailbox (plus PostgreSQL, blobs); children
  // inherit this process's limit. After a failover one worker may hold them all.
  const nofile = openFilesLimit('self');
  if (nofile < N + 512)
    throw new Error(
      `ulimit -n is ${nofile}: a worker may need ${N} IMAP sockets plus ~200 other files. Raise it (ulimit -n ${N + 1024}) and run again`,
    );

  const inotify = raiseInotify();
  log(inotify);
  inotifyNote = inotify;
  const database = await createTestDatabase('postgres', { migrate: false });
  cleanups.push({
    what: 'drop the database',
    fn: async () => {
      // Anything a timed-out spawn left behind, by PID, before its database goes.
      for (const pid of liveChildren()) {
        log(`killing leftover child pid ${pid}`);
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await database.destroy();
    },
  });
  const db = database.storage.db;
  const facts = await machineFacts(db);
  log(`database ${database.databaseUrl}; data dir ${database.dataDir}`);

  log(`starting Dovecot (${facts.dovecot})`);
  const dovecot = await startDovecot();
  cleanups.push({ what: `dovecot (pid ${dovecot.pid})`, fn: () => dovecot.stop() });
  logSources.push({ name: 'dovecot', text: () => readFileSync(dovecot.info.logPath, 'utf8') });
  const limits = await dovecotLimits(dovecot);
  log(`Dovecot pid ${dovecot.pid} on 127.0.0.1:${dovecot.imapPort}; limits ${JSON.stringify(limits)}`);
  // One imap process per connection (client_limit 1): N mailboxes are N processes at once. test/servers/dovecot.ts
  // does not set the limit, and this benchmark does not change the harness's config.
  const imapLimit = limits['service/imap/process_limit'] ?? NaN;
  const perProcess = limits['service/imap/client_limit'] ?? 1;
  if (Number.isFinite(imapLimit) && N > imapLimit * perProcess - 8) {
    throw new Error(
      `Dovecot allows ${imapLimit * perProcess} IMAP sessions (service imap { process_limit = ${imapLimit} }, client_limit ${perProcess}) and ${N} mailboxes need ${N} ` +
        'plus a few for reconnects. The harness config (test/servers/dovecot.ts) does not raise it; not changed here.',
    );
  }

  const secret = randomBytes(32).toString('hex');
  const baseEnv = childEnv({
    CONVERSA_DATA_DIR: database.dataDir,
    DATABASE_URL: database.databaseUrl!,
    CONVERSA_SECRET_KEY: secret,
  });
  const cliEnv = { ...process.env, ...baseEnv };
  await run(process.execPath, [CLI, 'user', 'add', '--email', OWNER, '--password', 'scale owner password', '--admin'], {
    env: cliEnv,
    timeoutMs: 60_000,
  });
  const token = (
    await run(process.execPath, [CLI, 'token', 'create', '--email', OWNER], { env: cliEnv })
  ).stdout.trim();

  const web = await startChild('web', { ...baseEnv, CONVERSA_SERVE_BACKGROUND: 'false', HOST: '127.0.0.1' }, 'serve');
  const url = web.spawned.url;
  log(`web-only conversa serve pid ${web.pid} at ${url}`);
  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as any, text };
  };

  // An empty worker's RSS (no accounts yet): the base the per-100-mailbox RSS is counted above.
  const probe = await startChild('probe worker', baseEnv, 'worker');
  await sleep(3_000);
  const baselineRssKb = memory(probe.pid).rssKb;
  await probe.stop();
  await db.deleteFrom('workers').execute();
  log(`empty worker RSS ${mb(baselineRssKb)}`);

  // Contacts, then the mailboxes.
  await inPool(
    Array.from({ length: CONTACTS }, (_, i) => i),
    8,
    async (i) => {
      const res = await api('POST', '/api/contacts', {
        emails: [contactAddress(i)],
        firstName: 'Client',
        lastName: String(i),
      });
      if (res.status !== 201) throw new Error(`POST /api/contacts ${res.status}: ${res.text}`);
    },
  );
  log(
    `${CONTACTS} contacts; filling ${fmt(N)} mailboxes (${PER_MAILBOX} messages, ${CONTACT_PER_MAILBOX} from contacts)`,
  );
  const users: Credentials[] = [];
  for (let i = 0; i < N; i++)
    users.push(await dovecot.addUser({ user: `m${i}@scale.test`, password: `pw-${i}-${secret.slice(0, 8)}` }));
  const tFill = now();
  let filled = 0;
  await inPool(users, 8, async (creds, i) => {
    checkTime('filling the mailboxes');
    const { raws, dates } = mailbox(creds.user, i);
    const { messages } = await dovecot.fillMailbox(creds.user, 'INBOX', raws, { dates });
    if (messages !== PER_MAILBOX) throw new Error(`${creds.user}: ${messages} messages, expected ${PER_MAILBOX}`);
    if (++filled % 200 === 0) log(`  filled ${filled}/${N}`);
  });
  const fillS = (now() - tFill) / 1000;
  log(`filled in ${fmt(fillS, 1)} s; connecting the accounts through the API, ${CONNECT_CONCURRENCY} at a time`);

  const accountOf: string[] = new Array(N);
  const postMs: number[] = [];
  const tConnect = now();
  await inPool(users, CONNECT_CONCURRENCY, async (creds, i) => {
    checkTime('connecting the accounts');
    const t = now();
    const res = await api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    postMs.push(now() - t);
    if (res.status !== 201) throw new Error(`POST /api/email-accounts for ${creds.user}: ${res.status} ${res.text}`);
    accountOf[i] = res.body.id as string;
    if (postMs.length % 200 === 0) log(`  connected ${postMs.length}/${N}`);
  });
  const connectS = (now() - tConnect) / 1000;
  log(`connected ${N} accounts in ${fmt(connectS, 1)} s (${spread(postMs)} per POST)`);

  // ----- The two workers
  const results: Results = {
    started,
    facts,
    limits,
    fillS,
    connectS,
    postMs,
    baselineRssKb,
    workers: [],
    warnings,
    quietWaitS: [],
  };
  results.quietWaitS.push(await waitQuiet('first syncs'));
  log('starting two conversa workers');
  // From the spawn: the workers' own start-up counts (new processes, so from 0 ticks).
  const cpuStart: CpuSnapshot = {
    ...cpuSnapshot({ workers: [], web: web.pid, dovecot: dovecot.pid }),
    workers: [0, 0],
  };
  const tSpawn = now();
  const spawnEpoch = Date.now();
  const workers = await Promise.all([
    startChild('worker A', baseEnv, 'measured worker'),
    startChild('worker B', baseEnv, 'measured worker'),
  ]);
  const procs: Procs = {
    workers: workers.map((w) => ({ name: w.name, pid: w.pid })),
    web: web.pid,
    dovecot: dovecot.pid,
  };
  results.workers = procs.workers;
  for (const w of workers) {
    const limit = openFilesLimit(w.pid);
    if (limit < N / 2 + 512) warnings.push(`${w.name} runs with ulimit -n ${limit}`);
  }
  const readyS = workers.map((w) => w.readyMs / 1000);
  log(`workers: ${workers.map((w, i) => `${w.name} pid ${w.pid} ready after ${fmt(readyS[i]!, 1)} s`).join(', ')}`);
  const samples = sampler(procs, dovecot.imapPort);

  const workerIndexOfHolder = async (): Promise<Map<string, number>> => {
    const rows = await db.selectFrom('workers').select(['id', 'pid']).execute();
    return new Map(rows.map((r) => [r.id, workers.findIndex((w) => w.pid === r.pid)]));
  };
  const leaseSplit = async (): Promise<{ held: number[]; holderOf: Map<string, number> }> => {
    const byHolder = await workerIndexOfHolder();
    const rows = await db
      .selectFrom('account_leases')
      .select(['account_id', 'holder'])
      .where('expires_at', '>', Date.now())
      .execute();
    const held = workers.map(() => 0);
    const holderOf = new Map<string, number>();
    for (const r of rows) {
      const w = byHolder.get(r.holder);
      if (w === undefined || w < 0) continue;
      held[w]!++;
      holderOf.set(r.account_id, w);
    }
    return { held, holderOf };
  };
  const statusCounts = async () => {
    const rows = await db
      .selectFrom('email_accounts')
      .select(['status'])
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .groupBy('status')
      .execute();
    return rows.map((r) => `${r.status} ${Number(r.n)}`).join(', ');
  };
  const countRows = async (table: 'messages' | 'message_locations') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  // From the recorded runner:start / runner:stop events (detail = the worker id), as test/scale/workers.test.ts reads
  // them.
  const runnerHistory = async (): Promise<RunnerHistory> => {
    const events = await db
      .selectFrom('sync_events')
      .select(['account_id', 'kind', 'detail', 'created_at'])
      .where('kind', 'in', ['runner:start', 'runner:stop'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const byAccount = new Map<string, typeof events>();
    for (const e of events) byAccount.set(e.account_id, [...(byAccount.get(e.account_id) ?? []), e]);
    const h: RunnerHistory = { moved: 0, restarted: 0, takeoverS: [], takeoverAtS: [], overlaps: 0, maxOverlapMs: 0 };
    const endOfTime = Date.now();
    for (const list of byAccount.values()) {
      const starts = list.filter((e) => e.kind === 'runner:start');
      const holders = [...new Set(starts.map((e) => e.detail))];
      if (holders.length > 1) {
        h.moved++;
        const second = starts.find((e) => e.detail !== starts[0]!.detail)!;
        h.takeoverS.push((second.created_at - starts[0]!.created_at) / 1000);
        h.takeoverAtS.push((second.created_at - spawnEpoch) / 1000);
      } else if (starts.length > 1) h.restarted++;
      const intervals: Array<{ holder: string; start: number; end: number }> = [];
      const open = new Map<string, number>();
      for (const e of list) {
        if (e.kind === 'runner:start') open.set(e.detail!, e.created_at);
        else if (open.has(e.detail!)) {
          intervals.push({ holder: e.detail!, start: open.get(e.detail!)!, end: e.created_at });
          open.delete(e.detail!);
        }
      }
      for (const [holder, start] of open) intervals.push({ holder, start, end: endOfTime });
      intervals.sort((x, y) => x.start - y.start);
      let worst = 0;
      for (let i = 1; i < intervals.length; i++) {
        for (let j = 0; j < i; j++) {
          if (intervals[j]!.holder !== intervals[i]!.holder && intervals[i]!.start < intervals[j]!.end)
            worst = Math.max(worst, intervals[j]!.end - intervals[i]!.start);
        }
      }
      if (worst > 0) {
        h.overlaps++;
        h.maxOverlapMs = Math.max(h.maxOverlapMs, worst);
      }
    }
    return h;
  };
  const runnersStarted = async (): Promise<number[]> => {
    const byHolder = await workerIndexOfHolder();
    const rows = await db
      .selectFrom('sync_events')
      .select(['account_id', 'detail'])
      .where('kind', '=', 'runner:start')
      .execute();
    const sets = workers.map(() => new Set<string>());
    for (const r of rows) {
      const w = byHolder.get(r.detail ?? '');
      if (w !== undefined && w >= 0) sets[w]!.add(r.account_id);
    }
    return sets.map((x) => x.size);
  };
  const dovecotImapProcesses = () =>
    [...allStats().values()].filter((s) => s.pgid === dovecot.pid && s.comm === 'imap' && s.state !== 'Z').length;
  const snapshot = async () => {
    const { held } = await leaseSplit();
    return {
      held,
      conns: workers.map((w) => connectionsTo(w.pid, dovecot.imapPort)),
      rss: workers.map((w) => memory(w.pid).rssKb),
      hwm: workers.map((w) => memory(w.pid).hwmKb),
      dovecotImap: dovecotImapProcesses(),
      history: await runnerHistory(),
      stored: await countRows('messages'),
    };
  };

  // ----- Phase 1: first syncs
  const doneAt = new Map<string, number>();
  let leasesTakenS = NaN;
  let lastLog = now();
  let timedOut = false;
  // Leave room for the idle window, the arrivals and their drain.
  const phaseDeadline = now() + remainingMs() - (IDLE_S + ARRIVAL_S + DRAIN_S + 20) * 1000;
  for (;;) {
    const rows = await db
      .selectFrom('mail_folders')
      .select('account_id')
      .where('role', '=', 'inbox')
      .where('first_sync_done', '=', 1)
      .execute();
    const t = now();
    for (const r of rows) if (!doneAt.has(r.account_id)) doneAt.set(r.account_id, t);
    if (Number.isNaN(leasesTakenS)) {
      const leased = Number(
        (
          await db
            .selectFrom('account_leases')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      if (leased >= N) leasesTakenS = (now() - tSpawn) / 1000;
    }
    if (doneAt.size >= N) break;
    checkTime('first syncs');
    for (const w of workers)
      if (w.exitCode !== undefined)
        throw new Error(`${w.name} exited (${w.exitCode}):\n${w.spawned.output().slice(-3000)}`);
    if (now() > phaseDeadline) {
      timedOut = true;
      break;
    }
    if (now() - lastLog > 10_000) {
      lastLog = now();
      const { held } = await leaseSplit();
      log(
        `  first syncs done ${doneAt.size}/${N} after ${fmt((now() - tSpawn) / 1000)} s; leases ${held.join('/')}; IMAP connections ${workers.map((w) => connectionsTo(w.pid, dovecot.imapPort)).join('/')}; accounts ${await statusCounts()}`,
      );
    }
    await sleep(250);
  }
  const cpuSynced = cpuSnapshot(procs);
  const syncSamples = samples.stop();
  const statuses = await statusCounts();
  results.firstSync = {
    readyS,
    runners: await runnersStarted(),
    doneS: (now() - tSpawn) / 1000,
    done: doneAt.size,
    perAccountS: [...doneAt.values()].map((t) => (t - tSpawn) / 1000),
    leasesTakenS,
    cpu: cpuDelta(cpuStart, cpuSynced),
    ...syncSamples,
    statuses,
  };
  if (timedOut) {
    results.afterSync = await snapshot();
    throw Object.assign(
      new OutOfTime(
        `only ${doneAt.size} of ${N} first syncs were done after ${fmt(results.firstSync.doneS)} s (accounts: ${statuses})`,
      ),
      { results },
    );
  }
  log(
    `all ${N} first syncs done ${fmt(results.firstSync.doneS, 1)} s after spawning the workers (accounts: ${statuses})`,
  );

  // ----- Phase 2: settle, then a short idle window (IDLE connections and lease renewals only)
  // Settle: every account active (in IDLE) and the leases split evenly (a worker that started first may have taken
  // more than its share and hands the surplus back on its next lease round).
  const settleUntil = now() + 30_000;
  while (now() < settleUntil) {
    const busy = Number(
      (
        await db
          .selectFrom('email_accounts')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '!=', 'active')
          .executeTakeFirstOrThrow()
      ).n,
    );
    const { held } = await leaseSplit();
    if (busy === 0 && held.reduce((x, y) => x + y, 0) === N && Math.max(...held) <= Math.ceil(N / 2)) break;
    checkTime('settling');
    await sleep(500);
  }
  await sleep(3_000);
  results.afterSync = await snapshot();
  log(
    `after the first syncs: leases ${results.afterSync.held.join('/')}, IMAP connections ${results.afterSync.conns.join('/')}, Dovecot imap processes ${results.afterSync.dovecotImap}, runners moved ${results.afterSync.history.moved}, restarted ${results.afterSync.history.restarted}, overlapping ${results.afterSync.history.overlaps}`,
  );
  const idle0 = cpuSnapshot(procs);
  await sleep(IDLE_S * 1000);
  checkTime('idle window');
  results.idle = { cpu: cpuDelta(idle0, cpuSnapshot(procs)), held: results.afterSync.held };
  log(
    `idle ${IDLE_S} s: workers ${results.idle.cpu.workersS.map((s) => `${fmt(pctCore(s, results.idle!.cpu.wallS), 1)}%`).join(' / ')} of a core`,
  );

  // ----- Phase 3: steady arrival of contact mail
  results.quietWaitS.push(await waitQuiet('arrivals'));
  const { holderOf, held: heldAtArrivals } = await leaseSplit();
  const total = Math.round(RATE * ARRIVAL_S);
  const rand = seeded(42);
  const tag = randomBytes(3).toString('hex');
  const pending = new Map<string, { t0: number; worker: number }>();
  const lagsMs: number[] = [];
  const lagsByWorker: number[][] = workers.map(() => []);
  const saveMs: number[] = [];
  const saves: Array<Promise<void>> = [];
  let saveErrors = 0;
  log(`arrivals: ${total} messages from contacts at ${RATE}/s to random mailboxes`);
  const arrivalSamples = sampler(procs, dovecot.imapPort);
  const cpuA0 = cpuSnapshot(procs);
  const tA = now();
  let sent = 0;
  let polling = true;
  const poller = (async () => {
    while ((polling || pending.size > 0) && !aborted) {
      if (pending.size > 0) {
        const subjects = [...pending.keys()];
        const rows = await db
          .selectFrom('messages')
          .innerJoin('message_contacts', 'message_contacts.message_id', 'messages.id')
          .select('messages.subject')
          .where('messages.subject', 'in', subjects)
          .execute();
        const t = now();
        for (const r of rows) {
          const p = pending.get(r.subject ?? '');
          if (!p) continue;
          pending.delete(r.subject!);
          lagsMs.push(t - p.t0);
          if (p.worker >= 0) lagsByWorker[p.worker]!.push(t - p.t0);
        }
      }
      if (!polling && now() > tA + (ARRIVAL_S + DRAIN_S) * 1000) break;
      await sleep(50);
    }
  })();
  // Awaited below; marked handled now so that a failure while the deliveries go on is not an unhandled rejection.
  poller.catch(() => undefined);
  for (let i = 0; i < total; i++) {
    const at = tA + (i * 1000) / RATE;
    if (at > now()) await sleep(at - now());
    if (aborted) break;
    const m = Math.floor(rand() * N);
    const c = Math.floor(rand() * CONTACTS);
    const subject = `Arrival ${tag} ${i}`;
    const raw = makeMessage({
      from: `Client ${c} <${contactAddress(c)}>`,
      to: [users[m]!.user],
      subject,
      date: new Date(),
      body: text(rand, 400),
    });
    const t0 = now();
    pending.set(subject, { t0, worker: holderOf.get(accountOf[m]!) ?? -1 });
    sent++;
    saves.push(
      dovecot.appendAsDelivered(users[m]!.user, raw).then(
        () => void saveMs.push(now() - t0),
        (error: unknown) => {
          saveErrors++;
          pending.delete(subject);
          log(`doveadm save failed: ${(error as Error).message}`);
        },
      ),
    );
  }
  await Promise.all(saves);
  checkTime('arrivals');
  const cpuA1 = cpuSnapshot(procs);
  polling = false;
  await poller;
  if (saveErrors > 0) warnings.push(`${saveErrors} doveadm save calls failed`);
  const arrivalMem = arrivalSamples.stop();
  results.arrivals = {
    held: heldAtArrivals,
    sent: sent - saveErrors,
    lagsMs,
    lagsByWorker,
    saveMs,
    lost: pending.size,
    cpu: cpuDelta(cpuA0, cpuA1),
    ...arrivalMem,
  };
  log(`arrivals: ${spread(lagsMs)}; ${pending.size} not on their contact within ${DRAIN_S} s of the last delivery`);

  const fin = await snapshot();
  results.final = {
    ...fin,
    locations: await countRows('message_locations'),
    expected: N * CONTACT_PER_MAILBOX + results.arrivals.sent - results.arrivals.lost,
  };

  // Logs of the run, for the report (and kept with --keep-logs).
  for (const w of [web, ...workers]) warnings.push(`${w.name} log warnings/errors: ${pinoSummary(w.spawned.output())}`);
  const dovecotLog = readFileSync(dovecot.info.logPath, 'utf8');
  const limitLines = dovecotLog.split('\n').filter((l) => /limit|Too many|Out of memory|Fatal|Panic/i.test(l));
  const kinds = new Map<string, number>();
  for (const l of limitLines) {
    const key = l
      .replace(/^\w+ +\d+ [\d:]+ /, '')
      .replace(/^[\w-]+\([^)]*\)(<[^>]*>)*: /, '')
      .replace(/\d+/g, 'N');
    kinds.set(key, (kinds.get(key) ?? 0) + 1);
  }
  warnings.push(
    `Dovecot log: ${kinds.size === 0 ? 'no limit warnings, no fatal errors' : [...kinds].map(([k, n]) => `${n}× "${k.slice(0, 160)}"`).join('; ')}`,
  );
  if (opts['keep-logs']) saveLogs();
  return results;
}

/** Writes every child's output and Dovecot's log to a new directory under /tmp (kept: the path is printed). */
function saveLogs(): void {
  try {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cnv-scale-logs-'));
    for (const source of logSources)
      writeFileSync(path.join(dir, `${source.name.replace(/\s+/g, '-')}.log`), source.text());
    log(`logs kept in ${dir}`);
  } catch (error) {
    log(`could not save the logs: ${(error as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Report

function report(r: Results, complete: boolean, elapsedS: number): string {
  const f = r.firstSync;
  const a = r.arrivals;
  const s = r.afterSync;
  const z = r.final;
  const w = r.workers;
  const per100 = (value: number, held: number) => (held > 0 ? value / (held / 100) : NaN);
  const command = `npx tsx bench/scale-benchmark.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  const lines: string[] = [];
  lines.push(
    `Run ${r.started.toISOString().replace(/\.\d+Z$/, 'Z')} with \`${command}\` (after \`npm run build\`), ${fmt(elapsedS)} s in all${complete ? '' : ' — **INCOMPLETE**'}.`,
  );
  lines.push(
    `Machine: ${r.facts.nproc} cores (${r.facts.cpu}), ${r.facts.memory} RAM, Linux ${r.facts.kernel}, Node ${r.facts.node}, Dovecot ${r.facts.dovecot}, PostgreSQL ${r.facts.postgres}, ulimit -n ${r.facts.nofile}, ${r.facts.inotify}; Conversa at ${r.facts.commit}. ` +
      `Dovecot as configured by test/servers/dovecot.ts: service imap process_limit ${r.limits['service/imap/process_limit'] ?? '?'} (client_limit ${r.limits['service/imap/client_limit'] ?? '?'}: one process per session), default_process_limit ${r.limits['default_process_limit'] ?? '?'} (imap-login).`,
  );
  lines.push(
    `Set-up: ${fmt(N)} Dovecot users, ${PER_MAILBOX} messages each (${CONTACT_PER_MAILBOX} from ${CONTACTS} contacts), filled in ${fmt(r.fillS, 1)} s; accounts connected through the web-only server's API ${CONNECT_CONCURRENCY} at a time (each POST tests the IMAP and SMTP login) in ${fmt(r.connectS, 1)} s, ${spread(r.postMs)} per POST.`,
  );
  lines.push('');
  lines.push('| measurement | result |');
  lines.push('|---|---|');
  if (f) {
    const per = [...f.perAccountS].sort((x, y) => x - y);
    lines.push(
      `| First sync of all ${fmt(N)} inboxes (\`mail_folders\` inbox \`first_sync_done = 1\`), from spawning the 2 workers | **${fmt(f.doneS, 1)} s**${f.done < N ? ` — only ${fmt(f.done)} of ${fmt(N)} done` : ''} (workers ready — first lease round done — after ${f.readyS.map((x) => fmt(x, 1)).join(' / ')} s); per mailbox p50 ${fmt(percentile(per, 50), 1)} s, p95 ${fmt(percentile(per, 95), 1)} s; all leases taken after ${fmt(f.leasesTakenS, 1)} s |`,
    );
  }
  if (a) {
    lines.push(
      `| New mail: ${fmt(a.sent)} deliveries (\`doveadm save\`) at ${fmt(RATE)}/s for ${ARRIVAL_S} s to random mailboxes → on its contact (DB polled every 50 ms) | **${spread(a.lagsMs)}**${a.lost ? `; **${a.lost} not seen** within ${DRAIN_S} s` : '; none lost'} |`,
    );
  }
  if (s) {
    const h = z?.history ?? s.history;
    const moved = h.moved
      ? `; taken over ${spread(h.takeoverS, 's', 1)} after the first worker had started it (at ${fmt(Math.min(...h.takeoverAtS), 1)}–${fmt(Math.max(...h.takeoverAtS), 1)} s from spawn)`
      : '';
    lines.push(
      `| Runners moved between the workers (accounts whose runner both started, \`sync_events\`) | ${fmt(s.history.moved)} by the end of the first syncs${z ? `, ${fmt(z.history.moved)} at the end` : ''}${moved}; restarted on the same worker: ${fmt(h.restarted)} |`,
    );
    lines.push(
      `| Two workers running one mailbox at once (runner intervals of different workers overlapping) | ${h.overlaps === 0 ? 'none ✓' : `**${fmt(h.overlaps)} accounts**, longest overlap ${fmt(h.maxOverlapMs)} ms`} |`,
    );
  }
  if (z)
    lines.push(
      `| Messages stored once | ${fmt(z.stored)} messages, ${fmt(z.locations)} locations (expected ${fmt(z.expected)}) ${z.stored === z.expected && z.locations === z.expected ? '✓' : '**✗**'} |`,
    );
  lines.push('');
  if (f && s) {
    const header = `| per worker | ${w.map((x) => `${x.name} (pid ${x.pid})`).join(' | ')} |`;
    lines.push(header, `|---|${w.map(() => '---').join('|')}|`);
    const row = (label: string, cells: string[]) => lines.push(`| ${label} | ${cells.join(' | ')} |`);
    row(
      'accounts leased (after the first syncs / at the end)',
      w.map((_, i) => `${fmt(s.held[i]!)}${z ? ` / ${fmt(z.held[i]!)}` : ''}`),
    );
    row(
      'IMAP connections to Dovecot, established (after the first syncs / at the end; max sampled)',
      w.map(
        (_, i) =>
          `${fmt(s.conns[i]!)}${z ? ` / ${fmt(z.conns[i]!)}` : ''}; max ${fmt(Math.max(s.conns[i]!, z?.conns[i] ?? 0, f.maxConns[i]!, a?.maxConns[i] ?? 0))}`,
      ),
    );
    row(
      'first syncs run (accounts whose runner it started)',
      w.map((_, i) => fmt(f.runners[i]!)),
    );
    row(
      'CPU during the first syncs, from spawn (start-up included)',
      w.map((_, i) => `${fmt(f.cpu.workersS[i]!, 1)} s (${fmt(pctCore(f.cpu.workersS[i]!, f.cpu.wallS))}% of a core)`),
    );
    row(
      '… per 100 first syncs',
      w.map((_, i) => `**${fmt(per100(f.cpu.workersS[i]!, f.runners[i]!), 2)} s**`),
    );
    if (r.idle)
      row(
        `CPU idle (${IDLE_S} s: IDLE sessions, lease renewals); per 100 mailboxes held`,
        w.map(
          (_, i) =>
            `${fmt(pctCore(r.idle!.cpu.workersS[i]!, r.idle!.cpu.wallS), 2)}% of a core; ${fmt(per100(pctCore(r.idle!.cpu.workersS[i]!, r.idle!.cpu.wallS), r.idle!.held[i]!), 2)}%`,
        ),
      );
    if (a)
      row(
        `CPU during the arrivals (${ARRIVAL_S} s); per 100 mailboxes held`,
        w.map(
          (_, i) =>
            `${fmt(pctCore(a.cpu.workersS[i]!, a.cpu.wallS), 1)}% of a core; **${fmt(per100(pctCore(a.cpu.workersS[i]!, a.cpu.wallS), a.held[i]!), 2)}%**`,
        ),
      );
    row(
      'RSS after the first syncs (VmRSS; max sampled; VmHWM)',
      w.map(
        (_, i) =>
          `${mb(s.rss[i]!)}; max ${mb(Math.max(s.rss[i]!, z?.rss[i] ?? 0, f.maxRss[i]!, a?.maxRss[i] ?? 0))}; VmHWM ${mb(z?.hwm[i] ?? s.hwm[i]!)}`,
      ),
    );
    row(
      `RSS per 100 mailboxes, above an empty worker's ${mb(r.baselineRssKb)}`,
      w.map((_, i) => `**${mb(per100(s.rss[i]! - r.baselineRssKb, s.held[i]!))}**`),
    );
    if (a)
      row(
        'arrival lag of its mailboxes',
        w.map((_, i) =>
          a.lagsByWorker[i]!.length ? `${spread(a.lagsByWorker[i]!)} (${a.lagsByWorker[i]!.length})` : '–',
        ),
      );
    lines.push('');
  }
  const other = (c: CpuDelta, label: string) =>
    `${label}: ${fmt(c.wallS, 1)} s wall; workers ${c.workersS.map((v) => fmt(pctCore(v, c.wallS))).join(' + ')}% of a core, web-only serve ${fmt(pctCore(c.webS, c.wallS))}%, Dovecot (all its processes) ${fmt(pctCore(c.dovecotS, c.wallS))}%, PostgreSQL (the whole server) ${fmt(pctCore(c.postgresS, c.wallS))}%, this script with its doveadm runs ${fmt(pctCore(c.benchS, c.wallS))}%, anything else ${fmt(pctCore(c.otherS, c.wallS))}% (of ${r.facts.nproc} cores = ${Number(r.facts.nproc) * 100}%).`;
  if (f) lines.push(`- CPU, ${other(f.cpu, 'first syncs')}`);
  if (r.idle) lines.push(`- CPU, ${other(r.idle.cpu, 'idle')}`);
  if (a) lines.push(`- CPU, ${other(a.cpu, 'arrivals')} \`doveadm save\` took ${spread(a.saveMs)} of each lag.`);
  if (s)
    lines.push(
      `- Dovecot imap processes (one per session): ${fmt(s.dovecotImap)} after the first syncs${z ? `, ${fmt(z.dovecotImap)} at the end` : ''}. Accounts after the first syncs: ${f?.statuses ?? '?'}.`,
    );
  if (r.quietWaitS.some((x) => x > 0.5))
    lines.push(
      `- Waited ${r.quietWaitS.map((x) => `${fmt(x)} s`).join(' and ')} for a quiet machine before the first syncs and the arrivals (--quiet-wait).`,
    );
  for (const x of r.warnings) lines.push(`- ${x}`);
  return lines.join('\n');
}

function writeReadme(block: string): void {
  writeFiguresBlock(README, 'scale', 'Scale-out figures (scale-benchmark.ts)', block);
  log(`figures written to ${path.relative(REPO, README)}`);
}

const startedAt = now();
main()
  .then(
    async (results) => {
      const block = report(results, true, (now() - startedAt) / 1000);
      console.log(`\n${block}\n`);
      if (WRITE_README) writeReadme(block);
      else log('README left as it is (--no-readme)');
      await runCleanups();
    },
    async (error: unknown) => {
      const partial = (error as { results?: Results }).results;
      if (error instanceof Aborted || aborted) {
        console.error(`bench: stopped (${(error as Error).message})`);
      } else if (error instanceof OutOfTime) {
        console.error(
          `bench: did not fit in ${opts['max-minutes']} min: ${error.message}. Try a smaller --mailboxes (500, then 200).`,
        );
      } else {
        console.error(`bench failed: ${(error as Error)?.stack ?? String(error)}`);
      }
      if (partial) console.log(`\n${report(partial, false, (now() - startedAt) / 1000)}\n`);
      if (!aborted) saveLogs();
      process.exitCode = 1;
      await runCleanups();
    },
  )
  .finally(() => clearTimeout(hardLimit));
