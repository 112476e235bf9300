// `conversa blobs import` and `conversa blobs collect` as an operator runs them (the built CLI; `npx tsc -p
// tsconfig.build.json` first): PostgreSQL file blobs moved in, unreferenced blobs collected, and the refusals.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore } from '../../src/storage/blob-store.js';
import { openBlobStore } from '../../src/storage/open-blob-store.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { CLI } from '../support/spawn-conversa.js';

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

describe('conversa blobs on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('imports the file blobs, then collects those no row names', async () => {
    const env = {
      CONVERSA_DATA_DIR: database.dataDir,
      DATABASE_URL: database.databaseUrl!,
      CONVERSA_SECRET_KEY: 'e'.repeat(64),
    };
    const files = createBlobStore(path.join(database.dataDir, 'blobs'));
    const refs = await Promise.all([randomBytes(100), randomBytes(200)].map((c) => files.put(c)));
    const imported = await cli(['blobs', 'import'], env);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ files: 2, imported: 2, alreadyIn: 0, damaged: 0 });
    expect(imported.stderr).toContain('blob import: done');
    // Run again: nothing to do.
    expect(JSON.parse((await cli(['blobs', 'import'], env)).stdout)).toMatchObject({ imported: 0, alreadyIn: 2 });

    // Within the grace period (default one hour) nothing goes; with 0 (nothing else runs here) the unnamed ones do.
    expect(JSON.parse((await cli(['blobs', 'collect'], env)).stdout)).toEqual({ examined: 0, removed: 0 });
    const collected = await cli(['blobs', 'collect', '--grace-minutes', '0'], env);
    expect(collected.code, collected.stderr).toBe(0);
    expect(JSON.parse(collected.stdout)).toEqual({ examined: 2, removed: 2 });
    const store = openBlobStore(database.storage, '/nonexistent-data-dir');
    for (const ref of refs) expect(await store.has(ref.sha256)).toBe(false);
  }, 60_000);

  it('refuses a grace that is not a whole number, and an import without PostgreSQL', async () => {
    const env = { CONVERSA_DATA_DIR: database.dataDir, DATABASE_URL: database.databaseUrl! };
    const bad = await cli(['blobs', 'collect', '--grace-minutes', 'soon'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--grace-minutes must be a whole number');
    const sqlite = await cli(['blobs', 'import'], { ...env, DATABASE_URL: '' });
    expect(sqlite.code).toBe(2);
    expect(sqlite.stderr).toContain('blobs import is for PostgreSQL');
  }, 60_000);
});
