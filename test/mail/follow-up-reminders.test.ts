// Follow-up reminders against the real Dovecot: a reply delivered to the mailbox and synced closes the reminder; the
// sender's own mail in the thread does not; without a reply it becomes due (the sweep's clock moved days ahead, and
// the read path on its own when the sweep is late); the user closes it; nobody else sees or closes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReminderSweeper, DAY_MS } from '../../src/mail/send/follow-up-reminders.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { useDovecot, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

function unique(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

describe.each(DIALECTS)('follow-up reminders on %s', (dialect) => {
  let c: SendConversa;
  let database: TestDatabase;
  let owner: { id: string; token: string; email: string };
  let creds: Credentials;
  let accountId: string;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startSendConversa({ database });
    owner = await c.addUser();
    creds = await dovecot.addUser();
    const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), owner.token);
    expect(res.status, res.text).toBe(201);
    accountId = res.body.id;
    await waitFor(
      'the first pass of the mailbox',
      async () =>
        (await c.api('GET', `/api/email-accounts/${accountId}`, undefined, owner.token)).body.status === 'active',
      30_000,
    );
  });
  afterAll(async () => {
    await c?.stop();
    await database?.destroy();
  });

  const send = async (body: Record<string, unknown>) => {
    const res = await c.api('POST', '/api/messages', { accountId, text: 'Any news?', ...body }, owner.token);
    expect(res.status, res.text).toBe(201);
    return res.body;
  };
  const waitSent = (id: string) =>
    waitFor(
      `message ${id} to be sent`,
      async () =>
        (await c.api('GET', `/api/messages/${id}/send-status`, undefined, owner.token)).body.sendStatus === 'sent',
      30_000,
    );
  const reminders = async (query = '', token = owner.token) => {
    const res = await c.api('GET', `/api/reminders${query}`, undefined, token);
    expect(res.status, res.text).toBe(200);
    return res.body.items as any[];
  };
  const reminderOf = async (messageId: string) =>
    (await reminders('?state=waiting,due,done,cancelled')).find((r) => r.messageId === messageId);

  it("is closed by a reply synced from the mailbox, not by the sender's own mail in the thread", async () => {
    const partner = `${unique('partner')}@buyer.test`;
    const contact = await c.api('POST', '/api/contacts', { emails: [partner] }, owner.token);
    expect(contact.status, contact.text).toBe(201);
    const subject = unique('Proposal');
    const sent = await send({ to: [partner], subject, remindIfNoReplyDays: 3 });
    expect(sent.reminder).toEqual({ id: expect.any(String), dueAt: expect.any(String) });
    await waitSent(sent.id);
    // Once it left, the reminder counts from then.
    const waiting = await waitFor('the departure on the reminder', async () => {
      const r = await reminderOf(sent.id);
      return r?.sentAt ? r : undefined;
    });
    expect(waiting).toMatchObject({
      id: sent.reminder.id,
      state: 'waiting',
      subject,
      threadId: sent.threadId,
      contactIds: [contact.body.id],
      days: 3,
    });
    expect(Date.parse(waiting.dueAt)).toBe(Date.parse(waiting.sentAt) + 3 * DAY_MS);

    // The sender's own follow-up in the thread (sent from the CRM, and its copy in Sent) is not a reply.
    const nudge = await send({ to: [partner], inReplyTo: sent.id, text: 'Just checking.' });
    await waitSent(nudge.id);
    expect((await c.api('POST', `/api/email-accounts/${accountId}/sync`, undefined, owner.token)).status).toBe(202);
    await c.api('GET', '/api/reminders', undefined, owner.token);
    expect((await reminderOf(sent.id)).state).toBe('waiting');

    // The partner answers: delivered to the mailbox, found by the sync, and the reminder is closed.
    const replyId = makeMessageId();
    await dovecot.appendAsDelivered(
      creds.user,
      Buffer.from(
        makeMessage({
          from: `Partner <${partner}>`,
          to: [creds.user],
          subject: `Re: ${subject}`,
          messageId: replyId,
          inReplyTo: `<${sent.messageId}>`,
          references: [`<${sent.messageId}>`],
          body: 'Yes, let us talk.',
        }),
      ),
    );
    await c.api('POST', `/api/email-accounts/${accountId}/sync`, undefined, owner.token);
    const closed = await waitFor(
      'the reply to close the reminder',
      async () => {
        const r = await reminderOf(sent.id);
        return r?.state === 'cancelled' ? r : undefined;
      },
      30_000,
    );
    expect(closed.reason).toBe('replied');
    const reply = await c.api('GET', `/api/messages/${closed.replyMessageId}`, undefined, owner.token);
    expect(reply.status).toBe(200);
    expect(reply.body.from.address).toBe(partner);
    expect(reply.body.threadId).toBe(sent.threadId);
    // Closed reminders are not in the default list (waiting and due).
    expect((await reminders()).map((r) => r.id)).not.toContain(sent.reminder.id);
  });

  it('becomes due without a reply, and the user marks it done', async () => {
    const sent = await send({
      to: [`${unique('quiet')}@buyer.test`],
      subject: unique('Quiet'),
      remindIfNoReplyDays: 1,
    });
    await waitSent(sent.id);
    await waitFor('the departure on the reminder', async () => (await reminderOf(sent.id))?.sentAt);
    // The sweep, its clock two days ahead, makes it due and names it for the live feed.
    const told: unknown[] = [];
    const sweeper = createReminderSweeper({
      db: c.storage.db,
      log: quiet,
      now: () => Date.now() + 2 * DAY_MS,
      onChanged: (changes) => told.push(...changes),
    });
    const changes = await sweeper.runOnce();
    expect(changes).toContainEqual({ id: sent.reminder.id, userId: owner.id, messageId: sent.id, state: 'due' });
    expect(told).toContainEqual(expect.objectContaining({ id: sent.reminder.id, state: 'due' }));
    // A second pass changes nothing.
    expect((await sweeper.runOnce()).map((x) => x.id)).not.toContain(sent.reminder.id);
    expect((await reminders()).find((r) => r.id === sent.reminder.id)).toMatchObject({ state: 'due' });
    expect((await reminders('?state=due')).map((r) => r.id)).toContain(sent.reminder.id);

    const done = await c.api('PATCH', `/api/reminders/${sent.reminder.id}`, { state: 'done' }, owner.token);
    expect(done.status, done.text).toBe(200);
    expect(done.body).toMatchObject({ id: sent.reminder.id, state: 'done', reason: 'user' });
    expect((await reminders()).map((r) => r.id)).not.toContain(sent.reminder.id);
    expect((await reminders('?state=done')).map((r) => r.id)).toContain(sent.reminder.id);
  });

  it('is shown due by the read path when the sweep is late', async () => {
    await c.stopReminders();
    const sent = await send({ to: [`${unique('late')}@buyer.test`], subject: unique('Late'), remindIfNoReplyDays: 1 });
    await waitSent(sent.id);
    await waitFor('the departure on the reminder', async () => (await reminderOf(sent.id))?.sentAt);
    // A day passes (moved back in the row: the server's clock is the real one); no sweep runs in this process.
    await c.storage.db
      .updateTable('follow_up_reminders')
      .set({ due_at: Date.now() - 1_000 })
      .where('id', '=', sent.reminder.id)
      .execute();
    expect((await reminders()).find((r) => r.id === sent.reminder.id)).toMatchObject({ state: 'due' });
  });

  it('counts from the time a scheduled message leaves', async () => {
    const sendAt = Date.now() + 60 * 60_000;
    const sent = await send({
      to: [`${unique('later')}@buyer.test`],
      subject: unique('Later'),
      sendAt: new Date(sendAt).toISOString(),
      remindIfNoReplyDays: 5,
    });
    expect(Date.parse(sent.reminder.dueAt)).toBe(sendAt + 5 * DAY_MS);
    // Not due while the message has not left, however late it is.
    await createReminderSweeper({ db: c.storage.db, log: quiet, now: () => Date.now() + 30 * DAY_MS }).runOnce();
    expect(await reminderOf(sent.id)).toMatchObject({ state: 'waiting', sentAt: null });
    expect((await c.api('DELETE', `/api/messages/${sent.id}`, undefined, owner.token)).status).toBe(204);
  });

  it("refuses bad day counts and filters, and keeps one user's reminders from another", async () => {
    for (const days of [0, 91, 1.5]) {
      const res = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: ['x@buyer.test'], subject: 'x', text: '.', remindIfNoReplyDays: days },
        owner.token,
      );
      expect(res.status, `${days} days`).toBe(400);
      expect(res.body.error.fields).toEqual([expect.objectContaining({ path: 'body.remindIfNoReplyDays' })]);
    }
    expect((await c.api('GET', '/api/reminders?state=overdue', undefined, owner.token)).status).toBe(400);

    const sent = await send({ to: [`${unique('mine')}@buyer.test`], subject: unique('Mine'), remindIfNoReplyDays: 2 });
    const colleague = await c.addUser();
    for (const token of [colleague.token, c.token]) {
      expect((await reminders('?state=waiting,due,done,cancelled', token)).map((r) => r.id)).not.toContain(
        sent.reminder.id,
      );
      const close = await c.api('PATCH', `/api/reminders/${sent.reminder.id}`, { state: 'done' }, token);
      expect(close.status).toBe(404);
    }
    expect((await reminderOf(sent.id)).state).toBe('waiting');
    const bad = await c.api('PATCH', `/api/reminders/${sent.reminder.id}`, { state: 'due' }, owner.token);
    expect(bad.status).toBe(400);
  });
});
