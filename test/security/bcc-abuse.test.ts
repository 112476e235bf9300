// Audit items 8 (the BCC part) and 10: idle sockets cannot lock senders out of the BCC listener (a per-client cap and
// a short idle timeout), a colleague's mail forwarded to the CRM is filed as incoming, every filing names its filer,
// and a BCC address can be replaced (the old one refused at once). Real server, real SMTP clients, both databases.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientKey, startBccListener, type BccListener } from '../../src/mail/dropbox/bcc-listener.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();
const tag = () => randomBytes(4).toString('hex');

interface Delivery {
  ok: boolean;
  code: number | undefined;
  response: string;
}

/** One delivery with nodemailer, optionally from another loopback address (another client, as far as caps go). */
async function deliver(
  port: number,
  raw: string | Buffer,
  from: string,
  to: string,
  localAddress?: string,
): Promise<Delivery> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port,
    secure: false,
    ignoreTLS: true,
    ...(localAddress ? { localAddress } : {}),
  });
  try {
    const info = await transport.sendMail({ envelope: { from, to: [to] }, raw });
    return { ok: true, code: 250, response: info.response };
  } catch (error) {
    const e = error as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: e.responseCode, response: e.response ?? e.message };
  } finally {
    transport.close();
  }
}

/** Opens a socket and resolves with its first line (the greeting, or the refusal). */
function greeting(port: number, localAddress = '127.0.0.1'): Promise<{ socket: net.Socket; line: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.once('error', reject);
    socket.once('data', (d) => resolve({ socket, line: d.toString('latin1').split('\r\n')[0]! }));
  });
}

describe('clientKey', () => {
  it('counts IPv4 (mapped or not) by address and IPv6 by /64', () => {
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    // A socket closed before its peer was known (seen as an uncaught TypeError that would end the process).
    expect(clientKey(undefined)).toBe('unknown');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
  });
});

