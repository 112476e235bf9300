// Full-text search (issue 18): how long `q` takes on the inbox and on a contact's timeline over a seeded set, and
// what the index costs on disk per message. Messages are stored through storeMessages (the intake every path uses,
// so the index is written as in production), from synthetic parsed mail: Zipf-distributed words of a 5,000-word
// vocabulary (Portuguese accented words among them), 80–400 words of body, 30% with an attachment, 10 users with a
// private and a shared mailbox each, 2,000 contacts. The searches run as one user (their own mail and the shared
// mailboxes', never the private ones of others) through the same functions the routes call.
//
//   npx tsx bench/full-text-search.ts [--messages 100000] [--postgres] [--runs 40]
import { performance } from 'node:perf_hooks';
import { CompiledQuery, sql, type RootOperationNode } from 'kysely';
import type { Db } from '../src/storage/database.js';
import { storeMessages } from '../src/mail/intake/store-messages.js';
import type { MessageToStore } from '../src/mail/intake/message-to-store.js';
import type { ParsedMessage } from '../src/mail/mime/parse-message.js';
import { contactMessages, inbox } from '../src/messages/messages.js';
import { createBlobStore } from '../src/storage/blob-store.js';
import { newId } from '../src/storage/ids.js';
import { createUser, findUserById, type User } from '../src/users/users.js';
import { createTestDatabase, type Dialect } from '../test/support/databases.js';
import { fmt, log, percentile, seeded } from './support/format.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => Number(args[args.indexOf(name) + 1] || fallback) || fallback;
const MESSAGES = args.includes('--messages') ? arg('--messages', 100_000) : 100_000;
const RUNS = args.includes('--runs') ? arg('--runs', 40) : 40;
const dialects: Dialect[] = args.includes('--postgres-only')
  ? ['postgres']
  : args.includes('--postgres')
    ? ['sqlite', 'postgres']
    : ['sqlite'];
const USERS = 10;
const CONTACTS = 2_000;
const VOCABULARY = 5_000;
const BATCH = 500;

const rnd = seeded(18);
const SYLLABLES = ['ba', 'ca', 'da', 'fe', 'ga', 'li', 'ma', 'no', 'pa', 'ra', 'sa', 'ta', 've', 'zo', 'qui', 'lho'];
const vocabulary: string[] = [];
for (let i = 0; vocabulary.length < VOCABULARY; i++) {
  let w = '';
  for (let n = i + 7; n > 0; n = Math.floor(n / SYLLABLES.length)) w += SYLLABLES[n % SYLLABLES.length];
  vocabulary.push(w);
}
// Known words at known ranks: a very common one, an accented common one, a middling one, a rare one.
vocabulary[3] = 'cliente';
vocabulary[40] = 'reunião';
vocabulary[400] = 'orçamento';
vocabulary[4_900] = 'jabuticaba';
// Zipf (s = 1): the cumulative weights, sampled by binary search.
const cumulative: number[] = [];
let total = 0;
for (let i = 0; i < VOCABULARY; i++) cumulative.push((total += 1 / (i + 1)));
function word(): string {
  const x = rnd() * total;
  let lo = 0;
  let hi = VOCABULARY - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return vocabulary[lo]!;
}
function words(n: number): string {
  return Array.from({ length: n }, word).join(' ');
}

function parsedMessage(subject: string, body: string, from: string, to: string, attachment: string | null) {
  const parsed: ParsedMessage = {
    messageId: null,
    inReplyTo: null,
    references: [],
    subject,
    date: null,
    from: { address: from, name: null },
    sender: null,
    replyTo: [],
    to: [{ address: to, name: null }],
    cc: [],
    bcc: [],
    listId: null,
    originalFrom: null,
    autoSubmitted: null,
    precedence: null,
    contentType: attachment ? 'multipart/mixed' : 'text/plain',
    reportType: null,
    text: body,
    html: null,
    snippet: body.slice(0, 140),
    attachments: attachment
      ? [
          {
            filename: attachment,
            contentType: 'application/pdf',
            size: 8,
            content: Buffer.from('%PDF-1.4'),
            contentId: null,
            inline: false,
          },
        ]
      : [],
    size: body.length + 400,
    parseError: null,
  };
  return parsed;
}

