// Runs one AccountRunner per account this process holds the lease of (jobs/account-leases.ts decides which):
// starts it when the lease is taken, restarts it when the account's configuration changes, stops it when the
// lease goes or the account is deleted. Each start and stop is recorded (sync_events), so "never two runners for
// one mailbox" can be checked, not assumed.
import { newId } from '../../storage/ids.js';
import { AccountRunner, type RunnerDeps } from './account-runner.js';

export class AccountSupervisor {
  private readonly runners = new Map<string, AccountRunner>();
  private closed = false;

  constructor(
    private readonly deps: RunnerDeps,
    /** Who this process is, in the runner:start/stop events. */
    private readonly workerId: string,
  ) {}

  private async record(accountId: string, kind: 'runner:start' | 'runner:stop'): Promise<void> {
    try {
      await this.deps.db
        .insertInto('sync_events')
        .values({ id: newId(), account_id: accountId, kind, detail: this.workerId, created_at: Date.now() })
        .execute();
    } catch {
      // The account was deleted meanwhile: nothing to record it on.
    }
  }

  async start(accountId: string): Promise<void> {
    if (this.closed || this.runners.has(accountId)) return;
    const runner = new AccountRunner(accountId, this.deps);
    this.runners.set(accountId, runner);
    await this.record(accountId, 'runner:start');
    runner.start();
  }

  async restart(accountId: string): Promise<void> {
    await this.stop(accountId);
    await this.start(accountId);
  }

  async stop(accountId: string): Promise<void> {
    const runner = this.runners.get(accountId);
    if (!runner) return;
    this.runners.delete(accountId);
    await runner.stop();
    await this.record(accountId, 'runner:stop');
  }

  /** Earlier mail of new contact addresses, looked for in every mailbox of the organisation this process runs. */
  async backfill(orgId: string, addresses: string[]): Promise<void> {
    const accounts = await this.deps.db.selectFrom('email_accounts').select('id').where('org_id', '=', orgId).execute();
    for (const { id } of accounts) this.runners.get(id)?.backfill(addresses);
  }

  /** "Sync now": a pass at once, or a retry at once for an account waiting after a failure. */
  syncNow(accountId: string): boolean {
    const runner = this.runners.get(accountId);
    if (!runner) return false;
    runner.wake();
    return true;
  }

  /** Read/unread changes were queued for the account: written now if this process runs it. */
  writeFlags(accountId: string): boolean {
    const runner = this.runners.get(accountId);
    if (!runner) return false;
    runner.writeFlags();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.runners.keys()].map((id) => this.stop(id)));
  }
}
