// Booking pages (contract.md, Additions): the owner's CRUD under /api/booking-pages, and the public side — a
// page's title, its free slots, booking one, and the manage link (look, cancel, move). Public routes need no
// session and no CSRF token, answer only what a visitor may know (no event titles, attendees or busy times:
// free slots only), and are rate limited per client IP (429 RATE_LIMITED with Retry-After).
import { z } from 'zod';
import {
  bookSlot,
  cancelBooking,
  getManagedBooking,
  mailLocale,
  moveBooking,
  pageSlots,
  type BookingDeps,
} from '../../calendar/booking/book-slot.js';
import {
  createBookingPage,
  deleteBookingPage,
  listBookingPages,
  publicPage,
  updateBookingPage,
} from '../../calendar/booking/booking-pages.js';
import type { ApiRouter } from '../api-router.js';
import {
  bookingCreatedSchema,
  bookingPageListSchema,
  bookingPageSchema,
  bookingSlotsSchema,
  managedBookingSchema,
  publicBookingPageSchema,
} from '../api-schemas.js';
import { SlidingWindowLimiter, spendRequest } from '../sliding-window-limiter.js';
import { idParams } from './schemas.js';

const instant = z
  .string()
  .min(10)
  .max(40)
  .refine((s) => Number.isFinite(Date.parse(s)), 'not a date-time (ISO 8601, e.g. 2025-03-01T14:00:00Z)')
  .transform((s) => Date.parse(s));

const hhmm = z.string().max(5);
const pageBody = z.strictObject({
  slug: z.string().max(64),
  title: z.string().trim().min(1).max(200),
  durationMinutes: z
    .number()
    .int()
    .min(5)
    .max(480)
    .refine((n) => n % 5 === 0, 'a multiple of 5 minutes'),
  accountId: z.string().uuid(),
  timeZone: z.string().min(1).max(64),
  hours: z.record(z.string().max(1), z.array(z.tuple([hhmm, hhmm])).max(6)),
  bufferMinutes: z.number().int().min(0).max(240).optional(),
  minNoticeMinutes: z
    .number()
    .int()
    .min(0)
    .max(60 * 24 * 30)
    .optional(),
  horizonDays: z.number().int().min(1).max(365).optional(),
  team: z
    .strictObject({
      accountIds: z.array(z.string().uuid()).min(1).max(50),
      mode: z.enum(['round-robin', 'first-free']),
    })
    .nullable()
    .optional(),
  active: z.boolean().optional(),
});

const slugParams = z.strictObject({ slug: z.string().min(1).max(64) });
const tokenParams = z.strictObject({ token: z.string().min(20).max(100) });

export interface BookingLimits {
  /** Reads (page, slots, a manage link) per client IP and window. */
  reads: number;
  /** Bookings, cancellations and moves per client IP and window. */
  writes: number;
  windowMs: number;
}

export const DEFAULT_BOOKING_LIMITS: BookingLimits = { reads: 300, writes: 30, windowMs: 10 * 60_000 };

export interface BookingRouteDeps extends BookingDeps {
  limits?: BookingLimits;
}

