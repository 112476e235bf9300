// One calendar loop per account, apart from the mail runner so a calendar failure never stops or marks the mail
// sync: discover the calendars, bring each up to date (sync token, or ctag + etags), store, then wait for the next
// round (every N minutes, or at once on "sync now"). Failures go through decideCalendarFailure: refused credentials
// stop the loop until the account is reconnected, anything else is retried with backoff and jitter; the state is
// kept in email_accounts.calendar_* for the health view. The loop itself is jobs/retry-loop's, shared with the mail
// runner. Also the factory that picks an account's driver.
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
import { createCalDavDriver } from './caldav/caldav-driver.js';
import { createGoogleDriver } from './google/google-driver.js';
import { createMicrosoftDriver } from './microsoft/microsoft-driver.js';
import { CalendarError, decideCalendarFailure, type CalendarDetail, type CalendarDriver } from './calendar-driver.js';
import { paramsFromJson, paramsToJson } from '../core/server-text.js';
import { WakeableSleep } from '../jobs/wakeable-sleep.js';
import type { OutboundPolicy } from '../net/outbound-policy.js';
import { accountContext, syncWindow, type WindowOptions } from './meetings/account-context.js';
import {
  ingestObjects,
  knownObjects,
  reexpandCalendar,
  remoteCalendar,
  removeObjects,
  saveDiscovery,
  type IngestResult,
} from './meetings/ingest-meetings.js';
import type { Logger } from '../core/logger.js';

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
      case 'caldav':
        return createCalDavDriver({
          url: account.caldav_url ?? preset?.caldavUrl ?? null,
          discoveryDomains: discoveryDomains(account),
          authorization: async (signal) =>
            authorizationOf(await freshAccountCredentials(loginDeps, account, signal), account.username),
          ...(deps.outbound ? { outbound: deps.outbound } : {}),
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        });
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
  /** Between passes (e.g. 5 minutes; tests: a second). */
  intervalMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** The span kept around today (default: the account's history window back, a year ahead). */
  window?: WindowOptions;
  /** Objects per fetch-and-store batch (default 50). */
  batchSize?: number;
  /** Told after each pass that got through (tests, metrics). */
  onPass?(accountId: string, summary: PassSummary): void;
}

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

  constructor(
    readonly accountId: string,
    private readonly deps: CalendarRunnerDeps,
  ) {}

  start(): void {
    this.done = this.loop().catch((error: unknown) => {
      this.deps.log.error({ accountId: this.accountId, err: describe(error) }, 'calendar runner crashed');
    });
  }

  /** A pass now, or a retry now when waiting after a failure. */
  wake(): void {
    this.waiting.wake();
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
    const summary = await this.pass(driver, row);
    if (this.stopped) return { next: 'stop' };
    round.succeeded();
    await setCalendarStatus(this.deps.db, row.id, generation, {
      status: 'active',
      ...detailOf(summary),
      syncedAt: Date.now(),
    });
    this.deps.onPass?.(row.id, summary);
    return { next: 'again', afterMs: this.deps.intervalMs };
  }

  /** One pass: discovery, then each calendar's changes fetched and stored in batches, deletions, window moves. */
  private async pass(driver: CalendarDriver, row: EmailAccountsTable): Promise<PassSummary> {
    const signal = this.abort.signal;
    const discovery = await driver.discover(signal);
    const calendars = await saveDiscovery(this.deps.db, row.id, discovery);
    const account = await accountContext(this.deps.db, row, this.deps.bccDomain, discovery.ownAddresses);
    const window = syncWindow(account, this.deps.window);
    const today = Math.floor(Date.now() / DAY_MS);
    const reexpand = this.expandedDay !== today;
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
      } catch (error) {
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
