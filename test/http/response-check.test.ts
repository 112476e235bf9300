// The router's answer check (CONVERSA_CHECK_RESPONSES, on in every test server): an answer that is not what its
// route declares becomes a 500 naming the route and the path, and a log line says the same. Also, at type-check
// time (`tsc -p tsconfig.json` covers test/), a handler whose answer does not fit its schema does not compile.
import fs from 'node:fs';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiRouter } from '../../src/http/api-router.js';
import { installErrorHandler } from '../../src/http/error-handler.js';
import type { Db } from '../../src/storage/database.js';

const itemSchema = z.object({ n: z.number(), label: z.string().nullable() });
const listSchema = z.object({ items: z.array(itemSchema) });

/** An answer the type system cannot see (as rows read from a database may be). */
function untyped<T>(value: unknown): T {
  return value as T;
}

async function serverWith(validateResponses: boolean, answer: unknown, status?: number) {
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const app = Fastify({ logger: { level: 'error', stream } });
  installErrorHandler(app);
  // Public routes never reach the database.
  const router = new ApiRouter(app, {} as Db, 'http://127.0.0.1:3000', { validateResponses });
  router.route({
    method: 'GET',
    path: '/t/list',
    summary: 'A list',
    tag: 'test',
    auth: 'public',
    responses: { 200: { description: 'The list', schema: listSchema } },
    handler: async ({ reply }) => {
      if (status) reply.code(status);
      return untyped<z.infer<typeof listSchema>>(answer);
    },
  });
  await app.ready();
  return { app, logs };
}

describe('checking answers against their schema', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('lets a conforming answer through unchanged', async () => {
    const server = await serverWith(true, {
      items: [
        { n: 1, label: null },
        { n: 2, label: 'two' },
      ],
    });
    app = server.app;
    const res = await app.inject({ method: 'GET', url: '/t/list' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      items: [
        { n: 1, label: null },
        { n: 2, label: 'two' },
      ],
    });
    expect(server.logs).toEqual([]);
  });

  it('turns a wrong or missing field into a 500 that names the route and the path, and logs it', async () => {
    const server = await serverWith(true, { items: [{ n: 1, label: null }, { n: '2' }] });
    app = server.app;
    const res = await app.inject({ method: 'GET', url: '/t/list' });
    expect(res.statusCode).toBe(500);
    const error = res.json().error;
    expect(error.code).toBe('INTERNAL');
    expect(error.message).toContain('GET /t/list (200)');
    expect(error.message).toContain('items.1.n');
    expect(error.message).toContain('items.1.label');
    const line = server.logs.map((l) => JSON.parse(l)).find((l) => l.route === 'GET /t/list');
    expect(line?.msg).toContain('does not match its schema');
    expect(line?.mismatches.join('\n')).toContain('items.1.n');
  });

  it('refuses a field the schema does not declare (drift, or a leak)', async () => {
    const server = await serverWith(true, { items: [{ n: 1, label: null, passwordHash: 'x' }] });
    app = server.app;
    const res = await app.inject({ method: 'GET', url: '/t/list' });
    expect(res.statusCode).toBe(500);
    expect(res.json().error.message).toContain('items.0.passwordHash: not declared by the schema');
    expect(res.body).not.toContain('"x"');
  });

  it('refuses a status the route does not declare', async () => {
    const server = await serverWith(true, { items: [] }, 201);
    app = server.app;
    const res = await app.inject({ method: 'GET', url: '/t/list' });
    expect(res.statusCode).toBe(500);
    expect(res.json().error.message).toContain('status 201 is not declared');
  });

  it('checks the JSON the client reads: a Date is its ISO string', async () => {
    const dated = z.object({ at: z.string() });
    app = Fastify({ logger: false });
    installErrorHandler(app);
    const router = new ApiRouter(app, {} as Db, 'http://127.0.0.1:3000', { validateResponses: true });
    router.route({
      method: 'GET',
      path: '/t/dated',
      summary: 'Dated',
      tag: 'test',
      auth: 'public',
      responses: { 200: { description: 'Dated', schema: dated } },
      handler: async () => untyped<{ at: string }>({ at: new Date(0) }),
    });
    const res = await app.inject({ method: 'GET', url: '/t/dated' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ at: '1970-01-01T00:00:00.000Z' });
  });

  it('costs nothing when off (production): the answer goes as it is', async () => {
    const server = await serverWith(false, { items: [{ n: '2' }] });
    app = server.app;
    const res = await app.inject({ method: 'GET', url: '/t/list' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ items: [{ n: '2' }] });
  });

  it('types a handler by its 2xx schemas (checked by tsc, not run)', () => {
    const router = new ApiRouter(Fastify(), {} as Db, 'http://127.0.0.1:3000');
    const declare = () => {
      router.route({
        method: 'GET',
        path: '/t/typed',
        summary: 'Typed',
        tag: 'test',
        auth: 'public',
        responses: { 200: { description: 'The list', schema: listSchema } },
        // @ts-expect-error -- `n` must be a number
        handler: async () => ({ items: [{ n: '1', label: null }] }),
      });
      router.route({
        method: 'POST',
        path: '/t/two',
        summary: 'Two answers',
        tag: 'test',
        auth: 'public',
        responses: {
          200: { description: 'Done', schema: listSchema },
          202: { description: 'Started', schema: z.object({ started: z.literal(true) }) },
          404: { description: 'Errors are thrown, never returned', schema: z.object({ missing: z.string() }) },
        },
        // @ts-expect-error -- a 4xx body is not an answer a handler returns
        handler: async () => ({ missing: 'x' }),
      });
    };
    expect(typeof declare).toBe('function');
  });
});

describe('the modules the web app reads', () => {
  // web/ type-checks these files itself and must never bundle server code: the schemas may import zod alone, and
  // the types module may hold types alone.
  it('keeps the response schemas to zod and the response types to types', () => {
    const schemaImports = fs.readFileSync('src/http/api-schemas.ts', 'utf8').match(/^import .*$/gm) ?? [];
    expect(schemaImports).toEqual(["import { z } from 'zod';"]);
    const types = fs.readFileSync('src/http/api-types.ts', 'utf8');
    for (const line of types.match(/^(import|export) .*$/gm) ?? []) expect(line).toMatch(/^(import|export) type /);
  });
});
