// Sequences benchmark (issue 17): N enrollments over M mailboxes (one sequence each, one email step with a merge
// field), their due times spread over a window, run by TWO worker processes on one PostgreSQL database; worker A is
// killed (SIGKILL) once a share of the steps has run. Measured: every due step run exactly once (sequence_sends,
// the stored messages with the steps' deterministic Message-IDs, the outbox rows), the delay from due time to the
// step being queued (p50/p95/max), and the workers' CPU per 1,000 steps (process.cpuUsage, reported by each worker
// every 250 ms; the killed one's last report counts).
//
// What a "send" is here: the engine's whole work for a step — claim, window/limit check, merge fields, compose,
// parse, store the CRM message and queue it in the outbox, record. The outbox's SMTP delivery is not run (it has
// its own exactly-once guarantees and figures): mailboxes point nowhere. The stop sweep runs every 5 s as in
// production (no replies arrive, so it reads only the new messages).
//
// Run from the repo root (PostgreSQL on 127.0.0.1:5432 as for the tests; a fresh database, dropped at the end):
//   npx tsx bench/sequences.ts                                      10,000 enrollments over 20 mailboxes
//   npx tsx bench/sequences.ts --enrollments 2000 --spread 60 --no-readme    a quick try
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import os from 'node:os';
import { sql } from 'kysely';
import { openStorage } from '../src/storage/database.js';
import { openBlobStore } from '../src/storage/open-blob-store.js';
import { newId } from '../src/storage/ids.js';
import { createSequenceEngine } from '../src/sequences/sequence-engine.js';
import { createUser } from '../src/users/users.js';
import { createTestDatabase } from '../test/support/databases.js';
import { fmt, log, percentile, spread } from './support/format.js';
import { writeFiguresBlock } from './support/readme-figures.js';

const { values: opts } = parseArgs({
  options: {
    worker: { type: 'string' },
    'database-url': { type: 'string' },
    'data-dir': { type: 'string' },
    enrollments: { type: 'string', default: '10000' },
    mailboxes: { type: 'string', default: '20' },
    spread: { type: 'string', default: '300' },
    'kill-at': { type: 'string', default: '0.3' },
    'die-after': { type: 'string' },
    'lease-seconds': { type: 'string', default: '30' },
    'max-minutes': { type: 'string', default: '30' },
    'no-readme': { type: 'boolean', default: false },
  },
});

async function worker(): Promise<void> {
  const storage = openStorage({ dataDir: opts['data-dir']!, databaseUrl: opts['database-url']! });
  const quiet = { info: () => undefined, warn: () => undefined, error: (o: unknown) => console.error(o) };
  const engine = createSequenceEngine({
    db: storage.db,
    blobs: openBlobStore(storage, opts['data-dir']!),
    bccDomain: 'bcc.localhost',
    publicUrl: 'https://crm.example.test',
    outbox: { kick: () => undefined },
    log: quiet,
    leaseMs: Number(opts['lease-seconds']) * 1000,
    // Worker A dies (SIGKILL, sent to itself) right after queueing its Nth step's mail and before recording it:
    // the worst moment, which a kill from outside hits only by chance.
    ...(opts['die-after']
      ? {
          crashAfterQueue: () => {
            if (++queued >= Number(opts['die-after'])) {
              report();
              process.kill(process.pid, 'SIGKILL');
            }
            return false;
          },
        }
      : {}),
  });
  let queued = 0;
  // CPU from here on: the start-up (tsx compiling the sources) is not the engine's.
  const base = process.cpuUsage();
  engine.start();
  const report = () => {
    const u = process.cpuUsage(base);
    process.stdout.write(`${JSON.stringify({ cpuMs: (u.user + u.system) / 1000 })}\n`);
  };
  setInterval(report, 250).unref();
  process.on('SIGTERM', () => {
    void engine.stop().then(async () => {
      report();
      await storage.close();
      process.exit(0);
    });
  });
}

interface Worker {
  child: ChildProcess;
  cpuMs: number;
}

function spawnWorker(name: string, databaseUrl: string, dataDir: string, dieAfter?: number): Worker {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      path.resolve('bench/sequences.ts'),
      '--worker',
      name,
      '--database-url',
      databaseUrl,
      '--data-dir',
      dataDir,
      '--lease-seconds',
      opts['lease-seconds']!,
      ...(dieAfter ? ['--die-after', String(dieAfter)] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const w: Worker = { child, cpuMs: 0 };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      w.cpuMs = (JSON.parse(line) as { cpuMs: number }).cpuMs;
    } catch {
      // not a report
    }
  });
  return w;
}

