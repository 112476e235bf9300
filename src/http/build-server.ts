// Assembles the Fastify app: body parsers with their limits, cookies, the error handler, every route, and
// the built web app (dist/web) with its client-side routes and security headers.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyCookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { ReaderPool } from '../messages/reader-pool.js';
import { ANY_MEDIA_TYPE, ApiRouter } from './api-router.js';
import { installErrorHandler, truncate } from './error-handler.js';
import { authRoutes } from './routes/auth-routes.js';
import { LoginThrottle } from './login-throttle.js';
import { contactRoutes } from './routes/contact-routes.js';
// Data-subject rights (issue 19, A4).
import { dataRightsRoutes } from './routes/data-rights-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { settingsRoutes } from './routes/settings-routes.js';
import { tokenRoutes } from './routes/token-routes.js';
import { emailAccountRoutes, type EmailAccountRouteDeps } from './routes/email-account-routes.js';
import { providerRoutes } from './routes/provider-routes.js';
import { messageRoutes } from './routes/message-routes.js';
import { sendRoutes, type SendRouteDeps } from './routes/send-routes.js';
import { deliverabilityRoutes } from './routes/deliverability-routes.js';
import { meetingRoutes, type MeetingRouteDeps } from './routes/meeting-routes.js';
import { setupRoutes } from './routes/setup-routes.js';
import { inviteRoutes } from './routes/invite-routes.js';
import { userRoutes, type UserRouteDeps } from './routes/user-routes.js';
// Issue 15, templates (H1).
import { templateRoutes } from './routes/template-routes.js';
import { scheduleRoutes } from './routes/schedule-routes.js';
import { reminderRoutes } from './routes/reminder-routes.js';
// Audit log (issue 19, A3).
import { auditLogRoutes } from './routes/audit-log-routes.js';
import { sequenceRoutes } from './routes/sequence-routes.js';
import type { AccountDeliverabilityDeps } from '../mail/send/account-deliverability.js';
import type { BlobStore } from '../storage/blob-store.js';
import { trackingRoutes } from './routes/tracking-routes.js';
import type { SlidingWindowLimiter } from './sliding-window-limiter.js';
import type { BodyBudget } from './body-budget.js';
import { LiveFeed } from '../live/live-feed.js';
import { liveRoutes } from './routes/live-routes.js';
// Calendar push webhooks (issue 16, P1).
import { calendarHookRoutes, type CalendarHookRouteDeps } from './routes/calendar-hook-routes.js';
// Booking pages (issue 16, H8).
import { bookingRoutes, type BookingLimits } from './routes/booking-routes.js';
// Metrics (issue 19, A2).
import { createConversaMetrics } from '../ops/conversa-metrics.js';
import { metricsRoutes } from './routes/metrics-routes.js';

export const JSON_BODY_LIMIT = 1024 * 1024;

