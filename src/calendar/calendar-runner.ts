// One calendar loop per account, apart from the mail runner so a calendar failure never stops or marks the mail
// sync: discover the calendars, bring each up to date (sync token, or ctag + etags), store. Then the steady state:
// every ~30 s a cheap change check (the calendars' sync-tokens/ctags, one request per calendar home on CalDAV) and
// the full work only for the calendars whose tag moved; a whole pass with discovery again at once on "sync now",
// after a failure, on a new day (recurrences re-expanded) and every `intervalMs` as a safety net. Failures go
// through decideCalendarFailure: refused credentials stop the loop until the account is reconnected, anything else
// is retried with backoff and jitter; the state is kept in email_accounts.calendar_* for the health view. The loop
// itself is jobs/retry-loop's, shared with the mail runner. Also the factory that picks an account's driver.
// Push (Google watch channels, Graph subscriptions; only when deps.push is given, i.e. PUBLIC_URL is reachable): after
// each round the runner keeps one channel per calendar (push/calendar-channels.ts); while every calendar has one, the
// checks slow to a safety cadence (5 min) and a notification pokes the runner into a change check at once.
import type { SecretBox } from '../core/secret-box.js';
import type { AccountCredentials } from '../mail/accounts/account-credentials.js';
import { freshAccountCredentials } from '../mail/accounts/account-login.js';
import { refreshTokens } from '../mail/oauth2/oauth-client.js';
import type { OAuthConfig } from '../mail/oauth2/oauth-config.js';
import { isOAuthProviderId } from '../mail/oauth2/oauth-providers.js';
import { getProvider } from '../mail/providers/presets.js';
import { runRetryLoop, type Round, type RoundEnd } from '../jobs/retry-loop.js';
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import type { CalendarStatus, EmailAccountsTable } from '../storage/schema.js';
import { createGoogleDriver } from './google/google-driver.js';
import { createMicrosoftDriver } from './microsoft/microsoft-driver.js';
import {
  CalendarError,
  decideCalendarFailure,
  type CalendarDetail,
  type CalendarDriver,
  type RemoteCalendar,
} from './calendar-driver.js';
import { paramsFromJson, paramsToJson } from '../core/server-text.js';
import { WakeableSleep } from '../jobs/wakeable-sleep.js';
import type { OutboundPolicy } from '../net/outbound-policy.js';
import { accountContext, syncWindow, type WindowOptions } from './meetings/account-context.js';
import {
  type CalendarRow,
  ingestObjects,
  knownObjects,
  reexpandCalendar,
  remoteCalendar,
  removeObjects,
  saveDiscovery,
  type IngestResult,
} from './meetings/ingest-meetings.js';
import type { Logger } from '../core/logger.js';
import {
  DEFAULT_SAFETY_CHECK_MS,
  maintainChannels,
  stopAccountChannels,
  type CalendarPushOptions,
} from './push/calendar-channels.js';
import type { PushProvider } from './push/push-url.js';

/** Builds the driver of an account's calendar, or null when the account has none. */
export type DriverFactory = (account: EmailAccountsTable) => Promise<CalendarDriver | null>;

export interface DriverFactoryDeps {
  db: Db;
  secrets: SecretBox;
  oauth: OAuthConfig;
  log: Logger;
  /** Where a CalDAV server (and every URL it hands back) may be; default: public addresses only. */
  outbound?: OutboundPolicy;
  /** Tests only: how drivers reach the network. */
  fetch?: typeof globalThis.fetch;
  /** Tests only: fakes of the Google Calendar API and Microsoft Graph. */
  googleApiBase?: string;
  graphApiBase?: string;
}

/** The domains to look for /.well-known/caldav on: the address's domain, then the IMAP host's (and the host). */
export function discoveryDomains(account: Pick<EmailAccountsTable, 'email' | 'imap_host'>): string[] {
  const domains: string[] = [];
  const emailDomain = account.email.split('@')[1]?.toLowerCase();
  if (emailDomain) domains.push(emailDomain);
  const host = account.imap_host.toLowerCase();
  // An IP address names no domain to discover from.
  if (host && !/^[\d.]+$/.test(host) && !host.includes(':')) {
    const labels = host.split('.');
    if (labels.length > 2) domains.push(labels.slice(1).join('.'));
    domains.push(host);
  }
  return [...new Set(domains)];
}

