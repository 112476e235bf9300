// The BCC dropbox end to end: a real Conversa server (its database, blob store and parse pool), the listener on a
// loopback port, mail delivered by independent SMTP clients (swaks, nodemailer, a raw socket), results read
// through the HTTP API and the database. Accounts are real Dovecot mailboxes connected through the API.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/config-error.js';
import {
  loadBccTlsConfig,
  startBccListener,
  type BccListener,
  type BccListenerDeps,
} from '../../src/mail/dropbox/bcc-listener.js';
import { createDnsResolver } from '../../src/mail/send/dns-resolver.js';
import { signMessage } from '../../src/mail/send/dkim.js';
import type { BlobStore } from '../../src/storage/blob-store.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { startDnsServer, type DnsServer } from '../servers/dns-server.js';
import { run } from '../servers/process.js';

const dovecot = useDovecot();
const MAX_SIZE = 300_000;

let conversa: TestConversa;
let dns: DnsServer;
let listener: BccListener;
let tmp: string;
let failBlobs = false;
let failDb = false;
const logLines: Array<{ obj: object; msg: string | undefined }> = [];
const extraListeners: BccListener[] = [];

const tag = () => randomBytes(4).toString('hex');

function listenerDeps(overrides: Partial<BccListenerDeps> = {}): BccListenerDeps {
  const real = conversa.server.blobs;
  // The real blob store, with a switch that makes every write fail (a full disk, a dead volume).
  const blobs: BlobStore = {
    put: (content, options) =>
      failBlobs
        ? Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }))
        : real.put(content, options),
    get: (sha, options) => real.get(sha, options),
    has: (sha) => real.has(sha),
    entries: (options) => real.entries(options),
    remove: (sha, options) => real.remove(sha, options),
  };
  const record = (obj: object, msg?: string) => void logLines.push({ obj, msg });
  // The real database, with a switch that makes every transaction fail as a locked SQLite file does.
  const realDb = conversa.server.storage.db;
  const db = new Proxy(realDb, {
    get(target, property) {
      if (property === 'transaction' && failDb) {
        return () => ({
          execute: () =>
            Promise.reject(Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY' })),
        });
      }
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    db,
    blobs,
    parse: conversa.server.parse,
    log: { info: record, warn: record, error: record },
    host: '127.0.0.1',
    port: 0,
    domain: 'bcc.localhost',
    resolver: createDnsResolver({ servers: dns.servers, timeoutMs: 1_000, tries: 1 }),
    maxSize: MAX_SIZE,
    maxConnections: 30,
    closeTimeoutMs: 1_000,
    ...overrides,
  };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnv-bcc-'));
  dns = await startDnsServer();
});

afterAll(async () => {
  await dns?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------
// Helpers.

interface Account {
  id: string;
  email: string;
  bcc: string;
  creds: Credentials;
}

async function connect(options: { user?: string; token?: string } = {}): Promise<Account> {
  const creds = await dovecot.addUser(options.user ? { user: options.user } : {});
  const res = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), options.token);
  expect(res.status, res.text).toBe(201);
  expect(res.body.bccAddress).toMatch(/^[0-9a-f]+@bcc\.localhost$/);
  return { id: res.body.id, email: creds.user, bcc: res.body.bccAddress, creds };
}

async function newContact(email: string, token?: string): Promise<string> {
  const res = await conversa.api('POST', '/api/contacts', { emails: [email] }, token);
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function contactMail(contactId: string, token?: string): Promise<any[]> {
  const res = await conversa.api('GET', `/api/contacts/${contactId}/messages?limit=200`, undefined, token);
  expect(res.status, res.text).toBe(200);
  return res.body.items;
}

async function contactByEmail(email: string, token?: string): Promise<any | undefined> {
  const res = await conversa.api('GET', `/api/contacts?email=${encodeURIComponent(email)}`, undefined, token);
  expect(res.status, res.text).toBe(200);
  return res.body.items[0];
}

/** Blobs stored: files on SQLite, rows of blob_contents on PostgreSQL (issue 18); both counted, whichever it is. */
async function blobFiles(): Promise<number> {
  const dir = path.join(conversa.dataDir, 'blobs');
  const files = fs.existsSync(dir)
    ? (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => fs.statSync(path.join(dir, f)).isFile())
        .length
    : 0;
  const rows = await conversa.server.storage.db
    .selectFrom('blob_contents')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return files + Number(rows.n);
}

/** What "nothing stored" is measured by: messages, contacts, and blobs (files on disk, or rows on PostgreSQL). */
async function stored(): Promise<{ messages: number; contacts: number; blobs: number }> {
  const db = conversa.server.storage.db;
  const m = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const c = await db
    .selectFrom('contacts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { messages: Number(m.n), contacts: Number(c.n), blobs: await blobFiles() };
}

/** swaks against the listener; the whole transcript (server replies are the `<-`/`<~` and `<**` lines). */
async function swaks(args: string[], port = listener.port): Promise<string> {
  const result = await run(
    '/usr/bin/swaks',
    ['--server', '127.0.0.1', '--port', String(port), '--timeout', '20', ...args],
    {
      okCodes: Array.from({ length: 256 }, (_, i) => i),
    },
  );
  return `${result.stdout}\n${result.stderr}`;
}

function rawFile(raw: string | Buffer): string {
  const file = path.join(tmp, `${tag()}.eml`);
  fs.writeFileSync(file, raw);
  return file;
}

interface Delivery {
  ok: boolean;
  code: number | undefined;
  response: string;
}

/** One delivery with nodemailer: the envelope as given, the bytes as given. */
async function deliver(raw: string | Buffer, from: string, to: string[], port = listener.port): Promise<Delivery> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    const info = await transport.sendMail({ envelope: { from, to }, raw });
    return { ok: true, code: 250, response: info.response };
  } catch (error) {
    const e = error as { responseCode?: number; response?: string; message: string };
    return { ok: false, code: e.responseCode, response: e.response ?? e.message };
  } finally {
    transport.close();
  }
}

/** A raw SMTP dialogue: the greeting, then one reply per command (multi-line replies joined). */
async function dialogue(commands: string[], port = listener.port): Promise<string[]> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let buffer = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk) => {
    buffer += chunk.toString('latin1');
    waiters.splice(0).forEach((w) => w());
  });
  const reply = async (): Promise<string> => {
    for (;;) {
      const lines = buffer.split('\r\n');
      const end = lines.findIndex((l) => /^\d{3} /.test(l));
      if (end !== -1) {
        buffer = lines.slice(end + 1).join('\r\n');
        return lines.slice(0, end + 1).join('\n');
      }
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        socket.once('close', () => reject(new Error(`connection closed; got ${JSON.stringify(buffer)}`)));
      });
    }
  };
  try {
    const replies = [await reply()];
    for (const command of commands) {
      socket.write(`${command}\r\n`);
      replies.push(await reply());
    }
    return replies;
  } finally {
    socket.destroy();
  }
}

