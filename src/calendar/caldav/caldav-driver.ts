// The CalDAV calendar driver (RFC 4791), on tsdav. Discovery starts from the account's CalDAV URL (a server,
// principal or calendar URL) or, without one, from /.well-known/caldav (RFC 6764) on the mail domains; then
// principal → calendar-home-set → calendars. Changes come from sync-collection (RFC 6578) where the calendar
// offers it, else from the ctag and a comparison of etags; objects are read with calendar-multiget (one GET each
// when that fails). Every request goes through one fetch wrapper that adds the credentials, a timeout and the
// caller's AbortSignal, and turns HTTP and network failures into CalendarError codes. That wrapper also keeps every
// request on the calendar's own origin (hrefs and redirects a server hands back included), and the connections go
// through the outbound policy's pinned fetch; error texts never quote what the server said.
import {
  calendarMultiGet,
  createAccount,
  davRequest,
  fetchCalendars,
  fetchCalendarUserAddresses,
  supportedReportSet,
  syncCollection,
  type DAVAccount,
  type DAVCalendar,
} from 'tsdav';
import {
  CalendarError,
  type CalendarChanges,
  type CalendarDriver,
  type CalendarObject,
  type CalendarSyncState,
  type Discovery,
  type EventChange,
  type EventDraft,
  type EventTarget,
  type RemoteCalendar,
} from '../calendar-driver.js';
import { applyEventChange, buildEventIcs, cancelOccurrence } from '../ical/build-event.js';
import { zoneFromName } from '../ical/time-zones.js';
import { isHostNotAllowed, STRICT_OUTBOUND_POLICY, type OutboundPolicy } from '../../net/outbound-policy.js';

export interface CalDavOptions {
  /** A CalDAV server, principal or calendar URL (the account's caldavUrl, else its preset's); null: discover. */
  url: string | null;
  /** Domains whose /.well-known/caldav is tried when there is no URL: the address's domain, the IMAP host's. */
  discoveryDomains: string[];
  /** The Authorization header value (Basic … or Bearer …), asked for each request so a token can be refreshed. */
  authorization(signal: AbortSignal): Promise<string>;
  /** Per request (default 30 s). */
  timeoutMs?: number;
  /** Objects per calendar-multiget (default 50). */
  batchSize?: number;
  /** Where the calendar server may be (CONVERSA_ALLOWED_HOSTS); default: public addresses only. */
  outbound?: OutboundPolicy;
  /** Tests only (replaces the policy's pinned fetch; the origin rule still applies). */
  fetch?: typeof globalThis.fetch;
}

const MAX_REDIRECTS = 5;

type Fetch = typeof globalThis.fetch;

const CALENDAR_PROPS = {
  'd:displayname': {},
  'd:resourcetype': {},
  'cs:getctag': {},
  'd:sync-token': {},
  'c:supported-calendar-component-set': {},
  'c:calendar-timezone': {},
  'd:current-user-privilege-set': {},
};

/** Our own words for a failure (a network code at most): never bytes a server sent. */
function describe(error: unknown): string {
  if (error instanceof CalendarError) return error.message;
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' && /^[A-Z0-9_]{2,40}$/.test(cause.code) ? cause.code : null;
  return code ? `network error ${code}` : 'the answer could not be read as CalDAV';
}

function originOf(url: string): string {
  return new URL(url).origin;
}

/** The policy's refusal, wherever fetch wrapped it (undici puts a lookup failure in `cause`). */
function refusal(error: unknown): Error | null {
  if (isHostNotAllowed(error)) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  return isHostNotAllowed(cause) ? cause : null;
}

function text(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object') {
    const v = value as { _cdata?: unknown; _text?: unknown };
    if (typeof v._cdata === 'string') return v._cdata;
    if (v._text !== undefined) return String(v._text);
  }
  return null;
}

/** Absolute URL of an href, so every href of one object compares equal wherever it came from. */
function absolute(href: string, base: string): string {
  return new URL(href, base.endsWith('/') ? base : `${base}/`).href;
}

function sameUrl(a: string, b: string): boolean {
  const strip = (u: string) => u.replace(/\/+$/, '');
  return strip(a) === strip(b);
}

