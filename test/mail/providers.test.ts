// The provider presets: every one well-formed, the e-mail → preset lookup for many domains (Brazilian ones
// included), the `other` fallback with guessed hosts, and the two routes through a real Fastify app.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRouter } from '../../src/http/api-router.js';
import { installErrorHandler } from '../../src/http/error-handler.js';
import { providerRoutes } from '../../src/http/routes/provider-routes.js';
import { getProvider, listProviders, lookupProvider, type ProviderPreset } from '../../src/mail/providers/presets.js';
import { createApiToken, createUser } from '../../src/users/users.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';

const HOST_RE = /^(?=.{4,253}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/;

describe('provider presets', () => {
  const presets = listProviders();

  it('has the contract ids, unique, with `other` last', () => {
    const ids = presets.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ['gmail', 'microsoft365', 'outlook', 'zoho', 'other']) expect(ids).toContain(id);
    for (const id of [
      'zoho-eu',
      'zoho-in',
      'zoho-com-au',
      'zoho-jp',
      'zoho-ca',
      'zoho-sa',
      'yahoo',
      'icloud',
      'fastmail',
      'aol',
      'gmx',
      'yandex',
      'uol',
      'bol',
      'terra',
    ]) {
      expect(ids).toContain(id);
    }
    expect(ids.at(-1)).toBe('other');
  });

  it.each(listProviders().filter((p) => p.id !== 'other'))('$id is well-formed', (preset: ProviderPreset) => {
    expect(preset.name.length).toBeGreaterThan(2);
    expect(['oauth2', 'password']).toContain(preset.auth);
    // Receiving: IMAP over TLS on 993, always.
    expect(preset.imap).toEqual({ host: expect.stringMatching(HOST_RE), port: 993, secure: true });
    // Sending: 465 with TLS from the start, or 587 with STARTTLS.
    expect(preset.smtp.host).toMatch(HOST_RE);
    expect([
      { port: 465, secure: true },
      { port: 587, secure: false },
    ]).toContainEqual({ port: preset.smtp.port, secure: preset.smtp.secure });
    for (const domain of preset.domains) expect(domain).toMatch(/^(\*\.)?[a-z0-9.-]+(\.\*)?$/);
    if (preset.appPassword) {
      expect(preset.appPassword.instructionsUrl).toMatch(/^https:\/\/[^\s]+$/);
      expect(typeof preset.appPassword.requiredWith2fa).toBe('boolean');
    }
    if (preset.caldavUrl !== null) {
      expect(preset.caldavUrl).toMatch(/^https:\/\//);
      expect(preset.calendar).toBe('caldav');
    }
    expect(typeof preset.smtpSavesSent).toBe('boolean');
    if (preset.auth === 'oauth2') expect(preset.oauth).toBeDefined();
    else expect(preset.oauth).toBeUndefined();
  });

  it('routes Google and Microsoft calendars through their APIs and saves their sent mail server-side', () => {
    for (const id of ['gmail', 'microsoft365', 'outlook']) {
      const preset = getProvider(id)!;
      expect(preset.auth).toBe('oauth2');
      expect(preset.caldavUrl).toBeNull();
      expect(preset.smtpSavesSent).toBe(true);
    }
    expect(getProvider('gmail')).toMatchObject({
      calendar: 'google',
      oauth: 'google',
      imap: { host: 'imap.gmail.com' },
    });
    expect(getProvider('microsoft365')).toMatchObject({ calendar: 'microsoft', oauth: 'microsoft-organizations' });
    expect(getProvider('outlook')).toMatchObject({ calendar: 'microsoft', oauth: 'microsoft-consumers' });
    expect(getProvider('icloud')).toMatchObject({ caldavUrl: 'https://caldav.icloud.com', smtpSavesSent: false });
  });

  it('answers "Microsoft 365 or Outlook?" in the help of both', () => {
    for (const id of ['microsoft365', 'outlook']) {
      const help = getProvider(id)!.help ?? '';
      expect(help).toMatch(/personal .*→ choose Outlook/i);
      expect(help).toMatch(/business mail.*→ choose Microsoft 365/i);
    }
  });

  it('has a Zoho preset per data centre with its own servers, organisation and personal', () => {
    expect(getProvider('zoho')).toMatchObject({
      imap: { host: 'imappro.zoho.com' },
      smtp: { host: 'smtppro.zoho.com', port: 465, secure: true },
    });
    expect(getProvider('zoho-eu')).toMatchObject({
      imap: { host: 'imappro.zoho.eu' },
      smtp: { host: 'smtppro.zoho.eu' },
      caldavUrl: 'https://calendar.zoho.eu/caldav/',
    });
    expect(getProvider('zoho-in')?.smtp.host).toBe('smtppro.zoho.in');
    expect(getProvider('zoho-com-au')?.imap.host).toBe('imappro.zoho.com.au');
    expect(getProvider('zoho-jp')?.imap.host).toBe('imappro.zoho.jp');
    expect(getProvider('zoho-ca')?.imap.host).toBe('imappro.zohocloud.ca');
    expect(getProvider('zoho-sa')?.imap.host).toBe('imappro.zoho.sa');
    expect(getProvider('zoho-personal')).toMatchObject({
      imap: { host: 'imap.zoho.com' },
      smtp: { host: 'smtp.zoho.com' },
    });
    expect(getProvider('zoho-eu-personal')).toMatchObject({
      imap: { host: 'imap.zoho.eu' },
      smtp: { host: 'smtp.zoho.eu' },
    });
    for (const preset of listProviders().filter((p) => p.id.startsWith('zoho'))) {
      expect(preset.appPassword?.requiredWith2fa).toBe(true);
      expect(preset.help).toMatch(/IMAP access/);
    }
  });

  it('is frozen: callers cannot change the catalogue', () => {
    const gmail = getProvider('gmail')!;
    expect(() => {
      (gmail.imap as { host: string }).host = 'evil.example';
    }).toThrow();
    expect(getProvider('gmail')?.imap.host).toBe('imap.gmail.com');
    expect(getProvider('nope')).toBeUndefined();
  });
});

describe('lookupProvider', () => {
  it.each([
    ['ana@gmail.com', 'gmail'],
    ['Ana.Silva@GoogleMail.com', 'gmail'],
    ['joao@outlook.com', 'outlook'],
    ['joao@hotmail.com', 'outlook'],
    ['joao@live.com', 'outlook'],
    ['joao@msn.com', 'outlook'],
    ['joao@hotmail.com.br', 'outlook'],
    ['joao@outlook.com.br', 'outlook'],
    ['it@contoso.onmicrosoft.com', 'microsoft365'],
    ['maria@yahoo.com', 'yahoo'],
    ['maria@yahoo.com.br', 'yahoo'],
    ['maria@ymail.com', 'yahoo'],
    ['maria@rocketmail.com', 'yahoo'],
    ['pedro@icloud.com', 'icloud'],
    ['pedro@me.com', 'icloud'],
    ['pedro@mac.com', 'icloud'],
    ['carla@uol.com.br', 'uol'],
    ['carla@bol.com.br', 'bol'],
    ['carla@terra.com.br', 'terra'],
    ['rui@zoho.com', 'zoho-personal'],
    ['rui@zohomail.com', 'zoho-personal'],
    ['rui@zohomail.eu', 'zoho-eu-personal'],
    ['rui@zohomail.in', 'zoho-in-personal'],
    ['hans@gmx.net', 'gmx-net'],
    ['hans@gmx.de', 'gmx-net'],
    ['hans@gmx.at', 'gmx-net'],
    ['jane@gmx.com', 'gmx'],
    ['jane@gmx.com.br', 'gmx'],
    ['jane@gmx.nz', 'gmx'],
    ['ivan@yandex.ru', 'yandex'],
    ['ivan@yandex.com', 'yandex'],
    ['ivan@ya.ru', 'yandex'],
    ['ivan@yandex.kz', 'yandex'],
    ['ivan@yandex.fr', 'yandex'],
    ['bob@aol.com', 'aol'],
    ['bob@aim.com', 'aol'],
    ['kim@fastmail.com', 'fastmail'],
    ['kim@fastmail.fm', 'fastmail'],
    ['kim@fastmail.co.uk', 'fastmail'],
    ['kim@fastmail.xyz', 'fastmail'],
    ['kim@sent.com', 'fastmail'],
    ['  Someone@Gmail.COM  ', 'gmail'],
    ['someone@gmail.com.', 'gmail'],
  ])('%s → %s', (email, id) => {
    const found = lookupProvider(email);
    expect(found.id).toBe(id);
    expect(found.matched).toBe(true);
    expect(found).toMatchObject(getProvider(id)!);
  });

  it('falls back to `other` with guessed, editable hosts for an unknown domain', () => {
    const found = lookupProvider('vendas@Minha-Empresa.com.br');
    expect(found).toMatchObject({
      id: 'other',
      matched: false,
      auth: 'password',
      imap: { host: 'imap.minha-empresa.com.br', port: 993, secure: true },
      smtp: { host: 'smtp.minha-empresa.com.br', port: 587, secure: false },
    });
    // The catalogue's own `other` keeps empty hosts.
    expect(getProvider('other')?.imap.host).toBe('');
    expect(getProvider('other')?.smtp.host).toBe('');
  });

  it('does not take look-alike domains for a provider', () => {
    for (const email of [
      'a@yahoo.co.jp',
      'a@notgmail.com',
      'a@gmail.com.evil.example',
      'a@mail.gmx.example',
      'a@onmicrosoft.com.example',
    ]) {
      expect(lookupProvider(email).matched, email).toBe(false);
    }
  });

  it('gives `other` with no hosts for something that is not an address', () => {
    expect(lookupProvider('no-at-sign')).toMatchObject({
      id: 'other',
      matched: false,
      imap: { host: '' },
      smtp: { host: '' },
    });
  });
});

describe('provider routes', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let token = '';
  let router: ApiRouter;

  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
    app = Fastify({ logger: false });
    installErrorHandler(app);
    router = new ApiRouter(app, database.storage.db, 'http://127.0.0.1:3000');
    providerRoutes(router);
    await app.ready();
    const user = await createUser(database.storage.db, { email: 'seller@example.test', password: 'correct horse' });
    token = await createApiToken(database.storage.db, user.id);
  });

  afterAll(async () => {
    await app.close();
    await database.destroy();
  });

  const get = (url: string, auth = true) =>
    app.inject({ method: 'GET', url, headers: auth ? { authorization: `Bearer ${token}` } : {} });

  it('lists the presets in the contract shape', async () => {
    const response = await get('/api/providers');
    expect(response.statusCode).toBe(200);
    const body = response.json() as Array<Record<string, unknown>>;
    expect(body.map((p) => p.id)).toEqual(listProviders().map((p) => p.id));
    for (const preset of body) {
      expect(preset).toMatchObject({
        id: expect.any(String),
        name: expect.any(String),
        auth: expect.stringMatching(/^(oauth2|password)$/),
        imap: { host: expect.any(String), port: expect.any(Number), secure: expect.any(Boolean) },
        smtp: { host: expect.any(String), port: expect.any(Number), secure: expect.any(Boolean) },
      });
    }
  });

  it('looks an address up', async () => {
    const gmail = await get('/api/providers/lookup?email=ana%40gmail.com');
    expect(gmail.statusCode).toBe(200);
    expect(gmail.json()).toMatchObject({ id: 'gmail', matched: true, auth: 'oauth2' });
    const other = await get('/api/providers/lookup?email=vendas%40acme.com.br');
    expect(other.json()).toMatchObject({ id: 'other', matched: false, imap: { host: 'imap.acme.com.br' } });
  });

  it('refuses a missing or invalid e-mail with VALIDATION_FAILED', async () => {
    for (const url of [
      '/api/providers/lookup',
      '/api/providers/lookup?email=',
      '/api/providers/lookup?email=not-an-address',
    ]) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(400);
      const error = response.json().error;
      expect(error.code).toBe('VALIDATION_FAILED');
      expect(error.fields[0].path).toBe('query.email');
    }
  });

  it('documents both routes in the OpenAPI document', () => {
    const doc = router.openApiDocument({ title: 't', version: 'test', serverUrl: 'http://127.0.0.1' }) as {
      paths: Record<string, any>;
    };
    expect(doc.paths['/api/providers']?.get?.responses?.['200']).toBeDefined();
    const lookup = doc.paths['/api/providers/lookup']?.get;
    expect(lookup.parameters).toContainEqual(expect.objectContaining({ name: 'email', in: 'query', required: true }));
    const schema = lookup.responses['200'].content['application/json'].schema;
    expect(schema.properties).toHaveProperty('matched');
    expect(schema.properties).toHaveProperty('appPassword');
  });

  it('needs a signed-in user', async () => {
    expect((await get('/api/providers', false)).statusCode).toBe(401);
    expect((await get('/api/providers/lookup?email=a%40gmail.com', false)).statusCode).toBe(401);
  });
});