function forwardWithAttachment(from: string, to: string, original: string, subject: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const composer = nodemailer.createTransport({ streamTransport: true, buffer: true });
    composer.sendMail(
      {
        from,
        to,
        subject,
        text: 'FYI, see the attached message.',
        attachments: [{ filename: 'original.eml', content: original, contentType: 'message/rfc822' }],
      },
      (error, info) => (error ? reject(error) : resolve(info.message as Buffer)),
    );
  });
}

// ---------------------------------------------------------------------------------------------------------

describe.each(DIALECTS)('the BCC listener on %s', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({}, database);
    listener = await startBccListener(listenerDeps());
  });
  afterAll(async () => {
    for (const l of extraListeners.splice(0)) await l.close();
    await listener?.close();
    await conversa?.stop();
    await database?.destroy();
  });

  it('files a mail the user sent with the BCC address in Bcc on the contacts in To and Cc (swaks)', async () => {
    const account = await connect();
    const client = `client-${tag()}@acme.test`;
    const partner = `partner-${tag()}@acme.test`;
    const stranger = `stranger-${tag()}@else.test`;
    const clientId = await newContact(client);
    const partnerId = await newContact(partner);
    const before = await stored();

    const out = await swaks([
      '--from',
      account.email,
      '--to',
      account.bcc,
      '--header',
      `From: Bruno <${account.email}>`,
      '--header',
      `To: Client <${client}>, ${stranger}`,
      '--header',
      `Cc: ${partner}`,
      '--header',
      'Subject: Proposal for ACME',
      '--body',
      'Here is our proposal.',
    ]);
    expect(out).toMatch(/<-\s+220 bcc\.localhost ESMTP Conversa BCC dropbox/);
    expect(out).toMatch(/<-\s+250[- ]SIZE 300000/);
    // The reply to DATA comes once the message is stored: nothing to wait for after it.
    expect(out).toMatch(/<-\s+250 2\.0\.0 Filed the message in Conversa on 2 contacts/);

    const mail = await contactMail(clientId);
    expect(mail).toHaveLength(1);
    expect(mail[0]).toMatchObject({
      subject: 'Proposal for ACME',
      source: 'bcc',
      direction: 'outgoing',
      from: { address: account.email, name: 'Bruno' },
    });
    expect([...mail[0].contactIds].sort()).toEqual([clientId, partnerId].sort());
    expect((await contactMail(partnerId)).map((m) => m.id)).toEqual([mail[0].id]);
    // The BCC address is plumbing, not a participant; the stranger is one, but not a contact (automatic creation is
    // off).
    expect(mail[0].to.map((a: any) => a.address)).toEqual([client, stranger]);
    expect(mail[0].bcc).toEqual([]);
    expect(await contactByEmail(stranger)).toBeUndefined();
    const detail = await conversa.api('GET', `/api/messages/${mail[0].id}`);
    expect(detail.body.text).toContain('Here is our proposal.');
    const after = await stored();
    expect(after.messages).toBe(before.messages + 1);
    expect(after.contacts).toBe(before.contacts);
  });

  it("refuses an unknown BCC address, another domain and a deleted account's address with 550 5.1.1, storing nothing", async () => {
    const account = await connect();
    const client = `client-${tag()}@acme.test`;
    await newContact(client);
    const raw = makeMessage({ from: account.email, to: [client], subject: 'Not for us' });
    const before = await stored();

    const unknown = await swaks([
      '--from',
      account.email,
      '--to',
      `${'ab'.repeat(10)}@bcc.localhost`,
      '--data',
      `@${rawFile(raw)}`,
    ]);
    expect(unknown).toMatch(/<\*\*\s+550 5\.1\.1 <abababababababababab@bcc\.localhost> is not a Conversa BCC address/);
    const elsewhere = await deliver(raw, account.email, [`${account.bcc.split('@')[0]}@other.test`]);
    expect(elsewhere).toMatchObject({ ok: false, code: 550 });
    expect(elsewhere.response).toMatch(/^550 5\.1\.1 /);
    // The domain is case-insensitive; the token is the account's.
    expect((await deliver(raw, account.email, [account.bcc.toUpperCase()])).ok).toBe(true);

    const gone = await connect();
    expect((await conversa.api('DELETE', `/api/email-accounts/${gone.id}`)).status).toBe(204);
    const deleted = await swaks(['--from', gone.email, '--to', gone.bcc, '--header', `To: ${client}`]);
    expect(deleted).toMatch(/<\*\*\s+550 5\.1\.1 /);

    const after = await stored();
    expect(after.messages).toBe(before.messages + 1); // the upper-case delivery only
    expect(after.contacts).toBe(before.contacts);
  });

  it("refuses a spoofed sender: envelope or From header not the account's, or a null sender (550 5.7.1), storing nothing", async () => {
    const account = await connect();
    const client = `client-${tag()}@acme.test`;
    await newContact(client);
    const before = await stored();

    const envelope = await swaks([
      '--from',
      `ceo-${tag()}@evil.test`,
      '--to',
      account.bcc,
      '--header',
      `From: ${account.email}`,
      '--header',
      `To: ${client}`,
    ]);
    expect(envelope).toMatch(/<\*\*\s+550 5\.7\.1 <ceo-[0-9a-f]+@evil\.test> may not file mail with this BCC address/);

    const header = await deliver(
      makeMessage({ from: `CEO <ceo@evil.test>`, to: [client], subject: 'Wire the money' }),
      account.email,
      [account.bcc],
    );
    expect(header).toMatchObject({ ok: false, code: 550 });
    expect(header.response).toMatch(/^550 5\.7\.1 The From header <ceo@evil\.test> is not the address of the mailbox/);

    const swaksHeader = await swaks([
      '--from',
      account.email,
      '--to',
      account.bcc,
      '--header',
      'From: ceo@evil.test',
      '--header',
      `To: ${client}`,
    ]);
    expect(swaksHeader).toMatch(/<\*\*\s+550 5\.7\.1 The From header/);

    const replies = await dialogue(['EHLO client.test', 'MAIL FROM:<>', 'QUIT']);
    expect(replies[2]).toMatch(/^550 5\.7\.1 BCC addresses do not take bounces/);

    const after = await stored();
    expect(after).toEqual(before);
  });

  it('refuses oversized mail with 552: at once for SIZE= above the limit, after the data otherwise, storing nothing', async () => {
    const account = await connect();
    const client = `client-${tag()}@acme.test`;
    await newContact(client);
    const before = await stored();

    const replies = await dialogue([
      'EHLO client.test',
      `MAIL FROM:<${account.email}> SIZE=${MAX_SIZE + 1}`,
      `MAIL FROM:<${account.email}> SIZE=${MAX_SIZE - 1000}`,
      `RCPT TO:<${account.bcc}>`,
      'QUIT',
    ]);
    expect(replies[1]).toMatch(/250[- ]SIZE 300000/);
    expect(replies[1]).not.toMatch(/AUTH|STARTTLS/);
    expect(replies[2]).toMatch(/^552 /);
    expect(replies[3]).toMatch(/^250 /);
    expect(replies[4]).toMatch(/^250 /);

    const big = 'x'.repeat(76) + '\r\n';
    const body = big.repeat(Math.ceil((MAX_SIZE + 50_000) / big.length));
    const swaksOut = await swaks([
      '--from',
      account.email,
      '--to',
      account.bcc,
      '--header',
      `To: ${client}`,
      '--body',
      `@${rawFile(body)}`,
    ]);
    expect(swaksOut).toMatch(/<\*\*\s+552 5\.3\.4 The message is \d+ bytes; the limit is 300000 bytes/);
    const viaNodemailer = await deliver(
      makeMessage({ from: account.email, to: [client], subject: 'Big', body }),
      account.email,
      [account.bcc],
    );
    expect(viaNodemailer).toMatchObject({ ok: false, code: 552 });

    expect(await stored()).toEqual(before);
  });

  it('answers DATA only after storing: a busy database or a failing disk gets 451 and leaves nothing; the retry is filed, once', async () => {
    const account = await connect();
    const client = `client-${tag()}@acme.test`;
    const clientId = await newContact(client);
    const raw = makeMessage({
      from: account.email,
      to: [client],
      subject: `Retry ${tag()}`,
      attachment: { filename: 'a.pdf', contentType: 'application/pdf', content: randomBytes(2000) },
    });
    const before = await stored();

    for (const fail of [(on: boolean) => (failDb = on), (on: boolean) => (failBlobs = on)]) {
      fail(true);
      try {
        const refused = await deliver(raw, account.email, [account.bcc]);
        expect(refused).toMatchObject({ ok: false, code: 451 });
        expect(refused.response).toMatch(/^451 4\.3\.0 Conversa could not store the message just now/);
      } finally {
        fail(false);
      }
    }
    expect(await stored()).toMatchObject({ messages: before.messages, contacts: before.contacts });

    const retried = await deliver(raw, account.email, [account.bcc]);
    expect(retried.ok, retried.response).toBe(true);
    // No waiting: the 250 was sent after the commit.
    const mail = await contactMail(clientId);
    expect(mail).toHaveLength(1);
    expect(mail[0].hasAttachments).toBe(true);
    // The sender's retry after a lost 250 (connection dropped) is the same message: stored once.
    expect((await deliver(raw, account.email, [account.bcc])).ok).toBe(true);
    expect(await contactMail(clientId)).toHaveLength(1);
    expect((await stored()).messages).toBe(before.messages + 1);
  });

  it('files the original of a mail forwarded as an attachment, on its sender, with its own Message-ID', async () => {
    const account = await connect();
    const ana = `ana-${tag()}@cliente.test`;
    const anaId = await newContact(ana);
    const messageId = makeMessageId();
    const original = makeMessage({
      from: `Ana Souza <${ana}>`,
      to: [account.email],
      subject: 'Pedido de desconto',
      messageId,
      date: new Date('2024-03-04T13:15:32Z'),
      body: 'Podem fazer 10%?',
    });
    const forward = await forwardWithAttachment(account.email, account.bcc, original, 'Fwd: Pedido de desconto');

    const result = await deliver(forward, account.email, [account.bcc]);
    expect(result.response).toMatch(/^250 2\.0\.0 Filed the forwarded message in Conversa on 1 contact/);
    const mail = await contactMail(anaId);
    expect(mail).toHaveLength(1);
    expect(mail[0]).toMatchObject({
      messageId: messageId.slice(1, -1),
      subject: 'Pedido de desconto',
      from: { address: ana, name: 'Ana Souza' },
      direction: 'incoming',
      source: 'bcc',
      date: '2024-03-04T13:15:32.000Z',
    });
    expect(mail[0].to.map((a: any) => a.address)).toEqual([account.email]);
    const detail = await conversa.api('GET', `/api/messages/${mail[0].id}`);
    expect(detail.body.text).toContain('Podem fazer 10%?');
    expect(detail.body.text).not.toContain('FYI');
  });

  it('files the original of inline forwards (Gmail in English, Outlook in Portuguese, Apple Mail) on the original sender', async () => {
    const account = await connect();
    const senders = {
      gmail: `ana-${tag()}@cliente.test`,
      outlook: `bia-${tag()}@cliente.test`,
      apple: `caio-${tag()}@cliente.test`,
    };
    const ids = {
      gmail: await newContact(senders.gmail),
      outlook: await newContact(senders.outlook),
      apple: await newContact(senders.apple),
    };
    const header = (subject: string) => [
      `From: Bruno <${account.email}>`,
      `To: ${account.bcc}`,
      `Subject: ${subject}`,
      'Date: Tue, 05 Mar 2024 09:00:00 -0300',
      `Message-ID: ${makeMessageId()}`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
    ];

    const gmail = [
      ...header('Fwd: Renewal'),
      'FYI',
      '',
      '---------- Forwarded message ---------',
      `From: Ana Souza <${senders.gmail}>`,
      'Date: Mon, Mar 4, 2024 at 10:15 AM',
      'Subject: Renewal',
      `To: Bruno <${account.email}>`,
      '',
      '',
      'We would like to renew for two more years.',
      '',
    ].join('\r\n');
    const outlook = [
      ...header('ENC: Orçamento'),
      'Segue.',
      '',
      '-----Mensagem original-----',
      `De: Bia Lima [mailto:${senders.outlook}] `,
      'Enviada em: segunda-feira, 4 de março de 2024 10:15',
      `Para: Bruno <${account.email}>`,
      'Assunto: Orçamento',
      '',
      'Bom dia, podem enviar o orçamento?',
      '',
    ].join('\r\n');
    const apple = [
      ...header('Fwd: Contrato'),
      'Início da mensagem encaminhada:',
      '',
      `> De: Caio <${senders.apple}>`,
      '> Assunto: Contrato',
      '> Data: 4 de março de 2024 10:15:32 BRT',
      `> Para: ${account.email}`,
      '> ',
      '> Contrato assinado em anexo.',
      '',
    ].join('\r\n');

    for (const [name, raw] of Object.entries({ gmail, outlook, apple }) as Array<[keyof typeof senders, string]>) {
      const result = await deliver(raw, account.email, [account.bcc]);
      expect(result.response, name).toMatch(/^250 2\.0\.0 Filed the forwarded message in Conversa on 1 contact/);
    }
    const [g] = await contactMail(ids.gmail);
    expect(g).toMatchObject({
      subject: 'Renewal',
      from: { address: senders.gmail },
      direction: 'incoming',
      source: 'bcc',
      date: '2024-03-04T13:15:00.000Z',
    });
    expect(g.snippet).toBe('We would like to renew for two more years.');
    const [o] = await contactMail(ids.outlook);
    expect(o).toMatchObject({
      subject: 'Orçamento',
      from: { address: senders.outlook, name: 'Bia Lima' },
      direction: 'incoming',
      date: '2024-03-04T13:15:00.000Z',
    });
    expect(o.snippet).toBe('Bom dia, podem enviar o orçamento?');
    const [a] = await contactMail(ids.apple);
    expect(a).toMatchObject({
      subject: 'Contrato',
      from: { address: senders.apple },
      date: '2024-03-04T13:15:32.000Z',
    });
    // The same forward delivered again (a retry) is the same message.
    await deliver(gmail, account.email, [account.bcc]);
    expect(await contactMail(ids.gmail)).toHaveLength(1);

    // A reply to the client with the BCC address in Cc quotes the client's mail, but it is the user's own reply.
    const reply = [
      `From: Bruno <${account.email}>`,
      `To: ${senders.outlook}`,
      `Cc: ${account.bcc}`,
      'Subject: RE: Orçamento',
      `Message-ID: ${makeMessageId()}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Segue o orçamento.',
      '',
      '-----Mensagem original-----',
      `De: Bia Lima <${senders.outlook}>`,
      'Enviada em: segunda-feira, 4 de março de 2024 10:15',
      `Para: ${account.email}`,
      'Assunto: Orçamento',
      '',
      'Bom dia',
      '',
    ].join('\r\n');
    expect((await deliver(reply, account.email, [account.bcc])).response).toMatch(
      /^250 2\.0\.0 Filed the message in Conversa on 1 contact/,
    );
    expect((await contactMail(ids.outlook)).map((m) => [m.subject, m.direction])).toEqual([
      ['RE: Orçamento', 'outgoing'],
      ['Orçamento', 'incoming'],
    ]);
  });

  it('creates contacts like sync when the user turned automatic creation on: recipients of sent mail, the sender of a forwarded original; never own or machine addresses', async () => {
    const user = await conversa.addUser();
    expect((await conversa.api('PATCH', '/api/me/settings', { autoCreateContacts: true }, user.token)).status).toBe(
      200,
    );
    const account = await connect({ token: user.token });
    const colleague = await connect(); // another mailbox of the organisation
    const newClient = `new-${tag()}@prospect.test`;
    const sent = makeMessage({
      from: account.email,
      to: [newClient, colleague.email],
      cc: [`no-reply@notifications.prospect.test`],
      subject: 'Hello there',
    });
    expect((await deliver(sent, account.email, [account.bcc])).ok).toBe(true);
    const created = await contactByEmail(newClient, user.token);
    expect(created).toMatchObject({ source: 'auto-email' });
    expect(await contactByEmail(colleague.email, user.token)).toBeUndefined();
    expect(await contactByEmail('no-reply@notifications.prospect.test', user.token)).toBeUndefined();
    expect(await contactByEmail(account.bcc, user.token)).toBeUndefined();
    expect((await contactMail(created.id, user.token)).map((m) => m.subject)).toEqual(['Hello there']);

    // Forwarding a stranger's mail to the CRM is filing it: the stranger becomes a contact.
    const stranger = `lead-${tag()}@inbound.test`;
    const original = makeMessage({
      from: `Lead <${stranger}>`,
      to: [account.email],
      subject: 'Interested in your product',
    });
    expect(
      (
        await deliver(
          await forwardWithAttachment(account.email, account.bcc, original, 'Fwd: Interested'),
          account.email,
          [account.bcc],
        )
      ).ok,
    ).toBe(true);
    const lead = await contactByEmail(stranger, user.token);
    expect(lead).toMatchObject({ source: 'auto-email' });
    expect((await contactMail(lead.id, user.token))[0]).toMatchObject({
      subject: 'Interested in your product',
      direction: 'incoming',
    });
  });

  it('stores mail with nobody from the CRM in it on no contact, and puts it on the contact created afterwards', async () => {
    const account = await connect();
    const prospect = `prospect-${tag()}@later.test`;
    const before = await stored();
    const result = await deliver(
      makeMessage({ from: account.email, to: [prospect], subject: 'First contact' }),
      account.email,
      [account.bcc],
    );
    expect(result.response).toMatch(/^250 2\.0\.0 Filed the message in Conversa, on no contact yet/);
    expect((await stored()).messages).toBe(before.messages + 1);
    const contactId = await newContact(prospect);
    expect((await contactMail(contactId)).map((m) => [m.subject, m.source])).toEqual([['First contact', 'bcc']]);
  });

  it("honours the user's never-log list: accepted, not stored", async () => {
    const user = await conversa.addUser();
    expect((await conversa.api('PATCH', '/api/me/settings', { neverLog: ['@mybank.test'] }, user.token)).status).toBe(
      200,
    );
    const account = await connect({ token: user.token });
    const before = await stored();
    const result = await deliver(
      makeMessage({ from: account.email, to: ['manager@mybank.test'], subject: 'My loan' }),
      account.email,
      [account.bcc],
    );
    expect(result.response).toMatch(/^250 2\.0\.0 Accepted; not filed: an address in it is on your never-log list/);
    expect(await stored()).toEqual(before);
  });

  it('stores 200 deliveries over 10 parallel connections (nodemailer pool), each once', async () => {
    const account = await connect();
    const client = `bulk-${tag()}@acme.test`;
    const clientId = await newContact(client);
    const batch = tag();
    const raws = Array.from({ length: 200 }, (_, i) =>
      makeMessage({ from: account.email, to: [client], subject: `Load ${batch} ${i}`, body: `Message number ${i}` }),
    );
    // A counting pass-through in front of the listener: how many connections, how many at once.
    let active = 0;
    let peak = 0;
    let total = 0;
    const counter = net.createServer((client) => {
      total++;
      peak = Math.max(peak, ++active);
      const upstream = net.connect(listener.port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.once('close', () => {
        active--;
        upstream.destroy();
      });
      upstream.once('close', () => client.destroy());
      client.on('error', () => undefined);
      upstream.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => counter.listen(0, '127.0.0.1', resolve));
    const pool = nodemailer.createTransport({
      pool: true,
      maxConnections: 10,
      maxMessages: Infinity,
      host: '127.0.0.1',
      port: (counter.address() as net.AddressInfo).port,
      secure: false,
      ignoreTLS: true,
    });
    try {
      const started = Date.now();
      const infos = await Promise.all(
        raws.map((raw) => pool.sendMail({ envelope: { from: account.email, to: [account.bcc] }, raw })),
      );
      expect(infos.every((info) => /^250 2\.0\.0 Filed the message/.test(info.response))).toBe(true);
      // Every delivery was answered after its commit: all 200 are there now.
      const db = conversa.server.storage.db;
      const rows = await db
        .selectFrom('messages')
        .select(['id', 'message_id_header', 'source'])
        .where('subject', 'like', `Load ${batch} %`)
        .execute();
      expect(rows).toHaveLength(200);
      expect(new Set(rows.map((r) => r.message_id_header)).size).toBe(200);
      expect(rows.every((r) => r.source === 'bcc')).toBe(true);
      const linked = await db
        .selectFrom('message_contacts')
        .select('message_id')
        .where('contact_id', '=', clientId)
        .execute();
      expect(linked).toHaveLength(200);
      // Delivered again (a client retrying all of them): still 200.
      await Promise.all(
        raws.slice(0, 50).map((raw) => pool.sendMail({ envelope: { from: account.email, to: [account.bcc] }, raw })),
      );
      expect(
        await db.selectFrom('messages').select('id').where('subject', 'like', `Load ${batch} %`).execute(),
      ).toHaveLength(200);
      expect({ peak, total }).toEqual({ peak: 10, total: 10 });
      console.info(`[bcc] ${dialect}: 250 deliveries over ${total} connections in ${Date.now() - started} ms`);
    } finally {
      pool.close();
      counter.close();
    }
  });

  it('stores one message when the same mail comes by BCC and by sync, in either order', async () => {
    const account = await connect();
    const client = `client-${tag()}@acme.test`;
    const clientId = await newContact(client);
    const db = conversa.server.storage.db;

    // Sent with the BCC address in Bcc: the BCC copy arrives first, the Sent-folder copy (with its Bcc header) is
    // synced later.
    const sentId = makeMessageId();
    const sent = makeMessage({ from: account.email, to: [client], subject: 'Sent and copied', messageId: sentId });
    expect((await deliver(sent, account.email, [account.bcc])).ok).toBe(true);
    const sentCopy = sent.replace(`To: ${client}`, `To: ${client}\r\nBcc: ${account.bcc}`);
    await dovecot.fillMailbox(account.email, 'Sent', [sentCopy]);
    await conversa.api('POST', `/api/email-accounts/${account.id}/sync`);
    const row = await db
      .selectFrom('messages')
      .select(['id', 'source'])
      .where('message_id_header', '=', sentId.slice(1, -1))
      .executeTakeFirstOrThrow();
    expect(row.source).toBe('bcc');
    await waitFor(
      'the synced copy of the sent mail to find the BCC one',
      async () =>
        (await db.selectFrom('message_locations').select('id').where('message_id', '=', row.id).execute()).length > 0,
      30_000,
    );

    // Received and synced first, then forwarded to the BCC address as an attachment.
    const receivedId = makeMessageId();
    const received = makeMessage({
      from: client,
      to: [account.email],
      subject: 'Question about the invoice',
      messageId: receivedId,
    });
    await dovecot.appendAsDelivered(account.email, received);
    await waitFor(
      'the received mail on the contact',
      async () =>
        (await contactMail(clientId)).some((m) => m.subject === 'Question about the invoice' && m.source === 'sync'),
      30_000,
    );
    const forwarded = await deliver(
      await forwardWithAttachment(account.email, account.bcc, received, 'Fwd: Question about the invoice'),
      account.email,
      [account.bcc],
    );
    expect(forwarded.response).toMatch(/^250 2\.0\.0 Filed the forwarded message/);

    // Forwarded inline by Gmail, which threads the forward under the original (In-Reply-To): recognised as it.
    const inline = [
      `From: ${account.email}`,
      `To: ${account.bcc}`,
      'Subject: Fwd: Question about the invoice',
      `Message-ID: ${makeMessageId()}`,
      `In-Reply-To: ${receivedId}`,
      `References: ${receivedId}`,
      'Content-Type: text/plain; charset=utf-8',
      '',
      '---------- Forwarded message ---------',
      `From: <${client}>`,
      `Date: ${new Date().toUTCString()}`,
      'Subject: Question about the invoice',
      `To: <${account.email}>`,
      '',
      'Body',
      '',
    ].join('\r\n');
    expect((await deliver(inline, account.email, [account.bcc])).ok).toBe(true);

    for (const id of [sentId, receivedId]) {
      expect(
        await db.selectFrom('messages').select('id').where('message_id_header', '=', id.slice(1, -1)).execute(),
        id,
      ).toHaveLength(1);
    }
    const mail = await contactMail(clientId);
    expect(mail.map((m) => m.subject).sort()).toEqual(['Question about the invoice', 'Sent and copied']);
  });

  it("refuses what the sender's domain disowns (SPF fail, a broken DKIM signature, DMARC reject) and lets none/temperror through", async () => {
    const received = (ip: string) =>
      `Received: from mail.sender.test (mail.sender.test [${ip}]) by mx.conversa.test with ESMTPS id ${tag()}; ${new Date().toUTCString()}`;
    const client = `client-${tag()}@acme.test`;
    await newContact(client);
    const before = await stored();

    // SPF: only 192.0.2.10 may send for the domain; our relays (an internal hop on top) say the client was 203.0.113.9.
    const spfDomain = `spf-${tag()}.test`;
    dns.set(spfDomain, 'TXT', ['v=spf1 ip4:192.0.2.10 -all']);
    const spfAccount = await connect({ user: `u${tag()}@${spfDomain}` });
    const spfRaw = (ip: string) =>
      `${received('10.1.2.3')}\r\n${received(ip)}\r\n${makeMessage({ from: spfAccount.email, to: [client], subject: `SPF ${ip}` })}`;
    const spfFail = await deliver(spfRaw('203.0.113.9'), spfAccount.email, [spfAccount.bcc]);
    expect(spfFail).toMatchObject({ ok: false, code: 550 });
    expect(spfFail.response).toMatch(/^550 5\.7\.23 SPF of .* does not allow 203\.0\.113\.9/);
    expect(await stored()).toEqual(before);
    expect((await deliver(spfRaw('192.0.2.10'), spfAccount.email, [spfAccount.bcc])).ok).toBe(true);

    // DKIM: a message signed by the From domain, then altered (a header, then the body).
    const dkimDomain = `dkim-${tag()}.test`;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    dns.set(`sel._domainkey.${dkimDomain}`, 'TXT', [
      `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`,
    ]);
    const dkimAccount = await connect({ user: `u${tag()}@${dkimDomain}` });
    const signed = (
      await signMessage(
        Buffer.from(makeMessage({ from: dkimAccount.email, to: [client], subject: 'Signed', body: 'Price: 100' })),
        {
          domainName: dkimDomain,
          keySelector: 'sel',
          privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
        },
      )
    ).toString();
    const altered = await deliver(
      signed.replace('Subject: Signed', 'Subject: Signed, and changed'),
      dkimAccount.email,
      [dkimAccount.bcc],
    );
    expect(altered.response).toMatch(
      /^550 5\.7\.20 The DKIM signature of dkim-[0-9a-f]+\.test does not match the message/,
    );
    const alteredBody = await deliver(signed.replace('Price: 100', 'Price: 1'), dkimAccount.email, [dkimAccount.bcc]);
    expect(alteredBody.response).toMatch(/^550 5\.7\.20 /);
    expect((await stored()).messages).toBe(before.messages + 1);
    expect((await deliver(signed, dkimAccount.email, [dkimAccount.bcc])).ok).toBe(true);

    // DMARC p=reject, and neither SPF nor DKIM of the domain pass.
    const dmarcDomain = `dmarc-${tag()}.test`;
    dns.set(`_dmarc.${dmarcDomain}`, 'TXT', ['v=DMARC1; p=reject']);
    const dmarcAccount = await connect({ user: `u${tag()}@${dmarcDomain}` });
    const dmarcRefused = await deliver(
      makeMessage({ from: dmarcAccount.email, to: [client], subject: 'DMARC' }),
      dmarcAccount.email,
      [dmarcAccount.bcc],
    );
    expect(dmarcRefused.response).toMatch(/^550 5\.7\.1 dmarc-[0-9a-f]+\.test publishes a DMARC policy of reject/);

    // The name servers of the domain fail (temperror), or it publishes nothing (none): filed.
    const tempDomain = `temp-${tag()}.test`;
    dns.fail(tempDomain, 'SERVFAIL');
    dns.fail(`_dmarc.${tempDomain}`, 'SERVFAIL');
    const tempAccount = await connect({ user: `u${tag()}@${tempDomain}` });
    const temp = await deliver(
      `${received('203.0.113.9')}\r\n${makeMessage({ from: tempAccount.email, to: [client], subject: 'DNS down' })}`,
      tempAccount.email,
      [tempAccount.bcc],
    );
    expect(temp.ok, temp.response).toBe(true);
    expect(logLines.some((l) => /spf=temperror/.test(JSON.stringify(l.obj)))).toBe(true);
    expect((await stored()).messages).toBe(before.messages + 3);
  });

  it('offers STARTTLS with the configured certificate, never AUTH', async () => {
    const key = path.join(tmp, 'bcc.key');
    const cert = path.join(tmp, 'bcc.crt');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=bcc.localhost',
    ]);
    const tls = loadBccTlsConfig({ BCC_TLS_CERT_FILE: cert, BCC_TLS_KEY_FILE: key });
    expect(tls).not.toBeNull();
    const secure = await startBccListener(listenerDeps({ tls }));
    extraListeners.push(secure);
    const account = await connect();
    const client = `client-${tag()}@acme.test`;
    const clientId = await newContact(client);
    const out = await swaks(
      [
        '-tls',
        '--from',
        account.email,
        '--to',
        account.bcc,
        '--header',
        `To: ${client}`,
        '--header',
        'Subject: Over TLS',
      ],
      secure.port,
    );
    expect(out).toMatch(/<-\s+250-STARTTLS/);
    expect(out).toMatch(/TLS started/);
    expect(out).toMatch(/<~\s+250 2\.0\.0 Filed the message in Conversa on 1 contact/);
    expect(out).not.toMatch(/AUTH/);
    expect((await contactMail(clientId)).map((m) => m.subject)).toEqual(['Over TLS']);

    expect(loadBccTlsConfig({})).toBeNull();
    expect(() => loadBccTlsConfig({ BCC_TLS_CERT_FILE: cert })).toThrow(ConfigError);
    expect(() =>
      loadBccTlsConfig({ BCC_TLS_CERT_FILE: cert, BCC_TLS_KEY_FILE: path.join(tmp, 'missing.key') }),
    ).toThrow(/BCC_TLS_KEY_FILE: cannot read .*missing\.key \(ENOENT\)/);
    expect(() => loadBccTlsConfig({ BCC_TLS_CERT_FILE: key, BCC_TLS_KEY_FILE: key })).toThrow(
      /BCC_TLS_CERT_FILE: .* is not a PEM file/,
    );
  });

  it('caps simultaneous connections (421 past the cap) and reports a port it cannot take', async () => {
    const capped = await startBccListener(listenerDeps({ maxConnections: 2 }));
    extraListeners.push(capped);
    const greetings: string[] = [];
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const socket = net.connect({ host: '127.0.0.1', port: capped.port });
        sockets.push(socket);
        greetings.push(await new Promise<string>((resolve) => socket.once('data', (d) => resolve(d.toString()))));
      }
    } finally {
      sockets.forEach((s) => s.destroy());
    }
    expect(greetings[0]).toMatch(/^220 /);
    expect(greetings[1]).toMatch(/^220 /);
    expect(greetings[2]).toMatch(/^421 .*Too many connected clients/);

    await expect(startBccListener(listenerDeps({ port: listener.port }))).rejects.toThrow(
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${listener.port}`),
    );
  });
});
