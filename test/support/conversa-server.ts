// A real Conversa server (HTTP, sync supervisor) on a fresh SQLite data dir, for tests that go through the
// whole process: connect mailboxes, watch statuses. Logs are kept in memory so tests can inspect them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/app/config.js';
import { startServer, type RunningServer, type StartOptions } from '../../src/app/start-server.js';
import { createApiToken, createUser } from '../../src/users/users.js';
import type { TestDatabase } from './databases.js';
import { freePort } from '../servers/free-port.js';
import { TEST_ALLOWED_HOSTS } from './outbound.js';

export interface TestConversa {
  server: RunningServer;
  url: string;
  dataDir: string;
  token: string;
  logs: string[];
  api(
    method: string,
    route: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: any; text: string }>;
  addUser(options?: { admin?: boolean; displayName?: string }): Promise<{ id: string; token: string; email: string }>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startTestConversa(
  env: Record<string, string> = {},
  database?: TestDatabase,
  options: StartOptions = {},
): Promise<TestConversa> {
  const dataDir = database?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-srv-'));
  const logs: string[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  // A known port (not 0): PUBLIC_URL, and so the OAuth redirect URI, must name the real one.
  const port = String(await freePort());
  const config = loadConfig({
    CONVERSA_DATA_DIR: dataDir,
    PORT: port,
    DATABASE_URL: database?.databaseUrl ?? '',
    LOG_LEVEL: 'debug',
    BCC_SMTP_PORT: '0',
    CONVERSA_ALLOWED_HOSTS: TEST_ALLOWED_HOSTS,
    CONVERSA_CHECK_RESPONSES: '1',
    ...env,
  });
  const server = await startServer(config, {
    backoffBaseMs: 200,
    backoffMaxMs: 1_000,
    pollIntervalMs: 1_000,
    logStream,
    ...options,
  });
  const url = server.url;
  const addUser = async (o: { admin?: boolean; displayName?: string } = {}) => {
    const email = `crm${++counter}-${process.pid}@example.test`;
    const user = await createUser(server.storage.db, {
      email,
      password: 'crm user password',
      isAdmin: o.admin ?? false,
      displayName: o.displayName ?? null,
    });
    return { id: user.id, email, token: await createApiToken(server.storage.db, user.id) };
  };
  const first = await addUser({ admin: true });
  const api = async (method: string, route: string, body?: unknown, token = first.token) => {
    const res = await fetch(`${url}${route}`, {
      method,
      redirect: 'manual',
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as any, text };
  };
  return {
    server,
    url,
    dataDir,
    token: first.token,
    logs,
    api,
    addUser,
    async stop() {
      await server.stop();
      if (!database) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
