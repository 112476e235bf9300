// Large request bodies (issue 18, memory bounded by bytes; SECURITY.md "Large request bodies"): who asks is settled
// before a body is read, and large bodies are read a budget at a time. The setting, unit tests of the budget, then
// a listening server over real sockets.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { AppError } from '../../src/core/app-error.js';
import { BodyBudget, BUDGETED_FROM_BYTES } from '../../src/http/body-budget.js';
import { buildServer } from '../../src/http/build-server.js';
import { createApiToken, createUser } from '../../src/users/users.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { waitFor } from '../support/wait-for.js';

const KB = 1024;

function settled<T>(promise: Promise<T>): { done: () => boolean; value: Promise<T> } {
  let done = false;
  const value = promise.finally(() => {
    done = true;
  });
  value.catch(() => undefined);
  return { done: () => done, value };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('CONVERSA_UPLOADS_IN_FLIGHT_MB', () => {
  it('is 64 MB unless set, and refuses what is not a positive whole number', () => {
    expect(loadConfig({}).uploadsInFlightBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig({ CONVERSA_UPLOADS_IN_FLIGHT_MB: '8' }).uploadsInFlightBytes).toBe(8 * 1024 * 1024);
    for (const bad of ['0', '-1', '1.5', 'lots']) {
      expect(() => loadConfig({ CONVERSA_UPLOADS_IN_FLIGHT_MB: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ CONVERSA_UPLOADS_IN_FLIGHT_MB: bad })).toThrow(/CONVERSA_UPLOADS_IN_FLIGHT_MB/);
    }
  });
});

describe('BodyBudget', () => {
  it('holds bodies up to its size; the next waits until one is given back', async () => {
    const budget = new BodyBudget({ maxBytes: 1000, maxWaitMs: 5_000 });
    const first = await budget.acquire(600);
    const second = await budget.acquire(400);
    expect(budget.inFlight()).toBe(1000);
    const third = settled(budget.acquire(1));
    await tick();
    expect(third.done()).toBe(false);
    expect(budget.waiting()).toBe(1);
    first();
    const release = await third.value;
    expect(budget.inFlight()).toBe(401);
    // Given back once, however often it is called.
    first();
    expect(budget.inFlight()).toBe(401);
    second();
    release();
    expect(budget.inFlight()).toBe(0);
  });

  it('lets a body bigger than the whole budget go alone, and serves waiters first come, first served', async () => {
    const budget = new BodyBudget({ maxBytes: 1000, maxWaitMs: 5_000 });
    const small = await budget.acquire(100);
    const huge = settled(budget.acquire(5000));
    // It would fit, but the huge one came first: it is not overtaken.
    const later = settled(budget.acquire(100));
    await tick();
    expect(huge.done()).toBe(false);
    expect(later.done()).toBe(false);
    small();
    const releaseHuge = await huge.value;
    expect(budget.inFlight()).toBe(5000);
    await tick();
    expect(later.done()).toBe(false);
    releaseHuge();
    (await later.value)();
    expect(budget.inFlight()).toBe(0);
  });

  it('answers SERVER_BUSY with a retry time after the longest wait, and then serves the next in line', async () => {
    const budget = new BodyBudget({ maxBytes: 1000, maxWaitMs: 100 });
    const held = await budget.acquire(900);
    const refused = budget.acquire(500).then(
      () => null,
      (error: unknown) => error,
    );
    const error = await refused;
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('SERVER_BUSY');
    expect((error as AppError).details?.retryAfterSeconds).toBeGreaterThan(0);
    expect(budget.waiting()).toBe(0);
    expect(budget.inFlight()).toBe(900);
    held();
  });

  it('stops waiting when the sender hangs up, and the ones behind it move up', async () => {
    const budget = new BodyBudget({ maxBytes: 1000, maxWaitMs: 5_000 });
    const held = await budget.acquire(500);
    const gone = new AbortController();
    const blocked = settled(budget.acquire(900, gone.signal));
    const behind = settled(budget.acquire(400));
    await tick();
    expect(budget.waiting()).toBe(2);
    gone.abort(new Error('hung up'));
    await expect(blocked.value).rejects.toThrow('hung up');
    // The 900 at the head held the 400 back; with it gone, the 400 fits beside the 500.
    (await behind.value)();
    expect(budget.waiting()).toBe(0);
    held();
    expect(budget.inFlight()).toBe(0);
  });
});

/** A POST whose headers declare `declared` bytes; `send` of them are written, `more(n)` the next n, `rest()` all. */
function partialPost(
  port: number,
  url: string,
  headers: Record<string, string>,
  declared: number,
  send: number,
): {
  response: Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>;
  more(bytes: number): void;
  rest(): void;
  hangUp(): void;
} {
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: url,
    headers: { ...headers, 'content-length': String(declared) },
  });
  const response = new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }>(
    (resolve, reject) => {
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }),
        );
      });
      req.on('error', reject);
    },
  );
  response.catch(() => undefined);
  const body = Buffer.alloc(declared, 'x');
  let sent = send;
  req.write(body.subarray(0, send));
  return {
    response,
    more: (bytes) => {
      req.write(body.subarray(sent, sent + bytes));
      sent += bytes;
    },
    rest: () => req.end(body.subarray(sent)),
    hangUp: () => req.destroy(),
  };
}

const csv = (token?: string) => ({
  'content-type': 'text/csv',
  ...(token ? { authorization: `Bearer ${token}` } : {}),
});

let counter = 0;

