// Issue 19, the audit log: every security-relevant action driven through the API (sign-ins and failures, sign-out,
// tokens, settings, plan, invitations, roles, deactivation, passwords, mailboxes and their SMTP choice against the
// real Dovecot) leaves one entry with actor, time, target and client IP; GET /api/audit-log is for administrators
// (members 403), filters and pages; no password, token or invitation link is ever in an entry; and no route changes
// or removes entries. On SQLite and PostgreSQL, through a real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS, recordAudit } from '../../src/audit/audit-log.js';
import { auditActions } from '../../src/http/api-schemas.js';
import { startOAuth2Server, type OAuth2TestServer } from '../servers/oauth2-server.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot } from '../support/servers.js';

const dovecot = useDovecot();

it('the web and API list of actions is the one the log records', () => {
  expect([...auditActions]).toEqual([...AUDIT_ACTIONS]);
});

describe.each(DIALECTS)('the audit log on %s', (dialect) => {
  let conversa: TestConversa;
  let database: TestDatabase;
  let oauth: OAuth2TestServer;
  /** Every secret the test hands the server: none may appear in the log. */
  const secrets: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    oauth = await startOAuth2Server();
    // Google's mail servers are the local Dovecot for this server (as in test/mail/email-accounts.test.ts).
    conversa = await startTestConversa(
      {
        ...oauth.env(),
        GOOGLE_IMAP_URL: `imap://${dovecot.host}:${dovecot.imapPort}`,
        GOOGLE_SMTP_URL: `smtp://${dovecot.host}:${dovecot.submissionPort}`,
      },
      database,
    );
  });
  afterAll(async () => {
    await conversa?.stop();
    await oauth?.stop();
    await database?.destroy();
  });

  const send = (method: string, path: string, body?: unknown, cookie?: string) =>
    fetch(`${conversa.url}${path}`, {
      method,
      headers: {
        origin: new URL(conversa.url).origin,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(cookie ? { cookie: `conversa_session=${cookie}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const cookieOf = (res: Response) => /conversa_session=([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const auditLog = async (query = '', token = conversa.token) => {
    const res = await conversa.api('GET', `/api/audit-log${query}`, undefined, token);
    expect(res.status, res.text).toBe(200);
    return res.body as { items: any[]; nextBefore: string | null };
  };
  const adminId = async () => (await conversa.api('GET', '/api/me')).body.id as string;

  it('records each action with actor, target and IP, and never a secret', async () => {
    const admin = await adminId();
    const member = await conversa.addUser({ displayName: 'Marta Member' });
    const memberPassword = 'crm user password';

    // Sign-in failures: a wrong password for a known address, and an address nobody has (kept as typed).
    const wrong = 'not the right password at all';
    secrets.push(wrong);
    expect((await send('POST', '/api/auth/login', { email: member.email, password: wrong })).status).toBe(401);
    const stranger = `Nobody-${dialect}@Example.test`;
    expect((await send('POST', '/api/auth/login', { email: stranger, password: wrong })).status).toBe(401);

    // Sign-in, then sign-out.
    const signedIn = await send('POST', '/api/auth/login', { email: member.email, password: memberPassword });
    expect(signedIn.status).toBe(200);
    const cookie = cookieOf(signedIn)!;
    secrets.push(cookie);
    expect((await send('POST', '/api/auth/logout', undefined, cookie)).status).toBe(204);

    // An API token made and revoked.
    const made = await conversa.api('POST', '/api/me/tokens', { name: 'zapier' }, member.token);
    expect(made.status).toBe(201);
    secrets.push(made.body.token, member.token, conversa.token);
    expect((await conversa.api('DELETE', `/api/me/tokens/${made.body.id}`, undefined, member.token)).status).toBe(204);

    // Settings and the plan.
    const settings = { trackingEnabled: false, neverLog: ['boss@private.test'] };
    expect((await conversa.api('PATCH', '/api/me/settings', settings, member.token)).status).toBe(200);
    expect((await conversa.api('PATCH', '/api/org', { plan: 'enterprise' })).status).toBe(200);
    expect((await conversa.api('PATCH', '/api/me', { locale: 'pt-BR' }, member.token)).status).toBe(200);

    // An invitation, accepted; the new colleague made admin, then member, deactivated and reactivated.
    const invited = await conversa.api('POST', '/api/users', { email: `new-${dialect}@example.test`, role: 'member' });
    expect(invited.status).toBe(201);
    const inviteToken = (invited.body.inviteUrl as string).split('/invite/')[1]!;
    const newPassword = 'a long and good passphrase';
    secrets.push(inviteToken, newPassword);
    const accepted = await send('POST', `/api/invites/${inviteToken}`, { password: newPassword });
    expect(accepted.status).toBe(200);
    const colleague: string = invited.body.user.id;
    for (const patch of [{ role: 'admin' }, { role: 'member' }, { active: false }, { active: true }]) {
      const res = await conversa.api('PATCH', `/api/users/${colleague}`, patch);
      expect(res.status, res.text).toBe(200);
    }

    // A password change.
    const changed = 'another long good passphrase';
    secrets.push(changed);
    const pw = { currentPassword: memberPassword, newPassword: changed };
    expect((await conversa.api('POST', '/api/me/password', pw, member.token)).status).toBe(204);

    // A mailbox: connected, reconnected with its password, its SMTP server chosen (tested), deleted.
    const creds = await dovecot.addUser();
    secrets.push(creds.password);
    const connected = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(connected.status, connected.text).toBe(201);
    const mailbox: string = connected.body.id;
    const patched = await conversa.api('PATCH', `/api/email-accounts/${mailbox}`, { password: creds.password });
    expect(patched.status, patched.text).toBe(200);
    const smtp = {
      mode: 'custom',
      host: dovecot.host,
      port: dovecot.submissionPort,
      secure: false,
      username: creds.user,
      password: creds.password,
    };
    const smtpSet = await conversa.api('PUT', `/api/email-accounts/${mailbox}/smtp`, smtp);
    expect(smtpSet.status, smtpSet.text).toBe(200);
    expect((await conversa.api('DELETE', `/api/email-accounts/${mailbox}`)).status).toBe(204);

    const { items } = await auditLog('?limit=200');
    const one = (action: string, target?: string) => {
      const found = items.filter((e) => e.action === action && (target === undefined || e.target === target));
      expect(found, `${action} ${target ?? ''}`).toHaveLength(1);
      const entry = found[0]!;
      expect(Date.now() - Date.parse(entry.at)).toBeLessThan(600_000);
      expect(entry.ip, action).toEqual(expect.any(String));
      return entry;
    };

    const failures = items.filter((e) => e.action === 'auth.sign_in_failed');
    expect(failures.map((e) => e.details.email).sort()).toEqual([member.email, stranger].sort());
    expect(failures.every((e) => e.actorId === null)).toBe(true);
    expect(failures.find((e) => e.details.email === member.email).target).toBe(`user:${member.id}`);
    expect(one('auth.sign_in')).toMatchObject({
      actorId: member.id,
      actorName: 'Marta Member',
      target: `user:${member.id}`,
    });
    expect(one('auth.sign_out')).toMatchObject({ actorId: member.id });
    expect(one('token.created')).toMatchObject({
      actorId: member.id,
      target: `token:${made.body.id}`,
      details: { name: 'zapier' },
    });
    expect(one('token.revoked')).toMatchObject({ actorId: member.id, target: `token:${made.body.id}` });
    const changes = items.filter((e) => e.action === 'settings.changed' && e.actorId === member.id);
    expect(changes.map((e) => e.details).reverse()).toEqual([
      { trackingEnabled: false, neverLog: 1 },
      { locale: 'pt-BR' },
    ]);
    expect(one('org.plan_changed')).toMatchObject({ actorId: admin, details: { to: 'enterprise' } });
    expect(one('user.invited')).toMatchObject({
      actorId: admin,
      target: `user:${colleague}`,
      details: { role: 'member' },
    });
    expect(one('user.invitation_accepted')).toMatchObject({ actorId: colleague, target: `user:${colleague}` });
    const roles = items.filter((e) => e.action === 'user.role_changed').map((e) => e.details);
    expect(roles.reverse()).toEqual([
      { from: 'member', to: 'admin' },
      { from: 'admin', to: 'member' },
    ]);
    expect(one('user.deactivated')).toMatchObject({ actorId: admin, target: `user:${colleague}` });
    expect(one('user.reactivated')).toMatchObject({ actorId: admin, target: `user:${colleague}` });
    expect(one('user.password_changed')).toMatchObject({ actorId: member.id, target: `user:${member.id}` });
    expect(one('mailbox.connected', `mailbox:${mailbox}`)).toMatchObject({
      actorId: admin,
      details: { email: creds.user, authKind: 'password' },
    });
    expect(one('mailbox.changed', `mailbox:${mailbox}`)).toMatchObject({ details: { fields: ['password'] } });
    expect(one('mailbox.smtp_mode', `mailbox:${mailbox}`)).toMatchObject({ details: { mode: 'custom' } });
    expect(one('mailbox.deleted', `mailbox:${mailbox}`)).toMatchObject({ details: { email: creds.user } });

    // Abuse: nothing secret in the answer, nor in the table itself.
    const answer = JSON.stringify(items);
    const stored = JSON.stringify(await conversa.server.storage.db.selectFrom('audit_log').selectAll().execute());
    for (const secret of secrets) {
      expect(answer).not.toContain(secret);
      expect(stored).not.toContain(secret);
    }
  });

  it('records a mailbox connected by OAuth sign-in, without its tokens', async () => {
    const creds = await dovecot.addUser();
    oauth.setUser(creds.user);
    const tokens: string[] = [];
    // Dovecot checks an XOAUTH2 token like a password: each issued access token becomes the user's password.
    const unsubscribe = oauth.onToken(async (issued) => {
      tokens.push(issued.accessToken, issued.refreshToken);
      await dovecot.setPassword(creds.user, issued.accessToken);
    });
    try {
      const started = await fetch(`${conversa.url}/api/email-accounts/oauth/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${conversa.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'gmail' }),
      });
      expect(started.status).toBe(200);
      const nonce = /conversa_oauth=[^;]+/.exec(started.headers.get('set-cookie') ?? '')?.[0] ?? '';
      const consent = await fetch(((await started.json()) as { authorizeUrl: string }).authorizeUrl, {
        redirect: 'manual',
      });
      const back = await fetch(consent.headers.get('location')!, { redirect: 'manual', headers: { cookie: nonce } });
      const mailbox = new URL(back.headers.get('location')!).searchParams.get('connected');
      expect(mailbox).toBeTruthy();

      const { items } = await auditLog('?action=mailbox.connected');
      const entry = items.find((e) => e.target === `mailbox:${mailbox}`);
      expect(entry).toMatchObject({
        actorId: await adminId(),
        details: { email: creds.user, provider: 'gmail', authKind: 'oauth2' },
        ip: expect.any(String),
      });
      expect(tokens.length).toBeGreaterThan(0);
      const stored = JSON.stringify(await conversa.server.storage.db.selectFrom('audit_log').selectAll().execute());
      for (const token of tokens) expect(stored).not.toContain(token);
    } finally {
      unsubscribe();
    }
  });

  it('shows administrators the install-wide entries of the command line (no organisation, no actor)', async () => {
    // What the backup command records (A1 wires the call in the CLI); exports and erasures come from A4's routes.
    await recordAudit(conversa.server.storage.db, {
      orgId: null,
      actorId: null,
      action: 'backup.created',
      target: 'backup:/var/backups/conversa-1',
      details: { messages: 3 },
    });
    const { items } = await auditLog('?action=backup.created');
    expect(items).toEqual([
      expect.objectContaining({ actorId: null, actorName: null, ip: null, details: { messages: 3 } }),
    ]);
  });

  it('filters by action, actor and time, and pages with the cursor', async () => {
    const member = await conversa.addUser();
    for (let i = 0; i < 5; i++) {
      expect(
        (await conversa.api('PATCH', '/api/me/settings', { trackingEnabled: i % 2 === 0 }, member.token)).status,
      ).toBe(200);
    }
    const mine = await auditLog(`?actorId=${member.id}`);
    expect(mine.items).toHaveLength(5);
    expect(mine.items.every((e) => e.action === 'settings.changed' && e.actorId === member.id)).toBe(true);
    // Newest first.
    expect(mine.items.map((e) => e.details.trackingEnabled)).toEqual([true, false, true, false, true]);

    const first = await auditLog(`?actorId=${member.id}&limit=2`);
    expect(first.items.map((e) => e.id)).toEqual(mine.items.slice(0, 2).map((e) => e.id));
    const second = await auditLog(`?actorId=${member.id}&limit=2&before=${first.nextBefore}`);
    expect(second.items.map((e) => e.id)).toEqual(mine.items.slice(2, 4).map((e) => e.id));
    const last = await auditLog(`?actorId=${member.id}&limit=2&before=${second.nextBefore}`);
    expect(last.items.map((e) => e.id)).toEqual(mine.items.slice(4).map((e) => e.id));
    expect(last.nextBefore).toBeNull();

    const byAction = await auditLog('?action=org.plan_changed');
    expect(byAction.items.length).toBeGreaterThan(0);
    expect(byAction.items.every((e) => e.action === 'org.plan_changed')).toBe(true);
    const future = new Date(Date.now() + 60_000).toISOString();
    expect((await auditLog(`?since=${encodeURIComponent(future)}`)).items).toEqual([]);
    const past = new Date(Date.parse(mine.items[4].at)).toISOString();
    expect((await auditLog(`?actorId=${member.id}&before=${encodeURIComponent(past)}`)).items).toEqual([]);

    // Nonsense filters are refused, not ignored.
    for (const bad of ['?action=user.deleted_everything', '?limit=201', '?limit=0', '?before=yesterday', '?x=1']) {
      const res = await conversa.api('GET', `/api/audit-log${bad}`);
      expect(res.status, bad).toBe(400);
    }
  });

  it('is for administrators only, and nothing changes or removes an entry', async () => {
    const member = await conversa.addUser();
    const refused = await conversa.api('GET', '/api/audit-log', undefined, member.token);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    expect((await fetch(`${conversa.url}/api/audit-log`)).status).toBe(401);

    const db = conversa.server.storage.db;
    const before = await db.selectFrom('audit_log').selectAll().orderBy('id').execute();
    const id = before[0]!.id;
    for (const method of ['PATCH', 'PUT', 'DELETE', 'POST']) {
      for (const path of ['/api/audit-log', `/api/audit-log/${id}`]) {
        const res = await conversa.api(method, path, method === 'DELETE' ? undefined : { action: 'auth.sign_in' });
        expect(res.status, `${method} ${path}`).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
    }
    // The API document offers reading only.
    const doc = (await (await fetch(`${conversa.url}/api/openapi.json`)).json()) as { paths: Record<string, object> };
    expect(Object.keys(doc.paths['/api/audit-log'] ?? {})).toEqual(['get']);
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/api/audit-log'))).toEqual(['/api/audit-log']);
    // Reading records nothing, and the rows are as they were.
    expect(await db.selectFrom('audit_log').selectAll().orderBy('id').execute()).toEqual(before);
  });
});
