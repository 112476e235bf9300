// Templates through the real server on SQLite and PostgreSQL (issue 15): personal and shared visibility between an
// administrator, a member and another organisation; sanitising on save; previews against a contact; and
// POST /api/messages with templateId + contactId composing the merged subject and HTML that reach the SMTP sink
// (real Dovecot), while a field without value or fallback refuses the message with nothing stored or queued.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiToken } from '../../src/users/users.js';
import { newId } from '../../src/storage/ids.js';
import { hashPassword } from '../../src/users/passwords.js';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { startSendConversa, type SendConversa } from '../support/send-conversa.js';
import { useDovecot, type SinkMessage } from '../support/servers.js';
import { addOrg } from '../support/org-rows.js';

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

describe.each(DIALECTS)('templates on %s', (dialect) => {
  let c: SendConversa;
  let database: TestDatabase;
  let member: { id: string; token: string; email: string };
  let colleague: { id: string; token: string; email: string };
  let outsider: string;

  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    c = await startSendConversa({ database });
    member = await c.addUser({ displayName: 'Bruno Member' });
    colleague = await c.addUser();
    // A user of another organisation on the same install (the schema allows several).
    const db = c.storage.db;
    const now = Date.now();
    const orgId = newId(now);
    await addOrg(db, 'Other', orgId);
    const outsiderId = newId(now);
    await db
      .insertInto('users')
      .values({
        id: outsiderId,
        org_id: orgId,
        email: `${unique('outsider')}@other.test`,
        display_name: null,
        password_hash: await hashPassword('outsider password'),
        is_admin: 1,
        created_at: now,
        updated_at: now,
      })
      .execute();
    outsider = await createApiToken(db, outsiderId);
  });
  afterAll(async () => {
    await c?.stop();
    await database?.destroy();
  });

  async function create(body: Record<string, unknown>, token?: string) {
    const res = await c.api('POST', '/api/templates', { subject: 'S', html: '<p>x</p>', ...body }, token);
    expect(res.status, res.text).toBe(201);
    return res.body;
  }

  it('keeps personal templates to their owner and shared ones to the organisation, managed by admins', async () => {
    const mine = await create({ name: unique('Member personal') }, member.token);
    expect(mine).toMatchObject({ shared: false, editable: true, ownerUserId: member.id });
    const shared = await create({ name: unique('Team intro'), shared: true });
    expect(shared).toMatchObject({ shared: true, editable: true });

    // The member sees their own and the shared one; the colleague only the shared one.
    const memberList = (await c.api('GET', '/api/templates', undefined, member.token)).body.items;
    expect(memberList.map((t: any) => t.id)).toEqual(expect.arrayContaining([mine.id, shared.id]));
    expect(memberList.find((t: any) => t.id === shared.id).editable).toBe(false);
    const colleagueList = (await c.api('GET', '/api/templates', undefined, colleague.token)).body.items;
    expect(colleagueList.map((t: any) => t.id)).toContain(shared.id);
    expect(colleagueList.map((t: any) => t.id)).not.toContain(mine.id);

    // Another's personal template: 404 on every route, never 403 (its existence is not revealed).
    for (const [method, path, body] of [
      ['GET', `/api/templates/${mine.id}`, undefined],
      ['PATCH', `/api/templates/${mine.id}`, { name: 'taken' }],
      ['DELETE', `/api/templates/${mine.id}`, undefined],
      ['POST', `/api/templates/${mine.id}/render`, {}],
    ] as const) {
      const res = await c.api(method, path, body, colleague.token);
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(404);
    }
    // Also for an administrator: personal means personal.
    expect((await c.api('GET', `/api/templates/${mine.id}`)).status).toBe(404);

    // A member reads a shared template but cannot change or remove it, nor share one of their own.
    expect((await c.api('GET', `/api/templates/${shared.id}`, undefined, member.token)).status).toBe(200);
    const patch = await c.api('PATCH', `/api/templates/${shared.id}`, { name: 'mine now' }, member.token);
    expect(patch.status, patch.text).toBe(403);
    expect(patch.body.error.code).toBe('FORBIDDEN');
    expect((await c.api('DELETE', `/api/templates/${shared.id}`, undefined, member.token)).status).toBe(403);
    const share = await c.api('PATCH', `/api/templates/${mine.id}`, { shared: true }, member.token);
    expect(share.status, share.text).toBe(403);
    const createShared = await c.api(
      'POST',
      '/api/templates',
      { name: 'x', subject: '', html: '', shared: true },
      member.token,
    );
    expect(createShared.status).toBe(403);
    expect((await c.api('GET', `/api/templates/${shared.id}`)).body.name).toBe(shared.name);

    // The owner changes their own; the admin changes and removes the shared one.
    const renamed = await c.api(
      'PATCH',
      `/api/templates/${mine.id}`,
      { name: 'Renamed', subject: 'New' },
      member.token,
    );
    expect(renamed.status, renamed.text).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Renamed', subject: 'New', html: '<p>x</p>', shared: false });
    expect((await c.api('PATCH', `/api/templates/${shared.id}`, { html: '<p>v2</p>' })).body.html).toBe('<p>v2</p>');
    expect((await c.api('DELETE', `/api/templates/${shared.id}`)).status).toBe(204);
    expect((await c.api('GET', `/api/templates/${shared.id}`, undefined, member.token)).status).toBe(404);
    expect((await c.api('DELETE', `/api/templates/${mine.id}`, undefined, member.token)).status).toBe(204);
  });

  it("never shows another organisation's templates, shared or not", async () => {
    const shared = await create({ name: unique('Org shared'), shared: true });
    const theirs = await c.api(
      'POST',
      '/api/templates',
      { name: 'Theirs', subject: '', html: '', shared: true },
      outsider,
    );
    expect(theirs.status, theirs.text).toBe(201);
    expect((await c.api('GET', `/api/templates/${shared.id}`, undefined, outsider)).status).toBe(404);
    expect((await c.api('PATCH', `/api/templates/${shared.id}`, { name: 'x' }, outsider)).status).toBe(404);
    expect((await c.api('DELETE', `/api/templates/${shared.id}`, undefined, outsider)).status).toBe(404);
    const list = (await c.api('GET', '/api/templates', undefined, outsider)).body.items.map((t: any) => t.id);
    expect(list).toEqual([theirs.body.id]);
    expect((await c.api('GET', `/api/templates/${theirs.body.id}`)).status).toBe(404);
    // A contact of this organisation cannot be previewed from the other one either.
    const contact = await c.api('POST', '/api/contacts', { firstName: 'Hidden', emails: [`${unique('h')}@x.test`] });
    const preview = await c.api('POST', '/api/templates/render', { html: 'x', contactId: contact.body.id }, outsider);
    expect(preview.status).toBe(404);
  });

  it('sanitises the HTML on save, refuses unknown fields and oversized parts', async () => {
    const saved = await create({
      name: unique('Hostile'),
      html: '<p onclick="steal()">Hi {{contact.firstName | "there"}}</p><script>alert(1)</script><img src="https://cdn.example.com/logo.png"><a href="javascript:alert(1)">x</a><iframe src="https://evil.test"></iframe>',
    });
    expect(saved.html).toBe(
      '<p>Hi {{contact.firstName | "there"}}</p><img src="https://cdn.example.com/logo.png" /><a>x</a>',
    );
    const patched = await c.api('PATCH', `/api/templates/${saved.id}`, { html: '<b>ok</b><script>x()</script>' });
    expect(patched.body.html).toBe('<b>ok</b>');

    const unknown = await c.api('POST', '/api/templates', { name: 'x', subject: 'For {{contact.password}}', html: '' });
    expect(unknown.status, unknown.text).toBe(422);
    expect(unknown.body.error.code).toBe('MERGE_FIELD_UNKNOWN');
    expect(unknown.body.error.message).toContain('contact.password');

    const tooBig = await c.api('POST', '/api/templates', { name: 'x', subject: '', html: 'é'.repeat(300 * 1024) });
    expect(tooBig.status).toBe(400);
    expect((await c.api('POST', '/api/templates', { name: 'n'.repeat(201), subject: '', html: '' })).status).toBe(400);
    expect((await c.api('POST', '/api/templates', { name: 'x', subject: 's'.repeat(999), html: '' })).status).toBe(400);
    expect((await c.api('POST', '/api/templates', { name: 'x', subject: 'a\r\nBcc: x@y.z', html: '' })).status).toBe(
      400,
    );
    expect((await c.api('POST', '/api/templates', { name: '  ', subject: '', html: '' })).status).toBe(400);
    expect((await c.api('GET', '/api/templates/not-a-uuid')).status).toBe(400);
  });

  it('stops a user at 500 templates', async () => {
    const heavy = await c.addUser();
    const db = c.storage.db;
    const orgId = (await db.selectFrom('users').select('org_id').where('id', '=', heavy.id).executeTakeFirstOrThrow())
      .org_id;
    const now = Date.now();
    const rows = Array.from({ length: 500 }, (_, i) => ({
      id: newId(now + i),
      org_id: orgId,
      owner_user_id: heavy.id,
      shared: 0,
      name: `t${i}`,
      subject: '',
      html: '',
      created_at: now,
      updated_at: now,
    }));
    for (let i = 0; i < rows.length; i += 100)
      await db
        .insertInto('templates')
        .values(rows.slice(i, i + 100))
        .execute();
    const refused = await c.api('POST', '/api/templates', { name: 'one more', subject: '', html: '' }, heavy.token);
    expect(refused.status, refused.text).toBe(409);
    expect(refused.body.error.code).toBe('CONFLICT');
  });

  it('previews a template against a chosen contact, escaping its values and listing missing fields', async () => {
    const contact = await c.api('POST', '/api/contacts', {
      firstName: 'Ana',
      lastName: '<b>Souza</b>',
      emails: [`${unique('ana')}@buyer.test`],
    });
    expect(contact.status, contact.text).toBe(201);
    const template = await create(
      {
        name: unique('Preview'),
        subject: 'Hi {{contact.firstName}} from {{user.name}}',
        html: '<p>Dear {{contact.firstName}} {{contact.lastName}} at {{contact.company}}, {{contact.company | "your team"}}</p>',
      },
      member.token,
    );
    const res = await c.api(
      'POST',
      `/api/templates/${template.id}/render`,
      { contactId: contact.body.id },
      member.token,
    );
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      subject: 'Hi Ana from Bruno Member',
      html: '<p>Dear Ana &lt;b&gt;Souza&lt;/b&gt; at {{contact.company}}, your team</p>',
      missing: ['contact.company'],
    });
    // Without a contact: only fallbacks and the writer's own name fill in; no body at all is fine too.
    const bare = await c.api('POST', `/api/templates/${template.id}/render`, undefined, member.token);
    expect(bare.status, bare.text).toBe(200);
    expect(bare.body.missing).toEqual(['contact.firstName', 'contact.lastName', 'contact.company']);

    // Unsaved text: sanitised like a saved template, then rendered.
    const unsaved = await c.api('POST', '/api/templates/render', {
      subject: 'Re {{contact.lastName}}',
      html: "<p>Hello {{ contact.firstName | 'you' }}</p><script>alert(1)</script>",
      contactId: contact.body.id,
    });
    expect(unsaved.status, unsaved.text).toBe(200);
    expect(unsaved.body).toEqual({ subject: 'Re <b>Souza</b>', html: '<p>Hello Ana</p>', missing: [] });
    const unknown = await c.api('POST', '/api/templates/render', { html: '{{user.password}}' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe('MERGE_FIELD_UNKNOWN');
    const noContact = await c.api('POST', '/api/templates/render', { html: 'x', contactId: newId() });
    expect(noContact.status).toBe(404);
  });

  describe('sending with a template', () => {
    let accountId: string;
    let accountToken: string;
    beforeAll(async () => {
      const creds = await dovecot.addUser();
      const sender = await c.addUser({ displayName: 'Carla Sender' });
      accountToken = sender.token;
      const res = await c.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds), sender.token);
      expect(res.status, res.text).toBe(201);
      accountId = res.body.id;
    });

    async function outboxCount(): Promise<number> {
      const row = await c.storage.db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(row.n);
    }

    it('composes the merged subject and HTML from templateId + contactId, and sends them', async () => {
      const address = `${unique('ana')}@buyer.test`;
      const contact = await c.api('POST', '/api/contacts', {
        firstName: 'Ana',
        lastName: 'Souza',
        company: 'Acme <Ltd>',
        emails: [address],
      });
      const template = await create(
        {
          name: unique('Proposal'),
          subject: 'Proposal for {{contact.company}}',
          html: '<p>Hi {{contact.firstName | "there"}},</p><p>{{user.name}}</p>',
        },
        accountToken,
      );
      // To someone who is not the contact: contactId decides whose values fill in.
      const res = await c.api(
        'POST',
        '/api/messages',
        {
          accountId,
          to: [`${unique('assistant')}@buyer.test`],
          templateId: template.id,
          contactId: contact.body.id,
        },
        accountToken,
      );
      expect(res.status, res.text).toBe(201);
      expect(res.body.subject).toBe('Proposal for Acme <Ltd>');
      expect(res.body.html).toContain('<p>Hi Ana,</p><p>Carla Sender</p>');

      const relayed = await dovecot.waitForSinkMessage((m) => isCopyOf(m, res.body.messageId), 15_000);
      const parsed = await parseMessage(relayed.raw);
      expect(parsed.subject).toBe('Proposal for Acme <Ltd>');
      expect(parsed.html).toContain('<p>Hi Ana,</p><p>Carla Sender</p>');
      expect(parsed.html).not.toContain('{{');
    });

    it('fills from the contact of the first To address, and a given subject wins over the template', async () => {
      const address = `${unique('rui')}@buyer.test`;
      await c.api('POST', '/api/contacts', { firstName: '<script>x()</script>', emails: [address] });
      const template = await create(
        { name: unique('Hello'), subject: 'unused', html: '<p>Hello {{contact.firstName}}</p>' },
        accountToken,
      );
      const res = await c.api(
        'POST',
        '/api/messages',
        {
          accountId,
          to: [`Rui <${address}>`],
          subject: 'For {{contact.firstName}}',
          text: 'Hello {{contact.firstName}}',
          templateId: template.id,
        },
        accountToken,
      );
      expect(res.status, res.text).toBe(201);
      expect(res.body.subject).toBe('For <script>x()</script>');
      const relayed = await dovecot.waitForSinkMessage((m) => isCopyOf(m, res.body.messageId), 15_000);
      const parsed = await parseMessage(relayed.raw);
      // The merge value is text in the HTML: escaped, no markup injected.
      expect(parsed.html).toContain('<p>Hello &lt;script&gt;x()&lt;/script&gt;</p>');
      expect(parsed.html).not.toContain('<script>');
      expect(parsed.text).toContain('Hello <script>x()</script>');
    });

    it('a reply with a template keeps the thread subject and takes the HTML', async () => {
      const address = `${unique('lia')}@buyer.test`;
      await c.api('POST', '/api/contacts', { firstName: 'Lia', emails: [address] });
      const first = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: [address], subject: 'Our call', text: 'Thanks' },
        accountToken,
      );
      expect(first.status, first.text).toBe(201);
      const template = await create(
        { name: unique('Follow-up'), subject: 'Template subject', html: '<p>Following up, {{contact.firstName}}</p>' },
        accountToken,
      );
      const reply = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: [address], inReplyTo: first.body.id, templateId: template.id },
        accountToken,
      );
      expect(reply.status, reply.text).toBe(201);
      expect(reply.body.subject).toBe('Re: Our call');
      expect(reply.body.html).toContain('<p>Following up, Lia</p>');
      expect(reply.body.threadId).toBe(first.body.threadId);
    });

    it('refuses a field without value or fallback with 422 MERGE_FIELD_MISSING and queues nothing', async () => {
      const address = `${unique('semnome')}@buyer.test`;
      const contact = await c.api('POST', '/api/contacts', { lastName: 'Souza', emails: [address] });
      const template = await create(
        { name: unique('Needs name'), subject: 'Hi {{contact.firstName}}', html: '<p>Hi {{contact.firstName}},</p>' },
        accountToken,
      );
      const messagesBefore = await c.storage.db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      const queuedBefore = await outboxCount();
      const res = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: [address], templateId: template.id, contactId: contact.body.id },
        accountToken,
      );
      expect(res.status, res.text).toBe(422);
      expect(res.body.error.code).toBe('MERGE_FIELD_MISSING');
      expect(res.body.error.message).toBe('contact.firstName has no value for Souza and no fallback');
      expect(res.body.error.missing).toEqual(['contact.firstName']);
      expect(res.body.error.fields).toEqual([
        { path: 'contact.firstName', message: 'no value for Souza and no fallback' },
      ]);
      // Also to an address that is no contact at all, with fields written by hand.
      const stranger = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: [`${unique('stranger')}@x.test`], subject: 'Hi', html: 'Hi {{contact.firstName}},' },
        accountToken,
      );
      expect(stranger.status, stranger.text).toBe(422);
      expect(stranger.body.error.code).toBe('MERGE_FIELD_MISSING');
      expect(await outboxCount()).toBe(queuedBefore);
      const messagesAfter = await c.storage.db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(messagesAfter.n)).toBe(Number(messagesBefore.n));
    });

    it("refuses another user's personal template and another organisation's contact (404)", async () => {
      const personal = await create({ name: unique('Member only') }, member.token);
      const res = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: ['x@buyer.test'], templateId: personal.id },
        accountToken,
      );
      expect(res.status, res.text).toBe(404);
      expect(res.body.error.fields).toEqual([{ path: 'body.templateId', message: 'no such template' }]);
      const res2 = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: ['x@buyer.test'], subject: 'x', html: 'x', contactId: newId() },
        accountToken,
      );
      expect(res2.status, res2.text).toBe(404);
      // Plain mail with braces that are no merge field goes out as written.
      const plain = await c.api(
        'POST',
        '/api/messages',
        { accountId, to: ['x@buyer.test'], subject: 'Vue {{ message }}', text: 'use {{ message }}' },
        accountToken,
      );
      expect(plain.status, plain.text).toBe(201);
      expect(plain.body.subject).toBe('Vue {{ message }}');
    });
  });
});