describe.each(DIALECTS)('BCC abuse on %s', (dialect) => {
  let database: TestDatabase;
  let conversa: TestConversa;
  const listeners: BccListener[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({}, database);
  });
  afterAll(async () => {
    for (const l of listeners.splice(0)) await l.close();
    await conversa?.stop();
    await database?.destroy();
  });

  async function connect(token?: string): Promise<{ id: string; email: string; bcc: string }> {
    const creds = await dovecot.addUser();
    const res = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), token);
    expect(res.status, res.text).toBe(201);
    return { id: res.body.id, email: creds.user, bcc: res.body.bccAddress };
  }

  async function listener(
    overrides: { socketTimeoutMs?: number; maxConnectionsPerIp?: number } = {},
  ): Promise<BccListener> {
    const l = await startBccListener({
      db: conversa.server.storage.db,
      blobs: conversa.server.blobs,
      parse: conversa.server.parse,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      host: '127.0.0.1',
      port: 0,
      domain: 'bcc.localhost',
      closeTimeoutMs: 500,
      ...overrides,
    });
    listeners.push(l);
    return l;
  }

  it('100 idle sockets from one client: the first 20 are greeted, the rest refused (421), a real delivery from another client succeeds, and idle ones are dropped', async () => {
    const l = await listener({ socketTimeoutMs: 4_000 });
    const account = await connect();
    const sockets: net.Socket[] = [];
    try {
      // All at once, as an attacker would (one after another, the idle timeout would already drop the first ones).
      const all = await Promise.all(Array.from({ length: 100 }, () => greeting(l.port)));
      sockets.push(...all.map((g) => g.socket));
      const greetings = all.map((g) => g.line);
      expect(greetings.filter((g) => g.startsWith('220 '))).toHaveLength(20);
      expect(greetings.filter((g) => /^421 .*Too many connections from your address/.test(g))).toHaveLength(80);

      const subject = `Through ${tag()}`;
      const raw = makeMessage({ from: account.email, to: [`client-${tag()}@acme.test`], subject, body: 'Real mail.' });
      const real = await deliver(l.port, raw, account.email, account.bcc, '127.0.0.2');
      expect(real.response).toMatch(/^250 2\.0\.0 Filed/);

      // The idle ones go after the idle timeout; the client's slots are free again.
      const open = sockets.filter((s) => !s.destroyed);
      await waitFor(
        'idle sockets closed by the listener',
        async () => open.every((s) => s.readableEnded || s.destroyed),
        10_000,
      );
      expect((await greeting(l.port)).line).toMatch(/^220 /);
    } finally {
      sockets.forEach((s) => s.destroy());
    }
  });

  it('caps connections per client address: one more from the same address is refused, another address still gets in', async () => {
    const l = await listener({ maxConnectionsPerIp: 3 });
    const sockets: net.Socket[] = [];
    try {
      const lines: string[] = [];
      for (let i = 0; i < 4; i++) {
        const g = await greeting(l.port, '127.0.0.1');
        sockets.push(g.socket);
        lines.push(g.line);
      }
      expect(lines.slice(0, 3).every((line) => line.startsWith('220 '))).toBe(true);
      expect(lines[3]).toMatch(/^421 4\.7\.0 Too many connections from your address \(at most 3 at once\)/);
      const other = await greeting(l.port, '127.0.0.3');
      sockets.push(other.socket);
      expect(other.line).toMatch(/^220 /);
      // A closed connection frees its slot.
      sockets[0]!.destroy();
      await waitFor(
        'slot freed',
        async () =>
          (await greeting(l.port, '127.0.0.1').then((g) => (sockets.push(g.socket), g.line))).startsWith('220 '),
        5_000,
        200,
      );
    } finally {
      sockets.forEach((s) => s.destroy());
    }
  });

  it("files a colleague's mail forwarded by the user as incoming, the user's own forwarded mail as outgoing, and records the filer", async () => {
    const colleague = await conversa.addUser();
    const colleagueAccount = await connect(colleague.token);
    const filer = await conversa.addUser();
    const account = await connect(filer.token);
    const client = `client-${tag()}@acme.test`;

    const forwardOf = (original: string, subject: string) =>
      [
        `From: ${account.email}`,
        `To: ${account.bcc}`,
        `Subject: Fwd: ${subject}`,
        `Message-ID: ${makeMessageId()}`,
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain',
        '',
        'FYI',
        '--b1',
        'Content-Type: message/rfc822',
        'Content-Disposition: attachment; filename="original.eml"',
        '',
        original,
        '--b1--',
        '',
      ].join('\r\n');

    const fromColleague = `Colleague ${tag()}`;
    const original1 = makeMessage({
      from: colleagueAccount.email,
      to: [client],
      subject: fromColleague,
      body: 'Written by a colleague.',
    });
    expect(
      (await deliver(conversa.server.bcc.port, forwardOf(original1, fromColleague), account.email, account.bcc))
        .response,
    ).toMatch(/^250 /);
    const fromSelf = `Own ${tag()}`;
    const original2 = makeMessage({
      from: account.email,
      to: [client],
      subject: fromSelf,
      body: 'Written by the filer.',
    });
    expect(
      (await deliver(conversa.server.bcc.port, forwardOf(original2, fromSelf), account.email, account.bcc)).response,
    ).toMatch(/^250 /);

    const db = conversa.server.storage.db;
    const rows = await db
      .selectFrom('messages')
      .select(['id', 'subject', 'direction', 'from_address'])
      .where('subject', 'in', [fromColleague, fromSelf])
      .execute();
    const bySubject = new Map(rows.map((r) => [r.subject, r]));
    expect(bySubject.get(fromColleague)).toMatchObject({ direction: 'incoming', from_address: colleagueAccount.email });
    expect(bySubject.get(fromSelf)).toMatchObject({ direction: 'outgoing', from_address: account.email });

    const filings = await db
      .selectFrom('bcc_filings')
      .selectAll()
      .where(
        'message_id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    expect(filings).toHaveLength(2);
    for (const f of filings) expect(f).toMatchObject({ user_id: filer.id, account_id: account.id });
    expect(filings.every((f) => Number(f.filed_at) > Date.now() - 60_000)).toBe(true);

    // Delivered again: still one filing per message and user, the first one's time kept.
    expect(
      (await deliver(conversa.server.bcc.port, forwardOf(original1, fromColleague), account.email, account.bcc))
        .response,
    ).toMatch(/^250 /);
    const again = await db
      .selectFrom('bcc_filings')
      .selectAll()
      .where(
        'message_id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    expect(again).toHaveLength(2);
    expect(again.map((f) => Number(f.filed_at)).sort()).toEqual(filings.map((f) => Number(f.filed_at)).sort());
  });

  it('regenerates the BCC address: the old one is refused (550), the new one files; only the owner may do it', async () => {
    const owner = await conversa.addUser();
    const account = await connect(owner.token);
    const raw = (subject: string) =>
      makeMessage({ from: account.email, to: [`client-${tag()}@acme.test`], subject, body: 'x' });
    expect(
      (await deliver(conversa.server.bcc.port, raw(`Before ${tag()}`), account.email, account.bcc)).response,
    ).toMatch(/^250 /);

    // Not the owner: an admin (the first user) and another member get 404, the address stays.
    const admin = await conversa.api('POST', `/api/email-accounts/${account.id}/bcc-address`, {});
    expect(admin.status, admin.text).toBe(404);
    const other = await conversa.addUser();
    expect((await conversa.api('POST', `/api/email-accounts/${account.id}/bcc-address`, {}, other.token)).status).toBe(
      404,
    );
    expect(
      (await conversa.api('GET', `/api/email-accounts/${account.id}`, undefined, owner.token)).body.bccAddress,
    ).toBe(account.bcc);

    const res = await conversa.api('POST', `/api/email-accounts/${account.id}/bcc-address`, {}, owner.token);
    expect(res.status, res.text).toBe(200);
    const fresh: string = res.body.bccAddress;
    expect(fresh).toMatch(/^[0-9a-f]{20}@bcc\.localhost$/);
    expect(fresh).not.toBe(account.bcc);

    const old = await deliver(conversa.server.bcc.port, raw(`Old ${tag()}`), account.email, account.bcc);
    expect(old.ok).toBe(false);
    expect(old.code).toBe(550);
    expect(old.response).toMatch(/5\.1\.1 .*is not a Conversa BCC address/);
    const subject = `New ${tag()}`;
    expect((await deliver(conversa.server.bcc.port, raw(subject), account.email, fresh)).response).toMatch(
      /^250 2\.0\.0 Filed/,
    );
    const stored = await conversa.server.storage.db
      .selectFrom('messages')
      .select('source')
      .where('subject', '=', subject)
      .executeTakeFirst();
    expect(stored?.source).toBe('bcc');
  });
});
