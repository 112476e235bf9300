// The live calendar (issue 16), against the real Radicale: "Sync now" (the mail's button and route) brings a
// calendar change too, also when the calendar runs in another process (the lease holder); with nobody asking, a
// change made in the calendar (new, moved, cancelled) reaches the contact through the runner's cheap change checks;
// an idle check asks only for the calendars' tags (no listing, no event download) and a check that finds one
// calendar moved syncs that calendar only; a calendar server that answers the check with garbage or with a huge
// body gives a clear calendar status, leaves the mail alone, and the first check after it behaves again recovers;
// a service without tags (Google, Graph) is asked for its changes at the check pace without discovering again.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCalDavDriver } from '../../src/calendar/caldav/caldav-driver.js';
import type { CalendarDriver } from '../../src/calendar/calendar-driver.js';
import { CalendarSupervisor } from '../../src/calendar/calendar-supervisor.js';
import type { Db } from '../../src/storage/database.js';
import { newId } from '../../src/storage/ids.js';
import { createUser } from '../../src/users/users.js';
import { startCalendarConversa, type CalendarConversa } from '../support/calendar-conversa.js';
import { startTestConversa, type TestConversa } from '../support/conversa-server.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { dovecotAccountBody } from '../support/dovecot-account.js';
import { useDovecot, useRadicale, type Credentials } from '../support/servers.js';
import { waitFor } from '../support/wait-for.js';

const dovecot = useDovecot();
const radicale = useRadicale();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Generous guard for "arrives soon": the checks in these tests run every half second. */
const ARRIVES_MS = 30_000;

const tag = () => randomBytes(4).toString('hex');
/** Now plus `ms`, on a whole minute (iCalendar times have no milliseconds). */
const inFuture = (ms: number) => Math.floor((Date.now() + ms) / 60_000) * 60_000;

