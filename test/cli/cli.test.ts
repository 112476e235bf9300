// The built `conversa` command, as a user or a script runs it: user add, token create, migrate, and
// `serve` answering /api/health on the embedded SQLite default with no other service.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { CLI, spawnConversa } from '../support/spawn-conversa.js';

const run = promisify(execFile);

function cli(args: string[], env: NodeJS.ProcessEnv) {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

const serve = spawnConversa;

describe('conversa CLI', () => {
  let dataDir: string;
  beforeAll(() => {
    expect(fs.existsSync(CLI), 'run `npm run build` first (npm test does)').toBe(true);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-cli-'));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('serves /api/health on the embedded SQLite default, then stops cleanly on SIGTERM', async () => {
    const server = await serve({ CONVERSA_DATA_DIR: dataDir, DATABASE_URL: '' });
    try {
      const res = await fetch(`${server.url}/api/health`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
      expect(fs.existsSync(path.join(dataDir, 'conversa.db'))).toBe(true);
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('adds a user and prints a token alone on one line that the API accepts', async () => {
    const env = { CONVERSA_DATA_DIR: dataDir, DATABASE_URL: '' };
    const add = await cli(
      ['user', 'add', '--email', 'Boss@Example.test', '--password', 'a good password', '--admin'],
      env,
    );
    expect(add.code).toBe(0);
    expect(add.stdout).toBe('');
    expect(add.stderr).toContain('boss@example.test');
    const again = await cli(['user', 'add', '--email', 'boss@example.test', '--password', 'another password'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');

    const token = await cli(['token', 'create', '--email', 'boss@example.test'], env);
    expect(token.code).toBe(0);
    expect(token.stdout).toMatch(/^cnv_[A-Za-z0-9_-]+\n$/);

    const server = await serve(env);
    try {
      const me = await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token.stdout.trim()}` } });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { isAdmin: boolean }).isAdmin).toBe(true);
      // The log never carries the token.
      expect(server.output()).not.toContain(token.stdout.trim());
    } finally {
      await server.stop();
    }
  });

  it('explains usage errors and unknown users', async () => {
    const env = { CONVERSA_DATA_DIR: dataDir, DATABASE_URL: '' };
    const missing = await cli(['user', 'add', '--email', 'x@example.test'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--password');
    const unknown = await cli(['token', 'create', '--email', 'ghost@example.test'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No user');
    expect(unknown.stdout).toBe('');
    const bogus = await cli(['frobnicate'], env);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain('Usage');
  });

  describe('on PostgreSQL', () => {
    let pg: TestDatabase;
    beforeAll(async () => {
      pg = await createTestDatabase('postgres', { migrate: false });
    });
    afterAll(async () => pg?.destroy());

    it('migrates, adds a user and creates a token against DATABASE_URL', async () => {
      const env = { CONVERSA_DATA_DIR: pg.dataDir, DATABASE_URL: pg.databaseUrl! };
      expect((await cli(['migrate'], env)).code).toBe(0);
      expect((await cli(['user', 'add', '--email', 'pg@example.test', '--password', 'pg password!'], env)).code).toBe(
        0,
      );
      const token = await cli(['token', 'create', '--email', 'pg@example.test'], env);
      expect(token.stdout).toMatch(/^cnv_[A-Za-z0-9_-]+\n$/);
      const users = await pg.storage.db.selectFrom('users').select('email').execute();
      expect(users).toEqual([{ email: 'pg@example.test' }]);
      // SQLite was not touched.
      expect(fs.existsSync(path.join(pg.dataDir, 'conversa.db'))).toBe(false);
    });
  });
});
