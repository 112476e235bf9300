// Assembles the Fastify app: body parsers with their limits, cookies, the error handler and every route.
import fastifyCookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { AppError } from '../app/app-error.js';
import type { Db } from '../storage/database.js';
import { ApiRouter } from './api-router.js';
import { installErrorHandler } from './error-handler.js';
import { authRoutes } from './routes/auth-routes.js';
import { contactRoutes, IMPORT_BODY_LIMIT } from './routes/contact-routes.js';
import { healthRoutes } from './routes/health-routes.js';
import { settingsRoutes } from './routes/settings-routes.js';
import { emailAccountRoutes, type EmailAccountRouteDeps } from './routes/email-account-routes.js';
import { providerRoutes } from './routes/provider-routes.js';
import { messageRoutes } from './routes/message-routes.js';
import { sendRoutes, type SendRouteDeps } from './routes/send-routes.js';
import { deliverabilityRoutes } from './routes/deliverability-routes.js';
import type { AccountDeliverabilityDeps } from '../mail/send/account-deliverability.js';
import type { BlobStore } from '../storage/blob-store.js';

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
  /** Sending from the CRM; absent in tests of the HTTP layer alone. */
  send?: Omit<SendRouteDeps, 'db' | 'blobs'>;
  deliverability?: Omit<AccountDeliverabilityDeps, 'db'>;
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

  // JSON, but an empty body (DELETE from some clients) is "no body" rather than an error.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
    parseJson(request, body as string, done);
  });
  app.addContentTypeParser(['text/csv', 'application/csv', 'text/plain'], { parseAs: 'buffer', bodyLimit: IMPORT_BODY_LIMIT }, (_request, body, done) =>
    done(null, body),
  );
  // Anything else is refused with a clear code before a handler sees it.
  app.addContentTypeParser('*', (request, _payload, done) => {
    done(new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type "${request.headers['content-type'] ?? ''}" is not accepted`, {
      hint: 'Send JSON with Content-Type: application/json (or text/csv for a contacts import).',
    }), undefined);
  });

  const router = new ApiRouter(app, deps.db);
  healthRoutes(router, deps.db);
  authRoutes(router, deps.db, { secureCookies: deps.publicUrl.startsWith('https://') });
  contactRoutes(router, deps.db);
  settingsRoutes(router, deps.db);
  providerRoutes(router);
  if (deps.blobs) messageRoutes(router, { db: deps.db, blobs: deps.blobs });
  if (deps.send && deps.blobs) sendRoutes(router, { ...deps.send, db: deps.db, blobs: deps.blobs });
  if (deps.deliverability) deliverabilityRoutes(router, { ...deps.deliverability, db: deps.db });
  if (deps.mail) emailAccountRoutes(router, { ...deps.mail, db: deps.db, publicUrl: deps.publicUrl });

  const document = router.openApiDocument({ title: 'Conversa API', version: deps.version, serverUrl: deps.publicUrl });
  app.get('/api/openapi.json', async () => document);
  return app;
}