function icsTime(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function vevent(o: { uid: string; title: string; start: number; attendee: string }): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Conversa tests//EN',
    'BEGIN:VEVENT',
    `UID:${o.uid}`,
    `DTSTAMP:${icsTime(Date.now())}`,
    `DTSTART:${icsTime(o.start)}`,
    `DTEND:${icsTime(o.start + HOUR)}`,
    `SUMMARY:${o.title}`,
    `ATTENDEE;PARTSTAT=ACCEPTED:mailto:${o.attendee}`,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

interface Calendar {
  creds: Credentials;
  auth: string;
  url: string;
}

/** A Radicale user (the Dovecot user's name and password when given) with calendars of these names. */
async function calendarsOf(creds: Credentials, names: string[]): Promise<Calendar[]> {
  const own = await radicale.addUser({ user: creds.user, password: creds.password });
  const auth = radicale.authHeader(own);
  const calendars: Calendar[] = [];
  for (const name of names) {
    const url = `${radicale.principalUrl(creds.user)}${name}/`;
    const res = await fetch(url, { method: 'MKCALENDAR', headers: { Authorization: auth } });
    await res.arrayBuffer();
    expect(res.status).toBe(201);
    calendars.push({ creds, auth, url });
  }
  return calendars;
}

/** Writes an event in Radicale directly, as another calendar client would (never through Conversa). */
async function put(calendar: Calendar, name: string, ics: string): Promise<void> {
  const res = await fetch(`${calendar.url}${name}`, {
    method: 'PUT',
    headers: { Authorization: calendar.auth, 'Content-Type': 'text/calendar; charset=utf-8' },
    body: ics,
  });
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
}

async function remove(calendar: Calendar, name: string): Promise<void> {
  const res = await fetch(`${calendar.url}${name}`, { method: 'DELETE', headers: { Authorization: calendar.auth } });
  await res.arrayBuffer();
  expect(res.status).toBeLessThan(300);
}

async function connect(conversa: CalendarConversa, creds: Credentials, caldavUrl: string): Promise<string> {
  const res = await conversa.api('POST', '/api/email-accounts', dovecotAccountBody(dovecot, creds, { caldavUrl }));
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

async function calendarHealth(conversa: CalendarConversa, accountId: string): Promise<any> {
  const res = await conversa.api('GET', `/api/email-accounts/${accountId}/calendar`);
  expect(res.status, res.text).toBe(200);
  return res.body;
}

async function calendarActive(conversa: CalendarConversa, accountId: string): Promise<void> {
  await waitFor(
    'the calendar to be synced',
    async () => (await calendarHealth(conversa, accountId)).status === 'active',
    ARRIVES_MS,
  );
}

async function newContact(conversa: CalendarConversa, email: string): Promise<string> {
  const res = await conversa.api('POST', '/api/contacts', { emails: [email], firstName: 'Live' });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** Waits until the contact's meetings satisfy `test`; answers them. */
async function meetingsWhen(
  conversa: CalendarConversa,
  contactId: string,
  what: string,
  test: (items: any[]) => boolean,
): Promise<any[]> {
  return waitFor(
    what,
    async () => {
      const res = await conversa.api('GET', `/api/contacts/${contactId}/meetings`);
      return res.status === 200 && test(res.body.items) ? (res.body.items as any[]) : false;
    },
    ARRIVES_MS,
  );
}

describe.each(DIALECTS)('the live calendar on %s', (dialect) => {
  describe('"Sync now"', () => {
    let conversa: CalendarConversa;
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect, { migrate: false });
      // Neither checks nor whole passes on their own during the test: only "Sync now" can bring the change.
      conversa = await startCalendarConversa({ intervalMs: 3_600_000, checkIntervalMs: 3_600_000, database });
    });
    afterAll(async () => {
      await conversa?.stop();
      await database?.destroy();
    });

    it('syncs the mail and the calendar: a meeting just added in Radicale is on the contact', async () => {
      const creds = await dovecot.addUser();
      const [work] = await calendarsOf(creds, ['work']);
      const accountId = await connect(conversa, creds, radicale.principalUrl(creds.user));
      await calendarActive(conversa, accountId);
      const ana = `ana-${tag()}@client.test`;
      const anaId = await newContact(conversa, ana);
      const start = inFuture(2 * DAY);
      await put(work!, 'demo.ics', vevent({ uid: `demo-${tag()}`, title: 'Demo', start, attendee: ana }));

      const res = await conversa.api('POST', `/api/email-accounts/${accountId}/sync`);
      expect(res.status, res.text).toBe(202);
      expect(res.body).toEqual({ accepted: true, status: expect.any(String), calendarAccepted: true });
      const items = await meetingsWhen(conversa, anaId, 'the meeting after "Sync now"', (m) => m.length === 1);
      expect(items[0]).toMatchObject({ title: 'Demo', start: new Date(start).toISOString(), accountId });
    });

    it('refuses another user\'s private mailbox as "not found" and asks nothing of its calendar', async () => {
      const creds = await dovecot.addUser();
      await calendarsOf(creds, ['work']);
      const other = await conversa.addUser();
      const res = await conversa.api(
        'POST',
        '/api/email-accounts',
        {
          ...dovecotAccountBody(dovecot, creds, { caldavUrl: radicale.principalUrl(creds.user) }),
          visibility: 'private',
        },
        other.token,
      );
      expect(res.status, res.text).toBe(201);
      const sync = await conversa.api('POST', `/api/email-accounts/${res.body.id}/sync`);
      expect(sync.status).toBe(404);
    });
  });

  describe('changes made in the calendar, with nobody asking', () => {
    let conversa: CalendarConversa;
    let database: TestDatabase;
    beforeAll(async () => {
      database = await createTestDatabase(dialect, { migrate: false });
      // No whole pass during the test: what arrives, arrives through the change checks.
      conversa = await startCalendarConversa({ intervalMs: 3_600_000, checkIntervalMs: 500, database });
    });
    afterAll(async () => {
      await conversa?.stop();
      await database?.destroy();
    });

    it('a new, a moved and a cancelled meeting reach the contact on their own', async () => {
      const creds = await dovecot.addUser();
      const [work, personal] = await calendarsOf(creds, ['work', 'personal']);
      const accountId = await connect(conversa, creds, radicale.principalUrl(creds.user));
      await calendarActive(conversa, accountId);
      const bia = `bia-${tag()}@client.test`;
      const biaId = await newContact(conversa, bia);
      const uid = `live-${tag()}`;
      const start = inFuture(3 * DAY);

      await put(work!, 'live.ics', vevent({ uid, title: 'Live', start, attendee: bia }));
      await meetingsWhen(conversa, biaId, 'the new meeting', (m) => m.some((x) => x.title === 'Live'));

      const moved = start + 2 * HOUR;
      await put(work!, 'live.ics', vevent({ uid, title: 'Live', start: moved, attendee: bia }));
      await meetingsWhen(
        conversa,
        biaId,
        'the moved meeting',
        (m) => m.length === 1 && m[0].start === new Date(moved).toISOString(),
      );

      // The other calendar of the same home is seen by the same check.
      await put(personal!, 'lunch.ics', vevent({ uid: `lunch-${tag()}`, title: 'Lunch', start, attendee: bia }));
      await meetingsWhen(conversa, biaId, 'the meeting of the second calendar', (m) =>
        m.some((x) => x.title === 'Lunch'),
      );

      await remove(work!, 'live.ics');
      const left = await meetingsWhen(conversa, biaId, 'the cancelled meeting gone', (m) =>
        m.every((x) => x.title !== 'Live'),
      );
      expect(left.map((m) => m.title)).toEqual(['Lunch']);
    });
  });
});

