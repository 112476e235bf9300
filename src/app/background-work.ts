// The background half of Conversa — mailbox sync (one runner per leased account), the outbox worker and the
// contact backfill hook — assembled once for both `conversa serve` (embedded default: it does everything) and
// `conversa worker` (scale-out: many of them share the accounts through leases in the database).
import { LeaseCoordinator } from '../jobs/account-leases.js';
import { CalendarSupervisor } from '../calendar/calendar-supervisor.js';
import { createDriverFactory } from '../calendar/calendar-runner.js';
import { calendarPushFor, type CalendarPushOptions } from '../calendar/push/calendar-channels.js';
import type { WindowOptions } from '../calendar/meetings/account-context.js';
import type { ParsedMessage, ParseOptions } from '../mail/mime/parse-message.js';
import type { DownloadParser } from '../mail/mime/parse-pool.js';
import { createOutbox, type Outbox, type OutboxDeps } from '../mail/send/outbox.js';
import { createReminderSweeper, type ReminderChange, type ReminderSweeper } from '../mail/send/follow-up-reminders.js';
import { createSequenceEngine, type SequenceEngine, type SequenceEngineDeps } from '../sequences/sequence-engine.js';
import { AccountSupervisor } from '../mail/sync/account-supervisor.js';
import type { BlobStore } from '../storage/blob-store.js';
import { BLOB_GRACE_MS, collectBlobs } from '../storage/collect-blobs.js';
import type { Storage } from '../storage/database.js';
import type { Config } from './config.js';
import type { Logger } from '../core/logger.js';
import type { SecretBox } from '../core/secret-box.js';
import type { LookupAll, OutboundPolicy } from '../net/outbound-policy.js';

export interface BackgroundOptions {
  /** Tests only: accept self-signed certificates of local test servers. */
  tlsRejectUnauthorized?: boolean;
  /** Tests only: how user-named servers' names are resolved (a test DNS server). */
  outboundLookup?: LookupAll;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  pollIntervalMs?: number;
  batchSize?: number;
  /** Bytes of downloaded mail per sync batch (default config.syncBatchBytes). */
  batchBytes?: number;
  /** Tests only: told of every download of kept mail by the sync engine (UIDs and their RFC822.SIZE total). */
  onSyncFetch?: (fetch: { accountId: string; uids: number[]; bytes: number }) => void;
  outbox?: Pick<OutboxDeps, 'backoffBaseMs' | 'backoffMaxMs' | 'maxAttempts' | 'pollIntervalMs' | 'timeoutMs'>;
  leases?: { ttlMs?: number; tickMs?: number; maxAccounts?: number };
  /** Whole calendar passes this often (default config.calendarIntervalMinutes). */
  calendarIntervalMs?: number;
  /** Calendar change checks this often (default config.calendarCheckSeconds). */
  calendarCheckIntervalMs?: number;
  /** The span of calendar kept around today (default: the account's history window back, a year ahead). */
  calendarWindow?: WindowOptions;
  /**
   * Calendar push (Google watch channels, Graph subscriptions). Default: on with PUBLIC_URL when pushUsable says
   * the providers can reach it, else off (polling only). Tests force it on against the fakes, or null: off.
   */
  calendarPush?: CalendarPushOptions | null;
  /** Follow-up reminders' sweep (default every 30 s). */
  reminders?: { intervalMs?: number };
  /**
   * Told of reminders that became due or were closed by a reply (any process's sweep finds them): the hook where the
   * live feed (src/live) publishes them to their users.
   */
  onRemindersChanged?: (changes: ReminderChange[]) => void;
  /**
   * Collection of unreferenced blobs (issue 18): every intervalMs (default hourly; the first run after one interval),
   * blobs unnamed and unwritten for graceMs (default BLOB_GRACE_MS) go. null: off.
   */
  blobCollection?: { intervalMs?: number; graceMs?: number } | null;
  /** Sequences (issue 17, S1): the engine's timings and clock (tests). */
  sequences?: Partial<
    Pick<SequenceEngineDeps, 'now' | 'intervalMs' | 'sweepIntervalMs' | 'leaseMs' | 'autoReplyWaitDays' | 'batchSize'>
  >;
}