export function bookingRoutes(router: ApiRouter, deps: BookingRouteDeps): void {
  const { db, publicUrl } = deps;
  const limits = deps.limits ?? DEFAULT_BOOKING_LIMITS;
  const reads = new SlidingWindowLimiter({ limit: limits.reads, windowMs: limits.windowMs, maxKeys: 50_000 });
  const writes = new SlidingWindowLimiter({ limit: limits.writes, windowMs: limits.windowMs, maxKeys: 50_000 });

  router.route({
    method: 'GET',
    path: '/api/booking-pages',
    summary: "The caller's booking pages",
    tag: 'booking',
    auth: 'user',
    responses: { 200: { description: 'Booking pages', schema: bookingPageListSchema } },
    handler: async ({ user }) => ({ items: await listBookingPages(db, publicUrl, user) }),
  });

  router.route({
    method: 'POST',
    path: '/api/booking-pages',
    summary:
      "Create a booking page on one of the caller's own mailboxes (a team page, over colleagues' accounts: administrators)",
    tag: 'booking',
    auth: 'user',
    status: 201,
    body: pageBody,
    responses: { 201: { description: 'Created; url = PUBLIC_URL/book/<slug>', schema: bookingPageSchema } },
    handler: ({ user, body }) => createBookingPage(db, publicUrl, user, body),
  });

  router.route({
    method: 'PATCH',
    path: '/api/booking-pages/:id',
    summary: 'Change a booking page',
    tag: 'booking',
    auth: 'user',
    params: idParams,
    body: pageBody.partial(),
    responses: { 200: { description: 'The page', schema: bookingPageSchema } },
    handler: ({ user, params, body }) => updateBookingPage(db, publicUrl, user, params.id, body),
  });

  router.route({
    method: 'DELETE',
    path: '/api/booking-pages/:id',
    summary: 'Remove a booking page (its bookings stay on the calendar)',
    tag: 'booking',
    auth: 'user',
    params: idParams,
    status: 204,
    responses: { 204: { description: 'Removed' } },
    handler: ({ user, params }) => deleteBookingPage(db, user, params.id),
  });

  router.route({
    method: 'GET',
    path: '/api/public/booking/:slug',
    summary: 'Public: a booking page (title, length, zone, owner name); 404 when unknown, off or its owner inactive',
    tag: 'booking',
    auth: 'public',
    params: slugParams,
    responses: { 200: { description: 'The page', schema: publicBookingPageSchema } },
    handler: async ({ params, request }) => {
      spendRequest(reads, request.ip);
      const page = await publicPage(db, params.slug);
      return {
        title: page.row.title,
        durationMinutes: page.row.duration_minutes,
        timeZone: page.row.time_zone,
        owner: { name: page.ownerName },
      };
    },
  });

  router.route({
    method: 'GET',
    path: '/api/public/booking/:slug/slots',
    summary: 'Public: free slots within [from, to) (at most 62 days; default the next 14 days)',
    tag: 'booking',
    auth: 'public',
    params: slugParams,
    query: z.strictObject({ from: instant.optional(), to: instant.optional() }),
    responses: { 200: { description: 'Free slots', schema: bookingSlotsSchema } },
    handler: async ({ params, query, request }) => {
      spendRequest(reads, request.ip);
      const from = query.from ?? Date.now();
      const to = query.to ?? from + 14 * 86_400_000;
      const slots = await pageSlots(db, params.slug, { start: from, end: to });
      return {
        slots: slots.map((s) => ({ start: new Date(s.start).toISOString(), end: new Date(s.end).toISOString() })),
      };
    },
  });

  router.route({
    method: 'POST',
    path: '/api/public/booking/:slug',
    summary:
      "Public: book a slot; written to the owner's calendar, invitation mailed; 409 SLOT_TAKEN, 422 SLOT_UNAVAILABLE",
    tag: 'booking',
    auth: 'public',
    status: 201,
    params: slugParams,
    body: z.strictObject({
      start: instant,
      name: z.string().trim().min(1).max(200),
      email: z.string().trim().min(3).max(320),
      note: z.string().max(2000).nullable().optional(),
    }),
    responses: { 201: { description: 'Booked', schema: bookingCreatedSchema } },
    handler: ({ params, body, request }) => {
      spendRequest(writes, request.ip);
      return bookSlot(deps, params.slug, { ...body, locale: mailLocale(request.headers['accept-language']) });
    },
  });

  router.route({
    method: 'GET',
    path: '/api/public/bookings/:token',
    summary: 'Public (manage link): the booking',
    tag: 'booking',
    auth: 'public',
    params: tokenParams,
    responses: { 200: { description: 'The booking', schema: managedBookingSchema } },
    handler: ({ params, request }) => {
      spendRequest(reads, request.ip);
      return getManagedBooking(db, params.token);
    },
  });

  router.route({
    method: 'POST',
    path: '/api/public/bookings/:token/cancel',
    summary: 'Public (manage link): cancel the booking; removed from the calendar, cancellation mailed',
    tag: 'booking',
    auth: 'public',
    params: tokenParams,
    responses: { 200: { description: 'Cancelled', schema: managedBookingSchema } },
    handler: ({ params, request }) => {
      spendRequest(writes, request.ip);
      return cancelBooking(deps, params.token);
    },
  });

  router.route({
    method: 'POST',
    path: '/api/public/bookings/:token/move',
    summary: 'Public (manage link): move the booking to another free slot; 409 SLOT_TAKEN, 422 SLOT_UNAVAILABLE',
    tag: 'booking',
    auth: 'public',
    params: tokenParams,
    body: z.strictObject({ start: instant }),
    responses: { 200: { description: 'Moved', schema: managedBookingSchema } },
    handler: ({ params, body, request }) => {
      spendRequest(writes, request.ip);
      return moveBooking(deps, params.token, body.start);
    },
  });
}
