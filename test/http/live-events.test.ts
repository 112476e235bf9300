// The live inbox (GET /api/live) against a real server process, a real Dovecot, and SQLite and PostgreSQL: a mail
// delivered to the mailbox and synced arrives as `message.new`; another user's private mail never reaches a
// colleague's stream; no credentials, no stream; Last-Event-ID resumes; streams per user are limited; a
// deactivated user's stream ends at the next heartbeat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { publishLiveEvent } from '../../src/live/live-events.js';
import { addOrg } from '../support/org-rows.js';

const dovecot = useDovecot();

interface StreamEvent {
  id: string;
  event: string;
  data: { id: string; type: string; data: Record<string, unknown> };
}

/** An SSE stream read with fetch and a reader, as a script would; events are parsed as they come. */
interface Stream {
  status: number;
  events: StreamEvent[];
  /** True once the server ended the stream. */
  ended: () => boolean;
  next(what: string, predicate: (e: StreamEvent) => boolean, timeoutMs?: number): Promise<StreamEvent>;
  close(): void;
}

async function openStream(url: string, headers: Record<string, string>): Promise<Stream> {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/live`, { headers, signal: abort.signal });
  const events: StreamEvent[] = [];
  let ended = false;
  if (res.ok && res.body) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut: number;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const fields = new Map<string, string>();
            for (const line of frame.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
            }
            if (fields.has('data'))
              events.push({
                id: fields.get('id')!,
                event: fields.get('event')!,
                data: JSON.parse(fields.get('data')!),
              });
          }
        }
      } catch {
        // aborted by close()
      }
      ended = true;
    })();
  } else {
    await res.text();
    ended = true;
  }
  return {
    status: res.status,
    events,
    ended: () => ended,
    next: (what, predicate, timeoutMs = 20_000) => waitFor(what, async () => events.find(predicate), timeoutMs, 50),
    close: () => abort.abort(),
  };
}

describe.each(DIALECTS)('the live inbox on %s', (dialect) => {
  let conversa: TestConversa;
  let database: TestDatabase;
  const streams: Stream[] = [];
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const open = async (headers: Record<string, string>) => {
    const stream = await openStream(conversa.url, headers);
    streams.push(stream);
    return stream;
  };
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({}, database, { live: { heartbeatMs: 300, pollMs: 200 } });
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await conversa?.stop();
    await database?.destroy();
  });

  async function connect(creds: Credentials, token: string, visibility: 'shared' | 'private') {
    const res = await conversa.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { visibility }),
      token,
    );
    expect(res.status, res.text).toBe(201);
    const id: string = res.body.id;
    await waitFor(
      `account ${id} to finish its first pass`,
      async () => {
        const account = (await conversa.api('GET', `/api/email-accounts/${id}`, undefined, token)).body;
        if (account.status === 'needs_reconnect' || account.status === 'error')
          throw new Error(`account ${account.status}: ${account.statusDetail}`);
        const folders = await conversa.server.storage.db
          .selectFrom('mail_folders')
          .select('first_sync_done')
          .where('account_id', '=', id)
          .execute();
        return account.status === 'active' && folders.length > 0 && folders.every((f) => f.first_sync_done === 1);
      },
      30_000,
    );
    return id;
  }

  async function orgOf(userId: string): Promise<string> {
    const row = await conversa.server.storage.db
      .selectFrom('users')
      .select('org_id')
      .where('id', '=', userId)
      .executeTakeFirstOrThrow();
    return row.org_id;
  }

  it('refuses a stream without credentials or with a wrong token', async () => {
    const none = await open({});
    expect(none.status).toBe(401);
    const wrong = await open(bearer('not-a-token'));
    expect(wrong.status).toBe(401);
    const res = await fetch(`${conversa.url}/api/live`, { headers: { cookie: 'conversa_session=forged' } });
    expect(res.status).toBe(401);
    await res.text();
  });

  it("delivers message.new for mail delivered and synced, and never another user's private mail", async () => {
    const owner = await conversa.addUser();
    const colleague = await conversa.addUser();
    const creds = await dovecot.addUser();
    const partner = `partner-${Date.now()}@client.test`;
    expect((await conversa.api('POST', '/api/contacts', { emails: [partner] })).status).toBe(201);
    await connect(creds, owner.token, 'private');
    const ownerStream = await open(bearer(owner.token));
    const colleagueStream = await open(bearer(colleague.token));
    expect(ownerStream.status).toBe(200);
    expect(colleagueStream.status).toBe(200);

    await dovecot.appendAsDelivered(
      creds.user,
      makeMessage({ from: partner, to: [creds.user], subject: 'Live private mail' }),
    );
    const arrived = await ownerStream.next('message.new on the owner stream', (e) => e.event === 'message.new');
    expect(arrived.data.type).toBe('message.new');
    expect(arrived.id).toBe(arrived.data.id);
    const messageId = arrived.data.data.messageId as string;
    const message = await conversa.api('GET', `/api/messages/${messageId}`, undefined, owner.token);
    expect(message.body.subject).toBe('Live private mail');
    expect(arrived.data.data.threadId).toBe(message.body.threadId);
    // Ids only, never content.
    expect(JSON.stringify(arrived.data)).not.toContain('Live private mail');

    // The colleague's stream: a marker published after the mail's event arrives, and nothing about the mail before it
    // (events go out in order, so this proves the private one was held back, without waiting on a clock).
    const marker = await publishLiveEvent(conversa.server.storage.db, {
      orgId: await orgOf(colleague.id),
      userId: colleague.id,
      type: 'reminder.due',
      data: { reminderId: 'marker' },
    });
    await colleagueStream.next('the marker on the colleague stream', (e) => e.id === marker);
    expect(colleagueStream.events.filter((e) => e.event === 'message.new')).toEqual([]);
    expect(JSON.stringify(colleagueStream.events)).not.toContain(messageId);

    // Reading it is told to the reader's own pages, never to the colleague's.
    expect((await conversa.api('PATCH', `/api/messages/${messageId}`, { read: true }, owner.token)).status).toBe(200);
    const read = await ownerStream.next('message.read', (e) => e.event === 'message.read');
    expect(read.data.data).toEqual({ messageId, read: true });
    const marker2 = await publishLiveEvent(conversa.server.storage.db, {
      orgId: await orgOf(colleague.id),
      userId: colleague.id,
      type: 'reminder.due',
      data: { reminderId: 'marker2' },
    });
    await colleagueStream.next('the second marker', (e) => e.id === marker2);
    expect(colleagueStream.events.filter((e) => e.event === 'message.read')).toEqual([]);
  });

  it("delivers a shared mailbox's new mail to colleagues too", async () => {
    const owner = await conversa.addUser();
    const colleague = await conversa.addUser();
    const creds = await dovecot.addUser();
    const partner = `shared-${Date.now()}@client.test`;
    expect((await conversa.api('POST', '/api/contacts', { emails: [partner] })).status).toBe(201);
    await connect(creds, owner.token, 'shared');
    const colleagueStream = await open(bearer(colleague.token));
    await dovecot.appendAsDelivered(
      creds.user,
      makeMessage({ from: partner, to: [creds.user], subject: 'Shared news' }),
    );
    const arrived = await colleagueStream.next('message.new for a colleague', (e) => e.event === 'message.new');
    const message = await conversa.api(
      'GET',
      `/api/messages/${arrived.data.data.messageId as string}`,
      undefined,
      colleague.token,
    );
    expect(message.body.subject).toBe('Shared news');
  });

  it('resumes after Last-Event-ID, and ignores a resume point that is not an id', async () => {
    const user = await conversa.addUser();
    const orgId = await orgOf(user.id);
    const db = conversa.server.storage.db;
    const ids: string[] = [];
    for (const n of [1, 2, 3])
      ids.push(
        await publishLiveEvent(db, { orgId, userId: user.id, type: 'reminder.due', data: { reminderId: `r${n}` } }),
      );
    const resumed = await open({ ...bearer(user.token), 'last-event-id': ids[0]! });
    await resumed.next('the replayed third event', (e) => e.id === ids[2]);
    const mine = resumed.events.filter((e) => ids.includes(e.id)).map((e) => e.id);
    expect(mine).toEqual([ids[1], ids[2]]);

    // A bogus resume point replays nothing (and breaks nothing): only new events come.
    const bogus = await open({ ...bearer(user.token), 'last-event-id': "' OR 1=1 --" });
    expect(bogus.status).toBe(200);
    const later = await publishLiveEvent(db, {
      orgId,
      userId: user.id,
      type: 'reminder.due',
      data: { reminderId: 'r4' },
    });
    await bogus.next('a new event on the bogus stream', (e) => e.id === later);
    expect(bogus.events.map((e) => e.id)).toEqual([later]);
  });

  it('limits open streams per user (429), and frees a slot when one closes', async () => {
    const user = await conversa.addUser();
    const mine: Stream[] = [];
    for (let i = 0; i < 5; i++) {
      const stream = await open(bearer(user.token));
      expect(stream.status).toBe(200);
      mine.push(stream);
    }
    const refused = await fetch(`${conversa.url}/api/live`, { headers: bearer(user.token) });
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    expect(refused.headers.get('retry-after')).toBeTruthy();
    // Another user is not affected by this one's streams.
    const other = await conversa.addUser();
    expect((await open(bearer(other.token))).status).toBe(200);
    mine[0]!.close();
    await waitFor('a slot to free up', async () => {
      const again = await fetch(`${conversa.url}/api/live`, { headers: bearer(user.token) });
      if (again.status === 200) {
        await again.body?.cancel();
        return true;
      }
      await again.text();
      return false;
    });
  });

  it('works with the session cookie, and ends the stream at the next heartbeat after signing out', async () => {
    const user = await conversa.addUser();
    const login = await fetch(`${conversa.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: conversa.url },
      body: JSON.stringify({ email: user.email, password: 'crm user password' }),
    });
    expect(login.status).toBe(200);
    await login.text();
    const cookie = login.headers
      .getSetCookie()
      .find((c) => c.startsWith('conversa_session='))!
      .split(';')[0]!;
    const stream = await open({ cookie });
    expect(stream.status).toBe(200);
    const marker = await publishLiveEvent(conversa.server.storage.db, {
      orgId: await orgOf(user.id),
      userId: user.id,
      type: 'reminder.due',
      data: { reminderId: 'cookie' },
    });
    await stream.next('an event on the cookie stream', (e) => e.id === marker);
    const logout = await fetch(`${conversa.url}/api/auth/logout`, {
      method: 'POST',
      headers: { cookie, origin: conversa.url },
    });
    expect(logout.status).toBe(204);
    await waitFor('the stream to end', async () => stream.ended(), 10_000);
  });

  it("never passes on another organisation's events", async () => {
    const user = await conversa.addUser();
    const db = conversa.server.storage.db;
    // (An id that sorts after the install's own: users made later still join the install's organisation.)
    const otherOrg = `ffffffff-ffff-7fff-8fff-${Date.now().toString(16).padStart(12, '0').slice(-12)}`;
    await addOrg(db, 'Elsewhere', otherOrg);
    const stream = await open(bearer(user.token));
    // Addressed to everyone of the other organisation, and even naming this user's id: neither comes through.
    const foreign = await publishLiveEvent(db, {
      orgId: otherOrg,
      userId: null,
      type: 'messages.bulk',
      data: { count: 3 },
    });
    const spoofed = await publishLiveEvent(db, {
      orgId: otherOrg,
      userId: user.id,
      type: 'reminder.due',
      data: { reminderId: 'x' },
    });
    const marker = await publishLiveEvent(db, {
      orgId: await orgOf(user.id),
      userId: user.id,
      type: 'reminder.due',
      data: { reminderId: 'marker' },
    });
    await stream.next('the marker', (e) => e.id === marker);
    expect(stream.events.map((e) => e.id)).not.toContain(foreign);
    expect(stream.events.map((e) => e.id)).not.toContain(spoofed);
    // Nor on a resume from before them.
    const resumed = await open({ ...bearer(user.token), 'last-event-id': foreign });
    await resumed.next('the marker again', (e) => e.id === marker);
    expect(resumed.events.map((e) => e.id)).toEqual([marker]);
    await db.deleteFrom('orgs').where('id', '=', otherOrg).execute();
  });

  it('ends the stream of a user who is deactivated, at the next heartbeat', async () => {
    const user = await conversa.addUser();
    const stream = await open(bearer(user.token));
    expect(stream.status).toBe(200);
    const res = await conversa.api('PATCH', `/api/users/${user.id}`, { active: false });
    expect(res.status, res.text).toBe(200);
    await waitFor('the stream to end', async () => stream.ended(), 10_000);
  });
});

