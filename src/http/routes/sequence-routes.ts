// Sequences (issue 17): the owner's sequences, enrolment, what became of each enrollment, a contact's
// enrollments, and the public unsubscribe page (GET /u/:token) with its one-click POST (RFC 8058).
// The unsubscribe routes need no login and no CSRF token — mail providers POST `List-Unsubscribe=One-Click` from
// their servers, with no cookie and no Origin, which check-origin.ts lets through — are rate limited per client
// IP, and reveal nothing: the page names no one, an unknown token gets the same page and the same answer, and GET
// never unsubscribes (link scanners follow GETs).
import { z } from 'zod';
import type { Db } from '../../storage/database.js';
import {
  contactEnrollments,
  createSequence,
  enrollContacts,
  getSequence,
  listEnrollments,
  listSequences,
  MAX_ENROLL_PER_REQUEST,
  MAX_STEPS,
  unsubscribe,
  updateSequence,
} from '../../sequences/sequences.js';
import { unsubscribePage } from '../../sequences/unsubscribe-page.js';
import type { ApiRouter } from '../api-router.js';
import {
  contactEnrollmentListSchema,
  enrollmentListSchema,
  enrollResultSchema,
  sequenceListSchema,
  sequenceSchema,
} from '../api-schemas.js';
import { SlidingWindowLimiter, spendRequest } from '../sliding-window-limiter.js';
import { idParams } from './schemas.js';

/** Requests to /u/<token> per client IP per minute. */
export const UNSUBSCRIBE_REQUESTS_PER_IP = 30;

const HHMM = /^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/;

const stepBody = z.strictObject({
  type: z.enum(['email', 'task']),
  waitMinutes: z
    .number()
    .int()
    .min(0)
    .max(365 * 24 * 60),
  templateId: z.string().uuid().optional(),
  subject: z.string().max(998).optional(),
  html: z
    .string()
    .max(512 * 1024)
    .optional(),
  replyInThread: z.boolean().optional(),
  track: z.boolean().optional(),
});
const windowBody = z.strictObject({
  timeZone: z.string().min(1).max(100),
  days: z.array(z.number().int().min(1).max(7)).min(1).max(7),
  from: z.string().regex(HHMM, 'HH:MM'),
  to: z.string().regex(HHMM, 'HH:MM'),
});
const sequenceBody = z.strictObject({
  name: z.string().trim().min(1).max(200),
  accountId: z.string().uuid(),
  steps: z.array(stepBody).min(1).max(MAX_STEPS),
  sendWindow: windowBody.nullable().optional(),
  dailyLimit: z.number().int().min(1).max(10_000).nullable().optional(),
  paused: z.boolean().optional(),
});

export interface SequenceRouteDeps {
  db: Db;
  /** Wakes this process's sequence engine (new enrollments, a resume). */
  kick?: () => void;
  now?: () => number;
  limiter?: SlidingWindowLimiter;
}

