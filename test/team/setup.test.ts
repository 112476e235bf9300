// Issue 14, first run: GET /api/setup says whether setup is needed; POST /api/setup works exactly once — afterwards,
// and for the loser of two racing requests, 409 ALREADY_SET_UP — and signs the new administrator in. On SQLite and
// PostgreSQL.
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/http/build-server.js';
import { createUser } from '../../src/users/users.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const PUBLIC_URL = 'http://127.0.0.1:3000';

describe.each(DIALECTS)('first-run setup on %s', (dialect) => {
  let database: TestDatabase | undefined;
  let app: FastifyInstance | undefined;

  async function start() {
    database = await createTestDatabase(dialect);
    app = await buildServer({
      db: database.storage.db,
      publicUrl: PUBLIC_URL,
      version: 'test',
      validateResponses: true,
    });
    return { app, db: database.storage.db };
  }
  afterEach(async () => {
    await app?.close();
    await database?.destroy();
    app = undefined;
    database = undefined;
  });

  const setup = (a: FastifyInstance, payload: object) =>
    a.inject({ method: 'POST', url: '/api/setup', headers: { origin: PUBLIC_URL }, payload });

  it('sets up once: names the organisation, creates the admin, signs them in; then 409 ALREADY_SET_UP', async () => {
    const { app } = await start();
    expect((await app.inject({ method: 'GET', url: '/api/setup' })).json()).toEqual({ needsSetup: true });
    const first = await setup(app, {
      orgName: 'Acme Vendas',
      email: 'Owner@Acme.test',
      password: 'a long enough secret',
      name: 'Ana Owner',
      locale: 'pt-BR',
    });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({ email: 'owner@acme.test', displayName: 'Ana Owner', isAdmin: true });
    const cookie = first.cookies.find((c) => c.name === 'conversa_session');
    expect(cookie?.httpOnly).toBe(true);
    const me = await app.inject({ method: 'GET', url: '/api/me', cookies: { conversa_session: cookie!.value } });
    expect(me.json().email).toBe('owner@acme.test');
    const org = await app.inject({ method: 'GET', url: '/api/org', cookies: { conversa_session: cookie!.value } });
    expect(org.json().name).toBe('Acme Vendas');
    const settings = await app.inject({
      method: 'GET',
      url: '/api/me/settings',
      cookies: { conversa_session: cookie!.value },
    });
    expect(settings.json().locale).toBe('pt-BR');

    expect((await app.inject({ method: 'GET', url: '/api/setup' })).json()).toEqual({ needsSetup: false });
    const again = await setup(app, { orgName: 'Evil', email: 'evil@x.test', password: 'another long secret' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('ALREADY_SET_UP');
  });

  it('gives exactly one 201 and one 409 to two concurrent setups', async () => {
    const { app, db } = await start();
    const [a, b] = await Promise.all([
      setup(app, { orgName: 'One', email: 'one@acme.test', password: 'first racer secret' }),
      setup(app, { orgName: 'Two', email: 'two@acme.test', password: 'second racer secret' }),
    ]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([201, 409]);
    expect([a, b].find((r) => r.statusCode === 409)!.json().error.code).toBe('ALREADY_SET_UP');
    const users = await db.selectFrom('users').select('email').execute();
    expect(users).toHaveLength(1);
  });

  it('refuses weak passwords with a field message, and is closed once the CLI made a user', async () => {
    const { app, db } = await start();
    for (const password of ['short', 'password123', 'Password2027!', 'qwertyuiop']) {
      const weak = await setup(app, { orgName: 'Acme', email: 'a@acme.test', password });
      expect(weak.statusCode).toBe(400);
      expect(weak.json().error.code).toBe('VALIDATION_FAILED');
      expect(weak.json().error.fields[0].path).toBe('password');
    }
    await createUser(db, { email: 'cli@acme.test', password: 'cli password', isAdmin: true });
    expect((await app.inject({ method: 'GET', url: '/api/setup' })).json()).toEqual({ needsSetup: false });
    expect(
      (await setup(app, { orgName: 'Acme', email: 'b@acme.test', password: 'a long enough secret' })).statusCode,
    ).toBe(409);
  });

  it('refuses a setup posted from a foreign page (CSRF)', async () => {
    const { app } = await start();
    const foreign = await app.inject({
      method: 'POST',
      url: '/api/setup',
      headers: { origin: 'http://evil.test' },
      payload: { orgName: 'Acme', email: 'a@acme.test', password: 'a long enough secret' },
    });
    expect(foreign.statusCode).toBe(403);
  });
});