// The web node serves pages and has no background work; another process holds the mailbox's lease and syncs it.
// What one process writes down (live events, \Seen wishes) must reach the other through the database alone.
describe.each(DIALECTS)('across processes on %s', (dialect) => {
  let database: TestDatabase;
  let web: TestConversa;
  let worker: TestConversa;
  const streams: Stream[] = [];
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    web = await startTestConversa({}, database, { background: false, live: { pollMs: 200 } });
    worker = await startTestConversa({}, database, { leases: { tickMs: 1_000 } });
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await web?.stop();
    await worker?.stop();
    await database?.destroy();
  });

  it('a page on the web node hears of mail the worker synced, and its read reaches the server through the worker', async () => {
    const user = await web.addUser();
    const creds = await dovecot.addUser();
    const partner = `remote-${Date.now()}@client.test`;
    expect((await web.api('POST', '/api/contacts', { emails: [partner] })).status).toBe(201);
    const created = await web.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), user.token);
    expect(created.status, created.text).toBe(201);
    await waitFor(
      'the worker to finish a first pass',
      async () => {
        const account = (await web.api('GET', `/api/email-accounts/${created.body.id}`, undefined, user.token)).body;
        return account.status === 'active';
      },
      30_000,
    );
    const stream = await openStream(web.url, { authorization: `Bearer ${user.token}` });
    streams.push(stream);
    expect(stream.status).toBe(200);
    await dovecot.appendAsDelivered(creds.user, makeMessage({ from: partner, to: [creds.user], subject: 'From afar' }));
    const arrived = await stream.next('message.new on the web node', (e) => e.event === 'message.new', 30_000);
    const messageId = arrived.data.data.messageId as string;

    // Read on the web node: the worker holding the lease writes \Seen (its lease round finds the wish).
    expect((await web.api('PATCH', `/api/messages/${messageId}`, { read: true }, user.token)).status).toBe(200);
    await waitFor(
      '\\Seen written by the worker',
      async () => {
        const { ImapFlow } = await import('imapflow');
        const client = new ImapFlow(dovecot.imapOptions(creds));
        await client.connect();
        try {
          await client.mailboxOpen('INBOX', { readOnly: true });
          for await (const m of client.fetch('1:*', { flags: true, envelope: true }))
            if (m.envelope?.subject === 'From afar') return m.flags?.has('\\Seen') ?? false;
          return false;
        } finally {
          await client.logout();
        }
      },
      20_000,
      500,
    );
  });
});
