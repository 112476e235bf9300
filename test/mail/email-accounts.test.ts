// Connecting mailboxes end to end: the API, the sync runner and a real Dovecot (and a local OAuth2 server
// standing in for Google). Statuses are observed through GET /api/email-accounts/:id, as a user would.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOAuth2Server, type OAuth2TestServer } from '../servers/oauth2-server.js';
import { startTcpProxy } from '../servers/tcp-proxy.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';

const dovecot = useDovecot();

const passwordBody = (creds: Credentials, extra: Record<string, unknown> = {}) =>
  dovecotAccountBody(dovecot, creds, extra);

async function sessionsOf(user: string): Promise<number> {
  const result = await dovecot.doveadm(['who', '-1', user]);
  return result.stdout.split('\n').filter((line) => line.includes(user)).length;
}

describe('connecting a mailbox', () => {
  let oauth: OAuth2TestServer;
  let conversa: TestConversa;
  const secrets: string[] = [];

  beforeAll(async () => {
    oauth = await startOAuth2Server();
    // The operator points Google's mail servers at the local Dovecot (a request never can).
    conversa = await startTestConversa({
      ...oauth.env(),
      GOOGLE_IMAP_URL: `imap://${dovecot.host}:${dovecot.imapPort}`,
      GOOGLE_SMTP_URL: `smtp://${dovecot.host}:${dovecot.submissionPort}`,
    });
  });
  afterAll(async () => {
    await conversa?.stop();
    await oauth?.stop();
  });

  /** POST oauth/start like the web app: the answer, and the browser's nonce cookie the callback needs. */
  async function oauthStart(body: Record<string, unknown>): Promise<{ status: number; body: any; cookie: string }> {
    const res = await fetch(`${conversa.url}/api/email-accounts/oauth/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${conversa.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const cookie = /conversa_oauth=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0] ?? '';
    return { status: res.status, body: await res.json(), cookie };
  }

  const waitForStatus = (id: string, status: string, timeoutMs = 15_000) =>
    waitFor(
      `account ${id} to be ${status}`,
      async () => {
        const res = await conversa.api('GET', `/api/email-accounts/${id}`);
        return res.body?.status === status ? res.body : undefined;
      },
      timeoutMs,
    );

  it('connects with the right password: 201, then active, with its folders found', async () => {
    const creds = await dovecot.addUser();
    secrets.push(creds.password);
    const res = await conversa.api('POST', '/api/email-accounts', passwordBody(creds));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      email: creds.user,
      provider: 'other',
      syncMode: 'two-way',
      authKind: 'password',
      historyDays: 90,
    });
    expect(res.body.bccAddress).toMatch(/^[0-9a-f]{20}@bcc\.localhost$/);
    expect(['connecting', 'syncing', 'active']).toContain(res.body.status);
    expect(res.text).not.toContain(creds.password);
    const active = await waitForStatus(res.body.id, 'active');
    expect(active.lastSyncedAt).not.toBeNull();
    const folders = await conversa.server.storage.db
      .selectFrom('mail_folders')
      .select(['path', 'role'])
      .where('account_id', '=', res.body.id)
      .orderBy('path')
      .execute();
    expect(folders).toEqual([
      { path: 'Archive', role: 'archive' },
      { path: 'INBOX', role: 'inbox' },
      { path: 'Sent', role: 'sent' },
    ]);
    // The same mailbox twice is refused.
    const again = await conversa.api('POST', '/api/email-accounts', passwordBody(creds));
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('EMAIL_ACCOUNT_EXISTS');
  });

  it('refuses a wrong password with 422 AUTH_FAILED and saves nothing', async () => {
    const creds = await dovecot.addUser();
    const before = (await conversa.api('GET', '/api/email-accounts')).body.items.length;
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      passwordBody({ ...creds, password: 'wrong-password-xyz' }),
    );
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('AUTH_FAILED');
    expect(res.body.error.message).toMatch(/password/i);
    expect((await conversa.api('GET', '/api/email-accounts')).body.items.length).toBe(before);
  });

  it('gives the app-password advice for a provider that needs one', async () => {
    const creds = await dovecot.addUser();
    // Yahoo's preset, pointed at the local server: the advice comes from the preset.
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      passwordBody({ ...creds, password: 'wrong' }, { provider: 'yahoo' }),
    );
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('AUTH_FAILED');
    expect(res.body.error.hint).toMatch(/app password/i);
    expect(res.body.error.hint).toMatch(/https:\/\//);
  });

  it('answers HOST_UNREACHABLE for a closed port, well within 10 seconds', async () => {
    const creds = await dovecot.addUser();
    const started = Date.now();
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      passwordBody(creds, { imap: { host: '127.0.0.1', port: 1, secure: false } }),
    );
    const elapsed = Date.now() - started;
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('HOST_UNREACHABLE');
    expect(elapsed).toBeLessThan(10_000);
  });

  it('turns needs_reconnect when the password is changed on the server, and active again after PATCH', async () => {
    const creds = await dovecot.addUser();
    const res = await conversa.api('POST', '/api/email-accounts', passwordBody(creds));
    expect(res.status).toBe(201);
    const id = res.body.id;
    await waitForStatus(id, 'active');
    const folderIds = (
      await conversa.server.storage.db.selectFrom('mail_folders').select('id').where('account_id', '=', id).execute()
    )
      .map((f) => f.id)
      .sort();

    const newPassword = `${creds.password}-new`;
    secrets.push(newPassword);
    await dovecot.setPassword(creds.user, newPassword);
    await dovecot.kick(creds.user);
    const broken = await waitForStatus(id, 'needs_reconnect');
    expect(broken.statusDetail).toMatch(/password|reconnect/i);

    // A wrong new password is refused and changes nothing.
    const wrong = await conversa.api('PATCH', `/api/email-accounts/${id}`, { password: 'still wrong' });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('AUTH_FAILED');
    expect((await conversa.api('GET', `/api/email-accounts/${id}`)).body.status).toBe('needs_reconnect');

    const fixed = await conversa.api('PATCH', `/api/email-accounts/${id}`, { password: newPassword });
    expect(fixed.status).toBe(200);
    await waitForStatus(id, 'active');
    // A reconnect keeps the folders and their cursors: sync resumes where it stopped.
    const after = (
      await conversa.server.storage.db.selectFrom('mail_folders').select('id').where('account_id', '=', id).execute()
    )
      .map((f) => f.id)
      .sort();
    expect(after).toEqual(folderIds);
  });

  it('shows error with the next retry time while the server is unreachable, and recovers by itself', async () => {
    const creds = await dovecot.addUser();
    const proxy = await startTcpProxy({ host: dovecot.host, port: dovecot.imapPort });
    try {
      const res = await conversa.api(
        'POST',
        '/api/email-accounts',
        passwordBody(creds, { imap: { host: '127.0.0.1', port: proxy.port, secure: false } }),
      );
      expect(res.status).toBe(201);
      const id = res.body.id;
      await waitForStatus(id, 'active');
      await proxy.cut();
      const failing = await waitForStatus(id, 'error');
      expect(failing.statusDetail).toBeTruthy();
      expect(Date.parse(failing.nextRetryAt)).toBeGreaterThan(Date.now() - 5_000);
      await proxy.restore();
      const back = await waitForStatus(id, 'active');
      expect(back.statusDetail).toBeNull();
      expect(back.nextRetryAt).toBeNull();
      // The health view still shows what went wrong, and when.
      expect(back.lastError.message.length).toBeGreaterThan(0);
      expect(Date.parse(back.lastError.at)).toBeGreaterThanOrEqual(Date.parse(failing.updatedAt) - 60_000);
      const events = await conversa.server.storage.db
        .selectFrom('sync_events')
        .select('kind')
        .where('account_id', '=', id)
        .orderBy('created_at')
        .execute();
      expect(events.map((e) => e.kind)).toEqual(expect.arrayContaining(['status:error', 'status:active']));
    } finally {
      await proxy.close();
    }
  });

  it('switches to another mailbox: the new connection replaces the old, cursors start afresh', async () => {
    const first = await dovecot.addUser();
    const second = await dovecot.addUser();
    secrets.push(first.password, second.password);
    const res = await conversa.api('POST', '/api/email-accounts', passwordBody(first));
    const id = res.body.id;
    await waitForStatus(id, 'active');
    const db = conversa.server.storage.db;
    await db
      .updateTable('mail_folders')
      .set({ last_seen_uid: 42, uid_validity: 7 })
      .where('account_id', '=', id)
      .execute();
    const oldFolders = (await db.selectFrom('mail_folders').select('id').where('account_id', '=', id).execute()).map(
      (f) => f.id,
    );
    const switched = await conversa.api('PATCH', `/api/email-accounts/${id}`, {
      email: second.user,
      password: second.password,
    });
    expect(switched.status).toBe(200);
    expect(switched.body.email).toBe(second.user);
    await waitForStatus(id, 'active');
    // The old cursors are gone: the new mailbox's folders are new rows of the new generation.
    const folders = await db
      .selectFrom('mail_folders')
      .select(['id', 'last_seen_uid', 'uid_validity', 'generation'])
      .where('account_id', '=', id)
      .execute();
    expect(folders.length).toBe(3);
    expect(folders.some((f) => oldFolders.includes(f.id))).toBe(false);
    expect(folders.every((f) => f.last_seen_uid !== 42 && f.uid_validity !== 7 && f.generation === 2)).toBe(true);
    await waitFor('the old mailbox to be let go', async () => (await sessionsOf(first.user)) === 0);
  });

  it('refuses one-way sync on the growth plan and accepts it on pro', async () => {
    expect((await conversa.api('PATCH', '/api/org', { plan: 'growth' })).status).toBe(200);
    try {
      const creds = await dovecot.addUser();
      const refused = await conversa.api('POST', '/api/email-accounts', passwordBody(creds, { syncMode: 'one-way' }));
      expect(refused.status).toBe(422);
      expect(refused.body.error.code).toBe('PLAN_REQUIRED');
      expect(
        (await conversa.api('GET', '/api/email-accounts')).body.items.some(
          (a: { email: string }) => a.email === creds.user,
        ),
      ).toBe(false);
      // Two-way is part of every plan.
      const twoWay = await conversa.api('POST', '/api/email-accounts', passwordBody(creds));
      expect(twoWay.status).toBe(201);
      await conversa.api('DELETE', `/api/email-accounts/${twoWay.body.id}`);

      expect((await conversa.api('PATCH', '/api/org', { plan: 'pro' })).status).toBe(200);
      const accepted = await conversa.api('POST', '/api/email-accounts', passwordBody(creds, { syncMode: 'one-way' }));
      expect(accepted.status).toBe(201);
      expect(accepted.body.syncMode).toBe('one-way');
    } finally {
      await conversa.api('PATCH', '/api/org', { plan: 'enterprise' });
    }
  });

  it('deletes an account: configuration gone, connections closed within seconds, BCC address released', async () => {
    const creds = await dovecot.addUser();
    const res = await conversa.api('POST', '/api/email-accounts', passwordBody(creds));
    const id = res.body.id;
    await waitForStatus(id, 'active');
    expect(await sessionsOf(creds.user)).toBeGreaterThan(0);
    const deleted = await conversa.api('DELETE', `/api/email-accounts/${id}`);
    expect(deleted.status).toBe(204);
    expect((await conversa.api('GET', `/api/email-accounts/${id}`)).status).toBe(404);
    await waitFor('every IMAP session to close', async () => (await sessionsOf(creds.user)) === 0, 5_000);
    const token = res.body.bccAddress.split('@')[0];
    const row = await conversa.server.storage.db
      .selectFrom('email_accounts')
      .select('id')
      .where('bcc_token', '=', token)
      .executeTakeFirst();
    expect(row).toBeUndefined();
  });

  it("keeps one user's mailboxes from another user", async () => {
    const creds = await dovecot.addUser();
    const res = await conversa.api('POST', '/api/email-accounts', passwordBody(creds));
    const other = await conversa.addUser();
    expect((await conversa.api('GET', `/api/email-accounts/${res.body.id}`, undefined, other.token)).status).toBe(404);
    expect(
      (await conversa.api('PATCH', `/api/email-accounts/${res.body.id}`, { password: 'x' }, other.token)).status,
    ).toBe(404);
    expect((await conversa.api('DELETE', `/api/email-accounts/${res.body.id}`, undefined, other.token)).status).toBe(
      404,
    );
    expect((await conversa.api('GET', '/api/email-accounts', undefined, other.token)).body.items).toEqual([]);
    expect((await conversa.api('GET', '/api/email-accounts?all=1', undefined, other.token)).body.items).toEqual([]);
    // The admin who connected it sees everyone's with ?all=1.
    const all = (await conversa.api('GET', '/api/email-accounts?all=1')).body.items.map((a: { id: string }) => a.id);
    expect(all).toContain(res.body.id);
  });

  describe('OAuth2 (a local server standing in for Google)', () => {
    it('connects through the whole round trip, refreshes the token, and turns needs_reconnect on invalid_grant', async () => {
      const creds = await dovecot.addUser();
      oauth.setUser(creds.user);
      oauth.setExpiresIn(60);
      let lastRefreshToken = '';
      // Dovecot 2.3 checks an XOAUTH2 token like a password: make each issued access token the user's password.
      const unsubscribe = oauth.onToken(async (issued) => {
        secrets.push(issued.accessToken, issued.refreshToken);
        lastRefreshToken = issued.refreshToken;
        await dovecot.setPassword(creds.user, issued.accessToken);
      });
      try {
        const start = await oauthStart({ provider: 'gmail' });
        expect(start.status).toBe(200);
        const authorizeUrl = new URL(start.body.authorizeUrl);
        expect(authorizeUrl.searchParams.get('code_challenge_method')).toBe('S256');
        expect(authorizeUrl.searchParams.get('redirect_uri')).toBe(`${conversa.url}/api/email-accounts/oauth/callback`);

        const consent = await fetch(authorizeUrl, { redirect: 'manual' });
        expect(consent.status).toBe(302);
        const callback = new URL(consent.headers.get('location')!);
        expect(callback.searchParams.get('state')).toBe(authorizeUrl.searchParams.get('state'));
        const back = await fetch(callback, { redirect: 'manual', headers: { cookie: start.cookie } });
        expect(back.status).toBe(302);
        const landing = new URL(back.headers.get('location')!);
        expect(landing.searchParams.get('error')).toBeNull();
        const id = landing.searchParams.get('connected')!;
        expect(id).toBeTruthy();

        // A replayed callback is refused: the state is single-use.
        const replay = await fetch(callback, { redirect: 'manual', headers: { cookie: start.cookie } });
        expect(new URL(replay.headers.get('location')!).searchParams.get('error')).toBe('VALIDATION_FAILED');

        const account = await waitForStatus(id, 'active');
        expect(account).toMatchObject({ email: creds.user, provider: 'gmail', authKind: 'oauth2' });

        // Tokens near expiry are refreshed before use (60 s is inside the 5-minute margin).
        const refreshesBefore = oauth.counts.refreshToken;
        expect((await conversa.api('POST', `/api/email-accounts/${id}/sync`)).status).toBe(202);
        await waitFor('a token refresh', async () => oauth.counts.refreshToken > refreshesBefore);
        await waitForStatus(id, 'active');

        // Access revoked at the provider: the next refresh gets invalid_grant.
        expect(oauth.revoke(lastRefreshToken)).toBe(true);
        await conversa.api('POST', `/api/email-accounts/${id}/sync`);
        const revoked = await waitForStatus(id, 'needs_reconnect');
        expect(revoked.statusDetail).toMatch(/sign in again/i);
        const syncRefused = await conversa.api('POST', `/api/email-accounts/${id}/sync`);
        expect(syncRefused.status).toBe(422);
      } finally {
        unsubscribe();
      }
    });

    it('comes back with an error when the user refuses consent, saving nothing', async () => {
      oauth.denyConsent(true);
      try {
        const start = await oauthStart({ provider: 'microsoft365' });
        const consent = await fetch(start.body.authorizeUrl, { redirect: 'manual' });
        const back = await fetch(consent.headers.get('location')!, {
          redirect: 'manual',
          headers: { cookie: start.cookie },
        });
        const landing = new URL(back.headers.get('location')!);
        expect(landing.searchParams.get('error')).toBe('AUTH_FAILED');
        expect(landing.searchParams.get('connected')).toBeNull();
      } finally {
        oauth.denyConsent(false);
      }
    });
  });

  it('keeps every credential out of the database file, the API answers and the logs', async () => {
    const distinctive = `Zq9-${Date.now()}-SecretPass`;
    const creds = await dovecot.addUser({ password: distinctive });
    secrets.push(distinctive);
    const res = await conversa.api('POST', '/api/email-accounts', passwordBody(creds));
    expect(res.status).toBe(201);
    await waitForStatus(res.body.id, 'active');
    const answers = [
      res.text,
      (await conversa.api('GET', '/api/email-accounts')).text,
      (await conversa.api('GET', `/api/email-accounts/${res.body.id}`)).text,
    ];
    const files = fs
      .readdirSync(conversa.dataDir)
      .filter((f) => f.startsWith('conversa.db'))
      .map((f) => fs.readFileSync(path.join(conversa.dataDir, f)));
    expect(files.length).toBeGreaterThan(0);
    const logs = conversa.logs.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      for (const file of files) expect(file.includes(Buffer.from(secret))).toBe(false);
      for (const answer of answers) expect(answer).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
    const row = await conversa.server.storage.db
      .selectFrom('email_accounts')
      .select('credentials_enc')
      .where('id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    expect(row.credentials_enc).toMatch(/^v1\./);
  });
});