/** A listening server on a fresh SQLite database with `budget`, and a user's API token. */
async function listeningServer(
  budget: BodyBudget,
): Promise<{ app: FastifyInstance; port: number; token: string; close(): Promise<void> }> {
  const database: TestDatabase = await createTestDatabase('sqlite');
  const app = await buildServer({
    db: database.storage.db,
    publicUrl: 'http://127.0.0.1:3000',
    version: 'test',
    bodyBudget: budget,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const user = await createUser(database.storage.db, {
    email: `budget${++counter}@example.test`,
    password: 'correct horse',
  });
  const token = await createApiToken(database.storage.db, user.id);
  return {
    app,
    port,
    token,
    async close() {
      await app.close();
      await database.destroy();
    },
  };
}

describe('large request bodies through a listening server', () => {
  let server: Awaited<ReturnType<typeof listeningServer>>;
  let port: number;
  let token: string;
  const budget = new BodyBudget({ maxBytes: 700 * KB, maxWaitMs: 400 });

  beforeAll(async () => {
    server = await listeningServer(budget);
    ({ port, token } = server);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('refuses a stranger before reading the body: the answer comes while most of it is unsent', async () => {
    const post = partialPost(port, '/api/contacts/import', csv(), 5 * 1024 * KB, 16 * KB);
    const answer = await post.response;
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body).error.code).toBe('UNAUTHENTICATED');
    post.hangUp();
    // The same with a wrong token: nothing of the 5 MB is needed to say no.
    const wrong = partialPost(port, '/api/contacts/import', csv('cnv_wrong'), 5 * 1024 * KB, 16 * KB);
    expect((await wrong.response).status).toBe(401);
    wrong.hangUp();
    expect(budget.inFlight()).toBe(0);
  });

  it('holds a large body back while the budget is full, SERVER_BUSY after the wait, then serves it', async () => {
    const size = 400 * KB;
    expect(size).toBeGreaterThanOrEqual(BUDGETED_FROM_BYTES);
    // The first sender stalls half way: its 400 KB stay counted while it is read.
    const first = partialPost(port, '/api/contacts/import', csv(token), size, 200 * KB);
    await waitFor('the first body to be admitted', async () => budget.inFlight() === size);
    const second = partialPost(port, '/api/contacts/import', csv(token), size, size);
    second.rest();
    const busy = await second.response;
    expect(busy.status).toBe(503);
    expect(JSON.parse(busy.body).error.code).toBe('SERVER_BUSY');
    expect(Number(busy.headers['retry-after'])).toBeGreaterThan(0);
    first.rest();
    const done = await first.response;
    expect(done.status).not.toBe(503);
    await waitFor('the first body to be given back', async () => budget.inFlight() === 0);
    // Room again: the same request is read and answered as the first was.
    const again = partialPost(port, '/api/contacts/import', csv(token), size, size);
    again.rest();
    expect((await again.response).status).toBe(done.status);
    await waitFor('the retried body to be given back', async () => budget.inFlight() === 0);
  });

  it('gives the room back when a sender hangs up half way, and takes no room for small bodies', async () => {
    const stalled = partialPost(port, '/api/contacts/import', csv(token), 600 * KB, 100 * KB);
    await waitFor('the stalled body to be admitted', async () => budget.inFlight() === 600 * KB);
    stalled.hangUp();
    await waitFor('the room to come back', async () => budget.inFlight() === 0);
    const small = partialPost(port, '/api/contacts/import', csv(token), 2 * KB, 1 * KB);
    await tick();
    expect(budget.inFlight()).toBe(0);
    small.rest();
    expect((await small.response).status).not.toBe(503);
  });
});

describe('a large body that trickles in', () => {
  let server: Awaited<ReturnType<typeof listeningServer>>;
  // From 500 ms on, a body let in must have come at 8 KB/s on average (low: a loaded test machine's event loop may
  // stall for a second, and the steady sender below shares it).
  const budget = new BodyBudget({ maxBytes: 700 * KB, maxWaitMs: 5_000, minBytesPerSecond: 8 * KB, graceMs: 500 });

  beforeAll(async () => {
    server = await listeningServer(budget);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('loses its connection and its room, while one that keeps coming in pieces is read', async () => {
    const stalled = partialPost(server.port, '/api/contacts/import', csv(server.token), 600 * KB, 10 * KB);
    await waitFor('the trickling body to be admitted', async () => budget.inFlight() === 600 * KB);
    // The server hangs up on it: no answer, and the room comes back without the sender doing anything.
    await expect(stalled.response).rejects.toThrow();
    await waitFor('the room to come back', async () => budget.inFlight() === 0);

    // 600 KB in six pieces 100 ms apart (~1 MB/s) is read and answered.
    const steady = partialPost(server.port, '/api/contacts/import', csv(server.token), 600 * KB, 100 * KB);
    for (let piece = 1; piece < 6; piece++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      steady.more(100 * KB);
    }
    steady.rest();
    const answer = await steady.response;
    expect(answer.status).not.toBe(503);
    await waitFor('the steady body to be given back', async () => budget.inFlight() === 0);
  });

  it('is watched from when it is let in, by the bytes that arrived since', async () => {
    const watch = new BodyBudget({ minBytesPerSecond: 10_000, graceMs: 200 });
    /** How often tooSlow was called in 450 ms for a socket that had read `before` bytes and then reads `added`. */
    const callsFor = async (before: number, added: number) => {
      const socket = { bytesRead: before };
      let calls = 0;
      const stop = watch.watchArrival(socket, () => calls++);
      socket.bytesRead += added;
      await new Promise((resolve) => setTimeout(resolve, 450));
      stop();
      return calls;
    };
    // 1,000 bytes by the first check at 200 ms: under 10,000 a second (the 5,000 read before do not count); once.
    expect(await callsFor(5_000, 1_000)).toBe(1);
    // A million bytes at once: over 10,000 a second at every check, however late the checks run.
    expect(await callsFor(0, 1_000_000)).toBe(0);
  });
});
