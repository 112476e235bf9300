// Send later against the real Dovecot (submission relaying to the harness's SMTP sink): a scheduled message leaves
// after its time and not before, exactly once with two outbox workers on one database (each with its own
// connection), also when the worker that queued it is gone; it can be moved or cancelled until a worker takes it,
// and only by its sender.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { redateMessage } from '../../src/mail/send/compose-message.js';
import { createOutbox, type Outbox } from '../../src/mail/send/outbox.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { spawnConversa } from '../support/spawn-conversa.js';
import { useDovecot, type Credentials, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();

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

async function sinkCopies(messageId: string): Promise<SinkMessage[]> {
  return (await dovecot.sinkMessages()).filter((m) => isCopyOf(m, messageId));
}

async function connect(c: SendConversa, creds: Credentials, token?: string): Promise<string> {
  const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), token);
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function status(c: SendConversa, id: string, token?: string): Promise<any> {
  const res = await c.api('GET', `/api/messages/${id}/send-status`, undefined, token);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function waitSent(c: SendConversa, id: string, token?: string, timeoutMs = 30_000): Promise<any> {
  return waitFor(
    `message ${id} to be sent`,
    async () => {
      const s = await status(c, id, token);
      if (s.sendStatus === 'failed') throw new Error(`failed: ${s.sendError?.message}`);
      return s.sendStatus === 'sent' ? s : undefined;
    },
    timeoutMs,
  );
}

/** Waits until `at` has passed (plus a margin) without asserting anything about time itself. */
async function until(at: number, marginMs = 0): Promise<void> {
  const wait = at + marginMs - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
}

describe('re-dating a scheduled message', () => {
  const at = new Date(Date.UTC(2026, 11, 24, 9, 30, 5));
  it('replaces the top-level Date header only, folded or not, and leaves the body byte for byte', () => {
    const body = 'Date: in the body is text, not a header\r\n';
    const raw = Buffer.from(
      `From: a@x.test\r\nDate: Fri, 04 Dec 2026\r\n 21:30:20 +0000\r\nSubject: s\r\n\r\n${body}`,
      'latin1',
    );
    const out = redateMessage(raw, at).toString('latin1');
    expect(out).toBe(`From: a@x.test\r\nDate: Thu, 24 Dec 2026 09:30:05 +0000\r\nSubject: s\r\n\r\n${body}`);
  });
  it('adds a Date to a message without one', () => {
    const out = redateMessage(Buffer.from('Subject: s\r\n\r\nhi\r\n'), at).toString();
    expect(out).toBe('Date: Thu, 24 Dec 2026 09:30:05 +0000\r\nSubject: s\r\n\r\nhi\r\n');
  });
});

describe.each(DIALECTS)('send later on %s', (dialect) => {
  let c: SendConversa;
  let database: TestDatabase;
  // The sender: a member with a mailbox of their own (the first user of the server is an administrator).
  let owner: { id: string; token: string; email: string };
  let creds: Credentials;
  let accountId: string;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startSendConversa({ database });
    owner = await c.addUser();
    creds = await dovecot.addUser();
    accountId = await connect(c, creds, owner.token);
  });
  afterAll(async () => {
    await c?.stop();
    await database?.destroy();
  });

  const schedule = async (sendAt: number, extra: Record<string, unknown> = {}) => {
    const res = await c.api(
      'POST',
      '/api/messages',
      {
        accountId,
        to: [`${unique('client')}@buyer.test`],
        subject: unique('Later'),
        text: 'Sent at the right time.',
        sendAt: new Date(sendAt).toISOString(),
        ...extra,
      },
      owner.token,
    );
    expect(res.status, res.text).toBe(201);
    return res.body;
  };

  it('keeps a scheduled message until its time, then sends it once, dated when it left', async () => {
    // A contact receives it, so the sync fetches its copy in Sent later (smart mapping).
    const client = `${unique('client')}@buyer.test`;
    expect((await c.api('POST', '/api/contacts', { emails: [client] }, owner.token)).status).toBe(201);
    const sendAt = Date.now() + 4_000;
    const sent = await schedule(sendAt, { to: [client] });
    expect(sent).toMatchObject({ sendStatus: 'scheduled', sendAt: new Date(sendAt).toISOString() });
    // Stored in the CRM at once, shown among the sender's scheduled messages.
    expect((await c.api('GET', `/api/messages/${sent.id}`, undefined, owner.token)).status).toBe(200);
    const list = await c.api('GET', '/api/messages/scheduled', undefined, owner.token);
    expect(list.status, list.text).toBe(200);
    expect(list.body.items).toContainEqual(
      expect.objectContaining({ id: sent.id, accountId, sendAt: new Date(sendAt).toISOString() }),
    );
    expect((await status(c, sent.id, owner.token)).sendStatus).toBe('scheduled');
    // Before its time, nothing has reached the other side (checked until just before the time).
    while (Date.now() < sendAt - 500) {
      expect(await sinkCopies(sent.messageId)).toHaveLength(0);
      await new Promise((r) => setTimeout(r, 300));
    }

    const done = await waitSent(c, sent.id, owner.token);
    const [copy, ...more] = await waitFor('the copy in the sink', async () => {
      const copies = await sinkCopies(sent.messageId);
      return copies.length > 0 ? copies : undefined;
    });
    expect(more).toHaveLength(0);
    // Not before its time: the sink received it, and the outbox sent it, after sendAt.
    expect(Date.parse(copy!.receivedAt)).toBeGreaterThanOrEqual(sendAt);
    expect(Date.parse(done.sentAt)).toBeGreaterThanOrEqual(sendAt);
    // The Date header says when it left (to the second), and the CRM's copy says the same.
    const parsed = await parseMessage(copy!.raw);
    expect(parsed.date).not.toBeNull();
    expect(parsed.date!).toBeGreaterThanOrEqual(Math.floor(sendAt / 1000) * 1000);
    expect(parsed.date!).toBeLessThanOrEqual(Date.parse(done.sentAt));
    const stored = (await c.api('GET', `/api/messages/${sent.id}`, undefined, owner.token)).body;
    expect(Date.parse(stored.date)).toBe(parsed.date);
    // The Sent-folder copy is the same bytes, and no second delivery happens afterwards.
    await waitFor(
      'the Sent-folder copy',
      async () => (await status(c, sent.id, owner.token)).sentFolder.status === 'appended',
    );
    expect(await sinkCopies(sent.messageId)).toHaveLength(1);
    // The next sync meets the re-dated copy in Sent as the same message (same content, one more location).
    expect((await c.api('POST', `/api/email-accounts/${accountId}/sync`, undefined, owner.token)).status).toBe(202);
    const location = await waitFor(
      'the Sent copy as a location of the stored message',
      async () =>
        c.storage.db
          .selectFrom('message_locations')
          .innerJoin('mail_folders', 'mail_folders.id', 'message_locations.folder_id')
          .select(['mail_folders.role'])
          .where('message_locations.message_id', '=', sent.id)
          .executeTakeFirst(),
      30_000,
    );
    expect(location.role).toBe('sent');
    const copies = await c.storage.db
      .selectFrom('messages')
      .select('id')
      .where('message_id_header', '=', sent.messageId)
      .execute();
    expect(copies).toEqual([{ id: sent.id }]);
    const afterList = await c.api('GET', '/api/messages/scheduled', undefined, owner.token);
    expect(afterList.body.items.map((m: any) => m.id)).not.toContain(sent.id);
  }, 90_000);

  it('sends each scheduled message exactly once when two outbox workers share the database', async () => {
    // A second worker with a connection (pool) of its own, as another process would have.
    const second: Storage = openStorage({ dataDir: database.dataDir, databaseUrl: database.databaseUrl });
    const other: Outbox = createOutbox({ ...c.outboxDeps, db: second.db, pollIntervalMs: 100 });
    other.start();
    try {
      const sendAt = Date.now() + 3_000;
      const messages = [];
      for (let i = 0; i < 4; i++) messages.push(await schedule(sendAt));
      for (const m of messages) await waitSent(c, m.id, owner.token);
      // Both workers woke for the same instant; each message went out once, in one attempt.
      for (const m of messages) {
        await waitFor('the copy in the sink', async () => (await sinkCopies(m.messageId)).length > 0);
        expect(await sinkCopies(m.messageId)).toHaveLength(1);
        expect((await status(c, m.id, owner.token)).attempts).toBe(1);
      }
    } finally {
      await other.stop();
      await second.close();
    }
  });

  it('is sent once by another worker when the one that queued it is gone before its time', async () => {
    await c.stopOutbox();
    let restarted = false;
    try {
      const sendAt = Date.now() + 2_000;
      const sent = await schedule(sendAt);
      // Its time passes with no worker running: it waits, unsent.
      await until(sendAt, 1_500);
      expect((await status(c, sent.id, owner.token)).sendStatus).toBe('scheduled');
      expect(await sinkCopies(sent.messageId)).toHaveLength(0);
      // The next worker (a restart, or another process) finds it and sends it once.
      c.startOutbox();
      restarted = true;
      await waitSent(c, sent.id, owner.token);
      await waitFor('the copy in the sink', async () => (await sinkCopies(sent.messageId)).length > 0);
      expect(await sinkCopies(sent.messageId)).toHaveLength(1);
    } finally {
      if (!restarted) c.startOutbox();
    }
  });

  it('is sent once by another worker when the process that queued it is killed (SIGKILL) before its time', async () => {
    // Only the child process's outbox runs while the message is queued (needs `npx tsc -p tsconfig.build.json`).
    await c.stopOutbox();
    let restarted = false;
    const child = await spawnConversa({
      CONVERSA_DATA_DIR: database.dataDir,
      DATABASE_URL: database.databaseUrl ?? '',
      LOG_LEVEL: 'info',
    });
    try {
      const sendAt = Date.now() + 3_000;
      const res = await fetch(`${child.url}/api/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          accountId,
          to: [`${unique('client')}@buyer.test`],
          subject: unique('Killed'),
          text: 'Sent by whoever is alive.',
          sendAt: new Date(sendAt).toISOString(),
        }),
      });
      expect(res.status).toBe(201);
      const sent = (await res.json()) as { id: string; messageId: string; sendStatus: string };
      expect(sent.sendStatus).toBe('scheduled');
      // The process that queued it dies before the time: no shutdown code runs.
      await child.kill();
      await until(sendAt, 1_500);
      expect((await status(c, sent.id, owner.token)).sendStatus).toBe('scheduled');
      expect(await sinkCopies(sent.messageId)).toHaveLength(0);
      c.startOutbox();
      restarted = true;
      await waitSent(c, sent.id, owner.token);
      await waitFor('the copy in the sink', async () => (await sinkCopies(sent.messageId)).length > 0);
      expect(await sinkCopies(sent.messageId)).toHaveLength(1);
      expect((await status(c, sent.id, owner.token)).attempts).toBe(1);
    } finally {
      await child.kill().catch(() => undefined);
      if (!restarted) c.startOutbox();
    }
  }, 60_000);

  it('cancels a scheduled message before its time: 204, removed from the CRM, never sent', async () => {
    const sendAt = Date.now() + 2_500;
    const sent = await schedule(sendAt, { remindIfNoReplyDays: 3 });
    expect(sent.reminder).toBeDefined();
    const res = await c.api('DELETE', `/api/messages/${sent.id}`, undefined, owner.token);
    expect(res.status, res.text).toBe(204);
    expect((await c.api('GET', `/api/messages/${sent.id}`, undefined, owner.token)).status).toBe(404);
    expect(
      (await c.api('GET', '/api/messages/scheduled', undefined, owner.token)).body.items.map((m: any) => m.id),
    ).not.toContain(sent.id);
    // Its reminder went with it.
    const reminders = await c.api('GET', '/api/reminders?state=waiting,due,done,cancelled', undefined, owner.token);
    expect(reminders.body.items.map((r: any) => r.messageId)).not.toContain(sent.id);
    // A second cancel finds nothing.
    expect((await c.api('DELETE', `/api/messages/${sent.id}`, undefined, owner.token)).status).toBe(404);
    // Its time passes with the worker running: nothing leaves.
    await until(sendAt, 2_000);
    expect(await sinkCopies(sent.messageId)).toHaveLength(0);
    const rows = await c.storage.db.selectFrom('outbox').select('id').where('message_id', '=', sent.id).execute();
    expect(rows).toHaveLength(0);
  });

  it('answers 409 SEND_STARTED to a cancel or a move once the message was sent', async () => {
    const now = await c.api(
      'POST',
      '/api/messages',
      { accountId, to: [`${unique('client')}@buyer.test`], subject: unique('Now'), text: 'At once.' },
      owner.token,
    );
    expect(now.status, now.text).toBe(201);
    await waitSent(c, now.body.id, owner.token);
    const cancel = await c.api('DELETE', `/api/messages/${now.body.id}`, undefined, owner.token);
    expect(cancel.status, cancel.text).toBe(409);
    expect(cancel.body.error.code).toBe('SEND_STARTED');

    const later = await schedule(Date.now() + 1_500);
    await waitSent(c, later.id, owner.token);
    const late = await c.api('DELETE', `/api/messages/${later.id}`, undefined, owner.token);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('SEND_STARTED');
    const move = await c.api(
      'PATCH',
      `/api/messages/${later.id}/schedule`,
      { sendAt: new Date(Date.now() + 60_000).toISOString() },
      owner.token,
    );
    expect(move.status).toBe(409);
    expect(move.body.error.code).toBe('SEND_STARTED');
    // Still there, sent once.
    expect((await c.api('GET', `/api/messages/${later.id}`, undefined, owner.token)).status).toBe(200);
    expect(await sinkCopies(later.messageId)).toHaveLength(1);
  });

  it('moves a scheduled message to another time, and the reminder with it', async () => {
    const sent = await schedule(Date.now() + 10 * 60_000, { remindIfNoReplyDays: 2 });
    const sendAt = Date.now() + 2_000;
    const moved = await c.api(
      'PATCH',
      `/api/messages/${sent.id}/schedule`,
      { sendAt: new Date(sendAt).toISOString() },
      owner.token,
    );
    expect(moved.status, moved.text).toBe(200);
    expect(moved.body).toEqual({ id: sent.id, sendStatus: 'scheduled', sendAt: new Date(sendAt).toISOString() });
    const reminder = (await c.api('GET', '/api/reminders', undefined, owner.token)).body.items.find(
      (r: any) => r.messageId === sent.id,
    );
    expect(reminder).toMatchObject({ state: 'waiting', sentAt: null, days: 2 });
    expect(Date.parse(reminder.dueAt)).toBe(sendAt + 2 * 86_400_000);
    // The worker woke for the new time, not the old one.
    const done = await waitSent(c, sent.id, owner.token);
    expect(Date.parse(done.sentAt)).toBeGreaterThanOrEqual(sendAt);
    expect(await sinkCopies(sent.messageId)).toHaveLength(1);
  });

  it('refuses a time in the past or more than a year ahead, and stores nothing', async () => {
    const count = async () =>
      Number(
        (
          await c.storage.db
            .selectFrom('outbox')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await count();
    const past = await c.api(
      'POST',
      '/api/messages',
      {
        accountId,
        to: ['x@buyer.test'],
        subject: 'Past',
        text: '.',
        sendAt: new Date(Date.now() - 60_000).toISOString(),
      },
      owner.token,
    );
    expect(past.status, past.text).toBe(422);
    expect(past.body.error.code).toBe('SEND_AT_PAST');
    expect(past.body.error.fields).toEqual([expect.objectContaining({ path: 'body.sendAt' })]);
    const far = await c.api(
      'POST',
      '/api/messages',
      {
        accountId,
        to: ['x@buyer.test'],
        subject: 'Far',
        text: '.',
        sendAt: new Date(Date.now() + 400 * 86_400_000).toISOString(),
      },
      owner.token,
    );
    expect(far.status).toBe(422);
    expect(far.body.error.code).toBe('SEND_AT_TOO_FAR');
    const garbage = await c.api(
      'POST',
      '/api/messages',
      { accountId, to: ['x@buyer.test'], subject: 'Bad', text: '.', sendAt: 'tomorrow at nine' },
      owner.token,
    );
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.code).toBe('VALIDATION_FAILED');
    expect(await count()).toBe(before);

    const sent = await schedule(Date.now() + 10 * 60_000);
    const backwards = await c.api(
      'PATCH',
      `/api/messages/${sent.id}/schedule`,
      { sendAt: new Date(Date.now() - 1_000).toISOString() },
      owner.token,
    );
    expect(backwards.status).toBe(422);
    expect(backwards.body.error.code).toBe('SEND_AT_PAST');
    expect((await c.api('DELETE', `/api/messages/${sent.id}`, undefined, owner.token)).status).toBe(204);
  });

  it('lets nobody but the sender see, move or cancel a scheduled message (404, even for an administrator)', async () => {
    const sent = await schedule(Date.now() + 10 * 60_000);
    const colleague = await c.addUser();
    for (const token of [colleague.token, c.token]) {
      expect((await c.api('DELETE', `/api/messages/${sent.id}`, undefined, token)).status).toBe(404);
      const move = await c.api(
        'PATCH',
        `/api/messages/${sent.id}/schedule`,
        { sendAt: new Date(Date.now() + 60_000).toISOString() },
        token,
      );
      expect(move.status).toBe(404);
      const list = await c.api('GET', '/api/messages/scheduled', undefined, token);
      expect(list.status).toBe(200);
      expect(list.body.items.map((m: any) => m.id)).not.toContain(sent.id);
    }
    expect((await status(c, sent.id, owner.token)).sendStatus).toBe('scheduled');
    // A message that came in by sync (no outbox row) is not "cancelled" either.
    expect(
      (await c.api('DELETE', `/api/messages/00000000-0000-7000-8000-000000000000`, undefined, owner.token)).status,
    ).toBe(404);
    expect((await c.api('DELETE', `/api/messages/${sent.id}`, undefined, owner.token)).status).toBe(204);
  });
});
