// One long-lived owner per account: keeps an IMAP connection open (IDLE on the inbox, so changes are pushed),
// runs a pass when connected, when woken and on a timer, refreshes OAuth tokens ahead of expiry, and turns
// every failure into a status through the failure policy. Stopping closes the connection at once.
import type { ImapFlow } from 'imapflow';
import type { SecretBox } from '../../app/secret-box.js';
import type { Db } from '../../storage/database.js';
import type { EmailAccountsTable } from '../../storage/schema.js';
import { openCredentials, sealCredentials, type AccountCredentials } from '../accounts/account-credentials.js';
import { setAccountStatus } from '../accounts/account-status.js';
import { createImapClient } from '../connection/test-mail-connection.js';
import { refreshTokens, tokenNeedsRefresh } from '../oauth2/oauth-client.js';
import type { OAuthConfig } from '../oauth2/oauth-config.js';
import { isOAuthProviderId } from '../oauth2/oauth-providers.js';
import { backoffDelay, decideFailure } from './failure-policy.js';
import { discoverFolders } from './discover-folders.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

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
}

/** A connection that drops sooner than this after login counts as a failure, so a flapping server backs off. */
const MIN_HEALTHY_SESSION_MS = 5_000;

export class AccountRunner {
  private readonly abort = new AbortController();
  private client: ImapFlow | null = null;
  private wakeUp: (() => void) | null = null;
  private wakeRequested = false;
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

  /** Runs a pass now (or retries now when waiting after a failure). */
  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeUp?.();
    this.client?.close();
    await this.done;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      const row = await this.deps.db.selectFrom('email_accounts').selectAll().where('id', '=', this.accountId).executeTakeFirst();
      if (!row || row.status === 'needs_reconnect') return;
      const generation = row.generation;
      let sessionStart = 0;
      try {
        if (row.status !== 'active') await setAccountStatus(this.deps.db, row.id, generation, { status: 'syncing' });
        const credentials = await this.freshCredentials(row);
        const client = createImapClient(
          { host: row.imap_host, port: row.imap_port, secure: row.imap_secure === 1 },
          { username: row.username, auth: credentials },
          // A long-lived session: short connect/greeting limits, but silence is normal while IDLE.
          { connectionTimeoutMs: 20_000, greetingTimeoutMs: 20_000, ...(this.deps.tlsRejectUnauthorized === false ? { tlsRejectUnauthorized: false } : {}) },
        );
        this.client = client;
        client.on('error', (err: unknown) => this.deps.log.warn({ accountId: row.id, err: describe(err) }, 'imap connection error'));
        if (this.stopped) return;
        await client.connect();
        sessionStart = Date.now();
        await this.pass(client, row);
        if (this.stopped) return;
        await setAccountStatus(this.deps.db, row.id, generation, { status: 'active', lastSyncedAt: Date.now() });
        await this.watch(client, row);
        client.close();
        if (this.stopped) return;
        // The server closed a healthy session (restart, idle timeout, kick): reconnect at once.
        if (Date.now() - sessionStart >= MIN_HEALTHY_SESSION_MS) attempt = 0;
        else attempt = await this.backOff(row, generation, attempt + 1, 'The mail server keeps closing the connection');
      } catch (error) {
        this.client?.close();
        if (this.stopped) return;
        const decision = decideFailure(error);
        this.deps.log.warn({ accountId: row.id, action: decision.action, reason: describe(error) }, 'account sync failed');
        if (decision.action === 'needs_reconnect') {
          await setAccountStatus(this.deps.db, row.id, generation, { status: 'needs_reconnect', detail: decision.detail });
          return;
        }
        attempt = await this.backOff(row, generation, attempt + 1, decision.detail);
      } finally {
        this.client = null;
      }
    }
  }

  private async backOff(row: EmailAccountsTable, generation: number, attempt: number, detail: string): Promise<number> {
    const delay = backoffDelay(attempt, this.deps.backoffBaseMs, this.deps.backoffMaxMs);
    await setAccountStatus(this.deps.db, row.id, generation, { status: 'error', detail, nextRetryAt: Date.now() + delay });
    await this.sleep(delay);
    return attempt;
  }

  /** One pass over the account. The sync engine's folder passes hang here; today: folders and token freshness. */
  private async pass(client: ImapFlow, row: EmailAccountsTable): Promise<void> {
    await discoverFolders(this.deps.db, client, row.id, row.generation);
  }

  /** Holds the connection open (IDLE on the inbox) until it closes or the runner stops, running passes on wake-ups and on a timer. */
  private async watch(client: ImapFlow, row: EmailAccountsTable): Promise<void> {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await client.mailboxOpen('INBOX', { readOnly: true });
    // imapflow enters IDLE by itself whenever the connection is not busy.
    while (!this.stopped && client.usable) {
      const woken = await Promise.race([closed.then(() => 'closed' as const), this.sleep(this.deps.pollIntervalMs).then(() => 'tick' as const)]);
      if (woken === 'closed') this.wakeUp?.();
      if (woken === 'closed' || this.stopped || !client.usable) return;
      // Keeps the stored token fresh between reconnects; a revoked grant surfaces here.
      await this.freshCredentials(row);
      await this.pass(client, row);
      await setAccountStatus(this.deps.db, row.id, row.generation, { status: 'active', lastSyncedAt: Date.now() });
    }
  }

  /** The stored credentials, with OAuth tokens refreshed (and stored again) when they are about to expire. */
  private async freshCredentials(row: EmailAccountsTable): Promise<AccountCredentials> {
    const stored = await this.deps.db.selectFrom('email_accounts').select('credentials_enc').where('id', '=', row.id).executeTakeFirstOrThrow();
    const credentials = openCredentials(this.deps.secrets, row.id, stored.credentials_enc);
    if (credentials.kind !== 'oauth2' || !tokenNeedsRefresh(credentials)) return credentials;
    if (!credentials.refreshToken || !isOAuthProviderId(row.provider)) return credentials;
    const tokens = await refreshTokens({ provider: row.provider, config: this.deps.oauth, refreshToken: credentials.refreshToken, signal: this.abort.signal });
    const next: AccountCredentials = { kind: 'oauth2', accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresAt };
    await this.deps.db
      .updateTable('email_accounts')
      .set({ credentials_enc: sealCredentials(this.deps.secrets, row.id, next), updated_at: Date.now() })
      .where('id', '=', row.id)
      .where('generation', '=', row.generation)
      .execute();
    this.deps.log.info({ accountId: row.id }, 'refreshed OAuth access token');
    return next;
  }

  /** Sleeps for `ms`, ending early on stop or wake. */
  private sleep(ms: number): Promise<void> {
    if (this.wakeRequested || this.stopped) {
      this.wakeRequested = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        // A stale sleep (lost a race against a closed connection) must not clear a newer one's hook.
        if (this.wakeUp === done) this.wakeUp = null;
        this.wakeRequested = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300);
  return String(error).slice(0, 300);
}