export function sequenceRoutes(router: ApiRouter, deps: SequenceRouteDeps): void {
  const { db } = deps;
  const now = deps.now ?? Date.now;
  const kick = () => deps.kick?.();
  const limiter =
    deps.limiter ?? new SlidingWindowLimiter({ limit: UNSUBSCRIBE_REQUESTS_PER_IP, windowMs: 60_000, maxKeys: 10_000 });
  const throttle = (ip: string) => spendRequest(limiter, ip);

  router.route({
    method: 'GET',
    path: '/api/sequences',
    summary: 'Your sequences, newest first, with their numbers',
    tag: 'sequences',
    auth: 'user',
    responses: { 200: { description: 'The sequences', schema: sequenceListSchema } },
    handler: ({ user }) => listSequences(db, user),
  });

  router.route({
    method: 'POST',
    path: '/api/sequences',
    summary: 'Create a sequence sending from one of your mailboxes',
    tag: 'sequences',
    auth: 'user',
    body: sequenceBody,
    status: 201,
    responses: { 201: { description: 'The sequence', schema: sequenceSchema } },
    handler: ({ user, body }) => createSequence(db, user, body, now()),
  });

  router.route({
    method: 'GET',
    path: '/api/sequences/:id',
    summary: 'One of your sequences with its numbers per step',
    tag: 'sequences',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The sequence', schema: sequenceSchema } },
    handler: ({ user, params }) => getSequence(db, user, params.id),
  });

  router.route({
    method: 'PATCH',
    path: '/api/sequences/:id',
    summary: 'Change a sequence; paused: true holds every enrollment, false resumes them',
    tag: 'sequences',
    auth: 'user',
    params: idParams,
    body: sequenceBody.partial(),
    responses: { 200: { description: 'The sequence', schema: sequenceSchema } },
    handler: async ({ user, params, body }) => {
      const result = await updateSequence(db, user, params.id, body, now());
      kick();
      return result;
    },
  });

  router.route({
    method: 'POST',
    path: '/api/sequences/:id/enrollments',
    summary: 'Enroll contacts; those skipped say why',
    tag: 'sequences',
    auth: 'user',
    params: idParams,
    body: z.strictObject({ contactIds: z.array(z.string().uuid()).min(1).max(MAX_ENROLL_PER_REQUEST) }),
    responses: { 200: { description: 'How many were enrolled, and who was skipped', schema: enrollResultSchema } },
    handler: async ({ user, params, body }) => {
      const result = await enrollContacts(db, user, params.id, body.contactIds, now());
      if (result.enrolled > 0) kick();
      return result;
    },
  });

  router.route({
    method: 'GET',
    path: '/api/sequences/:id/enrollments',
    summary: "The sequence's enrollments: state, next step and when",
    tag: 'sequences',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The enrollments', schema: enrollmentListSchema } },
    handler: ({ user, params }) => listEnrollments(db, user, params.id),
  });

  router.route({
    method: 'GET',
    path: '/api/contacts/:id/enrollments',
    summary: "The contact's enrollments in your sequences, each step with when it ran",
    tag: 'sequences',
    auth: 'user',
    params: idParams,
    responses: { 200: { description: 'The enrollments', schema: contactEnrollmentListSchema } },
    handler: ({ user, params }) => contactEnrollments(db, user, params.id),
  });

  const tokenParams = z.object({ token: z.string().max(200) });
  router.route({
    method: 'GET',
    path: '/u/:token',
    summary: 'Unsubscribe page (en, pt-BR): a button that POSTs; nothing changes on GET',
    tag: 'sequences',
    auth: 'public',
    params: tokenParams,
    responses: { 200: { description: 'The page', contentType: 'text/html', schema: z.string() } },
    handler: ({ request, reply }) => {
      throttle(request.ip);
      return sendPage(reply, unsubscribePage(request.headers['accept-language'], 'ask'));
    },
  });

  router.route({
    method: 'POST',
    path: '/u/:token',
    summary: 'One-click unsubscribe (RFC 8058: body List-Unsubscribe=One-Click), also the page’s button',
    tag: 'sequences',
    auth: 'public',
    params: tokenParams,
    rawBody: {
      contentType: 'application/x-www-form-urlencoded',
      description: 'List-Unsubscribe=One-Click (multipart/form-data is accepted too)',
    },
    bodyLimit: 4096,
    responses: {
      200: { description: 'Done (the same answer for any token)', contentType: 'text/html', schema: z.string() },
    },
    handler: async ({ params, request, reply }) => {
      throttle(request.ip);
      // Any body is taken as the one click: providers differ in how they encode it; the token is what matters.
      await unsubscribe(db, params.token, now());
      return sendPage(reply, unsubscribePage(request.headers['accept-language'], 'done'));
    },
  });
}

function sendPage(reply: import('fastify').FastifyReply, html: string) {
  return reply
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('x-robots-tag', 'noindex')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    .send(html);
}
