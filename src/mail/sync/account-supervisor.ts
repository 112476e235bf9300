// Keeps exactly one runner per connected account in this process: starts them at boot, restarts one when
// its configuration changes, stops one when it is deleted or the process shuts down.
import { AccountRunner, type RunnerDeps } from './account-runner.js';

export class AccountSupervisor {
  private readonly runners = new Map<string, AccountRunner>();
  private closed = false;

  constructor(private readonly deps: RunnerDeps) {}

  async startAll(): Promise<void> {
    const rows = await this.deps.db.selectFrom('email_accounts').select('id').where('status', '!=', 'needs_reconnect').execute();
    for (const row of rows) this.start(row.id);
  }

  private start(accountId: string): void {
    if (this.closed) return;
    const runner = new AccountRunner(accountId, this.deps);
    this.runners.set(accountId, runner);
    runner.start();
  }

  async restart(accountId: string): Promise<void> {
    await this.stop(accountId);
    this.start(accountId);
  }

  async stop(accountId: string): Promise<void> {
    const runner = this.runners.get(accountId);
    if (!runner) return;
    this.runners.delete(accountId);
    await runner.stop();
  }

  /** Earlier mail of new contact addresses, looked for in every mailbox of the organisation. */
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

  async onAccountChanged(accountId: string, change: 'created' | 'reconnected' | 'switched' | 'deleted'): Promise<void> {
    if (change === 'deleted') await this.stop(accountId);
    else await this.restart(accountId);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    this.runners.clear();
  }
}
