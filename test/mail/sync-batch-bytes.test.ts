// A first sync's downloads are bounded by bytes (SYNC_BATCH_BYTES, the scan's RFC822.SIZE) as well as by UIDs:
// every FETCH of kept mail stays within the budget, a message bigger than the budget is downloaded alone and still
// stored whole, and everything the UID-only batches stored is stored.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.js';
import { makeMessage } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { useDovecot } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';

const dovecot = useDovecot();
const BUDGET = 64 * 1024;

describe.each(DIALECTS)('byte-bounded sync batches on %s', (dialect) => {
  let conversa: TestConversa;
  let database: TestDatabase;
  const fetches: Array<{ accountId: string; uids: number[]; bytes: number }> = [];
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    conversa = await startTestConversa({ SYNC_BATCH_BYTES: String(BUDGET), SYNC_BATCH_SIZE: '50' }, database, {
      onSyncFetch: (fetch) => fetches.push(fetch),
    });
  });
  afterAll(async () => {
    await conversa?.stop();
    await database?.destroy();
  });
  const firstSyncDone = (accountId: string, timeoutMs: number) =>
    waitFor(
      'the first sync',
      async () => {
        const folders = await conversa.server.storage.db
          .selectFrom('mail_folders')
          .select('first_sync_done')
          .where('account_id', '=', accountId)
          .execute();
        return folders.length > 0 && folders.every((f) => f.first_sync_done === 1);
      },
      timeoutMs,
    );

  it('downloads within the byte budget, a bigger message alone, and stores all of it', async () => {
    const creds = await dovecot.addUser();
    const client = `bytes-${Date.now()}@acme.test`;
    const res = await conversa.api('POST', '/api/contacts', { emails: [client] });
    expect(res.status, res.text).toBe(201);
    const contactId = res.body.id as string;
    const now = Date.now();
    const messages: string[] = [];
    const dates: Date[] = [];
    const big = randomBytes(3 * BUDGET); // ~4 × the budget once base64-encoded
    for (let i = 0; i < 40; i++) {
      const fromContact = i % 2 === 0;
      const date = new Date(now - (40 - i) * 3600_000);
      messages.push(
        makeMessage({
          from: fromContact ? `Client <${client}>` : `stranger${i}@else.test`,
          to: [creds.user],
          subject: `Sized ${i}`,
          date,
          // Contact mail of ~14 KB each (a few fit the budget), one of them far bigger than the budget.
          attachment: {
            filename: `file${i}.bin`,
            contentType: 'application/octet-stream',
            content: i === 20 ? big : randomBytes(10 * 1024),
          },
        }),
      );
      dates.push(date);
    }
    await dovecot.fillMailbox(creds.user, 'INBOX', messages, { dates });
    const accountRes = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(accountRes.status, accountRes.text).toBe(201);
    const accountId = accountRes.body.id as string;
    await firstSyncDone(accountId, 60_000);

    const mine = fetches.filter((f) => f.accountId === accountId);
    expect(mine.length).toBeGreaterThan(2);
    for (const fetch of mine) {
      // Within the budget, or one message alone.
      if (fetch.bytes > BUDGET) expect(fetch.uids).toHaveLength(1);
    }
    expect(mine.filter((f) => f.bytes > BUDGET)).toHaveLength(1);
    const downloaded = mine.flatMap((f) => f.uids);
    expect(new Set(downloaded).size).toBe(downloaded.length);
    expect(downloaded).toHaveLength(20);

    // Every contact message stored, the big one with its whole attachment.
    const mail = await conversa.api('GET', `/api/contacts/${contactId}/messages?limit=200`);
    expect(mail.status).toBe(200);
    expect((mail.body.items as Array<{ subject: string }>).map((m) => m.subject).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `Sized ${i * 2}`).sort(),
    );
    const stored = await conversa.server.storage.db
      .selectFrom('attachments')
      .innerJoin('messages', 'messages.id', 'attachments.message_id')
      .select(['attachments.size', 'attachments.filename'])
      .where('messages.subject', '=', 'Sized 20')
      .execute();
    expect(stored).toEqual([{ size: big.length, filename: 'file20.bin' }]);
  });

  it('stores a message with a 12 MB attachment whole: the attachment downloads byte-equal, the raw source too', async () => {
    const creds = await dovecot.addUser();
    const client = `huge-${Date.now()}@acme.test`;
    const res = await conversa.api('POST', '/api/contacts', { emails: [client] });
    expect(res.status, res.text).toBe(201);
    const huge = randomBytes(12 * 1024 * 1024);
    const raw = makeMessage({
      from: `Client <${client}>`,
      to: [creds.user],
      subject: 'Twelve megabytes',
      attachment: { filename: 'huge.bin', contentType: 'application/octet-stream', content: huge },
    });
    await dovecot.fillMailbox(creds.user, 'INBOX', [
      makeMessage({ from: `Client <${client}>`, to: [creds.user], subject: 'Small before' }),
      raw,
      makeMessage({ from: `Client <${client}>`, to: [creds.user], subject: 'Small after' }),
    ]);
    const accountRes = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
    expect(accountRes.status, accountRes.text).toBe(201);
    const accountId = accountRes.body.id as string;
    await firstSyncDone(accountId, 120_000);
    const mail = await conversa.api('GET', `/api/contacts/${res.body.id as string}/messages?limit=10`);
    const items = mail.body.items as Array<{ id: string; subject: string }>;
    expect(items.map((m) => m.subject).sort()).toEqual(['Small after', 'Small before', 'Twelve megabytes']);
    const detail = (
      await conversa.api('GET', `/api/messages/${items.find((m) => m.subject === 'Twelve megabytes')!.id}`)
    ).body as { id: string; parseError?: string | null; attachments: Array<{ id: string; size: number }> };
    expect(detail.attachments).toMatchObject([{ filename: 'huge.bin', size: huge.length }]);
    const download = await fetch(`${conversa.url}/api/messages/${detail.id}/attachments/${detail.attachments[0]!.id}`, {
      headers: { authorization: `Bearer ${conversa.token}` },
    });
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.length).toBe(huge.length);
    expect(bytes.equals(huge)).toBe(true);
    // The stored rows point at the exact bytes: the attachment's blob, and the raw source as the server had it.
    const row = await conversa.server.storage.db
      .selectFrom('messages')
      .innerJoin('attachments', 'attachments.message_id', 'messages.id')
      .select(['messages.raw_blob_sha256', 'messages.size', 'attachments.blob_sha256', 'attachments.size as asize'])
      .where('messages.id', '=', detail.id)
      .executeTakeFirstOrThrow();
    expect(row.blob_sha256).toBe(createHash('sha256').update(huge).digest('hex'));
    expect(Number(row.asize)).toBe(huge.length);
    const source = await conversa.server.blobs.get(row.raw_blob_sha256!);
    expect(source.length).toBe(Number(row.size));
    expect(source.toString('latin1')).toContain('Subject: Twelve megabytes');
  });
});

describe('SYNC_BATCH_BYTES', () => {
  it('defaults to 8 MiB and takes a positive whole number', () => {
    expect(loadConfig({}).syncBatchBytes).toBe(8 * 1024 * 1024);
    expect(loadConfig({ SYNC_BATCH_BYTES: '1048576' }).syncBatchBytes).toBe(1048576);
  });

  it('refuses zero, negatives and non-numbers at start-up', () => {
    for (const bad of ['0', '-5', '1.5', 'lots']) {
      expect(() => loadConfig({ SYNC_BATCH_BYTES: bad })).toThrow(/SYNC_BATCH_BYTES must be a positive whole number/);
    }
  });
});
