// Sending from the CRM against the real Dovecot (submission relaying to the harness's SMTP sink, IMAP for the
// Sent folder) and against scripted SMTP servers of our own for refusals, deferrals and the application relay.
// Observed as a user would: through the API, the sink, and the mailbox itself (imapflow).
import { generateKeyPairSync } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { loadDkimConfig } from '../../src/mail/send/dkim.js';
import { loadAppSmtpConfig } from '../../src/mail/send/smtp-settings.js';
import { ConfigError } from '../../src/core/config-error.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { useDovecot, type Credentials, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

// ---------------------------------------------------------------------------------------------------------
// A scripted SMTP server: AUTH required; refuses (550) recipients whose local part starts with "refused", and
// defers (451) the first DATA of a message to a "deferred…" recipient, accepting it the next time.

interface Scripted {
  port: number;
  received: Array<{ rcptTo: string[]; mailFrom: string | null; raw: Buffer }>;
  dataAttempts: number;
  close(): Promise<void>;
}

async function startScriptedSmtp(login: { user: string; pass: string } | null): Promise<Scripted> {
  const deferredOnce = new Set<string>();
  const state: Scripted = { port: 0, received: [], dataAttempts: 0, close: async () => undefined };
  const server = new SMTPServer({
    disableReverseLookup: true,
    allowInsecureAuth: true,
    authOptional: login === null,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 500,
    onAuth(auth, _session, callback) {
      if (login && auth.username === login.user && auth.password === login.pass)
        return callback(null, { user: auth.username });
      callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      if (address.address.startsWith('refused')) {
        return callback(
          Object.assign(
            new Error(`5.1.1 <${address.address}>: Recipient address rejected: User unknown in virtual mailbox table`),
            { responseCode: 550 },
          ),
        );
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.dataAttempts++;
        const rcptTo = session.envelope.rcptTo.map((r) => r.address);
        const raw = Buffer.concat(chunks);
        const deferred = rcptTo.find((a) => a.startsWith('deferred'));
        if (deferred && !deferredOnce.has(deferred)) {
          deferredOnce.add(deferred);
          return callback(
            Object.assign(new Error('4.3.0 Mail server temporarily overloaded, try again later'), {
              responseCode: 451,
            }),
          );
        }
        state.received.push({
          rcptTo,
          mailFrom: session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address,
          raw,
        });
        callback(null, 'Queued as SCRIPTED');
      });
    },
  });
  state.port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.server.address();
      if (address === null || typeof address === 'string') reject(new Error('no address'));
      else resolve(address.port);
    });
  });
  server.on('error', () => undefined);
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}

// ---------------------------------------------------------------------------------------------------------

function unique(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

async function connect(
  c: SendConversa,
  creds: Credentials,
  token?: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds, extra), token);
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function waitSynced(c: SendConversa, id: string, token?: string): Promise<void> {
  await waitFor(
    `account ${id} to finish its first pass`,
    async () => {
      const account = (await c.api('GET', `/api/email-accounts/${id}`, undefined, token)).body;
      if (account.status === 'needs_reconnect' || account.status === 'error')
        throw new Error(`account ${account.status}: ${account.statusDetail}`);
      if (account.status !== 'active') return false;
      const folders = await c.storage.db
        .selectFrom('mail_folders')
        .select('first_sync_done')
        .where('account_id', '=', id)
        .execute();
      return folders.length > 0 && folders.every((f) => f.first_sync_done === 1);
    },
    30_000,
  );
}

