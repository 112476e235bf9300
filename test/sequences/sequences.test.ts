// Sequences against the real Dovecot (submission relaying to the SMTP sink, IMAP sync) on SQLite and PostgreSQL.
// The server's own engine is stopped; the tests drive engines with a clock of their own (runDue / sweep), so waits
// of hours and days pass at once while mail really goes out and replies really come back through the sync.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSequenceEngine, type SequenceEngine } from '../../src/sequences/sequence-engine.js';
import { headerFields } from '../../src/sequences/auto-reply.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage, makeMessageId } from '../support/make-message.js';
import { useDovecot, type Credentials, type SinkMessage } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { addOrg } from '../support/org-rows.js';

const dovecot = useDovecot();
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const MINUTE = 60_000;
const DAY = 86_400_000;

function unique(prefix: string): string {
  return `${prefix}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

function header(m: SinkMessage, name: string): string | undefined {
  return headerFields(m.raw).get(name.toLowerCase())?.[0];
}

describe.each(DIALECTS)('sequences on %s', (dialect) => {
  let c: TestConversa;
  let database: TestDatabase;
  let owner: { id: string; token: string; email: string };
  let creds: Credentials;
  let accountId: string;
  let clock = Date.now();
  const engines: SequenceEngine[] = [];

  const engine = (extra: Parameters<typeof createSequenceEngine>[0] extends infer D ? Partial<D> : never = {}) => {
    const server = c.server;
    const e = createSequenceEngine({
      db: server.storage.db,
      blobs: server.blobs,
      bccDomain: 'bcc.localhost',
      publicUrl: c.url,
      outbox: { kick: () => server.background?.outbox.kick() },
      log: quiet,
      now: () => clock,
      ...extra,
    });
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startTestConversa({ LOG_LEVEL: 'warn' }, database, {
      outbox: { backoffBaseMs: 200, backoffMaxMs: 400, maxAttempts: 4, pollIntervalMs: 500, timeoutMs: 10_000 },
    });
    await c.server.background!.sequences.stop();
    owner = await c.addUser({ displayName: 'Sam Seller' });
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
    for (const e of engines) await e.stop();
    await c?.stop();
    await database?.destroy();
  });

  const contact = async (firstName: string | undefined, token = owner.token) => {
    const email = `${unique(firstName?.toLowerCase() ?? 'anon')}@buyer.test`;
    const res = await c.api('POST', '/api/contacts', { emails: [email], ...(firstName ? { firstName } : {}) }, token);
    expect(res.status, res.text).toBe(201);
    return { id: res.body.id as string, email };
  };
  const createSequence = async (body: Record<string, unknown>, token = owner.token) => {
    const res = await c.api('POST', '/api/sequences', { name: unique('seq'), accountId, ...body }, token);
    expect(res.status, res.text).toBe(201);
    return res.body;
  };
  const enroll = async (sequenceId: string, contactIds: string[], token = owner.token) => {
    const res = await c.api('POST', `/api/sequences/${sequenceId}/enrollments`, { contactIds }, token);
    expect(res.status, res.text).toBe(200);
    return res.body as { enrolled: number; skipped: Array<{ contactId: string; reason: string }> };
  };
  const enrollments = async (sequenceId: string) => {
    const res = await c.api('GET', `/api/sequences/${sequenceId}/enrollments`, undefined, owner.token);
    expect(res.status, res.text).toBe(200);
    return res.body.items as any[];
  };
  const of = async (sequenceId: string, contactId: string) =>
    (await enrollments(sequenceId)).find((e) => e.contactId === contactId);
  const stepCopy = (enrollmentId: string, step: number) =>
    dovecot.waitForSinkMessage((m) => (header(m, 'message-id') ?? '').includes(`seq.${enrollmentId}.${step}@`), 20_000);
  const stepCopies = async (enrollmentId: string, step: number) =>
    (await dovecot.sinkMessages()).filter((m) =>
      (header(m, 'message-id') ?? '').includes(`seq.${enrollmentId}.${step}@`),
    );
  const deliver = async (raw: string) => {
    await dovecot.appendAsDelivered(creds.user, Buffer.from(raw));
    await c.api('POST', `/api/email-accounts/${accountId}/sync`, undefined, owner.token);
  };

  it('stops at a reply, holds on an out-of-office, answers in the first thread, and counts', async () => {
    const ana = await contact('Ana');
    const bia = await contact('Bia');
    const caio = await contact('Caio');
    const subject = unique('Quick question');
    const seq = await createSequence({
      steps: [
        { type: 'email', waitMinutes: 0, subject, html: '<p>Hi {{contact.firstName | "there"}}, a question.</p>' },
        { type: 'email', waitMinutes: 60, html: '<p>Following up, {{contact.firstName}}.</p>', replyInThread: true },
      ],
    });
    expect(await enroll(seq.id, [ana.id, bia.id, caio.id])).toEqual({ enrolled: 3, skipped: [] });
    clock = Date.now() + 1000;
    const e = engine();
    expect(await e.runDue()).toBe(3);
    expect(await e.runDue()).toBe(0);
    const [ea, eb, ec] = [await of(seq.id, ana.id), await of(seq.id, bia.id), await of(seq.id, caio.id)];
    const first = await stepCopy(ea.id, 0);
    expect(header(first, 'subject')).toBe(subject);
    expect(header(first, 'list-unsubscribe')).toMatch(new RegExp(`^<${c.url}/u/[A-Za-z0-9_-]{22}>$`));
    expect(header(first, 'list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    expect(first.raw.toString()).toContain('Hi Ana, a question.');
    const caioFirst = await stepCopy(ec.id, 0);
    await stepCopy(eb.id, 0);
    // The sweep starts its cursor now (before the replies arrive).
    await e.sweep();

    // Ana answers; Bia's mailbox answers for her (out of office).
    await deliver(
      makeMessage({
        from: `Ana <${ana.email}>`,
        to: [creds.user],
        subject: `Re: ${subject}`,
        messageId: makeMessageId(),
        inReplyTo: header(first, 'message-id')!,
        body: 'Yes, tell me more.',
      }),
    );
    const ooo = makeMessage({
      from: `Bia <${bia.email}>`,
      to: [creds.user],
      subject: `Resposta automática: ${subject}`,
      messageId: makeMessageId(),
      body: 'Estou de férias até segunda.',
    }).replace(/^/, 'Auto-Submitted: auto-replied\r\n');
    await deliver(ooo);
    await waitFor(
      'the reply and the auto-reply to be found',
      async () => {
        await e.sweep();
        const [a, b] = [await of(seq.id, ana.id), await of(seq.id, bia.id)];
        return a.state === 'replied' && b.nextAt && Date.parse(b.nextAt) > clock + 2 * DAY;
      },
      30_000,
    );
    expect((await of(seq.id, bia.id)).state).toBe('active');

    // An hour later only Caio gets step 2, in the first thread.
    clock += 61 * MINUTE;
    expect(await e.runDue()).toBe(1);
    const followUp = await stepCopy(ec.id, 1);
    expect(header(followUp, 'subject')).toBe(`Re: ${subject}`);
    expect(header(followUp, 'in-reply-to')).toBe(header(caioFirst, 'message-id'));
    expect(header(followUp, 'references')).toContain(header(caioFirst, 'message-id')!);
    expect((await of(seq.id, caio.id)).state).toBe('finished');
    expect(await stepCopies(ea.id, 1)).toHaveLength(0);
    expect(await stepCopies(eb.id, 1)).toHaveLength(0);

    // Three days after the auto-reply Bia resumes.
    clock += 3 * DAY;
    expect(await e.runDue()).toBe(1);
    await stepCopy(eb.id, 1);
    expect((await of(seq.id, bia.id)).state).toBe('finished');
    expect((await of(seq.id, ana.id)).state).toBe('replied');

    const numbers = await c.api('GET', `/api/sequences/${seq.id}`, undefined, owner.token);
    expect(numbers.status, numbers.text).toBe(200);
    expect(numbers.body.stats).toMatchObject({ sent: 5, replied: 1, bounced: 0, unsubscribed: 0 });
    expect(numbers.body.stepStats[0]).toMatchObject({ index: 0, sent: 3, replied: 1, replyRate: 1 / 3 });
    expect(numbers.body.stepStats[1]).toMatchObject({ index: 1, sent: 2, replied: 0 });
    // The contact's timeline.
    const timeline = await c.api('GET', `/api/contacts/${caio.id}/enrollments`, undefined, owner.token);
    expect(timeline.status, timeline.text).toBe(200);
    expect(timeline.body.items).toHaveLength(1);
    expect(timeline.body.items[0]).toMatchObject({ sequenceId: seq.id, state: 'finished' });
    expect(timeline.body.items[0].steps.map((s: any) => Boolean(s.messageId && s.sentAt))).toEqual([true, true]);
  }, 120_000);

  it('one-click unsubscribe stops every sequence of the address and it is never enrolled again; forged tokens do nothing', async () => {
    const dora = await contact('Dora');
    const eli = await contact('Eli');
    const seq = await createSequence({
      steps: [
        { type: 'email', waitMinutes: 0, subject: unique('Hello'), html: '<p>Hi</p>' },
        { type: 'email', waitMinutes: 10, html: '<p>Again</p>', replyInThread: true },
      ],
    });
    await enroll(seq.id, [dora.id, eli.id]);
    clock = Date.now() + 1000;
    const e = engine();
    expect(await e.runDue()).toBe(2);
    const ed = await of(seq.id, dora.id);
    const ee = await of(seq.id, eli.id);
    const copy = await stepCopy(ed.id, 0);
    const url = /^<(.+)>$/.exec(header(copy, 'list-unsubscribe')!)![1]!;
    const path = new URL(url).pathname;

    // GET shows the page in the reader's language and changes nothing.
    const page = await fetch(url, { headers: { 'accept-language': 'pt-BR,pt;q=0.9,en;q=0.5' } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Cancelar inscrição');
    expect(html).not.toContain(dora.email);
    expect(html).not.toContain('<script');
    expect((await of(seq.id, dora.id)).state).toBe('active');

    // A forged token: the same answer, no effect.
    const forged = await fetch(`${c.url}/u/AAAAAAAAAAAAAAAAAAAAAA`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(forged.status).toBe(200);
    expect(await forged.text()).toContain('You will no longer receive these emails.');
    expect((await of(seq.id, dora.id)).state).toBe('active');
    expect((await of(seq.id, eli.id)).state).toBe('active');

    // The provider's one-click POST (RFC 8058): no cookie, no Origin.
    const done = await fetch(`${c.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(done.status).toBe(200);
    expect((await of(seq.id, dora.id)).state).toBe('unsubscribed');
    expect((await of(seq.id, eli.id)).state).toBe('active');
    clock += 11 * MINUTE;
    expect(await e.runDue()).toBe(1);
    await stepCopy(ee.id, 1);
    expect(await stepCopies(ed.id, 1)).toHaveLength(0);
    // Never again, in any sequence of the organisation (a colleague's too).
    const other = await createSequence({ steps: [{ type: 'email', waitMinutes: 0, subject: 'x', html: '<p>x</p>' }] });
    expect(await enroll(other.id, [dora.id])).toEqual({
      enrolled: 0,
      skipped: [{ contactId: dora.id, reason: 'unsubscribed' }],
    });
    expect((await c.api('GET', `/api/sequences/${seq.id}`, undefined, owner.token)).body.stats.unsubscribed).toBe(1);
  }, 120_000);

  it('a bounce of a step synced from the mailbox stops the enrollment and the address is not enrolled again', async () => {
    const fay = await contact('Fay');
    const seq = await createSequence({
      steps: [
        { type: 'email', waitMinutes: 0, subject: unique('Offer'), html: '<p>Hi</p>' },
        { type: 'email', waitMinutes: 10, html: '<p>Again</p>', replyInThread: true },
      ],
    });
    await enroll(seq.id, [fay.id]);
    clock = Date.now() + 1000;
    const e = engine();
    expect(await e.runDue()).toBe(1);
    const ef = await of(seq.id, fay.id);
    const copy = await stepCopy(ef.id, 0);
    const original = header(copy, 'message-id')!;
    const boundary = 'b' + Math.random().toString(36).slice(2);
    await deliver(
      [
        'From: Mail Delivery System <MAILER-DAEMON@mx.buyer.test>',
        `To: ${creds.user}`,
        'Subject: Undelivered Mail Returned to Sender',
        `Date: ${new Date().toUTCString()}`,
        `Message-ID: ${makeMessageId()}`,
        'Auto-Submitted: auto-replied',
        'MIME-Version: 1.0',
        `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
        '',
        `--${boundary}`,
        'Content-Type: text/plain',
        '',
        `Your message to ${fay.email} could not be delivered.`,
        `--${boundary}`,
        'Content-Type: message/delivery-status',
        '',
        'Reporting-MTA: dns; mx.buyer.test',
        '',
        `Final-Recipient: rfc822; ${fay.email}`,
        'Action: failed',
        'Status: 5.1.1',
        'Diagnostic-Code: smtp; 550 5.1.1 User unknown',
        `--${boundary}`,
        'Content-Type: text/rfc822-headers',
        '',
        `From: ${creds.user}`,
        `To: ${fay.email}`,
        'Subject: Offer',
        `Message-ID: ${original}`,
        `--${boundary}--`,
        '',
      ].join('\r\n'),
    );
    await waitFor(
      'the bounce to stop the enrollment',
      async () => {
        await e.sweep();
        return (await of(seq.id, fay.id)).state === 'bounced';
      },
      30_000,
    );
    clock += 11 * MINUTE;
    expect(await e.runDue()).toBe(0);
    expect(await stepCopies(ef.id, 1)).toHaveLength(0);
    const other = await createSequence({ steps: [{ type: 'email', waitMinutes: 0, subject: 'x', html: '<p>x</p>' }] });
    expect((await enroll(other.id, [fay.id])).skipped).toEqual([{ contactId: fay.id, reason: 'bounced' }]);
  }, 120_000);

  it('keeps to the send window and spreads the daily limit through it', async () => {
    const people = [await contact('G1'), await contact('G2'), await contact('G3')];
    // Mon–Fri 09:00–17:00 in São Paulo (UTC−3, no DST since 2019), two a day: one every 4 hours at most.
    const seq = await createSequence({
      steps: [{ type: 'email', waitMinutes: 0, subject: unique('Window'), html: '<p>Hi</p>' }],
      sendWindow: { timeZone: 'America/Sao_Paulo', days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00' },
      dailyLimit: 2,
    });
    await enroll(
      seq.id,
      people.map((p) => p.id),
    );
    // Saturday 2030-01-05 10:00 local: nothing leaves; all wait for Monday 09:00 local (12:00 UTC).
    clock = Date.parse('2030-01-05T13:00:00Z');
    const e = engine();
    expect(await e.runDue()).toBe(0);
    const monday = Date.parse('2030-01-07T12:00:00Z');
    for (const item of await enrollments(seq.id)) expect(Date.parse(item.nextAt)).toBe(monday);
    clock = monday;
    expect(await e.runDue()).toBe(1);
    // The second waits 4 hours (8 h window / 2), not a burst at nine.
    const waiting = (await enrollments(seq.id)).filter((i) => i.step === 0);
    expect(waiting).toHaveLength(2);
    for (const item of waiting) expect(Date.parse(item.nextAt)).toBe(monday + 4 * 60 * MINUTE);
    clock = monday + 4 * 60 * MINUTE;
    expect(await e.runDue()).toBe(1);
    // The limit of the day is reached: the third goes on Tuesday at nine.
    const last = (await enrollments(seq.id)).filter((i) => i.step === 0);
    expect(last).toHaveLength(1);
    expect(Date.parse(last[0].nextAt)).toBe(monday + DAY);
    clock = monday + DAY;
    expect(await e.runDue()).toBe(1);
    expect((await enrollments(seq.id)).every((i) => i.state === 'finished')).toBe(true);
  }, 120_000);

  it('sends each step exactly once with two engines, also when one is killed between queueing and recording', async () => {
    const people = [];
    for (let i = 0; i < 8; i++) people.push(await contact(`H${i}`));
    const seq = await createSequence({
      steps: [{ type: 'email', waitMinutes: 0, subject: unique('Once'), html: '<p>Once</p>' }],
    });
    await enroll(
      seq.id,
      people.map((p) => p.id),
    );
    clock = Date.now() + 1000;
    // The first engine dies right after queueing its first mail (the claim stays, unrecorded).
    let crashed = false;
    const dying = engine({
      crashAfterQueue: () => {
        if (crashed) return false;
        crashed = true;
        return true;
      },
      batchSize: 1,
    });
    const a = engine();
    const b = engine();
    await dying.runDue();
    await Promise.all([a.runDue(), b.runDue(), a.runDue(), b.runDue()]);
    const db = c.server.storage.db;
    const items = await enrollments(seq.id);
    // Seven recorded; the killed one's claim waits for its lease.
    expect(items.filter((i) => i.state === 'finished')).toHaveLength(7);
    clock += 3 * MINUTE;
    await Promise.all([a.runDue(), b.runDue()]);
    expect((await enrollments(seq.id)).every((i) => i.state === 'finished')).toBe(true);
    const sends = await db.selectFrom('sequence_sends').selectAll().where('sequence_id', '=', seq.id).execute();
    expect(sends).toHaveLength(8);
    expect(sends.every((s) => s.state === 'done' && s.message_id)).toBe(true);
    for (const item of items) {
      const stored = await db
        .selectFrom('messages')
        .select('id')
        .where('message_id_header', 'like', `seq.${item.id}.0@%`)
        .execute();
      expect(stored).toHaveLength(1);
      await stepCopy(item.id, 0);
    }
    // Everything has reached the sink once (the outbox's own guarantee beyond this point).
    for (const item of items) expect(await stepCopies(item.id, 0)).toHaveLength(1);
  }, 120_000);

  it('holds an enrollment whose merge field has no value instead of sending "Hi ,"', async () => {
    const nameless = await contact(undefined);
    const seq = await createSequence({
      steps: [{ type: 'email', waitMinutes: 0, subject: unique('Hi'), html: '<p>Hi {{contact.firstName}},</p>' }],
    });
    await enroll(seq.id, [nameless.id]);
    clock = Date.now() + 1000;
    expect(await engine().runDue()).toBe(0);
    expect(await of(seq.id, nameless.id)).toMatchObject({ state: 'paused', stopReason: 'merge-field-missing' });
  });

  it('refuses what is not yours: sequences, mailboxes, contacts of another organisation', async () => {
    const colleague = await c.addUser();
    const seq = await createSequence({ steps: [{ type: 'email', waitMinutes: 0, subject: 's', html: '<p>x</p>' }] });
    const mine = await contact('Ivo');
    for (const [method, path, body] of [
      ['GET', `/api/sequences/${seq.id}`, undefined],
      ['PATCH', `/api/sequences/${seq.id}`, { paused: true }],
      ['GET', `/api/sequences/${seq.id}/enrollments`, undefined],
      ['POST', `/api/sequences/${seq.id}/enrollments`, { contactIds: [mine.id] }],
    ] as const) {
      const res = await c.api(method, path, body, colleague.token);
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await c.api('GET', '/api/sequences', undefined, colleague.token)).body.items).toEqual([]);
    // A colleague cannot send from my mailbox.
    const theirs = await c.api(
      'POST',
      '/api/sequences',
      { name: 'x', accountId, steps: [{ type: 'email', waitMinutes: 0, subject: 's', html: '<p>x</p>' }] },
      colleague.token,
    );
    expect(theirs.status).toBe(404);
    // Another organisation's contact looks like no contact.
    const db = c.server.storage.db;
    const otherOrg = `ffffffff-ffff-7fff-8fff-${Date.now().toString(16).padStart(12, '0').slice(-12)}`;
    await addOrg(db, 'Elsewhere', otherOrg);
    const foreignId = '0190aaaa-0000-7000-8000-' + Date.now().toString(16).padStart(12, '0').slice(-12);
    await db
      .insertInto('contacts')
      .values({
        id: foreignId,
        org_id: otherOrg,
        first_name: 'Foreign',
        last_name: null,
        company: null,
        source: 'manual',
        search_text: 'foreign',
        created_at: Date.now(),
        updated_at: Date.now(),
      })
      .execute();
    expect(await enroll(seq.id, [foreignId])).toEqual({
      enrolled: 0,
      skipped: [{ contactId: foreignId, reason: 'not-found' }],
    });
    // In a colleague's active sequence: one sequence at a time per contact.
    expect((await enroll(seq.id, [mine.id])).enrolled).toBe(1);
    const colleagueCreds = await dovecot.addUser();
    const acc = await c.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, colleagueCreds),
      colleague.token,
    );
    expect(acc.status, acc.text).toBe(201);
    const theirSeq = await c.api(
      'POST',
      '/api/sequences',
      { name: 'y', accountId: acc.body.id, steps: [{ type: 'task', waitMinutes: 0, subject: 'Call' }] },
      colleague.token,
    );
    expect(theirSeq.status, theirSeq.text).toBe(201);
    expect(await enroll(theirSeq.body.id, [mine.id], colleague.token)).toEqual({
      enrolled: 0,
      skipped: [{ contactId: mine.id, reason: 'in-other-sequence' }],
    });
    expect((await enroll(seq.id, [mine.id])).skipped).toEqual([{ contactId: mine.id, reason: 'already-enrolled' }]);
  });
  it("stops at a booking on the owner's booking page, not on a colleague's", async () => {
    const gil = await contact('Gil');
    const hal = await contact('Hal');
    const seq = await createSequence({
      steps: [
        { type: 'email', waitMinutes: 0, subject: unique('Meet'), html: '<p>Book a slot</p>' },
        { type: 'email', waitMinutes: 10, html: '<p>Again</p>', replyInThread: true },
      ],
    });
    await enroll(seq.id, [gil.id, hal.id]);
    clock = Date.now() + 1000;
    const e = engine();
    await e.sweep();
    // (Steps of earlier tests' enrollments may be due too.)
    expect(await e.runDue()).toBeGreaterThanOrEqual(2);
    expect((await of(seq.id, gil.id)).step).toBe(1);
    const db = c.server.storage.db;
    const colleague = await c.addUser();
    const colleagueCreds = await dovecot.addUser();
    const acc = await c.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, colleagueCreds),
      colleague.token,
    );
    expect(acc.status, acc.text).toBe(201);
    const page = async (userId: string, account: string) => {
      const id = crypto.randomUUID();
      await db
        .insertInto('booking_pages')
        .values({
          id,
          org_id: (await db.selectFrom('users').select('org_id').where('id', '=', userId).executeTakeFirstOrThrow())
            .org_id,
          owner_user_id: userId,
          slug: unique('slug'),
          title: 'Call',
          duration_minutes: 30,
          account_id: account,
          time_zone: 'UTC',
          hours_json: '{}',
          buffer_minutes: 0,
          min_notice_minutes: 0,
          horizon_days: 60,
          team_account_ids_json: null,
          team_mode: null,
          active: 1,
          created_at: Date.now(),
          updated_at: Date.now(),
        })
        .execute();
      return id;
    };
    const book = async (pageId: string, account: string, email: string) =>
      db
        .insertInto('bookings')
        .values({
          id: crypto.randomUUID(),
          page_id: pageId,
          account_id: account,
          start_at: Date.now() + DAY,
          end_at: Date.now() + DAY + 30 * MINUTE,
          invitee_name: 'Someone',
          invitee_email: email.toUpperCase(),
          note: null,
          manage_token_hash: unique('hash'),
          state: 'confirmed',
          event_uid: unique('uid'),
          meeting_id: null,
          sequence: 0,
          locale: 'en',
          created_at: Date.now(),
          updated_at: Date.now(),
        })
        .execute();
    await book(await page(colleague.id, acc.body.id), acc.body.id, hal.email);
    await book(await page(owner.id, accountId), accountId, gil.email);
    await e.sweep();
    expect((await of(seq.id, gil.id)).state).toBe('booked');
    expect((await of(seq.id, hal.id)).state).toBe('active');
    expect((await c.api('GET', `/api/sequences/${seq.id}`, undefined, owner.token)).body.stats.booked).toBe(1);
  }, 60_000);

  it('sends nothing while paused and continues on resume; a task step makes a task for the owner', async () => {
    const ike = await contact('Ike');
    const seq = await createSequence({
      paused: true,
      steps: [
        { type: 'task', waitMinutes: 0, subject: 'Call Ike' },
        { type: 'email', waitMinutes: 0, subject: unique('After the call'), html: '<p>Nice talking</p>' },
      ],
    });
    await enroll(seq.id, [ike.id]);
    clock = Date.now() + 1000;
    const e = engine();
    expect(await e.runDue()).toBe(0);
    expect((await of(seq.id, ike.id)).step).toBe(0);
    const resumed = await c.api('PATCH', `/api/sequences/${seq.id}`, { paused: false }, owner.token);
    expect(resumed.status, resumed.text).toBe(200);
    expect(resumed.body.paused).toBe(false);
    await e.runDue();
    await e.runDue();
    const item = await of(seq.id, ike.id);
    expect(item.state).toBe('finished');
    await stepCopy(item.id, 1);
    const tasks = await c.server.storage.db.selectFrom('tasks').selectAll().where('contact_id', '=', ike.id).execute();
    expect(tasks).toMatchObject([{ user_id: owner.id, title: 'Call Ike' }]);
  }, 60_000);

  it('runs by itself in the background: an enrollment is mailed within seconds', async () => {
    const jo = await contact('Jo');
    const seq = await createSequence({
      steps: [{ type: 'email', waitMinutes: 0, subject: unique('Live'), html: '<p>Live</p>' }],
    });
    c.server.background!.sequences.start();
    await enroll(seq.id, [jo.id]);
    const item = await waitFor(
      'the live engine to run the step',
      async () => {
        const i = await of(seq.id, jo.id);
        return i.state === 'finished' ? i : undefined;
      },
      30_000,
    );
    await stepCopy(item.id, 0);
    await c.server.background!.sequences.stop();
  }, 60_000);

  it('limits requests to the unsubscribe page per client', async () => {
    let limited = 0;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${c.url}/u/${'A'.repeat(22)}`);
      await res.text();
      if (res.status === 429) limited++;
      else expect(res.status).toBe(200);
    }
    expect(limited).toBeGreaterThan(0);
  });
});