async function run(dialect: Dialect): Promise<void> {
  const database = await createTestDatabase(dialect);
  const db = database.storage.db;
  const blobs = createBlobStore(`${database.dataDir}/blobs`);
  try {
    const users: User[] = [];
    for (let i = 0; i < USERS; i++) {
      const created = await createUser(db, {
        email: `bench${i}@example.test`,
        password: 'bench password',
        isAdmin: i === 0,
      });
      users.push((await findUserById(db, created.id))!);
    }
    const orgId = users[0]!.orgId;
    const t = Date.now();
    const boxes: Array<{ id: string; userId: string; shared: boolean; email: string }> = [];
    for (const [i, user] of users.entries()) {
      for (const shared of [false, true]) {
        const id = newId(t);
        const email = `box${boxes.length}@example.test`;
        await db
          .insertInto('email_accounts')
          .values({
            id,
            org_id: orgId,
            user_id: user.id,
            email,
            provider: 'other',
            auth_kind: 'password',
            sync_mode: 'two-way',
            status: 'needs_reconnect',
            status_detail: null,
            next_retry_at: null,
            last_synced_at: null,
            history_days: 365,
            imap_host: '127.0.0.1',
            imap_port: 143,
            imap_secure: 0,
            smtp_host: '127.0.0.1',
            smtp_port: 587,
            smtp_secure: 0,
            username: `${i}-${shared}`,
            credentials_enc: 'x',
            smtp_mode: 'mailbox',
            smtp_custom_enc: null,
            caldav_url: null,
            bcc_token: newId(t),
            visibility: shared ? 'shared' : 'private',
            generation: 1,
            progress_json: null,
            sync_requested_at: null,
            created_at: t,
            updated_at: t,
          })
          .execute();
        boxes.push({ id, userId: user.id, shared, email });
      }
    }
    const contactIds: string[] = [];
    for (let c = 0; c < CONTACTS; c += 500) {
      const rows = Array.from({ length: Math.min(500, CONTACTS - c) }, (_, k) => ({ id: newId(t), n: c + k }));
      await db
        .insertInto('contacts')
        .values(
          rows.map((r) => ({
            id: r.id,
            org_id: orgId,
            first_name: `Pessoa${r.n}`,
            last_name: null,
            company: null,
            source: 'manual' as const,
            search_text: `pessoa${r.n} contact${r.n}@client.test`,
            created_at: t,
            updated_at: t,
          })),
        )
        .execute();
      await db
        .insertInto('contact_addresses')
        .values(
          rows.map((r) => ({
            id: newId(t),
            org_id: orgId,
            contact_id: r.id,
            address: `contact${r.n}@client.test`,
            position: 0,
            bounced_at: null,
            created_at: t,
          })),
        )
        .execute();
      contactIds.push(...rows.map((r) => r.id));
    }

    log(`${dialect}: seeding ${MESSAGES} messages`);
    const seedStart = performance.now();
    const yearAgo = t - 365 * 24 * 3_600_000;
    for (let done = 0, b = 0; done < MESSAGES; b++) {
      const box = boxes[b % boxes.length]!;
      const batch: MessageToStore[] = [];
      for (let k = 0; k < BATCH && done < MESSAGES; k++, done++) {
        // Contact 0 is the busiest (a tenth of the mail), the rest spread.
        const c = rnd() < 0.1 ? 0 : Math.floor(rnd() * CONTACTS);
        const from = rnd() < 0.8 ? `contact${c}@client.test` : `stranger${done}@elsewhere.test`;
        let body = words(80 + Math.floor(rnd() * 320));
        if (rnd() < 0.1) body = body.replace(' ', ' proposta comercial ');
        const subject = words(3 + Math.floor(rnd() * 5));
        const attachment = rnd() < 0.3 ? `${word()}-${word()}.pdf` : null;
        const parsed = parsedMessage(subject, body, from, box.email, attachment);
        batch.push({
          dedupeKey: `bench-${done}`,
          messageId: null,
          emailId: null,
          threadId: null,
          inReplyTo: null,
          references: [],
          subject,
          date: yearAgo + Math.floor((done / MESSAGES) * 365 * 24 * 3_600_000),
          from: { address: from, name: null },
          participants: [
            { role: 'from', address: from, name: null },
            { role: 'to', address: box.email, name: null },
          ],
          mappingAddresses: [from],
          direction: 'incoming',
          source: 'sync',
          parsed,
          raw: null,
          size: parsed.size,
          location: null,
        });
      }
      await storeMessages(
        db,
        { orgId, ownerUserId: box.userId, shared: box.shared, accountId: box.id, blobs },
        batch,
        null,
      );
      if (b % 20 === 0) log(`${dialect}: ${done} stored`);
    }
    const seedSeconds = (performance.now() - seedStart) / 1000;

    let indexBytes: number;
    let totalBytes: number;
    if (dialect === 'sqlite') {
      await sql`pragma wal_checkpoint(truncate)`.execute(db);
      const rows = await sql<{
        name: string;
        bytes: number;
      }>`select name, sum(pgsize) as bytes from dbstat group by name`.execute(db);
      indexBytes = rows.rows
        .filter((r) => r.name.startsWith('message_search') || r.name.startsWith('sqlite_autoindex_message_search'))
        .reduce((a, r) => a + Number(r.bytes), 0);
      totalBytes = rows.rows.reduce((a, r) => a + Number(r.bytes), 0);
    } else {
      await sql`vacuum analyze`.execute(db);
      indexBytes = Number(
        (await sql<{ n: string }>`select pg_total_relation_size('message_search') as n`.execute(db)).rows[0]!.n,
      );
      totalBytes = Number(
        (await sql<{ n: string }>`select pg_database_size(current_database()) as n`.execute(db)).rows[0]!.n,
      );
    }

    const user = users[1]!;
    if (args.includes('--explain')) await explain(db, dialect, user, contactIds[0]!);
    const queries: Array<[string, (d: Db, q: string) => Promise<unknown>, string]> = [
      ['inbox, common word', (d, q) => inbox(d, user, { q, limit: 50 }), 'cliente '],
      ['inbox, accented common word unaccented', (d, q) => inbox(d, user, { q, limit: 50 }), 'reuniao '],
      ['inbox, middling word', (d, q) => inbox(d, user, { q, limit: 50 }), 'orcamento '],
      ['inbox, rare word', (d, q) => inbox(d, user, { q, limit: 50 }), 'jabuticaba '],
      ['inbox, phrase', (d, q) => inbox(d, user, { q, limit: 50 }), '"proposta comercial"'],
      ['inbox, two words', (d, q) => inbox(d, user, { q, limit: 50 }), 'cliente orcamento '],
      ['inbox, prefix while typing', (d, q) => inbox(d, user, { q, limit: 50 }), 'orcam'],
      [
        'inbox, page 10 of a common word',
        (d, q) => inbox(d, user, { q, limit: 50, cursor: Buffer.from('search:450').toString('base64url') }),
        'cliente ',
      ],
      [
        'contact timeline, common word',
        (d, q) => contactMessages(d, user, contactIds[0]!, { q, limit: 50 }),
        'cliente ',
      ],
      [
        'contact timeline, phrase',
        (d, q) => contactMessages(d, user, contactIds[0]!, { q, limit: 50 }),
        '"proposta comercial"',
      ],
    ];
    const out: string[] = [];
    for (const [name, call, q] of queries) {
      await call(db, q);
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const s = performance.now();
        await call(db, q);
        times.push(performance.now() - s);
      }
      times.sort((a, b) => a - b);
      // The statement that finds the candidates alone (the rest: ranking them, the page's people, read state, excerpts).
      const ranking = await rankingStatement(db, (d) => call(d, q));
      const sqlTimes: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const s = performance.now();
        await db.executeQuery(ranking);
        sqlTimes.push(performance.now() - s);
      }
      sqlTimes.sort((a, b) => a - b);
      const count = await db.executeQuery(countOf(ranking));
      out.push(
        `| ${dialect} | ${name} (\`${q.trim()}\`) | ${Number((count.rows[0] as { n: number }).n)} | ${fmt(percentile(times, 50))} | ${fmt(percentile(times, 95))} | ${fmt(percentile(sqlTimes, 50))} | ${fmt(percentile(sqlTimes, 95))} |`,
      );
    }
    console.log(
      `\n${dialect}: ${MESSAGES} messages seeded in ${seedSeconds.toFixed(0)} s; index ${(indexBytes / MESSAGES).toFixed(0)} bytes/message (${(indexBytes / 1e6).toFixed(1)} MB of ${(totalBytes / 1e6).toFixed(1)} MB)`,
    );
    console.log(
      '| database | query | candidates | p50 ms | p95 ms | candidates SQL p50 ms | candidates SQL p95 ms |\n|---|---|---|---|---|---|---|',
    );
    console.log(out.join('\n'));
  } finally {
    await database.destroy();
  }
}

