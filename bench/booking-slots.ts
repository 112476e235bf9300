// Booking slots: how long one month of free slots takes to compute for a busy calendar — 500 events in the month
// (a third of them occurrences of weekly series, as stored after expansion; some all-day, some transparent, some
// declined, each with attendees) — through the same call the public slots route makes (pageSlots: the busy query
// and the slot arithmetic). SQLite always; PostgreSQL too with --postgres (TEST_POSTGRES_URL or the local default).
//
//   npx tsx bench/booking-slots.ts [--postgres] [--runs 50]
import { performance } from 'node:perf_hooks';
import { pageSlots } from '../src/calendar/booking/book-slot.js';
import { createBookingPage } from '../src/calendar/booking/booking-pages.js';
import { newId } from '../src/storage/ids.js';
import { createUser, findUserById } from '../src/users/users.js';
import { createTestDatabase, type Dialect } from '../test/support/databases.js';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] || 50) || 50;
const dialects: Dialect[] = args.includes('--postgres') ? ['sqlite', 'postgres'] : ['sqlite'];
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const EVENTS = 500;

/** A small seeded generator: the same calendar every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

async function run(dialect: Dialect): Promise<void> {
  const database = await createTestDatabase(dialect);
  const db = database.storage.db;
  try {
    const created = await createUser(db, {
      email: 'bench-owner@example.test',
      password: 'bench password',
      isAdmin: true,
      displayName: 'Bench Owner',
    });
    const user = (await findUserById(db, created.id))!;
    const now = Date.now();
    const accountId = newId(now);
    await db
      .insertInto('email_accounts')
      .values({
        id: accountId,
        org_id: user.orgId,
        user_id: user.id,
        email: 'owner@example.test',
        provider: 'other',
        auth_kind: 'password',
        sync_mode: 'two-way',
        status: 'active',
        status_detail: null,
        next_retry_at: null,
        last_synced_at: null,
        history_days: 90,
        imap_host: '127.0.0.1',
        imap_port: 143,
        imap_secure: 0,
        smtp_host: '127.0.0.1',
        smtp_port: 587,
        smtp_secure: 0,
        username: 'owner@example.test',
        credentials_enc: 'x',
        smtp_mode: 'mailbox',
        smtp_custom_enc: null,
        caldav_url: null,
        bcc_token: newId(now),
        visibility: 'shared',
        generation: 1,
        progress_json: null,
        sync_requested_at: null,
        created_at: now,
        updated_at: now,
      } as never)
      .execute();
    const start = Math.floor(now / DAY) * DAY + DAY;
    const rnd = random(42);
    const meetings = [];
    const attendees = [];
    for (let i = 0; i < EVENTS; i++) {
      const dayOffset = Math.floor(rnd() * 30);
      const hour = 7 + Math.floor(rnd() * 11);
      const allDay = i % 50 === 0;
      const s = allDay
        ? start + dayOffset * DAY
        : start + dayOffset * DAY + hour * HOUR + (rnd() < 0.5 ? 0 : 30 * 60_000);
      const e = allDay ? s + DAY : s + (rnd() < 0.7 ? HOUR / 2 : HOUR);
      const id = newId(now);
      meetings.push({
        id,
        org_id: user.orgId,
        account_id: accountId,
        calendar_id: null,
        uid: i % 3 === 0 ? `series-${i % 30}` : `ev-${i}`,
        recurrence_id: i % 3 === 0 ? new Date(s).toISOString() : '',
        href: null,
        etag: null,
        title: `Event ${i}`,
        description: null,
        location: null,
        start_at: s,
        end_at: e,
        all_day: allDay ? 1 : 0,
        status: i % 40 === 0 ? 'cancelled' : 'confirmed',
        organizer_address: 'owner@example.test',
        organizer_name: null,
        raw_ics: null,
        deleted_at: null,
        transparent: i % 25 === 0 ? 1 : 0,
        created_at: now,
        updated_at: now,
      });
      for (let a = 0; a < 3; a++)
        attendees.push({
          id: newId(now),
          meeting_id: id,
          address: a === 0 ? 'owner@example.test' : `guest${i}-${a}@client.test`,
          name: null,
          status: a === 0 && i % 20 === 0 ? 'declined' : 'accepted',
          role: null,
          kind: 'individual',
        });
    }
    for (let i = 0; i < meetings.length; i += 100)
      await db
        .insertInto('meetings')
        .values(meetings.slice(i, i + 100))
        .execute();
    for (let i = 0; i < attendees.length; i += 100)
      await db
        .insertInto('meeting_attendees')
        .values(attendees.slice(i, i + 100))
        .execute();
    const hours = Object.fromEntries(
      ['1', '2', '3', '4', '5'].map((d) => [
        d,
        [
          ['08:00', '12:00'],
          ['13:00', '18:00'],
        ] as Array<[string, string]>,
      ]),
    );
    await createBookingPage(db, 'http://localhost', user, {
      slug: 'bench-page',
      title: 'Bench',
      durationMinutes: 30,
      accountId,
      timeZone: 'America/Sao_Paulo',
      hours,
      bufferMinutes: 10,
      minNoticeMinutes: 60,
      horizonDays: 60,
    });
    const range = { start, end: start + 30 * DAY };
    let slots = 0;
    for (let i = 0; i < 5; i++) slots = (await pageSlots(db, 'bench-page', range, now)).length; // warm-up
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await pageSlots(db, 'bench-page', range, now);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const pick = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    console.log(
      `${dialect}: ${EVENTS} events in 30 days → ${slots} free slots; one month of slots: median ${pick(0.5).toFixed(1)} ms, p95 ${pick(0.95).toFixed(1)} ms, max ${times[times.length - 1]!.toFixed(1)} ms (${runs} runs)`,
    );
  } finally {
    await database.destroy();
  }
}

for (const dialect of dialects) await run(dialect);
