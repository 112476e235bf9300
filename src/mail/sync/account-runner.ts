// One long-lived owner per account: keeps an IMAP connection open (IDLE on the inbox, so changes are pushed),
// runs a pass when connected, when woken and on a timer, refreshes OAuth tokens ahead of expiry, and turns
// every failure into a status through the failure policy. Stopping closes the connection at once. The loop itself
// (claim, round, backoff, wait) is jobs/retry-loop's, shared with the calendar runner.
import type { ImapFlow } from 'imapflow';
import type { Logger } from '../../core/logger.js';
import type { SecretBox } from '../../core/secret-box.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import type { AccountCredentials } from '../accounts/account-credentials.js';
import { freshAccountCredentials } from '../accounts/account-login.js';
import { setAccountStatus } from '../accounts/account-status.js';
import { createImapClient, pinEndpoint } from '../connection/test-mail-connection.js';
import type { OAuthConfig } from '../oauth2/oauth-config.js';
import { decideFailure, SERVER_KEEPS_CLOSING, type FailureDetail } from './failure-policy.js';
import { runRetryLoop, type Round, type RoundEnd } from '../../jobs/retry-loop.js';
import { discoverFolders } from './discover-folders.js';
import { backfillFolder, syncFolder, type FolderSyncContext } from './folder-sync.js';
import { foldersToSync } from './folders-to-sync.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { ParsedMessage, ParseOptions } from '../mime/parse-message.js';
import type { DownloadParser } from '../mime/parse-pool.js';
import { parseNeverLogList } from '../rules/never-log.js';
import { recordBounce } from '../bounces/record-bounce.js';
import { organisationAddresses } from '../accounts/organisation-addresses.js';
import { WakeableSleep } from '../../jobs/wakeable-sleep.js';
import type { OutboundPolicy } from '../../net/outbound-policy.js';
import { writeBackFlags } from './flag-writes.js';

export interface RunnerDeps {
  db: Db;
  secrets: SecretBox;
  oauth: OAuthConfig;
  log: Logger;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How often a pass runs while connected, besides IDLE pushes and explicit "sync now". */
  pollIntervalMs: number;
  tlsRejectUnauthorized?: boolean;
  /** Checked at every connection: a name that now resolves to an internal address is refused. */
  outbound: OutboundPolicy;
  blobs: BlobStore;
  parse(raw: Buffer, options?: ParseOptions): Promise<ParsedMessage>;
  /** Big messages by way of the blob files (MappingContext.downloads). */
  downloads?: DownloadParser | null;
  /** UIDs per scan / fetch / store batch. */
  batchSize: number;
  /** Bytes of downloaded mail per batch; a bigger message is fetched alone. */
  batchBytes: number;
  /** Tests: told of every download of kept mail. */
  onFetch?(fetch: { accountId: string; uids: number[]; bytes: number }): void;
  /** The BCC addresses' domain: an account's BCC address is one of its own, never a contact. */
  bccDomain: string;
  /** Fencing: false once this process's lease on the account is gone; the runner then stops touching it. */
  stillOwner?(accountId: string): Promise<boolean>;
}

/** A connection that drops sooner than this after login counts as a failure, so a flapping server backs off. */
const MIN_HEALTHY_SESSION_MS = 5_000;

export class AccountRunner {
  private readonly abort = new AbortController();
  private client: ImapFlow | null = null;
  private readonly waiting = new WakeableSleep();
  private readonly pendingBackfill = new Set<string>();
  /** Set by IDLE's EXISTS push: the next pass only needs the inbox. */
  private inboxOnly = false;
  /** Someone asked for a pass (sync now, a push, a backfill), not only for the timer's. */
  private passWanted = false;
  /** Read/unread changes wait to be written to the server (flag-writes.ts). */
  private flagsWanted = false;
  /** True while connected and waiting in IDLE: only then can the flag writes go without a pass. */
  private watching = false;
  private done: Promise<void> = Promise.resolve();

  constructor(
    readonly accountId: string,
    private readonly deps: RunnerDeps,
  ) {}

  start(): void {
    this.done = this.loop().catch((error: unknown) => {
      this.deps.log.error({ accountId: this.accountId, err: error }, 'account runner crashed');
    });
  }

  /** Looks for the earlier mail of new contact addresses at the next pass. */
  backfill(addresses: string[]): void {
    for (const address of addresses) this.pendingBackfill.add(address);
    this.wake();
  }

  /** Runs a pass now (or retries now when waiting after a failure). */
  wake(): void {
    this.passWanted = true;
    this.waiting.wake();
  }

