// Data scale (issue 18): a year of a 50-person team's mail — 1,000,000 messages — seeded THROUGH THE STORAGE LAYER
// (the app's opener and migrations, contacts by importContacts, messages by the intake's storeMessages in batches,
// so whatever the intake indexes is seeded too), then measured over HTTP against a spawned `conversa serve` with 8
// concurrent keep-alive clients, and every endpoint's SQL EXPLAINed (bench/data-scale-plans.md). See bench/README.md,
// "Data scale".
//
//   npm run build && npx tsx bench/data-scale.ts [--messages 1000000] [--postgres] [--keep] [--seed-only]
//   npx tsx bench/data-scale.ts --measure-only --dir DIR [--database-url URL]     (a kept database)
//   other options: --writers N (PostgreSQL seeding writers, default 4), --batch N (storeMessages batch, default 500),
//   --requests N (per client per endpoint, default 200), --endpoint-seconds S (cap per endpoint, default 60),
//   --warmup N (untimed requests per client before each endpoint, default 10; 1 before 2026-12-06's seventh session),
//   --clients N (default 8), --seed-minutes M (stop seeding after M minutes and measure what is there), --plans FILE (default bench/data-scale-plans.md), --no-plans-file,
//   --only TEXT (time only the endpoints whose name contains TEXT, e.g. --only badge; the plans are all written),
//   --child-node-args="ARGS" (node options for the measured `conversa serve`, e.g. --child-node-args="--cpu-prof"),
//   --no-wal-worker (SQLite: the seed's connection checkpoints its WAL itself, as before 2026-12-06's eleventh session,
//   instead of on a worker thread once the database reaches 1 GiB, as `conversa serve` does)
//
// The data (seeded PRNG: every run builds the same): one organisation, 50 users, 100 mailboxes (2 per user; every
// third shared, the rest private), 20,000 contacts, threads of 1–20 messages (replies carry In-Reply-To/References),
// half incoming and half outgoing, 10% of threads with a stranger (no contact), 10% with a second contact in Cc,
// bodies of 0.5–4 KB drawn from a Portuguese + English vocabulary with accents, dates over one year, 70% read, 30% with
// 1–3 attachments whose `size` is realistic (20 KB – 5 MB, log-uniform) while their BYTES come from a pool of 500
// distinct small contents, and each message's raw source likewise from a pool of 1,000 (the disk stays sane: the
// blob store holds ~1,500 files, not a year of mail; blob sizes in the database are those of the pool).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CompiledQuery, Kysely, sql } from 'kysely';
import { contactMessages, getThread, inbox, unreadCount } from '../src/messages/messages.js';
import { importContacts, listContacts, type ImportRow } from '../src/contacts/contacts.js';
import {
  isTransientDbError,
  storeMessages,
  type MessageToStore,
  type StoreContext,
} from '../src/mail/intake/store-messages.js';
import { dedupeKey } from '../src/mail/rules/message-key.js';
import { openBlobStore } from '../src/storage/open-blob-store.js';
import { migrateToLatest, openStorage, type Db, type Storage } from '../src/storage/database.js';
import { newId } from '../src/storage/ids.js';
import type { Database } from '../src/storage/schema.js';
import { sqliteDialect } from '../src/storage/sqlite/open-sqlite.js';
import { WAL_WORKER_FROM_BYTES } from '../src/storage/sqlite/wal-checkpointer.js';
import { postgresDialect } from '../src/storage/postgres/open-postgres.js';
import { createUser, defaultOrgId, issueApiToken, type User } from '../src/users/users.js';
import { childPids, cleanups, guardProcess, runCleanups } from './support/cleanup-stack.js';
import { fmt, inPool, log, now, percentile, seeded } from './support/format.js';
import { CLK_TCK, machineBusyTicks, processStat, procStatus } from './support/proc-stats.js';
import { clientUsers, SEARCH_PHRASE, SEARCH_WORD } from './support/data-scale-clients.js';
import { createScratchDatabase } from './support/scratch-database.js';
import { addFolder } from '../test/support/mailbox-rows.js';
import { extraPlans } from './data-scale-periodic.js';

const { values: opts } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    postgres: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'seed-only': { type: 'boolean', default: false },
    'measure-only': { type: 'boolean', default: false },
    dir: { type: 'string' },
    'database-url': { type: 'string' },
    writers: { type: 'string', default: '4' },
    batch: { type: 'string', default: '500' },
    requests: { type: 'string', default: '200' },
    'endpoint-seconds': { type: 'string', default: '60' },
    warmup: { type: 'string', default: '10' },
    clients: { type: 'string', default: '8' },
    plans: { type: 'string', default: 'bench/data-scale-plans.md' },
    'no-plans-file': { type: 'boolean', default: false },
    'max-minutes': { type: 'string', default: '90' },
    'seed-minutes': { type: 'string', default: '0' },
    only: { type: 'string' },
    'child-node-args': { type: 'string' },
    'no-wal-worker': { type: 'boolean', default: false },
  },
});

const MESSAGES = Number(opts.messages);
const USERS = 50;
const MAILBOXES = 100;
const CONTACTS = 20_000;
const WRITERS = opts.postgres ? Number(opts.writers) : 1;
const BATCH = Number(opts.batch);
const REQUESTS = Number(opts.requests);
const CLIENTS = Number(opts.clients);
const ENDPOINT_MS = Number(opts['endpoint-seconds']) * 1000;
const WARMUP = Number(opts.warmup);
/** Stop seeding after this long (0: no limit) and measure what is there; every mailbox is filled alike. */
const SEED_MS = Number(opts['seed-minutes']) * 60_000 || Infinity;
/** The server's setting, used by the seed too (the spawned server inherits the environment). */
const SQLITE_MMAP_BYTES = Number(process.env.CONVERSA_SQLITE_MMAP_MB ?? 0) * 1024 * 1024;
const YEAR = 365 * 24 * 3600 * 1000;
const YEAR_START = Date.UTC(2025, 11, 1);
const PASSWORD = 'data scale bench password';

