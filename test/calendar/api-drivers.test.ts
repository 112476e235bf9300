// The Google Calendar and Microsoft Graph drivers against fakes built from the documented payloads (Google's and
// Microsoft's own endpoints cannot run here): discovery, first sync with paging, incremental changes and deletions,
// an expired sync token, series with moved and cancelled occurrences read as meetings, writes; then each driver
// through the calendar runner with the account's OAuth credentials (Microsoft: a Graph token of its own audience).
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/core/secret-box.js';
import { calendarTokenSource, createDriverFactory } from '../../src/calendar/calendar-runner.js';
import { CalendarSupervisor } from '../../src/calendar/calendar-supervisor.js';
import { createGoogleDriver } from '../../src/calendar/google/google-driver.js';
import { parseEvents, type ParsedEvent } from '../../src/calendar/ical/parse-events.js';
import { createMicrosoftDriver } from '../../src/calendar/microsoft/microsoft-driver.js';
import type { CalendarDriver, RemoteCalendar } from '../../src/calendar/calendar-driver.js';
import { sealCredentials, type AccountCredentials } from '../../src/mail/accounts/account-credentials.js';
import { buildAuthorizeUrl, createPkce, exchangeCode } from '../../src/mail/oauth2/oauth-client.js';
import { loadOAuthConfig, type OAuthConfig } from '../../src/mail/oauth2/oauth-config.js';
import type { Db } from '../../src/storage/database.js';
import { newId } from '../../src/storage/ids.js';
import { createUser } from '../../src/users/users.js';
import { startOAuth2Server, type OAuth2TestServer } from '../servers/oauth2-server.js';
import { createTestDatabase, type TestDatabase } from '../support/databases.js';
import { waitFor } from '../support/wait-for.js';
import { startGoogleCalendarFake, type GoogleCalendarFake } from './fakes/google-calendar-fake.js';
import { startGraphCalendarFake, type GraphCalendarFake } from './fakes/graph-calendar-fake.js';

const signal = new AbortController().signal;
const WINDOW = { start: Date.UTC(2030, 2, 1), end: Date.UTC(2030, 3, 1) };
const iso = (ms: number) => new Date(ms).toISOString();
const quiet = { info() {}, warn() {}, error() {} };

async function meetingsOf(driver: CalendarDriver, calendar: RemoteCalendar, hrefs: string[]): Promise<ParsedEvent[]> {
  const objects = await driver.fetch(calendar, hrefs, signal);
  return objects
    .flatMap(
      (o) => parseEvents(o.ics, { window: WINDOW, defaultTimeZone: calendar.timeZone, fallbackUid: o.href }).events,
    )
    .sort((a, b) => a.start - b.start);
}

