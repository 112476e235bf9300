// The composition root of `conversa serve`: config → storage (migrated) → HTTP server, and an orderly
// shutdown on SIGINT/SIGTERM. Later parts (sync engine, calendar, BCC listener) are wired here too.
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../http/build-server.js';
import { migrateToLatest, openStorage, type Storage } from '../storage/database.js';
import type { Config } from './config.js';
import { VERSION } from './version.js';

export interface RunningServer {
  app: FastifyInstance;
  storage: Storage;
  url: string;
  stop(): Promise<void>;
}

export async function startServer(config: Config): Promise<RunningServer> {
  const storage = openStorage(config);
  try {
    await migrateToLatest(storage.db);
  } catch (error) {
    await storage.close();
    throw error;
  }
  const app = await buildServer({
    db: storage.db,
    publicUrl: config.publicUrl,
    version: VERSION,
    logger: {
      level: config.logLevel,
      // Credentials never reach a log line, whatever a handler logs.
      redact: ['req.headers.authorization', 'req.headers.cookie', 'password', '*.password', 'token', '*.token'],
    },
  });
  const address = await app.listen({ port: config.port, host: config.host });
  app.log.info({ database: storage.dialect, dataDir: config.dataDir }, 'Conversa is serving');
  return {
    app,
    storage,
    url: address,
    async stop() {
      await app.close();
      await storage.close();
    },
  };
}
