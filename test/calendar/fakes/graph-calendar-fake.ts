// A stand-in for Microsoft Graph's calendar endpoints on 127.0.0.1, built from the documented requests and answers
// (learn.microsoft.com/graph/api: user-list-calendars, event-delta for calendarView, event get/create/update/
// delete; the event resource type): bearer tokens, @odata.nextLink / @odata.deltaLink paging, removals as
// {"@removed": {"reason": "deleted"}, id}, delta tokens that can expire (410 SyncStateNotFound), occurrences with
// seriesMasterId, type and originalStart. Series are stored already expanded (as Graph's calendarView returns them).
// Change notifications (learn.microsoft.com/graph/api/subscription-post-subscriptions, change-notifications-delivery-
// webhooks): POST /subscriptions first validates the notificationUrl (POST ?validationToken=… as text/plain, which
// must come back as a text/plain 200 within 10 s, else 400 ValidationError), refuses an expiry past 4230 minutes for
// events, and then POSTs {value: [{subscriptionId, clientState, changeType, resource, …}]} on every change of the
// calendar's events (expecting 202); PATCH extends, DELETE ends (404 when unknown).
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GraphEvent } from '../../../src/calendar/microsoft/microsoft-driver.js';

export interface FakeGraphCalendar {
  id: string;
  name: string;
  canEdit: boolean;
  isDefaultCalendar?: boolean;
  owner?: { name?: string; address: string };
}

export interface FakeGraphSubscription {
  id: string;
  resource: string;
  notificationUrl: string;
  clientState: string | undefined;
  changeType: string;
  /** Epoch ms. */
  expiration: number;
  deleted: boolean;
  patches: number;
  sent: Array<{ changeType: string; status: number }>;
}

interface Stored {
  calendarId: string;
  event: GraphEvent;
  seq: number;
  removed: boolean;
}

export interface GraphCalendarFake {
  url: string;
  /** Access tokens accepted (the test adds what its OAuth server issued). */
  tokens: Set<string>;
  calendars: FakeGraphCalendar[];
  put(calendarId: string, event: GraphEvent): GraphEvent;
  remove(id: string): void;
  get(id: string): GraphEvent | undefined;
  expireDeltaTokens(): void;
  pageSize: number;
  requests: string[];
  subscriptions: FakeGraphSubscription[];
  /** What the last validation handshakes got back. */
  validations: Array<{ token: string; status: number; contentType: string | null; body: string }>;
  /** Notify subscriptions on changes (default true). */
  pushEnabled: boolean;
  /** Resolves once every notification sent so far has been answered. */
  notified(): Promise<void>;
  stop(): Promise<void>;
}

/** Graph's longest subscription on events: 4230 minutes. */
const MAX_EVENTS_SUBSCRIPTION_MS = 4230 * 60_000;

