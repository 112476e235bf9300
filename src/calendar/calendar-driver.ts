// The one interface every calendar service implements (CalDAV here; Google and Microsoft Graph beside it): find
// the account's calendars, say what changed since a saved state, hand over objects as iCalendar text, and write
// events made in the CRM. The engine (calendar-runner.ts, meetings/) never knows which service it talks to.
// Errors leave a driver as CalendarError with a stable code; what a code means for the account is decided in
// one place (decideCalendarFailure, below).
import { OAuthError } from '../mail/oauth2/oauth-error.js';
import type { TextParams } from '../core/server-text.js';
import type { CalendarTextCode } from '../mail/accounts/account-status.js';

/** A calendar of the account, as the service describes it. */

/** The span of time a calendar sync covers. Epoch milliseconds. */
export interface TimeWindow {
  start: number;
  end: number;
}

export interface RemoteCalendar {
  /** What identifies it on the service: the collection URL for CalDAV, the calendar id for an API. */
  url: string;
  displayName: string | null;
  /** The service's change tag for the whole calendar (CalDAV getctag), if it has one. */
  ctag: string | null;
  /** true when the service keeps a change log we can ask "what changed since token T" (RFC 6578 sync-collection). */
  supportsSyncToken: boolean;
  /** false when events cannot be written to it (a subscription, a shared read-only calendar). */
  writable: boolean;
  /** The calendar's own time zone (IANA) when it declares one: the zone of floating times in it. */
  timeZone: string | null;
}

export interface Discovery {
  calendars: RemoteCalendar[];
  /** The account's own calendar addresses the service knows (calendar-user-address-set), lower-cased. */
  ownAddresses: string[];
}

/** Where a previous pass left a calendar. */
export interface CalendarSyncState {
  syncToken: string | null;
  ctag: string | null;
}

export interface ObjectRef {
  href: string;
  etag: string | null;
}

export interface CalendarChanges {
  /** The state to save once every change below is stored. */
  state: CalendarSyncState;
  /**
   * true: `changed` lists every object the calendar holds now (a first sync, a listing, a sync token the server
   * no longer accepts), so any known object missing from it is gone.
   */
  full: boolean;
  /** New or modified objects (for a full listing: every object whose etag differs from the known one). */
  changed: ObjectRef[];
  /** Objects removed since the state. */
  deleted: string[];
}

/** A calendar object: one iCalendar text (one UID with its overrides, on CalDAV). */
export interface CalendarObject {
  href: string;
  etag: string | null;
  ics: string;
}

export interface DraftAttendee {
  address: string;
  name?: string | null;
}

/** An event the CRM creates. */
export interface EventDraft {
  uid: string;
  title: string;
  /** Epoch milliseconds. */
  start: number;
  end: number;
  allDay?: boolean;
  location?: string | null;
  description?: string | null;
  organizer: { address: string; name?: string | null };
  attendees: DraftAttendee[];
}

/** A change to an existing event (or to one occurrence of a series, when `recurrenceId` is given). */
export interface EventChange {
  title?: string;
  start?: number;
  end?: number;
  location?: string | null;
  attendees?: DraftAttendee[];
}

export interface EventTarget extends ObjectRef {
  /** '' for the whole event; an occurrence's recurrence id (as meetings.recurrence_id) for one occurrence. */
  recurrenceId: string;
  /** The occurrence as stored (epoch ms): where an override starts from, and what a move keeps (the length). */
  start: number;
  end: number;
  allDay: boolean;
}

/** A change with its end filled in: a move that names only the new start keeps the event's length. */
export function withEnd(change: EventChange, target: Pick<EventTarget, 'start' | 'end'>): EventChange {
  if (change.start === undefined || change.end !== undefined) return change;
  return { ...change, end: change.start + (target.end - target.start) };
}

/** Fetches objects one by one (APIs without a multi-get), skipping those gone meanwhile. */
export async function fetchEach(
  hrefs: string[],
  one: (href: string) => Promise<CalendarObject | null>,
): Promise<CalendarObject[]> {
  const objects: CalendarObject[] = [];
  for (const href of hrefs) {
    const object = await one(href);
    if (object) objects.push(object);
  }
  return objects;
}

/** Where a provider is to send a calendar's change notifications (push), and what it must send back to be believed. */
export interface PushHook {
  /** The public webhook URL (PUBLIC_URL + /hooks/…). */
  address: string;
  /** A random secret the provider echoes on every notification (Google's channel token, Graph's clientState). */
  secret: string;
  /** When the channel should end (the provider may shorten it). Epoch ms. */
  expiresAt: number;
}

/** A push channel (Google) or subscription (Graph) as the provider made it. */
export interface PushChannel {
  channelId: string;
  /** Google's resourceId (channels/stop needs it); null on Graph. */
  resourceId: string | null;
  expiresAt: number;
}