export interface ServerDeps {
  db: Db;
  publicUrl: string;
  version: string;
  logger?: FastifyServerOptions['logger'];
  /** The mailbox parts; absent in tests of the HTTP layer alone. */
  mail?: Omit<EmailAccountRouteDeps, 'db' | 'publicUrl'>;
  /** Where attachments are kept; absent in tests of the HTTP layer alone. */
  blobs?: BlobStore;
  /** SQLite: the inbox's reads on worker threads (reader-pool.ts); absent, on the main thread. */
  readers?: ReaderPool;
  /** Sending from the CRM; absent in tests of the HTTP layer alone. */
  send?: Omit<SendRouteDeps, 'db' | 'blobs'>;
  deliverability?: Omit<AccountDeliverabilityDeps, 'db'>;
  meetings?: Omit<MeetingRouteDeps, 'db'>;
  /** The team: the invitation mailer (when the app relay is set) and the mailbox signals of a deactivation. */
  team?: UserRouteDeps;
  /**
   * The built web app (`vite build` output). Default: `dist/web` of this package; null, or a folder without
   * index.html (API-only test runs, no web build), serves no web app.
   */
  webRoot?: string | null;
  /** Sign-in attempt limits (login-throttle.ts); default: 10 failures per address, 50 per IP, per 15 minutes. */
  loginThrottle?: LoginThrottle;
  /** Booking pages' public rate limits (booking-routes.ts DEFAULT_BOOKING_LIMITS when absent). */
  bookingLimits?: BookingLimits;
  /** Check every JSON answer against its route's response schema (api-router.ts); tests and development only. */
  validateResponses?: boolean;
  /** Issue 15 (H3): the per-IP budget of the public tracking URLs (tracking-routes.ts); default 120 a minute. */
  trackingLimiter?: SlidingWindowLimiter;
  /** Sequences (issue 17, S1): wakes the engine of this process; the unsubscribe page's per-IP budget. */
  sequences?: { kick?: () => void; limiter?: SlidingWindowLimiter };
  /** The live inbox (GET /api/live): poll interval, heartbeat and streams per user; defaults suit production. */
  live?: { pollMs?: number; heartbeatMs?: number; maxStreamsPerUser?: number };
  /** Calendar push webhooks (/hooks/google-calendar, /hooks/graph-calendar): absent, not served. */
  calendarHooks?: Omit<CalendarHookRouteDeps, 'db'>;
  /** \Seen changes were queued for these mailboxes (PATCH /api/messages/:id): write them now if held here. */
  flagWritesQueued?(accountIds: string[]): void;
  /**
   * Metrics (issue 19, A2): GET /metrics needs this token as a Bearer when set (METRICS_TOKEN), else answers loopback
   * clients only; `limiter` counts wrong tokens per client (metrics-routes.ts default when absent).
   */
  metrics?: { token: string | null; limiter?: SlidingWindowLimiter };
  /** Large request bodies read at once (body-budget.ts); default: 64 MB, 30 s of waiting at most. */
  bodyBudget?: BodyBudget;
}

/** `dist/web` of the package this module belongs to, whether it runs from src/http or dist/src/http. */
export function defaultWebRoot(): string | null {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'dist', 'web');
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

