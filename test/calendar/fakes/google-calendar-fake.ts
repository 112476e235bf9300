// A stand-in for the Google Calendar API v3 on 127.0.0.1, built from its documented requests and answers
// (developers.google.com/calendar/api/v3/reference: calendarList.list, events.list/get/insert/patch/delete/
// instances, and the sync guide): bearer tokens, sync tokens that can expire (410 fullSyncRequired), paging,
// deleted entries as {id, status: "cancelled"}, exceptions with recurringEventId + originalStartTime, etags with
// If-Match (412). Only what the driver uses; no recurrence expansion beyond what instances needs.
// Push (developers.google.com/calendar/api/guides/push): events.watch makes a channel {id, resourceId, expiration}
// and sends its "sync" message; every later change of the calendar's events POSTs to each live channel's address
// with X-Goog-Channel-ID, -Channel-Token, -Resource-ID, -Resource-State: exists and an empty body;
// channels/stop ends one (404 when unknown).
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GoogleEvent } from '../../../src/calendar/google/google-driver.js';

export interface FakeCalendarEntry {
  id: string;
  summary: string;
  accessRole: 'freeBusyReader' | 'reader' | 'writer' | 'owner';
  timeZone?: string;
  primary?: boolean;
}

interface Stored {
  event: GoogleEvent;
  seq: number;
}

export interface FakeGoogleChannel {
  id: string;
  resourceId: string;
  calendarId: string;
  address: string;
  token: string | undefined;
  /** Epoch ms. */
  expiration: number;
  stopped: boolean;
  /** Notifications sent, with the webhook's answer status. */
  sent: Array<{ state: string; status: number }>;
}

export interface GoogleCalendarFake {
  url: string;
  token: string;
  calendars: FakeCalendarEntry[];
  /** Adds or replaces an event (server side: as if changed in Google Calendar). */
  put(calendarId: string, event: Omit<GoogleEvent, 'etag'>): GoogleEvent;
  /** Deletes an event as Google does: it stays as cancelled for incremental syncs. */
  cancel(calendarId: string, id: string): void;
  get(calendarId: string, id: string): GoogleEvent | undefined;
  all(calendarId: string): GoogleEvent[];
  /** Sync tokens issued so far stop working (410). */
  expireSyncTokens(): void;
  pageSize: number;
  requests: string[];
  /** Push channels made with events.watch (stopped ones kept, marked). */
  channels: FakeGoogleChannel[];
  /** Notify channels on changes (default true). */
  pushEnabled: boolean;
  /** Resolves once every notification sent so far has been answered. */
  notified(): Promise<void>;
  stop(): Promise<void>;
}