guardProcess({ maxMinutes: opts['max-minutes']!, stopping: 'the server and the seeded database' });

// ---------------------------------------------------------------------------------------------------------
// Vocabulary: Portuguese and English, with accents, so full-text search has real words and phrases to find.

const WORDS_PT = (
  'reunião proposta orçamento contrato ação negociação cliente prazo entrega preço desconto condições pagamento ' +
  'fatura nota fiscal pedido produção logística estoque atenção informação solicitação aprovação revisão análise ' +
  'apresentação próxima semana amanhã manhã tarde agenda ligação conversa dúvida questão opção solução serviço ' +
  'implantação integração configuração migração segurança relatório planilha documento anexo versão atualização ' +
  'equipe diretoria gerência comercial financeiro jurídico técnico suporte obrigado abraço até logo prezado caro ' +
  'conforme combinado segue em anexo por favor confirmar disponibilidade horário local endereço São Paulo Brasília ' +
  'renovação assinatura licença usuários módulos relatórios público órgão licitação edital pregão câmara município'
).split(/\s+/);
const WORDS_EN = (
  'meeting proposal budget contract action negotiation customer deadline delivery price discount terms payment ' +
  'invoice order production logistics stock attention information request approval review analysis presentation ' +
  'next week tomorrow morning afternoon schedule call question option solution service rollout integration ' +
  'configuration migration security report spreadsheet document attached version update team board management ' +
  'sales finance legal technical support thanks regards best please confirm availability time place address'
).split(/\s+/);
const PHRASES = [
  'proposta comercial',
  'segue em anexo',
  'conforme combinado',
  'reunião de alinhamento',
  'orçamento revisado',
  'contrato de prestação de serviços',
  'please find attached',
  'as discussed',
  'next steps',
  'renewal quote',
];
const SUBJECTS = [
  'Proposta comercial',
  'Orçamento revisado',
  'Reunião de alinhamento',
  'Contrato de serviços',
  'Renovação da licença',
  'Pedido de compra',
  'Dúvida sobre a fatura',
  'Apresentação da solução',
  'Meeting follow-up',
  'Quote for the renewal',
  'Integration questions',
  'Ação de marketing',
];
const FIRST = (
  'Ana João Maria José Antônio Francisca Carlos Paulo Lúcia Márcia Fábio Sérgio Letícia Débora Cláudia Luís André ' +
  'Beatriz Camila Gustavo Helena Igor Júlia Larissa Mateus Natália Otávio Patrícia Rafael Sofia Tiago Vitória ' +
  'John Mary Peter Sarah David Emma James Olivia Robert Grace'
).split(/\s+/);
const LAST = (
  'Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro Martins Carvalho Araújo ' +
  'Melo Barbosa Cardoso Rocha Dias Nascimento Andrade Moreira Nunes Marques Machado Mendes Freitas Simões Brandão ' +
  'Conceição Magalhães Gonçalves Smith Johnson Brown Taylor Wilson Clark Hall'
).split(/\s+/);
const COMPANIES = (
  'Acme Construtora Alfa Beta Logística Ômega Saúde Horizonte Engenharia Pátria Alimentos Três Rios Energia ' +
  'Northwind Contoso Fabrikam Initech Globex Umbrella Vértice Tecnologia Aurora Têxtil Paraná Seguros'
).split(/\s+/);
const ATTACHMENTS = [
  { name: 'proposta-comercial.pdf', type: 'application/pdf' },
  { name: 'orçamento 2026.xlsx', type: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' },
  { name: 'contrato_assinado.pdf', type: 'application/pdf' },
  { name: 'apresentação.pptx', type: 'application/vnd.openxmlformats-officedocument.presentationml.presentation' },
  { name: 'foto.jpg', type: 'image/jpeg' },
  { name: 'invoice.pdf', type: 'application/pdf' },
  { name: 'relatório-mensal.docx', type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document' },
];

const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

function body(rand: () => number, length: number): string {
  const parts: string[] = [];
  let size = 0;
  while (size < length) {
    const words: string[] = [];
    const n = 6 + Math.floor(rand() * 14);
    for (let i = 0; i < n; i++) words.push(rand() < 0.65 ? pick(rand, WORDS_PT) : pick(rand, WORDS_EN));
    if (rand() < 0.3) words.splice(Math.floor(rand() * words.length), 0, pick(rand, PHRASES));
    const sentence = words.join(' ');
    parts.push(sentence[0]!.toUpperCase() + sentence.slice(1) + '.');
    size += sentence.length + 2;
    if (rand() < 0.2) {
      parts.push('\n\n');
    }
  }
  return parts.join(' ').slice(0, length);
}

// ---------------------------------------------------------------------------------------------------------
// The team: users, mailboxes (2 per user, every third shared), folders, contacts.

interface Mailbox {
  id: string;
  userId: string;
  email: string;
  shared: boolean;
  inbox: string;
  sent: string;
}

const contactAddress = (i: number): string =>
  `${'c' + i}.${['mail', 'corp', 'empresa', 'example'][i % 4]}@client${i % 997}.bench.test`;

async function seedTeam(db: Db): Promise<{ orgId: string; users: string[]; mailboxes: Mailbox[] }> {
  const orgId = await defaultOrgId(db);
  const users: string[] = [];
  for (let u = 0; u < USERS; u++) {
    const user = await createUser(db, {
      email: `seller${u}@team.bench.test`,
      password: PASSWORD,
      isAdmin: u === 0,
      displayName: `Seller ${u}`,
    });
    users.push(user.id);
  }
  const mailboxes: Mailbox[] = [];
  const t = Date.now();
  for (let a = 0; a < MAILBOXES; a++) {
    const userId = users[Math.floor(a / 2)]!;
    const email = a % 2 === 0 ? `seller${a / 2}@team.bench.test` : `vendas${(a - 1) / 2}@team.bench.test`;
    const mailbox: Mailbox = { id: newId(), userId, email, shared: a % 3 === 0, inbox: '', sent: '' };
    mailboxes.push(mailbox);
    await db
      .insertInto('email_accounts')
      .values({
        id: mailbox.id,
        org_id: orgId,
        user_id: userId,
        email,
        provider: 'other',
        auth_kind: 'password',
        sync_mode: 'two-way',
        status: 'active',
        status_detail: null,
        next_retry_at: null,
        last_synced_at: t,
        history_days: 365,
        imap_host: 'imap.team.bench.test',
        imap_port: 993,
        imap_secure: 1,
        smtp_host: 'smtp.team.bench.test',
        smtp_port: 465,
        smtp_secure: 1,
        username: email,
        credentials_enc: 'sealed',
        smtp_mode: 'mailbox',
        smtp_custom_enc: null,
        caldav_url: null,
        bcc_token: `bcc-${a}-${randomBytes(4).toString('hex')}`,
        visibility: mailbox.shared ? 'shared' : 'private',
        generation: 1,
        progress_json: null,
        sync_requested_at: null,
        calendar_status: 'disabled',
        calendar_synced_at: null,
        created_at: t,
        updated_at: t,
      } as never)
      .execute();
    mailbox.inbox = await addFolder(db, mailbox.id, { path: 'INBOX', role: 'inbox' });
    mailbox.sent = await addFolder(db, mailbox.id, { path: 'Sent', role: 'sent' });
  }
  const rand = seeded(20_000);
  const rows: ImportRow[] = [];
  for (let i = 0; i < CONTACTS; i++) {
    rows.push({
      line: i + 2,
      firstName: pick(rand, FIRST),
      lastName: pick(rand, LAST),
      company: rand() < 0.8 ? `${pick(rand, COMPANIES)} ${pick(rand, COMPANIES)}` : null,
      emails: [contactAddress(i)],
    });
  }
  const imported = await importContacts(db, orgId, rows, []);
  if (imported.created !== CONTACTS) throw new Error(`imported ${imported.created} contacts, not ${CONTACTS}`);
  return { orgId, users, mailboxes };
}

// ---------------------------------------------------------------------------------------------------------
// One mailbox's year of mail, generated thread by thread in batches for storeMessages.

const RAW_POOL = Array.from({ length: 1000 }, (_, i) =>
  Buffer.from(`raw source ${i}\r\n` + 'x'.repeat(1000 + ((i * 37) % 3000))),
);
const ATTACHMENT_POOL = Array.from({ length: 500 }, (_, i) =>
  Buffer.from(`attachment ${i}\n` + 'y'.repeat(1000 + ((i * 53) % 3000))),
);

function* mailboxMessages(mailbox: Mailbox, index: number, count: number): Generator<MessageToStore> {
  const rand = seeded(1_000 + index);
  let made = 0;
  let uidIn = 0;
  let uidOut = 0;
  let thread = 0;
  while (made < count) {
    const length = Math.min(count - made, 1 + Math.floor(20 * Math.pow(rand(), 2.5)));
    // Contacts are skewed: a few are in many threads (big timelines), most in a few.
    const contactIndex = Math.floor(CONTACTS * Math.pow(rand(), 2));
    const stranger = rand() < 0.1;
    const other = stranger
      ? { address: `someone${Math.floor(rand() * 1e6)}@elsewhere.bench.test`, name: null }
      : { address: contactAddress(contactIndex), name: `${pick(rand, FIRST)} ${pick(rand, LAST)}` };
    const cc = !stranger && rand() < 0.1 ? contactAddress(Math.floor(rand() * CONTACTS)) : null;
    const subject = `${pick(rand, SUBJECTS)} ${pick(rand, COMPANIES)} nº ${Math.floor(rand() * 100_000)}`;
    let date = YEAR_START + Math.floor(rand() * (YEAR - 30 * 24 * 3600 * 1000));
    const ids: string[] = [];
    for (let k = 0; k < length; k++) {
      date += Math.floor(rand() * 3 * 24 * 3600 * 1000);
      const messageId = `<m${index}.t${thread}.k${k}@team.bench.test>`;
      const incoming = k % 2 === 0 ? rand() < 0.8 : rand() < 0.2;
      const own = { address: mailbox.email, name: null };
      const from = incoming ? other : own;
      const to = incoming ? own : other;
      const participants: MessageToStore['participants'] = [
        { role: 'from', address: from.address, name: from.name },
        { role: 'to', address: to.address, name: to.name },
        ...(cc ? [{ role: 'cc' as const, address: cc, name: null }] : []),
      ];
      const text = body(rand, 500 + Math.floor(rand() * 3500));
      const attachments =
        rand() < 0.3
          ? Array.from({ length: 1 + Math.floor(rand() * 3) }, () => {
              const kind = pick(rand, ATTACHMENTS);
              return {
                filename: kind.name,
                contentType: kind.type,
                size: Math.floor(20_000 * Math.pow(250, rand())),
                content: ATTACHMENT_POOL[Math.floor(rand() * ATTACHMENT_POOL.length)]!,
                contentId: null,
                inline: false,
              };
            })
          : [];
      const size = 2_000 + text.length + attachments.reduce((s, a) => s + Math.ceil(a.size * 1.37), 0);
      const messageSubject = k === 0 ? subject : `Re: ${subject}`;
      const inReplyTo = ids.at(-1) ?? null;
      const references = ids.slice(-10);
      const flags = rand() < 0.7 ? ['\\Seen'] : [];
      yield {
        dedupeKey: dedupeKey({
          messageId,
          date,
          from: from.address,
          to: [to.address],
          subject: messageSubject,
          bodyStart: text,
        }),
        messageId,
        emailId: null,
        threadId: null,
        inReplyTo,
        references,
        subject: messageSubject,
        date,
        from,
        participants,
        mappingAddresses: [other.address, ...(cc ? [cc] : [])],
        direction: incoming ? 'incoming' : 'outgoing',
        source: 'sync',
        parsed: {
          messageId,
          inReplyTo,
          references,
          subject: messageSubject,
          date,
          from,
          sender: null,
          replyTo: [],
          to: [to],
          cc: cc ? [{ address: cc, name: null }] : [],
          bcc: [],
          listId: null,
          originalFrom: null,
          autoSubmitted: null,
          precedence: null,
          contentType: attachments.length ? 'multipart/mixed' : 'text/plain',
          reportType: null,
          text,
          html: null,
          // The first 200 characters with whitespace collapsed, from a prefix: collapsing the whole body cost the
          // seed ~3% of its time (the parser's own snippet reads a bounded prefix too).
          snippet: text.slice(0, 400).replace(/\s+/g, ' ').slice(0, 200),
          attachments,
          size,
          parseError: null,
        } as never,
        raw: RAW_POOL[Math.floor(rand() * RAW_POOL.length)]!,
        size,
        location: {
          accountId: mailbox.id,
          folderId: incoming ? mailbox.inbox : mailbox.sent,
          uidValidity: 1,
          uid: incoming ? ++uidIn : ++uidOut,
          flags,
        },
      };
      ids.push(messageId);
      made++;
    }
    thread++;
  }
}

async function seedMessages(
  storage: Storage,
  dataDir: string,
  orgId: string,
  mailboxes: Mailbox[],
): Promise<{ ms: number; stored: number; retries: number; analyzes: number; busyCores: number }> {
  // The install's own store: files on SQLite, blob_contents on PostgreSQL.
  const blobs = openBlobStore(storage, dataDir);
  const db = storage.db;
  const stopAnalyzing = storage.dialect === 'postgres' ? await analyzeLikeAutovacuum(db) : async () => 0;
  const started = now();
  const busy0 = machineBusyTicks();
  let stored = 0;
  let retries = 0;
  let lastLog = now();
  // Round by round, one batch per mailbox each, so that a run stopped by --seed-minutes has every mailbox filled
  // alike (each mailbox's mail is the same whatever the order: one seeded generator per mailbox).
  const lanes = mailboxes.map((mailbox, index) => ({
    ctx: {
      orgId,
      ownerUserId: mailbox.userId,
      shared: mailbox.shared,
      accountId: mailbox.id,
      blobs,
    } satisfies StoreContext,
    messages: mailboxMessages(
      mailbox,
      index,
      Math.floor(MESSAGES / MAILBOXES) + (index < MESSAGES % MAILBOXES ? 1 : 0),
    ),
    done: false,
  }));
  const flush = async (ctx: StoreContext, batch: MessageToStore[]) => {
    // As the sync does: a transient database error (a lock wait, a deadlock) retries the batch as it is.
    let result;
    for (let attempt = 1; ; attempt++) {
      try {
        result = await storeMessages(db, ctx, batch, null);
        break;
      } catch (error) {
        if (!isTransientDbError(error) || attempt >= 5) throw error;
        retries++;
      }
    }
    stored += result.filter((r) => r.created).length;
    if (now() - lastLog > 15_000) {
      lastLog = now();
      const s = (now() - started) / 1000;
      log(`seeded ${fmt(stored)} messages in ${fmt(s)} s (${fmt(stored / s)}/s)`);
    }
  };
  let cut = false;
  while (lanes.some((l) => !l.done) && !cut) {
    await inPool(
      lanes.filter((l) => !l.done),
      WRITERS,
      async (lane) => {
        if (now() - started > SEED_MS) {
          cut = true;
          return;
        }
        const batch: MessageToStore[] = [];
        for (let next = lane.messages.next(); ; next = lane.messages.next()) {
          if (next.done) {
            lane.done = true;
            break;
          }
          batch.push(next.value);
          if (batch.length >= BATCH) break;
        }
        if (batch.length > 0) await flush(lane.ctx, batch);
      },
    );
  }
  if (cut) log(`--seed-minutes reached: ${fmt(stored)} of ${fmt(MESSAGES)} messages stored`);
  const ms = now() - started;
  const analyzes = await stopAnalyzing();
  return { ms, stored, retries, analyzes, busyCores: (machineBusyTicks() - busy0) / CLK_TCK / (ms / 1000) };
}

/**
 * A PostgreSQL server analyzes each growing table by itself (autovacuum looks every minute by default). This
 * machine's server runs with autovacuum off, and then nothing does while the seed runs: each connection keeps the plan
 * of its foreign-key checks made when the tables were empty, a scan of the whole parent table. Every message and
 * thread key stored read all of `threads` (1.2 billion rows read by a 4-minute seed; every PostgreSQL seed before
 * 2026-12-06's tenth session ran so, slowing as the tables grew). When the server's autovacuum is off, the seed does
 * what it would have done: ANALYZE once a minute, on a connection of its own beside the writers (an analyze
 * invalidates those cached plans). Returns the stop, which answers how many analyzes ran.
 */
async function analyzeLikeAutovacuum(db: Db): Promise<() => Promise<number>> {
  const setting = await sql<{ autovacuum: string }>`show autovacuum`.execute(db);
  if (setting.rows[0]?.autovacuum !== 'off') return async () => 0;
  log('the server runs with autovacuum off: the seed analyzes the database once a minute, as autovacuum would');
  let analyzes = 0;
  let running = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      const started = now();
      await sql`analyze`.execute(db);
      analyzes++;
      log(`analyzed in ${fmt((now() - started) / 1000, 1)} s`);
    });
  }, 60_000);
  return async () => {
    clearInterval(timer);
    await running;
    return analyzes;
  };
}