export async function startGraphCalendarFake(): Promise<GraphCalendarFake> {
  const store = new Map<string, Stored>();
  let seq = 0;
  // Delta tokens name their generation: expiring them starts a new one.
  let generation = 0;
  const requests: string[] = [];
  let base = '';

  const subscriptions: FakeGraphSubscription[] = [];
  const validations: GraphCalendarFake['validations'] = [];
  let sending: Promise<unknown>[] = [];
  const notify = (calendarId: string, eventId: string, changeType: 'created' | 'updated' | 'deleted') => {
    if (!fake.pushEnabled) return;
    for (const sub of subscriptions) {
      if (sub.deleted || sub.expiration <= Date.now()) continue;
      if (sub.resource !== `/me/calendars/${encodeURIComponent(calendarId)}/events` && sub.resource !== '/me/events')
        continue;
      if (!sub.changeType.split(',').includes(changeType)) continue;
      const body = {
        value: [
          {
            subscriptionId: sub.id,
            subscriptionExpirationDateTime: new Date(sub.expiration).toISOString(),
            changeType,
            resource: `Users/fake-user/Events/${eventId}`,
            resourceData: {
              '@odata.type': '#Microsoft.Graph.Event',
              '@odata.id': `Users/fake-user/Events/${eventId}`,
              id: eventId,
            },
            ...(sub.clientState !== undefined ? { clientState: sub.clientState } : {}),
            tenantId: '00000000-0000-0000-0000-000000000000',
          },
        ],
      };
      sending.push(
        fetch(sub.notificationUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body: JSON.stringify(body),
        })
          .then(async (r) => {
            await r.arrayBuffer();
            sub.sent.push({ changeType, status: r.status });
          })
          .catch(() => sub.sent.push({ changeType, status: 0 })),
      );
    }
  };
  const save = (calendarId: string, event: GraphEvent): GraphEvent => {
    seq++;
    const stored = { ...event, '@odata.etag': `W/"${seq}"`, changeKey: String(seq) };
    const existed = store.get(event.id);
    store.set(event.id, { calendarId, event: stored, seq, removed: false });
    notify(calendarId, event.id, existed && !existed.removed ? 'updated' : 'created');
    return stored;
  };
  const send = (res: ServerResponse, status: number, body?: unknown) => {
    res.writeHead(status, body === undefined ? {} : { 'content-type': 'application/json' });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, code: string, message: string) =>
    send(res, status, { error: { code, message } });
  const readBody = async (req: IncomingMessage): Promise<any> => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : undefined;
  };
  const inWindow = (e: GraphEvent, start: number, end: number) =>
    Date.parse(`${e.start!.dateTime}Z`) < end && Date.parse(`${e.end!.dateTime}Z`) > start;

  const fake: GraphCalendarFake = {
    url: '',
    tokens: new Set(),
    calendars: [],
    pageSize: 200,
    requests,
    subscriptions,
    validations,
    pushEnabled: true,
    async notified() {
      while (sending.length > 0) {
        const now = sending;
        sending = [];
        await Promise.all(now);
      }
    },
    put: (calendarId, event) => save(calendarId, event),
    remove(id) {
      const found = store.get(id);
      if (found) {
        seq++;
        store.set(id, { ...found, seq, removed: true });
        notify(found.calendarId, id, 'deleted');
      }
    },
    get: (id) => {
      const found = store.get(id);
      return found && !found.removed ? found.event : undefined;
    },
    expireDeltaTokens() {
      generation++;
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://fake');
      requests.push(`${req.method} ${url.pathname}${url.search}`);
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!bearer || !fake.tokens.has(bearer))
        return error(res, 401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
      const path = url.pathname.replace(/^\/v1\.0/, '');
      if (req.method === 'GET' && path === '/me/calendars') return send(res, 200, { value: fake.calendars });

      if (req.method === 'POST' && path === '/subscriptions') {
        const body = await readBody(req);
        const expiration = Date.parse(body?.expirationDateTime ?? '');
        if (!body?.notificationUrl || !body?.resource || !body?.changeType || !Number.isFinite(expiration))
          return error(
            res,
            400,
            'InvalidRequest',
            'notificationUrl, resource, changeType and expirationDateTime are required',
          );
        if (expiration > Date.now() + MAX_EVENTS_SUBSCRIPTION_MS || expiration <= Date.now())
          return error(res, 400, 'InvalidRequest', 'Subscription expiration can only be 4230 minutes in the future.');
        // The handshake: the URL must echo the token as text/plain within 10 seconds.
        const validationToken = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
        let ok = false;
        try {
          const url = new URL(body.notificationUrl);
          url.searchParams.set('validationToken', validationToken);
          const answer = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'text/plain; charset=utf-8' },
            signal: AbortSignal.timeout(10_000),
          });
          const text = await answer.text();
          const contentType = answer.headers.get('content-type');
          validations.push({ token: validationToken, status: answer.status, contentType, body: text });
          ok = answer.status === 200 && text === validationToken && /^text\/plain\b/.test(contentType ?? '');
        } catch {
          ok = false;
        }
        if (!ok)
          return error(
            res,
            400,
            'ValidationError',
            'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.',
          );
        const sub: FakeGraphSubscription = {
          id: randomUUID(),
          resource: body.resource,
          notificationUrl: body.notificationUrl,
          clientState: body.clientState,
          changeType: body.changeType,
          expiration,
          deleted: false,
          patches: 0,
          sent: [],
        };
        subscriptions.push(sub);
        return send(res, 201, {
          '@odata.context': `${base}/$metadata#subscriptions/$entity`,
          id: sub.id,
          resource: sub.resource,
          changeType: sub.changeType,
          clientState: sub.clientState ?? null,
          notificationUrl: sub.notificationUrl,
          expirationDateTime: new Date(sub.expiration).toISOString(),
        });
      }
      const subscription = /^\/subscriptions\/([^/]+)$/.exec(path);
      if (subscription) {
        const sub = subscriptions.find((s) => s.id === decodeURIComponent(subscription[1]!) && !s.deleted);
        if (!sub) return error(res, 404, 'ResourceNotFound', 'The object was not found.');
        if (req.method === 'PATCH') {
          const body = await readBody(req);
          const expiration = Date.parse(body?.expirationDateTime ?? '');
          if (!Number.isFinite(expiration) || expiration > Date.now() + MAX_EVENTS_SUBSCRIPTION_MS)
            return error(res, 400, 'InvalidRequest', 'Subscription expiration can only be 4230 minutes in the future.');
          sub.expiration = expiration;
          sub.patches++;
          return send(res, 200, {
            id: sub.id,
            resource: sub.resource,
            expirationDateTime: new Date(expiration).toISOString(),
          });
        }
        if (req.method === 'DELETE') {
          sub.deleted = true;
          return send(res, 204);
        }
      }

      const delta = /^\/me\/calendars\/([^/]+)\/calendarView\/delta$/.exec(path);
      if (req.method === 'GET' && delta) {
        const calendarId = decodeURIComponent(delta[1]!);
        // State travels in our own opaque tokens: window, last seq, and a page offset.
        const deltaToken = url.searchParams.get('$deltatoken');
        const skipToken = url.searchParams.get('$skiptoken');
        const state = JSON.parse(
          Buffer.from(deltaToken ?? skipToken ?? '', 'base64url').toString('utf8') || 'null',
        ) as { start: number; end: number; since: number; gen: number; offset?: number; upto?: number } | null;
        let start: number;
        let end: number;
        let since = 0;
        if (state) {
          if (state.gen !== generation)
            return error(res, 410, 'SyncStateNotFound', 'The sync state generation is not found.');
          ({ start, end, since } = state);
        } else {
          start = Date.parse(url.searchParams.get('startDateTime') ?? '');
          end = Date.parse(url.searchParams.get('endDateTime') ?? '');
          if (!Number.isFinite(start) || !Number.isFinite(end))
            return error(res, 400, 'ErrorInvalidParameter', 'startDateTime and endDateTime are required');
        }
        const upto = state?.upto ?? seq;
        const items = [...store.entries()]
          .filter(
            ([, s]) => s.calendarId === calendarId && s.seq > since && s.seq <= upto && inWindow(s.event, start, end),
          )
          .filter(([, s]) => !(since === 0 && s.removed))
          .map(([id, s]) => (s.removed ? { id, '@removed': { reason: 'deleted' } } : s.event));
        const offset = state?.offset ?? 0;
        const slice = items.slice(offset, offset + fake.pageSize);
        const link = (token: Record<string, unknown>, kind: 'deltatoken' | 'skiptoken') =>
          `${base}/me/calendars/${encodeURIComponent(calendarId)}/calendarView/delta?$${kind}=${Buffer.from(JSON.stringify(token)).toString('base64url')}`;
        const more = offset + fake.pageSize < items.length;
        return send(res, 200, {
          value: slice,
          ...(more
            ? {
                '@odata.nextLink': link(
                  { start, end, since, gen: generation, upto, offset: offset + fake.pageSize },
                  'skiptoken',
                ),
              }
            : { '@odata.deltaLink': link({ start, end, since: upto, gen: generation }, 'deltatoken') }),
        });
      }

      const create = /^\/me\/calendars\/([^/]+)\/events$/.exec(path);
      if (req.method === 'POST' && create) {
        const calendarId = decodeURIComponent(create[1]!);
        const body = await readBody(req);
        const owner = fake.calendars.find((c) => c.isDefaultCalendar)?.owner;
        const id = `AAMk${randomBytes(12).toString('hex')}`;
        const event: GraphEvent = {
          id,
          iCalUId: `040000008200E00074C5B7101A82E008${randomBytes(8).toString('hex')}`,
          type: 'singleInstance',
          subject: body.subject,
          start: body.start,
          end: body.end,
          isAllDay: body.isAllDay ?? false,
          location: body.location,
          organizer: owner ? { emailAddress: owner } : undefined,
          attendees: (body.attendees ?? []).map((a: any) => ({
            ...a,
            status: { response: 'none', time: '0001-01-01T00:00:00Z' },
          })),
        } as GraphEvent;
        return send(res, 201, save(calendarId, event));
      }
      const one = /^\/me\/events\/([^/]+)$/.exec(path);
      if (one) {
        const id = decodeURIComponent(one[1]!);
        const found = store.get(id);
        if (!found || found.removed)
          return error(res, 404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
        if (req.method === 'GET') return send(res, 200, found.event);
        if (req.method === 'PATCH') {
          const body = await readBody(req);
          const type = found.event.type === 'occurrence' ? 'exception' : found.event.type;
          return send(res, 200, save(found.calendarId, { ...found.event, ...body, ...(type ? { type } : {}) }));
        }
        if (req.method === 'DELETE') {
          fake.remove(id);
          return send(res, 204);
        }
      }
      return error(res, 400, 'BadRequest', `unsupported ${req.method} ${path}`);
    } catch (err) {
      send(res, 500, { error: { code: 'InternalServerError', message: String(err) } });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1.0`;
  fake.url = base;
  return fake;
}