  /**
   * Writes queued read/unread changes to the server now, on the open connection and without a pass. Not
   * connected: the next pass writes them first (a failing mailbox is not retried early for them).
   */
  writeFlags(): void {
    this.flagsWanted = true;
    if (this.watching) this.waiting.wake();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.waiting.interrupt();
    this.client?.close();
    await this.done;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private loop(): Promise<void> {
    return runRetryLoop<EmailAccountsTable>({
      stopped: () => this.stopped,
      waiting: this.waiting,
      backoffBaseMs: this.deps.backoffBaseMs,
      backoffMaxMs: this.deps.backoffMaxMs,
      claim: async () => {
        const row = await this.deps.db
          .selectFrom('email_accounts')
          .selectAll()
          .where('id', '=', this.accountId)
          .executeTakeFirst();
        if (!row || row.status === 'needs_reconnect') return null;
        if (this.deps.stillOwner && !(await this.deps.stillOwner(row.id))) return null;
        return row;
      },
      run: (row, round) => this.session(row, round),
      failed: async (row, error) => {
        const decision = decideFailure(error, {
          host: row.imap_host,
          port: row.imap_port,
          secure: row.imap_secure === 1,
          authKind: row.auth_kind,
        });
        this.deps.log.warn(
          { accountId: row.id, action: decision.action, reason: describe(error) },
          'account sync failed',
        );
        if (decision.action === 'needs_reconnect') {
          await setAccountStatus(this.deps.db, row.id, row.generation, {
            status: 'needs_reconnect',
            detail: decision.detail,
            detailCode: decision.detailCode,
            detailParams: decision.detailParams,
          });
          return { next: 'stop' };
        }
        return this.backOff(row, decision);
      },
    });
  }

  /** One round of the loop: a connection, a pass, then IDLE until the connection closes or the runner stops. */
  private async session(row: EmailAccountsTable, round: Round): Promise<RoundEnd> {
    const generation = row.generation;
    let sessionStart = 0;
    try {
      if (row.status !== 'active') await setAccountStatus(this.deps.db, row.id, generation, { status: 'syncing' });
      // Checked at each connection, so a name that now resolves to an internal address is refused.
      const pinned = await pinEndpoint(this.deps.outbound, {
        host: row.imap_host,
        port: row.imap_port,
        secure: row.imap_secure === 1,
      });
      const credentials = await this.freshCredentials(row);
      const client = createImapClient(
        pinned.endpoint,
        { username: row.username, auth: credentials },
        // A long-lived session: short connect/greeting limits, but silence is normal while IDLE.
        {
          ...pinned.options,
          connectionTimeoutMs: 20_000,
          greetingTimeoutMs: 20_000,
          // IDLE soon after each pass: a new mail must reach its contact within seconds, not imapflow's default 15 s.
          imap: { autoIdleDelay: 500 },
          ...(this.deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}),
        },
      );
      this.client = client;
      client.on('error', (err: unknown) =>
        this.deps.log.warn({ accountId: row.id, err: describe(err) }, 'imap connection error'),
      );
      if (this.stopped) return { next: 'stop' };
      await client.connect();
      sessionStart = Date.now();
      await this.pass(client, row);
      if (this.stopped) return { next: 'stop' };
      await setAccountStatus(this.deps.db, row.id, generation, { status: 'active', lastSyncedAt: Date.now() });
      await this.watch(client, row);
      client.close();
      if (this.stopped) return { next: 'stop' };
      // The server closed a healthy session (restart, idle timeout, kick): reconnect at once.
      if (Date.now() - sessionStart >= MIN_HEALTHY_SESSION_MS) {
        round.succeeded();
        return { next: 'again' };
      }
      return this.backOff(row, SERVER_KEEPS_CLOSING);
    } catch (error) {
      this.client?.close();
      throw error;
    } finally {
      this.client = null;
    }
  }

  /** Retry after the next backoff delay; the status says why and when. */
  private backOff(row: EmailAccountsTable, failure: FailureDetail): RoundEnd {
    return {
      next: 'backoff',
      record: async (delay) => {
        await setAccountStatus(this.deps.db, row.id, row.generation, {
          status: 'error',
          detail: failure.detail,
          detailCode: failure.detailCode,
          detailParams: failure.detailParams,
          nextRetryAt: Date.now() + delay,
        });
      },
    };
  }