describe.each(DIALECTS)('"Sync now" on a web-only server, the calendar run by another process, on %s', (dialect) => {
  let database: TestDatabase;
  let web: TestConversa;
  let worker: CalendarConversa;
  beforeAll(async () => {
    database = await createTestDatabase(dialect, { migrate: false });
    const key = { CONVERSA_SECRET_KEY: 'b'.repeat(64) };
    web = await startTestConversa({ ...key, CONVERSA_SERVE_BACKGROUND: 'false' }, database);
    // The process holding the leases: no checks and no whole passes of its own during the test.
    worker = await startCalendarConversa({
      intervalMs: 3_600_000,
      checkIntervalMs: 3_600_000,
      database,
      env: key,
    });
  });
  afterAll(async () => {
    await web?.stop();
    await worker?.stop();
    await database?.destroy();
  });

  it('reaches the calendar runner of the lease holder', async () => {
    const creds = await dovecot.addUser();
    const [work] = await calendarsOf(creds, ['work']);
    const created = await web.api(
      'POST',
      '/api/email-accounts',
      dovecotAccountBody(dovecot, creds, { caldavUrl: radicale.principalUrl(creds.user) }),
    );
    expect(created.status, created.text).toBe(201);
    const accountId = created.body.id as string;
    await waitFor(
      "the worker's first calendar pass",
      async () => (await web.api('GET', `/api/email-accounts/${accountId}/calendar`)).body?.status === 'active',
      ARRIVES_MS,
    );
    const dan = `dan-${tag()}@client.test`;
    const contact = await web.api('POST', '/api/contacts', { emails: [dan], firstName: 'Dan' });
    expect(contact.status, contact.text).toBe(201);
    const start = inFuture(5 * DAY);
    await put(work!, 'remote.ics', vevent({ uid: `remote-${tag()}`, title: 'Remote', start, attendee: dan }));

    const res = await web.api('POST', `/api/email-accounts/${accountId}/sync`);
    expect(res.status, res.text).toBe(202);
    // Requested from the lease holder (this process runs nothing).
    expect(res.body).toMatchObject({ accepted: true, calendarAccepted: true });
    await waitFor(
      'the meeting on the contact',
      async () => {
        const items = (await web.api('GET', `/api/contacts/${contact.body.id}/meetings`)).body?.items as any[];
        return items?.some((m) => m.title === 'Remote');
      },
      ARRIVES_MS,
    );
  });
});

