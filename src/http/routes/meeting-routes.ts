// Meetings: a range of them, a contact's, one; created, moved/renamed and cancelled from the CRM (written to the
// account's calendar first); the calendar's "sync now"; and the calendar side of an account's health.
import { z } from 'zod';
import {
  cancelMeeting,
  contactMeetings,
  createMeeting,
  getMeeting,
  listMeetings,
  updateMeeting,
  type MeetingWriteDeps,
} from '../../calendar/meetings.js';
import type { ApiRouter } from '../api-router.js';
import { idParams } from './schemas.js';
import { mailboxFor } from '../../access/access-policy.js';

const DAY_MS = 86_400_000;

const instant = z
  .string()
  .min(10)
  .max(40)
  .refine((s) => Number.isFinite(Date.parse(s)), 'not a date-time (ISO 8601, e.g. 2025-03-01T14:00:00Z)')
  .transform((s) => Date.parse(s));

const person = z.object({ address: z.string(), name: z.string().optional() });

export const meetingSchema = z.object({
  id: z.string(),
  title: z.string().nullable(),
  start: z.string(),
  end: z.string(),
  allDay: z.boolean(),
  location: z.string().optional(),
  description: z.string().optional(),
  organizer: person.optional(),
  attendees: z.array(person.extend({ status: z.string().optional(), kind: z.string().optional() })),
  contactIds: z.array(z.string()),
  status: z.string().nullable(),
  accountId: z.string().nullable(),
  calendarId: z.string().nullable(),
  uid: z.string(),
  recurrenceId: z.string(),
  editable: z.boolean(),
});

const meetingList = z.object({ items: z.array(meetingSchema) });

const attendeeList = z.array(z.string().min(3).max(320)).max(500);

export interface MeetingRouteDeps extends MeetingWriteDeps {
  /** Asks the account's calendar runner for a pass now; false when no runner of this process has the account. */
  syncNow(accountId: string): boolean | Promise<boolean>;
}

export function meetingRoutes(router: ApiRouter, deps: MeetingRouteDeps): void {
  const { db } = deps;

  router.route({
    method: 'GET',
    path: '/api/meetings',
    summary: 'Meetings overlapping a time range (default: 30 days back to 90 days ahead), earliest first',
    tag: 'meetings',
    auth: 'user',
    query: z.object({ from: instant.optional(), to: instant.optional() }),
    responses: { 200: { description: 'Meetings', schema: meetingList } },
    handler: async ({ user, query }) => {
      const now = Date.now();
      const from = query.from ?? now - 30 * DAY_MS;
      const to = query.to ?? Math.max(from, now) + 90 * DAY_MS;
      return { items: await listMeetings(db, user, { from, to }) };
    },
  });

  router.route({
    method: 'GET',
    path: '/api/contacts/:id/meetings',
    summary: "A contact's meetings, newest first",
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'Meetings', schema: meetingList } },
    handler: async ({ user, params }) => ({ items: await contactMeetings(db, user, params.id) }),
  });

  router.route({
    method: 'GET',
    path: '/api/meetings/:id',
    summary: 'One meeting',
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The meeting', schema: meetingSchema } },
    handler: ({ user, params }) => getMeeting(db, user, params.id),
  });

  router.route({
    method: 'POST',
    path: '/api/meetings',
    summary: "Create a meeting on one of the caller's accounts' calendar (the account's address organises it)",
    tag: 'meetings',
    auth: 'user',
    status: 201,
    body: z.strictObject({
      accountId: z.string().uuid(),
      title: z.string().trim().min(1).max(500),
      start: instant,
      end: instant,
      location: z.string().max(1000).nullable().optional(),
      attendees: attendeeList,
    }),
    responses: { 201: { description: 'Written to the calendar and stored', schema: meetingSchema } },
    handler: ({ user, body }) => createMeeting(deps, user, body),
  });

  router.route({
    method: 'PATCH',
    path: '/api/meetings/:id',
    summary: 'Move, rename, relocate or re-invite a meeting (one occurrence of a series: that occurrence only); written to the calendar',
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    body: z.strictObject({
      title: z.string().trim().min(1).max(500).optional(),
      start: instant.optional(),
      end: instant.optional(),
      location: z.string().max(1000).nullable().optional(),
      attendees: attendeeList.optional(),
    }),
    responses: { 200: { description: 'The meeting as the calendar now holds it', schema: meetingSchema } },
    handler: ({ user, params, body }) => updateMeeting(deps, user, params.id, body),
  });

  router.route({
    method: 'DELETE',
    path: '/api/meetings/:id',
    summary: 'Cancel a meeting: deleted from the calendar (one occurrence: excluded from its series) and removed from the CRM',
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Cancelled' } },
    handler: ({ user, params }) => cancelMeeting(deps, user, params.id),
  });

  function visibleAccount(user: { id: string; orgId: string; isAdmin: boolean }, id: string) {
    return mailboxFor(db, user, id, 'see');
  }

  router.route({
    method: 'POST',
    path: '/api/email-accounts/:id/calendar-sync',
    summary: "Sync the account's calendar now",
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    status: 202,
    responses: { 202: { description: 'Asked for', schema: z.object({ queued: z.boolean() }) } },
    handler: async ({ user, params }) => {
      await visibleAccount(user, params.id);
      return { queued: await deps.syncNow(params.id) };
    },
  });

  router.route({
    method: 'GET',
    path: '/api/email-accounts/:id/calendar',
    summary: "The account's calendar sync: status, calendars, and what could not be read",
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    responses: {
      200: {
        description: 'Calendar health',
        schema: z.object({
          status: z.enum(['syncing', 'active', 'error', 'needs_reconnect', 'none']).nullable(),
          detail: z.string().nullable(),
          syncedAt: z.string().nullable(),
          calendars: z.array(
            z.object({
              id: z.string(),
              url: z.string(),
              displayName: z.string().nullable(),
              writable: z.boolean(),
              objects: z.number(),
              /** Objects with something left out or guessed (unreadable files, skipped events, unknown zones), and what. */
              problems: z.array(z.object({ href: z.string(), problem: z.string() })),
            }),
          ),
        }),
      },
    },
    handler: async ({ user, params }) => {
      const row = await visibleAccount(user, params.id);
      const calendars = await db.selectFrom('calendars').selectAll().where('account_id', '=', row.id).orderBy('created_at').orderBy('id').execute();
      const objects = calendars.length
        ? await db.selectFrom('calendar_objects').select(['calendar_id', 'href', 'problem']).where('calendar_id', 'in', calendars.map((c) => c.id)).execute()
        : [];
      return {
        status: row.calendar_status ?? null,
        detail: row.calendar_detail ?? null,
        syncedAt: row.calendar_synced_at ? new Date(row.calendar_synced_at).toISOString() : null,
        calendars: calendars.map((c) => {
          const mine = objects.filter((o) => o.calendar_id === c.id);
          return {
            id: c.id,
            url: c.url,
            displayName: c.display_name,
            writable: c.writable === 1,
            objects: mine.length,
            problems: mine.filter((o) => o.problem !== null).map((o) => ({ href: o.href, problem: o.problem! })),
          };
        }),
      };
    },
  });
}
