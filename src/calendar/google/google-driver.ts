// The Google Calendar driver (Calendar API v3). Calendars from the user's calendar list (holiday, birthday and
// week-number calendars left out); changes from events.list with a sync token (410 Gone: list again); an object is
// one series or event — keyed by the master's event id, so a changed or cancelled occurrence (which names its
// recurringEventId) marks its series changed — and is handed over as iCalendar text built from the API's fields
// (recurrence lines verbatim), so zones, series and overrides are read by the same code as CalDAV's.
// Writes go through events.insert/patch/delete (one occurrence: its instance), with sendUpdates=all as Google
// Calendar itself does. Sources: developers.google.com/calendar/api/v3/reference (events, calendarList) and the
// "Synchronize resources efficiently" guide.
import { createHash, randomUUID } from 'node:crypto';
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
import { buildCalendarIcs, type SpecTime, type VEventSpec } from '../ical/build-event.js';
import { JsonApi } from '../json-api.js';

export const GOOGLE_CALENDAR_API = 'https://www.googleapis.com/calendar/v3';

interface GoogleTime {
  date?: string;
  dateTime?: string;
  timeZone?: string;
}

interface GoogleAttendee {
  email?: string;
  displayName?: string;
  responseStatus?: 'needsAction' | 'declined' | 'tentative' | 'accepted';
  resource?: boolean;
  optional?: boolean;
  organizer?: boolean;
  self?: boolean;
}

export interface GoogleEvent {
  id: string;
  etag?: string;
  status?: 'confirmed' | 'tentative' | 'cancelled';
  iCalUID?: string;
  summary?: string;
  description?: string;
  location?: string;
  start?: GoogleTime;
  end?: GoogleTime;
  recurrence?: string[];
  recurringEventId?: string;
  originalStartTime?: GoogleTime;
  organizer?: { email?: string; displayName?: string; self?: boolean };
  attendees?: GoogleAttendee[];
  sequence?: number;
}

interface GoogleCalendarListEntry {
  id: string;
  summary?: string;
  summaryOverride?: string;
  timeZone?: string;
  accessRole?: 'freeBusyReader' | 'reader' | 'writer' | 'owner';
  primary?: boolean;
  deleted?: boolean;
}

interface Page<T> {
  items?: T[];
  nextPageToken?: string;
  nextSyncToken?: string;
}

export interface GoogleDriverOptions {
  /** The account's access token (refreshed as needed by the caller). */
  token(signal: AbortSignal): Promise<string>;
  /** Default GOOGLE_CALENDAR_API; tests point it at a fake. */
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
}

/** Calendars that are Google's own feeds, not the user's meetings. */
const FEED = /#(holiday|contacts|weeknum)@group\.v\.calendar\.google\.com$/;

const PARTSTAT: Record<string, string> = {
  needsAction: 'NEEDS-ACTION',
  declined: 'DECLINED',
  tentative: 'TENTATIVE',
  accepted: 'ACCEPTED',
};

function specTime(time: GoogleTime | undefined, fallbackZone: string | null, zoned: boolean): SpecTime {
  if (time?.date) return { instant: Date.parse(`${time.date}T00:00:00Z`), allDay: true };
  const instant = time?.dateTime ? Date.parse(time.dateTime) : Number.NaN;
  if (!Number.isFinite(instant))
    throw new CalendarError('PROTOCOL_ERROR', 'Google sent an event without a usable time');
  return { instant, allDay: false, zone: zoned ? (time?.timeZone ?? fallbackZone) : null };
}

