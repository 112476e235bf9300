// The composition roots: `conversa serve` (HTTP + API, and by default the background work too: the embedded
// default is one process) and `conversa worker` (background work only, for scale-out on PostgreSQL).
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildServer } from '../http/build-server.js';
import { serializeRequest } from '../http/redact-url.js';
import type { BookingLimits } from '../http/routes/booking-routes.js';
import { createParsePool } from '../mail/mime/parse-pool.js';
import { spooledDownloads } from '../mail/mime/spooled-downloads.js';
import { createReaderPool } from '../messages/reader-pool.js';
import type { ParsedMessage, ParseOptions } from '../mail/mime/parse-message.js';
import type { Outbox, OutboxDeps } from '../mail/send/outbox.js';
import { createDnsResolver } from '../mail/send/dns-resolver.js';
import { createInviteMailer } from '../mail/send/invite-mailer.js';
import type { AccountSupervisor } from '../mail/sync/account-supervisor.js';
import type { BlobStore } from '../storage/blob-store.js';
import { fileBlobsPending, importFileBlobs } from '../storage/import-file-blobs.js';
import { blobFilesOf, blobsDirOf, openBlobStore } from '../storage/open-blob-store.js';
import { secureDataDir } from '../storage/secure-data-dir.js';
import { openSpoolFolder } from '../storage/spool-folder.js';
import { migrateToLatest, openStorage, type Storage } from '../storage/database.js';
import { WAL_WORKER_FROM_BYTES } from '../storage/sqlite/wal-checkpointer.js';
import { recordBackfillRequests } from '../jobs/backfill-requests.js';
import { startBccListener, type BccListener } from '../mail/dropbox/bcc-listener.js';
import { createDriverFactory } from '../calendar/calendar-runner.js';
import { stopAccountChannels } from '../calendar/push/calendar-channels.js';
import { linkMeetingsToAddresses } from '../calendar/meetings/ingest-meetings.js';
import { contactEvents, type AddressesAdded } from '../contacts/contact-events.js';
import {
  accountSignals,
  createBackgroundWork,
  type BackgroundOptions,
  type BackgroundWork,
} from './background-work.js';
import type { Config } from './config.js';
import { loadSecretKey, SecretBox } from '../core/secret-box.js';
import { VERSION } from '../core/version.js';
import { createOutboundPolicy, type OutboundPolicy } from '../net/outbound-policy.js';
import { needsSetup } from '../users/setup.js';
import { createPrettyLogStream } from './pretty-log-stream.js';
import { letYoungGenerationGrow, restoreHeapGrowth } from './heap-growth.js';
import { BodyBudget } from '../http/body-budget.js';

export interface RunningServer {
  app: FastifyInstance;
  storage: Storage;
  /** The background work of this process (absent when it serves the web only). */
  background: BackgroundWork | undefined;
  supervisor: AccountSupervisor;
  /** What the outbox worker runs with (tests start a second worker, as after a restart). */
  outboxDeps: OutboxDeps;
  outbox: Outbox;
  blobs: BlobStore;
  /** Parses a raw message off the event loop (the worker pool). */
  parse(raw: Buffer, options?: ParseOptions): Promise<ParsedMessage>;
  /** The inbound SMTP listener of the accounts' BCC addresses. */
  bcc: BccListener;
  url: string;
  stop(): Promise<void>;
}

export interface StartOptions extends BackgroundOptions {
  /** Run the background work in this process too (default: config.serveBackground). */
  background?: boolean;
  /** Where log lines go (default stdout); tests read them to prove no secret is logged. */
  logStream?: NodeJS.WritableStream;
  /** The live inbox's timings (tests shorten the heartbeat); defaults suit production. */
  live?: { pollMs?: number; heartbeatMs?: number; maxStreamsPerUser?: number };
  /** Booking pages' public rate limits (tests use small ones). */
  bookingLimits?: BookingLimits;
}

