// Scale-out on PostgreSQL: two `conversa worker` processes share 50 mailboxes through leases. Every mailbox is
// synced, no mailbox is ever run by both at once (checked from the recorded runner start/stop events), no
// message is stored twice, and when one worker is killed with SIGKILL the other takes over within the bound.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeMessage } from '../support/make-message.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot } from '../support/servers.js';
import { spawnConversa, type SpawnedConversa } from '../support/spawn-conversa.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();
const MAILBOXES = 50;
const PER_MAILBOX = 200;
const CONTACT_EVERY = 10; // 20 contact messages per mailbox
const FAILOVER_BOUND_MS = 30_000;

describe('two workers on PostgreSQL', () => {
  let database: TestDatabase;
  let web: TestConversa;
  const workers: SpawnedConversa[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('postgres', { migrate: false });
    // A web-only server: it creates the accounts; only the workers sync.
    web = await startTestConversa(
      { CONVERSA_SERVE_BACKGROUND: 'false', CONVERSA_SECRET_KEY: 'a'.repeat(64) },
      database,
    );
  }, 60_000);
  afterAll(async () => {
    for (const worker of workers) await worker.kill().catch(() => undefined);
    await web?.stop();
    await database?.destroy();
  });

  it('sync every mailbox once, never both at once, and survive one of them being killed', async () => {
    const contacts = Array.from({ length: 10 }, (_, i) => `scale${i}-${Date.now()}@customer.test`);
    for (const email of contacts)
      expect((await web.api('POST', '/api/contacts', { emails: [email] })).status).toBe(201);
    const now = Date.now();
    for (let m = 0; m < MAILBOXES; m++) {
      const creds = await dovecot.addUser();
      const messages = Array.from({ length: PER_MAILBOX }, (_, i) =>
        makeMessage({
          from: i % CONTACT_EVERY === 0 ? contacts[i % 10]! : `noise${i}@else.test`,
          to: [creds.user],
          subject: `m${m}-${i}`,
          date: new Date(now - i * 60_000),
        }),
      );
      await dovecot.fillMailbox(creds.user, 'INBOX', messages, {
        dates: messages.map((_, i) => new Date(now - i * 60_000)),
      });
      const res = await web.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds));
      expect(res.status, res.text).toBe(201);
    }
    const db = database.storage.db;

    const env = {
      CONVERSA_DATA_DIR: web.dataDir,
      DATABASE_URL: database.databaseUrl!,
      CONVERSA_SECRET_KEY: 'a'.repeat(64),
      SYNC_BATCH_SIZE: '20',
      LOG_LEVEL: 'info',
    };
    const [a, b] = await Promise.all([spawnConversa(env, 'worker'), spawnConversa(env, 'worker')]);
    workers.push(a!, b!);
    const holders = async () =>
      new Set((await db.selectFrom('account_leases').select('holder').execute()).map((r) => r.holder));
    await waitFor('both workers to hold accounts', async () => (await holders()).size === 2, 30_000);

    // Kill one of them while the first syncs are still running.
    const doneCount = async () =>
      Number(
        (
          await db
            .selectFrom('mail_folders')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('role', '=', 'inbox')
            .where('first_sync_done', '=', 1)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await doneCount()).toBeLessThan(MAILBOXES);
    const victimLeases = await db.selectFrom('account_leases').select(['account_id', 'holder']).execute();
    const victim = victimLeases[0]!.holder;
    const victimAccounts = victimLeases.filter((l) => l.holder === victim).map((l) => l.account_id);
    // A worker id is host:pid:random.
    const victimProcess = workers.find((w) => String(w.child.pid) === victim.split(':')[1]);
    expect(victimProcess).toBeDefined();
    const killedAt = Date.now();
    await victimProcess!.kill();

    await waitFor('every mailbox to finish its first sync', async () => (await doneCount()) === MAILBOXES, 90_000, 250);

    // Taken over within the bound. A victim mailbox whose first sync had ended before the kill does not hold up
    // the wait above, so the takeovers are awaited on their own (longer than the bound, which is asserted below).
    const takeoverRows = () =>
      db
        .selectFrom('sync_events')
        .select(['account_id', 'created_at', 'detail'])
        .where('kind', '=', 'runner:start')
        .where('account_id', 'in', victimAccounts)
        .where('detail', '!=', victim)
        .execute();
    await waitFor(
      'every mailbox of the killed worker to be taken over',
      async () => new Set((await takeoverRows()).map((t) => t.account_id)).size === victimAccounts.length,
      FAILOVER_BOUND_MS * 2,
      250,
    );
    const takeovers = await takeoverRows();
    for (const accountId of victimAccounts) {
      const first = takeovers.filter((t) => t.account_id === accountId).sort((x, y) => x.created_at - y.created_at)[0];
      expect(first, `account ${accountId} taken over`).toBeDefined();
      expect(first!.created_at - killedAt).toBeLessThan(FAILOVER_BOUND_MS);
    }

    // Never two runners for one mailbox: the recorded intervals of different workers do not overlap.
    const events = await db
      .selectFrom('sync_events')
      .select(['account_id', 'kind', 'detail', 'created_at'])
      .where('kind', 'in', ['runner:start', 'runner:stop'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const byAccount = new Map<string, typeof events>();
    for (const e of events) byAccount.set(e.account_id, [...(byAccount.get(e.account_id) ?? []), e]);
    expect(byAccount.size).toBe(MAILBOXES);
    for (const [accountId, list] of byAccount) {
      const intervals: Array<{ holder: string; start: number; end: number }> = [];
      const open = new Map<string, number>();
      for (const e of list) {
        if (e.kind === 'runner:start') open.set(e.detail!, e.created_at);
        else if (open.has(e.detail!)) {
          intervals.push({ holder: e.detail!, start: open.get(e.detail!)!, end: e.created_at });
          open.delete(e.detail!);
        }
      }
      // A killed worker's runner ended when it was killed; a live one's is still running.
      for (const [holder, start] of open)
        intervals.push({ holder, start, end: holder === victim ? killedAt : Number.MAX_SAFE_INTEGER });
      intervals.sort((x, y) => x.start - y.start);
      for (let i = 1; i < intervals.length; i++) {
        if (intervals[i]!.holder !== intervals[i - 1]!.holder) {
          expect(intervals[i]!.start, `account ${accountId}: ${JSON.stringify(intervals)}`).toBeGreaterThanOrEqual(
            intervals[i - 1]!.end,
          );
        }
      }
    }

    // Everything once: 20 contact messages per mailbox, each stored once with one location.
    const messages = Number(
      (
        await db
          .selectFrom('messages')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    const locations = Number(
      (
        await db
          .selectFrom('message_locations')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
    expect(messages).toBe(MAILBOXES * (PER_MAILBOX / CONTACT_EVERY));
    expect(locations).toBe(messages);
  }, 240_000);
});