/** One object's iCalendar text from the Google events of one series (or one event). */
export function googleEventsToIcs(events: GoogleEvent[], calendarZone: string | null): string {
  const specs: VEventSpec[] = [];
  for (const event of events) {
    const isException = Boolean(event.recurringEventId);
    if (event.status === 'cancelled' && !isException) continue;
    const uid = event.iCalUID ?? `${event.recurringEventId ?? event.id}@google.com`;
    const recurring = (event.recurrence?.length ?? 0) > 0;
    if (isException && event.status === 'cancelled') {
      // A cancelled occurrence: an override saying so (the reader drops it). Google sends only its original start.
      if (!event.originalStartTime) continue;
      const original = specTime(event.originalStartTime, calendarZone, false);
      specs.push({ uid, recurrenceId: original, start: original, end: original, status: 'cancelled' });
      continue;
    }
    specs.push({
      uid,
      ...(isException && event.originalStartTime
        ? { recurrenceId: specTime(event.originalStartTime, calendarZone, false) }
        : {}),
      // A series is written in its own zone: its rule expands in local time (09:00 stays 09:00 across DST).
      start: specTime(event.start, calendarZone, recurring),
      end: specTime(event.end ?? event.start, calendarZone, recurring),
      title: event.summary ?? null,
      location: event.location ?? null,
      description: event.description ?? null,
      status: event.status ?? null,
      organizer: event.organizer?.email
        ? { address: event.organizer.email, name: event.organizer.displayName ?? null }
        : null,
      attendees: (event.attendees ?? [])
        .filter((a) => a.email)
        .map((a) => ({
          address: a.email!,
          name: a.displayName ?? null,
          partstat: a.responseStatus ? (PARTSTAT[a.responseStatus] ?? null) : null,
          cutype: a.resource ? 'RESOURCE' : 'INDIVIDUAL',
          role: a.organizer ? 'CHAIR' : a.optional ? 'OPT-PARTICIPANT' : 'REQ-PARTICIPANT',
        })),
      ...(recurring ? { recurrence: event.recurrence! } : {}),
      ...(event.sequence !== undefined ? { sequence: event.sequence } : {}),
    });
  }
  return buildCalendarIcs(specs);
}

function groupKey(event: GoogleEvent): string {
  return event.recurringEventId ?? event.id;
}

function etagOf(events: GoogleEvent[]): string {
  return createHash('sha256')
    .update(
      events
        .map((e) => `${e.id}:${e.etag ?? ''}`)
        .sort()
        .join('|'),
    )
    .digest('hex')
    .slice(0, 32);
}

export class GoogleCalendarDriver implements CalendarDriver {
  private readonly api: JsonApi;
  /** Series seen whole in the last full listing, so fetch() need not ask again. */
  private readonly listed = new Map<string, GoogleEvent[]>();

  constructor(options: GoogleDriverOptions) {
    this.api = new JsonApi({
      service: 'Google Calendar',
      baseUrl: options.baseUrl ?? GOOGLE_CALENDAR_API,
      token: options.token,
      ...(options.fetch ? { fetch: options.fetch } : {}),
    });
  }

  private calendarPath(calendar: RemoteCalendar, rest = ''): string {
    return `/calendars/${encodeURIComponent(calendar.url)}/events${rest}`;
  }

  async discover(signal: AbortSignal): Promise<Discovery> {
    const entries: GoogleCalendarListEntry[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.api.request<Page<GoogleCalendarListEntry>>('GET', '/users/me/calendarList', {
        query: { maxResults: 250, pageToken },
        signal,
      });
      entries.push(...(page.body.items ?? []));
      pageToken = page.body.nextPageToken;
    } while (pageToken);
    const usable = entries.filter((e) => !e.deleted && e.accessRole !== 'freeBusyReader' && !FEED.test(e.id));
    return {
      calendars: usable.map((e) => ({
        url: e.id,
        displayName: e.summaryOverride ?? e.summary ?? null,
        ctag: null,
        supportsSyncToken: true,
        writable: e.accessRole === 'owner' || e.accessRole === 'writer',
        timeZone: e.timeZone ?? null,
      })),
      ownAddresses: entries.filter((e) => e.primary && e.id.includes('@')).map((e) => e.id.toLowerCase()),
    };
  }

