// Who syncs which mailbox. Every process doing background work (the embedded `serve`, or any number of
// `conversa worker`s on PostgreSQL) holds leases on a fair share of the accounts and renews them; a holder that
// dies stops renewing, its leases expire and the others claim them. Claims are one atomic upsert that only wins
// over an expired lease, so an account is never owned by two live processes. The same code runs on SQLite.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/logger.js';
import type { Db } from '../storage/database.js';

export interface LeaseHooks {
  /** This process now owns the account: start its work. */
  acquired(accountId: string, generation: number): void;
  /** This process no longer owns it (lost, released, deleted): stop its work now. */
  released(accountId: string): Promise<void>;
  /** The account's configuration changed under a runner this process owns (another process switched it). */
  changed(accountId: string, generation: number): Promise<void>;
  /** Someone asked for a sync now. */
  syncRequested(accountId: string): void;
  /** New contact addresses of an organisation: look for their earlier mail in the accounts held here. */
  backfill(orgId: string, addresses: string[]): void;
  /** Read/unread changes wait to be written to the server for an account held here (queued by any process). */
  flagWrites?(accountId: string): void;
}

export interface LeaseOptions {
  db: Db;
  hooks: LeaseHooks;
  log: Pick<Logger, 'info' | 'warn'>;
  /** A lease lives this long without renewal (default 20 s): the failover bound, with the tick. */
  ttlMs?: number;
  /** How often leases are renewed and claims made (default 5 s). */
  tickMs?: number;
  /** At most this many accounts in this process (bounds its IMAP connections). */
  maxAccounts?: number;
}

/** Claims per round: a round stays short (well under the TTL) however many accounts are free. */
const MAX_CLAIMS_PER_ROUND = 50;

export function newWorkerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

interface Held {
  generation: number;
  syncRequestedAt: number | null;
}

export class LeaseCoordinator {
  readonly workerId = newWorkerId();
  private readonly ttlMs: number;
  private readonly tickMs: number;
  private readonly maxAccounts: number;
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  /** The newest backfill request already handed to the hooks. */
  private backfillCursor = '';

  constructor(private readonly options: LeaseOptions) {
    this.ttlMs = options.ttlMs ?? 20_000;
    this.tickMs = options.tickMs ?? 5_000;
    this.maxAccounts = options.maxAccounts ?? 500;
  }

  async start(): Promise<void> {
    const now = Date.now();
    // Requests older than this process are covered: its runners' first passes map against the current contacts.
    const newest = await this.options.db
      .selectFrom('backfill_requests')
      .select('id')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    this.backfillCursor = newest?.id ?? '';
    await this.options.db
      .insertInto('workers')
      .values({ id: this.workerId, hostname: os.hostname(), pid: process.pid, started_at: now, heartbeat_at: now })
      .execute();
    await this.tick();
  }

  /** Runs a round now (an account was created or changed in this process). */
  kick(): void {
    void this.tick();
  }

  owns(accountId: string): boolean {
    return this.held.has(accountId);
  }

  /** True while this process's lease on the account is valid: checked before each pass (fencing). */
  async stillOwns(accountId: string): Promise<boolean> {
    const row = await this.options.db
      .selectFrom('account_leases')
      .select(['holder', 'expires_at'])
      .where('account_id', '=', accountId)
      .executeTakeFirst();
    return row !== undefined && row.holder === this.workerId && row.expires_at > Date.now();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    for (const accountId of [...this.held.keys()]) await this.release(accountId);
    await this.options.db.deleteFrom('account_leases').where('holder', '=', this.workerId).execute();
    await this.options.db.deleteFrom('workers').where('id', '=', this.workerId).execute();
  }

