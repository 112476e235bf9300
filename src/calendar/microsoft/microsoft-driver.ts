// The Microsoft 365 / Outlook.com calendar driver (Microsoft Graph v1.0). Calendars from /me/calendars; changes from
// a calendarView delta query over the sync window (Graph expands series itself, so an object is one occurrence or
// one single event, keyed by its event id; an occurrence carries its series id as UID and its original start as
// RECURRENCE-ID). The window is part of the saved state: when the day moves, the delta starts over so occurrences
// enter and leave the window. Times are asked for in UTC (Prefer: outlook.timezone); Windows zone names are still
// understood should Graph send one. Writes: POST/PATCH/DELETE on the event (one occurrence: its own id); Graph sends
// the invitations. Sources: learn.microsoft.com/graph/api (calendar list, event-delta, event resource type) and
// "Get incremental changes to events in a calendar view".
import {
  CalendarError,
  fetchEach,
  type CalendarChanges,
  type CalendarDriver,
  type CalendarObject,
  type CalendarSyncState,
  type Discovery,
  type EventChange,
  type EventDraft,
  type EventTarget,
  type PushChannel,
  type PushHook,
  type RemoteCalendar,
  withEnd,
} from '../calendar-driver.js';
import { buildCalendarIcs, type SpecTime } from '../ical/build-event.js';
import type { TimeWindow } from '../ical/parse-events.js';
import { instantAtOffset, instantInZone, zoneFromName } from '../ical/time-zones.js';
import { JsonApi } from '../json-api.js';

export const GRAPH_API = 'https://graph.microsoft.com/v1.0';

/** Graph's longest life for a subscription on events: 4230 minutes; asked a little under it. */
export const GRAPH_MAX_SUBSCRIPTION_MS = 4200 * 60_000;

function expiryOf(iso: string | undefined, fallback: number): number {
  const at = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(at) ? at : fallback;
}

interface GraphDateTime {
  dateTime: string;
  timeZone?: string;
}

interface GraphAddress {
  address?: string;
  name?: string;
}

export interface GraphEvent {
  id: string;
  '@odata.etag'?: string;
  changeKey?: string;
  '@removed'?: { reason?: string };
  iCalUId?: string;
  subject?: string;
  bodyPreview?: string;
  start?: GraphDateTime;
  end?: GraphDateTime;
  isAllDay?: boolean;
  isCancelled?: boolean;
  showAs?: string;
  type?: 'singleInstance' | 'occurrence' | 'exception' | 'seriesMaster';
  seriesMasterId?: string;
  originalStart?: string;
  location?: { displayName?: string };
  organizer?: { emailAddress?: GraphAddress };
  attendees?: Array<{
    emailAddress?: GraphAddress;
    type?: 'required' | 'optional' | 'resource';
    status?: { response?: string };
  }>;
}

interface GraphCalendar {
  id: string;
  name?: string;
  canEdit?: boolean;
  isDefaultCalendar?: boolean;
  owner?: GraphAddress;
}

interface GraphPage<T> {
  value?: T[];
  '@odata.nextLink'?: string;
  '@odata.deltaLink'?: string;
}

export interface MicrosoftDriverOptions {
  /** A Graph access token (audience 'calendar'; see calendarTokenSource). */
  token(signal: AbortSignal): Promise<string>;
  /** The span to ask Graph for when the caller gives none (the runner gives its sync window). */
  window?(): TimeWindow;
  /** Default GRAPH_API; tests point it at a fake. */
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
}

const PARTSTAT: Record<string, string> = {
  accepted: 'ACCEPTED',
  organizer: 'ACCEPTED',
  tentativelyAccepted: 'TENTATIVE',
  declined: 'DECLINED',
  notResponded: 'NEEDS-ACTION',
  none: 'NEEDS-ACTION',
};

/** A Graph dateTimeTimeZone as an instant: UTC when asked so, else its zone (IANA or Windows name). */
function graphInstant(value: GraphDateTime | undefined): number {
  if (!value?.dateTime) return Number.NaN;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(value.dateTime);
  if (!m) return Date.parse(value.dateTime);
  const wall = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]!, second: +m[6]! };
  const zone = value.timeZone && !/^(utc|gmt|etc\/utc)$/i.test(value.timeZone) ? zoneFromName(value.timeZone) : null;
  if (zone?.kind === 'iana') return instantInZone(wall, zone.name);
  if (zone?.kind === 'fixed') return instantAtOffset(wall, zone.offsetMinutes);
  return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
}