async function main(): Promise<void> {
  const n = Number(opts.enrollments);
  const mailboxes = Number(opts.mailboxes);
  const spreadMs = Number(opts.spread) * 1000;
  const database = await createTestDatabase('postgres');
  const db = database.storage.db;
  const workers: Worker[] = [];
  try {
    log(`seeding ${n} enrollments over ${mailboxes} mailboxes`);
    const t = Date.now();
    const sequences: Array<{ id: string; orgId: string; accountId: string }> = [];
    for (let m = 0; m < mailboxes; m++) {
      const user = await createUser(db, {
        email: `seller${m}@sales.test`,
        password: 'bench password 123',
        isAdmin: false,
        displayName: `Seller ${m}`,
      });
      const accountId = newId();
      await db
        .insertInto('email_accounts')
        .values({
          id: accountId,
          org_id: user.orgId,
          user_id: user.id,
          email: `seller${m}@sales.test`,
          provider: 'other',
          auth_kind: 'password',
          sync_mode: 'two-way',
          status: 'active',
          status_detail: null,
          next_retry_at: null,
          last_synced_at: t,
          history_days: 90,
          imap_host: '127.0.0.1',
          imap_port: 1,
          imap_secure: 0,
          smtp_host: '127.0.0.1',
          smtp_port: 1,
          smtp_secure: 0,
          username: `seller${m}@sales.test`,
          credentials_enc: 'unused',
          smtp_mode: 'mailbox',
          smtp_custom_enc: null,
          caldav_url: null,
          bcc_token: accountId.replace(/-/g, ''),
          visibility: 'private',
          generation: 1,
          progress_json: null,
          sync_requested_at: null,
          created_at: t,
          updated_at: t,
        })
        .execute();
      const id = newId();
      await db
        .insertInto('sequences')
        .values({
          id,
          org_id: user.orgId,
          owner_user_id: user.id,
          account_id: accountId,
          name: `Outreach ${m}`,
          steps_json: JSON.stringify([
            {
              type: 'email',
              waitMinutes: 0,
              subject: 'A question, {{contact.firstName | "there"}}',
              html: '<p>Hi {{contact.firstName | "there"}},</p><p>Would a short call next week help?</p>',
            },
          ]),
          send_window_json: null,
          daily_limit: null,
          paused: 0,
          created_at: t,
          updated_at: t,
        })
        .execute();
      sequences.push({ id, orgId: user.orgId, accountId });
    }
    // Due times spread evenly over the window, starting 15 s from now (the workers' start-up).
    const t0 = Date.now() + 15_000;
    for (let i = 0; i < n; i += 500) {
      const contacts = [];
      const addresses = [];
      const enrollments = [];
      for (let k = i; k < Math.min(n, i + 500); k++) {
        const s = sequences[k % mailboxes]!;
        const id = newId();
        const address = `lead${k}@buyer${k % 97}.test`;
        contacts.push({
          id,
          org_id: s.orgId,
          first_name: `Lead${k}`,
          last_name: null,
          company: null,
          source: 'manual' as const,
          search_text: address,
          created_at: t,
          updated_at: t,
        });
        addresses.push({
          id: newId(),
          org_id: s.orgId,
          contact_id: id,
          address,
          position: 0,
          bounced_at: null,
          created_at: t,
        });
        enrollments.push({
          id: newId(),
          sequence_id: s.id,
          org_id: s.orgId,
          contact_id: id,
          address,
          state: 'active' as const,
          step: 0,
          next_at: t0 + Math.floor((k / n) * spreadMs),
          waiting_until: null,
          last_auto_reply_id: null,
          thread_message_id: null,
          enrolled_at: t,
          stopped_at: null,
          stop_reason: null,
          updated_at: t,
        });
      }
      await db.insertInto('contacts').values(contacts).execute();
      await db.insertInto('contact_addresses').values(addresses).execute();
      await db.insertInto('sequence_enrollments').values(enrollments).execute();
    }
    log('starting two workers');
    const killAt = Math.floor(n * Number(opts['kill-at']));
    // A runs about half of the steps: it dies at its share of the first killAt.
    const a = spawnWorker('A', database.databaseUrl!, database.dataDir, Math.max(1, Math.floor(killAt / 2)));
    const b = spawnWorker('B', database.databaseUrl!, database.dataDir);
    workers.push(a, b);
    let killed = false;
    let killedCpu = 0;
    const deadline = Date.now() + Number(opts['max-minutes']) * 60_000;
    let done = 0;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      const row = await db
        .selectFrom('sequence_sends')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('state', '=', 'done')
        .executeTakeFirst();
      done = Number(row?.n ?? 0);
      if (!killed && (a.child.exitCode !== null || a.child.signalCode !== null)) {
        killed = true;
        killedCpu = a.cpuMs;
        log(`worker A died (${a.child.signalCode}) at ${done} steps recorded (its CPU ${fmt(killedCpu)} ms)`);
      }
      if (done >= n) break;
    }
    const finishedAt = Date.now();
    b.child.kill('SIGTERM');
    await new Promise((r) => b.child.once('exit', r));
    const sends = await db.selectFrom('sequence_sends').select(['due_at', 'sent_at', 'state', 'created_at']).execute();
    // A claim keeps its created_at when another worker takes it over after its lease.
    const takenOver = sends.filter(
      (s) => s.state === 'done' && Number(s.sent_at) - Number(s.created_at) >= Number(opts['lease-seconds']) * 1000,
    ).length;
    const delays = sends
      .filter((s) => s.state === 'done')
      .map((s) => Number(s.sent_at) - Number(s.due_at))
      .sort((x, y) => x - y);
    const pairs = await db
      .selectFrom('sequence_sends')
      .select(sql<number>`count(distinct enrollment_id || ':' || step_index)`.as('n'))
      .executeTakeFirst();
    const messages = await db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('message_id_header', 'like', 'seq.%')
      .executeTakeFirst();
    const distinctMessages = await db
      .selectFrom('messages')
      .select(sql<number>`count(distinct message_id_header)`.as('n'))
      .where('message_id_header', 'like', 'seq.%')
      .executeTakeFirst();
    const outbox = await db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    const cpu = (killed ? killedCpu : a.cpuMs) + b.cpuMs;
    const ran = delays.length;
    const lines = [
      `Run: ${new Date().toISOString().slice(0, 16)}Z, ${os.cpus().length} cores (shared with other work), Node ${process.version}, PostgreSQL;`,
      `${fmt(n)} enrollments over ${mailboxes} mailboxes, due times spread over ${opts.spread} s, two worker processes, A killed (SIGKILL) right after queueing its ${fmt(Math.floor(killAt / 2))}th step, before recording it, claim lease ${opts['lease-seconds']} s;`,
      `command: \`npx tsx bench/sequences.ts --enrollments ${n} --mailboxes ${mailboxes} --spread ${opts.spread}\``,
      '',
      '| figure | value |',
      '|---|---|',
      `| steps run (sequence_sends done) | ${fmt(ran)} of ${fmt(n)} |`,
      `| distinct (enrollment, step) claims | ${fmt(Number(pairs?.n ?? 0))} |`,
      `| steps taken over from the dead worker's claim (after the lease) | ${fmt(takenOver)} |`,
      `| step messages stored / distinct Message-IDs / outbox rows | ${fmt(Number(messages?.n ?? 0))} / ${fmt(Number(distinctMessages?.n ?? 0))} / ${fmt(Number(outbox?.n ?? 0))} |`,
      `| delay from due time to queued | ${spread(delays)} |`,
      `| share within 60 s of due | ${fmt((100 * delays.filter((d) => d <= 60_000).length) / Math.max(1, ran), 1)} % |`,
      `| workers' CPU (A until killed + B) | ${fmt(cpu / 1000, 1)} s |`,
      `| CPU per 1,000 steps | ${fmt(cpu / Math.max(1, ran), 1)} s |`,
      `| wall time from first due to last step | ${fmt((finishedAt - t0) / 1000, 1)} s |`,
    ];
    const block = lines.join('\n');
    console.log(block);
    log(`p95 ${fmt(percentile(delays, 95))} ms`);
    if (!opts['no-readme']) writeFiguresBlock(path.resolve('bench/README.md'), 'sequences', '## Sequences', block);
  } finally {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await database.destroy();
  }
}

if (opts.worker) void worker();
else
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
