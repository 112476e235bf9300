// Proves the Radicale harness with plain HTTP: a fresh user authenticates, creates a calendar, stores
// and reads back an event; a wrong password and another user's calendar are refused.

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useRadicale } from '../support/servers.js';

const radicale = useRadicale();

const PROPFIND_BODY = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/><d:resourcetype/></d:prop></d:propfind>`;

const MKCALENDAR_BODY = `<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:set><d:prop><d:displayname>Work</d:displayname></d:prop></d:set>
</c:mkcalendar>`;

function vevent(uid: string): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Conversa//harness//EN',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    'DTSTAMP:20240101T080000Z',
    'DTSTART:20240102T090000Z',
    'DTEND:20240102T100000Z',
    'SUMMARY:Call with Acme',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

describe('Radicale harness', () => {
  it('authenticates a fresh user, creates a calendar, stores and returns an event', async () => {
    const creds = await radicale.addUser();
    const auth = radicale.authHeader(creds);
    const principal = radicale.principalUrl(creds.user);

    const propfind = await fetch(principal, {
      method: 'PROPFIND',
      headers: { Authorization: auth, Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' },
      body: PROPFIND_BODY,
    });
    const propfindText = await propfind.text();
    expect(propfind.status).toBe(207);
    expect(propfindText).toContain('current-user-principal');

    const calendar = `${principal}work/`;
    const mk = await fetch(calendar, {
      method: 'MKCALENDAR',
      headers: { Authorization: auth, 'Content-Type': 'application/xml; charset=utf-8' },
      body: MKCALENDAR_BODY,
    });
    await mk.arrayBuffer();
    expect(mk.status).toBe(201);

    const uid = `${randomBytes(8).toString('hex')}@conversa.test`;
    const eventUrl = `${calendar}${encodeURIComponent(uid)}.ics`;
    const put = await fetch(eventUrl, {
      method: 'PUT',
      headers: { Authorization: auth, 'Content-Type': 'text/calendar; charset=utf-8', 'If-None-Match': '*' },
      body: vevent(uid),
    });
    await put.arrayBuffer();
    expect(put.status).toBe(201);
    expect(put.headers.get('etag')).toBeTruthy();

    const get = await fetch(eventUrl, { headers: { Authorization: auth } });
    const ics = await get.text();
    expect(get.status).toBe(200);
    expect(get.headers.get('content-type')).toMatch(/^text\/calendar/);
    expect(ics).toContain(`UID:${uid}`);
    expect(ics).toContain('SUMMARY:Call with Acme');
  });

  it('refuses a wrong password with 401', async () => {
    const creds = await radicale.addUser();
    const response = await fetch(radicale.principalUrl(creds.user), {
      method: 'PROPFIND',
      headers: { Authorization: radicale.authHeader({ ...creds, password: `${creds.password}x` }), Depth: '0' },
    });
    await response.arrayBuffer();
    expect(response.status).toBe(401);
  });

  it("keeps users out of each other's collections (owner_only)", async () => {
    const owner = await radicale.addUser();
    const other = await radicale.addUser();
    const calendar = `${radicale.principalUrl(owner.user)}private/`;
    const mk = await fetch(calendar, { method: 'MKCALENDAR', headers: { Authorization: radicale.authHeader(owner) } });
    await mk.arrayBuffer();
    expect(mk.status).toBe(201);

    const peek = await fetch(calendar, {
      method: 'PROPFIND',
      headers: { Authorization: radicale.authHeader(other), Depth: '1' },
    });
    await peek.arrayBuffer();
    expect(peek.status).toBe(403);
  });
});