function graphTime(value: GraphDateTime | undefined, allDay: boolean): SpecTime {
  // All-day events are dates, whatever zone Graph writes their midnight in.
  if (allDay && value?.dateTime)
    return { instant: Date.parse(`${value.dateTime.slice(0, 10)}T00:00:00Z`), allDay: true };
  const instant = graphInstant(value);
  if (!Number.isFinite(instant))
    throw new CalendarError('PROTOCOL_ERROR', 'Microsoft Graph sent an event without a usable time');
  return { instant, allDay: false };
}

/** The iCalendar text of one Graph event (a single event, or one occurrence of a series). */
export function graphEventToIcs(event: GraphEvent): string {
  const allDay = event.isAllDay === true;
  const recurrenceId =
    (event.type === 'occurrence' || event.type === 'exception') && event.originalStart
      ? allDay
        ? { instant: Date.parse(`${event.originalStart.slice(0, 10)}T00:00:00Z`), allDay: true }
        : { instant: Date.parse(event.originalStart), allDay: false }
      : null;
  return buildCalendarIcs([
    {
      uid: event.seriesMasterId ?? event.id,
      recurrenceId,
      start: graphTime(event.start, allDay),
      end: graphTime(event.end ?? event.start, allDay),
      title: event.subject ?? null,
      location: event.location?.displayName || null,
      status: event.isCancelled ? 'cancelled' : event.showAs === 'tentative' ? 'tentative' : 'confirmed',
      organizer: event.organizer?.emailAddress?.address
        ? { address: event.organizer.emailAddress.address, name: event.organizer.emailAddress.name ?? null }
        : null,
      attendees: (event.attendees ?? [])
        .filter((a) => a.emailAddress?.address)
        .map((a) => ({
          address: a.emailAddress!.address!,
          name: a.emailAddress!.name ?? null,
          partstat: a.status?.response ? (PARTSTAT[a.status.response] ?? null) : null,
          cutype: a.type === 'resource' ? 'RESOURCE' : 'INDIVIDUAL',
          role: a.type === 'optional' ? 'OPT-PARTICIPANT' : 'REQ-PARTICIPANT',
        })),
    },
  ]);
}

function etagOf(event: GraphEvent): string | null {
  return event['@odata.etag'] ?? event.changeKey ?? null;
}

/** The saved state: the window the delta was started for, and Graph's delta link. */
function encodeState(window: TimeWindow, deltaLink: string): string {
  return JSON.stringify({ start: window.start, end: window.end, deltaLink });
}

function decodeState(token: string | null): { start: number; end: number; deltaLink: string } | null {
  if (!token) return null;
  try {
    const state = JSON.parse(token) as { start?: unknown; end?: unknown; deltaLink?: unknown };
    return typeof state.deltaLink === 'string' && typeof state.start === 'number' && typeof state.end === 'number'
      ? (state as { start: number; end: number; deltaLink: string })
      : null;
  } catch {
    return null;
  }
}

export class MicrosoftCalendarDriver implements CalendarDriver {
  private readonly api: JsonApi;
  /** Events seen in the last delta, so fetch() need not ask again. */
  private readonly seen = new Map<string, GraphEvent>();

