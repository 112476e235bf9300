// Open and click tracking (issue 15), through a real send: Conversa → Dovecot submission → the harness's SMTP sink.
// The external recipients get a tracked copy (pixel, links through PUBLIC_URL) in a transaction of their own, the
// colleagues the plain one; the pixel and the links are then fetched like a mail client, an image proxy or a
// scanner would, and the verdicts, the events route, the counts and the abuse cases (forged tokens, foreign links,
// other users, tracking off, the rate limit) are checked. "Now" is moved by back-dating the send, never by sleeping.
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { judgeEvent, TOO_SOON_MS } from '../../src/tracking/verdict.js';
import { decodeAttribute, trackedHtml } from '../../src/tracking/tracked-html.js';
import { externalRecipients } from '../../src/tracking/external-recipients.js';
import { TRACKING_REQUESTS_PER_IP } from '../../src/http/routes/tracking-routes.js';
import { redactUrl } from '../../src/http/redact-url.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage } from '../support/make-message.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { useDovecot, type Credentials, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const GMAIL_PROXY = 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)';
const APPLE_MPP = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)';
const MIMECAST = 'Mozilla/5.0 (compatible; Mimecast URL Protect)';

describe('verdicts (no server)', () => {
  const sentAt = 1_000_000;
  const base = { type: 'click' as const, sentAt, method: 'GET' };

  it('marks what comes within 30 s of leaving automated, and a later browser click not', () => {
    expect(judgeEvent({ ...base, at: sentAt + 1_500, userAgent: CHROME })).toMatchObject({
      automated: true,
      reason: 'too-soon',
    });
    expect(judgeEvent({ ...base, at: sentAt + TOO_SOON_MS - 1, userAgent: CHROME }).automated).toBe(true);
    expect(judgeEvent({ ...base, at: sentAt + 5 * 60_000, userAgent: CHROME })).toEqual({
      automated: false,
      reason: null,
      agent: 'chrome',
    });
    // Before the outbox even recorded the send nobody can have read it.
    expect(judgeEvent({ ...base, sentAt: null, at: sentAt, userAgent: CHROME }).reason).toBe('too-soon');
  });

  it('knows image proxies, Apple Mail Privacy Protection, scanners, crawlers, HEAD and bursts', () => {
    const later = { ...base, at: sentAt + 10 * 60_000 };
    expect(judgeEvent({ ...later, type: 'open', userAgent: GMAIL_PROXY }).reason).toBe('image-proxy:gmail');
    expect(judgeEvent({ ...later, type: 'open', userAgent: APPLE_MPP }).reason).toBe('apple-mpp');
    expect(judgeEvent({ ...later, type: 'open', userAgent: 'Mozilla/5.0' }).reason).toBe('apple-mpp');
    expect(judgeEvent({ ...later, userAgent: MIMECAST }).reason).toBe('scanner');
    expect(judgeEvent({ ...later, userAgent: 'Proofpoint URL Defense' }).reason).toBe('scanner');
    expect(judgeEvent({ ...later, userAgent: 'Microsoft Office Existence Discovery' }).reason).toBe('scanner');
    expect(judgeEvent({ ...later, userAgent: 'Slackbot-LinkExpanding 1.0' }).reason).toBe('bot-agent');
    expect(judgeEvent({ ...later, userAgent: 'curl/8.5.0' }).reason).toBe('bot-agent');
    expect(judgeEvent({ ...later, userAgent: undefined }).reason).toBe('bot-agent');
    expect(judgeEvent({ ...later, method: 'HEAD', userAgent: CHROME }).reason).toBe('head');
    expect(judgeEvent({ ...later, userAgent: CHROME, otherLinksClickedWithinSecond: 2 }).reason).toBe('burst');
    // A real browser on a Mac is not Apple's relay.
    const safari = `${APPLE_MPP} Version/18.1 Safari/605.1.15`;
    expect(judgeEvent({ ...later, type: 'open', userAgent: safari }).automated).toBe(false);
  });
});

