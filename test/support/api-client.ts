// An in-process Conversa HTTP server on a fresh database, with a signed-up user and token, for API tests.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildServer } from '../../src/http/build-server.js';
import { createApiToken, createUser, type User } from '../../src/users/users.js';
import { createTestDatabase, type Dialect, type TestDatabase } from './databases.js';

export interface TestApi {
  database: TestDatabase;
  app: FastifyInstance;
  user: User;
  token: string;
  /** A request as the test user (Bearer token) unless headers say otherwise. */
  request(options: InjectOptions): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

let counter = 0;

export async function startTestApi(dialect: Dialect, options: { admin?: boolean } = {}): Promise<TestApi> {
  const database = await createTestDatabase(dialect);
  // Every answer is checked against its route's schema: a test touching a drifted route fails.
  const app = await buildServer({
    db: database.storage.db,
    publicUrl: 'http://127.0.0.1:3000',
    version: 'test',
    validateResponses: true,
  });
  const user = await createUser(database.storage.db, {
    email: `user${++counter}@example.test`,
    password: 'correct horse',
    isAdmin: options.admin ?? true,
  });
  const token = await createApiToken(database.storage.db, user.id);
  return {
    database,
    app,
    user,
    token,
    request(opts) {
      return app.inject({ ...opts, headers: { authorization: `Bearer ${token}`, ...(opts.headers ?? {}) } });
    },
    async close() {
      await app.close();
      await database.destroy();
    },
  };
}