  async changes(
    calendar: RemoteCalendar,
    state: CalendarSyncState,
    known: ReadonlyMap<string, string | null>,
    signal: AbortSignal,
  ): Promise<CalendarChanges> {
    if (state.syncToken) {
      try {
        return await this.list(calendar, state.syncToken, known, signal);
      } catch (error) {
        if (!(error instanceof CalendarError) || error.code !== 'CURSOR_INVALID') throw error;
      }
    }
    return this.list(calendar, null, known, signal);
  }

  private async list(
    calendar: RemoteCalendar,
    syncToken: string | null,
    known: ReadonlyMap<string, string | null>,
    signal: AbortSignal,
  ): Promise<CalendarChanges> {
    const events: GoogleEvent[] = [];
    let pageToken: string | undefined;
    let nextSyncToken: string | undefined;
    do {
      const page = await this.api.request<Page<GoogleEvent>>('GET', this.calendarPath(calendar), {
        query: {
          maxResults: 2500,
          singleEvents: false,
          showDeleted: syncToken ? true : undefined,
          syncToken: syncToken ?? undefined,
          pageToken,
        },
        signal,
      });
      events.push(...(page.body.items ?? []));
      pageToken = page.body.nextPageToken;
      nextSyncToken = page.body.nextSyncToken ?? nextSyncToken;
    } while (pageToken);

    // What a listing keeps for the fetch that follows it; nothing older.
    this.listed.clear();
    const groups = new Map<string, GoogleEvent[]>();
    for (const event of events) {
      const list = groups.get(groupKey(event)) ?? [];
      list.push(event);
      groups.set(groupKey(event), list);
    }
    const changed: CalendarChanges['changed'] = [];
    const deleted: string[] = [];
    for (const [href, group] of groups) {
      const master = group.find((e) => !e.recurringEventId);
      // The series or event itself cancelled: gone. (An occurrence cancelled changes its series.)
      if (master?.status === 'cancelled') {
        deleted.push(href);
        continue;
      }
      const etag = syncToken ? null : etagOf(group);
      if (!syncToken) this.listed.set(`${calendar.url}\u0000${href}`, group);
      if (!syncToken && known.get(href) === etag) continue;
      changed.push({ href, etag });
    }
    if (!syncToken) for (const href of known.keys()) if (!groups.has(href)) deleted.push(href);
    return { state: { syncToken: nextSyncToken ?? null, ctag: null }, full: !syncToken, changed, deleted };
  }

  /** Every event of a series (or the one event): the master by id, then everything with its iCalUID. */
  private async series(
    calendar: RemoteCalendar,
    href: string,
    signal: AbortSignal,
    fromListing = false,
  ): Promise<GoogleEvent[] | null> {
    const key = `${calendar.url}\u0000${href}`;
    const cached = this.listed.get(key);
    this.listed.delete(key);
    if (cached && fromListing) return cached;
    let master: GoogleEvent;
    try {
      master = (
        await this.api.request<GoogleEvent>('GET', this.calendarPath(calendar, `/${encodeURIComponent(href)}`), {
          signal,
        })
      ).body;
    } catch (error) {
      if (error instanceof CalendarError && (error.code === 'NOT_FOUND' || error.code === 'CURSOR_INVALID'))
        return null;
      throw error;
    }
    if (master.status === 'cancelled') return null;
    if (!master.iCalUID) return [master];
    const all: GoogleEvent[] = [];
    let pageToken: string | undefined;
    do {
      const page = await this.api.request<Page<GoogleEvent>>('GET', this.calendarPath(calendar), {
        query: { iCalUID: master.iCalUID, showDeleted: true, maxResults: 2500, pageToken },
        signal,
      });
      all.push(...(page.body.items ?? []));
      pageToken = page.body.nextPageToken;
    } while (pageToken);
    const items = all.filter((e) => e.id === master.id || e.recurringEventId === master.id);
    return items.some((e) => e.id === master.id) ? items : [master, ...items];
  }

