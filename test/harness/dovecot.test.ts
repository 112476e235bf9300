// Proves the Dovecot harness against the real server: logins, special-use folders, bulk-filled
// mailboxes with INTERNALDATE, password changes and kicks, XOAUTH2 tokens, SMTP submission relayed to
// the sink, and IDLE push for a delivered message.

import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import nodemailer from 'nodemailer';
import { afterEach, describe, expect, it } from 'vitest';
import { useDovecot, type Credentials } from '../support/servers.js';

const dovecot = useDovecot();
const clients: ImapFlow[] = [];

/** Connects and logs in; the client is logged out after the test. */
async function login(
  creds: Credentials | { user: string; accessToken: string },
  extra: Partial<ImapFlowOptions> = {},
): Promise<ImapFlow> {
  const auth =
    'accessToken' in creds
      ? { user: creds.user, accessToken: creds.accessToken }
      : { user: creds.user, pass: creds.password };
  const client = new ImapFlow({
    host: dovecot.host,
    port: dovecot.imapPort,
    secure: false,
    logger: false,
    ...extra,
    auth,
  });
  // A refused login also closes the socket; without a listener the 'error' event would be unhandled.
  client.on('error', () => undefined);
  clients.push(client);
  await client.connect();
  return client;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => (c.usable ? c.logout().catch(() => c.close()) : c.close())));
});

