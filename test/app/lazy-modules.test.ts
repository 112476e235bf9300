// Packages an embedded SQLite `conversa serve` never needs are loaded where first used, not at start-up (issue 18:
// each costs MB of heap and RSS for the life of the process): pg by the first PostgreSQL connection, undici by the
// outbound policy's first fetch. Run in a fresh node process, so that what is loaded is what this code loaded.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ADMIN_POSTGRES_URL } from '../support/databases.js';
import { run } from '../servers/process.js';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');
const moduleUrl = (file: string) => JSON.stringify(pathToFileURL(path.join(src, file)).href);

async function inFreshProcess(body: string): Promise<Record<string, unknown>> {
  const script = `
    import { createRequire } from 'node:module';
    const loaded = (pkg) => Object.keys(createRequire(import.meta.url).cache).some((f) => f.includes('/node_modules/' + pkg + '/'));
    const out = {};
    ${body}
    console.log(JSON.stringify(out));
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

describe('modules loaded where first used', () => {
  it('pg: not by SQLite storage; by the first PostgreSQL query, which works', async () => {
    const out = await inFreshProcess(`
      const { sql } = await import('kysely');
      const { openStorage } = await import(${moduleUrl('storage/database.ts')});
      const sqlite = openStorage({ dataDir: '/nonexistent', databaseUrl: null, sqliteFile: ':memory:' });
      out.sqlite = (await sql\`select 1 as one\`.execute(sqlite.db)).rows[0].one;
      out.pgAfterSqlite = loaded('pg');
      await sqlite.close();
      const postgres = openStorage({ dataDir: '/nonexistent', databaseUrl: ${JSON.stringify(ADMIN_POSTGRES_URL)} });
      out.pgBeforeQuery = loaded('pg');
      out.postgres = (await sql\`select 2::int8 as two\`.execute(postgres.db)).rows[0].two;
      out.pgAfterQuery = loaded('pg');
      await postgres.close();
    `);
    expect(out).toEqual({ sqlite: 1, pgAfterSqlite: false, pgBeforeQuery: false, postgres: 2, pgAfterQuery: true });
  });

  it('pg: a PostgreSQL URL nobody listens on fails at the first query, with the connection error', async () => {
    const out = await inFreshProcess(`
      const { sql } = await import('kysely');
      const { openStorage } = await import(${moduleUrl('storage/database.ts')});
      const storage = openStorage({ dataDir: '/nonexistent', databaseUrl: 'postgres://postgres@127.0.0.1:1/none' });
      out.error = await sql\`select 1\`.execute(storage.db).then(() => null, (error) => error.code);
      await storage.close();
    `);
    expect(out).toEqual({ error: 'ECONNREFUSED' });
  });

  it('undici: not by creating the outbound policy; by its first fetch, which the policy still checks', async () => {
    const out = await inFreshProcess(`
      const http = await import('node:http');
      const { createOutboundPolicy, parseAllowedHosts } = await import(${moduleUrl('net/outbound-policy.ts')});
      const server = http.createServer((req, res) => res.end('pong'));
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      const url = 'http://127.0.0.1:' + server.address().port + '/';
      const strict = createOutboundPolicy({ allowed: parseAllowedHosts('') });
      out.refused = await strict.fetch(url).then(() => null, (error) => error.code);
      out.undiciAfterRefusal = loaded('undici');
      const allowing = createOutboundPolicy({ allowed: parseAllowedHosts('127.0.0.1') });
      out.body = await (await allowing.fetch(url)).text();
      out.undiciAfterFetch = loaded('undici');
      server.close();
    `);
    expect(out).toEqual({
      refused: 'HOST_NOT_ALLOWED',
      undiciAfterRefusal: false,
      body: 'pong',
      undiciAfterFetch: true,
    });
  });
});