async function accountRow(
  db: Db,
  secrets: SecretBox,
  provider: string,
  credentials: AccountCredentials,
): Promise<string> {
  const user = await createUser(db, {
    email: `api-${newId()}@example.test`,
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
      email: `me-${id.slice(-6)}@example.test`,
      provider,
      auth_kind: 'oauth2',
      sync_mode: 'two-way',
      status: 'active',
      status_detail: null,
      next_retry_at: null,
      last_synced_at: now,
      history_days: 3650,
      imap_host: 'imap.example.test',
      imap_port: 993,
      imap_secure: 1,
      smtp_host: 'smtp.example.test',
      smtp_port: 465,
      smtp_secure: 1,
      username: 'me',
      credentials_enc: sealCredentials(secrets, id, credentials),
      smtp_mode: 'mailbox',
      smtp_custom_enc: null,
      caldav_url: null,
      bcc_token: randomBytes(10).toString('hex'),
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

describe('the Google Calendar driver', () => {
  let fake: GoogleCalendarFake;
  let driver: CalendarDriver;
  beforeAll(async () => {
    fake = await startGoogleCalendarFake();
    fake.calendars = [
      { id: 'me@gmail.test', summary: 'me@gmail.test', accessRole: 'owner', timeZone: 'Europe/Berlin', primary: true },
      { id: 'en.brazilian#holiday@group.v.calendar.google.com', summary: 'Holidays in Brazil', accessRole: 'reader' },
      { id: 'boss@gmail.test', summary: 'Boss', accessRole: 'freeBusyReader' },
      { id: 'team@group.calendar.google.com', summary: 'Team', accessRole: 'reader', timeZone: 'America/Sao_Paulo' },
    ];
    driver = createGoogleDriver({ token: async () => fake.token, baseUrl: fake.url });
  });
  afterAll(async () => {
    await fake?.stop();
  });

  it("finds the user's calendars, not Google's feeds nor free/busy-only ones", async () => {
    const discovery = await driver.discover(signal);
    expect(discovery.calendars.map((c) => [c.url, c.writable, c.timeZone])).toEqual([
      ['me@gmail.test', true, 'Europe/Berlin'],
      ['team@group.calendar.google.com', false, 'America/Sao_Paulo'],
    ]);
    expect(discovery.ownAddresses).toEqual(['me@gmail.test']);
  });

  it('reads series with moved and cancelled occurrences, follows changes, and lists again when the token expires', async () => {
    const cal = 'me@gmail.test';
    fake.put(cal, {
      id: 'series1',
      summary: 'Weekly',
      start: { dateTime: '2030-03-04T09:00:00+01:00', timeZone: 'Europe/Berlin' },
      end: { dateTime: '2030-03-04T10:00:00+01:00', timeZone: 'Europe/Berlin' },
      recurrence: ['RRULE:FREQ=WEEKLY;COUNT=5'],
      organizer: { email: 'me@gmail.test', self: true },
      attendees: [
        { email: 'ana@client.test', displayName: 'Ana', responseStatus: 'accepted' },
        {
          email: 'room-1@resource.calendar.google.com',
          displayName: 'Room 1',
          resource: true,
          responseStatus: 'accepted',
        },
      ],
    });
    fake.put(cal, {
      id: 'series1_20300311T080000Z',
      recurringEventId: 'series1',
      originalStartTime: { dateTime: '2030-03-11T09:00:00+01:00', timeZone: 'Europe/Berlin' },
      summary: 'Weekly (moved)',
      start: { dateTime: '2030-03-12T15:00:00+01:00', timeZone: 'Europe/Berlin' },
      end: { dateTime: '2030-03-12T16:00:00+01:00', timeZone: 'Europe/Berlin' },
    });
    fake.put(cal, {
      id: 'series1_20300318T080000Z',
      recurringEventId: 'series1',
      originalStartTime: { dateTime: '2030-03-18T09:00:00+01:00' },
      status: 'cancelled',
    });
    fake.put(cal, {
      id: 'single1',
      summary: 'Demo',
      start: { dateTime: '2030-03-20T13:00:00Z' },
      end: { dateTime: '2030-03-20T14:00:00Z' },
      organizer: { email: 'bruno@client.test' },
      attendees: [{ email: 'me@gmail.test', self: true, responseStatus: 'tentative' }],
    });
    fake.put(cal, { id: 'allday1', summary: 'Fair', start: { date: '2030-03-22' }, end: { date: '2030-03-24' } });
    fake.pageSize = 2;

    const [calendar] = (await driver.discover(signal)).calendars;
    const first = await driver.changes(calendar!, { syncToken: null, ctag: null }, new Map(), signal);
    expect(first.full).toBe(true);
    expect(first.changed.map((c) => c.href).sort()).toEqual(['allday1', 'series1', 'single1']);
    const meetings = await meetingsOf(
      driver,
      calendar!,
      first.changed.map((c) => c.href),
    );
    expect(meetings.map((m) => [m.title, iso(m.start), m.allDay])).toEqual(
      [
        ['Weekly', '2030-03-04T08:00:00.000Z', false],
        ['Weekly (moved)', '2030-03-12T14:00:00.000Z', false],
        ['Demo', '2030-03-20T13:00:00.000Z', false],
        ['Fair', '2030-03-22T00:00:00.000Z', true],
        ['Weekly', '2030-03-25T08:00:00.000Z', false],
        // Summer time from 31 March: 09:00 in Berlin is 07:00 UTC.
        ['Weekly', '2030-04-01T07:00:00.000Z', false],
      ].filter(([, start]) => Date.parse(start as string) < WINDOW.end),
    );
    const weekly = meetings.find((m) => m.title === 'Weekly')!;
    expect(weekly.attendees.map((a) => [a.address, a.status, a.kind])).toEqual([
      ['ana@client.test', 'accepted', 'individual'],
      ['room-1@resource.calendar.google.com', 'accepted', 'resource'],
    ]);
    expect(meetings.find((m) => m.title === 'Demo')!.organizer).toEqual({ address: 'bruno@client.test', name: null });

    // Changes in Google Calendar: a new event, a deleted one, an occurrence cancelled.
    fake.put(cal, {
      id: 'new1',
      summary: 'New',
      start: { dateTime: '2030-03-27T10:00:00Z' },
      end: { dateTime: '2030-03-27T11:00:00Z' },
    });
    fake.cancel(cal, 'single1');
    fake.put(cal, {
      id: 'series1_20300325T080000Z',
      recurringEventId: 'series1',
      originalStartTime: { dateTime: '2030-03-25T09:00:00+01:00' },
      status: 'cancelled',
    });
    const known = new Map(first.changed.map((c) => [c.href, c.etag]));
    const next = await driver.changes(calendar!, first.state, known, signal);
    expect(next.full).toBe(false);
    expect(next.changed.map((c) => c.href).sort()).toEqual(['new1', 'series1']);
    expect(next.deleted).toEqual(['single1']);
    expect((await meetingsOf(driver, calendar!, ['series1'])).map((m) => iso(m.start))).toEqual([
      '2030-03-04T08:00:00.000Z',
      '2030-03-12T14:00:00.000Z',
    ]);

    fake.expireSyncTokens();
    const again = await driver.changes(calendar!, next.state, new Map([...known, ['new1', null]]), signal);
    expect(again.full).toBe(true);
    expect(again.deleted).toEqual(['single1']);
    // Listed again in full, but only what differs from what is held is to be fetched.
    expect(again.changed.map((c) => c.href).sort()).toEqual(['new1', 'series1']);
    expect(fake.requests.some((r) => r.includes('syncToken='))).toBe(true);
  });

  it('creates, moves one occurrence of, and cancels meetings', async () => {
    const [calendar] = (await driver.discover(signal)).calendars;
    const start = Date.UTC(2030, 2, 26, 15);
    const created = await driver.create(
      calendar!,
      {
        uid: 'crm-1@conversa',
        title: 'Proposal',
        start,
        end: start + 3_600_000,
        organizer: { address: 'me@gmail.test' },
        attendees: [{ address: 'ana@client.test' }],
      },
      signal,
    );
    const stored = fake.get('me@gmail.test', created.href)!;
    expect(stored).toMatchObject({
      iCalUID: 'crm-1@conversa',
      summary: 'Proposal',
      attendees: [{ email: 'ana@client.test' }],
    });
    expect(fake.requests.some((r) => r.startsWith('POST') && r.includes('sendUpdates=all'))).toBe(true);

    const occurrence = Date.UTC(2030, 2, 4, 8);
    const moved = await driver.update(
      calendar!,
      {
        href: 'series1',
        etag: null,
        recurrenceId: iso(occurrence),
        start: occurrence,
        end: occurrence + 3_600_000,
        allDay: false,
      },
      { start: occurrence + 2 * 3_600_000, title: 'Weekly (later)' },
      signal,
    );
    const afterMove = parseEvents(moved.ics, { window: WINDOW, defaultTimeZone: 'Europe/Berlin' }).events;
    expect(afterMove.find((e) => e.recurrenceId === iso(occurrence))).toMatchObject({
      title: 'Weekly (later)',
      start: occurrence + 2 * 3_600_000,
      end: occurrence + 3 * 3_600_000,
    });

    const cancelled = await driver.remove(
      calendar!,
      {
        href: 'series1',
        etag: null,
        recurrenceId: iso(occurrence),
        start: occurrence,
        end: occurrence + 3_600_000,
        allDay: false,
      },
      signal,
    );
    expect(parseEvents(cancelled!.ics, { window: WINDOW }).events.map((e) => e.recurrenceId)).not.toContain(
      iso(occurrence),
    );
    expect(
      await driver.remove(
        calendar!,
        { href: created.href, etag: null, recurrenceId: '', start, end: start, allDay: false },
        signal,
      ),
    ).toBeNull();
    expect(fake.get('me@gmail.test', created.href)?.status).toBe('cancelled');
  });

  it('syncs through the runner with the account’s Google sign-in', async () => {
    const database: TestDatabase = await createTestDatabase('sqlite');
    const secrets = new SecretBox(randomBytes(32));
    try {
      const db = database.storage.db;
      const id = await accountRow(db, secrets, 'gmail', {
        kind: 'oauth2',
        accessToken: fake.token,
        refreshToken: 'unused',
        expiresAt: Date.now() + 3_600_000,
      });
      const config = loadOAuthConfig({});
      const supervisor = new CalendarSupervisor({
        db,
        log: quiet,
        bccDomain: 'bcc.test',
        intervalMs: 60_000,
        backoffBaseMs: 50,
        backoffMaxMs: 200,
        // The fake's events are in 2030: a window that reaches them.
        window: { pastDays: 30, futureDays: 10 * 365 },
        driverFor: createDriverFactory({ db, secrets, oauth: config, log: quiet, googleApiBase: fake.url }),
      });
      try {
        await supervisor.start(id);
        await waitFor('google calendar synced', async () => {
          const row = await db
            .selectFrom('email_accounts')
            .select(['calendar_status', 'calendar_detail'])
            .where('id', '=', id)
            .executeTakeFirstOrThrow();
          if (row.calendar_status === 'needs_reconnect' || row.calendar_status === 'error')
            throw new Error(`${row.calendar_status}: ${row.calendar_detail}`);
          return row.calendar_status === 'active';
        });
        const titles = await db.selectFrom('meetings').select('title').where('account_id', '=', id).execute();
        expect(titles.map((t) => t.title)).toContain('New');
      } finally {
        await supervisor.close();
      }
    } finally {
      await database.destroy();
    }
  });
});

describe('the Microsoft Graph driver', () => {
  let fake: GraphCalendarFake;
  let driver: CalendarDriver;
  const token = `eyJ0eXAi.${randomBytes(8).toString('hex')}`;
  beforeAll(async () => {
    fake = await startGraphCalendarFake();
    fake.tokens.add(token);
    fake.calendars = [
      {
        id: 'AAMkCal1',
        name: 'Calendar',
        canEdit: true,
        isDefaultCalendar: true,
        owner: { name: 'Me', address: 'me@contoso.test' },
      },
      { id: 'AAMkCal2', name: 'Holidays', canEdit: false },
    ];
    driver = createMicrosoftDriver({ token: async () => token, window: () => WINDOW, baseUrl: fake.url });
  });
  afterAll(async () => {
    await fake?.stop();
  });

  const occurrence = (n: number, day: string, extra: Record<string, unknown> = {}) =>
    fake.put('AAMkCal1', {
      id: `AAMkOcc${n}`,
      type: 'occurrence',
      seriesMasterId: 'AAMkMaster1',
      originalStart: `${day}T12:00:00Z`,
      subject: 'Standup',
      start: { dateTime: `${day}T12:00:00.0000000`, timeZone: 'UTC' },
      end: { dateTime: `${day}T12:15:00.0000000`, timeZone: 'UTC' },
      organizer: { emailAddress: { name: 'Me', address: 'me@contoso.test' } },
      attendees: [
        {
          emailAddress: { address: 'carla@client.test', name: 'Carla' },
          type: 'required',
          status: { response: 'accepted' },
        },
      ],
      ...extra,
    } as any);

  it('discovers the calendars and the owner address', async () => {
    const discovery = await driver.discover(signal);
    expect(discovery.calendars.map((c) => [c.url, c.writable])).toEqual([
      ['AAMkCal1', true],
      ['AAMkCal2', false],
    ]);
    expect(discovery.ownAddresses).toEqual(['me@contoso.test']);
  });

  it('reads the window with paging, follows the delta, and starts over when the day moves or the token expires', async () => {
    occurrence(1, '2030-03-04');
    occurrence(2, '2030-03-05', {
      type: 'exception',
      subject: 'Standup (moved)',
      start: { dateTime: '2030-03-05T16:00:00.0000000', timeZone: 'UTC' },
      end: { dateTime: '2030-03-05T16:15:00.0000000', timeZone: 'UTC' },
    });
    occurrence(3, '2030-03-06');
    fake.put('AAMkCal1', {
      id: 'AAMkSingle1',
      type: 'singleInstance',
      subject: 'Review',
      // A zone Graph may still name the Windows way.
      start: { dateTime: '2030-03-10T09:00:00.0000000', timeZone: 'E. South America Standard Time' },
      end: { dateTime: '2030-03-10T10:00:00.0000000', timeZone: 'E. South America Standard Time' },
      organizer: { emailAddress: { address: 'dora@client.test' } },
      attendees: [
        {
          emailAddress: { address: 'sala@contoso.test', name: 'Sala' },
          type: 'resource',
          status: { response: 'accepted' },
        },
      ],
    } as any);
    fake.put('AAMkCal1', {
      id: 'AAMkFar',
      type: 'singleInstance',
      subject: 'Outside',
      start: { dateTime: '2031-01-01T09:00:00', timeZone: 'UTC' },
      end: { dateTime: '2031-01-01T10:00:00', timeZone: 'UTC' },
    } as any);
    fake.pageSize = 2;

    const [calendar] = (await driver.discover(signal)).calendars;
    const first = await driver.changes(calendar!, { syncToken: null, ctag: null }, new Map(), signal);
    expect(first.changed.map((c) => c.href).sort()).toEqual(['AAMkOcc1', 'AAMkOcc2', 'AAMkOcc3', 'AAMkSingle1']);
    const meetings = await meetingsOf(
      driver,
      calendar!,
      first.changed.map((c) => c.href),
    );
    expect(meetings.map((m) => [m.uid, m.recurrenceId, m.title, iso(m.start)])).toEqual([
      ['AAMkMaster1', '2030-03-04T12:00:00.000Z', 'Standup', '2030-03-04T12:00:00.000Z'],
      ['AAMkMaster1', '2030-03-05T12:00:00.000Z', 'Standup (moved)', '2030-03-05T16:00:00.000Z'],
      ['AAMkMaster1', '2030-03-06T12:00:00.000Z', 'Standup', '2030-03-06T12:00:00.000Z'],
      ['AAMkSingle1', '', 'Review', '2030-03-10T12:00:00.000Z'],
    ]);
    expect(meetings[3]!.attendees).toEqual([
      { address: 'sala@contoso.test', name: 'Sala', status: 'accepted', role: 'req-participant', kind: 'resource' },
    ]);

    fake.remove('AAMkOcc3');
    occurrence(4, '2030-03-07');
    const known = new Map(first.changed.map((c) => [c.href, c.etag]));
    const next = await driver.changes(calendar!, first.state, known, signal);
    expect(next.full).toBe(false);
    expect(next.changed.map((c) => c.href)).toEqual(['AAMkOcc4']);
    expect(next.deleted).toEqual(['AAMkOcc3']);

    fake.expireDeltaTokens();
    const reset = await driver.changes(calendar!, next.state, new Map([...known, ['AAMkOcc4', null]]), signal);
    expect(reset.full).toBe(true);
    expect(reset.deleted).toEqual(['AAMkOcc3']);

    const moved = createMicrosoftDriver({
      token: async () => token,
      window: () => ({ start: WINDOW.start + 4 * 86_400_000, end: WINDOW.end + 4 * 86_400_000 }),
      baseUrl: fake.url,
    });
    const newDay = await moved.changes(calendar!, reset.state, new Map(), signal);
    expect(newDay.full).toBe(true);
    // 4 March left the window as the days moved on.
    expect(newDay.changed.map((c) => c.href)).not.toContain('AAMkOcc1');
  });

  it('creates, moves and cancels meetings', async () => {
    const [calendar] = (await driver.discover(signal)).calendars;
    const start = Date.UTC(2030, 2, 15, 14);
    const created = await driver.create(
      calendar!,
      {
        uid: 'crm-2@conversa',
        title: 'Kick-off',
        start,
        end: start + 3_600_000,
        location: 'Teams',
        organizer: { address: 'me@contoso.test' },
        attendees: [{ address: 'ana@client.test' }],
      },
      signal,
    );
    expect(fake.get(created.href)).toMatchObject({
      subject: 'Kick-off',
      location: { displayName: 'Teams' },
      attendees: [{ emailAddress: { address: 'ana@client.test' }, type: 'required' }],
    });
    const [event] = parseEvents(created.ics, { window: WINDOW }).events;
    expect(event).toMatchObject({
      title: 'Kick-off',
      start,
      end: start + 3_600_000,
      organizer: { address: 'me@contoso.test' },
    });

    const updated = await driver.update(
      calendar!,
      { href: created.href, etag: created.etag, recurrenceId: '', start, end: start + 3_600_000, allDay: false },
      { start: start + 86_400_000, end: start + 86_400_000 + 3_600_000 },
      signal,
    );
    expect(parseEvents(updated.ics, { window: WINDOW }).events[0]!.start).toBe(start + 86_400_000);
    expect(
      await driver.remove(
        calendar!,
        { href: created.href, etag: updated.etag, recurrenceId: '', start, end: start, allDay: false },
        signal,
      ),
    ).toBeNull();
    expect(fake.get(created.href)).toBeUndefined();
  });

  describe('through the runner, with a Graph token of its own', () => {
    let oauth: OAuth2TestServer;
    let config: OAuthConfig;
    beforeAll(async () => {
      oauth = await startOAuth2Server({ redirectUris: ['http://127.0.0.1:3000/cb'] });
      config = loadOAuthConfig(oauth.env());
      // Whatever the OAuth server issues, the Graph fake accepts.
      oauth.onToken((issued) => void fake.tokens.add(issued.accessToken));
    });
    afterAll(async () => {
      await oauth?.stop();
    });

    it('asks for a calendar-audience token and syncs the meetings', async () => {
      const pkce = createPkce();
      const authorize = await fetch(
        buildAuthorizeUrl({
          provider: 'microsoft365',
          config,
          state: 's',
          codeChallenge: pkce.challenge,
          redirectUri: 'http://127.0.0.1:3000/cb',
          loginHint: 'me@contoso.test',
        }),
        { redirect: 'manual' },
      );
      const code = new URL(authorize.headers.get('location')!).searchParams.get('code')!;
      const tokens = await exchangeCode({
        provider: 'microsoft365',
        config,
        code,
        codeVerifier: pkce.verifier,
        redirectUri: 'http://127.0.0.1:3000/cb',
      });

      const database = await createTestDatabase('sqlite');
      const secrets = new SecretBox(randomBytes(32));
      try {
        const db = database.storage.db;
        const id = await accountRow(db, secrets, 'microsoft365', {
          kind: 'oauth2',
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
          expiresAt: tokens.expiresAt,
        });
        const row = await db.selectFrom('email_accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
        const graphToken = await calendarTokenSource({ db, secrets, oauth: config, log: quiet }, row)(signal);
        const refresh = oauth.requests
          .filter((r) => r.endpoint === 'token' && r.params.get('grant_type') === 'refresh_token')
          .at(-1)!;
        expect(refresh.params.get('scope')).toContain('https://graph.microsoft.com/Calendars.ReadWrite');
        expect(graphToken).not.toBe(tokens.accessToken);

        const supervisor = new CalendarSupervisor({
          db,
          log: quiet,
          bccDomain: 'bcc.test',
          intervalMs: 60_000,
          backoffBaseMs: 50,
          backoffMaxMs: 200,
          // The fake's events are in 2030: a window that reaches them.
          window: { pastDays: 30, futureDays: 10 * 365 },
          driverFor: createDriverFactory({ db, secrets, oauth: config, log: quiet, graphApiBase: fake.url }),
        });
        try {
          await supervisor.start(id);
          await waitFor('graph calendar synced', async () => {
            const account = await db
              .selectFrom('email_accounts')
              .select(['calendar_status', 'calendar_detail'])
              .where('id', '=', id)
              .executeTakeFirstOrThrow();
            if (account.calendar_status === 'needs_reconnect' || account.calendar_status === 'error')
              throw new Error(`${account.calendar_status}: ${account.calendar_detail}`);
            return account.calendar_status === 'active';
          });
          const titles = await db.selectFrom('meetings').select('title').where('account_id', '=', id).execute();
          expect(titles.map((t) => t.title)).toContain('Review');
        } finally {
          await supervisor.close();
        }
      } finally {
        await database.destroy();
      }
    });
  });
});