async function newContact(c: SendConversa, email: string, token?: string): Promise<string> {
  const res = await c.api('POST', '/api/contacts', { emails: [email] }, token);
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function sendStatus(c: SendConversa, id: string, token?: string): Promise<any> {
  const res = await c.api('GET', `/api/messages/${id}/send-status`, undefined, token);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function waitStatus(
  c: SendConversa,
  id: string,
  done: (s: any) => boolean,
  what: string,
  token?: string,
  timeoutMs = 20_000,
): Promise<any> {
  return waitFor(
    what,
    async () => {
      const status = await sendStatus(c, id, token);
      return done(status) ? status : undefined;
    },
    timeoutMs,
  );
}

/** The copies of a message (by Message-ID) in the user's Sent folder, with their flags. */
async function sentCopies(creds: Credentials, messageId: string): Promise<Array<{ uid: number; flags: string[] }>> {
  const client = new ImapFlow(dovecot.imapOptions(creds));
  client.on('error', () => undefined);
  await client.connect();
  try {
    const lock = await client.getMailboxLock('Sent');
    try {
      const uids = await client.search({ header: { 'message-id': `<${messageId}>` } }, { uid: true });
      if (!uids || uids.length === 0) return [];
      const out: Array<{ uid: number; flags: string[] }> = [];
      for await (const m of client.fetch(uids, { uid: true, flags: true }, { uid: true }))
        out.push({ uid: m.uid, flags: [...(m.flags ?? [])] });
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await client.logout().catch(() => undefined);
  }
}

function headerBlock(raw: Buffer): string {
  const text = raw.toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  return end < 0 ? text : text.slice(0, end);
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A copy of the message with this Message-ID (its own header, not a reply naming it). */
function isCopyOf(m: SinkMessage, messageId: string): boolean {
  return new RegExp(`^Message-ID:\\s*<${escapeRe(messageId)}>\\s*$`, 'im').test(headerBlock(m.raw));
}

async function sinkCopies(messageId: string): Promise<SinkMessage[]> {
  return (await dovecot.sinkMessages()).filter((m) => isCopyOf(m, messageId));
}

async function sinkCopyOf(messageId: string): Promise<SinkMessage> {
  return dovecot.waitForSinkMessage((m) => isCopyOf(m, messageId), 15_000);
}

async function outboxRow(c: SendConversa, messageId: string) {
  return c.storage.db.selectFrom('outbox').selectAll().where('message_id', '=', messageId).executeTakeFirstOrThrow();
}

// ---------------------------------------------------------------------------------------------------------

describe.each(DIALECTS)('sending from the CRM on %s', (dialect) => {
  let c: SendConversa;
  let database: TestDatabase;
  let scripted: Scripted;
  const customLogin = { user: 'relay-user', pass: 'relay password 1' };
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startSendConversa({ database });
    scripted = await startScriptedSmtp(customLogin);
  });
  afterAll(async () => {
    await c?.stop();
    await scripted?.close();
    await database?.destroy();
  });

  it('sends through the mailbox, files one \\Seen copy in Sent, and the sync meets it as the same message', async () => {
    const creds = await dovecot.addUser();
    const accountId = await connect(c, creds);
    await waitSynced(c, accountId);
    const client = `${unique('client')}@buyer.test`;
    const colleague = `${unique('colleague')}@buyer.test`;
    const hidden = `${unique('hidden')}@boss.test`;
    const contactId = await newContact(c, client);
    const subject = unique('Proposal');

    const res = await c.api('POST', '/api/messages', {
      accountId,
      to: [`Cliente Feliz <${client}>`],
      cc: [colleague],
      bcc: [hidden],
      subject,
      text: 'Here is our proposal.',
      html: '<p>Here is our <b>proposal</b>.</p><script>alert(1)</script>',
      attachments: [
        {
          filename: 'proposta.pdf',
          contentType: 'application/pdf',
          contentBase64: Buffer.from('%PDF-1.4 proposal').toString('base64'),
        },
      ],
    });
    expect(res.status, res.text).toBe(201);
    const sent = res.body;
    expect(sent).toMatchObject({
      source: 'crm',
      direction: 'outgoing',
      subject,
      from: { address: creds.user },
      hasAttachments: true,
    });
    expect(['queued', 'sending', 'sent']).toContain(sent.sendStatus);
    expect(sent.to).toEqual([{ address: client, name: 'Cliente Feliz' }]);
    expect(sent.cc).toEqual([{ address: colleague }]);
    // Bcc stays a participant of the CRM's copy...
    expect(sent.bcc).toEqual([{ address: hidden }]);
    expect(sent.contactIds).toEqual([contactId]);
    const domain = creds.user.split('@')[1]!;
    expect(sent.messageId).toMatch(new RegExp(`^[0-9a-f-]{36}@${domain.replace('.', '\\.')}$`));
    // ...and the copy shown in the CRM is sanitised like synced mail.
    expect(sent.html).toContain('<b>proposal</b>');
    expect(sent.html).not.toContain('script');

    const status = await waitStatus(
      c,
      sent.id,
      (s) => s.sentFolder.status === 'appended',
      'the send and the Sent-folder copy',
    );
    expect(status).toMatchObject({ sendStatus: 'sent', attempts: 1 });
    expect(status.sendError).toBeUndefined();

    // What reached the other side: our headers and Message-ID, no Bcc in the bytes, the Bcc address in the envelope.
    const relayed = await sinkCopyOf(sent.messageId);
    expect(relayed.mailFrom).toBe(creds.user);
    expect(relayed.rcptTo.map((a) => a.toLowerCase()).sort()).toEqual([client, colleague, hidden].sort());
    const header = headerBlock(relayed.raw);
    expect(header).not.toMatch(/^bcc:/im);
    expect(relayed.raw.toString('latin1')).not.toContain(hidden);
    const parsed = await parseMessage(relayed.raw);
    expect(parsed.messageId).toBe(sent.messageId);
    expect(parsed.from?.address).toBe(creds.user);
    expect(parsed.to).toEqual([{ address: client, name: 'Cliente Feliz' }]);
    expect(parsed.cc.map((a) => a.address)).toEqual([colleague]);
    expect(parsed.subject).toBe(subject);
    expect(parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['proposta.pdf', '%PDF-1.4 proposal'],
    ]);
    // The user's own HTML goes out as written.
    expect(relayed.raw.toString('utf8')).toContain('<script>alert(1)</script>');
    expect(await sinkCopies(sent.messageId)).toHaveLength(1);

    // The mailbox's Sent folder holds it once, read.
    const copies = await sentCopies(creds, sent.messageId);
    expect(copies).toHaveLength(1);
    expect(copies[0]!.flags).toContain('\\Seen');

    // The next sync meets the copy in Sent: same Message-ID, same stored message, one more location only.
    expect((await c.api('POST', `/api/email-accounts/${accountId}/sync`)).status).toBe(202);
    const location = await waitFor('the Sent copy as a location of the stored message', async () =>
      c.storage.db
        .selectFrom('message_locations')
        .innerJoin('mail_folders', 'mail_folders.id', 'message_locations.folder_id')
        .select(['message_locations.message_id', 'mail_folders.role', 'message_locations.seen'])
        .where('message_locations.message_id', '=', sent.id)
        .executeTakeFirst(),
    );
    expect(location).toMatchObject({ role: 'sent', seen: 1 });
    const onContact = (await c.api('GET', `/api/contacts/${contactId}/messages?limit=200`)).body.items.filter(
      (m: any) => m.messageId === sent.messageId,
    );
    expect(onContact).toHaveLength(1);
    expect(onContact[0]).toMatchObject({ id: sent.id, source: 'crm', direction: 'outgoing', unread: false });
    expect(onContact[0].bcc).toEqual([{ address: hidden }]);
    const stored = await c.storage.db
      .selectFrom('messages')
      .select('id')
      .where('message_id_header', '=', sent.messageId)
      .execute();
    expect(stored).toHaveLength(1);
    const locations = await c.storage.db
      .selectFrom('message_locations')
      .select('id')
      .where('message_id', '=', sent.id)
      .execute();
    expect(locations).toHaveLength(1);
  });

  it('threads a reply with the message it answers, in the CRM and in the headers', async () => {
    const creds = await dovecot.addUser();
    const partner = `${unique('partner')}@buyer.test`;
    const contactId = await newContact(c, partner);
    const root = makeMessageId();
    const original = makeMessageId();
    const subject = unique('Pricing question');
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({
        from: `Parceiro <${partner}>`,
        to: [creds.user],
        subject,
        messageId: original,
        references: [root],
        inReplyTo: root,
      }),
    ]);
    const accountId = await connect(c, creds);
    await waitSynced(c, accountId);
    const incoming = (await c.api('GET', `/api/contacts/${contactId}/messages`)).body.items.find(
      (m: any) => m.subject === subject,
    );
    expect(incoming).toBeDefined();

    const res = await c.api('POST', '/api/messages', {
      accountId,
      to: [partner],
      inReplyTo: incoming.id,
      text: 'Our prices are in the attachment.',
    });
    expect(res.status, res.text).toBe(201);
    const reply = res.body;
    expect(reply.subject).toBe(`Re: ${subject}`);
    expect(reply.threadId).toBe(incoming.threadId);
    const thread = (await c.api('GET', `/api/threads/${incoming.threadId}`)).body;
    expect(thread.messages.map((m: any) => m.id)).toEqual([incoming.id, reply.id]);

    await waitStatus(c, reply.id, (s) => s.sendStatus === 'sent', 'the reply to be sent');
    const relayed = await sinkCopyOf(reply.messageId);
    const header = headerBlock(relayed.raw).replace(/\r?\n[ \t]+/g, ' ');
    expect(header).toMatch(new RegExp(`^In-Reply-To: ${escapeRe(original)}$`, 'im'));
    const references = /^References: (.*)$/im.exec(header)?.[1]?.trim().split(/\s+/);
    expect(references).toEqual([root, original]);

    // A subject already marked as a reply is not marked twice.
    const again = await c.api('POST', '/api/messages', {
      accountId,
      to: [partner],
      inReplyTo: incoming.id,
      subject: `RE: ${subject}`,
      text: 'And one more thing.',
    });
    expect(again.status, again.text).toBe(201);
    expect(again.body.subject).toBe(`RE: ${subject}`);
    expect(again.body.threadId).toBe(incoming.threadId);
  });

  it('chooses the custom SMTP server only after testing it, and never shows its password', async () => {
    const creds = await dovecot.addUser();
    const accountId = await connect(c, creds);
    const before = await c.api('GET', `/api/email-accounts/${accountId}/smtp`);
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({
      mode: 'mailbox',
      host: dovecot.host,
      port: dovecot.submissionPort,
      secure: false,
      username: creds.user,
      appAvailable: false,
    });

    const wrong = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, {
      mode: 'custom',
      host: '127.0.0.1',
      port: scripted.port,
      secure: false,
      username: customLogin.user,
      password: 'not the password',
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('AUTH_FAILED');
    expect((await c.api('GET', `/api/email-accounts/${accountId}/smtp`)).body.mode).toBe('mailbox');

    const app = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, { mode: 'app' });
    expect(app.status).toBe(400);
    expect(app.body.error.fields).toEqual([expect.objectContaining({ path: 'body.mode' })]);

    const saved = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, {
      mode: 'custom',
      host: '127.0.0.1',
      port: scripted.port,
      secure: false,
      username: customLogin.user,
      password: customLogin.pass,
    });
    expect(saved.status, saved.text).toBe(200);
    expect(saved.body).toEqual({
      mode: 'custom',
      host: '127.0.0.1',
      port: scripted.port,
      secure: false,
      username: customLogin.user,
      passwordSet: true,
      appAvailable: false,
    });
    const read = await c.api('GET', `/api/email-accounts/${accountId}/smtp`);
    expect(read.text).not.toContain(customLogin.pass);
    const row = await c.storage.db
      .selectFrom('email_accounts')
      .select(['smtp_mode', 'smtp_custom_enc'])
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(row.smtp_mode).toBe('custom');
    expect(row.smtp_custom_enc).not.toContain(customLogin.pass);

    // Back to the mailbox's own server: the custom password is not kept.
    const back = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, { mode: 'mailbox' });
    expect(back.body.mode).toBe('mailbox');
    const cleared = await c.storage.db
      .selectFrom('email_accounts')
      .select('smtp_custom_enc')
      .where('id', '=', accountId)
      .executeTakeFirstOrThrow();
    expect(cleared.smtp_custom_enc).toBeNull();

    // Someone else's account is not there for them.
    const other = await c.addUser();
    expect((await c.api('GET', `/api/email-accounts/${accountId}/smtp`, undefined, other.token)).status).toBe(404);
    expect((await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, { mode: 'mailbox' }, other.token)).status).toBe(
      404,
    );
  });

  it('marks a message refused by the server (550) as failed with the reason, and retries a deferral (451) until sent', async () => {
    const creds = await dovecot.addUser();
    const accountId = await connect(c, creds);
    const put = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, {
      mode: 'custom',
      host: '127.0.0.1',
      port: scripted.port,
      secure: false,
      username: customLogin.user,
      password: customLogin.pass,
    });
    expect(put.status, put.text).toBe(200);

    const refusedTo = `refused-${unique('x')}@nowhere.test`;
    const refused = await c.api('POST', '/api/messages', {
      accountId,
      to: [refusedTo],
      subject: unique('Refused'),
      text: 'Hello?',
    });
    expect(refused.status, refused.text).toBe(201);
    const failed = await waitStatus(
      c,
      refused.body.id,
      (s) => s.sendStatus === 'failed',
      'the refused message to fail',
    );
    expect(failed.attempts).toBe(1);
    expect(failed.sendError.code).toBe('SEND_FAILED');
    expect(failed.sendError.message).toMatch(/550/);
    expect(failed.sendError.message).toMatch(/User unknown/);
    expect(failed.sentFolder.status).toBeNull();
    expect(scripted.received.some((m) => m.rcptTo.includes(refusedTo))).toBe(false);

    const deferredTo = `deferred-${unique('x')}@slow.test`;
    const subject = unique('Deferred');
    const deferred = await c.api('POST', '/api/messages', {
      accountId,
      to: [deferredTo],
      subject,
      text: 'Eventually.',
    });
    expect(deferred.status, deferred.text).toBe(201);
    const sent = await waitStatus(
      c,
      deferred.body.id,
      (s) => s.sendStatus === 'sent' && s.sentFolder.status === 'appended',
      'the deferred message to be sent',
    );
    expect(sent.attempts).toBe(2);
    expect(sent.sendError).toBeUndefined();
    const arrived = scripted.received.filter((m) => m.rcptTo.includes(deferredTo));
    expect(arrived).toHaveLength(1);
    expect(arrived[0]!.mailFrom).toBe(creds.user);
    // Through the custom server, the copy in Sent is ours to file: once.
    expect(await sentCopies(creds, deferred.body.messageId)).toHaveLength(1);
  });

  it('resumes the Sent-folder copy after a crash between SMTP and APPEND, without sending again or filing twice', async () => {
    const creds = await dovecot.addUser();
    const accountId = await connect(c, creds);
    await waitSynced(c, accountId);
    await c.stopOutbox();
    let restarted = false;
    try {
      const to = `${unique('crash')}@buyer.test`;
      const res = await c.api('POST', '/api/messages', {
        accountId,
        to: [to],
        subject: unique('Crash'),
        text: 'Sent once, filed once.',
      });
      expect(res.status, res.text).toBe(201);
      expect(res.body.sendStatus).toBe('queued');
      const id = res.body.id;
      const outboxId = (await outboxRow(c, id)).id;

      // The SMTP step alone, then "the process dies": sent and recorded, the copy not yet filed.
      expect(await c.steps().send(outboxId)).toBe(true);
      await sinkCopyOf(res.body.messageId);
      expect(await sinkCopies(res.body.messageId)).toHaveLength(1);
      expect(await sentCopies(creds, res.body.messageId)).toHaveLength(0);
      expect(await sendStatus(c, id)).toMatchObject({
        sendStatus: 'sent',
        attempts: 1,
        sentFolder: { status: 'pending' },
      });

      // The next start resumes the append, and does not send again.
      c.startOutbox();
      restarted = true;
      const resumed = await waitStatus(c, id, (s) => s.sentFolder.status === 'appended', 'the resumed append');
      expect(resumed).toMatchObject({ sendStatus: 'sent', attempts: 1 });
      expect(await sentCopies(creds, res.body.messageId)).toHaveLength(1);

      // A crash after the APPEND but before it was recorded: the copy is found there, not filed again.
      await c.stopOutbox();
      restarted = false;
      await c.storage.db
        .updateTable('outbox')
        .set({ append_state: 'pending', append_detail: null })
        .where('id', '=', outboxId)
        .execute();
      c.startOutbox();
      restarted = true;
      const found = await waitStatus(c, id, (s) => s.sentFolder.status === 'appended', 'the append found already done');
      expect(found.sentFolder.detail).toMatch(/already/i);
      expect(await sentCopies(creds, res.body.messageId)).toHaveLength(1);
      await new Promise((r) => setTimeout(r, 500));
      expect(await sinkCopies(res.body.messageId)).toHaveLength(1);
      expect((await outboxRow(c, id)).attempts).toBe(1);
    } finally {
      if (!restarted) c.startOutbox();
    }
  });

  it('leaves the Sent copy to a provider that files SMTP mail itself', async () => {
    const creds = await dovecot.addUser();
    // The Gmail preset (smtpSavesSent) with the test servers standing in for Google's.
    const accountId = await connect(c, creds, undefined, { provider: 'gmail' });
    const res = await c.api('POST', '/api/messages', {
      accountId,
      to: [`${unique('gmail')}@buyer.test`],
      subject: unique('Filed by the provider'),
      text: '.',
    });
    expect(res.status, res.text).toBe(201);
    const status = await waitStatus(
      c,
      res.body.id,
      (s) => s.sendStatus === 'sent' && s.sentFolder.status !== 'pending' && s.sentFolder.status !== null,
      'the send',
    );
    expect(status.sentFolder).toMatchObject({ status: 'skipped', detail: expect.stringMatching(/provider files/i) });
    await sinkCopyOf(res.body.messageId);
    expect(await sentCopies(creds, res.body.messageId)).toHaveLength(0);
  });

  it('creates a contact for every new recipient when the user turned automatic creation on', async () => {
    const user = await c.addUser({ displayName: 'Vendedora Ana' });
    const creds = await dovecot.addUser();
    const accountId = await connect(c, creds, user.token);
    const known = `${unique('known')}@buyer.test`;
    const knownId = await newContact(c, known, user.token);
    const fresh = [
      `${unique('new-to')}@buyer.test`,
      `${unique('new-cc')}@buyer.test`,
      `${unique('new-bcc')}@buyer.test`,
    ];

    // Off by default: nobody new becomes a contact.
    const off = await c.api(
      'POST',
      '/api/messages',
      { accountId, to: [fresh[0]], subject: unique('Off'), text: '.' },
      user.token,
    );
    expect(off.status, off.text).toBe(201);
    expect(
      (await c.api('GET', `/api/contacts?email=${encodeURIComponent(fresh[0]!)}`, undefined, user.token)).body.items,
    ).toEqual([]);

    expect((await c.api('PATCH', '/api/me/settings', { autoCreateContacts: true }, user.token)).status).toBe(200);
    const res = await c.api(
      'POST',
      '/api/messages',
      {
        accountId,
        to: [fresh[0], known, creds.user],
        cc: [fresh[1], 'no-reply@robots.test'],
        bcc: [fresh[2]],
        subject: unique('Auto'),
        text: 'Welcome!',
      },
      user.token,
    );
    expect(res.status, res.text).toBe(201);
    const created: string[] = [];
    for (const address of fresh) {
      const found = (await c.api('GET', `/api/contacts?email=${encodeURIComponent(address)}`, undefined, user.token))
        .body.items;
      expect(found, address).toHaveLength(1);
      expect(found[0].source).toBe('auto-email');
      created.push(found[0].id);
    }
    expect([...res.body.contactIds].sort()).toEqual([...created, knownId].sort());
    // Never the user's own mailbox, never a machine.
    for (const address of [creds.user, 'no-reply@robots.test']) {
      expect(
        (await c.api('GET', `/api/contacts?email=${encodeURIComponent(address)}`, undefined, user.token)).body.items,
      ).toEqual([]);
    }
    // The user's display name is the From name.
    expect(res.body.from).toEqual({ address: creds.user, name: 'Vendedora Ana' });
    await waitStatus(c, res.body.id, (s) => s.sendStatus === 'sent', 'the message to be sent', user.token);
  });

  it("refuses what cannot be sent: no or bad recipients, someone else's account, a mailbox to reconnect, too large", async () => {
    const creds = await dovecot.addUser();
    const accountId = await connect(c, creds);

    const none = await c.api('POST', '/api/messages', { accountId, to: [], subject: 'x', text: 'x' });
    expect(none.status).toBe(400);
    expect(none.body.error).toMatchObject({ code: 'VALIDATION_FAILED', fields: [{ path: 'body.to' }] });

    const bad = await c.api('POST', '/api/messages', {
      accountId,
      to: ['ok@buyer.test'],
      cc: ['ok2@buyer.test', 'not an address'],
      subject: 'x',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.fields).toEqual([expect.objectContaining({ path: 'body.cc.1' })]);

    const badAttachment = await c.api('POST', '/api/messages', {
      accountId,
      to: ['ok@buyer.test'],
      subject: 'x',
      attachments: [{ filename: 'a.txt', contentType: 'text/plain', contentBase64: '***' }],
    });
    expect(badAttachment.status).toBe(400);
    expect(badAttachment.body.error.fields).toEqual([
      expect.objectContaining({ path: 'body.attachments.0.contentBase64' }),
    ]);

    const unknownParent = await c.api('POST', '/api/messages', {
      accountId,
      to: ['ok@buyer.test'],
      inReplyTo: '01900000-0000-7000-8000-000000000000',
      text: 'x',
    });
    expect(unknownParent.status).toBe(400);
    expect(unknownParent.body.error.fields).toEqual([expect.objectContaining({ path: 'body.inReplyTo' })]);

    // Mail that was not sent from the CRM has no send status.
    const partner = `${unique('synced')}@buyer.test`;
    await newContact(c, partner);
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: partner, to: [creds.user], subject: unique('Synced') }),
    ]);
    await waitSynced(c, accountId);
    const synced = await waitFor('the synced message', async () =>
      c.storage.db.selectFrom('messages').select('id').where('from_address', '=', partner).executeTakeFirst(),
    );
    expect((await c.api('GET', `/api/messages/${synced.id}/send-status`)).status).toBe(404);

    const other = await c.addUser({ admin: true });
    const foreign = await c.api(
      'POST',
      '/api/messages',
      { accountId, to: ['ok@buyer.test'], subject: 'x', text: 'x' },
      other.token,
    );
    expect(foreign.status).toBe(404);

    const big = Buffer.alloc(25 * 1024 * 1024 + 1, 0x61).toString('base64');
    const tooLarge = await c.api('POST', '/api/messages', {
      accountId,
      to: ['ok@buyer.test'],
      subject: 'x',
      attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', contentBase64: big }],
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error.code).toBe('PAYLOAD_TOO_LARGE');

    // Nothing of the above was stored or queued.
    const queued = await c.storage.db.selectFrom('outbox').select('id').where('account_id', '=', accountId).execute();
    expect(queued).toEqual([]);

    // Within the limit, a large attachment goes through (the route's body limit is raised accordingly).
    const fits = Buffer.alloc(20 * 1024 * 1024, 0x62).toString('base64');
    const large = await c.api('POST', '/api/messages', {
      accountId,
      to: [`${unique('large')}@buyer.test`],
      subject: unique('Large'),
      attachments: [{ filename: 'big.bin', contentType: 'application/octet-stream', contentBase64: fits }],
    });
    expect(large.status, large.text.slice(0, 300)).toBe(201);

    // The password changed on the server: the account must be reconnected before it sends.
    await dovecot.setPassword(creds.user, `${creds.password}-changed`);
    await dovecot.kick(creds.user);
    await waitFor(
      'the account to need reconnecting',
      async () => (await c.api('GET', `/api/email-accounts/${accountId}`)).body.status === 'needs_reconnect',
      20_000,
    );
    const blocked = await c.api('POST', '/api/messages', { accountId, to: ['ok@buyer.test'], subject: 'x', text: 'x' });
    expect(blocked.status).toBe(422);
    expect(blocked.body.error.code).toBe('AUTH_FAILED');
    expect(blocked.body.error.hint).toMatch(/reconnect|credentials/i);
  }, 60_000);
});

