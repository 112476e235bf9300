// Follow-up reminders (issue 15): the caller's own, evaluated on read so a reminder past its time is never shown
// as waiting, and closing one by hand.
import { z } from 'zod';
import type { Db } from '../../storage/database.js';
import { closeReminder, listReminders } from '../../mail/send/follow-up-reminders.js';
import type { ApiRouter } from '../api-router.js';
import type { ReminderState } from '../../storage/schema.js';
import { reminderListSchema, reminderSchema } from '../api-schemas.js';
import { idParams } from './schemas.js';

const STATE_LIST = /^(?:waiting|due|done|cancelled)(?:,(?:waiting|due|done|cancelled)){0,3}$/;

export interface ReminderRouteDeps {
  db: Db;
  /** The clock (tests); default Date.now. */
  now?: () => number;
}

export function reminderRoutes(router: ApiRouter, deps: ReminderRouteDeps): void {
  const now = deps.now ?? Date.now;
  router.route({
    method: 'GET',
    path: '/api/reminders',
    summary: 'Your follow-up reminders, soonest due first (default: waiting and due)',
    tag: 'reminders',
    auth: 'user',
    query: z.object({
      state: z
        .string()
        .regex(STATE_LIST, 'waiting, due, done or cancelled, separated by commas')
        .optional()
        .describe('waiting, due, done, cancelled (several separated by commas)'),
      contactId: z.string().uuid().optional().describe("Only reminders of this contact's messages"),
    }),
    responses: { 200: { description: 'The reminders', schema: reminderListSchema } },
    handler: ({ user, query }) =>
      listReminders(deps.db, user, {
        now: now(),
        ...(query.state ? { state: query.state.split(',') as ReminderState[] } : {}),
        ...(query.contactId ? { contactId: query.contactId } : {}),
      }),
  });

  router.route({
    method: 'PATCH',
    path: '/api/reminders/:id',
    summary: 'Close one of your reminders: done (followed up) or cancelled',
    tag: 'reminders',
    auth: 'user',
    params: idParams,
    body: z.strictObject({ state: z.enum(['done', 'cancelled']) }),
    responses: { 200: { description: 'The reminder', schema: reminderSchema } },
    handler: ({ user, params, body }) => closeReminder(deps.db, user, params.id, body.state, now()),
  });
}
