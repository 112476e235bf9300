// Audit item 12 (tokens): API tokens have names and an optional expiry, can be listed (never showing the token)
// and revoked, through the API and the CLI; an expired or revoked token answers 401. On SQLite and PostgreSQL.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, issueApiToken, userForApiToken } from '../../src/users/users.js';
import { startTestApi, type TestApi } from '../support/api-client.js';
import { DIALECTS } from '../support/databases.js';
import { CLI } from '../support/spawn-conversa.js';

const run = promisify(execFile);

describe.each(DIALECTS)('API tokens on %s', (dialect) => {
  let api: TestApi;

  const as = (token: string, method: string, url: string, payload?: unknown) =>
    api.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  beforeAll(async () => {
    api = await startTestApi(dialect);
  });
  afterAll(async () => {
    await api?.close();
  });

  it('creates a named token shown once, lists it without the token, and revokes it at once', async () => {
    const created = await as(api.token, 'POST', '/api/me/tokens', { name: 'ci deploy', expiresInDays: 30 });
    expect(created.statusCode).toBe(201);
    const { id, token, expiresAt } = created.json();
    expect(token).toMatch(/^cnv_[A-Za-z0-9_-]{43}$/);
    const days = (Date.parse(expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);

    expect((await as(token, 'GET', '/api/me')).statusCode).toBe(200);
    const list = await as(api.token, 'GET', '/api/me/tokens');
    expect(list.statusCode).toBe(200);
    expect(list.body).not.toContain(token);
    expect(list.body).not.toContain(api.token);
    const item = list.json().items.find((t: { id: string }) => t.id === id);
    expect(item).toEqual({
      id,
      name: 'ci deploy',
      createdAt: expect.any(String),
      lastUsedAt: expect.any(String),
      expiresAt,
    });
    expect(Object.keys(item).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name']);

    expect((await as(api.token, 'DELETE', `/api/me/tokens/${id}`)).statusCode).toBe(204);
    const revoked = await as(token, 'GET', '/api/me');
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().error.code).toBe('UNAUTHENTICATED');
    expect((await as(api.token, 'DELETE', `/api/me/tokens/${id}`)).statusCode).toBe(404);
    expect((await as(api.token, 'GET', '/api/me/tokens')).json().items.map((t: { id: string }) => t.id)).not.toContain(
      id,
    );
  });

  it('refuses an expired token, and keeps one without expiry', async () => {
    const expiring = (await as(api.token, 'POST', '/api/me/tokens', { name: 'short', expiresInDays: 1 })).json();
    const lasting = (await as(api.token, 'POST', '/api/me/tokens', { name: 'lasting' })).json();
    expect(lasting.expiresAt).toBeNull();
    expect((await as(expiring.token, 'GET', '/api/me')).statusCode).toBe(200);
    // A day later, as far as the database is concerned.
    await api.database.storage.db
      .updateTable('api_tokens')
      .set({ expires_at: Date.now() - 1 })
      .where('id', '=', expiring.id)
      .execute();
    expect((await as(expiring.token, 'GET', '/api/me')).statusCode).toBe(401);
    expect(await userForApiToken(api.database.storage.db, expiring.token)).toBeUndefined();
    expect((await as(lasting.token, 'GET', '/api/me')).statusCode).toBe(200);
  });

  it("cannot list or revoke another user's tokens", async () => {
    const other = await createUser(api.database.storage.db, {
      email: `other-${dialect}@example.test`,
      password: 'other password',
    });
    const theirs = await issueApiToken(api.database.storage.db, other.id, { name: 'theirs' });
    expect((await as(api.token, 'GET', '/api/me/tokens')).json().items.map((t: { id: string }) => t.id)).not.toContain(
      theirs.id,
    );
    expect((await as(api.token, 'DELETE', `/api/me/tokens/${theirs.id}`)).statusCode).toBe(404);
    expect((await as(theirs.token, 'GET', '/api/me')).statusCode).toBe(200);
  });

  it('validates the name and the expiry', async () => {
    for (const body of [
      {},
      { name: '' },
      { name: 'x', expiresInDays: 0 },
      { name: 'x', expiresInDays: 1.5 },
      { name: 'x', expiresInDays: 99_999 },
      { name: 'x', token: 'mine' },
    ]) {
      const res = await as(api.token, 'POST', '/api/me/tokens', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe.each(DIALECTS)('conversa token create / list / revoke on %s', (dialect) => {
  let api: TestApi;
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[]) =>
    run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({
        code: error.code,
        stdout: error.stdout,
        stderr: error.stderr,
      }),
    );

  beforeAll(async () => {
    expect(fs.existsSync(CLI), 'run `npx tsc -p tsconfig.build.json` first (npm test does)').toBe(true);
    api = await startTestApi(dialect);
    env = { CONVERSA_DATA_DIR: api.database.dataDir, DATABASE_URL: api.database.databaseUrl ?? '' };
  });
  afterAll(async () => {
    await api?.close();
  });

  it('prints a named, expiring token alone on a line, lists it without the token, and revokes it', async () => {
    const created = await cli([
      'token',
      'create',
      '--email',
      api.user.email,
      '--name',
      'backup script',
      '--expires-in-days',
      '7',
    ]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^cnv_[A-Za-z0-9_-]+\n$/);
    const token = created.stdout.trim();
    expect((await userForApiToken(api.database.storage.db, token))?.id).toBe(api.user.id);

    const listed = await cli(['token', 'list', '--email', api.user.email]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(token);
    const line = listed.stdout.split('\n').find((l) => l.includes('backup script'))!;
    const [id, name, , , expires] = line.split('\t');
    expect(name).toBe('backup script');
    expect((Date.parse(expires!) - Date.now()) / 86_400_000).toBeGreaterThan(6.9);

    const revoked = await cli(['token', 'revoke', '--id', id!]);
    expect(revoked.code).toBe(0);
    expect(await userForApiToken(api.database.storage.db, token)).toBeUndefined();
    const again = await cli(['token', 'revoke', '--id', id!]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('No API token');
  });

  it('refuses a bad expiry and an unknown user', async () => {
    expect((await cli(['token', 'create', '--email', api.user.email, '--expires-in-days', 'soon'])).code).toBe(2);
    expect((await cli(['token', 'create', '--email', api.user.email, '--expires-in-days', '0'])).code).toBe(1);
    expect((await cli(['token', 'list', '--email', 'nobody@example.test'])).code).toBe(1);
  });
});
