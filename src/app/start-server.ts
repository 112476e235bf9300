// The composition root of `conversa serve`: config → storage (migrated) → HTTP server, and an orderly
// shutdown on SIGINT/SIGTERM. Later parts (sync engine, calendar, BCC listener) are wired here too.
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../http/build-server.js';
import { migrateToLatest, openStorage, type Storage } from '../storage/database.js';
import type { Config } from './config.js';
import { VERSION } from './version.js';
import { AccountSupervisor } from '../mail/sync/account-supervisor.js';
import { loadSecretKey, SecretBox } from './secret-box.js';
import path from 'node:path';
import { createBlobStore, type BlobStore } from '../storage/blob-store.js';
import type { ParsedMessage } from '../mail/mime/parse-message.js';
import { createParsePool } from '../mail/mime/parse-pool.js';
import { contactEvents, type AddressesAdded } from '../contacts/contact-events.js';
import { createOutbox, type Outbox, type OutboxDeps } from '../mail/send/outbox.js';
import { createDnsResolver } from '../mail/send/dns-resolver.js';

export interface RunningServer {
  app: FastifyInstance;
  storage: Storage;
  supervisor: AccountSupervisor;
  /** What the outbox worker runs with (tests start a second worker, as after a restart). */
  outboxDeps: OutboxDeps;
  outbox: Outbox;
  blobs: BlobStore;
  /** Parses a raw message off the event loop (the worker pool). */
  parse(raw: Buffer): Promise<ParsedMessage>;
  url: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Tests only: accept self-signed certificates of local test servers. */
  tlsRejectUnauthorized?: boolean;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  pollIntervalMs?: number;
  batchSize?: number;
  /** Outbox tuning (tests: short backoffs and polls). */
  outbox?: Pick<OutboxDeps, 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'pollIntervalMs' | 'timeoutMs'>;
  /** Where log lines go (default stdout); tests read them to prove no secret is logged. */
  logStream?: NodeJS.WritableStream;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  // Read the key before touching the database: a bad CONVERSA_SECRET_KEY stops start-up with a clear error.
  const secrets = new SecretBox(loadSecretKey(config));
  const storage = openStorage(config);
  try {
    await migrateToLatest(storage.db);
  } catch (error) {
    await storage.close();
    throw error;
  }
  const logger = {
    level: config.logLevel,
    // Credentials never reach a log line, whatever a handler logs.
    redact: ['req.headers.authorization', 'req.headers.cookie', 'password', '*.password', 'token', '*.token', 'accessToken', 'refreshToken'],
    ...(options.logStream ? { stream: options.logStream } : {}),
  };
  const blobs = createBlobStore(path.join(config.dataDir, 'blobs'));
  const parsePool = createParsePool();
  let supervisor: AccountSupervisor | undefined;
  let outbox: Outbox | undefined;
  const tls = options.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {};
  const app = await buildServer({
    db: storage.db,
    publicUrl: config.publicUrl,
    version: VERSION,
    logger,
    blobs,
    mail: {
      secrets,
      oauth: config.oauth,
      bccDomain: config.bccDomain,
      ...(options.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
      onChanged: (accountId, change) => supervisor?.onAccountChanged(accountId, change),
      syncNow: (accountId) => supervisor?.syncNow(accountId) ?? false,
    },
    send: {
      secrets,
      bccDomain: config.bccDomain,
      appSmtp: config.appSmtp,
      parse: (raw) => parsePool.parse(raw),
      outbox: { kick: () => outbox?.kick() },
      ...tls,
    },
    deliverability: { secrets, appSmtp: config.appSmtp, dkim: config.dkim, resolver: createDnsResolver({ servers: config.dnsServers }) },
  });
  const outboxDeps: OutboxDeps = {
    db: storage.db,
    secrets,
    blobs,
    oauth: config.oauth,
    log: app.log.child({ component: 'outbox' }),
    appSmtp: config.appSmtp,
    dkim: config.dkim,
    ...options.outbox,
    ...tls,
  };
  supervisor = new AccountSupervisor({
    db: storage.db,
    blobs,
    parse: (raw) => parsePool.parse(raw),
    batchSize: options.batchSize ?? config.syncBatchSize,
    bccDomain: config.bccDomain,
    secrets,
    oauth: config.oauth,
    log: app.log.child({ component: 'sync' }),
    backoffBaseMs: options.backoffBaseMs ?? 2_000,
    backoffMaxMs: options.backoffMaxMs ?? 5 * 60_000,
    pollIntervalMs: options.pollIntervalMs ?? 2 * 60_000,
    ...(options.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
  });
  const address = await app.listen({ port: config.port, host: config.host });
  app.log.info({ database: storage.dialect, dataDir: config.dataDir }, 'Conversa is serving');
  await supervisor.startAll();
  const running = supervisor;
  const runningOutbox = createOutbox(outboxDeps);
  outbox = runningOutbox;
  runningOutbox.start();
  const onAddresses = (event: AddressesAdded) => {
    running.backfill(event.orgId, event.addresses).catch((err: unknown) => app.log.error({ err }, 'backfill scheduling failed'));
  };
  contactEvents.on('addresses-added', onAddresses);
  return {
    app,
    storage,
    supervisor: running,
    outboxDeps,
    outbox: runningOutbox,
    blobs,
    parse: (raw) => parsePool.parse(raw),
    url: address,
    async stop() {
      contactEvents.off('addresses-added', onAddresses);
      await app.close();
      await runningOutbox.stop();
      await running.close();
      await parsePool.close();
      await storage.close();
    },
  };
}