export async function startGoogleCalendarFake(options: { token?: string } = {}): Promise<GoogleCalendarFake> {
  const token = options.token ?? `ya29.${randomBytes(12).toString('base64url')}`;
  const store = new Map<string, Map<string, Stored>>();
  let seq = 0;
  // Sync tokens name their generation: expiring them starts a new one.
  let generation = 0;
  const requests: string[] = [];

  const events = (calendarId: string) => {
    let map = store.get(calendarId);
    if (!map) {
      map = new Map();
      store.set(calendarId, map);
    }
    return map;
  };
  const channels: FakeGoogleChannel[] = [];
  let sending: Promise<unknown>[] = [];
  let messageNumber = 0;
  const notify = (channel: FakeGoogleChannel, state: 'sync' | 'exists') => {
    messageNumber++;
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=UTF-8',
      'x-goog-channel-id': channel.id,
      'x-goog-channel-expiration': new Date(channel.expiration).toUTCString(),
      'x-goog-resource-id': channel.resourceId,
      'x-goog-resource-state': state,
      'x-goog-resource-uri': `${fake.url}/calendars/${encodeURIComponent(channel.calendarId)}/events?alt=json`,
      'x-goog-message-number': String(messageNumber),
    };
    if (channel.token !== undefined) headers['x-goog-channel-token'] = channel.token;
    sending.push(
      fetch(channel.address, { method: 'POST', headers, body: '' })
        .then(async (r) => {
          await r.arrayBuffer();
          channel.sent.push({ state, status: r.status });
        })
        .catch(() => channel.sent.push({ state, status: 0 })),
    );
  };
  const save = (calendarId: string, event: GoogleEvent): GoogleEvent => {
    seq++;
    const stored = { ...event, etag: `"${seq}"` };
    events(calendarId).set(event.id, { event: stored, seq });
    if (fake.pushEnabled)
      for (const channel of channels)
        if (channel.calendarId === calendarId && !channel.stopped && channel.expiration > Date.now())
          notify(channel, 'exists');
    return stored;
  };

  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json; charset=UTF-8' });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, reason: string, message: string) =>
    send(res, status, { error: { code: status, message, errors: [{ domain: 'global', reason, message }] } });

  const readBody = async (req: IncomingMessage): Promise<any> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : undefined;
  };

  const page = <T>(
    res: ServerResponse,
    items: T[],
    pageToken: string | null,
    extra: Record<string, unknown>,
    pageSize: number,
  ) => {
    const offset = pageToken ? Number(pageToken) : 0;
    const slice = items.slice(offset, offset + pageSize);
    const more = offset + pageSize < items.length;
    send(res, 200, {
      kind: 'calendar#events',
      items: slice,
      ...(more ? { nextPageToken: String(offset + pageSize) } : extra),
    });
  };

  /** An occurrence's instance id, as Google writes it: <seriesId>_<original start in basic UTC format>. */
  const instanceId = (seriesId: string, originalStart: string) =>
    `${seriesId}_${
      /^\d{4}-\d{2}-\d{2}$/.test(originalStart)
        ? originalStart.replace(/-/g, '')
        : new Date(originalStart)
            .toISOString()
            .replace(/[-:]/g, '')
            .replace(/\.\d{3}/, '')
    }`;

  const fake: GoogleCalendarFake = {
    url: '',
    token,
    calendars: [],
    pageSize: 2500,
    requests,
    channels,
    pushEnabled: true,
    async notified() {
      while (sending.length > 0) {
        const now = sending;
        sending = [];
        await Promise.all(now);
      }
    },
    put: (calendarId, event) =>
      save(calendarId, {
        iCalUID: `${event.recurringEventId ?? event.id}@google.com`,
        status: 'confirmed',
        ...event,
      } as GoogleEvent),
    cancel(calendarId, id) {
      const found = events(calendarId).get(id);
      // Kept whole (a showDeleted listing shows it); incremental syncs send only its id and status.
      if (found) save(calendarId, { ...found.event, status: 'cancelled' });
    },
    get: (calendarId, id) => events(calendarId).get(id)?.event,
    all: (calendarId) => [...events(calendarId).values()].map((s) => s.event),
    expireSyncTokens() {
      generation++;
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://fake');
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      if (req.headers.authorization !== `Bearer ${token}`) return error(res, 401, 'authError', 'Invalid Credentials');
      const path = url.pathname.replace(/^\/calendar\/v3/, '');
      if (req.method === 'GET' && path === '/users/me/calendarList') {
        return send(res, 200, { kind: 'calendar#calendarList', items: fake.calendars });
      }
      if (req.method === 'POST' && path === '/channels/stop') {
        const body = await readBody(req);
        const channel = channels.find((c) => c.id === body?.id && c.resourceId === body?.resourceId && !c.stopped);
        if (!channel) return error(res, 404, 'notFound', `Channel '${String(body?.id)}' not found for project`);
        channel.stopped = true;
        return send(res, 204);
      }
      const watch = /^\/calendars\/([^/]+)\/events\/watch$/.exec(path);
      if (req.method === 'POST' && watch) {
        const calendarId = decodeURIComponent(watch[1]!);
        if (!fake.calendars.some((c) => c.id === calendarId)) return error(res, 404, 'notFound', 'Not Found');
        const body = await readBody(req);
        if (body?.type !== 'web_hook' || typeof body.id !== 'string' || typeof body.address !== 'string')
          return error(res, 400, 'required', 'id, type web_hook and address are required');
        if (channels.some((c) => c.id === body.id))
          return error(res, 400, 'channelIdNotUnique', 'Channel id not unique');
        // Google's own rule: https only (this fake also takes the test's http://127.0.0.1 address).
        if (!/^https:\/\//.test(body.address) && !/^http:\/\/127\.0\.0\.1[:/]/.test(body.address))
          return error(res, 400, 'push.webhookUrlNotHttps', 'WebHook callback must be HTTPS');
        const ttl = Number(body.params?.ttl ?? 604800);
        const channel: FakeGoogleChannel = {
          id: body.id,
          resourceId: `res-${randomUUID()}`,
          calendarId,
          address: body.address,
          token: body.token,
          expiration: Date.now() + Math.min(ttl, 30 * 86_400) * 1000,
          stopped: false,
          sent: [],
        };
        channels.push(channel);
        send(res, 200, {
          kind: 'api#channel',
          id: channel.id,
          resourceId: channel.resourceId,
          resourceUri: `${fake.url}/calendars/${encodeURIComponent(calendarId)}/events?alt=json`,
          ...(channel.token !== undefined ? { token: channel.token } : {}),
          expiration: String(channel.expiration),
        });
        notify(channel, 'sync');
        return;
      }
      const m = /^\/calendars\/([^/]+)\/events(?:\/([^/]+))?(\/instances)?$/.exec(path);
      if (!m) return error(res, 404, 'notFound', 'Not Found');
      const calendarId = decodeURIComponent(m[1]!);
      const eventId = m[2] ? decodeURIComponent(m[2]) : null;
      if (!fake.calendars.some((c) => c.id === calendarId)) return error(res, 404, 'notFound', 'Not Found');
      const map = events(calendarId);

      if (req.method === 'GET' && !eventId) {
        const syncToken = url.searchParams.get('syncToken');
        const iCalUID = url.searchParams.get('iCalUID');
        const showDeleted = url.searchParams.get('showDeleted') === 'true';
        let since = 0;
        if (syncToken) {
          const [, gen, at] = /^sync-(\d+)-(\d+)$/.exec(syncToken) ?? [];
          since = Number(at);
          if (!Number.isFinite(since) || Number(gen) !== generation)
            return error(res, 410, 'fullSyncRequired', 'Sync token is no longer valid, a full sync is required.');
        }
        let items = [...map.values()].filter((s) => s.seq > since).map((s) => s.event);
        if (iCalUID) items = items.filter((e) => e.iCalUID === iCalUID);
        // Deleted events appear only in incremental syncs or with showDeleted; cancelled exceptions always.
        if (!syncToken && !showDeleted) items = items.filter((e) => e.status !== 'cancelled' || e.recurringEventId);
        if (syncToken)
          items = items.map((e) =>
            e.status === 'cancelled'
              ? {
                  id: e.id,
                  status: 'cancelled',
                  ...(e.recurringEventId
                    ? { recurringEventId: e.recurringEventId, originalStartTime: e.originalStartTime }
                    : {}),
                }
              : e,
          );
        return page(
          res,
          items,
          url.searchParams.get('pageToken'),
          { nextSyncToken: `sync-${generation}-${seq}` },
          Math.min(fake.pageSize, Number(url.searchParams.get('maxResults') ?? 250)),
        );
      }
      if (req.method === 'GET' && eventId && m[3]) {
        const series = map.get(eventId)?.event;
        if (!series) return error(res, 404, 'notFound', 'Not Found');
        const originalStart = url.searchParams.get('originalStart');
        if (!originalStart) return error(res, 400, 'required', 'originalStart is required by this fake');
        const id = instanceId(eventId, originalStart);
        const exception = map.get(id)?.event;
        if (exception) return send(res, 200, { items: exception.status === 'cancelled' ? [] : [exception] });
        const allDay = /^\d{4}-\d{2}-\d{2}$/.test(originalStart);
        const length = allDay ? 0 : Date.parse(series.end!.dateTime!) - Date.parse(series.start!.dateTime!);
        const start = allDay
          ? { date: originalStart }
          : { dateTime: new Date(originalStart).toISOString(), timeZone: series.start?.timeZone };
        const end = allDay
          ? { date: originalStart }
          : { dateTime: new Date(Date.parse(originalStart) + length).toISOString(), timeZone: series.end?.timeZone };
        const { recurrence: _r, ...rest } = series;
        return send(res, 200, {
          items: [{ ...rest, id, recurringEventId: eventId, originalStartTime: start, start, end }],
        });
      }
      if (req.method === 'GET' && eventId) {
        const found = map.get(eventId)?.event;
        return found ? send(res, 200, found) : error(res, 404, 'notFound', 'Not Found');
      }
      if (req.method === 'POST' && !eventId) {
        const body = await readBody(req);
        const id = randomBytes(10).toString('hex');
        const organizer = { email: fake.calendars.find((c) => c.primary)?.id ?? calendarId, self: true };
        return send(
          res,
          200,
          save(calendarId, {
            ...body,
            id,
            iCalUID: body.iCalUID ?? `${id}@google.com`,
            status: 'confirmed',
            organizer,
            sequence: 0,
          }),
        );
      }
      if (req.method === 'PATCH' && eventId) {
        const body = await readBody(req);
        let current = map.get(eventId)?.event;
        if (!current) {
          // An instance not yet stored as an exception: becomes one.
          const [seriesId, stamp] = eventId.split('_');
          const series = seriesId ? map.get(seriesId)?.event : undefined;
          if (!series || !stamp) return error(res, 404, 'notFound', 'Not Found');
          const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`;
          const { recurrence: _r, ...rest } = series;
          current = { ...rest, id: eventId, recurringEventId: seriesId, originalStartTime: { dateTime: iso } };
        } else if (req.headers['if-match'] && req.headers['if-match'] !== current.etag) {
          return error(res, 412, 'conditionNotMet', 'Precondition Failed');
        }
        return send(res, 200, save(calendarId, { ...current, ...body, sequence: (current.sequence ?? 0) + 1 }));
      }
      if (req.method === 'DELETE' && eventId) {
        const current = map.get(eventId)?.event;
        if (!current) {
          const [seriesId, stamp] = eventId.split('_');
          if (!seriesId || !stamp || !map.get(seriesId)) return error(res, 404, 'notFound', 'Not Found');
          const iso = `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`;
          save(calendarId, {
            id: eventId,
            iCalUID: map.get(seriesId)!.event.iCalUID,
            status: 'cancelled',
            recurringEventId: seriesId,
            originalStartTime: { dateTime: iso },
          });
          return send(res, 204);
        }
        if (current.status === 'cancelled') return error(res, 410, 'deleted', 'Resource has been deleted');
        fake.cancel(calendarId, eventId);
        return send(res, 204);
      }
      return error(res, 405, 'notAllowed', 'Method not allowed here');
    } catch (err) {
      send(res, 500, { error: { code: 500, message: String(err) } });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/calendar/v3`;
  return fake;
}