export interface CalendarDriver {
  /** The account's calendars (principal → calendar home → calendars, on CalDAV). */
  discover(signal: AbortSignal): Promise<Discovery>;
  /**
   * What changed since `state`. `known` (href → etag) is what is stored, for services without a change log;
   * `window` is the span being kept, for services that expand series themselves (Graph's calendar view).
   */
  changes(
    calendar: RemoteCalendar,
    state: CalendarSyncState,
    known: ReadonlyMap<string, string | null>,
    signal: AbortSignal,
    window?: TimeWindow,
  ): Promise<CalendarChanges>;
  /**
   * The cheap "did anything change?" of the steady state: each calendar's change tag (its sync-token and/or ctag,
   * as one opaque string; null when the service gives none), asked for in as few requests as the service allows
   * (CalDAV: one PROPFIND on the calendar home for all its calendars). A calendar whose tag is the one seen before
   * needs no changes() call. Absent on services without such a tag: they are asked changes() at the same cadence.
   */
  check?(calendars: RemoteCalendar[], signal: AbortSignal): Promise<Map<string, string | null>>;
  /**
   * Push (Google events.watch, Graph subscriptions): asks the service to notify `hook.address` of changes to the
   * calendar. Absent on services without push (CalDAV): they are polled.
   */
  watch?(calendar: RemoteCalendar, hook: PushHook, signal: AbortSignal): Promise<PushChannel>;
  /**
   * Extends a channel in place (Graph: PATCH expirationDateTime). Absent (Google): a channel is renewed by a new
   * watch and the old one stopped.
   */
  renewWatch?(channel: PushChannel, expiresAt: number, signal: AbortSignal): Promise<PushChannel>;
  /** Ends a channel (Google channels/stop, Graph DELETE subscription); one already gone is not an error. */
  unwatch?(channel: PushChannel, signal: AbortSignal): Promise<void>;
  /** The objects at these hrefs; an href that no longer exists is simply absent from the answer. */
  fetch(calendar: RemoteCalendar, hrefs: string[], signal: AbortSignal): Promise<CalendarObject[]>;
  /** One object, or null when it is gone. */
  read(calendar: RemoteCalendar, href: string, signal: AbortSignal): Promise<CalendarObject | null>;
  /** Writes a new event; answers the stored object (re-read when the service does not echo it). */
  create(calendar: RemoteCalendar, draft: EventDraft, signal: AbortSignal): Promise<CalendarObject>;
  /** Changes an event or one occurrence; CONFLICT when it changed on the service since `target.etag`. */
  update(
    calendar: RemoteCalendar,
    target: EventTarget,
    change: EventChange,
    signal: AbortSignal,
  ): Promise<CalendarObject>;
  /**
   * Cancels an event (the object is deleted) or one occurrence (an EXDATE on the series); answers the object as
   * it is now, or null when it is gone.
   */
  remove(calendar: RemoteCalendar, target: EventTarget, signal: AbortSignal): Promise<CalendarObject | null>;
}

export type CalendarErrorCode =
  /** The service refused the credentials: the account must be reconnected (for its calendar). */
  | 'AUTH_FAILED'
  /** Nothing to sync with: no calendar service found for the account. */
  | 'NOT_AVAILABLE'
  /** The object or calendar is not there (any more). */
  | 'NOT_FOUND'
  /** The object changed on the service since we read it (If-Match failed), or already exists. */
  | 'CONFLICT'
  /** The service does not let us do that (a read-only calendar). */
  | 'FORBIDDEN'
  /** The saved sync token is no longer accepted: list everything again. */
  | 'CURSOR_INVALID'
  /** Timeouts, resets, 5xx, throttling: try again later. */
  | 'TEMPORARY'
  /** The outbound policy refused the server (an internal address, another origin, not http(s)). */
  | 'HOST_NOT_ALLOWED'
  /** The service answered something we cannot use. */
  | 'PROTOCOL_ERROR';

export class CalendarError extends Error {
  constructor(
    readonly code: CalendarErrorCode,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CalendarError';
    this.status = options.status;
  }

  readonly status: number | undefined;
}

export interface CalendarDetail {
  detail: string;
  detailCode: CalendarTextCode;
  detailParams: TextParams;
}

export type CalendarFailureDecision = { action: 'needs_reconnect' | 'none' | 'retry' } & CalendarDetail;

/**
 * What a failure means for the account's calendar sync, decided here only: refused credentials stop it until
 * the account is reconnected; no calendar service means "none" (tried again rarely); anything else is retried
 * with backoff. The mail status is never touched.
 */
export function decideCalendarFailure(error: unknown): CalendarFailureDecision {
  if (error instanceof CalendarError) {
    const reason = { reason: error.message };
    if (error.code === 'AUTH_FAILED') {
      return {
        action: 'needs_reconnect',
        detail: `The calendar server refused the account's credentials: ${error.message}. Reconnect the account with Edit.`,
        detailCode: 'CALENDAR_AUTH_FAILED',
        detailParams: reason,
      };
    }
    if (error.code === 'NOT_AVAILABLE')
      return { action: 'none', detail: error.message, detailCode: 'CALENDAR_NOT_AVAILABLE', detailParams: reason };
    return { action: 'retry', detail: error.message, detailCode: 'CALENDAR_FAILED', detailParams: reason };
  }
  // OAuth refresh failures: a grant that is gone means sign in again.
  if (error instanceof OAuthError && (error.code === 'INVALID_GRANT' || error.code === 'NOT_CONFIGURED')) {
    return {
      action: 'needs_reconnect',
      detail: `Access to the calendar was revoked or has expired: sign in again (${error.message})`,
      detailCode: 'CALENDAR_ACCESS_REVOKED',
      detailParams: { reason: error.message },
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { action: 'retry', detail: message, detailCode: 'CALENDAR_FAILED', detailParams: { reason: message } };
}
