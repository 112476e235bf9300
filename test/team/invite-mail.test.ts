// Issue 14, invitations by mail: with the app relay set (APP_SMTP_*, here the harness's SMTP sink), the invitation
// link goes to the invitee in the inviter's language and the answer says `mailed: true`; the admin gets the same
// link to copy either way. On SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const dovecot = useDovecot();

describe.each(DIALECTS)('invitation mail on %s', (dialect) => {
  let conversa: TestConversa;
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa(
      {
        APP_SMTP_HOST: inject('dovecot').sinkHost,
        APP_SMTP_PORT: String(inject('dovecot').sinkPort),
        APP_SMTP_SECURE: 'false',
      },
      database,
    );
  });
  afterAll(async () => {
    await conversa?.stop();
    await database?.destroy();
  });

  it('mails the link through the relay, in the language of the inviter', async () => {
    expect((await conversa.api('PATCH', '/api/me', { locale: 'pt-BR', name: 'Ana' })).status).toBe(200);
    const email = `invitee-${Date.now()}@example.test`;
    const res = await conversa.api('POST', '/api/users', { email, role: 'member' });
    expect(res.status, res.text).toBe(201);
    expect(res.body.mailed).toBe(true);
    const mail = await waitFor(
      'the invitation in the sink',
      async () => (await dovecot.sinkMessages()).find((m) => m.rcptTo.includes(email)),
      10_000,
    );
    // Quoted-printable folds long lines: unfold before looking for the link.
    const text = mail.raw.toString('utf8').replace(/=\r?\n/g, '');
    expect(text).toContain(res.body.inviteUrl);
    expect(text).toMatch(/convidou/);
  });
});