  /**
   * events.watch: Google POSTs to the address (X-Goog-Channel-ID/-Token/-Resource-ID/-Resource-State) on any
   * change of the calendar's events. Google has no renewal: a new channel replaces the old (which is stopped).
   * Source: developers.google.com/calendar/api/guides/push.
   */
  async watch(calendar: RemoteCalendar, hook: PushHook, signal: AbortSignal): Promise<PushChannel> {
    const id = randomUUID();
    const ttlSeconds = Math.max(60, Math.round((hook.expiresAt - Date.now()) / 1000));
    const answer = await this.api.request<{ id?: string; resourceId?: string; expiration?: string | number }>(
      'POST',
      this.calendarPath(calendar, '/watch'),
      {
        body: { id, type: 'web_hook', address: hook.address, token: hook.secret, params: { ttl: String(ttlSeconds) } },
        signal,
      },
    );
    if (!answer.body?.resourceId)
      throw new CalendarError('PROTOCOL_ERROR', 'Google Calendar made a channel without a resource id');
    const expiration = Number(answer.body.expiration);
    return {
      channelId: answer.body.id ?? id,
      resourceId: answer.body.resourceId,
      expiresAt: Number.isFinite(expiration) && expiration > 0 ? expiration : hook.expiresAt,
    };
  }

  async unwatch(channel: PushChannel, signal: AbortSignal): Promise<void> {
    try {
      await this.api.request('POST', '/channels/stop', {
        body: { id: channel.channelId, resourceId: channel.resourceId },
        signal,
      });
    } catch (error) {
      // Expired or stopped before: nothing is left to stop.
      if (!(error instanceof CalendarError) || error.code !== 'NOT_FOUND') throw error;
    }
  }

  fetch(calendar: RemoteCalendar, hrefs: string[], signal: AbortSignal): Promise<CalendarObject[]> {
    return fetchEach(hrefs, (href) => this.object(calendar, href, signal, true));
  }

  /** Always asks Google: what a write reads back must be what is there now. */
  read(calendar: RemoteCalendar, href: string, signal: AbortSignal): Promise<CalendarObject | null> {
    return this.object(calendar, href, signal, false);
  }

  private async object(
    calendar: RemoteCalendar,
    href: string,
    signal: AbortSignal,
    fromListing: boolean,
  ): Promise<CalendarObject | null> {
    const events = await this.series(calendar, href, signal, fromListing);
    if (!events || events.length === 0) return null;
    return { href, etag: etagOf(events), ics: googleEventsToIcs(events, calendar.timeZone) };
  }