describe('sending through the application relay', () => {
  let c: SendConversa;
  let relay: Scripted;
  beforeAll(async () => {
    relay = await startScriptedSmtp({ user: 'app-relay', pass: 'app relay secret' });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    c = await startSendConversa({
      appSmtp: {
        host: '127.0.0.1',
        port: relay.port,
        secure: false,
        auth: { user: 'app-relay', pass: 'app relay secret' },
      },
      // The DKIM settings as the environment gives them (src/mail/send/dkim.ts), passed to the relay's transport.
      dkim: loadDkimConfig({
        DKIM_DOMAIN: 'example.test',
        DKIM_SELECTOR: 'conversa',
        DKIM_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      }),
    });
  });
  afterAll(async () => {
    await c?.stop();
    await relay?.close();
  });

  it('sends through APP_SMTP_* with a DKIM signature, and still files the copy in the mailbox', async () => {
    const creds = await dovecot.addUser();
    const accountId = await connect(c, creds);
    // The relay sends only as a proven address: the code goes through the relay to the address, and back.
    expect((await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, { mode: 'app' })).body.error.code).toBe(
      'SENDER_NOT_VERIFIED',
    );
    expect((await c.api('POST', `/api/email-accounts/${accountId}/verify`, {})).status).toBe(202);
    const codeMail = relay.received.find((m) => m.rcptTo.includes(creds.user));
    const code = /code is: (\d{6})/.exec(codeMail!.raw.toString('utf8'))![1];
    expect((await c.api('POST', `/api/email-accounts/${accountId}/verify`, { code })).body.addressVerified).toBe(true);
    const put = await c.api('PUT', `/api/email-accounts/${accountId}/smtp`, { mode: 'app' });
    expect(put.status, put.text).toBe(200);
    expect(put.body).toEqual({ mode: 'app', host: '127.0.0.1', port: relay.port, secure: false, appAvailable: true });
    expect(put.text).not.toContain('app relay secret');

    const to = `${unique('app')}@buyer.test`;
    const res = await c.api('POST', '/api/messages', {
      accountId,
      to: [to],
      subject: unique('Via the relay'),
      text: 'Signed.',
    });
    expect(res.status, res.text).toBe(201);
    await waitStatus(
      c,
      res.body.id,
      (s) => s.sendStatus === 'sent' && s.sentFolder.status === 'appended',
      'the relayed message',
    );
    const arrived = relay.received.filter((m) => m.rcptTo.includes(to));
    expect(arrived).toHaveLength(1);
    expect(headerBlock(arrived[0]!.raw)).toMatch(/^DKIM-Signature:.*d=example\.test/ims);
    expect(headerBlock(arrived[0]!.raw)).toContain(`<${res.body.messageId}>`);
    expect(await sentCopies(creds, res.body.messageId)).toHaveLength(1);
  });
});