describe('the tracked HTML (no server)', () => {
  it('rewrites http(s) links and adds the pixel, leaving mailto, tel, anchors and relative links alone', () => {
    const html =
      '<html><body><p><a href="https://shop.test/offer?a=1&amp;b=2">offer</a> <a href=\'http://x.test/\'>x</a> ' +
      '<a href="mailto:ana@buyer.test">mail</a> <a href="tel:+551199">call</a> <a href="#top">top</a> ' +
      '<a href="/relative">rel</a> <a href="javascript:alert(1)">js</a></p></body></html>';
    const out = trackedHtml(html, { publicUrl: 'https://crm.test/', token: 'T'.repeat(22), opens: true, clicks: true });
    expect(out.links).toEqual([
      { position: 0, url: 'https://shop.test/offer?a=1&b=2' },
      { position: 1, url: 'http://x.test/' },
    ]);
    expect(out.html).toContain(`href="https://crm.test/t/c/${'T'.repeat(22)}/0"`);
    expect(out.html).toContain(`href="https://crm.test/t/c/${'T'.repeat(22)}/1"`);
    expect(out.html).not.toContain('shop.test');
    for (const kept of ['mailto:ana@buyer.test', 'tel:+551199', '#top', '/relative', 'javascript:alert(1)'])
      expect(out.html).toContain(`href="${kept}"`);
    expect(out.html).toMatch(
      new RegExp(`<img src="https://crm\\.test/t/o/${'T'.repeat(22)}\\.gif" alt="" width="1" height="1"[^>]*/></body>`),
    );
    // Opens only: no link is touched.
    const opensOnly = trackedHtml(html, { publicUrl: 'https://crm.test', token: 't', opens: true, clicks: false });
    expect(opensOnly.links).toEqual([]);
    expect(opensOnly.html).toContain('https://shop.test/offer?a=1&amp;b=2');
    expect(decodeAttribute('a&amp;b&#38;c&#x26;d')).toBe('a&b&c&d');
  });

  it('keeps tracking tokens out of request logs', () => {
    expect(redactUrl('/t/o/AbC_-123456789012345678.gif')).toBe('/t/o/[redacted].gif');
    expect(redactUrl('/t/c/AbC_-123456789012345678/3?x=1')).toBe('/t/c/[redacted]/3?x=1');
  });

  it('tells colleagues from external recipients', () => {
    const org = new Set(['boss@partner.test', 'box@gmail.com']);
    expect(
      externalRecipients(['Client@Buyer.test', 'boss@partner.test', 'mate@acme.test', 'client@buyer.test'], {
        organisationAddresses: org,
        senderAddress: 'me@acme.test',
      }),
    ).toEqual(['client@buyer.test']);
    // A public webmail domain makes nobody a colleague.
    expect(
      externalRecipients(['friend@gmail.com', 'box@gmail.com'], {
        organisationAddresses: org,
        senderAddress: 'me@gmail.com',
      }),
    ).toEqual(['friend@gmail.com']);
  });
});

// ---------------------------------------------------------------------------------------------------------