/** A Radicale in front of which the change checks can be answered with garbage or a huge body. */
async function startBadCheckProxy(): Promise<{
  url: string;
  mode: 'pass' | 'garbage' | 'huge';
  close(): Promise<void>;
}> {
  const target = new URL(radicale.url);
  const state = { mode: 'pass' as 'pass' | 'garbage' | 'huge' };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const text = body.toString('utf8');
      // The change check: a PROPFIND for the tags only (discovery asks for display names and more).
      const isCheck = req.method === 'PROPFIND' && text.includes('getctag') && !text.includes('displayname');
      if (isCheck && state.mode === 'garbage') {
        res.writeHead(207, { 'content-type': 'application/xml' });
        res.end('<<<this is not <xml at all & never was');
        return;
      }
      if (isCheck && state.mode === 'huge') {
        res.writeHead(207, { 'content-type': 'application/xml' });
        res.write('<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">');
        const filler = `<d:response><d:href>/x/${'y'.repeat(1000)}/</d:href></d:response>`;
        for (let i = 0; i < 4_000; i++) res.write(filler); // ~4 MB
        res.end('</d:multistatus>');
        return;
      }
      const upstream = http.request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(value) {
      state.mode = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('a calendar server that answers the change check badly', () => {
  let conversa: CalendarConversa;
  let proxy: Awaited<ReturnType<typeof startBadCheckProxy>>;
  beforeAll(async () => {
    proxy = await startBadCheckProxy();
    conversa = await startCalendarConversa({ intervalMs: 3_600_000, checkIntervalMs: 300 });
  });
  afterAll(async () => {
    await conversa?.stop();
    await proxy?.close();
  });

  for (const mode of ['garbage', 'huge'] as const) {
    it(`answered with ${mode}: a clear calendar status, the mail untouched, and the next good check recovers`, async () => {
      const creds = await dovecot.addUser();
      const [work] = await calendarsOf(creds, ['work']);
      const principalPath = new URL(radicale.principalUrl(creds.user)).pathname;
      const accountId = await connect(conversa, creds, `${proxy.url}${principalPath}`);
      await calendarActive(conversa, accountId);
      const cai = `cai-${tag()}@client.test`;
      const caiId = await newContact(conversa, cai);

      proxy.mode = mode;
      const failed = await waitFor(
        'the calendar status to show the bad check',
        async () => {
          const health = await calendarHealth(conversa, accountId);
          return health.status === 'error' ? health : false;
        },
        ARRIVES_MS,
      );
      expect(failed.detail).toMatch(
        mode === 'garbage' ? /change check .* not CalDAV/ : /change check was larger than 1024 KB/,
      );
      const account = (await conversa.api('GET', `/api/email-accounts/${accountId}`)).body;
      expect(account.status).not.toBe('error');
      expect(account.status).not.toBe('needs_reconnect');
      // A change made meanwhile is not lost: it arrives once the server answers properly again.
      const start = inFuture(4 * DAY);
      await put(work!, 'after.ics', vevent({ uid: `after-${tag()}`, title: 'After', start, attendee: cai }));
      proxy.mode = 'pass';
      await calendarActive(conversa, accountId);
      await meetingsWhen(conversa, caiId, 'the meeting after recovery', (m) => m.some((x) => x.title === 'After'));
      proxy.mode = 'pass';
    });
  }
});

const quiet = { info() {}, warn() {}, error() {} };

/** An account row with a CalDAV URL (the runner's driver is built by the test, so no credentials are needed). */
async function accountRow(db: Db, caldavUrl: string): Promise<string> {
  const user = await createUser(db, {
    email: `live-${newId()}@example.test`,
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
      provider: 'other',
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
      caldav_url: caldavUrl,
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

interface Counted {
  requests: Array<{ method: string; depth: string | null; body: string }>;
  calls: Record<'discover' | 'check' | 'changes' | 'fetch', number>;
  changedCalendars: string[];
}

/** The real CalDAV driver with every HTTP request and driver call counted. */
function countedDriver(auth: string, url: string, counted: Counted): CalendarDriver {
  const driver = createCalDavDriver({
    url,
    discoveryDomains: [],
    authorization: async () => auth,
    fetch: async (input, init) => {
      const headers = new Headers(init?.headers);
      counted.requests.push({
        method: init?.method ?? 'GET',
        depth: headers.get('depth'),
        body: typeof init?.body === 'string' ? init.body : '',
      });
      return fetch(input, init);
    },
  });
  return {
    ...driver,
    discover: (signal) => (counted.calls.discover++, driver.discover(signal)),
    check: (calendars, signal) => (counted.calls.check++, driver.check!(calendars, signal)),
    changes: (calendar, ...rest) => (
      counted.calls.changes++,
      counted.changedCalendars.push(calendar.url),
      driver.changes(calendar, ...rest)
    ),
    fetch: (...args) => (counted.calls.fetch++, driver.fetch(...args)),
    read: (...args) => driver.read(...args),
    create: (...args) => driver.create(...args),
    update: (...args) => driver.update(...args),
    remove: (...args) => driver.remove(...args),
  };
}

describe.each(DIALECTS)('the change checks, counted, on %s', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('an idle check asks only for the tags (one PROPFIND on the home); a moved calendar alone is synced', async () => {
    const creds = { user: `u${tag()}@example.test`, password: `p-${tag()}` } as Credentials;
    const [work, personal] = await calendarsOf(creds, ['work', 'personal']);
    await put(work!, 'a.ics', vevent({ uid: `a-${tag()}`, title: 'A', start: inFuture(DAY), attendee: 'x@y.test' }));
    const accountId = await accountRow(database.storage.db, radicale.principalUrl(creds.user));
    const counted: Counted = {
      requests: [],
      calls: { discover: 0, check: 0, changes: 0, fetch: 0 },
      changedCalendars: [],
    };
    const events: Array<'whole' | 'light' | 'idle'> = [];
    const supervisor = new CalendarSupervisor({
      db: database.storage.db,
      log: quiet,
      bccDomain: 'bcc.test',
      driverFor: async () => countedDriver(work!.auth, radicale.principalUrl(creds.user), counted),
      intervalMs: 3_600_000,
      checkIntervalMs: 100,
      backoffBaseMs: 100,
      backoffMaxMs: 1_000,
      onPass: (_id, _summary, light) => events.push(light ? 'light' : 'whole'),
      onIdleCheck: () => events.push('idle'),
    });
    try {
      await supervisor.start(accountId);
      await waitFor('the first whole pass', async () => events.includes('whole'), ARRIVES_MS);
      // From here on: idle checks only.
      const idleBefore = events.filter((e) => e === 'idle').length;
      counted.requests.length = 0;
      counted.calls = { discover: 0, check: 0, changes: 0, fetch: 0 };
      await waitFor(
        'five idle checks',
        async () => events.filter((e) => e === 'idle').length >= idleBefore + 5,
        ARRIVES_MS,
      );
      const checks = counted.calls.check;
      expect(counted.calls).toEqual({ discover: 0, check: checks, changes: 0, fetch: 0 });
      // One request per check (both calendars share the home), and each one a tags-only PROPFIND of depth 1.
      expect(counted.requests.length).toBeLessThanOrEqual(checks);
      expect(counted.requests.length).toBeGreaterThanOrEqual(checks - 1);
      for (const r of counted.requests) {
        expect(r.method).toBe('PROPFIND');
        expect(r.depth).toBe('1');
        expect(r.body).toContain('getctag');
        expect(r.body).toContain('sync-token');
        expect(r.body).not.toContain('calendar-data');
      }

      // A change in one calendar: that calendar's changes are asked for, not the other's, and no discovery.
      counted.changedCalendars.length = 0;
      counted.calls.discover = 0;
      await put(
        personal!,
        'b.ics',
        vevent({ uid: `b-${tag()}`, title: 'B', start: inFuture(DAY), attendee: 'x@y.test' }),
      );
      await waitFor('a light pass', async () => events.includes('light'), ARRIVES_MS);
      expect(counted.changedCalendars).toEqual([personal!.url]);
      expect(counted.calls.discover).toBe(0);
      const stored = await database.storage.db
        .selectFrom('meetings')
        .select('title')
        .where('account_id', '=', accountId)
        .execute();
      expect(stored.map((m) => m.title).sort()).toEqual(['A', 'B']);
    } finally {
      await supervisor.close();
    }
  });
});

describe.each(DIALECTS)('a calendar service without change tags (the Google and Graph APIs), on %s', (dialect) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });
  afterAll(async () => {
    await database?.destroy();
  });

  it('is asked for its changes at the check pace, without discovery again, and a change it lists arrives', async () => {
    const accountId = await accountRow(database.storage.db, 'https://unused.test/');
    const calendar = {
      url: 'primary',
      displayName: 'Primary',
      ctag: null,
      supportsSyncToken: true,
      writable: true,
      timeZone: null,
    };
    const start = inFuture(DAY);
    const calls = { discover: 0, changes: 0, fetch: 0 };
    // Its change list is empty until `pending` holds an event (as events.list with a sync token answers).
    let pending: { href: string; ics: string } | null = null;
    const driver: CalendarDriver = {
      async discover() {
        calls.discover++;
        return { calendars: [calendar], ownAddresses: [] };
      },
      async changes(_calendar, state) {
        calls.changes++;
        const next = pending;
        pending = null;
        return {
          state: { syncToken: `${Number(state.syncToken ?? 0) + 1}`, ctag: null },
          full: state.syncToken === null,
          changed: next ? [{ href: next.href, etag: '"1"' }] : [],
          deleted: [],
        };
      },
      async fetch(_calendar, hrefs) {
        calls.fetch++;
        return hrefs.map((href) => ({
          href,
          etag: '"1"',
          ics: vevent({ uid: 'api-1', title: 'From the API', start, attendee: 'x@y.test' }),
        }));
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
    const events: Array<'whole' | 'light'> = [];
    const supervisor = new CalendarSupervisor({
      db: database.storage.db,
      log: quiet,
      bccDomain: 'bcc.test',
      driverFor: async () => driver,
      intervalMs: 3_600_000,
      checkIntervalMs: 100,
      backoffBaseMs: 100,
      backoffMaxMs: 1_000,
      onPass: (_id, _summary, light) => events.push(light ? 'light' : 'whole'),
    });
    try {
      await supervisor.start(accountId);
      await waitFor('three light passes', async () => events.filter((e) => e === 'light').length >= 3, ARRIVES_MS);
      expect(calls.discover).toBe(1);
      expect(calls.changes).toBeGreaterThanOrEqual(4);
      expect(calls.fetch).toBe(0);
      pending = { href: 'api-1', ics: '' };
      await waitFor(
        'the listed event stored',
        async () =>
          (
            await database.storage.db
              .selectFrom('meetings')
              .select('title')
              .where('account_id', '=', accountId)
              .execute()
          ).some((m) => m.title === 'From the API'),
        ARRIVES_MS,
      );
      expect(calls.discover).toBe(1);
    } finally {
      await supervisor.close();
    }
  });
});
