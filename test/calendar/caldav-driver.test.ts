// The CalDAV driver against Radicale: discovery from a principal, a calendar or a server URL; changes by
// sync-collection (with deletions, and a forgotten token), by ctag and etags; refused credentials.
import { describe, expect, it } from 'vitest';
import { createCalDavDriver } from '../../src/calendar/caldav/caldav-driver.js';
import { CalendarError, type CalendarDriver } from '../../src/calendar/calendar-driver.js';
import { discoveryDomains } from '../../src/calendar/calendar-runner.js';
import { useRadicale } from '../support/servers.js';
import { testOutbound } from '../support/outbound.js';

const radicale = useRadicale();
const signal = new AbortController().signal;
const HOUR = 3_600_000;

async function userWithCalendars(names: string[]) {
  const creds = await radicale.addUser();
  const auth = radicale.authHeader(creds);
  for (const name of names) {
    const res = await fetch(`${radicale.principalUrl(creds.user)}${name}/`, {
      method: 'MKCALENDAR',
      headers: { Authorization: auth },
    });
    await res.arrayBuffer();
    expect(res.status).toBe(201);
  }
  const driver = (url: string | null, password = creds.password): CalendarDriver =>
    createCalDavDriver({
      url,
      discoveryDomains: [],
      outbound: testOutbound,
      authorization: async () => radicale.authHeader({ user: creds.user, password }),
    });
  return { creds, auth, driver };
}

const draft = (uid: string, title: string) => ({
  uid,
  title,
  start: Date.UTC(2030, 0, 1, 10),
  end: Date.UTC(2030, 0, 1, 10) + HOUR,
  organizer: { address: 'me@example.test' },
  attendees: [{ address: 'ana@client.test' }],
});

describe('the CalDAV driver on Radicale', () => {
  it('discovers the calendars from the principal URL, the server URL, or only the one a calendar URL names', async () => {
    const { creds, driver } = await userWithCalendars(['work', 'home']);
    const principal = radicale.principalUrl(creds.user);
    const fromPrincipal = await driver(principal).discover(signal);
    expect(fromPrincipal.calendars.map((c) => c.url).sort()).toEqual([`${principal}home/`, `${principal}work/`]);
    expect(fromPrincipal.calendars.every((c) => c.supportsSyncToken && c.writable)).toBe(true);
    const fromServer = await driver(`${radicale.url}/`).discover(signal);
    expect(fromServer.calendars.map((c) => c.url).sort()).toEqual(fromPrincipal.calendars.map((c) => c.url).sort());
    const single = await driver(`${principal}work/`).discover(signal);
    expect(single.calendars.map((c) => c.url)).toEqual([`${principal}work/`]);
  });

  it('follows additions, changes and deletions with sync-collection, and starts over when the token is refused', async () => {
    const { creds, driver: make } = await userWithCalendars(['work']);
    const driver = make(radicale.principalUrl(creds.user));
    const [calendar] = (await driver.discover(signal)).calendars;
    const first = await driver.create(calendar!, draft('one@test', 'One'), signal);
    const second = await driver.create(calendar!, draft('two@test', 'Two'), signal);
    const initial = await driver.changes(calendar!, { syncToken: null, ctag: null }, new Map(), signal);
    expect(initial.full).toBe(true);
    expect(initial.changed.map((c) => c.href).sort()).toEqual([first.href, second.href].sort());
    const objects = await driver.fetch(
      calendar!,
      initial.changed.map((c) => c.href),
      signal,
    );
    expect(objects.map((o) => /SUMMARY:(\w+)/.exec(o.ics)?.[1]).sort()).toEqual(['One', 'Two']);

    const known = new Map(objects.map((o) => [o.href, o.etag]));
    const updated = await driver.update(
      calendar!,
      {
        href: first.href,
        etag: first.etag,
        recurrenceId: '',
        start: Date.UTC(2030, 0, 1, 10),
        end: Date.UTC(2030, 0, 1, 11),
        allDay: false,
      },
      { title: 'One renamed' },
      signal,
    );
    await driver.remove(
      calendar!,
      { href: second.href, etag: second.etag, recurrenceId: '', start: 0, end: 0, allDay: false },
      signal,
    );
    const next = await driver.changes(calendar!, initial.state, known, signal);
    expect(next.full).toBe(false);
    expect(next.changed).toEqual([{ href: first.href, etag: updated.etag }]);
    expect(next.deleted).toEqual([second.href]);

    const reset = await driver.changes(
      calendar!,
      { syncToken: 'http://radicale.org/ns/sync/not-a-token', ctag: null },
      known,
      signal,
    );
    expect(reset.full).toBe(true);
    expect(reset.changed.map((c) => c.href)).toEqual([first.href]);
    expect(reset.deleted).toEqual([second.href]);
    expect(reset.state.syncToken).toMatch(/^http:\/\/radicale\.org\/ns\/sync\//);
  });

  it('falls back to ctag and etags where there is no sync-collection', async () => {
    const { creds, driver: make } = await userWithCalendars(['work']);
    const driver = make(radicale.principalUrl(creds.user));
    const [discovered] = (await driver.discover(signal)).calendars;
    const calendar = { ...discovered!, supportsSyncToken: false };
    const one = await driver.create(calendar, draft('a@test', 'A'), signal);
    const listed = await driver.changes(calendar, { syncToken: null, ctag: null }, new Map(), signal);
    expect(listed.changed.map((c) => c.href)).toEqual([one.href]);
    const known = new Map([[one.href, listed.changed[0]!.etag]]);
    const quiet = await driver.changes(calendar, listed.state, known, signal);
    expect(quiet).toMatchObject({ full: false, changed: [], deleted: [] });
    const two = await driver.create(calendar, draft('b@test', 'B'), signal);
    await driver.remove(
      calendar,
      { href: one.href, etag: null, recurrenceId: '', start: 0, end: 0, allDay: false },
      signal,
    );
    const after = await driver.changes(calendar, quiet.state, known, signal);
    expect(after.changed.map((c) => c.href)).toEqual([two.href]);
    expect(after.deleted).toEqual([one.href]);
  });

  it('says AUTH_FAILED when the password is refused, and CONFLICT when an event changed meanwhile', async () => {
    const { creds, driver: make } = await userWithCalendars(['work']);
    const error = await make(radicale.principalUrl(creds.user), 'wrong')
      .discover(signal)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CalendarError);
    expect((error as CalendarError).code).toBe('AUTH_FAILED');

    const driver = make(radicale.principalUrl(creds.user));
    const [calendar] = (await driver.discover(signal)).calendars;
    await driver.create(calendar!, draft('dup@test', 'Dup'), signal);
    const again = await driver.create(calendar!, draft('dup@test', 'Dup'), signal).catch((e: unknown) => e);
    expect((again as CalendarError).code).toBe('CONFLICT');
  });

  it('looks for /.well-known/caldav on the address and IMAP domains when there is no URL', () => {
    expect(discoveryDomains({ email: 'ana@acme.com.br', imap_host: 'imap.mail.acme.com.br' })).toEqual([
      'acme.com.br',
      'mail.acme.com.br',
      'imap.mail.acme.com.br',
    ]);
    expect(discoveryDomains({ email: 'ana@example.test', imap_host: '127.0.0.1' })).toEqual(['example.test']);
  });
});