// ---------------------------------------------------------------------------------------------------------
// The database: a fresh SQLite data dir or PostgreSQL database, or a kept one (--measure-only).

interface Target {
  dialect: 'sqlite' | 'postgres';
  dataDir: string;
  databaseUrl: string | null;
  storage: Storage;
}

async function openTarget(): Promise<Target> {
  if (opts['measure-only']) {
    if (!opts.dir) throw new Error('--measure-only needs --dir (and --database-url for PostgreSQL)');
    const databaseUrl = opts['database-url'] ?? null;
    const storage = openStorage({ dataDir: opts.dir, databaseUrl, sqliteMmapBytes: SQLITE_MMAP_BYTES });
    // A database seeded by an older version gets the newer migrations here, timed (at 1M: the upgrade's cost).
    const migrating = now();
    const result = await migrateToLatest(storage.db);
    const ran = (result.results ?? []).map((r) => r.migrationName);
    if (ran.length) log(`migrations ${ran.join(', ')} took ${fmt((now() - migrating) / 1000, 1)} s`);
    return { dialect: databaseUrl ? 'postgres' : 'sqlite', dataDir: opts.dir, databaseUrl, storage };
  }
  const dataDir = fs.mkdtempSync(path.join(opts.dir ?? os.tmpdir(), 'conversa-data-scale-'));
  let databaseUrl: string | null = null;
  if (opts.postgres) {
    const scratch = await createScratchDatabase('conversa_scale');
    databaseUrl = scratch.url;
    if (!opts.keep) cleanups.unshift({ what: `drop ${scratch.name}`, fn: scratch.drop });
  }
  if (!opts.keep)
    cleanups.unshift({
      what: `remove ${dataDir}`,
      fn: async () => fs.rmSync(dataDir, { recursive: true, force: true }),
    });
  // Opened as `conversa serve` opens it (start-server.ts): on SQLite, WAL checkpoints on a worker thread.
  const storage = openStorage({
    dataDir,
    databaseUrl,
    sqliteMmapBytes: SQLITE_MMAP_BYTES,
    ...(opts['no-wal-worker'] ? {} : { sqliteWalWorkerFromBytes: WAL_WORKER_FROM_BYTES }),
  });
  cleanups.push({ what: 'close the storage', fn: () => storage.close() });
  await migrateToLatest(storage.db);
  return { dialect: databaseUrl ? 'postgres' : 'sqlite', dataDir, databaseUrl, storage };
}