/** An SMTP server that defers (451) the first DATA of a transaction to a "deferred…" recipient, then accepts. */
async function startDeferringSmtp(login: { user: string; pass: string }) {
  const received: Array<{ rcptTo: string[]; raw: Buffer }> = [];
  const deferredOnce = new Set<string>();
  const server = new SMTPServer({
    disableReverseLookup: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 500,
    onAuth(auth, _session, callback) {
      if (auth.username === login.user && auth.password === login.pass) return callback(null, { user: auth.username });
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const rcptTo = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const deferred = rcptTo.find((a) => a.startsWith('deferred'));
        if (deferred && !deferredOnce.has(deferred)) {
          deferredOnce.add(deferred);
          return callback(Object.assign(new Error('4.3.0 Try again later'), { responseCode: 451 }));
        }
        received.push({ rcptTo, raw: Buffer.concat(chunks) });
        callback(null, 'Queued');
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.server.address();
      if (address === null || typeof address === 'string') reject(new Error('no address'));
      else resolve(address.port);
    });
  });
  server.on('error', () => undefined);
  return { port, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function unique(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

function headerBlock(raw: Buffer): string {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

function isCopyOf(m: SinkMessage, messageId: string): boolean {
  const escaped = messageId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^Message-ID:\\s*<${escaped}>\\s*$`, 'im').test(headerBlock(m.raw));
}

async function copiesOf(messageId: string, count: number): Promise<SinkMessage[]> {
  return waitFor(`${count} transaction(s) of ${messageId} at the sink`, async () => {
    const found = (await dovecot.sinkMessages()).filter((m) => isCopyOf(m, messageId));
    return found.length >= count ? found : undefined;
  });
}

describe.each(DIALECTS)('tracking on %s', (dialect) => {
  let c: SendConversa;
  let database: TestDatabase;
  let creds: Credentials;
  let accountId: string;
  const external = `${unique('client')}@buyer.test`;
  const hidden = `${unique('hidden')}@boss.test`;
  let colleague: string;
  let contactId: string;
  let sent: any;
  let token: string;

  const get = (route: string, userAgent?: string, method = 'GET') =>
    fetch(`${c.url}${route}`, {
      method,
      redirect: 'manual',
      headers: userAgent ? { 'user-agent': userAgent } : {},
    });
  const events = async (id: string) => {
    const res = await c.api('GET', `/api/messages/${id}/events`);
    expect(res.status, res.text).toBe(200);
    return res.body.items as Array<{ type: string; automated: boolean; url?: string; reason?: string }>;
  };
  /** Back-dates the send, as if it left `ms` ago. */
  const sentAgo = (ms: number) =>
    c.storage.db
      .updateTable('tracked_messages')
      .set({ sent_at: Date.now() - ms })
      .where('message_id', '=', sent.id)
      .execute();

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startSendConversa({ database });
    creds = await dovecot.addUser();
    const res = await c.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { visibility: 'private' }),
    );
    expect(res.status, res.text).toBe(201);
    accountId = res.body.id;
    await waitFor(
      'the account to finish its first pass',
      async () => (await c.api('GET', `/api/email-accounts/${accountId}`)).body.status === 'active',
      30_000,
    );
    // On the sender's own domain (not a public webmail one): a colleague.
    colleague = `${unique('mate')}@${creds.user.split('@')[1]}`;
    const contact = await c.api('POST', '/api/contacts', { emails: [external] });
    expect(contact.status, contact.text).toBe(201);
    contactId = contact.body.id;
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
    await database?.destroy();
  });

  it('is off by default, and a message asking for it is refused while it is off', async () => {
    const settings = await c.api('GET', '/api/me/settings');
    expect(settings.body.trackingEnabled).toBe(false);
    const refused = await c.api('POST', '/api/messages', {
      accountId,
      to: [external],
      subject: 'tracked?',
      html: '<p>Hi</p>',
      track: { opens: true },
    });
    expect(refused.status, refused.text).toBe(422);
    expect(refused.body.error.code).toBe('TRACKING_OFF');
    expect(await c.storage.db.selectFrom('tracked_messages').selectAll().execute()).toEqual([]);
  });

  it('sends the tracked copy to external recipients and the plain one to colleagues, in two transactions', async () => {
    const on = await c.api('PATCH', '/api/me/settings', { trackingEnabled: true });
    expect(on.status, on.text).toBe(200);
    expect(on.body.trackingEnabled).toBe(true);
    const res = await c.api('POST', '/api/messages', {
      accountId,
      to: [external],
      cc: [colleague],
      bcc: [hidden],
      subject: unique('Offer'),
      text: 'The offer: https://shop.test/offer?a=1&b=2',
      html: '<p>See <a href="https://shop.test/offer?a=1&amp;b=2">the offer</a> and <a href="https://shop.test/terms">terms</a> or <a href="mailto:sales@shop.test">write</a>.</p>',
      track: { opens: true, clicks: true },
    });
    expect(res.status, res.text).toBe(201);
    sent = res.body;

    const copies = await copiesOf(sent.messageId, 2);
    expect(copies).toHaveLength(2);
    const tracked = copies.find((m) => m.rcptTo.map((a) => a.toLowerCase()).includes(external))!;
    const plain = copies.find((m) => m !== tracked)!;
    expect(tracked.rcptTo.map((a) => a.toLowerCase()).sort()).toEqual([external, hidden].sort());
    expect(plain.rcptTo.map((a) => a.toLowerCase())).toEqual([colleague]);

    const row = await c.storage.db
      .selectFrom('tracked_messages')
      .selectAll()
      .where('message_id', '=', sent.id)
      .executeTakeFirstOrThrow();
    token = row.token;
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(row.sent_at).not.toBeNull();

    const trackedParsed = await parseMessage(tracked.raw);
    expect(trackedParsed.messageId).toBe(sent.messageId);
    expect(trackedParsed.html).toContain(`${c.url}/t/o/${token}.gif`);
    expect(trackedParsed.html).toContain(`${c.url}/t/c/${token}/0`);
    expect(trackedParsed.html).toContain(`${c.url}/t/c/${token}/1`);
    expect(trackedParsed.html).toContain('mailto:sales@shop.test');
    expect(trackedParsed.html).not.toContain('https://shop.test/');
    // The text alternative keeps the real URL.
    expect(trackedParsed.text).toContain('https://shop.test/offer?a=1&b=2');

    const plainParsed = await parseMessage(plain.raw);
    expect(plainParsed.messageId).toBe(sent.messageId);
    expect(plainParsed.html).toContain('https://shop.test/offer?a=1&amp;b=2');
    expect(plainParsed.html).not.toContain('/t/');
    expect(plain.raw.toString('latin1')).not.toContain(token);

    // The CRM's copy is the plain one.
    const stored = await c.api('GET', `/api/messages/${sent.id}`);
    expect(stored.body.html).not.toContain(token);
    expect(stored.body.tracking).toEqual({ opens: 0, clicks: 0, replies: 0, automatedOpens: 0, automatedClicks: 0 });
  });

  it('writes the text part of an HTML-only tracked copy from the original links, never the redirects', async () => {
    const res = await c.api('POST', '/api/messages', {
      accountId,
      to: [external],
      subject: unique('HTML only'),
      html: '<p>Read <a href="https://shop.test/guide">the guide</a>.</p>',
      track: { opens: true, clicks: true },
    });
    expect(res.status, res.text).toBe(201);
    const [copy] = await copiesOf(res.body.messageId, 1);
    const parsed = await parseMessage(copy!.raw);
    expect(parsed.html).toContain('/t/c/');
    expect(parsed.text).toContain('https://shop.test/guide');
    expect(parsed.text).not.toContain('/t/');
  });

  it('counts a click within 2 s of sending as automated, and redirects to the URL that was in the message', async () => {
    await sentAgo(1_000);
    const res = await get(`/t/c/${token}/0`, CHROME);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://shop.test/offer?a=1&b=2');
    const items = await events(sent.id);
    expect(items).toEqual([
      expect.objectContaining({
        type: 'click',
        automated: true,
        reason: 'too-soon',
        url: 'https://shop.test/offer?a=1&b=2',
      }),
    ]);
  });

  it('records the pixel and clicks with their verdicts once the message has been out a while', async () => {
    await sentAgo(10 * 60_000);
    const trackedPixel = `/t/o/${token}.gif`;
    const proxied = await get(trackedPixel, GMAIL_PROXY);
    expect(proxied.status).toBe(200);
    expect(proxied.headers.get('content-type')).toBe('image/gif');
    expect(proxied.headers.get('cache-control')).toContain('no-store');
    const gif = Buffer.from(await proxied.arrayBuffer());
    expect(gif.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    expect((await get(trackedPixel, CHROME)).status).toBe(200);

    const scanned = await get(`/t/c/${token}/1`, MIMECAST);
    expect(scanned.status).toBe(302);
    expect(scanned.headers.get('location')).toBe('https://shop.test/terms');
    const viaProxy = await get(`/t/c/${token}/1`, GMAIL_PROXY);
    expect(viaProxy.status).toBe(302);
    // A person, later: not automated. (Out of the burst window of the first click on the other link: a second.)
    await new Promise((r) => setTimeout(r, 1_100));
    const person = await get(`/t/c/${token}/1`, CHROME);
    expect(person.status).toBe(302);

    const items = await events(sent.id);
    const opens = items.filter((e) => e.type === 'open');
    const clicks = items.filter((e) => e.type === 'click');
    expect(opens.map((e) => [e.automated, e.reason])).toEqual([
      [true, 'image-proxy:gmail'],
      [false, undefined],
    ]);
    expect(clicks.map((e) => [e.automated, e.reason, e.url])).toEqual([
      [true, 'too-soon', 'https://shop.test/offer?a=1&b=2'],
      [true, 'scanner', 'https://shop.test/terms'],
      [true, 'image-proxy:gmail', 'https://shop.test/terms'],
      [false, undefined, 'https://shop.test/terms'],
    ]);
    // No IP is stored, only a coarse agent family.
    const stored = await c.storage.db.selectFrom('tracking_events').selectAll().execute();
    expect(new Set(stored.map((e) => e.agent))).toEqual(new Set(['chrome', 'gmail-proxy', 'scanner']));
    expect(JSON.stringify(stored)).not.toContain('127.0.0.1');

    const counts = { opens: 1, clicks: 1, replies: 0, automatedOpens: 1, automatedClicks: 3 };
    expect((await c.api('GET', `/api/messages/${sent.id}`)).body.tracking).toEqual(counts);
    const timeline = await c.api('GET', `/api/contacts/${contactId}/messages`);
    expect(timeline.status, timeline.text).toBe(200);
    expect(timeline.body.items.find((m: any) => m.id === sent.id).tracking).toEqual(counts);
    const thread = await c.api('GET', `/api/threads/${sent.threadId}`);
    expect(thread.body.messages.find((m: any) => m.id === sent.id).tracking).toEqual(counts);
  });

  it('refuses links that were not in the message and forged tokens: 404, no Location, nothing recorded', async () => {
    const before = (await events(sent.id)).length;
    for (const route of [
      `/t/c/${token}/99`,
      `/t/c/${token}/-1`,
      `/t/c/${token}/https%3A%2F%2Fevil.test`,
      `/t/c/${'A'.repeat(22)}/0`,
      `/t/c/${token}x/0`,
    ]) {
      const res = await get(route, CHROME);
      expect(res.status, route).toBe(404);
      expect(res.headers.get('location'), route).toBeNull();
      expect(await res.text()).not.toContain('shop.test');
    }
    // A forged pixel still gets the GIF (guessing reveals nothing) and records nothing.
    const forged = await get(`/t/o/${'A'.repeat(22)}.gif`, CHROME);
    expect(forged.status).toBe(200);
    expect(forged.headers.get('content-type')).toBe('image/gif');
    expect((await events(sent.id)).length).toBe(before);
  });

  it('a reply synced from the mailbox shows as a reply event and in the counts', async () => {
    const reply = makeMessage({
      from: external,
      to: [creds.user],
      subject: `Re: ${sent.subject}`,
      inReplyTo: `<${sent.messageId}>`,
      references: [`<${sent.messageId}>`],
      date: new Date(Date.now() + 1_000),
    });
    await dovecot.appendAsDelivered(creds.user, reply);
    await c.api('POST', `/api/email-accounts/${accountId}/sync`);
    const items = await waitFor(
      'the reply among the events',
      async () => {
        const found = await events(sent.id);
        return found.some((e) => e.type === 'reply') ? found : undefined;
      },
      30_000,
    );
    expect(items.filter((e) => e.type === 'reply')).toEqual([
      expect.objectContaining({ type: 'reply', automated: false }),
    ]);
    expect((await c.api('GET', `/api/messages/${sent.id}`)).body.tracking.replies).toBe(1);
  });

  it('tracks nobody when every recipient is a colleague, and nothing when the message does not ask', async () => {
    const internalOnly = await c.api('POST', '/api/messages', {
      accountId,
      to: [colleague],
      subject: unique('internal'),
      html: '<p><a href="https://shop.test/x">x</a></p>',
      track: { opens: true, clicks: true },
    });
    expect(internalOnly.status, internalOnly.text).toBe(201);
    const [onlyCopy] = await copiesOf(internalOnly.body.messageId, 1);
    expect(onlyCopy!.raw.toString('latin1')).not.toContain('/t/');
    const untracked = await c.api('POST', '/api/messages', {
      accountId,
      to: [external],
      subject: unique('untracked'),
      html: '<p><a href="https://shop.test/y">y</a></p>',
    });
    expect(untracked.status, untracked.text).toBe(201);
    const [copy] = await copiesOf(untracked.body.messageId, 1);
    expect(copy!.raw.toString('latin1')).not.toContain('/t/');
    expect(copy!.rcptTo.map((a) => a.toLowerCase())).toEqual([external]);
    const rows = await c.storage.db
      .selectFrom('tracked_messages')
      .select('message_id')
      .where('message_id', 'in', [internalOnly.body.id, untracked.body.id])
      .execute();
    expect(rows).toEqual([]);
    expect((await c.api('GET', `/api/messages/${untracked.body.id}`)).body.tracking).toBeUndefined();
  });

  it('does not send the tracked copy again when the plain one is deferred and retried', async () => {
    const login = { user: 'relay-user', pass: 'relay password 1' };
    const smtp = await startDeferringSmtp(login);
    try {
      const other = await dovecot.addUser();
      const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, other));
      expect(res.status, res.text).toBe(201);
      const custom = await c.api('PUT', `/api/email-accounts/${res.body.id}/smtp`, {
        mode: 'custom',
        host: '127.0.0.1',
        port: smtp.port,
        secure: false,
        username: login.user,
        password: login.pass,
      });
      expect(custom.status, custom.text).toBe(200);
      const mate = `deferred-${unique('mate')}@${other.user.split('@')[1]}`;
      const message = await c.api('POST', '/api/messages', {
        accountId: res.body.id,
        to: [external, mate],
        subject: unique('Retried'),
        html: '<p><a href="https://shop.test/z">z</a></p>',
        track: { opens: true, clicks: false },
      });
      expect(message.status, message.text).toBe(201);
      const sentRow = await waitFor('the retried send', async () => {
        const row = await c.storage.db
          .selectFrom('outbox')
          .select(['state', 'attempts'])
          .where('message_id', '=', message.body.id)
          .executeTakeFirst();
        return row?.state === 'sent' ? row : undefined;
      });
      // Deferred once, sent on the second attempt.
      expect(sentRow.attempts).toBe(2);
      const mine = smtp.received.filter((m) => m.raw.toString('latin1').includes(message.body.messageId));
      expect(mine.map((m) => m.rcptTo)).toEqual([[external], [mate]]);
      expect(mine[0]!.raw.toString('latin1')).toContain('/t/o/');
      expect(mine[1]!.raw.toString('latin1')).not.toContain('/t/o/');
      // Opens only: the link is left as it was.
      expect((await parseMessage(mine[0]!.raw)).html).toContain('https://shop.test/z');
    } finally {
      await smtp.close();
    }
  });

  it("another user cannot read a message's events: 404", async () => {
    const other = await c.addUser();
    const res = await c.api('GET', `/api/messages/${sent.id}/events`, undefined, other.token);
    expect(res.status, res.text).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(res.text).not.toContain('shop.test');
  });

  it('rate limits the public tracking URLs per client IP (429 after the budget)', async () => {
    let limited: Response | null = null;
    let answered = 0;
    for (let i = 0; i < 2 * TRACKING_REQUESTS_PER_IP && !limited; i++) {
      const res = await get(`/t/o/${'B'.repeat(22)}.gif`, CHROME);
      if (res.status === 429) limited = res;
      else {
        expect(res.status).toBe(200);
        answered++;
        await res.arrayBuffer();
      }
    }
    expect(limited).not.toBeNull();
    // The earlier tests of this file spent part of the same per-IP budget.
    expect(answered).toBeLessThanOrEqual(TRACKING_REQUESTS_PER_IP);
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await limited!.json()) as any).error.code).toBe('RATE_LIMITED');
    // Links share the budget.
    expect((await get(`/t/c/${token}/0`, CHROME)).status).toBe(429);
  });
});