  private body(
    change: EventChange & { title?: string; description?: string | null },
    current?: GoogleEvent,
  ): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    if (change.title !== undefined) body.summary = change.title;
    if (change.location !== undefined) body.location = change.location ?? '';
    if (change.description !== undefined) body.description = change.description ?? '';
    if (change.start !== undefined) body.start = { dateTime: new Date(change.start).toISOString() };
    if (change.end !== undefined) body.end = { dateTime: new Date(change.end).toISOString() };
    if (change.attendees !== undefined) {
      const existing = new Map(
        (current?.attendees ?? []).filter((a) => a.email).map((a) => [a.email!.toLowerCase(), a]),
      );
      const kept = (current?.attendees ?? []).filter((a) => a.organizer || a.self);
      const wanted = change.attendees.map(
        (a) =>
          existing.get(a.address.toLowerCase()) ?? { email: a.address, ...(a.name ? { displayName: a.name } : {}) },
      );
      const seen = new Set<string>();
      body.attendees = [...kept, ...wanted].filter(
        (a) => a.email && !seen.has(a.email.toLowerCase()) && seen.add(a.email.toLowerCase()),
      );
    }
    return body;
  }

  async create(calendar: RemoteCalendar, draft: EventDraft, signal: AbortSignal): Promise<CalendarObject> {
    const created = await this.api.request<GoogleEvent>('POST', this.calendarPath(calendar), {
      query: { sendUpdates: 'all' },
      body: {
        iCalUID: draft.uid,
        ...this.body({
          title: draft.title,
          start: draft.start,
          end: draft.end,
          location: draft.location ?? null,
          description: draft.description ?? null,
          attendees: draft.attendees,
        }),
        ...(draft.allDay
          ? {
              start: { date: new Date(draft.start).toISOString().slice(0, 10) },
              end: { date: new Date(draft.end).toISOString().slice(0, 10) },
            }
          : {}),
      },
      signal,
    });
    return {
      href: created.body.id,
      etag: etagOf([created.body]),
      ics: googleEventsToIcs([created.body], calendar.timeZone),
    };
  }

  /** The event to write to: the series (or single event), or the instance of one occurrence. */
  private async instance(calendar: RemoteCalendar, target: EventTarget, signal: AbortSignal): Promise<GoogleEvent> {
    if (target.recurrenceId === '') {
      return (
        await this.api.request<GoogleEvent>('GET', this.calendarPath(calendar, `/${encodeURIComponent(target.href)}`), {
          signal,
        })
      ).body;
    }
    const originalStart = target.allDay ? target.recurrenceId : new Date(Date.parse(target.recurrenceId)).toISOString();
    const page = await this.api.request<Page<GoogleEvent>>(
      'GET',
      this.calendarPath(calendar, `/${encodeURIComponent(target.href)}/instances`),
      { query: { originalStart, showDeleted: false }, signal },
    );
    const instance = page.body.items?.[0];
    if (!instance) throw new CalendarError('NOT_FOUND', 'that occurrence is no longer in the series');
    return instance;
  }

  async update(
    calendar: RemoteCalendar,
    target: EventTarget,
    change: EventChange,
    signal: AbortSignal,
  ): Promise<CalendarObject> {
    const current = await this.instance(calendar, target, signal);
    change = withEnd(change, target);
    const body = this.body(change, current);
    // Moving an all-day event keeps it all-day.
    if (target.allDay && (change.start !== undefined || change.end !== undefined)) {
      const start = change.start ?? target.start;
      const end = change.end ?? (change.start !== undefined ? change.start + (target.end - target.start) : target.end);
      body.start = { date: new Date(start).toISOString().slice(0, 10) };
      body.end = { date: new Date(end).toISOString().slice(0, 10) };
    }
    await this.api.request<GoogleEvent>('PATCH', this.calendarPath(calendar, `/${encodeURIComponent(current.id)}`), {
      query: { sendUpdates: 'all' },
      body,
      headers: current.etag ? { 'if-match': current.etag } : {},
      signal,
    });
    const object = await this.read(calendar, target.href, signal);
    if (!object) throw new CalendarError('NOT_FOUND', 'the event is no longer on the calendar');
    return object;
  }

  async remove(calendar: RemoteCalendar, target: EventTarget, signal: AbortSignal): Promise<CalendarObject | null> {
    let id = target.href;
    if (target.recurrenceId !== '') {
      try {
        id = (await this.instance(calendar, target, signal)).id;
      } catch (error) {
        if (error instanceof CalendarError && error.code === 'NOT_FOUND')
          return this.read(calendar, target.href, signal);
        throw error;
      }
    }
    try {
      await this.api.request('DELETE', this.calendarPath(calendar, `/${encodeURIComponent(id)}`), {
        query: { sendUpdates: 'all' },
        signal,
      });
    } catch (error) {
      // Already deleted (404, or 410 for an event deleted before): the wish is granted.
      if (!(error instanceof CalendarError) || (error.code !== 'NOT_FOUND' && error.code !== 'CURSOR_INVALID'))
        throw error;
    }
    return target.recurrenceId === '' ? null : this.read(calendar, target.href, signal);
  }
}

export function createGoogleDriver(options: GoogleDriverOptions): CalendarDriver {
  return new GoogleCalendarDriver(options);
}