  constructor(private readonly options: MicrosoftDriverOptions) {
    this.api = new JsonApi({
      service: 'Microsoft Graph',
      baseUrl: options.baseUrl ?? GRAPH_API,
      token: options.token,
      headers: { prefer: 'outlook.timezone="UTC", odata.maxpagesize=200' },
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  async discover(signal: AbortSignal): Promise<Discovery> {
    const calendars: GraphCalendar[] = [];
    let next: string | undefined = '/me/calendars';
    while (next) {
      const page: GraphPage<GraphCalendar> = (await this.api.request<GraphPage<GraphCalendar>>('GET', next, { signal }))
        .body;
      calendars.push(...(page.value ?? []));
      next = page['@odata.nextLink'];
    }
    return {
      calendars: calendars.map((c) => ({
        url: c.id,
        displayName: c.name ?? null,
        ctag: null,
        supportsSyncToken: true,
        writable: c.canEdit !== false,
        timeZone: null,
      })),
      ownAddresses: calendars
        .filter((c) => c.isDefaultCalendar && c.owner?.address)
        .map((c) => c.owner!.address!.toLowerCase()),
    };
  }

  /**
   * A change subscription on the calendar's events. Graph first POSTs `?validationToken=` to the URL and creates
   * the subscription only if it is echoed as text/plain within 10 s; events subscriptions live at most 4230
   * minutes (~3 days) and are extended with PATCH. Source: learn.microsoft.com/graph/api/subscription-post-
   * subscriptions, /graph/change-notifications-delivery-webhooks.
   */
  async watch(calendar: RemoteCalendar, hook: PushHook, signal: AbortSignal): Promise<PushChannel> {
    const answer = await this.api.request<{ id?: string; expirationDateTime?: string }>('POST', '/subscriptions', {
      body: {
        changeType: 'created,updated,deleted',
        notificationUrl: hook.address,
        resource: `/me/calendars/${encodeURIComponent(calendar.url)}/events`,
        expirationDateTime: new Date(Math.min(hook.expiresAt, Date.now() + GRAPH_MAX_SUBSCRIPTION_MS)).toISOString(),
        clientState: hook.secret,
      },
      signal,
    });
    if (!answer.body?.id)
      throw new CalendarError('PROTOCOL_ERROR', 'Microsoft Graph made a subscription without an id');
    return {
      channelId: answer.body.id,
      resourceId: null,
      expiresAt: expiryOf(answer.body.expirationDateTime, hook.expiresAt),
    };
  }

  async renewWatch(channel: PushChannel, expiresAt: number, signal: AbortSignal): Promise<PushChannel> {
    const wanted = Math.min(expiresAt, Date.now() + GRAPH_MAX_SUBSCRIPTION_MS);
    const answer = await this.api.request<{ expirationDateTime?: string }>(
      'PATCH',
      `/subscriptions/${encodeURIComponent(channel.channelId)}`,
      { body: { expirationDateTime: new Date(wanted).toISOString() }, signal },
    );
    return { ...channel, expiresAt: expiryOf(answer.body?.expirationDateTime, wanted) };
  }

  async unwatch(channel: PushChannel, signal: AbortSignal): Promise<void> {
    try {
      await this.api.request('DELETE', `/subscriptions/${encodeURIComponent(channel.channelId)}`, { signal });
    } catch (error) {
      if (!(error instanceof CalendarError) || error.code !== 'NOT_FOUND') throw error;
    }
  }

  async changes(
    calendar: RemoteCalendar,
    state: CalendarSyncState,
    known: ReadonlyMap<string, string | null>,
    signal: AbortSignal,
    given?: TimeWindow,
  ): Promise<CalendarChanges> {
    const day = 86_400_000;
    const today = Math.floor(Date.now() / day) * day;
    const window = given ?? this.options.window?.() ?? { start: today - 90 * day, end: today + 366 * day };
    const saved = decodeState(state.syncToken);
    // A delta covers the window it was started for: a new day starts a new one.
    if (saved && saved.start === window.start && saved.end === window.end) {
      try {
        return await this.delta(calendar, saved.deltaLink, window, known, signal);
      } catch (error) {
        if (!(error instanceof CalendarError) || error.code !== 'CURSOR_INVALID') throw error;
      }
    }
    const start = this.api.url(`/me/calendars/${encodeURIComponent(calendar.url)}/calendarView/delta`, {
      startDateTime: new Date(window.start).toISOString(),
      endDateTime: new Date(window.end).toISOString(),
    });
    return this.delta(calendar, start, window, known, signal, true);
  }

  private async delta(
    calendar: RemoteCalendar,
    link: string,
    window: TimeWindow,
    known: ReadonlyMap<string, string | null>,
    signal: AbortSignal,
    full = false,
  ): Promise<CalendarChanges> {
    const changed: CalendarChanges['changed'] = [];
    const deleted: string[] = [];
    const listed = new Set<string>();
    // What a delta keeps for the fetch that follows it; nothing older.
    this.seen.clear();
    let next: string | undefined = link;
    let deltaLink: string | undefined;
    while (next) {
      const page: GraphPage<GraphEvent> = (await this.api.request<GraphPage<GraphEvent>>('GET', next, { signal })).body;
      for (const event of page.value ?? []) {
        if (event['@removed']) {
          deleted.push(event.id);
          continue;
        }
        if (event.type === 'seriesMaster') continue;
        listed.add(event.id);
        this.seen.set(`${calendar.url}\u0000${event.id}`, event);
        const etag = etagOf(event);
        if (full && etag !== null && known.get(event.id) === etag) continue;
        changed.push({ href: event.id, etag });
      }
      next = page['@odata.nextLink'];
      deltaLink = page['@odata.deltaLink'] ?? deltaLink;
    }
    if (!deltaLink) throw new CalendarError('PROTOCOL_ERROR', 'Microsoft Graph ended a delta without a deltaLink');
    if (full) for (const href of known.keys()) if (!listed.has(href)) deleted.push(href);
    return {
      state: { syncToken: encodeState(window, deltaLink), ctag: null },
      full,
      changed,
      deleted: [...new Set(deleted)].filter((h) => !listed.has(h)),
    };
  }

  fetch(calendar: RemoteCalendar, hrefs: string[], signal: AbortSignal): Promise<CalendarObject[]> {
    return fetchEach(hrefs, (href) => this.object(calendar, href, signal, true));
  }

  /** Always asks Graph: what a write reads back must be what is there now. */
  read(calendar: RemoteCalendar, href: string, signal: AbortSignal): Promise<CalendarObject | null> {
    return this.object(calendar, href, signal, false);
  }

  private async object(
    calendar: RemoteCalendar,
    href: string,
    signal: AbortSignal,
    fromDelta: boolean,
  ): Promise<CalendarObject | null> {
    const key = `${calendar.url}\u0000${href}`;
    let event = fromDelta ? this.seen.get(key) : undefined;
    this.seen.delete(key);
    if (!event) {
      try {
        event = (await this.api.request<GraphEvent>('GET', `/me/events/${encodeURIComponent(href)}`, { signal })).body;
      } catch (error) {
        if (error instanceof CalendarError && error.code === 'NOT_FOUND') return null;
        throw error;
      }
    }
    return { href, etag: etagOf(event), ics: graphEventToIcs(event) };
  }

  private body(change: EventChange & { allDay?: boolean }): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    const time = (ms: number) =>
      change.allDay
        ? { dateTime: `${new Date(ms).toISOString().slice(0, 10)}T00:00:00`, timeZone: 'UTC' }
        : { dateTime: new Date(ms).toISOString().replace('Z', ''), timeZone: 'UTC' };
    if (change.title !== undefined) body.subject = change.title;
    if (change.location !== undefined) body.location = { displayName: change.location ?? '' };
    if (change.start !== undefined) body.start = time(change.start);
    if (change.end !== undefined) body.end = time(change.end);
    if (change.attendees !== undefined) {
      body.attendees = change.attendees.map((a) => ({
        emailAddress: { address: a.address, ...(a.name ? { name: a.name } : {}) },
        type: 'required',
      }));
    }
    return body;
  }

  async create(calendar: RemoteCalendar, draft: EventDraft, signal: AbortSignal): Promise<CalendarObject> {
    const created = await this.api.request<GraphEvent>(
      'POST',
      `/me/calendars/${encodeURIComponent(calendar.url)}/events`,
      {
        body: {
          ...this.body({
            title: draft.title,
            start: draft.start,
            end: draft.end,
            location: draft.location ?? null,
            attendees: draft.attendees,
            allDay: draft.allDay ?? false,
          }),
          isAllDay: draft.allDay ?? false,
          // Graph's idempotency key: a retried POST does not make a second event.
          transactionId: draft.uid,
        },
        signal,
      },
    );
    return { href: created.body.id, etag: etagOf(created.body), ics: graphEventToIcs(created.body) };
  }

  async update(
    _calendar: RemoteCalendar,
    target: EventTarget,
    change: EventChange,
    signal: AbortSignal,
  ): Promise<CalendarObject> {
    const updated = await this.api.request<GraphEvent>('PATCH', `/me/events/${encodeURIComponent(target.href)}`, {
      body: this.body({ ...withEnd(change, target), allDay: target.allDay }),
      signal,
    });
    return { href: target.href, etag: etagOf(updated.body), ics: graphEventToIcs(updated.body) };
  }

  async remove(_calendar: RemoteCalendar, target: EventTarget, signal: AbortSignal): Promise<CalendarObject | null> {
    try {
      await this.api.request('DELETE', `/me/events/${encodeURIComponent(target.href)}`, { signal });
    } catch (error) {
      if (!(error instanceof CalendarError) || error.code !== 'NOT_FOUND') throw error;
    }
    return null;
  }
}

export function createMicrosoftDriver(options: MicrosoftDriverOptions): CalendarDriver {
  return new MicrosoftCalendarDriver(options);
}
