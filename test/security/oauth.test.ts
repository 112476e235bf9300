// Audit item 3: an OAuth sign-in cannot be hijacked. The callback completes only in the browser that started it
// (a nonce cookie), once; the token goes only to the provider's servers (here the operator's GOOGLE_IMAP_URL /
// GOOGLE_SMTP_URL pointing at the real Dovecot), never to one a request names; the address is the one the
// provider vouches for. The local OAuth2 server stands in for Google. On SQLite and PostgreSQL.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOAuth2Server, type OAuth2TestServer } from '../servers/oauth2-server.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

/** A listener standing for the attacker's "IMAP server": it records every connection and every byte. */
async function startTrap(): Promise<{ port: number; connections: number; received: string; close(): Promise<void> }> {
  const trap = { port: 0, connections: 0, received: '', close: async (): Promise<void> => undefined };
  const server: Server = createServer((socket) => {
    trap.connections++;
    socket.on('data', (chunk) => (trap.received += chunk.toString('latin1')));
    socket.write('* OK trap ready\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  trap.port = (server.address() as { port: number }).port;
  trap.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return trap;
}

describe.each(DIALECTS)('OAuth sign-in on %s', (dialect) => {
  let database: TestDatabase;
  let oauth: OAuth2TestServer;
  let conversa: TestConversa;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    oauth = await startOAuth2Server();
    conversa = await startTestConversa(
      {
        ...oauth.env(),
        // The operator's word: Google's mail servers are, on this install, the local Dovecot.
        GOOGLE_IMAP_URL: `imap://${dovecot.host}:${dovecot.imapPort}`,
        GOOGLE_SMTP_URL: `smtp://${dovecot.host}:${dovecot.submissionPort}`,
      },
      database,
    );
  }, 60_000);
  afterAll(async () => {
    await conversa?.stop();
    await oauth?.stop();
    await database?.destroy();
  });

  /** A Dovecot user whose password becomes each access token the fake Google issues (Dovecot 2.3 checks XOAUTH2 so). */
  async function googleUser(): Promise<{ user: string; tokens: string[]; stop(): void }> {
    const creds = await dovecot.addUser();
    oauth.setUser(creds.user);
    const tokens: string[] = [];
    const stop = oauth.onToken(async (issued) => {
      tokens.push(issued.accessToken);
      await dovecot.setPassword(creds.user, issued.accessToken);
    });
    return { user: creds.user, tokens, stop };
  }

  /** POST oauth/start as the API client does; returns the browser's nonce cookie with the authorize URL. */
  async function start(body: Record<string, unknown>, token?: string) {
    const res = await fetch(`${conversa.url}/api/email-accounts/oauth/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token ?? conversa.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    const setCookie = res.headers.get('set-cookie') ?? '';
    const cookie = /conversa_oauth=[^;]+/.exec(setCookie)?.[0];
    return { status: res.status, body: text ? JSON.parse(text) : undefined, cookie, setCookie };
  }

  /** The provider consents and redirects; the browser (with `cookie`, or none) follows to our callback. */
  async function finish(
    authorizeUrl: string,
    cookie: string | undefined,
  ): Promise<{ landing: URL; callback: URL; setCookie: string }> {
    const consent = await fetch(authorizeUrl, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const callback = new URL(consent.headers.get('location')!);
    const back = await fetch(callback, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    expect(back.status).toBe(302);
    return {
      landing: new URL(back.headers.get('location')!),
      callback,
      setCookie: back.headers.get('set-cookie') ?? '',
    };
  }

  const accountsOf = async (userId: string) =>
    conversa.server.storage.db
      .selectFrom('email_accounts')
      .select(['id', 'email', 'imap_host', 'address_verified'])
      .where('user_id', '=', userId)
      .execute();

  it('connects in the browser that started it, under the address Google vouches for, verified; a replay fails', async () => {
    const g = await googleUser();
    try {
      const started = await start({ provider: 'gmail' });
      expect(started.status).toBe(200);
      expect(started.setCookie).toMatch(/HttpOnly/i);
      expect(started.setCookie).toMatch(/SameSite=Lax/i);
      expect(started.setCookie).toMatch(/Path=\/api\/email-accounts\/oauth/);
      const { landing, callback, setCookie } = await finish(started.body.authorizeUrl, started.cookie);
      expect(landing.searchParams.get('error')).toBeNull();
      const id = landing.searchParams.get('connected')!;
      const account = (await conversa.api('GET', `/api/email-accounts/${id}`)).body;
      expect(account).toMatchObject({ email: g.user, provider: 'gmail', authKind: 'oauth2', addressVerified: true });
      expect(account.imap).toEqual({ host: dovecot.host, port: dovecot.imapPort, secure: false });
      // The nonce is spent with the callback.
      expect(setCookie).toMatch(/conversa_oauth=;/);
      // Replaying the same callback (same browser even) fails: the state was single use.
      const replay = await fetch(callback, { redirect: 'manual', headers: { cookie: started.cookie! } });
      const replayed = new URL(replay.headers.get('location')!);
      expect(replayed.searchParams.get('error')).toBe('VALIDATION_FAILED');
      expect(replayed.searchParams.get('connected')).toBeNull();
      // The failure page carries a known code only, no text a link could forge.
      expect([...replayed.searchParams.keys()]).toEqual(['error']);
    } finally {
      g.stop();
    }
  }, 60_000);

  it("saves nothing when the callback is opened in another browser (no cookie, or another user's)", async () => {
    const g = await googleUser();
    try {
      const before = oauth.counts.authorizationCode;
      // The attacker starts; the victim's browser (no nonce cookie of this flow) opens the consent link.
      const attacker = await conversa.addUser();
      const started = await start({ provider: 'gmail' }, attacker.token);
      const { landing } = await finish(started.body.authorizeUrl, undefined);
      expect(landing.searchParams.get('error')).toBe('CSRF_REFUSED');
      expect(landing.searchParams.get('connected')).toBeNull();
      expect(await accountsOf(attacker.id)).toEqual([]);
      // The code was never redeemed: no token was even asked for.
      expect(oauth.counts.authorizationCode).toBe(before);

      // Another user's own nonce cookie (from a flow of theirs) does not fit this state either.
      const victim = await conversa.addUser();
      const theirs = await start({ provider: 'gmail' }, victim.token);
      const second = await start({ provider: 'gmail' }, attacker.token);
      const crossed = await finish(second.body.authorizeUrl, theirs.cookie);
      expect(crossed.landing.searchParams.get('error')).toBe('CSRF_REFUSED');
      expect(await accountsOf(attacker.id)).toEqual([]);
      expect(await accountsOf(victim.id)).toEqual([]);
      expect(oauth.counts.authorizationCode).toBe(before);
    } finally {
      g.stop();
    }
  }, 60_000);

  it('never lets a request choose where a Google token goes', async () => {
    const trap = await startTrap();
    const g = await googleUser();
    try {
      const hostile = { host: '127.0.0.1', port: trap.port, secure: false };
      // Naming servers at the start is refused outright.
      for (const body of [
        { provider: 'gmail', imap: hostile },
        { provider: 'gmail', smtp: hostile },
        { provider: 'gmail', email: 'ceo@company.test' },
      ]) {
        const refused = await start(body);
        expect(refused.status).toBe(400);
        expect(refused.body.error.code).toBe('VALIDATION_FAILED');
        expect(refused.cookie).toBeUndefined();
      }
      // A connected Google account cannot be pointed elsewhere afterwards either.
      const started = await start({ provider: 'gmail' });
      const { landing } = await finish(started.body.authorizeUrl, started.cookie);
      const id = landing.searchParams.get('connected')!;
      expect(id).toBeTruthy();
      // The mailbox's own sync must be connected before the row is tampered with below: a runner that starts later
      // (a lease round on PostgreSQL) would read the tampered row, which is not what this test is about.
      await waitFor('the new account syncing', async () => {
        const account = await conversa.api('GET', `/api/email-accounts/${id}`);
        return account.body.status === 'active' ? true : undefined;
      });
      for (const patch of [
        { imap: hostile },
        { smtp: hostile },
        { email: 'ceo@company.test' },
        { provider: 'other', imap: hostile },
      ]) {
        const res = await conversa.api('PATCH', `/api/email-accounts/${id}`, patch);
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('VALIDATION_FAILED');
      }
      // Reconnecting goes to the provider's servers whatever the stored row said.
      await conversa.server.storage.db
        .updateTable('email_accounts')
        .set({ imap_host: '127.0.0.1', imap_port: trap.port })
        .where('id', '=', id)
        .execute();
      const again = await start({ provider: 'gmail', accountId: id });
      const reconnected = await finish(again.body.authorizeUrl, again.cookie);
      expect(reconnected.landing.searchParams.get('connected')).toBe(id);
      expect((await conversa.api('GET', `/api/email-accounts/${id}`)).body.imap.port).toBe(dovecot.imapPort);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(trap.connections).toBe(0);
      for (const token of g.tokens) expect(trap.received).not.toContain(token);
    } finally {
      g.stop();
      await trap.close();
    }
  }, 60_000);

  it('takes the address from the provider: an unverified one is refused, a reconnect as another mailbox too', async () => {
    const g = await googleUser();
    try {
      // Google says the address is not verified: nothing is saved.
      oauth.setIdTokenClaims({ email_verified: false });
      const unverified = await start({ provider: 'gmail' });
      const refused = await finish(unverified.body.authorizeUrl, unverified.cookie);
      expect(refused.landing.searchParams.get('error')).toBe('AUTH_FAILED');
      oauth.setIdTokenClaims({});

      const started = await start({ provider: 'gmail' });
      const id = (await finish(started.body.authorizeUrl, started.cookie)).landing.searchParams.get('connected')!;
      expect((await conversa.api('GET', `/api/email-accounts/${id}`)).body.email).toBe(g.user);

      // Reconnecting this account while signed in to another Google mailbox is refused, not replaced.
      const other = await googleUser();
      try {
        const again = await start({ provider: 'gmail', accountId: id });
        // The fake takes login_hint as the user who signs in; the other mailbox's user signs in instead.
        const url = new URL(again.body.authorizeUrl);
        url.searchParams.delete('login_hint');
        const mismatch = await finish(url.toString(), again.cookie);
        expect(mismatch.landing.searchParams.get('error')).toBe('AUTH_FAILED');
        expect((await conversa.api('GET', `/api/email-accounts/${id}`)).body.email).toBe(g.user);
      } finally {
        other.stop();
      }
    } finally {
      g.stop();
    }
  }, 60_000);
});