/** The statement that ranks a search's page (the one that reads the index), as `call` runs it. */
async function rankingStatement(db: Db, call: (d: Db) => Promise<unknown>): Promise<CompiledQuery> {
  const nodes: RootOperationNode[] = [];
  await call(
    db.withPlugin({
      transformQuery: (a) => {
        nodes.push(a.node);
        return a.node;
      },
      transformResult: async (a) => a.result,
    }),
  );
  for (const node of nodes) {
    const compiled = db.getExecutor().compileQuery(node, { queryId: 'ranking' } as never);
    if (compiled.sql.includes('message_search')) return compiled;
  }
  throw new Error('no ranking statement');
}

/** How many candidates the ranking statement returns (at most MAX_SEARCH_RESULTS). */
function countOf(ranking: CompiledQuery): CompiledQuery {
  return CompiledQuery.raw(`select count(*) as n from (${ranking.sql}) as c`, [...ranking.parameters]);
}

/** Prints the plan of each statement a search runs (the ranked ids; the page's rows), for a common and a rare word. */
async function explain(db: Db, dialect: Dialect, user: User, contactId: string): Promise<void> {
  for (const [name, call] of [
    ['inbox, common word', (d: Db) => inbox(d, user, { q: 'cliente ', limit: 50 })],
    ['inbox, rare word', (d: Db) => inbox(d, user, { q: 'jabuticaba ', limit: 50 })],
    ['contact, phrase', (d: Db) => contactMessages(d, user, contactId, { q: '"proposta comercial"', limit: 50 })],
  ] as const) {
    const nodes: RootOperationNode[] = [];
    await call(
      db.withPlugin({
        transformQuery: (a) => {
          nodes.push(a.node);
          return a.node;
        },
        transformResult: async (a) => a.result,
      }),
    );
    console.log(`\n${dialect}: ${name}`);
    for (const node of nodes) {
      const compiled = db.getExecutor().compileQuery(node, { queryId: 'explain' } as never);
      const prefix = dialect === 'sqlite' ? 'explain query plan ' : 'explain (analyze, costs off, timing off) ';
      const plan = await db.executeQuery(CompiledQuery.raw(prefix + compiled.sql, [...compiled.parameters]));
      const s = performance.now();
      await db.executeQuery(compiled);
      const ms = performance.now() - s;
      console.log(`[${ms.toFixed(1)} ms] ${compiled.sql.replace(/\s+/g, ' ').slice(0, 300)}`);
      for (const row of plan.rows as Array<Record<string, unknown>>)
        console.log(`  ${String(row.detail ?? row['QUERY PLAN'])}`);
    }
  }
}

for (const dialect of dialects) await run(dialect);
