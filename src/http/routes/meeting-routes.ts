// Meetings: a range of them, a contact's, one; created, moved/renamed and cancelled from the CRM (written to the
// account's calendar first); the calendar's "sync now"; and the calendar side of an account's health.
import { z } from 'zod';
import { contactMeetings, getMeeting, listMeetings } from '../../calendar/meetings/read-meetings.js';
import {
  cancelMeeting,
  createMeeting,
  updateMeeting,
  type MeetingWriteDeps,
} from '../../calendar/meetings/write-meetings.js';
import type { ApiRouter } from '../api-router.js';
import { calendarHealthSchema, calendarSyncQueuedSchema, meetingListSchema, meetingSchema } from '../api-schemas.js';
import { idParams } from './schemas.js';
import { mailboxFor } from '../../access/access-policy.js';
import { calendarHealth } from '../../calendar/calendar-health.js';

const DAY_MS = 86_400_000;

const instant = z
  .string()
  .min(10)
  .max(40)
  .refine((s) => Number.isFinite(Date.parse(s)), 'not a date-time (ISO 8601, e.g. 2025-03-01T14:00:00Z)')
  .transform((s) => Date.parse(s));

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
    responses: { 200: { description: 'Meetings', schema: meetingListSchema } },
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
    responses: { 200: { description: 'Meetings', schema: meetingListSchema } },
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
    summary:
      'Move, rename, relocate or re-invite a meeting (one occurrence of a series: that occurrence only); written to the calendar',
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
    summary:
      'Cancel a meeting: deleted from the calendar (one occurrence: excluded from its series) and removed from the CRM',
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Cancelled' } },
    handler: ({ user, params }) => cancelMeeting(deps, user, params.id),
  });

  router.route({
    method: 'POST',
    path: '/api/email-accounts/:id/calendar-sync',
    summary: "Sync the account's calendar now",
    tag: 'meetings',
    auth: 'user',
    params: idParams,
    status: 202,
    responses: { 202: { description: 'Asked for', schema: calendarSyncQueuedSchema } },
    handler: async ({ user, params }) => {
      // Whoever may see the mailbox may ask; another user's private one is "not found".
      await mailboxFor(db, user, params.id, 'see');
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
        schema: calendarHealthSchema,
      },
    },
    handler: ({ user, params }) => calendarHealth(db, user, params.id),
  });
}