describe('the application relay settings (APP_SMTP_*)', () => {
  it('are read from the environment, with the usual port and TLS defaults', () => {
    expect(loadAppSmtpConfig({})).toBeNull();
    expect(loadAppSmtpConfig({ APP_SMTP_HOST: 'SMTP.Relay.test' })).toEqual({
      host: 'smtp.relay.test',
      port: 465,
      secure: true,
      auth: null,
    });
    expect(loadAppSmtpConfig({ APP_SMTP_HOST: 'relay.test', APP_SMTP_SECURE: 'false' })).toMatchObject({
      port: 587,
      secure: false,
    });
    expect(loadAppSmtpConfig({ APP_SMTP_HOST: 'relay.test', APP_SMTP_PORT: '587' })).toMatchObject({
      port: 587,
      secure: false,
    });
    expect(
      loadAppSmtpConfig({
        APP_SMTP_HOST: 'relay.test',
        APP_SMTP_PORT: '2525',
        APP_SMTP_SECURE: 'true',
        APP_SMTP_USER: 'u',
        APP_SMTP_PASSWORD: 'p',
      }),
    ).toEqual({
      host: 'relay.test',
      port: 2525,
      secure: true,
      auth: { user: 'u', pass: 'p' },
    });
    expect(() => loadAppSmtpConfig({ APP_SMTP_HOST: 'relay.test', APP_SMTP_USER: 'u' })).toThrow(ConfigError);
    expect(() => loadAppSmtpConfig({ APP_SMTP_HOST: 'relay.test', APP_SMTP_PORT: 'smtp' })).toThrow(/APP_SMTP_PORT/);
    expect(() => loadAppSmtpConfig({ APP_SMTP_HOST: 'relay.test', APP_SMTP_SECURE: 'maybe' })).toThrow(
      /APP_SMTP_SECURE/,
    );
  });
});
