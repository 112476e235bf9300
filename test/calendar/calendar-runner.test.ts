// The calendar loop with a scripted driver: a failing server shows "error" with the next try and recovers on
// its own, the mail status is never touched, refused credentials stop the loop until the account is
// reconnected, and an account whose provider has no calendar shows "none".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CalendarError, type CalendarDriver } from '../../src/calendar/calendar-driver.js';
import { CalendarSupervisor } from '../../src/calendar/calendar-supervisor.js';
import { buildEventIcs } from '../../src/calendar/ical/build-event.js';
import { accountContext } from '../../src/calendar/meetings/account-context.js';
import { ingestObjects, reexpandCalendar, saveDiscovery } from '../../src/calendar/meetings/ingest-meetings.js';
import type { Db } from '../../src/storage/database.js';
import { newId } from '../../src/storage/ids.js';
import { createUser } from '../../src/users/users.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { waitFor } from '../support/wait-for.js';

const quiet = { info() {}, warn() {}, error() {} };

async function account(db: Db, provider = 'other'): Promise<string> {
  const user = await createUser(db, {
    email: `runner-${newId()}@example.test`,
    password: 'a long password',
    isAdmin: false,
    displayName: null,
  });
  const id = newId();
  const now = Date.now();
  await db
    .insertInto('email_accounts')
    .values({
      id,
      org_id: user.orgId,
      user_id: user.id,
      email: `box-${id}@example.test`,
      provider,
      auth_kind: 'password',
      sync_mode: 'two-way',
      status: 'active',
      status_detail: null,
      next_retry_at: null,
      last_synced_at: now,
      history_days: 90,
      imap_host: '127.0.0.1',
      imap_port: 1,
      imap_secure: 0,
      smtp_host: '127.0.0.1',
      smtp_port: 1,
      smtp_secure: 0,
      username: 'u',
      credentials_enc: 'x',
      smtp_mode: 'mailbox',
      smtp_custom_enc: null,
      caldav_url: null,
      bcc_token: id.replace(/-/g, ''),
      visibility: 'shared',
      generation: 1,
      progress_json: null,
      sync_requested_at: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return id;
}

/** A driver with one calendar and one event, failing the way `script` says on each discover(). */
function scriptedDriver(script: Array<'ok' | 'temporary' | 'auth'>): CalendarDriver & { calls: number } {
  const calendar = {
    url: 'https://dav.test/cal/',
    displayName: 'Cal',
    ctag: null,
    supportsSyncToken: true,
    writable: true,
    timeZone: null,
  };
  const ics = buildEventIcs({
    uid: 'e1@test',
    title: 'Scripted',
    start: Date.now() + 3_600_000,
    end: Date.now() + 7_200_000,
    organizer: { address: 'x@client.test' },
    attendees: [],
  });
  const driver = {
    calls: 0,
    async discover() {
      const step = script[Math.min(driver.calls++, script.length - 1)];
      if (step === 'temporary')
        throw new CalendarError('TEMPORARY', 'the calendar server answered 503 Service Unavailable');
      if (step === 'auth') throw new CalendarError('AUTH_FAILED', 'dav.test answered 401 Unauthorized');
      return { calendars: [calendar], ownAddresses: [] };
    },
    async changes() {
      return {
        state: { syncToken: 't1', ctag: null },
        full: true,
        changed: [{ href: 'https://dav.test/cal/e1.ics', etag: '"1"' }],
        deleted: [],
      };
    },
    async fetch() {
      return [{ href: 'https://dav.test/cal/e1.ics', etag: '"1"', ics }];
    },
    async read() {
      return null;
    },
    async create(): Promise<never> {
      throw new Error('not used');
    },
    async update(): Promise<never> {
      throw new Error('not used');
    },
    async remove() {
      return null;
    },
  };
  return driver;
}

describe('the calendar runner', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('sqlite');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  const state = (db: Db, id: string) =>
    db
      .selectFrom('email_accounts')
      .select(['status', 'status_detail', 'calendar_status', 'calendar_detail', 'calendar_synced_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();

  it('retries a failing server with backoff, recovers by itself, and leaves the mail status alone', async () => {
    const db = database.storage.db;
    const id = await account(db);
    const driver = scriptedDriver(['temporary', 'temporary', 'ok']);
    // Backoff long enough (≥ 200 ms with jitter) for the polling below to see the error state between tries.
    const supervisor = new CalendarSupervisor({
      db,
      log: quiet,
      bccDomain: 'bcc.test',
      driverFor: async () => driver,
      intervalMs: 60_000,
      backoffBaseMs: 400,
      backoffMaxMs: 800,
    });
    try {
      await supervisor.start(id);
      const failing = await waitFor('an error status', async () =>
        (await state(db, id)).calendar_status === 'error' ? state(db, id) : false,
      );
      expect(failing.calendar_detail).toMatch(/503 Service Unavailable \(next try at /);
      expect(failing.status).toBe('active');
      const recovered = await waitFor('recovery', async () =>
        (await state(db, id)).calendar_status === 'active' ? state(db, id) : false,
      );
      expect(recovered).toMatchObject({ status: 'active', status_detail: null });
      expect(driver.calls).toBe(3);
      const meetings = await db.selectFrom('meetings').select('title').where('account_id', '=', id).execute();
      expect(meetings).toEqual([{ title: 'Scripted' }]);
      // The mail's own history never shows a calendar failure.
      const events = await db.selectFrom('sync_events').select('kind').where('account_id', '=', id).execute();
      expect(events.map((e) => e.kind).filter((k) => k.startsWith('status:'))).toEqual([]);
      expect(events.map((e) => e.kind)).toContain('calendar:error');
    } finally {
      await supervisor.close();
    }
  });

  it('stops on refused credentials until the account is reconnected', async () => {
    const db = database.storage.db;
    const id = await account(db);
    const driver = scriptedDriver(['auth', 'ok']);
    const supervisor = new CalendarSupervisor({
      db,
      log: quiet,
      bccDomain: 'bcc.test',
      driverFor: async () => driver,
      intervalMs: 60_000,
      backoffBaseMs: 20,
      backoffMaxMs: 50,
    });
    try {
      await supervisor.start(id);
      await waitFor('needs_reconnect', async () => (await state(db, id)).calendar_status === 'needs_reconnect');
      await new Promise((r) => setTimeout(r, 200));
      expect(driver.calls).toBe(1);
      expect((await state(db, id)).status).toBe('active');
      await supervisor.onAccountChanged(id, 'reconnected');
      await waitFor('active after reconnect', async () => (await state(db, id)).calendar_status === 'active');
      expect(driver.calls).toBe(2);
    } finally {
      await supervisor.close();
    }
  });

  it('shows "none" for an account whose provider has no calendar Conversa syncs', async () => {
    const db = database.storage.db;
    const id = await account(db, 'gmail');
    const supervisor = new CalendarSupervisor({
      db,
      log: quiet,
      bccDomain: 'bcc.test',
      driverFor: async () => null,
      intervalMs: 60_000,
      backoffBaseMs: 20,
      backoffMaxMs: 50,
    });
    try {
      await supervisor.start(id);
      const none = await waitFor('none', async () =>
        (await state(db, id)).calendar_status === 'none' ? state(db, id) : false,
      );
      expect(none.calendar_detail).toMatch(/Gmail calendars are reached with Google sign-in/);
    } finally {
      await supervisor.close();
    }
  });

  it('expands a series again, without the server, as the window moves with the days', async () => {
    const db = database.storage.db;
    const id = await account(db);
    const [calendar] = await saveDiscovery(db, id, {
      calendars: [
        {
          url: 'https://dav.test/moving/',
          displayName: null,
          ctag: null,
          supportsSyncToken: true,
          writable: true,
          timeZone: null,
        },
      ],
      ownAddresses: [],
    });
    const row = await db.selectFrom('email_accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const context = await accountContext(db, row, 'bcc.test');
    const day = 86_400_000;
    const first = Date.UTC(2030, 0, 1, 9);
    const ics = buildEventIcs({
      uid: 'daily@test',
      title: 'Daily',
      start: first,
      end: first + 3_600_000,
      organizer: { address: row.email },
      attendees: [],
    }).replace('SEQUENCE:0', 'SEQUENCE:0\r\nRRULE:FREQ=DAILY;COUNT=30');
    const stored = () =>
      db
        .selectFrom('meetings')
        .select('start_at')
        .where('calendar_id', '=', calendar!.id)
        .orderBy('start_at')
        .execute();
    await ingestObjects(db, { account: context, calendar: calendar!, window: { start: first, end: first + 5 * day } }, [
      { href: 'https://dav.test/moving/daily.ics', etag: '"1"', ics },
    ]);
    expect((await stored()).map((r) => r.start_at)).toEqual([0, 1, 2, 3, 4].map((n) => first + n * day));
    // Ten days on: the first ten left the window, the next ones entered it.
    await reexpandCalendar(db, {
      account: context,
      calendar: calendar!,
      window: { start: first + 10 * day, end: first + 13 * day },
    });
    expect((await stored()).map((r) => r.start_at)).toEqual([10, 11, 12].map((n) => first + n * day));
  });
});
