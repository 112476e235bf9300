// The intake writes a batch's new holder and attachment rows a few hundred per statement (issue 18, store-messages.ts
// NewRows): a second copy of a message in the SAME batch must still find its mailbox's pending holder (one holder per
// mailbox, the Sent copy turning it outgoing), attachments keep their order, and the full-text index, built after
// those rows, gives an inbox copy its inbox view (a search of the inbox finds it). Both databases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeMessages } from '../../src/mail/intake/store-messages.js';
import { inbox } from '../../src/messages/messages.js';
import { openBlobStore } from '../../src/storage/open-blob-store.js';
import type { Db } from '../../src/storage/database.js';
import { createUser, defaultOrgId, findUserById, type User } from '../../src/users/users.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { makeMessage } from '../support/make-message.js';
import { addFolder, addMailbox } from '../support/mailbox-rows.js';
import { mailToStore } from '../support/store-mail.js';

describe.each(DIALECTS)('a batch of the intake on %s', (dialect) => {
  let database: TestDatabase;
  let db: Db;
  let user: User;
  let orgId: string;
  let accountId: string;
  const folders: Record<'inbox' | 'sent' | 'archive', string> = { inbox: '', sent: '', archive: '' };
  let uid = 0;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    db = database.storage.db;
    orgId = await defaultOrgId(db);
    user = (await findUserById(
      db,
      (await createUser(db, { email: 'ana@batch.test', password: 'long password 1' })).id,
    ))!;
    accountId = await addMailbox(db, orgId, user, 'ana@batch.test', false);
    for (const role of ['inbox', 'sent', 'archive'] as const)
      folders[role] = await addFolder(db, accountId, { path: role.toUpperCase(), role });
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const copy = (raw: string, folder: keyof typeof folders, direction: 'incoming' | 'outgoing') =>
    mailToStore(raw, direction, { accountId, folderId: folders[folder], uidValidity: 1, uid: ++uid, flags: [] });

  it('two copies of a message in one batch: one holder, outgoing once its Sent copy comes; attachments in order', async () => {
    const sentAndReceived = makeMessage({
      from: 'ana@batch.test',
      to: ['bia@cliente.test'],
      subject: 'Proposta enviada',
      messageId: '<sent-1@batch.test>',
    });
    const twiceReceived = makeMessage({
      from: 'bia@cliente.test',
      to: ['ana@batch.test'],
      subject: 'Reunião confirmada quinta',
      messageId: '<twice-1@batch.test>',
    });
    const part = (name: string, bytes: string) => [
      '--b',
      `Content-Type: application/pdf; name="${name}"`,
      `Content-Disposition: attachment; filename="${name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from(bytes).toString('base64'),
    ];
    const withFiles = [
      'From: carlos@cliente.test',
      'To: ana@batch.test',
      'Subject: Dois anexos',
      'Message-ID: <files-1@batch.test>',
      'Date: Fri, 04 Dec 2026 10:00:00 +0000',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'segue em anexo',
      ...part('primeiro.pdf', 'first'),
      ...part('segundo.pdf', 'second'),
      '--b--',
      '',
    ].join('\r\n');
    const batch = [
      await copy(sentAndReceived, 'inbox', 'incoming'),
      await copy(twiceReceived, 'inbox', 'incoming'),
      await copy(withFiles, 'inbox', 'incoming'),
      await copy(sentAndReceived, 'sent', 'outgoing'),
      await copy(twiceReceived, 'archive', 'incoming'),
    ];
    const stored = await storeMessages(
      db,
      {
        orgId,
        ownerUserId: user.id,
        shared: false,
        accountId,
        blobs: openBlobStore(database.storage, database.dataDir),
      },
      batch,
      null,
    );
    expect(stored.map((s) => s.created)).toEqual([true, true, true, false, false]);
    expect(stored[3]!.id).toBe(stored[0]!.id);
    expect(stored[4]!.id).toBe(stored[1]!.id);
    const holders = await db
      .selectFrom('message_holders')
      .select(['message_id', 'account_id', 'direction'])
      .where('message_id', 'in', [stored[0]!.id, stored[1]!.id, stored[2]!.id])
      .execute();
    const of = (id: string) => holders.filter((h) => h.message_id === id).map((h) => h.direction);
    expect(of(stored[0]!.id)).toEqual(['outgoing']);
    expect(of(stored[1]!.id)).toEqual(['incoming']);
    expect(of(stored[2]!.id)).toEqual(['incoming']);
    const message = await db
      .selectFrom('messages')
      .select('direction')
      .where('id', '=', stored[0]!.id)
      .executeTakeFirstOrThrow();
    expect(message.direction).toBe('outgoing');
    const attachments = await db
      .selectFrom('attachments')
      .select(['filename', 'position'])
      .where('message_id', '=', stored[2]!.id)
      .orderBy('position')
      .execute();
    expect(attachments).toEqual([
      { filename: 'primeiro.pdf', position: 0 },
      { filename: 'segundo.pdf', position: 1 },
    ]);
    // Five locations, one per copy.
    const locations = await db
      .selectFrom('message_locations')
      .select('message_id')
      .where('account_id', '=', accountId)
      .execute();
    expect(locations).toHaveLength(5);
    // The inbox shows the received mail once; its search finds it by a word of its subject (the index read the
    // holder rows written with the batch), and not the sent one.
    const page = await inbox(db, user, { limit: 50 });
    expect(page.items.map((i) => i.subject).sort()).toEqual(['Dois anexos', 'Reunião confirmada quinta']);
    const found = await inbox(db, user, { limit: 50, q: 'reuniao' });
    expect(found.items.map((i) => i.id)).toEqual([stored[1]!.id]);
    expect((await inbox(db, user, { limit: 50, q: 'proposta' })).items).toEqual([]);
  });
});
