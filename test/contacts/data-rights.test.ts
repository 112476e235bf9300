// Data-subject rights (LGPD/GDPR, issue 19) end to end: a real Conversa server on SQLite and PostgreSQL, mail synced
// from the real Dovecot and filed through the real BCC listener; the export read through the API, the erasure checked
// in the database and in the blob store on disk, and the erased address sent again through sync and BCC.
import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erasedAddressHash } from '../../src/contacts/erased-addresses.js';
import { startBccListener, type BccListener } from '../../src/mail/dropbox/bcc-listener.js';
import { createDnsResolver } from '../../src/mail/send/dns-resolver.js';
import { newId } from '../../src/storage/ids.js';
import { BLOB_GRACE_MS, collectBlobs } from '../../src/storage/collect-blobs.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { makeMessage } from '../support/make-message.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { startDnsServer, type DnsServer } from '../servers/dns-server.js';
import { addOrg } from '../support/org-rows.js';

const dovecot = useDovecot();
const tag = () => randomBytes(4).toString('hex');

describe.each(DIALECTS)('data-subject rights on %s', (dialect) => {
  let database: TestDatabase;
  let conversa: TestConversa;
  let dns: DnsServer;
  let listener: BccListener;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({}, database);
    dns = await startDnsServer();
    const noop = () => undefined;
    listener = await startBccListener({
      db: conversa.server.storage.db,
      blobs: conversa.server.blobs,
      parse: conversa.server.parse,
      log: { info: noop, warn: noop, error: noop },
      host: '127.0.0.1',
      port: 0,
      domain: 'bcc.localhost',
      resolver: createDnsResolver({ servers: dns.servers, timeoutMs: 1_000, tries: 1 }),
      maxSize: 300_000,
      maxConnections: 10,
      closeTimeoutMs: 1_000,
    });
  });
  afterAll(async () => {
    await listener?.close();
    await dns?.stop();
    await conversa?.stop();
    await database?.destroy();
  });

  const db = () => conversa.server.storage.db;

  async function count(table: 'messages' | 'contacts', where?: [string, string]): Promise<number> {
    let q = db()
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'));
    if (where) q = q.where(where[0] as any, '=', where[1]);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  async function sync(accountId: string): Promise<void> {
    const res = await conversa.api('POST', `/api/email-accounts/${accountId}/sync`);
    expect(res.status, res.text).toBe(202);
  }

  async function contactId(email: string): Promise<string | undefined> {
    const res = await conversa.api('GET', `/api/contacts?email=${encodeURIComponent(email)}`);
    expect(res.status, res.text).toBe(200);
    return res.body.items[0]?.id;
  }

  async function mailOf(id: string): Promise<any[]> {
    const res = await conversa.api('GET', `/api/contacts/${id}/messages?limit=100`);
    expect(res.status, res.text).toBe(200);
    return res.body.items;
  }

  it('exports everything about a contact and erases it: rows, blob files, links; the address never comes back', async () => {
    // An administrator's mailbox, automatic creation on: the strongest test of "never comes back".
    expect((await conversa.api('PATCH', '/api/me/settings', { autoCreateContacts: true })).status).toBe(200);
    const creds = await dovecot.addUser();
    const acc = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(acc.status, acc.text).toBe(201);
    const account = { id: acc.body.id as string, email: creds.user, bcc: acc.body.bccAddress as string };

    const alice = `Alice.${tag()}@client.test`;
    const aliceLower = alice.toLowerCase();
    const bob = `bob-${tag()}@partner.test`;
    const aliceId = (await conversa.api('POST', '/api/contacts', { firstName: 'Alice', emails: [alice] })).body.id;
    const bobId = (await conversa.api('POST', '/api/contacts', { firstName: 'Bob', emails: [bob] })).body.id;
    expect(aliceId && bobId).toBeTruthy();

    const attachmentBytes = Buffer.from(`contract for alice ${tag()} ${'x'.repeat(500)}`);
    await dovecot.appendAsDelivered(
      account.email,
      makeMessage({
        from: `Alice <${alice}>`,
        to: [account.email],
        subject: 'Private matter',
        body: 'Alice private text: my health record number is 12345.',
        attachment: { filename: 'contract.pdf', contentType: 'application/pdf', content: attachmentBytes },
      }),
    );
    await dovecot.appendAsDelivered(
      account.email,
      makeMessage({
        from: `Alice <${alice}>`,
        to: [account.email],
        cc: [bob],
        subject: 'Project with Bob',
        body: 'Shared project notes for everyone.',
      }),
    );
    await sync(account.id);
    const aliceMail = await waitFor('both messages on Alice', async () => {
      const items = await mailOf(aliceId);
      return items.length === 2 ? items : undefined;
    });
    const privateMsg = aliceMail.find((m) => m.subject === 'Private matter')!;
    const sharedMsg = aliceMail.find((m) => m.subject === 'Project with Bob')!;

    // Fixtures the sync does not make: a tracking event, a meeting, a sequence enrollment.
    const now = Date.now();
    const me = await db()
      .selectFrom('users')
      .select(['id', 'org_id'])
      .where('id', '=', (await conversa.api('GET', '/api/me')).body.id)
      .executeTakeFirstOrThrow();
    await db()
      .insertInto('tracked_messages')
      .values({
        message_id: privateMsg.id,
        org_id: me.org_id,
        user_id: me.id,
        token: `t${tag()}${tag()}`,
        opens: 1,
        clicks: 0,
        sent_at: now,
        created_at: now,
      })
      .execute();
    await db()
      .insertInto('tracking_events')
      .values({
        id: newId(now),
        message_id: privateMsg.id,
        org_id: me.org_id,
        type: 'open',
        at: now,
        automated: 0,
        reason: null,
        link_position: null,
        agent: null,
      })
      .execute();
    const meetingId = newId(now);
    await db()
      .insertInto('meetings')
      .values({
        id: meetingId,
        org_id: me.org_id,
        account_id: null,
        calendar_id: null,
        uid: `m-${tag()}`,
        recurrence_id: '',
        href: null,
        etag: null,
        title: 'Call with Alice',
        description: null,
        location: null,
        start_at: now,
        end_at: now + 3_600_000,
        all_day: 0,
        status: null,
        organizer_address: account.email,
        organizer_name: null,
        raw_ics: null,
        deleted_at: null,
        created_at: now,
        updated_at: now,
      } as any)
      .execute();
    await db().insertInto('meeting_contacts').values({ meeting_id: meetingId, contact_id: aliceId }).execute();
    const sequenceId = newId(now);
    await db()
      .insertInto('sequences')
      .values({
        id: sequenceId,
        org_id: me.org_id,
        owner_user_id: me.id,
        account_id: account.id,
        name: 'Onboarding',
        steps_json: '[]',
        send_window_json: null,
        daily_limit: null,
        paused: 1,
        created_at: now,
        updated_at: now,
      })
      .execute();
    await db()
      .insertInto('sequence_enrollments')
      .values({
        id: newId(now),
        sequence_id: sequenceId,
        org_id: me.org_id,
        contact_id: aliceId,
        address: aliceLower,
        state: 'paused',
        step: 0,
        next_at: null,
        waiting_until: null,
        last_auto_reply_id: null,
        thread_message_id: null,
        enrolled_at: now,
        stopped_at: null,
        stop_reason: null,
        updated_at: now,
      })
      .execute();

    // Members may neither export nor erase (the organisation answers such requests): 403.
    const member = await conversa.addUser();
    expect((await conversa.api('GET', `/api/contacts/${aliceId}/export`, undefined, member.token)).status).toBe(403);
    expect((await conversa.api('POST', `/api/contacts/${aliceId}/erase`, undefined, member.token)).status).toBe(403);

    const exported = await conversa.api('GET', `/api/contacts/${aliceId}/export`);
    expect(exported.status, exported.text).toBe(200);
    expect(exported.body.contact.emails).toEqual([aliceLower]);
    const exportedPrivate = exported.body.messages.find((m: any) => m.subject === 'Private matter');
    expect(exportedPrivate.textBody).toContain('my health record number is 12345');
    expect(exportedPrivate.attachments).toEqual([
      { filename: 'contract.pdf', contentType: 'application/pdf', size: attachmentBytes.length },
    ]);
    expect(exportedPrivate.trackingEvents).toMatchObject([{ type: 'open', automated: false }]);
    expect(exported.body.meetings).toMatchObject([{ title: 'Call with Alice' }]);
    expect(exported.body.sequenceEnrollments).toMatchObject([{ sequence: 'Onboarding', address: aliceLower }]);
    expect(JSON.stringify(exported.body)).not.toContain(attachmentBytes.toString('base64').slice(0, 40));

    // The blobs the private message uses, on disk before the erasure.
    const privateBlobs = [
      ...(
        await db().selectFrom('attachments').select('blob_sha256').where('message_id', '=', privateMsg.id).execute()
      ).map((r) => r.blob_sha256),
      ...(await db().selectFrom('messages').select('raw_blob_sha256').where('id', '=', privateMsg.id).execute())
        .map((r) => r.raw_blob_sha256)
        .filter((s): s is string => s !== null),
    ];
    expect(privateBlobs.length).toBeGreaterThanOrEqual(1);
    for (const sha of privateBlobs) expect(await conversa.server.blobs.has(sha)).toBe(true);

    const erased = await conversa.api('POST', `/api/contacts/${aliceId}/erase`);
    expect(erased.status, erased.text).toBe(202);
    expect(erased.body).toMatchObject({
      addresses: 1,
      messagesDeleted: 1,
      messagesUnlinked: 1,
      meetingsDeleted: 1,
      enrollments: 1,
    });

    // Gone from the API at once, and from the database.
    expect((await conversa.api('GET', `/api/contacts/${aliceId}`)).status).toBe(404);
    expect(await contactId(alice)).toBeUndefined();
    expect(await count('contacts', ['id', aliceId])).toBe(0);
    expect(await db().selectFrom('contact_addresses').select('id').where('contact_id', '=', aliceId).execute()).toEqual(
      [],
    );
    const privateThread = privateMsg.threadId as string;
    expect(privateThread).toBeTruthy();
    expect(await count('messages', ['id', privateMsg.id])).toBe(0);
    expect(await db().selectFrom('threads').select('id').where('id', '=', privateThread).execute()).toEqual([]);
    for (const table of ['message_participants', 'message_locations', 'message_holders', 'attachments'] as const) {
      expect(
        await db().selectFrom(table).select('message_id').where('message_id', '=', privateMsg.id).execute(),
      ).toEqual([]);
    }
    expect(
      await db().selectFrom('tracking_events').select('id').where('message_id', '=', privateMsg.id).execute(),
    ).toEqual([]);
    expect(await db().selectFrom('meetings').select('id').where('id', '=', meetingId).execute()).toEqual([]);
    expect(
      await db().selectFrom('sequence_enrollments').select('id').where('contact_id', '=', aliceId).execute(),
    ).toEqual([]);
    // The blobs were written moments ago: within the grace period (an intake may be about to name the same bytes)
    // they stay; the next collection after it takes them (here: its clock moved past the grace period).
    for (const sha of privateBlobs) expect(await conversa.server.blobs.has(sha)).toBe(true);
    const collected = await collectBlobs(db(), conversa.server.blobs, { now: Date.now() + BLOB_GRACE_MS + 60_000 });
    expect(collected.removed).toBeGreaterThanOrEqual(privateBlobs.length);
    const kept = await db().selectFrom('messages').select('raw_blob_sha256').where('id', '=', sharedMsg.id).execute();
    expect(kept[0]?.raw_blob_sha256).toBeTruthy();
    expect(await conversa.server.blobs.has(kept[0]!.raw_blob_sha256!)).toBe(true);
    for (const sha of privateBlobs) {
      expect(await conversa.server.blobs.has(sha)).toBe(false);
      expect(await db().selectFrom('blobs').select('sha256').where('sha256', '=', sha).execute()).toEqual([]);
    }
    // Only the hash of the address remains.
    expect(
      await db().selectFrom('erased_addresses').select(['address_hash']).where('org_id', '=', me.org_id).execute(),
    ).toEqual([{ address_hash: erasedAddressHash(alice) }]);

    // The shared message stays for Bob with its content, without Alice's link or address.
    const bobMail = await mailOf(bobId);
    expect(bobMail.map((m) => m.id)).toEqual([sharedMsg.id]);
    expect(bobMail[0].contactIds).toEqual([bobId]);
    const detail = await conversa.api('GET', `/api/messages/${sharedMsg.id}`);
    expect(detail.body.text).toContain('Shared project notes for everyone.');
    const participants = await db()
      .selectFrom('message_participants')
      .select('address')
      .where('message_id', '=', sharedMsg.id)
      .execute();
    expect(participants.map((p) => p.address)).not.toContain(aliceLower);
    expect(participants.some((p) => p.address.endsWith('@erased.invalid'))).toBe(true);

    // Both actions in the audit log, with counts only.
    const audit = await db()
      .selectFrom('audit_log')
      .select(['action', 'actor_id', 'target', 'details_json'])
      .where('target', '=', `contact:${aliceId}`)
      .orderBy('at')
      .execute();
    expect(audit.map((a) => a.action)).toEqual(['contact.exported', 'contact.erased']);
    expect(audit.every((a) => a.actor_id === me.id)).toBe(true);
    expect(audit.map((a) => a.details_json).join(' ')).not.toMatch(/alice|health|Private/i);

    // New mail from the erased address (and with only own addresses besides) is not stored and makes no contact;
    // a later mail from someone new is, which shows the sync pass ran.
    const messagesBefore = await count('messages');
    await dovecot.appendAsDelivered(
      account.email,
      makeMessage({ from: `Alice <${alice}>`, to: [account.email], subject: 'I am back', body: 'Hello again.' }),
    );
    // Sent mail to the erased address only: automatic creation (on) would make a contact of it; it must not.
    await dovecot.appendAsDelivered(
      account.email,
      makeMessage({ from: account.email, to: [alice], subject: 'Sent to Alice again', body: 'Are you there?' }),
      { folder: 'Sent' },
    );
    // Markers appended after them in both folders show the pass ran: Bob's mail, and sent mail to someone new.
    await dovecot.appendAsDelivered(
      account.email,
      makeMessage({ from: bob, to: [account.email], subject: 'Marker from Bob', body: 'A later mail.' }),
    );
    const carol = `carol-${tag()}@newcomer.test`;
    await dovecot.appendAsDelivered(
      account.email,
      makeMessage({ from: account.email, to: [carol], subject: 'Marker to Carol', body: 'A later mail.' }),
      { folder: 'Sent' },
    );
    await sync(account.id);
    const carolId = await waitFor("the marker recipient as a contact with her mail, and Bob's marker", async () => {
      const id = await contactId(carol);
      return id && (await mailOf(id)).length === 1 && (await mailOf(bobId)).length === 2 ? id : undefined;
    });
    expect(carolId).toBeTruthy();
    expect(await count('messages')).toBe(messagesBefore + 2);
    expect(await contactId(alice)).toBeUndefined();
    for (const subject of ['I am back', 'Sent to Alice again'])
      expect(await db().selectFrom('messages').select('id').where('subject', '=', subject).execute()).toEqual([]);

    // Nor through the BCC address.
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port: listener.port,
      secure: false,
      ignoreTLS: true,
    });
    try {
      const info = await transport.sendMail({
        envelope: { from: account.email, to: [account.bcc] },
        raw: makeMessage({ from: account.email, to: [alice], subject: 'BCC to Alice', body: 'Filed?' }),
      });
      expect(info.response).toMatch(/not filed: its other addresses belong to contacts erased on request/);
    } finally {
      transport.close();
    }
    expect(await count('messages')).toBe(messagesBefore + 2);
    expect(await contactId(alice)).toBeUndefined();

    // People cannot bring the address back either: refused with a code, by hand and by CSV.
    const manual = await conversa.api('POST', '/api/contacts', { emails: [alice.toUpperCase()] });
    expect(manual.status, manual.text).toBe(409);
    expect(manual.body.error.code).toBe('CONTACT_ADDRESS_ERASED');
    const patch = await conversa.api('PATCH', `/api/contacts/${bobId}`, { emails: [bob, alice] });
    expect(patch.status).toBe(409);
    const csv = await fetch(`${conversa.url}/api/contacts/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${conversa.token}`, 'content-type': 'text/csv' },
      body: `firstName,email\nAlice,${alice}\nDan,dan-${tag()}@ok.test\n`,
    });
    const csvBody = (await csv.json()) as any;
    expect(csv.status).toBe(200);
    expect(csvBody).toMatchObject({ created: 1, errors: [{ line: 2, code: 'IMPORT_EMAIL_ERASED' }] });
    expect(await contactId(alice)).toBeUndefined();
  });

  it("answers 404 for another organisation's contact and for a missing one, erasing nothing", async () => {
    const now = Date.now();
    const orgId = newId(now);
    await addOrg(db(), 'Other', orgId);
    const otherContact = newId(now);
    await db()
      .insertInto('contacts')
      .values({
        id: otherContact,
        org_id: orgId,
        first_name: 'Eve',
        last_name: null,
        company: null,
        source: 'manual',
        search_text: 'eve',
        created_at: now,
        updated_at: now,
      })
      .execute();
    expect((await conversa.api('GET', `/api/contacts/${otherContact}/export`)).status).toBe(404);
    expect((await conversa.api('POST', `/api/contacts/${otherContact}/erase`)).status).toBe(404);
    expect((await conversa.api('POST', `/api/contacts/${newId(now)}/erase`)).status).toBe(404);
    expect(await count('contacts', ['id', otherContact])).toBe(1);
  });
});
