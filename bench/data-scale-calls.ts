// Data scale, in process (issue 18): one endpoint's function called over and over in a row on a kept data-scale
// database (bench/data-scale.ts --keep), for the 8 users the HTTP bench asks as, timing each call and the process's
// CPU. No HTTP, no concurrency: on a machine whose speed moves within minutes this tells two versions of a statement
// apart where the 8-client p95 cannot (bench/README.md, "Data scale", thirteenth session).
//
//   npx tsx bench/data-scale-calls.ts --dir DIR [--database-url URL] [--call word|phrase|inbox|badge] [--calls 300]
import { parseArgs } from 'node:util';
import { inbox, unreadCount } from '../src/messages/messages.js';
import { openStorage } from '../src/storage/database.js';
import type { User } from '../src/users/users.js';
import { clientUsers, SEARCH_PHRASE, SEARCH_WORD } from './support/data-scale-clients.js';
import { fmt, percentile } from './support/format.js';

const { values: opts } = parseArgs({
  options: {
    dir: { type: 'string' },
    'database-url': { type: 'string' },
    call: { type: 'string', default: 'word' },
    calls: { type: 'string', default: '300' },
  },
});
if (!opts.dir) throw new Error('--dir DIR (a database kept by bench/data-scale.ts --keep) is required');

const CALLS: Record<string, (db: Parameters<typeof inbox>[0], user: User) => Promise<unknown>> = {
  // The HTTP bench's own queries (bench/data-scale.ts, ENDPOINTS).
  word: (db, user) => inbox(db, user, { limit: 50, q: SEARCH_WORD }),
  phrase: (db, user) => inbox(db, user, { limit: 50, q: SEARCH_PHRASE }),
  inbox: (db, user) => inbox(db, user, { limit: 50 }),
  badge: (db, user) => unreadCount(db, user),
};
const call = CALLS[opts.call!];
if (!call) throw new Error(`--call is one of ${Object.keys(CALLS).join(', ')}`);
const count = Number(opts.calls);

const storage = openStorage({
  dataDir: opts.dir,
  databaseUrl: opts['database-url'] ?? null,
  sqliteMmapBytes: Number(process.env.CONVERSA_SQLITE_MMAP_MB ?? 0) * 1024 * 1024,
});
try {
  const db = storage.db;
  // The users the HTTP bench's 8 clients ask as.
  const users = await clientUsers(db, 8);
  // Untimed: each user's first call (connections, prepared statements, caches).
  for (const user of users) await call(db, user);
  const times: number[] = [];
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await call(db, users[i % users.length]!);
    times.push(performance.now() - t);
  }
  const wall = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  times.sort((a, b) => a - b);
  const ms = (value: number) => fmt(value, 2);
  console.log(
    `${opts.call} (${storage.dialect}): ${count} calls, mean ${ms(wall / count)} ms, ` +
      `p50 ${ms(percentile(times, 50))}, p95 ${ms(percentile(times, 95))} ms; ` +
      `this process's CPU ${ms((cpu.user + cpu.system) / 1000 / count)} ms per call`,
  );
} finally {
  await storage.close();
}