function privileges(value: unknown): string[] {
  const names: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') {
      for (const [key, inner] of Object.entries(node)) {
        if (key === 'privilege') {
          for (const p of Array.isArray(inner) ? inner : [inner])
            if (p && typeof p === 'object') names.push(...Object.keys(p));
        } else visit(inner);
      }
    }
  };
  visit(value);
  return names;
}

function timeZoneOf(vtimezone: string | null | undefined): string | null {
  const tzid = vtimezone ? /^TZID:(.+)$/m.exec(vtimezone.replace(/\r\n[ \t]/g, ''))?.[1]?.trim() : undefined;
  const zone = tzid ? zoneFromName(tzid) : null;
  return zone?.kind === 'iana' ? zone.name : null;
}

/** A file name for a UID: safe in any URL path, and the same for the same UID. */
function fileName(uid: string): string {
  const safe = uid.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
  return `${safe || 'event'}.ics`;
}

export class CalDavDriver implements CalendarDriver {
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly baseFetch: Fetch;

  constructor(private readonly options: CalDavOptions) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.batchSize = options.batchSize ?? 50;
    this.baseFetch = options.fetch ?? (options.outbound ?? STRICT_OUTBOUND_POLICY).fetch;
  }

  /** The one origin this account's calendar requests may go to: the configured URL's, else the calendar's. */
  private originFor(calendarUrl?: string): string {
    return originOf(this.options.url ?? calendarUrl ?? '');
  }

  /**
   * The fetch every request uses: only on `origin` (a server's href or redirect elsewhere is refused, before the
   * credentials go anywhere), credentials, timeout, abort, and HTTP/network failures as CalendarError.
   */
  private fetcher(signal: AbortSignal, origin: string): Fetch {
    return (async (input: string | URL | Request, init: RequestInit = {}) => {
      let url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const headers = new Headers(init.headers);
      headers.set('authorization', await this.options.authorization(signal));
      const timeout = AbortSignal.timeout(this.timeoutMs);
      let response: Response;
      for (let hop = 0; ; hop++) {
        const target = new URL(url);
        if (target.protocol !== 'https:' && target.protocol !== 'http:') {
          throw new CalendarError(
            'HOST_NOT_ALLOWED',
            `the calendar server pointed to a ${target.protocol} URL, which Conversa does not follow`,
          );
        }
        if (target.origin !== origin) {
          throw new CalendarError(
            'HOST_NOT_ALLOWED',
            `the calendar server pointed to another server (${target.host}), which Conversa does not follow`,
          );
        }
        try {
          response = await this.baseFetch(url, {
            ...init,
            headers,
            redirect: 'manual',
            signal: AbortSignal.any([signal, timeout]),
          });
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          const refused = refusal(error);
          if (refused) throw new CalendarError('HOST_NOT_ALLOWED', refused.message, { cause: error });
          if (timeout.aborted)
            throw new CalendarError(
              'TEMPORARY',
              `the calendar server did not answer within ${this.timeoutMs / 1000} s (${target.host})`,
              { cause: error },
            );
          throw new CalendarError(
            'TEMPORARY',
            `could not reach the calendar server ${target.host}: ${describe(error)}`,
            { cause: error },
          );
        }
        const location = response.status >= 300 && response.status < 400 ? response.headers.get('location') : null;
        // tsdav reads some redirects itself (service discovery): its next request comes back through here.
        if (!location || init.redirect === 'manual') break;
        await response.arrayBuffer().catch(() => undefined);
        if (hop >= MAX_REDIRECTS)
          throw new CalendarError('PROTOCOL_ERROR', `the calendar server at ${target.host} redirected too many times`);
        url = new URL(location, url).href;
      }
      if (response.status === 401) {
        await response.arrayBuffer().catch(() => undefined);
        throw new CalendarError('AUTH_FAILED', `${new URL(url).host} answered 401 Unauthorized`, { status: 401 });
      }
      if (response.status >= 500 || response.status === 429 || response.status === 408) {
        await response.arrayBuffer().catch(() => undefined);
        throw new CalendarError('TEMPORARY', `the calendar server answered HTTP ${response.status}`, {
          status: response.status,
        });
      }
      return response;
    }) as Fetch;
  }

  async discover(signal: AbortSignal): Promise<Discovery> {
    if (this.options.url) {
      const fetch = this.fetcher(signal, this.originFor());
      const single = await this.singleCalendar(this.options.url, fetch);
      if (single) return { calendars: [single], ownAddresses: [] };
      return this.discoverFrom(this.options.url, fetch);
    }
    const failures: string[] = [];
    for (const domain of this.options.discoveryDomains) {
      try {
        const serverUrl = `https://${domain}/`;
        return await this.discoverFrom(serverUrl, this.fetcher(signal, originOf(serverUrl)));
      } catch (error) {
        if (signal.aborted) throw error;
        if (error instanceof CalendarError && (error.code === 'AUTH_FAILED' || error.code === 'HOST_NOT_ALLOWED'))
          throw error;
        failures.push(`${domain}: ${describe(error)}`);
      }
    }
    throw new CalendarError(
      'NOT_AVAILABLE',
      `No CalDAV calendar was found for this account (looked for /.well-known/caldav on ${this.options.discoveryDomains.join(', ') || 'no domain'}${failures.length ? `: ${failures.join('; ')}` : ''}). Give the account its CalDAV URL to sync its calendar.`,
    );
  }

  /** The URL itself, when it is a calendar collection; null when it is a server or principal URL. */
  private async singleCalendar(url: string, fetch: Fetch): Promise<RemoteCalendar | null> {
    const [response] = await davRequest({
      url,
      init: {
        method: 'PROPFIND',
        headers: { depth: '0' },
        namespace: 'd',
        body: { propfind: { _attributes: NAMESPACES, prop: CALENDAR_PROPS } },
      },
      fetch,
    });
    if (!response?.ok || !response.props) return null;
    const types = Object.keys(response.props.resourcetype ?? {});
    if (!types.includes('calendar')) return null;
    const calendar: DAVCalendar = { url, ctag: text(response.props.getctag) ?? undefined };
    const reports = await supportedReportSet({ collection: calendar, fetch }).catch(() => [] as string[]);
    return {
      url,
      displayName: text(response.props.displayname),
      ctag: text(response.props.getctag),
      supportsSyncToken: reports.includes('syncCollection'),
      writable: this.writable(response.props.currentUserPrivilegeSet),
      timeZone: timeZoneOf(text(response.props.calendarTimezone)),
    };
  }

  private writable(privilegeSet: unknown): boolean {
    if (privilegeSet === undefined || privilegeSet === null) return true;
    const names = privileges(privilegeSet);
    return (
      names.length === 0 || names.some((n) => n === 'all' || n === 'write' || n === 'writeContent' || n === 'bind')
    );
  }

  private async discoverFrom(serverUrl: string, fetch: Fetch): Promise<Discovery> {
    let account: DAVAccount;
    try {
      account = await createAccount({ account: { serverUrl, accountType: 'caldav' }, fetch });
    } catch (error) {
      if (error instanceof CalendarError) throw error;
      throw new CalendarError(
        'NOT_AVAILABLE',
        `${new URL(serverUrl).host} does not look like a CalDAV server (${describe(error)})`,
        { cause: error },
      );
    }
    let calendars: DAVCalendar[];
    try {
      calendars = await fetchCalendars({
        account,
        props: CALENDAR_PROPS,
        projectedProps: { currentUserPrivilegeSet: true },
        fetch,
      });
    } catch (error) {
      if (error instanceof CalendarError) throw error;
      throw new CalendarError(
        'PROTOCOL_ERROR',
        `the calendars of ${new URL(serverUrl).host} could not be listed (${describe(error)})`,
        { cause: error },
      );
    }
    // A calendar on another origin is not followed (its URL came from the server).
    const origin = originOf(serverUrl);
    calendars = calendars.filter((c) => URL.canParse(c.url) && originOf(c.url) === origin);
    const ownAddresses = await fetchCalendarUserAddresses({ account, fetch })
      .then((hrefs) =>
        hrefs
          .filter((h) => /^mailto:/i.test(h))
          .map((h) =>
            h
              .replace(/^mailto:/i, '')
              .trim()
              .toLowerCase(),
          ),
      )
      .catch(() => [] as string[]);
    return {
      ownAddresses,
      calendars: calendars
        .filter((c) => !c.components || c.components.length === 0 || c.components.includes('VEVENT'))
        .map((c) => ({
          url: c.url,
          displayName: text(c.displayName) ?? null,
          ctag: text(c.ctag),
          supportsSyncToken: Array.isArray(c.reports) && c.reports.includes('syncCollection'),
          writable: this.writable(c.projectedProps?.currentUserPrivilegeSet),
          timeZone: timeZoneOf(c.timezone),
        })),
    };
  }

  async changes(
    calendar: RemoteCalendar,
    state: CalendarSyncState,
    known: ReadonlyMap<string, string | null>,
    signal: AbortSignal,
  ): Promise<CalendarChanges> {
    const fetch = this.fetcher(signal, this.originFor(calendar.url));
    if (calendar.supportsSyncToken) {
      try {
        return await this.syncCollectionChanges(calendar, state.syncToken, known, fetch);
      } catch (error) {
        if (!(error instanceof CalendarError) || error.code !== 'CURSOR_INVALID') throw error;
        // The server forgot our token (or never knew it): list everything once more.
        return this.syncCollectionChanges(calendar, null, known, fetch);
      }
    }
    return this.etagChanges(calendar, state, known, fetch);
  }

  private async syncCollectionChanges(
    calendar: RemoteCalendar,
    token: string | null,
    known: ReadonlyMap<string, string | null>,
    fetch: Fetch,
  ): Promise<CalendarChanges> {
    const responses = await syncCollection({
      url: calendar.url,
      props: { 'd:getetag': {} },
      syncLevel: 1,
      ...(token ? { syncToken: token } : {}),
      fetch,
    });
    const first = responses[0];
    const multistatus = (first?.raw as { multistatus?: { syncToken?: unknown } } | undefined)?.multistatus;
    if (!multistatus) {
      const status = first?.status ?? 0;
      if (token && [400, 403, 409, 412, 507].includes(status)) {
        throw new CalendarError('CURSOR_INVALID', `the server no longer accepts the sync token (HTTP ${status})`, {
          status,
        });
      }
      if (status === 404) throw new CalendarError('NOT_FOUND', `the calendar ${calendar.url} is gone`, { status });
      if (status === 403)
        throw new CalendarError('FORBIDDEN', `the server refused to list ${calendar.url}`, { status });
      throw new CalendarError('PROTOCOL_ERROR', `sync-collection on ${calendar.url} answered HTTP ${status}`, {
        status,
      });
    }
    const changed: CalendarChanges['changed'] = [];
    const deleted: string[] = [];
    const listed = new Set<string>();
    for (const response of responses) {
      if (!response.href) continue;
      const href = absolute(response.href, calendar.url);
      if (sameUrl(href, calendar.url) || originOf(href) !== originOf(calendar.url)) continue;
      if (response.status === 404) {
        deleted.push(href);
        continue;
      }
      if (!response.ok) continue;
      listed.add(href);
      const etag = text(response.props?.getetag);
      // After a reset, objects we already hold unchanged need no download.
      if (!token && known.has(href) && etag !== null && known.get(href) === etag) continue;
      changed.push({ href, etag });
    }
    if (!token) for (const href of known.keys()) if (!listed.has(href)) deleted.push(href);
    return {
      state: { syncToken: text(multistatus.syncToken), ctag: null },
      full: !token,
      changed,
      deleted: [...new Set(deleted)].filter((h) => !listed.has(h)),
    };
  }

  private async etagChanges(
    calendar: RemoteCalendar,
    state: CalendarSyncState,
    known: ReadonlyMap<string, string | null>,
    fetch: Fetch,
  ): Promise<CalendarChanges> {
    const [head] = await davRequest({
      url: calendar.url,
      init: {
        method: 'PROPFIND',
        headers: { depth: '0' },
        namespace: 'd',
        body: { propfind: { _attributes: NAMESPACES, prop: { 'cs:getctag': {} } } },
      },
      fetch,
    });
    if (head && head.status === 404)
      throw new CalendarError('NOT_FOUND', `the calendar ${calendar.url} is gone`, { status: 404 });
    const ctag = head?.ok ? text(head.props?.getctag) : null;
    if (ctag !== null && state.ctag !== null && ctag === state.ctag)
      return { state, full: false, changed: [], deleted: [] };
    const responses = await davRequest({
      url: calendar.url,
      init: {
        method: 'PROPFIND',
        headers: { depth: '1' },
        namespace: 'd',
        body: { propfind: { _attributes: NAMESPACES, prop: { 'd:getetag': {}, 'd:resourcetype': {} } } },
      },
      fetch,
    });
    if (
      responses.length === 1 &&
      !responses[0]!.ok &&
      !(responses[0]!.raw as { multistatus?: unknown } | undefined)?.multistatus
    ) {
      throw new CalendarError('PROTOCOL_ERROR', `listing ${calendar.url} answered HTTP ${responses[0]!.status}`, {
        status: responses[0]!.status,
      });
    }
    const changed: CalendarChanges['changed'] = [];
    const listed = new Set<string>();
    for (const response of responses) {
      if (!response.href || !response.ok) continue;
      const href = absolute(response.href, calendar.url);
      if (
        sameUrl(href, calendar.url) ||
        originOf(href) !== originOf(calendar.url) ||
        Object.keys(response.props?.resourcetype ?? {}).includes('collection')
      )
        continue;
      listed.add(href);
      const etag = text(response.props?.getetag);
      if (known.has(href) && etag !== null && known.get(href) === etag) continue;
      changed.push({ href, etag });
    }
    const deleted = [...known.keys()].filter((href) => !listed.has(href));
    return { state: { syncToken: null, ctag }, full: true, changed, deleted };
  }

  async check(calendars: RemoteCalendar[], signal: AbortSignal): Promise<Map<string, string | null>> {
    const tags = new Map<string, string | null>();
    // Calendars are grouped by the collection that holds them (the calendar home): one depth-1 PROPFIND there
    // answers every calendar's tags. A lone calendar is asked itself (depth 0): as cheap, and it needs no home.
    const groups = new Map<string, RemoteCalendar[]>();
    for (const calendar of calendars) {
      const home = new URL('..', calendar.url.endsWith('/') ? calendar.url : `${calendar.url}/`).href;
      groups.set(home, [...(groups.get(home) ?? []), calendar]);
    }
    for (const [home, members] of groups) {
      const fetch = cappedFetch(this.fetcher(signal, this.originFor(members[0]!.url)), MAX_CHECK_BYTES);
      let found: Map<string, string | null> | null = null;
      if (members.length > 1) {
        try {
          found = await this.tagsAt(home, '1', fetch);
        } catch (error) {
          // A home that may not be listed (403/405): ask each calendar instead.
          if (!(error instanceof CalendarError) || (error.status !== 403 && error.status !== 405)) throw error;
        }
      }
      for (const calendar of members) {
        const tag = found ? found.get(stripSlash(calendar.url)) : undefined;
        if (tag !== undefined) tags.set(calendar.url, tag);
        else if (found && found.size > 0)
          tags.set(calendar.url, null); // not in its home any more: look at it
        else {
          const own = await this.tagsAt(calendar.url, '0', fetch);
          tags.set(calendar.url, own.get(stripSlash(calendar.url)) ?? [...own.values()][0] ?? null);
        }
      }
    }
    return tags;
  }

  /** getctag and sync-token of a collection (depth 0) or of its children (depth 1), by URL without trailing slash. */
  private async tagsAt(url: string, depth: '0' | '1', fetch: Fetch): Promise<Map<string, string | null>> {
    let responses: Awaited<ReturnType<typeof davRequest>>;
    try {
      responses = await davRequest({
        url,
        init: {
          method: 'PROPFIND',
          headers: { depth },
          namespace: 'd',
          body: { propfind: { _attributes: NAMESPACES, prop: { 'cs:getctag': {}, 'd:sync-token': {} } } },
        },
        fetch,
      });
    } catch (error) {
      if (error instanceof CalendarError) throw error;
      throw new CalendarError('PROTOCOL_ERROR', `the change check of ${url} could not be read as CalDAV`, {
        cause: error,
      });
    }
    const first = responses[0];
    if (!(first?.raw as { multistatus?: unknown } | undefined)?.multistatus) {
      const status = first?.status ?? 0;
      if (status === 404) throw new CalendarError('NOT_FOUND', `the calendar ${url} is gone`, { status });
      throw new CalendarError(
        'PROTOCOL_ERROR',
        status >= 200 && status < 300
          ? `the change check of ${url} answered something that is not CalDAV`
          : `the change check of ${url} answered HTTP ${status}`,
        { status },
      );
    }
    const tags = new Map<string, string | null>();
    for (const response of responses) {
      if (!response.href || !response.ok) continue;
      const href = absolute(response.href, url);
      if (originOf(href) !== originOf(url)) continue;
      const syncToken = text(response.props?.syncToken);
      const ctag = text(response.props?.getctag);
      tags.set(stripSlash(href), syncToken === null && ctag === null ? null : `${syncToken ?? ''} ${ctag ?? ''}`);
    }
    return tags;
  }

  async fetch(calendar: RemoteCalendar, hrefs: string[], signal: AbortSignal): Promise<CalendarObject[]> {
    const fetch = this.fetcher(signal, this.originFor(calendar.url));
    const result: CalendarObject[] = [];
    for (let i = 0; i < hrefs.length; i += this.batchSize) {
      const batch = hrefs.slice(i, i + this.batchSize);
      let objects: CalendarObject[] | null = null;
      try {
        const responses = await calendarMultiGet({
          url: calendar.url,
          props: { 'd:getetag': {}, 'c:calendar-data': {} },
          objectUrls: batch.map((href) => new URL(href).pathname),
          depth: '1',
          fetch,
        });
        objects = responses
          .filter((r) => r.ok && r.href && originOf(absolute(r.href, calendar.url)) === originOf(calendar.url))
          .map((r) => ({
            href: absolute(r.href!, calendar.url),
            etag: text(r.props?.getetag),
            ics: text(r.props?.calendarData) ?? '',
          }));
      } catch (error) {
        if (error instanceof CalendarError && error.code !== 'PROTOCOL_ERROR') throw error;
        // tsdav refuses a whole multiget when one href is gone (a 404 inside the 207): read them one by one.
        objects = null;
      }
      if (!objects) {
        objects = [];
        for (const href of batch) {
          const one = await this.get(href, fetch);
          if (one) objects.push(one);
        }
      }
      result.push(...objects);
    }
    return result;
  }

  private async get(href: string, fetch: Fetch): Promise<CalendarObject | null> {
    const response = await fetch(href, { method: 'GET', headers: { accept: 'text/calendar' } });
    const body = await response.text();
    if (response.status === 404 || response.status === 410) return null;
    if (!response.ok)
      throw new CalendarError(
        response.status === 403 ? 'FORBIDDEN' : 'PROTOCOL_ERROR',
        `GET ${href} answered HTTP ${response.status}`,
        { status: response.status },
      );
    return { href, etag: response.headers.get('etag'), ics: body };
  }

  async read(calendar: RemoteCalendar, href: string, signal: AbortSignal): Promise<CalendarObject | null> {
    return this.get(href, this.fetcher(signal, this.originFor(calendar.url)));
  }

  private async put(
    href: string,
    ics: string,
    condition: { ifMatch?: string | null; ifNoneMatch?: boolean },
    fetch: Fetch,
  ): Promise<CalendarObject> {
    const headers: Record<string, string> = { 'content-type': 'text/calendar; charset=utf-8' };
    if (condition.ifNoneMatch) headers['if-none-match'] = '*';
    if (condition.ifMatch) headers['if-match'] = condition.ifMatch;
    const response = await fetch(href, { method: 'PUT', headers, body: ics });
    await response.text(); // read to the end, so the connection is free again
    if (response.status === 412)
      throw new CalendarError('CONFLICT', 'the event changed on the calendar meanwhile; sync and try again', {
        status: 412,
      });
    if (response.status === 403)
      throw new CalendarError('FORBIDDEN', 'the calendar does not accept changes to this event', { status: 403 });
    if (response.status === 404 || response.status === 409)
      throw new CalendarError('NOT_FOUND', `the calendar for ${href} is gone`, { status: response.status });
    if (!response.ok)
      throw new CalendarError('PROTOCOL_ERROR', `the calendar refused the event (HTTP ${response.status})`, {
        status: response.status,
      });
    const etag = response.headers.get('etag');
    if (etag) return { href, etag, ics };
    // No etag in the answer (the server changed what we sent): read back what it stored.
    return (await this.get(href, fetch)) ?? { href, etag: null, ics };
  }

  async create(calendar: RemoteCalendar, draft: EventDraft, signal: AbortSignal): Promise<CalendarObject> {
    const href = absolute(encodeURIComponent(fileName(draft.uid)), calendar.url);
    return this.put(
      href,
      buildEventIcs(draft),
      { ifNoneMatch: true },
      this.fetcher(signal, this.originFor(calendar.url)),
    );
  }

  async update(
    calendar: RemoteCalendar,
    target: EventTarget,
    change: EventChange,
    signal: AbortSignal,
  ): Promise<CalendarObject> {
    const fetch = this.fetcher(signal, this.originFor(calendar.url));
    // The current version, so changes made elsewhere since our last sync (a reply, a new note) are kept; If-Match
    // then guards against a write in between.
    const current = await this.get(target.href, fetch);
    if (!current) throw new CalendarError('NOT_FOUND', 'the event is no longer on the calendar');
    const ics = applyEventChange(current.ics, target, change, { defaultTimeZone: calendar.timeZone });
    return this.put(target.href, ics, { ifMatch: current.etag }, fetch);
  }

  async remove(calendar: RemoteCalendar, target: EventTarget, signal: AbortSignal): Promise<CalendarObject | null> {
    const fetch = this.fetcher(signal, this.originFor(calendar.url));
    if (target.recurrenceId !== '') {
      const current = await this.get(target.href, fetch);
      if (!current) return null;
      const ics = cancelOccurrence(current.ics, target, { defaultTimeZone: calendar.timeZone });
      if (ics !== null) return this.put(target.href, ics, { ifMatch: current.etag }, fetch);
    }
    const response = await fetch(target.href, { method: 'DELETE' });
    await response.arrayBuffer().catch(() => undefined);
    if (response.ok || response.status === 404 || response.status === 410) return null;
    if (response.status === 403)
      throw new CalendarError('FORBIDDEN', 'the calendar does not let this event be deleted', { status: 403 });
    throw new CalendarError('PROTOCOL_ERROR', `deleting the event answered HTTP ${response.status}`, {
      status: response.status,
    });
  }
}

/** A change check's answer is a few hundred bytes per calendar: more than this is not a calendar home. */
const MAX_CHECK_BYTES = 1024 * 1024;

function stripSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** A fetch whose answers are read here, refusing one larger than `limit` bytes before it is all in memory. */
function cappedFetch(fetch: Fetch, limit: number): Fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const response = await fetch(input, init);
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > limit) {
          await reader.cancel().catch(() => undefined);
          throw new CalendarError(
            'PROTOCOL_ERROR',
            `the calendar server's answer to the change check was larger than ${Math.round(limit / 1024)} KB`,
          );
        }
        chunks.push(value);
      }
    }
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    headers.delete('content-encoding');
    return new Response(size > 0 ? Buffer.concat(chunks) : null, {
      status: response.status,
      statusText: response.statusText,
      headers,
    });
  }) as Fetch;
}

const NAMESPACES = {
  'xmlns:d': 'DAV:',
  'xmlns:c': 'urn:ietf:params:xml:ns:caldav',
  'xmlns:cs': 'http://calendarserver.org/ns/',
  'xmlns:ca': 'http://apple.com/ns/ical/',
};

export function createCalDavDriver(options: CalDavOptions): CalendarDriver {
  return new CalDavDriver(options);
}
