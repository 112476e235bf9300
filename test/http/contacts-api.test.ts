// The contract's contact endpoints, auth and error envelope, through HTTP, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_BODY_LIMIT } from '../../src/http/build-server.js';
import { DIALECTS } from '../support/databases.js';
import { startTestApi, type TestApi } from '../support/api-client.js';

function expectEnvelope(response: { statusCode: number; json(): any }, status: number, code: string): any {
  expect(response.statusCode).toBe(status);
  const body = response.json();
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.message.length).toBeGreaterThan(0);
  return body.error;
}

describe.each(DIALECTS)('contacts API on %s', (dialect) => {
  let api: TestApi;
  const contactCount = async () => {
    let n = 0;
    let cursor: string | null = null;
    do {
      const res = await api.request({
        method: 'GET',
        url: `/api/contacts?limit=200${cursor ? `&cursor=${cursor}` : ''}`,
      });
      n += res.json().items.length;
      cursor = res.json().nextCursor;
    } while (cursor);
    return n;
  };

  beforeAll(async () => {
    api = await startTestApi(dialect);
  });
  afterAll(async () => {
    await api?.close();
  });

  describe('authentication', () => {
    it('answers /api/health without credentials', async () => {
      const res = await api.app.inject({ method: 'GET', url: '/api/health' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ ok: true });
    });

    it('refuses a request without credentials, with a bad token, or a malformed header', async () => {
      expectEnvelope(await api.app.inject({ method: 'GET', url: '/api/contacts' }), 401, 'UNAUTHENTICATED');
      expectEnvelope(
        await api.request({ method: 'GET', url: '/api/contacts', headers: { authorization: 'Bearer cnv_nope' } }),
        401,
        'UNAUTHENTICATED',
      );
      expectEnvelope(
        await api.request({ method: 'GET', url: '/api/contacts', headers: { authorization: 'Basic abc' } }),
        401,
        'UNAUTHENTICATED',
      );
    });

    it('signs in with e-mail and password and then serves with the session cookie only', async () => {
      const bad = await api.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: api.user.email, password: 'wrong password' },
      });
      expectEnvelope(bad, 401, 'UNAUTHENTICATED');
      expect(bad.headers['set-cookie']).toBeUndefined();
      const res = await api.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { email: api.user.email.toUpperCase(), password: 'correct horse' },
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().user.email).toBe(api.user.email);
      const cookie = res.cookies.find((c) => c.name === 'conversa_session')!;
      expect(cookie.httpOnly).toBe(true);
      expect(cookie.sameSite).toBe('Lax');
      const me = await api.app.inject({ method: 'GET', url: '/api/me', cookies: { conversa_session: cookie.value } });
      expect(me.statusCode).toBe(200);
      expect(me.json().email).toBe(api.user.email);
      const out = await api.app.inject({
        method: 'POST',
        url: '/api/auth/logout',
        headers: { origin: 'http://127.0.0.1:3000' },
        cookies: { conversa_session: cookie.value },
      });
      expect(out.statusCode).toBe(204);
      expectEnvelope(
        await api.app.inject({ method: 'GET', url: '/api/me', cookies: { conversa_session: cookie.value } }),
        401,
        'UNAUTHENTICATED',
      );
    });
  });

  describe('CRUD', () => {
    it('creates, reads, updates, lists and deletes a contact', async () => {
      const created = await api.request({
        method: 'POST',
        url: '/api/contacts',
        payload: { firstName: 'Ana', lastName: 'Souza', company: 'ACME', emails: ['  Ana.Souza@ACME.com.br '] },
      });
      expect(created.statusCode).toBe(201);
      const contact = created.json();
      expect(contact).toMatchObject({
        firstName: 'Ana',
        lastName: 'Souza',
        emails: ['ana.souza@acme.com.br'],
        source: 'manual',
      });
      expect(Number.isNaN(Date.parse(contact.createdAt))).toBe(false);

      const read = await api.request({ method: 'GET', url: `/api/contacts/${contact.id}` });
      expect(read.json()).toEqual(contact);

      const patched = await api.request({
        method: 'PATCH',
        url: `/api/contacts/${contact.id}`,
        payload: { company: 'ACME Ltda', emails: ['ana.souza@acme.com.br', 'ana@pessoal.com'] },
      });
      expect(patched.statusCode).toBe(200);
      expect(patched.json()).toMatchObject({
        company: 'ACME Ltda',
        emails: ['ana.souza@acme.com.br', 'ana@pessoal.com'],
      });

      const byEmail = await api.request({ method: 'GET', url: '/api/contacts?email=ANA@pessoal.com' });
      expect(byEmail.json().items.map((c: { id: string }) => c.id)).toEqual([contact.id]);
      const byQ = await api.request({ method: 'GET', url: '/api/contacts?q=souza' });
      expect(byQ.json().items.map((c: { id: string }) => c.id)).toContain(contact.id);

      const deleted = await api.request({ method: 'DELETE', url: `/api/contacts/${contact.id}` });
      expect(deleted.statusCode).toBe(204);
      expectEnvelope(await api.request({ method: 'GET', url: `/api/contacts/${contact.id}` }), 404, 'NOT_FOUND');
      expectEnvelope(await api.request({ method: 'DELETE', url: `/api/contacts/${contact.id}` }), 404, 'NOT_FOUND');
    });

    it('answers 409 CONTACT_EMAIL_TAKEN for an address already on a contact', async () => {
      await api.request({ method: 'POST', url: '/api/contacts', payload: { emails: ['taken@acme.com'] } });
      const err = expectEnvelope(
        await api.request({ method: 'POST', url: '/api/contacts', payload: { emails: ['TAKEN@acme.com'] } }),
        409,
        'CONTACT_EMAIL_TAKEN',
      );
      expect(err.message).toContain('taken@acme.com');
    });

    it('pages through the list with nextCursor', async () => {
      for (let i = 0; i < 5; i++)
        await api.request({ method: 'POST', url: '/api/contacts', payload: { emails: [`page${i}@list.test`] } });
      const first = await api.request({ method: 'GET', url: '/api/contacts?q=list.test&limit=2' });
      expect(first.json().items).toHaveLength(2);
      const second = await api.request({
        method: 'GET',
        url: `/api/contacts?q=list.test&limit=2&cursor=${first.json().nextCursor}`,
      });
      const third = await api.request({
        method: 'GET',
        url: `/api/contacts?q=list.test&limit=2&cursor=${second.json().nextCursor}`,
      });
      expect(third.json().nextCursor).toBeNull();
      const all = [...first.json().items, ...second.json().items, ...third.json().items].map(
        (c: { emails: string[] }) => c.emails[0],
      );
      expect(all).toEqual([
        'page4@list.test',
        'page3@list.test',
        'page2@list.test',
        'page1@list.test',
        'page0@list.test',
      ]);
    });
  });

  describe('bad input', () => {
    it('names the offending fields: wrong types, unknown fields, missing e-mails', async () => {
      const before = await contactCount();
      const wrongType = expectEnvelope(
        await api.request({ method: 'POST', url: '/api/contacts', payload: { firstName: 42, emails: 'a@b.c' } }),
        400,
        'VALIDATION_FAILED',
      );
      expect(wrongType.fields.map((f: { path: string }) => f.path).sort()).toEqual(['body.emails', 'body.firstName']);
      const unknown = expectEnvelope(
        await api.request({ method: 'POST', url: '/api/contacts', payload: { emails: ['u@b.c'], phone: '123' } }),
        400,
        'VALIDATION_FAILED',
      );
      expect(unknown.message).toContain('phone');
      expectEnvelope(
        await api.request({ method: 'POST', url: '/api/contacts', payload: { emails: [] } }),
        400,
        'VALIDATION_FAILED',
      );
      expectEnvelope(
        await api.request({ method: 'POST', url: '/api/contacts', payload: { emails: ['no-at-sign'] } }),
        400,
        'VALIDATION_FAILED',
      );
      expectEnvelope(await api.request({ method: 'GET', url: '/api/contacts?limit=0' }), 400, 'VALIDATION_FAILED');
      expectEnvelope(await api.request({ method: 'GET', url: '/api/contacts?cursor=xyz' }), 400, 'VALIDATION_FAILED');
      expectEnvelope(await api.request({ method: 'GET', url: '/api/contacts/not-an-id' }), 400, 'VALIDATION_FAILED');
      expect(await contactCount()).toBe(before);
    });

    it('refuses malformed JSON, a body over the limit and an unsupported content type, and stays up', async () => {
      const before = await contactCount();
      const malformed = expectEnvelope(
        await api.request({
          method: 'POST',
          url: '/api/contacts',
          payload: '{"emails": ["a@b.c"',
          headers: { 'content-type': 'application/json' },
        }),
        400,
        'VALIDATION_FAILED',
      );
      expect(malformed.message).toMatch(/JSON/);
      const huge = JSON.stringify({ firstName: 'x'.repeat(JSON_BODY_LIMIT), emails: ['big@b.c'] });
      expectEnvelope(
        await api.request({
          method: 'POST',
          url: '/api/contacts',
          payload: huge,
          headers: { 'content-type': 'application/json' },
        }),
        413,
        'PAYLOAD_TOO_LARGE',
      );
      expectEnvelope(
        await api.request({
          method: 'POST',
          url: '/api/contacts',
          payload: '<x/>',
          headers: { 'content-type': 'application/xml' },
        }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      expectEnvelope(
        await api.request({
          method: 'POST',
          url: '/api/contacts',
          payload: 'a,b',
          headers: { 'content-type': 'text/csv' },
        }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
      expect(await contactCount()).toBe(before);
      expect((await api.app.inject({ method: 'GET', url: '/api/health' })).statusCode).toBe(200);
    });

    it('answers an unknown route with the envelope', async () => {
      expectEnvelope(await api.request({ method: 'GET', url: '/api/nothing-here' }), 404, 'NOT_FOUND');
    });
  });

  describe('CSV import', () => {
    const importCsv = (body: string | Buffer, contentType = 'text/csv') =>
      api.request({
        method: 'POST',
        url: '/api/contacts/import',
        payload: body,
        headers: { 'content-type': contentType },
      });

    it('imports the good lines and reports the broken ones by line number', async () => {
      const csv = [
        'First Name,last_name,E-mail,Company',
        'Bia,Costa,bia@csv.test;bia.costa@csv.test,Loja',
        '"Broken,Line,oops@csv.test,x',
        'Caio,,not-an-address,',
        '"Dora","Quote ""D""",dora@csv.test,"Empresa, SA"',
        'Eli,,bia@csv.test,',
        'Fê,Ávila,fe@csv.test,Padaria São João',
        'too,many,fields@csv.test,x,y',
        '',
      ].join('\r\n');
      const res = await importCsv(csv);
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.created).toBe(3);
      expect(body.skipped).toBe(4);
      expect(body.errors.map((e: { line: number }) => e.line)).toEqual([3, 4, 6, 8]);
      expect(body.errors[0].message).toMatch(/quote/);
      const dora = (await api.request({ method: 'GET', url: '/api/contacts?email=dora@csv.test' })).json().items[0];
      expect(dora).toMatchObject({ lastName: 'Quote "D"', company: 'Empresa, SA', source: 'import' });
      const bia = (await api.request({ method: 'GET', url: '/api/contacts?email=bia.costa@csv.test' })).json().items[0];
      expect(bia.emails).toEqual(['bia@csv.test', 'bia.costa@csv.test']);
      const fe = (await api.request({ method: 'GET', url: '/api/contacts?email=fe@csv.test' })).json().items[0];
      expect(fe).toMatchObject({ firstName: 'Fê', lastName: 'Ávila', company: 'Padaria São João' });
      // Importing the same file again creates nothing twice.
      const again = (await importCsv(csv)).json();
      expect(again.created).toBe(0);
    });

    it('reads an Excel "CSV UTF-8" file: byte-order mark and semicolons', async () => {
      const csv = Buffer.concat([
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('Nome;Sobrenome;Email\nGil;Araújo;gil@excel.test\n', 'utf8'),
      ]);
      const res = await importCsv(csv);
      expect(res.json()).toEqual({ created: 1, skipped: 0, errors: [] });
      const gil = (await api.request({ method: 'GET', url: '/api/contacts?email=gil@excel.test' })).json().items[0];
      expect(gil).toMatchObject({ firstName: 'Gil', lastName: 'Araújo' });
    });

    it('refuses a file in another encoding, one without an email column, and JSON, changing nothing', async () => {
      const before = await contactCount();
      const latin1 = Buffer.from('firstName,email\nJosé,jose@latin1.test\n', 'latin1');
      const enc = expectEnvelope(await importCsv(latin1), 400, 'VALIDATION_FAILED');
      expect(enc.message).toMatch(/UTF-8/);
      expect(enc.hint).toMatch(/UTF-8/);
      const noEmail = expectEnvelope(await importCsv('name,phone\nx,1\n'), 400, 'VALIDATION_FAILED');
      expect(noEmail.message).toMatch(/email column/);
      expectEnvelope(await importCsv(''), 400, 'VALIDATION_FAILED');
      expectEnvelope(await importCsv('{"a":1}', 'application/json'), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(await contactCount()).toBe(before);
    });
  });

  describe('OpenAPI', () => {
    it('documents every contract route it serves, from the validating schemas', async () => {
      const res = await api.app.inject({ method: 'GET', url: '/api/openapi.json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json();
      expect(doc.openapi).toBe('3.1.0');
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/api/health',
          '/api/auth/login',
          '/api/contacts',
          '/api/contacts/{id}',
          '/api/contacts/import',
          '/api/me/settings',
          '/api/org',
        ]),
      );
      const create = doc.paths['/api/contacts'].post;
      const schema = create.requestBody.content['application/json'].schema;
      expect(schema.required).toEqual(['emails']);
      expect(schema.additionalProperties).toBe(false);
      expect(Object.keys(create.responses[201].content['application/json'].schema.properties)).toEqual(
        expect.arrayContaining(['id', 'firstName', 'lastName', 'emails', 'source', 'createdAt']),
      );
      const list = doc.paths['/api/contacts'].get.parameters.map((p: { name: string }) => p.name);
      expect(list).toEqual(['email', 'q', 'limit', 'cursor']);
      expect(doc.paths['/api/contacts/import'].post.requestBody.content['text/csv']).toBeDefined();
      expect(doc.paths['/api/health'].get.security).toEqual([]);
    });
  });

  describe('settings and plan', () => {
    it('reads and changes the caller settings and, as an admin, the plan', async () => {
      expect((await api.request({ method: 'GET', url: '/api/me/settings' })).json()).toEqual({
        autoCreateContacts: false,
        locale: 'en',
        neverLog: [],
        trackingEnabled: false,
      });
      expect(
        (
          await api.request({
            method: 'PATCH',
            url: '/api/me/settings',
            payload: { locale: 'pt-BR', neverLog: [' Boss@Bank.test ', '@bank.test', 'boss@bank.test'] },
          })
        ).json(),
      ).toEqual({
        autoCreateContacts: false,
        locale: 'pt-BR',
        neverLog: ['boss@bank.test', '@bank.test'],
        trackingEnabled: false,
      });
      expectEnvelope(
        await api.request({ method: 'PATCH', url: '/api/me/settings', payload: { locale: 'fr' } }),
        400,
        'VALIDATION_FAILED',
      );
      expect((await api.request({ method: 'GET', url: '/api/org' })).json().plan).toBe('enterprise');
      expect((await api.request({ method: 'PATCH', url: '/api/org', payload: { plan: 'pro' } })).json().plan).toBe(
        'pro',
      );
      expectEnvelope(
        await api.request({ method: 'PATCH', url: '/api/org', payload: { plan: 'gold' } }),
        400,
        'VALIDATION_FAILED',
      );
    });
  });
});

describe('a user who is not an admin', () => {
  it('cannot change the plan', async () => {
    const api = await startTestApi('sqlite', { admin: false });
    try {
      const res = await api.request({ method: 'PATCH', url: '/api/org', payload: { plan: 'growth' } });
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
    } finally {
      await api.close();
    }
  });
});
