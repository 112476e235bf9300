// Issue 14, a newcomer's terminal: the first lines after start-up say where Conversa is and what to do next (set up
// on an empty install, sign in afterwards); on a terminal the lines are readable, not JSON; LOG_FORMAT is checked.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.js';
import { prettyLine } from '../../src/app/pretty-log-stream.js';
import { startServer, type RunningServer } from '../../src/app/start-server.js';
import { createUser } from '../../src/users/users.js';
import { freePort } from '../servers/free-port.js';

describe('start-up lines', () => {
  let server: RunningServer | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-term-'));
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  async function start(): Promise<string[]> {
    const lines: string[] = [];
    const logStream = new Writable({
      write(chunk: Buffer, _e, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const port = String(await freePort());
    const config = loadConfig({ CONVERSA_DATA_DIR: dataDir, PORT: port, BCC_SMTP_PORT: '0' });
    server = await startServer(config, { logStream, background: false });
    return lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  }

  it('says "Open … to set up" on an empty install, then "Sign in at …"', async () => {
    const first = await start();
    const url = server!.url;
    expect(first.slice(0, 2)).toEqual([`Server listening at ${url}`, `Open ${url} to set up Conversa`]);
    await createUser(server!.storage.db, { email: 'admin@example.test', password: 'admin password', isAdmin: true });
    await server!.stop();
    server = undefined;
    const second = await start();
    expect(second[1]).toBe(`Sign in at ${server!.url}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});

describe('readable lines', () => {
  it('turns a pino line into time, level, message and fields', () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 0, 1, 12),
      pid: 1,
      hostname: 'h',
      msg: 'careful',
      n: 3,
    });
    const out = prettyLine(line, false)!;
    expect(out).toMatch(/^\d\d:\d\d:\d\d {2}WARN +careful {2}n=3\n$/);
    expect(out).not.toContain('hostname');
    expect(prettyLine('not json', false)).toBeNull();
    const withError = prettyLine(
      JSON.stringify({ level: 50, msg: 'boom', err: { stack: 'Error: boom\n    at x' } }),
      false,
    );
    expect(withError).toContain('\nError: boom');
  });

  it('reads LOG_FORMAT', () => {
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(loadConfig({ LOG_FORMAT: 'json' }).logFormat).toBe('json');
    expect(loadConfig({ LOG_FORMAT: 'Pretty' }).logFormat).toBe('pretty');
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT/);
  });
});