/**
 * The one place that knows which driver serves which account: the account's own CalDAV URL first, else what its
 * provider preset says (CalDAV with the preset's URL or discovery; Google; Microsoft). Credentials are the
 * mailbox's, read fresh for each request (and refreshed when they are OAuth tokens).
 */
export function createDriverFactory(deps: DriverFactoryDeps): DriverFactory {
  const loginDeps = { db: deps.db, secrets: deps.secrets, oauth: deps.oauth, log: deps.log };
  return async (account) => {
    const preset = getProvider(account.provider);
    const kind = account.caldav_url ? 'caldav' : (preset?.calendar ?? null);
    switch (kind) {
      case null:
        return null;
      case 'caldav': {
        // tsdav (and its XML parser) is loaded by the first CalDAV account, not by every process (issue 18).
        const { createCalDavDriver } = await import('./caldav/caldav-driver.js');
        return createCalDavDriver({
          url: account.caldav_url ?? preset?.caldavUrl ?? null,
          discoveryDomains: discoveryDomains(account),
          authorization: async (signal) =>
            authorizationOf(await freshAccountCredentials(loginDeps, account, signal), account.username),
          ...(deps.outbound ? { outbound: deps.outbound } : {}),
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        });
      }
      case 'google':
        // The Calendar API takes OAuth only (an app password reaches IMAP, not the calendar).
        if (account.auth_kind !== 'oauth2') return null;
        return createGoogleDriver({
          // Google's one token serves mail and calendar: use the stored one while it lasts (the mail runner keeps
          // it fresh), so two runners do not refresh the same grant behind each other's back.
          token: async (signal) => accessTokenOf(await freshAccountCredentials(loginDeps, account, signal, 30_000)),
          ...(deps.googleApiBase ? { baseUrl: deps.googleApiBase } : {}),
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        });
      case 'microsoft': {
        if (account.auth_kind !== 'oauth2') return null;
        return createMicrosoftDriver({
          token: calendarTokenSource(deps, account),
          ...(deps.graphApiBase ? { baseUrl: deps.graphApiBase } : {}),
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        });
      }
      default: {
        const exhaustive: never = kind;
        throw new Error(`unknown calendar kind ${String(exhaustive)}`);
      }
    }
  };
}

function accessTokenOf(credentials: AccountCredentials): string {
  if (credentials.kind !== 'oauth2')
    throw new CalendarError('AUTH_FAILED', 'the account has no OAuth sign-in to reach its calendar with');
  return credentials.accessToken;
}