// The app's own pages load only their own scripts and styles. https: images are allowed because a mail's
// srcdoc frame inherits this policy and "Show images" must be able to load remote images there; the frame
// adds its own stricter policy (default-src 'none'), and the frame itself is sandboxed without scripts.
export const WEB_APP_CSP = [
  "default-src 'self'",
  "img-src 'self' data: https:",
  "style-src 'self' 'unsafe-inline'",
  "frame-src 'self' about:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function htmlHeaders(reply: FastifyReply): void {
  reply
    .header('content-security-policy', WEB_APP_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-cache');
}

/**
 * Serves the web app: every built file under its own route (wildcard: false, so the API's routes and 404s stay
 * as they are), hashed assets cached for good, and index.html for any other GET that asks for HTML, so client
 * routes such as /settings/email load the app. /api/* and non-HTML requests keep the JSON 404 envelope.
 */
async function registerWebApp(app: FastifyInstance, root: string): Promise<void> {
  await app.register(fastifyStatic, {
    root,
    wildcard: false,
    index: 'index.html',
    serveDotFiles: false,
    setHeaders: (reply, filePath) => {
      if (filePath.endsWith('.html')) return htmlHeaders(reply);
      reply.header('x-content-type-options', 'nosniff');
      if (filePath.includes(`${path.sep}assets${path.sep}`))
        reply.header('cache-control', 'public, max-age=31536000, immutable');
    },
  });
  app.get('/*', (request, reply) => {
    const pathname = request.url.split('?')[0] ?? '';
    const wantsHtml = (request.headers.accept ?? '').includes('text/html');
    if (pathname === '/api' || pathname.startsWith('/api/') || !wantsHtml) return reply.callNotFound();
    htmlHeaders(reply);
    return reply.sendFile('index.html');
  });
}

/** The raw media type a route declared (ApiRouter puts it in the route's config), or undefined for JSON routes. */
function rawBodyType(request: FastifyRequest): string | undefined {
  return (request.routeOptions.config as { rawBodyType?: string } | undefined)?.rawBodyType;
}

function unsupportedType(request: FastifyRequest, wanted: string): AppError {
  const sent = truncate(String(request.headers['content-type'] ?? ''), 80);
  return new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type "${sent}" is not accepted here; send ${wanted}`, {
    hint: 'Send JSON with Content-Type: application/json (or text/csv to /api/contacts/import).',
  });
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: JSON_BODY_LIMIT,
    // Clients are browsers and scripts on a LAN or behind a proxy; no trust in X-Forwarded-* by default.
    trustProxy: false,
  });
  await app.register(fastifyCookie);
  installErrorHandler(app);

  // JSON, but an empty body (DELETE from some clients) is "no body" rather than an error. A route that takes a
  // raw body (the CSV import) refuses JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const raw = rawBodyType(request);
    // Webhooks (calendar push) read their bytes themselves.
    if (raw === ANY_MEDIA_TYPE) return done(null, Buffer.from(body as string, 'utf8'));
    if (raw) return done(unsupportedType(request, raw), undefined);
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
    parseJson(request, body as string, done);
  });
  // CSV only where a route declares it (the import); elsewhere it is refused, and only the import's body limit is
  // 10 MB. text/plain is accepted only by webhooks (below).
  // (No parser limit: the route's own applies, 1 MB for JSON routes.)
  app.addContentTypeParser(['text/csv', 'application/csv'], { parseAs: 'buffer' }, (request, body, done) => {
    if (rawBodyType(request) !== 'text/csv') return done(unsupportedType(request, 'application/json'), undefined);
    done(null, body);
  });
  // Sequences (issue 17, S1): the one-click unsubscribe POST (RFC 8058) comes as a form, urlencoded or multipart,
  // from mail providers; only the route that declares it (POST /u/:token) takes one.
  app.addContentTypeParser(
    ['application/x-www-form-urlencoded', 'multipart/form-data'],
    { parseAs: 'buffer' },
    (request, body, done) => {
      if (rawBodyType(request) !== 'application/x-www-form-urlencoded')
        return done(unsupportedType(request, rawBodyType(request) ?? 'application/json'), undefined);
      done(null, body);
    },
  );
  // text/plain only for webhooks that take any type (Graph's validation handshake); refused elsewhere, as before.
  app.addContentTypeParser('text/plain', { parseAs: 'buffer' }, (request, body, done) => {
    if (rawBodyType(request) !== ANY_MEDIA_TYPE)
      return done(unsupportedType(request, rawBodyType(request) ?? 'application/json'), undefined);
    done(null, body);
  });
  // Anything else is refused with a clear code before a handler sees it.
  app.addContentTypeParser('*', (request, _payload, done) => {
    done(unsupportedType(request, rawBodyType(request) ?? 'application/json'), undefined);
  });

  const router = new ApiRouter(app, deps.db, deps.publicUrl, {
    validateResponses: deps.validateResponses ?? false,
    ...(deps.bodyBudget ? { bodyBudget: deps.bodyBudget } : {}),
  });
  healthRoutes(router, deps.db);
  // Metrics (issue 19, A2): every answer's latency by route pattern (Fastify's, e.g. /api/contacts/:id — never the
  // URL asked, which carries ids and tokens). The live stream (/api/live) counts when it ends, with its whole
  // length: the README's latency alert leaves that route out.
  const metrics = createConversaMetrics(deps.db);
  app.addHook('onResponse', async (request, reply) => {
    metrics.observeRequest({
      method: request.method,
      routePattern: request.routeOptions.url,
      statusCode: reply.statusCode,
      seconds: reply.elapsedTime / 1000,
    });
  });
  metricsRoutes(router, {
    metrics,
    token: deps.metrics?.token ?? null,
    ...(deps.metrics?.limiter ? { limiter: deps.metrics.limiter } : {}),
  });
  const secureCookies = deps.publicUrl.startsWith('https://');
  // One budget of guesses per client for passwords and invitation links.
  const throttle = deps.loginThrottle ?? new LoginThrottle();
  authRoutes(router, deps.db, { secureCookies, throttle });
  setupRoutes(router, deps.db, { secureCookies });
  inviteRoutes(router, deps.db, { secureCookies, throttle });
  userRoutes(router, deps.db, deps.publicUrl, deps.team ?? {});
  contactRoutes(router, deps.db, deps.readers);
  dataRightsRoutes(router, deps.db, deps.blobs);
  templateRoutes(router, deps.db);
  settingsRoutes(router, deps.db);
  tokenRoutes(router, deps.db);
  auditLogRoutes(router, deps.db);
  providerRoutes(router);
  if (deps.blobs)
    messageRoutes(router, {
      db: deps.db,
      blobs: deps.blobs,
      ...(deps.readers ? { readers: deps.readers } : {}),
      ...(deps.flagWritesQueued ? { flagWritesQueued: deps.flagWritesQueued } : {}),
    });
  // The live inbox: one feed per process, polling only while a page listens.
  const feed = new LiveFeed(deps.db, {
    ...(deps.live?.pollMs ? { intervalMs: deps.live.pollMs } : {}),
    onError: (err) => app.log.warn({ err }, 'live feed poll failed'),
  });
  const live = liveRoutes(router, {
    db: deps.db,
    feed,
    ...(deps.live?.heartbeatMs ? { heartbeatMs: deps.live.heartbeatMs } : {}),
    ...(deps.live?.maxStreamsPerUser ? { maxStreamsPerUser: deps.live.maxStreamsPerUser } : {}),
  });
  // Open streams would keep the server's close waiting for ever.
  app.addHook('preClose', async () => {
    live.closeAll();
    await feed.close();
  });
  if (deps.send && deps.blobs)
    sendRoutes(router, { ...deps.send, db: deps.db, blobs: deps.blobs, publicUrl: deps.publicUrl });
  // Issue 15 (H3): pixel, link redirects and message events.
  if (deps.blobs)
    trackingRoutes(router, { db: deps.db, ...(deps.trackingLimiter ? { limiter: deps.trackingLimiter } : {}) });
  // Send later and follow-up reminders (issue 15).
  if (deps.send) scheduleRoutes(router, { db: deps.db, outbox: deps.send.outbox });
  reminderRoutes(router, { db: deps.db });
  // Sequences (issue 17, S1).
  sequenceRoutes(router, {
    db: deps.db,
    ...(deps.sequences?.kick ? { kick: deps.sequences.kick } : {}),
    ...(deps.sequences?.limiter ? { limiter: deps.sequences.limiter } : {}),
  });
  if (deps.deliverability) deliverabilityRoutes(router, { ...deps.deliverability, db: deps.db });
  if (deps.meetings) meetingRoutes(router, { ...deps.meetings, db: deps.db });
  // Booking pages need the calendar (meetings) and the outbox (send) parts.
  if (deps.meetings && deps.send && deps.blobs)
    bookingRoutes(router, {
      ...deps.meetings,
      db: deps.db,
      blobs: deps.blobs,
      publicUrl: deps.publicUrl,
      outbox: deps.send.outbox,
      ...(deps.send.parse ? { parse: deps.send.parse } : {}),
      ...(deps.bookingLimits ? { limits: deps.bookingLimits } : {}),
    });
  if (deps.calendarHooks) calendarHookRoutes(router, { ...deps.calendarHooks, db: deps.db });
  if (deps.mail) emailAccountRoutes(router, { ...deps.mail, db: deps.db, publicUrl: deps.publicUrl });

  const webRoot = deps.webRoot === undefined ? defaultWebRoot() : deps.webRoot;
  if (webRoot && fs.existsSync(path.join(webRoot, 'index.html'))) await registerWebApp(app, webRoot);

  const document = router.openApiDocument({ title: 'Conversa API', version: deps.version, serverUrl: deps.publicUrl });
  app.get('/api/openapi.json', async () => document);
  return app;
}
