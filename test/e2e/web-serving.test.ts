// How the API server serves the built web app (src/http/build-server.ts), on a small stand-in build so it
// runs without `vite build`: files under their own routes, index.html for client routes that ask for HTML,
// the JSON 404 envelope kept for /api/* and for anything else, the security headers on HTML, and no web app
// at all when the folder is missing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, WEB_APP_CSP } from '../../src/http/build-server.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

const INDEX = '<!doctype html><html><head><title>Conversa</title></head><body><div id="root"></div></body></html>';
const HTML_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

describe('serving the web app', () => {
  let database: TestDatabase;
  let webRoot: string;
  let app: FastifyInstance;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-web-'));
    fs.mkdirSync(path.join(webRoot, 'assets'));
    fs.writeFileSync(path.join(webRoot, 'index.html'), INDEX);
    fs.writeFileSync(path.join(webRoot, 'assets', 'app-abc123.js'), 'console.log("app")');
    app = await buildServer({ db: database.storage.db, publicUrl: 'http://127.0.0.1:3000', version: 'test', webRoot });
  });
  afterAll(async () => {
    await app?.close();
    await database?.destroy();
    fs.rmSync(webRoot, { recursive: true, force: true });
  });

  it('serves index.html at / and for client routes that accept HTML, with the security headers', async () => {
    for (const url of ['/', '/settings/email?connected=abc', '/threads/42', '/contacts']) {
      const res = await app.inject({ method: 'GET', url, headers: { accept: HTML_ACCEPT } });
      expect(res.statusCode, url).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).toBe(INDEX);
      expect(res.headers['content-security-policy']).toBe(WEB_APP_CSP);
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['cache-control']).toBe('no-cache');
    }
    expect(WEB_APP_CSP).toContain("default-src 'self'");
    expect(WEB_APP_CSP).toContain("object-src 'none'");
    expect(WEB_APP_CSP).toContain("base-uri 'none'");
    expect(WEB_APP_CSP).toContain("frame-ancestors 'none'");
    expect(WEB_APP_CSP).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  });

  it('serves hashed assets as immutable files', async () => {
    const res = await app.inject({ method: 'GET', url: '/assets/app-abc123.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/javascript/);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });

  it('keeps the JSON 404 envelope for /api/* (even from a browser) and for anything that does not ask for HTML', async () => {
    const cases = [
      { method: 'GET' as const, url: '/api/nope', accept: HTML_ACCEPT },
      { method: 'GET' as const, url: '/api', accept: HTML_ACCEPT },
      { method: 'POST' as const, url: '/api/nope', accept: 'application/json' },
      { method: 'GET' as const, url: '/assets/missing.js', accept: '*/*' },
      { method: 'GET' as const, url: '/favicon.ico', accept: 'image/avif,image/webp,*/*' },
      { method: 'POST' as const, url: '/settings/email', accept: HTML_ACCEPT },
    ];
    for (const c of cases) {
      const res = await app.inject({ method: c.method, url: c.url, headers: { accept: c.accept } });
      expect(res.statusCode, `${c.method} ${c.url}`).toBe(404);
      expect(res.json()).toEqual({ error: { code: 'NOT_FOUND', message: `No route for ${c.method} ${c.url}` } });
    }
    // The API itself is untouched.
    const health = await app.inject({ method: 'GET', url: '/api/health', headers: { accept: HTML_ACCEPT } });
    expect(health.json()).toEqual({ ok: true });
  });

  it('serves no web app when the folder is missing (API-only runs)', async () => {
    const bare = await buildServer({
      db: database.storage.db,
      publicUrl: 'http://127.0.0.1:3000',
      version: 'test',
      webRoot: path.join(webRoot, 'absent'),
    });
    try {
      const res = await bare.inject({ method: 'GET', url: '/settings/email', headers: { accept: HTML_ACCEPT } });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('NOT_FOUND');
      expect((await bare.inject({ method: 'GET', url: '/api/health' })).json()).toEqual({ ok: true });
    } finally {
      await bare.close();
    }
  });
});