function authorizationOf(credentials: AccountCredentials, username: string): string {
  if (credentials.kind === 'oauth2') return `Bearer ${credentials.accessToken}`;
  return `Basic ${Buffer.from(`${username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/**
 * A Microsoft Graph token for the calendar (its own audience: the mail token is for Outlook's IMAP/SMTP), kept in
 * memory until shortly before it expires. For the Graph driver; exported so it is built once, here.
 */
export function calendarTokenSource(
  deps: DriverFactoryDeps,
  account: Pick<EmailAccountsTable, 'id' | 'provider' | 'generation'>,
) {
  let cached: { token: string; expiresAt: number } | null = null;
  return async (signal: AbortSignal): Promise<string> => {
    if (cached && cached.expiresAt - 5 * 60_000 > Date.now()) return cached.token;
    const credentials = await freshAccountCredentials(
      { db: deps.db, secrets: deps.secrets, oauth: deps.oauth, log: deps.log },
      account,
      signal,
    );
    if (credentials.kind !== 'oauth2' || !credentials.refreshToken || !isOAuthProviderId(account.provider)) {
      throw new CalendarError('AUTH_FAILED', 'the account has no OAuth sign-in to reach its calendar with');
    }
    const tokens = await refreshTokens({
      provider: account.provider,
      config: deps.oauth,
      refreshToken: credentials.refreshToken,
      audience: 'calendar',
      signal,
    });
    cached = { token: tokens.accessToken, expiresAt: tokens.expiresAt };
    return tokens.accessToken;
  };
}

export interface CalendarRunnerDeps {
  db: Db;
  log: Logger;
  bccDomain: string;
  driverFor: DriverFactory;
  /** Between whole passes with discovery: the safety net under the change checks (e.g. 30 minutes). */
  intervalMs: number;
  /**
   * Between change checks (default 30 s, jittered by ±10 % so many accounts spread out): how soon a change made
   * in the calendar reaches the CRM without anyone asking.
   */
  checkIntervalMs?: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** The span kept around today (default: the account's history window back, a year ahead). */
  window?: WindowOptions;
  /** Objects per fetch-and-store batch (default 50). */
  batchSize?: number;
  /** Told after each pass that got through (tests, metrics); `light`: after a change check, moved calendars only. */
  onPass?(accountId: string, summary: PassSummary, light: boolean): void;
  /** Told after each change check that found nothing to do (tests, metrics). */
  onIdleCheck?(accountId: string): void;
  /**
   * Push (Google watch channels, Graph subscriptions) when PUBLIC_URL is reachable from the internet (pushUsable);
   * absent: every calendar is polled at checkIntervalMs, as without push.
   */
  push?: CalendarPushOptions;
}

/** The provider that can push an account's calendar changes, or null (CalDAV: polled). */
export function pushProviderOf(account: Pick<EmailAccountsTable, 'provider' | 'caldav_url'>): PushProvider | null {
  if (account.caldav_url) return null;
  const kind = getProvider(account.provider)?.calendar;
  return kind === 'google' || kind === 'microsoft' ? kind : null;
}

/** Default pace of the change checks. */
export const DEFAULT_CHECK_INTERVAL_MS = 30_000;

/** How often an idle account's "synced at" is brought forward (a write every check would cost more than the check). */
const IDLE_TOUCH_MS = 5 * 60_000;

export interface PassSummary {
  calendars: number;
  objects: number;
  events: number;
  removed: number;
  unreadableObjects: number;
  unreadableEvents: number;
  contactsCreated: number;
  /** Calendars that could not be synced this time (the others were), with why. */
  failedCalendars: Array<{ url: string; error: string }>;
  problems: IngestResult['problems'];
}

const DAY_MS = 86_400_000;

/** Writes the calendar status (and a sync_events row when it changes) while the account is the one we started with. */
export async function setCalendarStatus(
  db: Db,
  accountId: string,
  generation: number,
  change: {
    status: CalendarStatus;
    detail?: string | null;
    /** The detail as a text code and parameters (CALENDAR_TEXT_CODES) for the user's language. */
    text?: Pick<CalendarDetail, 'detailCode' | 'detailParams'> | null;
    syncedAt?: number;
  },
): Promise<boolean> {
  const now = Date.now();
  return db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('email_accounts')
      .select(['calendar_status', 'calendar_detail'])
      .where('id', '=', accountId)
      .where('generation', '=', generation)
      .executeTakeFirst();
    if (!current) return false;
    await trx
      .updateTable('email_accounts')
      .set({
        calendar_status: change.status,
        calendar_detail: change.detail ?? null,
        calendar_detail_code: change.text?.detailCode ?? null,
        calendar_detail_params_json: paramsToJson(change.text?.detailParams),
        ...(change.syncedAt !== undefined ? { calendar_synced_at: change.syncedAt } : {}),
      })
      .where('id', '=', accountId)
      .execute();
    if (current.calendar_status !== change.status || (current.calendar_detail ?? null) !== (change.detail ?? null)) {
      // Its own kind: the mail's "last error" (status:error / status:needs_reconnect) never shows a calendar failure.
      await trx
        .insertInto('sync_events')
        .values({
          id: newId(now),
          account_id: accountId,
          kind: `calendar:${change.status}`,
          detail: change.detail ?? null,
          detail_code: change.text?.detailCode ?? null,
          detail_params_json: paramsToJson(change.text?.detailParams),
          created_at: now,
        })
        .execute();
    }
    return true;
  });
}

function describe(error: unknown): string {
  return (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 300);
}

export class CalendarRunner {
  private readonly abort = new AbortController();
  private readonly waiting = new WakeableSleep();
  private done: Promise<void> = Promise.resolve();
  /** The day (epoch days) recurring objects were last expanded for. */
  private expandedDay: number | null = null;
  /** "Sync now" (or the start): the next round is a whole pass with discovery. */
  private wholePassWanted = true;
  private lastWholePassAt = 0;
  private lastTouchAt = 0;
  /** What the last whole pass discovered, for the change checks in between (null: none yet). */
  private known: { generation: number; calendars: RemoteCalendar[]; ownAddresses: string[] } | null = null;
  /** Each calendar's change tag as of the last time its changes were stored (absent: look at it next check). */
  private readonly tags = new Map<string, string | null>();
  /** Push: every calendar has a live channel, so the checks run at the safety cadence. */
  private pushCovered = false;
  /** Push: when the channels next need work (renewal, retry); 0: at the next round. */
  private channelWorkAt = 0;
  /** Push: the calendars the channels were last made for (a calendar added or removed needs work at once). */
  private channelCalendars = '';

  constructor(
    readonly accountId: string,
    private readonly deps: CalendarRunnerDeps,
  ) {}

  start(): void {
    this.done = this.loop().catch((error: unknown) => {
      this.deps.log.error({ accountId: this.accountId, err: describe(error) }, 'calendar runner crashed');
    });
  }

  /** A whole pass now, or a retry now when waiting after a failure. */
  wake(): void {
    this.wholePassWanted = true;
    this.waiting.wake();
  }

  /**
   * A notification said something changed: a change check now (the calendars' change lists, no discovery), or at
   * once after the round under way. Cheaper than wake(), which asks for a whole pass.
   */
  poke(): void {
    this.waiting.wake();
  }

  /**
   * The wait before the next round: a check's (the safety cadence while push covers every calendar), never past
   * the next whole pass nor the next channel renewal.
   */
  private checkDelay(): number {
    const base = this.pushCovered
      ? (this.deps.push?.safetyCheckMs ?? DEFAULT_SAFETY_CHECK_MS)
      : (this.deps.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS);
    const jittered = Math.round(base * (0.9 + Math.random() * 0.2));
    const limits = [jittered, this.lastWholePassAt + this.deps.intervalMs - Date.now()];
    if (this.deps.push) limits.push(this.channelWorkAt - Date.now());
    return Math.max(0, Math.min(...limits));
  }

  /** Push upkeep after a round that got through; its failures leave the calendars polled and never fail the round. */
  private async tendChannels(driver: CalendarDriver, row: EmailAccountsTable): Promise<void> {
    const push = this.deps.push;
    const provider = pushProviderOf(row);
    if (!push || !provider || !driver.watch || !this.known) return;
    const calendars = this.known.calendars
      .map((c) => c.url)
      .sort()
      .join('\n');
    if (Date.now() < this.channelWorkAt && calendars === this.channelCalendars) return;
    this.channelCalendars = calendars;
    try {
      const state = await maintainChannels(
        { db: this.deps.db, log: this.deps.log, push },
        row.id,
        provider,
        driver,
        this.known.calendars,
        this.abort.signal,
      );
      this.pushCovered = state.covered;
      this.channelWorkAt = state.nextAt;
    } catch (error) {
      if (this.stopped) return;
      this.pushCovered = false;
      this.channelWorkAt = Date.now() + (push.retryMs ?? 30 * 60_000);
      this.deps.log.warn({ accountId: row.id, reason: describe(error) }, 'calendar push upkeep failed');
    }
  }

  /** Stops the account's push channels (it is being removed): with its credentials, while they still exist. */
  async stopChannels(): Promise<void> {
    const row = await this.deps.db
      .selectFrom('email_accounts')
      .selectAll()
      .where('id', '=', this.accountId)
      .executeTakeFirst();
    const driver = row ? await this.deps.driverFor(row).catch(() => null) : null;
    await stopAccountChannels(this.deps.db, driver, this.accountId, AbortSignal.timeout(30_000), this.deps.log);
    this.pushCovered = false;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.waiting.interrupt();
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
        if (!row || row.calendar_status === 'needs_reconnect') return null;
        return row;
      },
      run: (row, round) => this.round(row, round),
      failed: async (row, error) => {
        const decision = decideCalendarFailure(error);
        this.deps.log.warn(
          { accountId: row.id, action: decision.action, reason: describe(error) },
          'calendar sync failed',
        );
        if (decision.action === 'needs_reconnect') {
          await setCalendarStatus(this.deps.db, row.id, row.generation, {
            status: 'needs_reconnect',
            detail: decision.detail,
            text: decision,
          });
          return { next: 'stop' };
        }
        return {
          next: 'backoff',
          // No calendar found: look again now and then, not at the retry pace of a failing server.
          ...(decision.action === 'none' ? { delayMs: this.deps.backoffMaxMs } : {}),
          record: async (delay) => {
            const nextTryAt = new Date(Date.now() + delay).toISOString();
            const detail = `${decision.detail} (next try at ${nextTryAt})`;
            await setCalendarStatus(this.deps.db, row.id, row.generation, {
              status: decision.action === 'none' ? 'none' : 'error',
              detail,
              text: { detailCode: decision.detailCode, detailParams: { ...decision.detailParams, nextTryAt } },
            });
          },
        };
      },
    });
  }

  /** One round of the loop: the account's driver, a pass, the status it leaves, then the wait until the next one. */
  private async round(row: EmailAccountsTable, round: Round): Promise<RoundEnd> {
    const generation = row.generation;
    const driver = await this.deps.driverFor(row);
    const end = await this.roundWith(driver, row, round, generation);
    if (end.next !== 'again' || !driver || !this.deps.push) return end;
    // After the pass: a new calendar is synced before it gets a channel, and the wait reflects the channels.
    await this.tendChannels(driver, row);
    if (this.stopped) return { next: 'stop' };
    return { ...end, afterMs: this.checkDelay() };
  }

  private async roundWith(
    driver: CalendarDriver | null,
    row: EmailAccountsTable,
    round: Round,
    generation: number,
  ): Promise<RoundEnd> {
    if (!driver) {
      const preset = getProvider(row.provider);
      const viaSignIn = preset?.calendar === 'google' || preset?.calendar === 'microsoft';
      const signIn = preset?.calendar === 'google' ? 'Google' : 'Microsoft';
      const detail = viaSignIn
        ? `${preset.name} calendars are reached with ${signIn} sign-in; reconnect the account with it to sync its calendar`
        : 'This provider has no calendar Conversa can sync; give the account its CalDAV URL to sync one';
      await setCalendarStatus(this.deps.db, row.id, generation, {
        status: 'none',
        detail,
        text: viaSignIn
          ? { detailCode: 'CALENDAR_NEEDS_PROVIDER_SIGNIN', detailParams: { provider: preset.name, signIn } }
          : { detailCode: 'CALENDAR_NO_SERVICE', detailParams: {} },
      });
      return { next: 'stop' };
    }
    const now = Date.now();
    const whole =
      this.wholePassWanted ||
      this.known === null ||
      this.known.generation !== generation ||
      row.calendar_status !== 'active' ||
      now - this.lastWholePassAt >= this.deps.intervalMs ||
      this.expandedDay !== Math.floor(now / DAY_MS);
    if (!whole) return this.checkRound(driver, row, round);
    // Cleared before the pass: a "sync now" during it asks for another one.
    this.wholePassWanted = false;
    if (row.calendar_status !== 'active')
      await setCalendarStatus(this.deps.db, row.id, generation, {
        status: 'syncing',
        detail: row.calendar_detail ?? null,
        text: row.calendar_detail_code
          ? {
              detailCode: row.calendar_detail_code as CalendarDetail['detailCode'],
              detailParams: paramsFromJson(row.calendar_detail_params_json),
            }
          : null,
      });
    const summary = await this.pass(driver, row, null);
    if (this.stopped) return { next: 'stop' };
    round.succeeded();
    this.lastWholePassAt = now;
    this.lastTouchAt = Date.now();
    await setCalendarStatus(this.deps.db, row.id, generation, {
      status: 'active',
      ...detailOf(summary),
      syncedAt: Date.now(),
    });
    this.deps.onPass?.(row.id, summary, false);
    return { next: 'again', afterMs: this.checkDelay() };
  }

  /**
   * The steady state: the calendars' change tags (one cheap request on CalDAV), and a pass over only those whose
   * tag moved. A driver without tags (the Google and Graph APIs, whose change lists are already cheap) has every
   * calendar asked for its changes. A failure here is the round's like any other (status "error", backoff, and
   * the retry is a whole pass).
   */
  private async checkRound(driver: CalendarDriver, row: EmailAccountsTable, round: Round): Promise<RoundEnd> {
    const known = this.known!;
    let moved = known.calendars;
    let seen: Map<string, string | null> | null = null;
    if (driver.check) {
      seen = await driver.check(known.calendars, this.abort.signal);
      // A calendar without a tag cannot be checked: it is asked for its changes every time.
      moved = known.calendars.filter((c) => {
        const tag = seen!.get(c.url) ?? null;
        return tag === null || !this.tags.has(c.url) || this.tags.get(c.url) !== tag;
      });
    }
    if (this.stopped) return { next: 'stop' };
    if (moved.length === 0) {
      round.succeeded();
      if (Date.now() - this.lastTouchAt >= IDLE_TOUCH_MS) {
        this.lastTouchAt = Date.now();
        await setCalendarStatus(this.deps.db, row.id, row.generation, {
          status: 'active',
          detail: row.calendar_detail ?? null,
          text: row.calendar_detail_code
            ? {
                detailCode: row.calendar_detail_code as CalendarDetail['detailCode'],
                detailParams: paramsFromJson(row.calendar_detail_params_json),
              }
            : null,
          syncedAt: Date.now(),
        });
      }
      this.deps.onIdleCheck?.(row.id);
      return { next: 'again', afterMs: this.checkDelay() };
    }
    const summary = await this.pass(driver, row, { urls: new Set(moved.map((c) => c.url)), tags: seen });
    if (this.stopped) return { next: 'stop' };
    round.succeeded();
    this.lastTouchAt = Date.now();
    await setCalendarStatus(this.deps.db, row.id, row.generation, {
      status: 'active',
      ...detailOf(summary),
      syncedAt: Date.now(),
    });
    this.deps.onPass?.(row.id, summary, true);
    return { next: 'again', afterMs: this.checkDelay() };
  }

  /**
   * One pass: discovery (or, after a change check, the calendars whose tag moved), then each calendar's changes
   * fetched and stored in batches, deletions, window moves.
   */
  private async pass(
    driver: CalendarDriver,
    row: EmailAccountsTable,
    moved: { urls: Set<string>; tags: Map<string, string | null> | null } | null,
  ): Promise<PassSummary> {
    const signal = this.abort.signal;
    let calendars: CalendarRow[];
    let ownAddresses: string[];
    let tags: Map<string, string | null> | null;
    if (moved === null) {
      const discovery = await driver.discover(signal);
      calendars = await saveDiscovery(this.deps.db, row.id, discovery);
      ownAddresses = discovery.ownAddresses;
      // The tags before the changes are asked for: a change in between moves the tag again and the next check
      // catches it (a tag taken after could hide it).
      tags = driver.check ? await driver.check(discovery.calendars, signal) : null;
      this.tags.clear();
      this.known = { generation: row.generation, calendars: discovery.calendars, ownAddresses };
    } else {
      calendars = (
        await this.deps.db.selectFrom('calendars').selectAll().where('account_id', '=', row.id).execute()
      ).filter((c) => moved.urls.has(c.url));
      ownAddresses = this.known?.ownAddresses ?? [];
      tags = moved.tags;
    }
    const account = await accountContext(this.deps.db, row, this.deps.bccDomain, ownAddresses);
    const window = syncWindow(account, this.deps.window);
    const today = Math.floor(Date.now() / DAY_MS);
    const reexpand = moved === null && this.expandedDay !== today;
    const summary: PassSummary = {
      calendars: calendars.length,
      objects: 0,
      events: 0,
      removed: 0,
      unreadableObjects: 0,
      unreadableEvents: 0,
      contactsCreated: 0,
      failedCalendars: [],
      problems: [],
    };
    const add = (r: IngestResult) => {
      summary.objects += r.objects;
      summary.events += r.events;
      summary.unreadableObjects += r.unreadableObjects;
      summary.unreadableEvents += r.unreadableEvents;
      summary.contactsCreated += r.contactsCreated;
      summary.problems.push(...r.problems);
    };
    const batchSize = this.deps.batchSize ?? 50;
    for (const calendar of calendars) {
      if (this.stopped) break;
      const remote = remoteCalendar(calendar);
      const scope = { account, calendar, window };
      try {
        const known = await knownObjects(this.deps.db, calendar.id);
        const changes = await driver.changes(
          remote,
          { syncToken: calendar.sync_token, ctag: calendar.ctag },
          known,
          signal,
          window,
        );
        const fetched = new Set<string>();
        const hrefs = changes.changed.map((c) => c.href);
        for (let i = 0; i < hrefs.length; i += batchSize) {
          if (this.stopped) return summary;
          const batch = hrefs.slice(i, i + batchSize);
          const objects = await driver.fetch(remote, batch, signal);
          for (const o of objects) fetched.add(o.href);
          add(await ingestObjects(this.deps.db, scope, objects));
        }
        // Listed but gone by the time we asked for them: deleted meanwhile.
        const vanished = hrefs.filter((h) => !fetched.has(h) && known.has(h));
        const deleted = [...new Set([...changes.deleted, ...vanished])];
        // The state moves on in the same transaction as the last writes it covers.
        await removeObjects(this.deps.db, calendar.id, deleted, changes.state);
        summary.removed += deleted.length;
        if (reexpand) add(await reexpandCalendar(this.deps.db, scope));
        if (tags) this.tags.set(calendar.url, tags.get(calendar.url) ?? null);
      } catch (error) {
        // Not recorded as seen: the next check looks at it again.
        this.tags.delete(calendar.url);
        // A failure of the service itself (credentials, network) is the whole pass's; a failure of one calendar is not.
        if (
          this.stopped ||
          !(error instanceof CalendarError) ||
          error.code === 'AUTH_FAILED' ||
          error.code === 'TEMPORARY'
        )
          throw error;
        summary.failedCalendars.push({ url: calendar.url, error: error.message });
        this.deps.log.warn(
          { accountId: row.id, calendar: calendar.url, reason: describe(error) },
          'calendar skipped this pass',
        );
      }
    }
    if (reexpand && !this.stopped) this.expandedDay = today;
    if (summary.unreadableObjects + summary.unreadableEvents > 0) {
      this.deps.log.warn(
        {
          accountId: row.id,
          unreadableObjects: summary.unreadableObjects,
          unreadableEvents: summary.unreadableEvents,
          examples: summary.problems.filter((p) => p.severity !== 'warning').slice(0, 5),
        },
        'calendar events that could not be read were skipped',
      );
    }
    return summary;
  }
}

