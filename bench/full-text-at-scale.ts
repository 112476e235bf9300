// Full-text search at scale (issue 18), in process, on a database kept by data-scale.ts: the functions the routes call
// (inbox and a contact's timeline with `q`), for several users of the seed, one call at a time, with the time of each
// call split by statement kind (the candidates, the ranking's reads, the rest: summaries and excerpts) and the
// machine's load. Opening the database applies the newer migrations first, timed (an upgrade's cost at this size).
// See bench/README.md, "Full-text search".
//
//   npx tsx bench/full-text-at-scale.ts --dir DIR [--database-url URL] [--users 5] [--runs 10]
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Kysely } from 'kysely';
import { contactMessages, inbox } from '../src/messages/messages.js';
import { migrateToLatest, openStorage } from '../src/storage/database.js';
import type { Database } from '../src/storage/schema.js';
import { sqliteDialect } from '../src/storage/sqlite/open-sqlite.js';
import { postgresDialect } from '../src/storage/postgres/open-postgres.js';
import { findUserById, type User } from '../src/users/users.js';
import { fmt, log, now, percentile } from './support/format.js';
import { CLK_TCK, machineBusyTicks } from './support/proc-stats.js';

const { values: opts } = parseArgs({
  options: {
    dir: { type: 'string' },
    'database-url': { type: 'string' },
    users: { type: 'string', default: '5' },
    runs: { type: 'string', default: '10' },
  },
});
if (!opts.dir) throw new Error('--dir DIR (a data-scale.ts --keep directory) is needed');
const DATA_DIR = opts.dir;
const DATABASE_URL = opts['database-url'] ?? null;
const RUNS = Number(opts.runs);

/** Where a statement's time goes: the candidates (MATCH / @@), the ranking's reads (fieldScores), the rest. */
type Kind = 'candidates' | 'ranking' | 'other';
const spent: Record<Kind, number> = { candidates: 0, ranking: 0, other: 0 };
function kindOf(text: string): Kind {
  if (/ match |@@/i.test(text)) return 'candidates';
  // fieldScores: participants under MAX_RANKED_PEOPLE, attachment names unordered (the page's excerpts order them).
  if (
    /"position" < /.test(text) ||
    (/^select "message_id", "filename" from "attachments"/.test(text) && !/order by/.test(text))
  )
    return 'ranking';
  return 'other';
}

async function main(): Promise<void> {
  const storage = openStorage({ dataDir: DATA_DIR, databaseUrl: DATABASE_URL });
  const migrating = now();
  const result = await migrateToLatest(storage.db);
  const ran = (result.results ?? []).map((r) => r.migrationName);
  if (ran.length) log(`migrations ${ran.join(', ')} took ${fmt((now() - migrating) / 1000, 1)} s`);
  const db = new Kysely<Database>({
    dialect: DATABASE_URL ? postgresDialect(DATABASE_URL) : sqliteDialect(path.join(DATA_DIR, 'conversa.db')),
    log: (event) => {
      if (event.level === 'query') spent[kindOf(event.query.sql)] += event.queryDurationMillis;
    },
  });
  const messages = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  // The users with the most mailboxes' mail: every seeded user has two mailboxes alike.
  const userIds = (
    await db
      .selectFrom('email_accounts')
      .select('user_id')
      .groupBy('user_id')
      .orderBy('user_id')
      .limit(Number(opts.users))
      .execute()
  ).map((r) => r.user_id);
  const users = (await Promise.all(userIds.map((id) => findUserById(db, id)))).filter((u): u is User => !!u);
  // A contact of some size for the timeline, and a rare word: that contact's address's local part.
  const contact = await db
    .selectFrom('message_contacts')
    .innerJoin('contact_addresses', 'contact_addresses.contact_id', 'message_contacts.contact_id')
    .select(['message_contacts.contact_id', 'contact_addresses.address'])
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .groupBy(['message_contacts.contact_id', 'contact_addresses.address'])
    .orderBy('n', 'desc')
    .limit(1)
    .executeTakeFirstOrThrow();
  const rare = contact.address.split('@')[0]!;
  log(
    `${fmt(Number(messages.n))} messages; contact with ${contact.n} messages; rare word ${rare}; ${users.length} users`,
  );
  const calls: Array<[string, (u: User) => Promise<{ items: unknown[] }>]> = [
    ['inbox: orçamento', (u) => inbox(db, u, { limit: 50, q: 'orçamento' })],
    ['inbox: "proposta comercial"', (u) => inbox(db, u, { limit: 50, q: '"proposta comercial"' })],
    ['inbox: reuniao', (u) => inbox(db, u, { limit: 50, q: 'reuniao' })],
    [`inbox: rare word`, (u) => inbox(db, u, { limit: 50, q: rare })],
    ['timeline: orçamento', (u) => contactMessages(db, u, contact.contact_id, { limit: 50, q: 'orçamento' })],
    [
      'timeline: "proposta comercial"',
      (u) => contactMessages(db, u, contact.contact_id, { limit: 50, q: '"proposta comercial"' }),
    ],
  ];
  console.log(`| query | results (user 1) | p50 ms | p95 ms | candidates ms (mean) | ranking reads ms (mean) |`);
  console.log(`|---|---|---|---|---|---|`);
  const busy0 = machineBusyTicks();
  const wall0 = now();
  for (const [name, call] of calls) {
    const times: number[] = [];
    let first = -1;
    spent.candidates = spent.ranking = spent.other = 0;
    await call(users[0]!); // warm the cache
    spent.candidates = spent.ranking = spent.other = 0;
    for (let r = 0; r < RUNS; r++) {
      for (const user of users) {
        const t = now();
        const page = await call(user);
        times.push(now() - t);
        if (first < 0) first = page.items.length;
      }
    }
    times.sort((a, b) => a - b);
    const n = times.length;
    console.log(
      `| ${name} | ${first} | ${fmt(percentile(times, 50))} | ${fmt(percentile(times, 95))} | ` +
        `${fmt(spent.candidates / n, 1)} | ${fmt(spent.ranking / n, 1)} |`,
    );
  }
  const cores = ((machineBusyTicks() - busy0) / CLK_TCK / ((now() - wall0) / 1000)).toFixed(2);
  console.log(
    `\nmachine: ${cores} of ${os.cpus().length} cores busy on average (all processes), loadavg ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  await db.destroy();
  await storage.close();
}

await main();
