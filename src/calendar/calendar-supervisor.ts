// Keeps one CalendarRunner per account this process syncs, apart from the mail supervisor: a calendar failure
// never stops mail, and the mail's state never stops the calendar.
//
// WIRING (for the composition root; nothing here reads config or env):
//
//   1. Build it next to the mail AccountSupervisor (src/app/background-work.ts, createBackgroundWork):
//        const calendarLog = deps.log.child({ component: 'calendar' });
//        const calendar = new CalendarSupervisor({
//          db, log: calendarLog, bccDomain: config.bccDomain,
//          driverFor: createDriverFactory({ db, secrets, oauth: config.oauth, log: calendarLog }),
//          intervalMs: options.calendarIntervalMs ?? 30 * 60_000,     // whole passes (safety net); tests: ~1_000
//          checkIntervalMs: 30_000,                                  // change checks (ctag/sync-token)
//          backoffBaseMs: options.backoffBaseMs ?? 2_000,
//          backoffMaxMs: options.backoffMaxMs ?? 5 * 60_000,
//        });
//      (a CONVERSA_CALENDAR_INTERVAL_MINUTES setting in config.ts would feed intervalMs.)
//
//   2. Which accounts: the same ones as the mail runners. With the lease coordinator, forward its hooks too:
//        acquired:  (id) => { void supervisor.start(id); void calendar.start(id); }
//        released:  async (id) => { await supervisor.stop(id); await calendar.stop(id); }
//        changed:   async (id) => { await supervisor.restart(id); await calendar.restart(id); }
//      Without leases (a single process), `await calendar.startAll()` after listen.
//
//   3. Account changes from the API (AccountDeps.onChanged, via accountSignals in background-work.ts): forward them
//      to `calendar.onAccountChanged(accountId, change)` as well — 'deleted' always (it only stops a runner), and
//      'reconnected' / 'switched' when this process owns the account (local.leases.owns(accountId)); 'created' needs
//      nothing (the lease, once acquired, starts it). A reconnect clears a calendar "needs_reconnect" / "none" /
//      "error" and restarts the runner. Without leases, forward every change.
//
//   4. New contacts link their already-synced meetings: in the process that creates contacts (the web side, so in
//      startServer even when the background runs elsewhere — it only touches the database):
//        contactEvents.on('addresses-added', (e) => void linkMeetingsToAddresses(db, e.orgId, e.addresses));
//      (CalendarSupervisor.onAddressesAdded does the same for a process that has a supervisor.)
//
//   5. Routes, registered in buildServer before listen (src/http/build-server.ts):
//        meetingRoutes(router, {
//          db, bccDomain: config.bccDomain,
//          driverFor: createDriverFactory({ db, secrets, oauth: config.oauth, log: app.log }),
//          syncNow: signals.calendarSyncNow,   // here, or via sync_requested_at to the lease holder
//        });
//      and the mail's "sync now" route asks the calendar too (EmailAccountRouteDeps.calendarSyncNow).
//      The routes write to calendars themselves (they need no supervisor); only "sync now" reaches the runner.
//
//   6. Shutdown: `await calendar.close()` next to `supervisor.close()`.
//
//   7. Push (issue 16): `push: calendarPushFor(config.publicUrl)` (null unless PUBLIC_URL is public https); the
//      webhook routes (calendar-hook-routes.ts) call signals.calendarPushed → `calendar.poke(accountId)` here, or
//      sync_requested_at for the lease holder. 'deleted' stops the account's channels before its row goes.
//
// Drivers: CalDAV (any account with a CalDAV URL, or whose preset says caldav), Google Calendar API (Gmail accounts
// signed in with Google) and Microsoft Graph (Microsoft 365 / Outlook accounts signed in with Microsoft; its token
// is asked for the calendar audience). Gmail/Microsoft accounts connected with an app password get status "none":
// those calendars take OAuth only.
import { linkMeetingsToAddresses } from './meetings/ingest-meetings.js';
import { CalendarRunner, type CalendarRunnerDeps } from './calendar-runner.js';

export type AccountChange = 'created' | 'reconnected' | 'switched' | 'deleted';

export class CalendarSupervisor {
  private readonly runners = new Map<string, CalendarRunner>();
  private closed = false;

  constructor(private readonly deps: CalendarRunnerDeps) {}

  /** Every account of the install (single-process use, and tests). */
  async startAll(): Promise<void> {
    const rows = await this.deps.db.selectFrom('email_accounts').select('id').execute();
    for (const row of rows) await this.start(row.id);
  }

  async start(accountId: string): Promise<void> {
    if (this.closed || this.runners.has(accountId)) return;
    const runner = new CalendarRunner(accountId, this.deps);
    this.runners.set(accountId, runner);
    runner.start();
  }

  async stop(accountId: string): Promise<void> {
    const runner = this.runners.get(accountId);
    if (!runner) return;
    this.runners.delete(accountId);
    await runner.stop();
  }

  async restart(accountId: string): Promise<void> {
    await this.stop(accountId);
    await this.start(accountId);
  }

  /** "Sync now": a pass at once (or a retry at once after a failure). False when this process does not run it. */
  syncNow(accountId: string): boolean {
    const runner = this.runners.get(accountId);
    if (!runner) return false;
    runner.wake();
    return true;
  }

  /**
   * A push notification for the account: a change check now (no discovery). False when this process does not run
   * it (then the caller asks the lease holder through the database).
   */
  poke(accountId: string): boolean {
    const runner = this.runners.get(accountId);
    if (!runner) return false;
    runner.poke();
    return true;
  }

  running(accountId: string): boolean {
    return this.runners.has(accountId);
  }

  async onAccountChanged(accountId: string, change: AccountChange): Promise<void> {
    if (change === 'deleted') {
      await this.stop(accountId);
      // Told before the row goes (deleteAccount): its credentials can still stop the push channels.
      await this.stopChannels(accountId);
      return;
    }
    await this.stop(accountId);
    if (change !== 'created') {
      // New credentials or another server: whatever stopped the calendar before is worth trying again.
      await this.deps.db
        .updateTable('email_accounts')
        .set({ calendar_status: null, calendar_detail: null })
        .where('id', '=', accountId)
        .where('calendar_status', 'in', ['needs_reconnect', 'none', 'error'])
        .execute();
    }
    await this.start(accountId);
  }

  /** Stops the account's push channels at the provider and forgets them (best effort: each expires anyway). */
  async stopChannels(accountId: string): Promise<void> {
    try {
      await new CalendarRunner(accountId, this.deps).stopChannels();
    } catch (error) {
      this.deps.log.warn({ accountId, reason: String(error).slice(0, 200) }, 'calendar push channels not stopped');
    }
  }

  /** Links stored meetings to new contact addresses. */
  async onAddressesAdded(event: { orgId: string; addresses: string[] }): Promise<void> {
    await linkMeetingsToAddresses(this.deps.db, event.orgId, event.addresses);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.runners.keys()].map((id) => this.stop(id)));
  }
}