function message(i: number, to: string, date: Date): string {
  return [
    `From: Sender ${i} <sender${i}@example.org>`,
    `To: ${to}`,
    `Subject: Message ${i}`,
    `Date: ${date.toUTCString()}`,
    `Message-ID: <m${i}.${randomBytes(4).toString('hex')}@example.org>`,
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Body of message ${i}.`,
    '',
  ].join('\r\n');
}

describe('Dovecot harness', () => {
  it('lets a fresh user log in and shows the special-use folders', async () => {
    const creds = await dovecot.addUser();
    const client = await login(creds);
    const folders = await client.list();
    const byPath = new Map(folders.map((f) => [f.path, f]));
    for (const name of ['Sent', 'Drafts', 'Trash', 'Junk', 'Archive']) {
      const folder = byPath.get(name);
      expect(folder, name).toBeDefined();
      // Flagged by the server (SPECIAL-USE), not guessed by imapflow from the name.
      expect(folder?.specialUse).toBe(`\\${name}`);
      expect(folder?.specialUseSource).toBe('extension');
      expect(folder?.subscribed).toBe(true);
    }
    expect(byPath.has('INBOX')).toBe(true);
  });

  it('fills a mailbox with 200 messages in order, with their INTERNALDATE', async () => {
    const creds = await dovecot.addUser();
    const base = Date.UTC(2024, 0, 1, 8, 0, 0);
    // Whole seconds: INTERNALDATE has no sub-second part. One hour apart, in array order.
    const dates = Array.from({ length: 200 }, (_, i) => new Date(base + i * 3_600_000));
    const messages = dates.map((d, i) => message(i, creds.user, d));
    const filled = await dovecot.fillMailbox(creds.user, 'INBOX', messages, { dates });
    expect(filled.messages).toBe(200);

    const client = await login(creds);
    const mailbox = await client.mailboxOpen('INBOX', { readOnly: true });
    expect(mailbox.exists).toBe(200);
    const seen: Array<{
      uid: number;
      subject: string | undefined;
      internalDate: Date | string | undefined;
      size: number | undefined;
    }> = [];
    for await (const m of client.fetch('1:*', { uid: true, envelope: true, internalDate: true, size: true })) {
      seen.push({ uid: m.uid, subject: m.envelope?.subject, internalDate: m.internalDate, size: m.size });
    }
    seen.sort((a, b) => a.uid - b.uid);
    expect(seen.map((m) => m.subject)).toEqual(dates.map((_, i) => `Message ${i}`));
    expect(seen.map((m) => new Date(m.internalDate ?? 0).toISOString())).toEqual(dates.map((d) => d.toISOString()));
    // RFC822.SIZE comes from the W= in the file name: it must match the CRLF message we wrote.
    expect(seen.map((m) => m.size)).toEqual(messages.map((m) => Buffer.byteLength(m)));
  });

  it('fills a new nested folder and a special-use folder with flags', async () => {
    const creds = await dovecot.addUser();
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const nested = await dovecot.fillMailbox(creds.user, 'Clients/Acme', [
      message(1, creds.user, now),
      message(2, creds.user, now),
    ]);
    expect(nested.messages).toBe(2);
    const sent = await dovecot.fillMailbox(creds.user, 'Sent', [Buffer.from(message(3, 'someone@example.org', now))], {
      flags: ['\\Seen'],
    });
    expect(sent.messages).toBe(1);

    const client = await login(creds);
    const status = await client.status('Clients/Acme', { messages: true, unseen: true });
    expect(status).toMatchObject({ messages: 2, unseen: 2 });
    const sentStatus = await client.status('Sent', { messages: true, unseen: true });
    expect(sentStatus).toMatchObject({ messages: 1, unseen: 0 });
  });

  it('refuses a wrong password', async () => {
    const creds = await dovecot.addUser();
    await expect(login({ user: creds.user, password: `${creds.password}x` })).rejects.toMatchObject({
      authenticationFailed: true,
    });
    await expect(login({ user: `nobody-${creds.user}`, password: creds.password })).rejects.toMatchObject({
      authenticationFailed: true,
    });
  });

  it('setPassword makes the old password fail and the new one work; kick ends open sessions', async () => {
    const creds = await dovecot.addUser();
    const open = await login(creds);
    await open.mailboxOpen('INBOX');

    const newPassword = randomBytes(9).toString('base64url');
    await dovecot.setPassword(creds.user, newPassword);
    await expect(login(creds)).rejects.toMatchObject({ authenticationFailed: true });
    const fresh = await login({ user: creds.user, password: newPassword });
    expect(fresh.authenticated).toBeTruthy();

    // A password change alone leaves logged-in sessions alone; a kick ends them.
    expect(open.usable).toBe(true);
    const closed = new Promise<void>((resolve) => open.once('close', () => resolve()));
    expect(await dovecot.kick(creds.user)).toBe(true);
    await closed;
    expect(open.usable).toBe(false);
  });

  it('accepts an XOAUTH2 token set as the password', async () => {
    const creds = await dovecot.addUser();
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    await dovecot.setPassword(creds.user, token);
    const client = await login({ user: creds.user, accessToken: token });
    expect(client.authenticated).toBeTruthy();
    // The login really went through an OAuth SASL mechanism, not a LOGIN fallback.
    const loginLine = new RegExp(`Login: user=<${creds.user.replace(/[.]/g, '\\.')}>, method=(XOAUTH2|OAUTHBEARER)`);
    await expect.poll(async () => readFile(dovecot.info.logPath, 'utf8'), { timeout: 5_000 }).toMatch(loginLine);
    await expect(login({ user: creds.user, accessToken: `${token}x` })).rejects.toMatchObject({
      authenticationFailed: true,
    });
  });

  it('relays an authenticated SMTP submission to the sink', async () => {
    const creds = await dovecot.addUser();
    const rcpt = `rcpt-${randomBytes(4).toString('hex')}@example.org`;
    const subject = `Hello ${randomBytes(4).toString('hex')}`;
    const transport = nodemailer.createTransport(dovecot.smtpOptions(creds));
    try {
      const info = await transport.sendMail({ from: creds.user, to: rcpt, subject, text: 'Hi there.' });
      expect(info.accepted).toEqual([rcpt]);
    } finally {
      transport.close();
    }
    const received = await dovecot.waitForSinkMessage((m) => m.rcptTo.includes(rcpt), 10_000);
    expect(received.mailFrom).toBe(creds.user);
    expect(received.rcptTo).toEqual([rcpt]);
    expect(received.raw.toString('utf8')).toContain(`Subject: ${subject}`);
  });

  it('rejects SMTP AUTH with a bad password with 535', async () => {
    const creds = await dovecot.addUser();
    const transport = nodemailer.createTransport(dovecot.smtpOptions({ user: creds.user, password: 'wrong-password' }));
    try {
      await expect(transport.verify()).rejects.toMatchObject({ responseCode: 535 });
    } finally {
      transport.close();
    }
  });

  it('appendAsDelivered wakes an IDLE client with EXISTS', async () => {
    const creds = await dovecot.addUser();
    await dovecot.fillMailbox(creds.user, 'INBOX', [message(0, creds.user, new Date())]);
    // imapflow enters IDLE by itself once the connection is quiet (after 15 s by default).
    const client = await login(creds, { autoIdleDelay: 100 });
    const mailbox = await client.mailboxOpen('INBOX');
    expect(mailbox.exists).toBe(1);
    // Wait until IDLE is in progress, so the EXISTS below can only have come as an IDLE push
    // (imapflow does not poll when the server supports IDLE).
    await expect.poll(() => client.idling, { timeout: 5_000 }).toBe(true);
    const exists = new Promise<{ count: number; prevCount: number }>((resolve) => client.once('exists', resolve));
    await dovecot.appendAsDelivered(creds.user, message(1, creds.user, new Date()));
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no EXISTS within 5 s')), 5_000).unref(),
    );
    await expect(Promise.race([exists, timeout])).resolves.toMatchObject({ count: 2, prevCount: 1 });
  });
});