async function databaseBytes(target: Target): Promise<number> {
  if (target.dialect === 'postgres') {
    const r = await sql<{ n: string }>`select pg_database_size(current_database())::text as n`.execute(
      target.storage.db,
    );
    return Number(r.rows[0]!.n);
  }
  const file = path.join(target.dataDir, 'conversa.db');
  return [file, `${file}-wal`].reduce((sum, f) => sum + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0);
}

// ---------------------------------------------------------------------------------------------------------
// The measurement: a spawned `conversa serve` and CLIENTS concurrent keep-alive clients.

function startServer(target: Target): Promise<{ url: string; child: ChildProcess }> {
  const cli = path.resolve('dist/src/cli.js');
  if (!fs.existsSync(cli)) throw new Error('dist/src/cli.js is missing: run `npm run build` first');
  const nodeArgs = opts['child-node-args']?.split(/\s+/).filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, cli, 'serve'], {
    env: {
      ...process.env,
      PORT: '0',
      BCC_SMTP_PORT: '0',
      CONVERSA_DATA_DIR: target.dataDir,
      ...(target.databaseUrl ? { DATABASE_URL: target.databaseUrl } : {}),
      CONVERSA_SERVE_BACKGROUND: 'false',
      CONVERSA_CHECK_RESPONSES: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  childPids.add(child.pid!);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push({
    what: 'stop conversa serve',
    fn: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      childPids.delete(child.pid!);
    },
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 120_000);
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1]!, child });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => reject(new Error(`serve exited:\n${output}`)));
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** A GET, tried once more when a kept-alive socket the server had already closed fails at once (EPIPE, ECONNRESET). */
async function get(
  base: string,
  token: string,
  pathAndQuery: string,
): Promise<{ status: number; json: unknown; ms: number }> {
  try {
    return await getOnce(base, token, pathAndQuery);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPIPE' && code !== 'ECONNRESET') throw error;
    return getOnce(base, token, pathAndQuery);
  }
}

