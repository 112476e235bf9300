// The Prometheus registry of one process: the database's view of sync, queues and calendars (read at each scrape by
// metrics-snapshot.ts), this process's HTTP latency histogram and Node's own process metrics, every name prefixed
// `conversa_`. A registry per server (not prom-client's global one), so several servers in one process (tests) stay
// apart. Labels are bounded: mailbox addresses, fixed state and code lists, route patterns — never a raw URL.
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../storage/database.js';
import type { AccountStatus, CalendarStatus } from '../storage/schema.js';
import { statusTextCode } from '../mail/accounts/account-status.js';
import { OUTBOX_STATES, readMetricsSnapshot, type MetricsSnapshot } from './metrics-snapshot.js';

const ACCOUNT_STATES: readonly AccountStatus[] = ['connecting', 'syncing', 'active', 'needs_reconnect', 'error'];
const CALENDAR_STATES: readonly CalendarStatus[] = ['syncing', 'active', 'error', 'needs_reconnect', 'none'];
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** A request as the histogram sees it: the route's pattern (/api/contacts/:id), never the URL that was asked. */
export interface ObservedRequest {
  method: string;
  /** The matched route's pattern; undefined when no route matched (a 404): counted as "unmatched". */
  routePattern: string | undefined;
  statusCode: number;
  seconds: number;
}

export interface ConversaMetrics {
  readonly contentType: string;
  observeRequest(request: ObservedRequest): void;
  /** Reads the database and renders every family in the Prometheus text format. */
  scrape(): Promise<string>;
}

export function createConversaMetrics(db: Db, options: { now?: () => number } = {}): ConversaMetrics {
  const now = options.now ?? Date.now;
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'conversa_' });

  const http = new Histogram({
    name: 'conversa_http_request_duration_seconds',
    help: 'HTTP requests by method, route pattern and status class (2xx, 4xx, 5xx…)',
    labelNames: ['method', 'route', 'status_class'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });

  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers });
  const syncState = gauge('conversa_account_sync_state', 'Mailbox sync state, one-hot (1 for the current state)', [
    'account',
    'state',
  ]);
  const syncLag = gauge(
    'conversa_account_sync_lag_seconds',
    'Seconds since the last successful sync pass (since connecting if none yet); paused mailboxes are left out',
    ['account'],
  );
  const lastSync = gauge(
    'conversa_account_last_sync_timestamp_seconds',
    'Unix time of the last successful sync pass (absent until the first)',
    ['account'],
  );
  const paused = gauge('conversa_account_paused', '1 while the mailbox owner is deactivated (not synced)', ['account']);
  const accountError = gauge(
    'conversa_account_error',
    '1 per mailbox whose status carries a detail code (email_accounts.status_detail_code), labelled with it',
    ['account', 'code'],
  );
  const errorsByCode = gauge('conversa_account_errors', 'Mailboxes per status detail code', ['code']);
  const calendarState = gauge('conversa_calendar_state', 'Calendar sync state per mailbox, one-hot', [
    'account',
    'state',
  ]);
  const calendarLastSync = gauge(
    'conversa_calendar_last_sync_timestamp_seconds',
    'Unix time of the last successful calendar pass',
    ['account'],
  );
  const outboxDepth = gauge(
    'conversa_outbox_depth',
    'Outbox messages by state: scheduled (send later), queued, sending, failed',
    ['state'],
  );
  const outboxOldest = gauge('conversa_outbox_oldest_age_seconds', 'Age of the oldest outbox message per state', [
    'state',
  ]);
  const scheduledNext = gauge(
    'conversa_scheduled_next_due_timestamp_seconds',
    'Unix time the next scheduled message is due (0 when none is scheduled)',
  );
  const sequencesDue = gauge(
    'conversa_sequence_enrollments_due',
    'Active sequence enrollments whose next step is due (next_at <= now)',
  );
  const scrapeDuration = gauge(
    'conversa_metrics_scrape_duration_seconds',
    'Time the last scrape spent reading the database',
  );
  const dbGauges = [
    syncState,
    syncLag,
    lastSync,
    paused,
    accountError,
    errorsByCode,
    calendarState,
    calendarLastSync,
    outboxDepth,
    outboxOldest,
    scheduledNext,
  ];

  const apply = (snapshot: MetricsSnapshot) => {
    for (const g of dbGauges) g.reset();
    const at = snapshot.at;
    const codes = new Map<string, number>();
    for (const a of snapshot.accounts) {
      const account = a.email;
      for (const state of ACCOUNT_STATES) syncState.set({ account, state }, a.status === state ? 1 : 0);
      paused.set({ account }, a.paused ? 1 : 0);
      if (!a.paused) syncLag.set({ account }, Math.max(0, (at - (a.lastSyncedAt ?? a.createdAt)) / 1000));
      if (a.lastSyncedAt !== null) lastSync.set({ account }, a.lastSyncedAt / 1000);
      if (a.detailCode) {
        // A code this version does not know (a newer version's, a hand-edited row) is "OTHER": labels stay bounded.
        const code = statusTextCode(a.detailCode) ?? 'OTHER';
        accountError.set({ account, code }, 1);
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      if (a.calendarStatus) {
        for (const state of CALENDAR_STATES) calendarState.set({ account, state }, a.calendarStatus === state ? 1 : 0);
        if (a.calendarSyncedAt !== null) calendarLastSync.set({ account }, a.calendarSyncedAt / 1000);
      }
    }
    for (const [code, count] of codes) errorsByCode.set({ code }, count);
    for (const state of OUTBOX_STATES) {
      const depth = snapshot.outbox[state];
      outboxDepth.set({ state }, depth.count);
      if (depth.oldestCreatedAt !== null) outboxOldest.set({ state }, Math.max(0, (at - depth.oldestCreatedAt) / 1000));
    }
    const next = snapshot.outbox.scheduled.nextSendAt;
    if (next !== null) scheduledNext.set(next / 1000);
    sequencesDue.set(snapshot.sequencesDue);
  };

  // Scrapes run one after another: a second one must not reset the gauges while the first is rendering them.
  let last: Promise<unknown> = Promise.resolve();
  const scrape = async (): Promise<string> => {
    const started = performance.now();
    const snapshot = await readMetricsSnapshot(db, now());
    scrapeDuration.set((performance.now() - started) / 1000);
    apply(snapshot);
    return registry.metrics();
  };

  return {
    contentType: registry.contentType,
    observeRequest({ method, routePattern, statusCode, seconds }) {
      http.observe(
        {
          method: HTTP_METHODS.has(method) ? method : 'OTHER',
          route: routePattern ?? 'unmatched',
          status_class: `${Math.floor(statusCode / 100)}xx`,
        },
        seconds,
      );
    },
    scrape() {
      const run = last.then(scrape, scrape);
      last = run.catch(() => undefined);
      return run;
    },
  };
}
