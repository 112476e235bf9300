// Send later (issue 15): the caller's scheduled messages, moving one to another time, and cancelling one
// (DELETE /api/messages/:id, contract.md). Only the sender may; 409 SEND_STARTED once a worker took the message.
// Editing a scheduled message's content is a cancel and a new send.
import { z } from 'zod';
import type { Db } from '../../storage/database.js';
import { cancelScheduled, listScheduled, rescheduleMessage } from '../../mail/send/scheduled-messages.js';
import type { ApiRouter } from '../api-router.js';
import { rescheduledSchema, scheduledListSchema } from '../api-schemas.js';
import { idParams } from './schemas.js';

export interface ScheduleRouteDeps {
  db: Db;
  /** The outbox worker, told when a time changed (it sleeps until the nearest one). */
  outbox: { kick(): void };
  now?: () => number;
}

export function scheduleRoutes(router: ApiRouter, deps: ScheduleRouteDeps): void {
  const now = deps.now ?? Date.now;
  router.route({
    method: 'GET',
    path: '/api/messages/scheduled',
    summary: 'Your messages waiting for their time to be sent, soonest first',
    tag: 'messages',
    auth: 'user',
    responses: { 200: { description: 'The scheduled messages', schema: scheduledListSchema } },
    handler: ({ user }) => listScheduled(deps.db, user),
  });

  router.route({
    method: 'DELETE',
    path: '/api/messages/:id',
    summary:
      'Cancel a scheduled message before it is sent: it is removed from the CRM; 409 SEND_STARTED once sending began',
    tag: 'messages',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Cancelled and removed' } },
    handler: async ({ user, params }) => {
      await cancelScheduled(deps.db, user, params.id);
    },
  });

  router.route({
    method: 'PATCH',
    path: '/api/messages/:id/schedule',
    summary: 'Move a scheduled message to another time; 409 SEND_STARTED once sending began',
    tag: 'messages',
    auth: 'user',
    params: idParams,
    body: z.strictObject({
      sendAt: z
        .string()
        .datetime({ offset: true, message: 'not an ISO 8601 instant' })
        .describe('In the future, at most a year ahead'),
    }),
    responses: { 200: { description: 'Rescheduled', schema: rescheduledSchema } },
    handler: async ({ user, params, body }) => {
      const answer = await rescheduleMessage(deps.db, user, params.id, body.sendAt, now());
      deps.outbox.kick();
      return answer;
    },
  });
}