function getOnce(
  base: string,
  token: string,
  pathAndQuery: string,
): Promise<{ status: number; json: unknown; ms: number }> {
  const started = now();
  return new Promise((resolve, reject) => {
    const req = http.get(`${base}${pathAndQuery}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = now() - started;
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try {
          json = JSON.parse(text);
        } catch {
          json = text;
        }
        resolve({ status: res.statusCode ?? 0, json, ms });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

interface Client {
  user: User;
  token: string;
  accountId: string;
  deepCursor: string | null;
  /** The page `deepCursor` opens: 50, or less when the inbox is shorter. */
  depth: number;
  threads: string[];
  contacts: string[];
}

interface Endpoint {
  name: string;
  goal: number;
  path: (client: Client, i: number) => string;
}

const CONTACT_QUERIES = ['silva', 'ana', 'acme', 'gonçalves', 'joão', 'northwind', 'mar', 'c123', 'costa', 'brandão'];

const ENDPOINTS: Endpoint[] = [
  { name: 'inbox, first page', goal: 50, path: () => '/api/inbox?limit=50' },
  {
    name: 'inbox, page 50 (cursor)',
    goal: 50,
    path: (c) => `/api/inbox?limit=50${c.deepCursor ? `&cursor=${c.deepCursor}` : ''}`,
  },
  { name: 'inbox of one mailbox', goal: 50, path: (c) => `/api/inbox?limit=50&accountId=${c.accountId}` },
  {
    name: "a contact's timeline",
    goal: 50,
    path: (c, i) => `/api/contacts/${c.contacts[i % c.contacts.length]}/messages?limit=50`,
  },
  { name: 'a thread', goal: 50, path: (c, i) => `/api/threads/${c.threads[i % c.threads.length]}` },
  {
    name: 'contact search',
    goal: 50,
    path: (_, i) => `/api/contacts?limit=50&q=${encodeURIComponent(CONTACT_QUERIES[i % CONTACT_QUERIES.length]!)}`,
  },
  { name: 'unread badge', goal: 50, path: () => '/api/inbox/unread-count' },
  { name: 'full-text: a word', goal: 150, path: () => `/api/inbox?limit=50&q=${encodeURIComponent(SEARCH_WORD)}` },
  {
    name: 'full-text: a phrase',
    goal: 150,
    path: () => `/api/inbox?limit=50&q=${encodeURIComponent(SEARCH_PHRASE)}`,
  },
];

async function prepareClients(target: Target, base: string, mailboxes: Mailbox[]): Promise<Client[]> {
  const db = target.storage.db;
  const clients: Client[] = [];
  for (const user of await clientUsers(db, CLIENTS)) {
    const userId = user.id;
    const token = (await issueApiToken(db, userId, { name: 'data-scale bench' })).token;
    const accountId =
      mailboxes.find((m) => m.userId === userId)?.id ??
      (
        await db
          .selectFrom('email_accounts')
          .select('id')
          .where('user_id', '=', userId)
          .orderBy('id')
          .executeTakeFirstOrThrow()
      ).id;
    clients.push({ user, token, accountId, deepCursor: null, depth: 1, threads: [], contacts: [] });
  }
  // Page 50: follow nextCursor 49 times (not timed), keep the cursor of page 50.
  await inPool(clients, CLIENTS, async (client) => {
    let cursor: string | null = null;
    for (let p = 1; p < 50; p++) {
      const r = await get(base, client.token, `/api/inbox?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      if (r.status !== 200) throw new Error(`inbox page ${p}: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
      const page = r.json as {
        items: Array<{ threadId: string | null; contactIds: string[] }>;
        nextCursor: string | null;
      };
      for (const item of page.items) {
        if (item.threadId && client.threads.length < 200 && Math.random() < 0.2) client.threads.push(item.threadId);
        for (const id of item.contactIds)
          if (client.contacts.length < 200 && !client.contacts.includes(id)) client.contacts.push(id);
      }
      // A small run's inbox may end sooner: then its last page stands in (the report says how deep).
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
      client.depth = p + 1;
    }
    client.deepCursor = cursor;
  });
  return clients;
}

interface Result {
  name: string;
  goal: number;
  times: number[];
  errors: number;
  wallMs: number;
  machineCores: number;
  serverCores: number;
}

function cpuTicks(pid: number): number {
  return processStat(pid)?.ticks ?? 0;
}

async function measure(base: string, serverPid: number, clients: Client[]): Promise<Result[]> {
  const results: Result[] = [];
  for (const endpoint of ENDPOINTS.filter((e) => !opts.only || e.name.includes(opts.only))) {
    // Warm-up, untimed: WARMUP requests per client, all at once as in the timed run. With one request each, the
    // first endpoint of a run paid for the server's JIT warm-up and its first connections (its p95 was 5-10 ms
    // above the same query's on the next endpoint).
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < Math.max(1, WARMUP); i++) await get(base, c.token, endpoint.path(c, 0));
      }),
    );
    const times: number[] = [];
    let errors = 0;
    const started = now();
    const busy0 = machineBusyTicks();
    const server0 = cpuTicks(serverPid);
    await Promise.all(
      clients.map(async (client, c) => {
        for (let i = 0; i < REQUESTS && now() - started < ENDPOINT_MS; i++) {
          const r = await get(base, client.token, endpoint.path(client, i * CLIENTS + c));
          if (r.status !== 200) errors++;
          times.push(r.ms);
        }
      }),
    );
    const wallMs = now() - started;
    times.sort((a, b) => a - b);
    const result: Result = {
      name: endpoint.name,
      goal: endpoint.goal,
      times,
      errors,
      wallMs,
      machineCores: (machineBusyTicks() - busy0) / CLK_TCK / (wallMs / 1000),
      serverCores: (cpuTicks(serverPid) - server0) / CLK_TCK / (wallMs / 1000),
    };
    results.push(result);
    log(
      `${endpoint.name}: ${times.length} requests, p50 ${fmt(percentile(times, 50), 1)} ms, p95 ${fmt(percentile(times, 95), 1)} ms, ` +
        `max ${fmt(times.at(-1) ?? NaN, 1)} ms, ${errors} errors; machine ${fmt(result.machineCores, 2)} cores busy`,
    );
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------
// EXPLAIN: the same functions the routes call, through a Kysely instance that records the SQL they send.

interface Captured {
  sql: string;
  parameters: readonly unknown[];
}

function capturingDb(target: Target): { db: Db; captured: Captured[] } {
  const captured: Captured[] = [];
  const db = new Kysely<Database>({
    dialect: target.databaseUrl
      ? postgresDialect(target.databaseUrl)
      : sqliteDialect(path.join(target.dataDir, 'conversa.db')),
    log: (event) => {
      if (event.level === 'query') captured.push({ sql: event.query.sql, parameters: event.query.parameters });
    },
  });
  return { db, captured };
}

const BIG_TABLES = [
  'messages',
  'message_holders',
  'message_participants',
  'message_contacts',
  'message_locations',
  'message_reads',
  'attachments',
  'threads',
  'thread_keys',
  'contacts',
  'contact_addresses',
];

/** Fewer rows than this and a table's sequential scan is not flagged. */
const SMALL_TABLE_ROWS = 1_000;

async function explain(db: Db, dialect: Target['dialect'], q: Captured): Promise<{ plan: string; scans: string[] }> {
  if (dialect === 'sqlite') {
    const r = await db.executeQuery<{ id: number; parent: number; detail: string }>(
      CompiledQuery.raw(`EXPLAIN QUERY PLAN ${q.sql}`, [...q.parameters]),
    );
    const depth = new Map<number, number>();
    const lines = r.rows.map((row) => {
      const d = (depth.get(row.parent) ?? -1) + 1;
      depth.set(row.id, d);
      return `${'  '.repeat(d)}${row.detail}`;
    });
    const scans = r.rows
      .map((row) => /^SCAN (\w+)(.*)$/.exec(row.detail))
      .filter(
        (m): m is RegExpExecArray => m !== null && BIG_TABLES.includes(m[1]!) && !/USING (COVERING )?INDEX/.test(m[2]!),
      )
      .map((m) => `SCAN ${m[1]}`);
    // With one organisation, an index entered by org_id alone is a walk of the whole table in index order.
    for (const row of r.rows) {
      const m = /^SEARCH (\w+) USING (?:COVERING )?INDEX (\w+) \(org_id=\?\)$/.exec(row.detail);
      if (m && BIG_TABLES.includes(m[1]!))
        scans.push(`SEARCH ${m[1]} by org_id alone (${m[2]}): the whole organisation`);
    }
    return { plan: lines.join('\n'), scans };
  }
  const r = await db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${q.sql}`, [...q.parameters]));
  const lines = r.rows.map((row) => row['QUERY PLAN']);
  const scans: string[] = [];
  for (const m of lines.map((l) => /Seq Scan on (\w+)/.exec(l))) {
    if (!m || !BIG_TABLES.includes(m[1]!)) continue;
    // A sequential scan is PostgreSQL's right choice for a table of a few rows (the bench marks nothing read in
    // message_reads): only a big table's is a finding.
    const size = await db.executeQuery<{ n: string }>(
      CompiledQuery.raw(`select count(*) as n from (select 1 from ${m[1]} limit ${SMALL_TABLE_ROWS}) t`, []),
    );
    if (Number(size.rows[0]!.n) >= SMALL_TABLE_ROWS) scans.push(`Seq Scan on ${m[1]}`);
  }
  return { plan: lines.join('\n'), scans };
}

async function plans(target: Target, clients: Client[]): Promise<{ text: string; flagged: string[] }> {
  const { db, captured } = capturingDb(target);
  const client = clients[0]!;
  const user = client.user;
  const readCursor = client.deepCursor ? decodeURIComponent(client.deepCursor) : null;
  const calls: Array<[string, () => Promise<unknown>]> = [
    ['inbox, first page', () => inbox(db, user, { limit: 50 })],
    ['inbox, page 50 (cursor)', () => inbox(db, user, { limit: 50, ...(readCursor ? { cursor: readCursor } : {}) })],
    ['inbox of one mailbox', () => inbox(db, user, { limit: 50, accountId: client.accountId })],
    ["a contact's timeline", () => contactMessages(db, user, client.contacts[0]!, { limit: 50 })],
    ['a thread', () => getThread(db, user, client.threads[0]!)],
    // A common word (~500 of 20,000 contacts) walks the organisation newest first and stops at the page's 51st match;
    // a rarer one goes through the trigram index (src/contacts/contact-search.ts).
    ['contact search', () => listContacts(db, user.orgId, { q: 'silva', limit: 50 })],
    ['contact search, a rarer word', () => listContacts(db, user.orgId, { q: 'c123', limit: 50 })],
    ['unread badge', () => unreadCount(db, user)],
    ['full-text: a word', () => inbox(db, user, { limit: 50, q: SEARCH_WORD })],
    ['full-text: a phrase', () => inbox(db, user, { limit: 50, q: SEARCH_PHRASE })],
    ...extraPlans(db),
  ];
  const out: string[] = [];
  const flagged: string[] = [];
  for (const [name, call] of calls) {
    captured.length = 0;
    try {
      await call();
    } catch (error) {
      out.push(`### ${name}\n\n(failed: ${(error as Error).message})\n`);
      continue;
    }
    out.push(`### ${name}\n`);
    // A transaction's own statements and a setting (the badge's plan_cache_mode on PostgreSQL) have no plan.
    const queries = captured.filter((q) => !/^\s*(begin|commit|rollback|set)\b/i.test(q.sql));
    for (const [i, q] of queries.entries()) {
      const { plan, scans } = await explain(db, target.dialect, q);
      if (scans.length) flagged.push(`${name}: ${scans.join(', ')}`);
      out.push(
        `${i + 1}. \`${q.sql.replace(/\s+/g, ' ').slice(0, 400)}${q.sql.length > 400 ? '…' : ''}\`` +
          `${scans.length ? `  \n   **FULL SCAN: ${scans.join(', ')}**` : ''}\n\n\`\`\`\n${plan}\n\`\`\`\n`,
      );
    }
  }
  await db.destroy();
  return { text: out.join('\n'), flagged };
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const busyStart = machineBusyTicks();
  const t0 = now();
  const target = await openTarget();
  log(`${target.dialect}: data dir ${target.dataDir}${target.databaseUrl ? `, ${target.databaseUrl}` : ''}`);
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    console.log(line);
  };
  let mailboxes: Mailbox[] = [];
  if (!opts['measure-only']) {
    const teamStarted = now();
    const team = await seedTeam(target.storage.db);
    mailboxes = team.mailboxes;
    log(
      `team seeded in ${fmt((now() - teamStarted) / 1000, 1)} s; storing ${fmt(MESSAGES)} messages, ${WRITERS} writer(s)`,
    );
    const seed = await seedMessages(target.storage, target.dataDir, team.orgId, mailboxes);
    if (target.dialect === 'sqlite')
      await sql`pragma wal_checkpoint(truncate)`.execute(target.storage.db).catch(() => undefined);
    if (target.dialect === 'postgres') await sql`analyze`.execute(target.storage.db);
    const bytes = await databaseBytes(target);
    say(
      `seed (${target.dialect}): ${fmt(seed.stored)} messages stored by storeMessages in ${fmt(seed.ms / 60_000, 1)} min ` +
        `(${fmt(seed.stored / (seed.ms / 1000))} messages/s, ${WRITERS} writer(s), batches of ${BATCH}, ${seed.retries} batch(es) retried` +
        `${seed.analyzes > 0 ? `, ${seed.analyzes} analyze(s) as autovacuum would` : ''}` +
        `${target.dialect === 'sqlite' ? `, SQLite mmap ${fmt(SQLITE_MMAP_BYTES / 1024 / 1024)} MB, WAL checkpoints ${opts['no-wal-worker'] ? 'by the writer' : 'on a worker thread from 1 GiB'}` : ''}); ` +
        `machine ${fmt(seed.busyCores, 2)} of ${os.cpus().length} cores busy meanwhile`,
    );
    say(`database size: ${fmt(bytes / 1024 / 1024)} MB, ${fmt(bytes / Math.max(1, seed.stored))} bytes per message`);
  } else {
    const bytes = await databaseBytes(target);
    const n = await target.storage.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    say(
      `database (${target.dialect}): ${fmt(Number(n.n))} messages, ${fmt(bytes / 1024 / 1024)} MB, ${fmt(bytes / Math.max(1, Number(n.n)))} bytes per message`,
    );
  }
  if (opts['seed-only']) {
    if (opts.keep)
      say(
        `kept: --measure-only --dir ${target.dataDir}${target.databaseUrl ? ` --database-url ${target.databaseUrl}` : ''}`,
      );
    return;
  }
  const server = await startServer(target);
  log(`serve at ${server.url} (pid ${server.child.pid})`);
  const clients = await prepareClients(target, server.url, mailboxes);
  const plan = await plans(target, clients);
  const results = await measure(server.url, server.child.pid!, clients);
  const depths = clients.map((c) => c.depth);
  if (Math.min(...depths) < 50)
    say(`(the "page 50" row opened pages ${[...new Set(depths)].join(', ')}: the inboxes are shorter at this size)`);
  say('');
  say(
    `| endpoint (${target.dialect}, ${CLIENTS} clients) | requests | p50 | p95 | max | goal (p95) | server CPU per request | machine busy |`,
  );
  say('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const p95 = percentile(r.times, 95);
    say(
      `| ${r.name} | ${r.times.length}${r.errors ? ` (${r.errors} errors)` : ''} | ${fmt(percentile(r.times, 50), 1)} ms | ` +
        `${fmt(p95, 1)} ms | ${fmt(r.times.at(-1) ?? NaN, 1)} ms | < ${r.goal} ms ${p95 < r.goal ? 'met' : '**missed**'} | ` +
        // What the server itself spent (its CPU over the window / requests): the latency minus the waiting.
        `${fmt((r.serverCores * r.wallMs) / Math.max(1, r.times.length), 1)} ms | ` +
        `${fmt(r.machineCores, 2)} cores (server ${fmt(r.serverCores, 2)}) |`,
    );
  }
  say('');
  say(
    plan.flagged.length
      ? `full scans of big tables:\n- ${plan.flagged.join('\n- ')}`
      : 'no full scan of a big table in any plan',
  );
  const wall = (now() - t0) / 1000;
  say(
    `machine over the whole run: ${fmt((machineBusyTicks() - busyStart) / CLK_TCK / wall, 2)} of ${os.cpus().length} cores busy on average (${fmt(wall / 60, 1)} min)`,
  );
  // What a web node costs in memory under this load (on SQLite the mapped pages of CONVERSA_SQLITE_MMAP_MB count too).
  const memory = procStatus(server.child.pid!);
  if (memory)
    say(`server memory: peak (VmHWM) ${fmt(memory.hwmKb / 1024, 1)} MB, at the end ${fmt(memory.rssKb / 1024, 1)} MB`);
  if (!opts['no-plans-file']) {
    const file = path.resolve(opts.plans!);
    const header = `# Data-scale query plans (${target.dialect})\n\nWritten by \`npx tsx bench/data-scale.ts\` on ${new Date().toISOString()}.\n\n${lines.join('\n')}\n\n`;
    const section = `<!-- ${target.dialect} -->\n${header}${plan.text}\n<!-- /${target.dialect} -->\n`;
    const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const re = new RegExp(`<!-- ${target.dialect} -->[\\s\\S]*?<!-- /${target.dialect} -->\\n`);
    fs.writeFileSync(file, re.test(old) ? old.replace(re, () => section) : old + section);
    console.log(`plans: ${path.relative(process.cwd(), file)}`);
  }
  if (opts.keep)
    say(
      `kept: --measure-only --dir ${target.dataDir}${target.databaseUrl ? ` --database-url ${target.databaseUrl}` : ''}`,
    );
}

main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