/**
 * Where log lines go: the stream a test gives, else stdout — readable lines on a terminal (or LOG_FORMAT=pretty),
 * JSON lines when stdout is not a terminal (a service manager, a pipe) or LOG_FORMAT=json.
 */
function logDestination(config: Config, given?: NodeJS.WritableStream): NodeJS.WritableStream | undefined {
  if (given) return given;
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true);
  return pretty ? createPrettyLogStream(process.stdout) : undefined;
}

function loggerOptions(config: Config, given?: NodeJS.WritableStream) {
  const stream = logDestination(config, given);
  return {
    level: config.logLevel,
    // Credentials never reach a log line, whatever a handler logs.
    redact: [
      'req.headers.authorization',
      'req.headers.cookie',
      'password',
      '*.password',
      'token',
      '*.token',
      'accessToken',
      'refreshToken',
    ],
    // The URL of a request line without OAuth codes, states or tokens.
    serializers: { req: serializeRequest },
    ...(stream ? { stream } : {}),
  };
}

/** The one outbound policy of the process, from CONVERSA_ALLOWED_HOSTS (tests may resolve names their own way). */
function outboundPolicy(config: Config, options: BackgroundOptions): OutboundPolicy {
  return createOutboundPolicy({
    allowed: config.allowedHosts,
    ...(options.outboundLookup ? { lookup: options.outboundLookup } : {}),
  });
}

/**
 * What both roots share: the key (read first: a bad CONVERSA_SECRET_KEY stops start-up), migrated storage, blobs,
 * parser.
 */
