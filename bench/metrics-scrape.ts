// /metrics at scale: the time of one scrape (the database reads and the rendering, as GET /metrics does them) and the
// size of its text, with N mailboxes in mixed states (a tenth in error with a code, all with a calendar). The queues
// are counted through their indexes and are not seeded here. SQLite always; PostgreSQL too with --postgres.
//
//   npx tsx bench/metrics-scrape.ts [--postgres] [--accounts 5000] [--runs 20]
import { performance } from 'node:perf_hooks';
import { createConversaMetrics } from '../src/ops/conversa-metrics.js';
import { newId } from '../src/storage/ids.js';
import type { AccountStatus } from '../src/storage/schema.js';
import { createUser, findUserById } from '../src/users/users.js';
import { createTestDatabase, type Dialect } from '../test/support/databases.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => Number(args[args.indexOf(name) + 1] || fallback) || fallback;
const accounts = args.includes('--accounts') ? option('--accounts', 5000) : 5000;
const runs = args.includes('--runs') ? option('--runs', 20) : 20;
const dialects: Dialect[] = args.includes('--postgres') ? ['sqlite', 'postgres'] : ['sqlite'];
const STATES: AccountStatus[] = ['active', 'active', 'active', 'active', 'active', 'active', 'syncing', 'connecting'];

async function run(dialect: Dialect): Promise<void> {
  const database = await createTestDatabase(dialect);
  const db = database.storage.db;
  try {
    const created = await createUser(db, { email: 'bench@example.test', password: 'bench password', isAdmin: true });
    const user = (await findUserById(db, created.id))!;
    const now = Date.now();
    for (let start = 0; start < accounts; start += 200) {
      const rows = [];
      for (let i = start; i < Math.min(accounts, start + 200); i++) {
        const failing = i % 10 === 0;
        rows.push({
          id: newId(),
          org_id: user.orgId,
          user_id: user.id,
          email: `mailbox${i}@bench.test`,
          provider: 'other',
          auth_kind: 'password' as const,
          sync_mode: 'two-way' as const,
          status: failing ? ('needs_reconnect' as const) : STATES[i % STATES.length]!,
          status_detail: failing ? 'refused' : null,
          status_detail_code: failing ? (i % 20 === 0 ? 'SYNC_PASSWORD_REFUSED' : 'MAIL_HOST_UNREACHABLE') : null,
          next_retry_at: null,
          last_synced_at: now - (i % 600) * 1000,
          history_days: 30,
          imap_host: 'imap.bench.test',
          imap_port: 993,
          imap_secure: 1,
          smtp_host: 'smtp.bench.test',
          smtp_port: 465,
          smtp_secure: 1,
          username: `mailbox${i}`,
          credentials_enc: 'sealed',
          smtp_mode: 'mailbox' as const,
          smtp_custom_enc: null,
          caldav_url: null,
          bcc_token: `bcc-${i}`,
          visibility: 'shared' as const,
          generation: 1,
          progress_json: null,
          sync_requested_at: null,
          calendar_status: 'active' as const,
          calendar_synced_at: now - 60_000,
          created_at: now,
          updated_at: now,
        });
      }
      await db.insertInto('email_accounts').values(rows).execute();
    }
    const metrics = createConversaMetrics(db);
    await metrics.scrape(); // warm-up
    const times: number[] = [];
    let bytes = 0;
    for (let r = 0; r < runs; r++) {
      const started = performance.now();
      bytes = Buffer.byteLength(await metrics.scrape());
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    const p95 = times[Math.min(times.length - 1, Math.ceil(times.length * 0.95) - 1)]!;
    console.log(
      `${dialect}: ${accounts} mailboxes, scrape median ${median.toFixed(1)} ms (p95 ${p95.toFixed(1)} ms), ` +
        `${(bytes / 1024).toFixed(0)} KB of text`,
    );
  } finally {
    await database.destroy();
  }
}

for (const dialect of dialects) await run(dialect);