/** The status detail of a pass that got through: what was left out, if anything (CALENDAR_PARTIAL with the counts). */
function detailOf(summary: PassSummary): { detail: string | null; text: CalendarDetail | null } {
  const english = detailText(summary);
  if (english === null) return { detail: null, text: null };
  return {
    detail: english,
    text: {
      detail: english,
      detailCode: 'CALENDAR_PARTIAL',
      detailParams: {
        failedCalendars: summary.failedCalendars.length,
        unreadableObjects: summary.unreadableObjects,
        unreadableEvents: summary.unreadableEvents,
        // The services' own words, untranslated.
        reason: summary.failedCalendars
          .map((f) => f.error)
          .join('; ')
          .slice(0, 500),
      },
    },
  };
}

function detailText(summary: PassSummary): string | null {
  const parts: string[] = [];
  if (summary.failedCalendars.length > 0)
    parts.push(
      `${summary.failedCalendars.length} calendar(s) could not be synced: ${summary.failedCalendars.map((f) => f.error).join('; ')}`,
    );
  if (summary.unreadableObjects > 0) parts.push(`${summary.unreadableObjects} calendar file(s) could not be read`);
  if (summary.unreadableEvents > 0) parts.push(`${summary.unreadableEvents} event(s) could not be read`);
  return parts.length > 0 ? parts.join('; ').slice(0, 1000) : null;
}