export interface BackgroundWork {
  supervisor: AccountSupervisor;
  /** Calendar sync, apart from mail: a calendar failure never stops mail sync. */
  calendar: CalendarSupervisor;
  leases: LeaseCoordinator;
  outbox: Outbox;
  outboxDeps: OutboxDeps;
  /** Follow-up reminders: marks them due or replied (issue 15). */
  reminders: ReminderSweeper;
  /** Sequences (issue 17): due steps and stop rules. */
  sequences: SequenceEngine;
  /** One collection of unreferenced blobs now (the periodic job runs the same); resolves with how many went. */
  collectBlobs(): Promise<number>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface BackgroundDeps {
  config: Config;
  storage: Storage;
  secrets: SecretBox;
  blobs: BlobStore;
  parse(raw: Buffer, options?: ParseOptions): Promise<ParsedMessage>;
  /** Big messages of a first sync by way of the blob files (the file blob store only). */
  downloads?: DownloadParser | null;
  log: Logger & { child(bindings: object): Logger };
  /** Where user-named servers may be (CONVERSA_ALLOWED_HOSTS); every connection of the workers asks it. */
  outbound: OutboundPolicy;
}

export type AccountChange = 'created' | 'reconnected' | 'switched' | 'deleted';

/** What the web side tells the background side; works whether the background runs in this process or not. */
export interface AccountSignals {
  onChanged(accountId: string, change: AccountChange): Promise<void>;
  syncNow(accountId: string): Promise<boolean>;
  /** The calendar's "sync now", here or through the account's lease holder. */
  calendarSyncNow(accountId: string): Promise<boolean>;
  /** A push notification said the account's calendar changed: a change check here, or by the lease holder. */
  calendarPushed(accountId: string): Promise<void>;
}

export function createBackgroundWork(deps: BackgroundDeps, options: BackgroundOptions = {}): BackgroundWork {
  const { config, storage, secrets, blobs } = deps;
  const db = storage.db;
  const tls = options.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {};
  const supervisorLog = deps.log.child({ component: 'sync' });
  // The supervisor needs the worker id for its records and the leases need the supervisor for their hooks.
  const coordinator: LeaseCoordinator = new LeaseCoordinator({
    db,
    log: deps.log.child({ component: 'leases' }),
    ...options.leases,
    hooks: {
      acquired: (accountId) => {
        void supervisor.start(accountId);
        void calendar.start(accountId);
      },
      released: async (accountId) => {
        await supervisor.stop(accountId);
        await calendar.stop(accountId);
      },
      changed: async (accountId) => {
        await supervisor.restart(accountId);
        await calendar.restart(accountId);
      },
      syncRequested: (accountId) => {
        supervisor.syncNow(accountId);
        calendar.syncNow(accountId);
      },
      flagWrites: (accountId) => {
        supervisor.writeFlags(accountId);
      },
      backfill: (orgId, addresses) => {
        supervisor
          .backfill(orgId, addresses)
          .catch((err: unknown) => supervisorLog.error({ err }, 'backfill scheduling failed'));
      },
    },
  });
  const supervisor = new AccountSupervisor(
    {
      db,
      blobs,
      parse: deps.parse,
      downloads: deps.downloads ?? null,
      batchSize: options.batchSize ?? config.syncBatchSize,
      batchBytes: options.batchBytes ?? config.syncBatchBytes,
      ...(options.onSyncFetch ? { onFetch: options.onSyncFetch } : {}),
      bccDomain: config.bccDomain,
      secrets,
      oauth: config.oauth,
      log: supervisorLog,
      backoffBaseMs: options.backoffBaseMs ?? 2_000,
      backoffMaxMs: options.backoffMaxMs ?? 5 * 60_000,
      pollIntervalMs: options.pollIntervalMs ?? 2 * 60_000,
      stillOwner: (accountId) => coordinator.stillOwns(accountId),
      outbound: deps.outbound,
      ...tls,
    },
    coordinator.workerId,
  );
  const calendarLog = deps.log.child({ component: 'calendar' });
  const calendarPush = calendarPushFor(config.publicUrl, options.calendarPush);
  const calendar = new CalendarSupervisor({
    db,
    log: calendarLog,
    bccDomain: config.bccDomain,
    driverFor: createDriverFactory({ db, secrets, oauth: config.oauth, log: calendarLog, outbound: deps.outbound }),
    intervalMs: options.calendarIntervalMs ?? config.calendarIntervalMinutes * 60_000,
    checkIntervalMs: options.calendarCheckIntervalMs ?? config.calendarCheckSeconds * 1000,
    backoffBaseMs: options.backoffBaseMs ?? 2_000,
    backoffMaxMs: options.backoffMaxMs ?? 5 * 60_000,
    ...(options.calendarWindow ? { window: options.calendarWindow } : {}),
    ...(calendarPush ? { push: calendarPush } : {}),
  });
  const outboxDeps: OutboxDeps = {
    db,
    secrets,
    blobs,
    oauth: config.oauth,
    log: deps.log.child({ component: 'outbox' }),
    appSmtp: config.appSmtp,
    dkim: config.dkim,
    outbound: deps.outbound,
    ...options.outbox,
    ...tls,
  };
  const outbox = createOutbox(outboxDeps);
  const reminders = createReminderSweeper({
    db,
    log: deps.log.child({ component: 'reminders' }),
    ...(options.reminders?.intervalMs !== undefined ? { intervalMs: options.reminders.intervalMs } : {}),
    ...(options.onRemindersChanged ? { onChanged: options.onRemindersChanged } : {}),
  });
  const sequences = createSequenceEngine({
    db,
    blobs,
    bccDomain: config.bccDomain,
    publicUrl: config.publicUrl,
    outbox: { kick: () => outbox.kick() },
    parse: deps.parse,
    log: deps.log.child({ component: 'sequences' }),
    ...options.sequences,
  });
  const blobLog = deps.log.child({ component: 'blobs' });
  const collection = options.blobCollection === null ? null : (options.blobCollection ?? {});
  let collecting: Promise<number> | null = null;
  let collectTimer: NodeJS.Timeout | null = null;
  // One run at a time in this process; runs of several workers at once are safe (each removal re-checks), only wasted.
  const collectNow = (): Promise<number> => {
    collecting ??= collectBlobs(db, blobs, { graceMs: collection?.graceMs ?? BLOB_GRACE_MS })
      .then((result) => {
        if (result.removed > 0) blobLog.info({ ...result }, 'unreferenced blobs collected');
        return result.removed;
      })
      .finally(() => {
        collecting = null;
      });
    return collecting;
  };
  return {
    supervisor,
    calendar,
    leases: coordinator,
    outbox,
    outboxDeps,
    reminders,
    sequences,
    collectBlobs: collectNow,
    async start() {
      await coordinator.start();
      outbox.start();
      reminders.start();
      sequences.start();
      if (collection) {
        collectTimer = setInterval(
          () => {
            collectNow().catch((err: unknown) => blobLog.error({ err }, 'blob collection failed'));
          },
          collection.intervalMs ?? 60 * 60_000,
        );
        collectTimer.unref();
      }
    },
    async stop() {
      if (collectTimer) clearInterval(collectTimer);
      await collecting?.catch(() => undefined);
      await sequences.stop();
      await reminders.stop();
      await outbox.stop();
      await supervisor.close();
      await calendar.close();
      await coordinator.stop();
    },
  };
}

/**
 * The web side's signals. With the background in this process they act at once; "sync now" is also written
 * to the account, so a worker in another process that holds the lease acts on it at its next round.
 */
export function accountSignals(
  db: Storage['db'],
  work: () => BackgroundWork | undefined,
  options: {
    /** A web-only process (workers elsewhere): stops a removed account's calendar push channels itself. */
    stopCalendarChannels?(accountId: string): Promise<void>;
  } = {},
): AccountSignals {
  return {
    async onChanged(accountId, change) {
      const local = work();
      if (!local) {
        // Before the row goes: its credentials stop the channels; the lease holder drops the runner on its own.
        if (change === 'deleted') await options.stopCalendarChannels?.(accountId);
        return;
      }
      if (change === 'deleted') {
        await local.supervisor.stop(accountId);
        await local.calendar.onAccountChanged(accountId, change);
      } else if (change !== 'created' && local.leases.owns(accountId)) {
        await local.supervisor.restart(accountId);
        await local.calendar.onAccountChanged(accountId, change);
      } else local.leases.kick();
    },
    async syncNow(accountId) {
      const local = work();
      if (local?.leases.owns(accountId)) return local.supervisor.syncNow(accountId);
      await requestSync(db, accountId);
      return true;
    },
    async calendarSyncNow(accountId) {
      const local = work();
      if (local?.leases.owns(accountId)) return local.calendar.syncNow(accountId);
      // The lease holder wakes its mail AND calendar runners on this (LeaseCoordinator hooks.syncRequested): across
      // processes a calendar-only request also syncs the mail, which is harmless and needs no new column.
      await requestSync(db, accountId);
      return true;
    },
    async calendarPushed(accountId) {
      const local = work();
      if (local?.leases.owns(accountId) && local.calendar.poke(accountId)) return;
      // Another process holds the account: sync_requested_at reaches it within a lease round (its mail runner
      // syncs too, which is harmless: a CONDSTORE check when nothing changed).
      await requestSync(db, accountId);
    },
  };
}

/** Asks whichever process holds the account's lease for a sync: it sees the new time at its next lease round. */
async function requestSync(db: Storage['db'], accountId: string): Promise<void> {
  await db.updateTable('email_accounts').set({ sync_requested_at: Date.now() }).where('id', '=', accountId).execute();
}