  /** One pass over the account: folders, then each synced folder's new mail, flags and removals, then backfills. */
  private async pass(client: ImapFlow, row: EmailAccountsTable, options: { inboxOnly?: boolean } = {}): Promise<void> {
    this.passWanted = false;
    // Changes made in the CRM first: the flag step below then reads the server's state with them in it.
    this.flagsWanted = false;
    await writeBackFlags(this.deps.db, client, row.id);
    if (!options.inboxOnly) await discoverFolders(this.deps.db, client, row.id, row.generation);
    const ctx = await this.folderContext(row);
    const folders = foldersToSync(
      await this.deps.db
        .selectFrom('mail_folders')
        .selectAll()
        .where('account_id', '=', row.id)
        .where('sync_enabled', '=', 1)
        .execute(),
      { syncMode: row.sync_mode, capabilities: client.capabilities },
    ).filter((f) => !options.inboxOnly || f.role === 'inbox' || f.role === 'all');
    for (const folder of folders) {
      if (this.stopped) return;
      await syncFolder(ctx, client, folder);
    }
    if (this.pendingBackfill.size > 0 && !this.stopped) {
      const addresses = [...this.pendingBackfill];
      this.pendingBackfill.clear();
      const fresh = await this.deps.db
        .selectFrom('mail_folders')
        .selectAll()
        .where('id', 'in', folders.length ? folders.map((f) => f.id) : [''])
        .execute();
      for (const folder of fresh) await backfillFolder(ctx, client, folder, addresses);
    }
    for (const bounce of ctx.bounces.splice(0)) await recordBounce(this.deps.db, row.org_id, bounce);
    await this.deps.db
      .updateTable('email_accounts')
      .set({ progress_json: null })
      .where('id', '=', row.id)
      .where('generation', '=', row.generation)
      .execute();
    // Back to the inbox, where IDLE waits for the next mail. Mail that arrived after the inbox's turn in this
    // pass and before this SELECT raises no EXISTS push: catch it with another pass at once.
    const inbox = await client.mailboxOpen('INBOX', { readOnly: true });
    const inboxFolder = folders.find((f) => f.role === 'inbox');
    if (inboxFolder) {
      const cursor = await this.deps.db
        .selectFrom('mail_folders')
        .select('last_seen_uid')
        .where('id', '=', inboxFolder.id)
        .executeTakeFirst();
      if (cursor && inbox.uidNext - 1 > cursor.last_seen_uid) {
        this.inboxOnly = true;
        this.wake();
      }
    }
  }

  private async folderContext(row: EmailAccountsTable): Promise<FolderSyncContext> {
    const settings = await this.deps.db
      .selectFrom('user_settings')
      .select(['auto_create_contacts', 'never_log_json'])
      .where('user_id', '=', row.user_id)
      .executeTakeFirst();
    return {
      db: this.deps.db,
      store: {
        orgId: row.org_id,
        ownerUserId: row.user_id,
        shared: row.visibility !== 'private',
        accountId: row.id,
        blobs: this.deps.blobs,
      },
      account: { id: row.id, orgId: row.org_id, userId: row.user_id, email: row.email, historyDays: row.history_days },
      ownAddresses: await organisationAddresses(this.deps.db, row.org_id, this.deps.bccDomain),
      autoCreateContacts: settings?.auto_create_contacts === 1,
      neverLog: parseNeverLogList(JSON.parse(settings?.never_log_json ?? '[]') as string[]),
      parse: this.deps.parse,
      downloads: this.deps.downloads ?? null,
      bounces: [],
      signal: this.abort.signal,
      batchSize: this.deps.batchSize,
      batchBytes: this.deps.batchBytes,
      ...(this.deps.onFetch
        ? {
            onFetch: (fetch: { uids: number[]; bytes: number }) => this.deps.onFetch?.({ accountId: row.id, ...fetch }),
          }
        : {}),
      onProgress: async (progress) => {
        await this.deps.db
          .updateTable('email_accounts')
          .set({ progress_json: JSON.stringify(progress) })
          .where('id', '=', row.id)
          .where('generation', '=', row.generation)
          .execute();
      },
    };
  }

  /** Holds the connection open (IDLE on the inbox) until it closes or the runner stops, running passes when
   *  IDLE reports new mail, when woken, and on a timer. */
  private async watch(client: ImapFlow, row: EmailAccountsTable): Promise<void> {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const onExists = () => {
      this.inboxOnly = true;
      this.wake();
    };
    client.on('exists', onExists);
    this.watching = true;
    try {
      while (!this.stopped && client.usable) {
        const sleptAt = Date.now();
        const woken = await Promise.race([
          closed.then(() => 'closed' as const),
          this.waiting.sleep(this.deps.pollIntervalMs, this.stopped).then(() => 'tick' as const),
        ]);
        if (woken === 'closed') this.waiting.interrupt();
        if (woken === 'closed' || this.stopped || !client.usable) return;
        if (this.deps.stillOwner && !(await this.deps.stillOwner(row.id))) return;
        if (this.flagsWanted && !this.passWanted && Date.now() - sleptAt < this.deps.pollIntervalMs) {
          // Only read/unread changes to write: no pass, back to IDLE on the inbox at once.
          this.flagsWanted = false;
          await writeBackFlags(this.deps.db, client, row.id);
          await client.mailboxOpen('INBOX', { readOnly: true });
          continue;
        }
        const inboxOnly = this.inboxOnly && this.pendingBackfill.size === 0;
        this.inboxOnly = false;
        // Keeps the stored token fresh between reconnects; a revoked grant surfaces here.
        await this.freshCredentials(row);
        await this.pass(client, row, { inboxOnly });
        await setAccountStatus(this.deps.db, row.id, row.generation, { status: 'active', lastSyncedAt: Date.now() });
      }
    } finally {
      this.watching = false;
      client.off('exists', onExists);
    }
  }

  /** The stored credentials, with OAuth tokens refreshed (and stored again) when they are about to expire. */
  private freshCredentials(row: EmailAccountsTable): Promise<AccountCredentials> {
    return freshAccountCredentials(
      { db: this.deps.db, secrets: this.deps.secrets, oauth: this.deps.oauth, log: this.deps.log },
      row,
      this.abort.signal,
    );
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300);
  return String(error).slice(0, 300);
}