  private tick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.round();
        } catch (error) {
          this.options.log.warn({ err: error }, 'lease round failed');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
      if (!this.stopped) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => void this.tick(), this.tickMs);
        this.timer.unref();
      }
    });
    return this.running;
  }

  private async release(accountId: string): Promise<void> {
    this.held.delete(accountId);
    await this.options.hooks.released(accountId);
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    const db = this.options.db;
    const now = Date.now();
    await db.updateTable('workers').set({ heartbeat_at: now }).where('id', '=', this.workerId).execute();
    await db
      .updateTable('account_leases')
      .set({ expires_at: now + this.ttlMs })
      .where('holder', '=', this.workerId)
      .execute();

    // What this process really holds now, with the account's state.
    const mine = await db
      .selectFrom('account_leases')
      .innerJoin('email_accounts', 'email_accounts.id', 'account_leases.account_id')
      .select([
        'account_leases.account_id',
        'email_accounts.generation',
        'email_accounts.status',
        'email_accounts.sync_requested_at',
        'email_accounts.paused',
      ])
      .where('account_leases.holder', '=', this.workerId)
      .execute();
    const current = new Map(mine.map((row) => [row.account_id, row]));
    for (const accountId of [...this.held.keys()]) {
      if (!current.has(accountId)) await this.release(accountId); // deleted, or lost to an expiry
    }
    for (const row of mine) {
      if (row.status === 'needs_reconnect' || row.paused === 1) {
        // Nothing to run until the user reconnects (or the paused owner is reactivated); then any process may take it.
        await db
          .deleteFrom('account_leases')
          .where('account_id', '=', row.account_id)
          .where('holder', '=', this.workerId)
          .execute();
        if (this.held.has(row.account_id)) await this.release(row.account_id);
        continue;
      }
      const held = this.held.get(row.account_id);
      if (!held) {
        this.held.set(row.account_id, { generation: row.generation, syncRequestedAt: row.sync_requested_at });
        this.options.hooks.acquired(row.account_id, row.generation);
        continue;
      }
      if (held.generation !== row.generation) {
        held.generation = row.generation;
        await this.options.hooks.changed(row.account_id, row.generation);
      }
      if (row.sync_requested_at !== null && row.sync_requested_at !== held.syncRequestedAt) {
        held.syncRequestedAt = row.sync_requested_at;
        this.options.hooks.syncRequested(row.account_id);
      }
    }

    // \Seen changes queued by any process (a PATCH served elsewhere) for the accounts held here: within a tick.
    if (this.options.hooks.flagWrites && this.held.size > 0) {
      const waiting = await db
        .selectFrom('flag_writes')
        .select('account_id')
        .distinct()
        .where('account_id', 'in', [...this.held.keys()])
        .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
        .execute();
      for (const { account_id } of waiting) this.options.hooks.flagWrites(account_id);
    }

    const requests = await db
      .selectFrom('backfill_requests')
      .select(['id', 'org_id', 'addresses_json'])
      .where('id', '>', this.backfillCursor)
      .orderBy('id')
      .limit(200)
      .execute();
    for (const request of requests) {
      this.backfillCursor = request.id;
      this.options.hooks.backfill(request.org_id, JSON.parse(request.addresses_json) as string[]);
    }
    if (requests.length > 0) this.again = true;
    await db
      .deleteFrom('backfill_requests')
      .where('created_at', '<', now - 24 * 3600_000)
      .execute();

    // A fair share: live workers split the accounts that want syncing.
    const live = await db
      .selectFrom('workers')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('heartbeat_at', '>', now - this.ttlMs)
      .executeTakeFirstOrThrow();
    const wanted = await db
      .selectFrom('email_accounts')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('status', '!=', 'needs_reconnect')
      .where('paused', '=', 0)
      .executeTakeFirstOrThrow();
    const share = Math.min(this.maxAccounts, Math.ceil(Number(wanted.n) / Math.max(1, Number(live.n))));
    if (this.held.size > share) {
      // A new worker joined: hand back the surplus so it can take its share, without anyone restarting.
      for (const accountId of [...this.held.keys()].slice(share)) {
        await this.release(accountId);
        await db
          .deleteFrom('account_leases')
          .where('account_id', '=', accountId)
          .where('holder', '=', this.workerId)
          .execute();
      }
      return;
    }
    const room = Math.min(share - this.held.size, MAX_CLAIMS_PER_ROUND);
    if (room <= 0 || this.stopped) return;
    // More to take than one round claims: another round follows at once (renewing in between).
    if (share - this.held.size > MAX_CLAIMS_PER_ROUND) this.again = true;
    let renewedAt = Date.now();
    const candidates = await db
      .selectFrom('email_accounts')
      .leftJoin('account_leases', 'account_leases.account_id', 'email_accounts.id')
      .select(['email_accounts.id'])
      .where('email_accounts.status', '!=', 'needs_reconnect')
      .where('email_accounts.paused', '=', 0)
      .where((eb) => eb.or([eb('account_leases.account_id', 'is', null), eb('account_leases.expires_at', '<', now)]))
      .orderBy('email_accounts.id')
      .limit(room)
      .execute();
    for (const { id } of candidates) {
      if (this.stopped) return;
      const at = Date.now();
      // A long claiming round must not let the leases already held expire under their live runners.
      if (at - renewedAt > this.ttlMs / 4) {
        await db
          .updateTable('account_leases')
          .set({ expires_at: at + this.ttlMs })
          .where('holder', '=', this.workerId)
          .execute();
        renewedAt = at;
      }
      // Wins only over no lease or an expired one; a live holder's row is left as it is.
      await db
        .insertInto('account_leases')
        .values({ account_id: id, holder: this.workerId, acquired_at: at, expires_at: at + this.ttlMs })
        .onConflict((oc) =>
          oc
            .column('account_id')
            .doUpdateSet({ holder: this.workerId, acquired_at: at, expires_at: at + this.ttlMs })
            .where('account_leases.expires_at', '<', at),
        )
        .execute();
      const won = await db
        .selectFrom('account_leases')
        .innerJoin('email_accounts', 'email_accounts.id', 'account_leases.account_id')
        .select(['account_leases.holder', 'email_accounts.generation', 'email_accounts.sync_requested_at'])
        .where('account_leases.account_id', '=', id)
        .executeTakeFirst();
      if (won?.holder === this.workerId && !this.held.has(id)) {
        this.held.set(id, { generation: won.generation, syncRequestedAt: won.sync_requested_at });
        this.options.log.info({ accountId: id, worker: this.workerId }, 'took the lease of an account');
        this.options.hooks.acquired(id, won.generation);
      }
    }
  }
}