async function openCore(
  config: Config,
  backgroundOf: () => BackgroundWork | undefined,
  log: () => { error(obj: object, msg?: string): void; info(obj: object, msg?: string): void },
) {
  const privateDir = secureDataDir(config.dataDir);
  if (!privateDir)
    log().error({ dataDir: config.dataDir }, 'the data dir is not ours and stays readable by others: chmod 700 it');
  const secrets = new SecretBox(loadSecretKey(config));
  // A long-lived process that writes: SQLite's WAL checkpoints run on a thread of their own once the database is big
  // (wal-checkpointer.ts).
  const storage = openStorage({ ...config, sqliteWalWorkerFromBytes: WAL_WORKER_FROM_BYTES });
  try {
    await migrateToLatest(storage.db);
  } catch (error) {
    await storage.close();
    throw error;
  }
  const blobs = openBlobStore(storage, config.dataDir);
  // PostgreSQL with file blobs of an older install: moved in behind start-up (reads fall back to the files meanwhile).
  const importing = new AbortController();
  const blobImport =
    storage.dialect === 'postgres' && fileBlobsPending(blobsDirOf(config.dataDir))
      ? importFileBlobs(storage.db, blobs, blobsDirOf(config.dataDir), {
          signal: importing.signal,
          progress: (line) => log().info({ component: 'blobs' }, line),
        }).catch((err: unknown) => {
          if (!importing.signal.aborted) log().error({ err }, 'blob import stopped; it resumes at the next start');
        })
      : Promise.resolve();
  const blobFiles = blobFilesOf(storage, config.dataDir);
  const parsePool = createParsePool({ workerOnline: restoreHeapGrowth, ...(blobFiles ? { blobFiles } : {}) });
  // Blobs in the database: big downloads go by way of a local spool folder, never whole in memory.
  const spool = blobFiles ? null : openSpoolFolder(config.dataDir);
  const downloads = spool ? spooledDownloads(parsePool, spool.dir, blobs) : parsePool.downloads;
  // SQLite: the inbox's reads on worker threads with read-only connections (reader-pool.ts), started at the first.
  const readers = storage.sqliteFile
    ? createReaderPool({
        file: storage.sqliteFile,
        mmapBytes: config.sqliteMmapBytes,
        db: storage.db,
        workerOnline: restoreHeapGrowth,
        log: { warn: (obj, msg) => log().error(obj, msg) },
      })
    : null;
  // New contacts' earlier mail: written down for every worker; the lease round here picks it up at once.
  const stopRecording = recordBackfillRequests(storage.db, {
    recorded: () => backgroundOf()?.leases.kick(),
    failed: (err) => log().error({ err }, 'could not record a backfill request'),
  });
  // New contacts get the meetings already synced with them (database only, so wherever contacts are made).
  const linkMeetings = (event: AddressesAdded) => {
    linkMeetingsToAddresses(storage.db, event.orgId, event.addresses).catch((err: unknown) =>
      log().error({ err }, 'could not link meetings'),
    );
  };
  contactEvents.on('addresses-added', linkMeetings);
  return {
    secrets,
    storage,
    blobs,
    parsePool,
    readers,
    parse: (raw: Buffer, options?: ParseOptions) => parsePool.parse(raw, options),
    downloads,
    async close() {
      importing.abort();
      await blobImport;
      contactEvents.off('addresses-added', linkMeetings);
      stopRecording();
      await parsePool.close();
      await spool?.close();
      await readers?.close();
      await storage.close();
    },
  };
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  let background: BackgroundWork | undefined;
  let app: FastifyInstance | undefined;
  const core = await openCore(
    config,
    () => background,
    () => app?.log ?? console,
  );
  const { secrets, storage, blobs, parse, downloads } = core;
  const tls = options.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {};
  const outbound = outboundPolicy(config, options);
  // The web side's calendar driver (writes from the routes; push channels of a removed account in a web-only process).
  const calendarDrivers = createDriverFactory({
    db: storage.db,
    secrets,
    oauth: config.oauth,
    outbound,
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  const signals = accountSignals(storage.db, () => background, {
    stopCalendarChannels: async (accountId) => {
      const row = await storage.db
        .selectFrom('email_accounts')
        .selectAll()
        .where('id', '=', accountId)
        .executeTakeFirst();
      const driver = row ? await calendarDrivers(row).catch(() => null) : null;
      await stopAccountChannels(storage.db, driver, accountId, AbortSignal.timeout(30_000), app?.log ?? console);
    },
  });
  app = await buildServer({
    db: storage.db,
    publicUrl: config.publicUrl,
    version: VERSION,
    logger: loggerOptions(config, options.logStream),
    validateResponses: config.checkResponses,
    metrics: { token: config.metricsToken },
    bodyBudget: new BodyBudget({ maxBytes: config.uploadsInFlightBytes }),
    ...(options.live ? { live: options.live } : {}),
    ...(options.bookingLimits ? { bookingLimits: options.bookingLimits } : {}),
    blobs,
    ...(core.readers ? { readers: core.readers } : {}),
    // Calendar push: a notification wakes the account's calendar here or at its lease holder.
    calendarHooks: { pushed: signals.calendarPushed, log: { warn: (o, m) => app?.log.warn(o, m) } },
    // Read/unread changes: written at once when this process runs the mailbox; else the holder's lease round finds them.
    flagWritesQueued: (accountIds) => {
      for (const id of accountIds) if (background?.leases.owns(id)) background.supervisor.writeFlags(id);
    },
    mail: {
      secrets,
      oauth: config.oauth,
      bccDomain: config.bccDomain,
      onChanged: signals.onChanged,
      syncNow: signals.syncNow,
      calendarSyncNow: signals.calendarSyncNow,
      // Address verification codes go out through the company relay.
      appSmtp: config.appSmtp,
      dkim: config.dkim,
      outbound,
      ...tls,
    },
    send: {
      secrets,
      bccDomain: config.bccDomain,
      appSmtp: config.appSmtp,
      parse,
      outbox: { kick: () => background?.outbox.kick() },
      outbound,
      ...tls,
    },
    // Sequences (issue 17, S1).
    sequences: { kick: () => background?.sequences.kick() },
    deliverability: {
      secrets,
      appSmtp: config.appSmtp,
      dkim: config.dkim,
      resolver: createDnsResolver({ servers: config.dnsServers }),
    },
    team: {
      mailInvite: createInviteMailer({
        appSmtp: config.appSmtp,
        dkim: config.dkim,
        publicUrl: config.publicUrl,
        ...tls,
      }),
      // A deactivated user's mailboxes stop here at once (their IMAP sessions close); other processes drop them at
      // their next lease round. A reactivation lets the lease round take them again.
      mailboxesChanged: async (accountIds, change) => {
        for (const id of accountIds) await signals.onChanged(id, change === 'paused' ? 'deleted' : 'created');
      },
      log: { warn: (object, message) => app?.log.warn(object, message) },
    },
    meetings: {
      bccDomain: config.bccDomain,
      driverFor: calendarDrivers,
      // Here or through the lease holder, like the mail's "sync now".
      syncNow: signals.calendarSyncNow,
      ...(options.calendarWindow ? { window: options.calendarWindow } : {}),
    },
  });
  if (options.background ?? config.serveBackground) {
    background = createBackgroundWork(
      { config, storage, secrets, blobs, parse, downloads, log: app.log, outbound },
      options,
    );
  } else {
    letYoungGenerationGrow();
  }
  const firstRun = await needsSetup(storage.db);
  const address = await app.listen({ port: config.port, host: config.host });
  // The first lines a newcomer reads: where Conversa is and what to do next.
  if (firstRun) app.log.info({ url: config.publicUrl, next: 'setup' }, `Open ${config.publicUrl} to set up Conversa`);
  else app.log.info({ url: config.publicUrl, next: 'sign-in' }, `Sign in at ${config.publicUrl}`);
  let bcc: BccListener;
  try {
    bcc = await startBccListener({
      db: storage.db,
      blobs,
      parse,
      log: app.log.child({ component: 'bcc' }),
      host: config.host,
      port: config.bccSmtpPort,
      domain: config.bccDomain,
      tls: config.bccTls,
      resolver: createDnsResolver({ servers: config.dnsServers }),
    });
  } catch (error) {
    // The port is taken (the error names it): stop what was started.
    await app.close();
    await core.close();
    throw error;
  }
  app.log.info({ port: bcc.port, domain: config.bccDomain }, 'BCC listener ready');
  app.log.info(
    { database: storage.dialect, dataDir: config.dataDir, background: background !== undefined },
    'Conversa is serving',
  );
  await background?.start();
  const work = background;
  const server = app;
  return {
    app: server,
    storage,
    background: work,
    // Web-only servers have no supervisor or outbox; tests that use these run with the background on.
    supervisor: work?.supervisor as AccountSupervisor,
    outboxDeps: work?.outboxDeps as OutboxDeps,
    outbox: work?.outbox as Outbox,
    blobs,
    parse,
    bcc,
    url: address,
    async stop() {
      await server.close();
      // Lets deliveries being stored finish and answer before the storage goes.
      await bcc.close();
      await work?.stop();
      await core.close();
    },
  };
}

export interface RunningWorker {
  background: BackgroundWork;
  storage: Storage;
  stop(): Promise<void>;
}

/** `conversa worker`: the background work alone. */
export async function startWorker(
  config: Config,
  options: BackgroundOptions & { logStream?: NodeJS.WritableStream } = {},
): Promise<RunningWorker> {
  const log = pino(loggerOptions(config), logDestination(config, options.logStream) ?? process.stdout);
  let work: BackgroundWork | undefined;
  const core = await openCore(
    config,
    () => work,
    () => log,
  );
  const outbound = outboundPolicy(config, options);
  const background = createBackgroundWork(
    {
      config,
      storage: core.storage,
      secrets: core.secrets,
      blobs: core.blobs,
      parse: core.parse,
      downloads: core.downloads,
      log,
      outbound,
    },
    options,
  );
  work = background;
  await background.start();
  log.info({ database: core.storage.dialect, worker: background.leases.workerId }, 'Conversa worker is running');
  return {
    background,
    storage: core.storage,
    async stop() {
      await background.stop();
      await core.close();
    },
  };
}
