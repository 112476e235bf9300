// Issue 14, users and roles: invite → accept → sign in; a member gets 403 on every admin route; the last active
// administrator can be neither demoted nor deactivated; the password rules; a password change ends the other
// sessions (not the current one, not API tokens); name and language. On SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken, createUser } from '../../src/users/users.js';
import { digestToken } from '../../src/users/secret-tokens.js';
import { startTestApi, type TestApi } from '../support/api-client.js';
import { DIALECTS } from '../support/databases.js';

const ORIGIN = 'http://127.0.0.1:3000';
let counter = 0;

describe.each(DIALECTS)('users and roles on %s', (dialect) => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi(dialect, { admin: true });
  });
  afterAll(async () => {
    await api?.close();
  });

  const asToken = (token: string, method: string, url: string, payload?: unknown) =>
    api.app.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const asCookie = (cookie: string, method: string, url: string, payload?: unknown) =>
    api.app.inject({
      method: method as 'GET',
      url,
      headers: { origin: ORIGIN },
      cookies: { conversa_session: cookie },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  const publicPost = (url: string, payload: unknown) =>
    api.app.inject({ method: 'POST', url, headers: { origin: ORIGIN }, payload: payload as object });
  const login = async (email: string, password: string) => {
    const res = await publicPost('/api/auth/login', { email, password });
    return {
      status: res.statusCode,
      body: res.json(),
      cookie: res.cookies.find((c) => c.name === 'conversa_session')?.value,
    };
  };
  const tokenOf = (inviteUrl: string) => inviteUrl.split('/invite/')[1]!;

  it('invites a colleague, who accepts once and signs in', async () => {
    const email = `colleague${++counter}@example.test`;
    const invited = await asToken(api.token, 'POST', '/api/users', { email, name: 'Bia', role: 'member' });
    expect(invited.statusCode).toBe(201);
    const invitation = invited.json();
    expect(invitation.inviteUrl).toMatch(/^http:\/\/127\.0\.0\.1:3000\/invite\/cnvi_[A-Za-z0-9_-]{43}$/);
    expect(invitation.mailed).toBe(false); // no app relay in this server
    expect(invitation.user).toMatchObject({ email, name: 'Bia', role: 'member', active: false, pending: true });
    const days = (Date.parse(invitation.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThanOrEqual(7);
    // Only the digest is stored.
    const token = tokenOf(invitation.inviteUrl);
    const stored = await api.database.storage.db.selectFrom('invitations').select('token_hash').execute();
    expect(stored.map((r) => r.token_hash)).toContain(digestToken(token));
    expect(JSON.stringify(stored)).not.toContain(token);

    // Before accepting, the invitee cannot sign in (no usable password).
    expect((await login(email, 'whatever password')).status).toBe(401);
    const info = await api.app.inject({ method: 'GET', url: `/api/invites/${token}` });
    expect(info.json()).toMatchObject({ email, orgName: expect.any(String), expiresAt: invitation.expiresAt });
    const weak = await publicPost(`/api/invites/${token}`, { password: 'password123' });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().error.fields[0].path).toBe('password');

    const accepted = await publicPost(`/api/invites/${token}`, {
      password: 'bia chooses a good one',
      name: 'Bia Souza',
    });
    expect(accepted.statusCode).toBe(200);
    expect(accepted.json().user).toMatchObject({ email, displayName: 'Bia Souza', isAdmin: false });
    const cookie = accepted.cookies.find((c) => c.name === 'conversa_session')!.value;
    expect((await asCookie(cookie, 'GET', '/api/me')).json().email).toBe(email);

    // Single use: the link is gone.
    expect((await publicPost(`/api/invites/${token}`, { password: 'another good password' })).statusCode).toBe(404);
    expect((await api.app.inject({ method: 'GET', url: `/api/invites/${token}` })).statusCode).toBe(404);
    const signedIn = await login(email, 'bia chooses a good one');
    expect(signedIn.status).toBe(200);
    const list = (await asToken(api.token, 'GET', '/api/users')).json().items;
    expect(list.find((u: { email: string }) => u.email === email)).toMatchObject({ active: true, role: 'member' });
    // Inviting an existing user's address again is refused.
    expect((await asToken(api.token, 'POST', '/api/users', { email, role: 'admin' })).statusCode).toBe(409);
  });

  it('refuses an expired invitation link', async () => {
    const email = `late${++counter}@example.test`;
    const invitation = (await asToken(api.token, 'POST', '/api/users', { email, role: 'member' })).json();
    await api.database.storage.db
      .updateTable('invitations')
      .set({ expires_at: Date.now() - 1 })
      .where('token_hash', '=', digestToken(tokenOf(invitation.inviteUrl)))
      .execute();
    expect(
      (await publicPost(`/api/invites/${tokenOf(invitation.inviteUrl)}`, { password: 'late but long enough' }))
        .statusCode,
    ).toBe(404);
    // Inviting again gives a fresh link that works.
    const again = (await asToken(api.token, 'POST', '/api/users', { email, role: 'member' })).json();
    expect(
      (await publicPost(`/api/invites/${tokenOf(again.inviteUrl)}`, { password: 'late but long enough' })).statusCode,
    ).toBe(200);
  });

  it('answers 403 to a member on each admin route', async () => {
    const member = await createUser(api.database.storage.db, {
      email: `member${++counter}@example.test`,
      password: 'member password',
    });
    const token = await createApiToken(api.database.storage.db, member.id);
    const calls: Array<[string, string, unknown?]> = [
      ['GET', '/api/users'],
      ['POST', '/api/users', { email: `x${counter}@example.test`, role: 'member' }],
      ['PATCH', `/api/users/${api.user.id}`, { role: 'member' }],
      ['PATCH', `/api/users/${member.id}`, { role: 'admin' }],
    ];
    for (const [method, url, body] of calls) {
      const res = await asToken(token, method, url, body);
      expect(res.statusCode, `${method} ${url}`).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
    }
    expect((await asToken(token, 'GET', '/api/me')).json().isAdmin).toBe(false);
  });

  it('keeps the last active administrator: no demotion, no deactivation', async () => {
    const db = api.database.storage.db;
    // Only the test's admin is an admin now.
    await db.updateTable('users').set({ is_admin: 0 }).where('id', '!=', api.user.id).execute();
    for (const patch of [{ role: 'member' }, { active: false }]) {
      const res = await asToken(api.token, 'PATCH', `/api/users/${api.user.id}`, patch);
      expect(res.statusCode).toBe(409);
      expect(res.json().error.code).toBe('CONFLICT');
      expect(res.json().error.message).toMatch(/last active administrator/);
    }
    const other = await createUser(db, { email: `second${++counter}@example.test`, password: 'second admin pw' });
    const promoted = await asToken(api.token, 'PATCH', `/api/users/${other.id}`, { role: 'admin' });
    expect(promoted.json()).toMatchObject({ id: other.id, role: 'admin', active: true });
    // A deactivated admin does not count: demoting the last ACTIVE one is refused.
    expect((await asToken(api.token, 'PATCH', `/api/users/${other.id}`, { active: false })).statusCode).toBe(200);
    expect((await asToken(api.token, 'PATCH', `/api/users/${api.user.id}`, { role: 'member' })).statusCode).toBe(409);
    expect((await asToken(api.token, 'PATCH', `/api/users/${other.id}`, { active: true })).statusCode).toBe(200);
    // With two active admins, one may step down.
    const otherToken = await createApiToken(db, other.id);
    const down = await asToken(otherToken, 'PATCH', `/api/users/${other.id}`, { role: 'member' });
    expect(down.json()).toMatchObject({ role: 'member' });
    expect(
      (await asToken(api.token, 'PATCH', '/api/users/00000000-0000-7000-8000-000000000000', { role: 'member' }))
        .statusCode,
    ).toBe(404);
  });

  it('changes the password: current one required, rules apply, other sessions end, this one and tokens stay', async () => {
    const db = api.database.storage.db;
    const email = `pw${++counter}@example.test`;
    const user = await createUser(db, { email, password: 'first password here' });
    const token = await createApiToken(db, user.id);
    const a = (await login(email, 'first password here')).cookie!;
    const b = (await login(email, 'first password here')).cookie!;
    const wrong = await asCookie(a, 'POST', '/api/me/password', {
      currentPassword: 'not it at all',
      newPassword: 'second password here',
    });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.fields[0].path).toBe('currentPassword');
    const weak = await asCookie(a, 'POST', '/api/me/password', {
      currentPassword: 'first password here',
      newPassword: 'iloveyou',
    });
    expect(weak.statusCode).toBe(400);
    expect(weak.json().error.fields[0].path).toBe('newPassword');

    const changed = await asCookie(a, 'POST', '/api/me/password', {
      currentPassword: 'first password here',
      newPassword: 'second password here',
    });
    expect(changed.statusCode).toBe(204);
    expect((await asCookie(a, 'GET', '/api/me')).statusCode).toBe(200);
    expect((await asCookie(b, 'GET', '/api/me')).statusCode).toBe(401);
    expect((await asToken(token, 'GET', '/api/me')).statusCode).toBe(200);
    expect((await login(email, 'first password here')).status).toBe(401);
    expect((await login(email, 'second password here')).status).toBe(200);
  });

  it('changes name and language', async () => {
    const res = await asToken(api.token, 'PATCH', '/api/me', { name: 'Ana Admin', locale: 'pt-BR' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ displayName: 'Ana Admin' });
    expect((await asToken(api.token, 'GET', '/api/me/settings')).json().locale).toBe('pt-BR');
    expect((await asToken(api.token, 'PATCH', '/api/me', { locale: 'fr' })).statusCode).toBe(400);
  });
  it('lets only one of two admins demoting each other at once succeed', async () => {
    const db = api.database.storage.db;
    await db.updateTable('users').set({ is_admin: 0 }).where('id', '!=', api.user.id).execute();
    await db.updateTable('users').set({ is_admin: 1, active: 1 }).where('id', '=', api.user.id).execute();
    const other = await createUser(db, {
      email: `rival${++counter}@example.test`,
      password: 'rival admin pw',
      isAdmin: true,
    });
    const otherToken = await createApiToken(db, other.id);
    const [a, b] = await Promise.all([
      asToken(api.token, 'PATCH', `/api/users/${other.id}`, { role: 'member' }),
      asToken(otherToken, 'PATCH', `/api/users/${api.user.id}`, { role: 'member' }),
    ]);
    // The loser is refused by the last-admin rule (409), or already demoted when it is authorised (403).
    const codes = [a.statusCode, b.statusCode].sort();
    expect(codes[0]).toBe(200);
    expect([403, 409]).toContain(codes[1]);
    const admins = await db
      .selectFrom('users')
      .select('id')
      .where('is_admin', '=', 1)
      .where('active', '=', 1)
      .execute();
    expect(admins).toHaveLength(1);
  });
});
