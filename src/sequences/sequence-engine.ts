// The sequence engine: runs due steps and applies the stop rules. Any number of engines (processes) may share one
// database. A step is claimed by inserting its sequence_sends row (UNIQUE enrollment_id + step_index): the loser
// of a race gets a unique violation and leaves it. A claim carries a lease; a worker killed mid-step leaves a claim
// whose lease runs out and another worker takes it over with a compare-and-set on lease_until. The step's mail has
// a deterministic Message-ID (seq.<enrollment>.<step>@<mailbox domain>), so a worker killed after queueing but
// before recording is retried safely: the message is found stored and only recorded. The outbox (its own
// exactly-once machinery) sends it.
//
// Stop rules, every few seconds, over what arrived since a shared cursor (cheap at 10k enrollments: only new
// messages and bookings are read, and only enrollments of their senders are looked up):
//   - a message from an address of an enrolled contact dated after the enrolment → replied, unless it is an
//     auto-reply (auto-reply.ts) → held for autoReplyWaitDays, then it resumes;
//   - a step's message marked bounced by the sync (or the address flagged bounced since enrolment) → bounced, and
//     the address suppressed;
//   - a booking by the address on a booking page of the sequence's owner, after the enrolment → booked.
import { sql } from 'kysely';
import type { Logger } from '../core/logger.js';
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { SequenceEnrollmentsTable } from '../storage/schema.js';
import { WakeableSleep } from '../jobs/wakeable-sleep.js';
import { findUserById } from '../users/users.js';
import { dedupeKey } from '../mail/rules/message-key.js';
import type { ParsedMessage } from '../mail/mime/parse-message.js';
import { queueMessage, type SendInput } from '../mail/send/queue-message.js';
import { headerFields, isAutoReply } from './auto-reply.js';
import { nextAllowed, type MailboxLoad } from './send-window.js';
import { addressHash, MINUTE_MS, newUnsubscribeToken, stepsOf, windowOf } from './sequences.js';

const DAY_MS = 86_400_000;

export interface SequenceEngineDeps {
  db: Db;
  blobs: BlobStore;
  bccDomain: string;
  /** PUBLIC_URL: the unsubscribe links point there. */
  publicUrl: string;
  outbox: { kick(): void };
  parse?: (raw: Buffer) => Promise<ParsedMessage>;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The clock (tests move it); default Date.now. */
  now?: () => number;
  /** The longest sleep between two rounds of due steps (default 15 s). */
  intervalMs?: number;
  /** The stop sweep's period (default 5 s). */
  sweepIntervalMs?: number;
  /** How long a claim is held before another worker may take the step over (default 2 min). */
  leaseMs?: number;
  /** How long an auto-reply holds an enrollment (default 3 days). */
  autoReplyWaitDays?: number;
  /** Due steps taken per round (default 100). */
  batchSize?: number;
  /** Tests: stop between queueing a step's mail and recording it, as a killed worker would. */
  crashAfterQueue?: () => boolean;
}

export interface SequenceEngine {
  start(): void;
  stop(): Promise<void>;
  kick(): void;
  /** One round of due steps; returns how many steps were run. */
  runDue(): Promise<number>;
  /** One pass of the stop rules; returns how many enrollments it stopped or held. */
  sweep(): Promise<number>;
}

type Due = SequenceEnrollmentsTable & {
  owner_user_id: string;
  account_id: string;
  steps_json: string;
  send_window_json: string | null;
  daily_limit: number | null;
};

/** Messages looked at per sweep; the cursor moves on and the next sweep reads the rest. */
const SWEEP_PAGE = 5000;
/** Re-read this far behind the cursor: a transaction that committed late with an older created_at is not missed. */
const OVERLAP_MS = 60_000;

export function stepMessageId(enrollmentId: string, step: number, accountEmail: string): string {
  const at = accountEmail.lastIndexOf('@');
  const domain = at >= 0 ? accountEmail.slice(at + 1).toLowerCase() : 'conversa.invalid';
  return `seq.${enrollmentId}.${step}@${domain}`;
}

export function createSequenceEngine(deps: SequenceEngineDeps): SequenceEngine {
  const { db, log } = deps;
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? 15_000;
  const sweepIntervalMs = deps.sweepIntervalMs ?? 5_000;
  const leaseMs = deps.leaseMs ?? 120_000;
  const waitDays = deps.autoReplyWaitDays ?? 3;
  const batchSize = deps.batchSize ?? 100;
  const sleeper = new WakeableSleep();
  let stopped = true;
  let loop: Promise<void> | null = null;
  let lastSweep = 0;
  let idleRound = false;
  let lastDue = 0;

  const load = (accountId: string): MailboxLoad => ({
    async sentToday(start, end) {
      const row = await db
        .selectFrom('sequence_sends')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('account_id', '=', accountId)
        .where('created_at', '>=', start)
        .where('created_at', '<', end)
        .where('message_id', 'is not', null)
        .executeTakeFirst();
      // Claims in flight count too (below), so two workers do not both take the last send of the day.
      const inFlight = await db
        .selectFrom('sequence_sends')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('account_id', '=', accountId)
        .where('created_at', '>=', start)
        .where('created_at', '<', end)
        .where('state', '=', 'claimed')
        .executeTakeFirst();
      return Number(row?.n ?? 0) + Number(inFlight?.n ?? 0);
    },
    async lastSendAt() {
      const row = await db
        .selectFrom('sequence_sends')
        .select((eb) => eb.fn.max('created_at').as('at'))
        .where('account_id', '=', accountId)
        .where((eb) => eb.or([eb('message_id', 'is not', null), eb('state', '=', 'claimed')]))
        .executeTakeFirst();
      return row?.at == null ? null : Number(row.at);
    },
  });

  /** The claim of step `index` of `e`: its sequence_sends id when this worker holds it, else null. */
  async function claim(e: Due, index: number, at: number): Promise<string | null> {
    const id = newId(at);
    try {
      await db
        .insertInto('sequence_sends')
        .values({
          id,
          enrollment_id: e.id,
          sequence_id: e.sequence_id,
          account_id: e.account_id,
          step_index: index,
          message_id: null,
          task_id: null,
          state: 'claimed',
          lease_until: at + leaseMs,
          due_at: Math.max(Number(e.next_at ?? at), Number(e.waiting_until ?? 0)),
          created_at: at,
          sent_at: null,
        })
        .execute();
      return id;
    } catch (error) {
      const existing = await db
        .selectFrom('sequence_sends')
        .selectAll()
        .where('enrollment_id', '=', e.id)
        .where('step_index', '=', index)
        .executeTakeFirst();
      if (!existing) throw error;
      if (existing.state === 'done') {
        // Recorded by a worker that died before advancing the enrollment: advance it now.
        await advance(e, index, existing.message_id, at);
        return null;
      }
      if (Number(existing.lease_until ?? 0) > at) return null;
      // An expired claim: taken over by exactly one worker (compare-and-set on the lease).
      const taken = await db
        .updateTable('sequence_sends')
        .set({ lease_until: at + leaseMs })
        .where('id', '=', existing.id)
        .where('state', '=', 'claimed')
        .where('lease_until', '=', existing.lease_until)
        .executeTakeFirst();
      return Number(taken.numUpdatedRows) === 1 ? existing.id : null;
    }
  }

  /** Moves the enrollment past step `index` (only if it is still there: a stop or another worker wins). */
  async function advance(e: Due, index: number, messageId: string | null, at: number): Promise<void> {
    const steps = stepsOf(e);
    const next = steps[index + 1];
    await db
      .updateTable('sequence_enrollments')
      .set({
        step: index + 1,
        next_at: next ? at + next.waitMinutes * MINUTE_MS : null,
        ...(next ? {} : { state: 'finished' as const, stopped_at: at, stop_reason: 'finished' }),
        ...(index === 0 && messageId ? { thread_message_id: messageId } : {}),
        updated_at: at,
      })
      .where('id', '=', e.id)
      .where('step', '=', index)
      .where('state', '=', 'active')
      .execute();
  }

  async function record(e: Due, claimId: string, index: number, ids: { message?: string; task?: string }, at: number) {
    await db
      .updateTable('sequence_sends')
      .set({
        state: 'done',
        message_id: ids.message ?? null,
        task_id: ids.task ?? null,
        sent_at: at,
        lease_until: null,
      })
      .where('id', '=', claimId)
      .execute();
    await advance(e, index, ids.message ?? null, at);
  }

  async function sendEmail(e: Due, index: number): Promise<string> {
    const step = stepsOf(e)[index]!;
    const user = await findUserById(db, e.owner_user_id);
    if (!user) throw new AppError('NOT_FOUND', 'The owner of the sequence is gone');
    const account = await db
      .selectFrom('email_accounts')
      .select('email')
      .where('id', '=', e.account_id)
      .executeTakeFirstOrThrow();
    const messageId = stepMessageId(e.id, index, account.email);
    const stored = async () =>
      db
        .selectFrom('messages')
        .select('id')
        .where('org_id', '=', e.org_id)
        .where('dedupe_key', '=', dedupeKey({ messageId, date: null, from: null, to: [], subject: null }))
        .executeTakeFirst();
    const already = await stored();
    if (already) return already.id;
    const { token, hash } = newUnsubscribeToken();
    await db
      .insertInto('sequence_unsubscribe_tokens')
      .values({ token_hash: hash, enrollment_id: e.id, created_at: now() })
      .execute();
    const url = `${deps.publicUrl.replace(/\/+$/, '')}/u/${token}`;
    const inThread = step.replyInThread && e.thread_message_id ? e.thread_message_id : undefined;
    const input: SendInput = {
      accountId: e.account_id,
      to: [e.address],
      contactId: e.contact_id,
      ...(step.templateId ? { templateId: step.templateId } : {}),
      ...(step.subject !== undefined ? { subject: step.subject } : {}),
      ...(step.html !== undefined ? { html: step.html } : {}),
      ...(inThread ? { inReplyTo: inThread } : {}),
      ...(step.track ? { track: { opens: true, clicks: true } } : {}),
      messageId,
      headers: {
        'List-Unsubscribe': `<${url}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
    };
    const queueDeps = {
      db,
      blobs: deps.blobs,
      bccDomain: deps.bccDomain,
      outbox: deps.outbox,
      publicUrl: deps.publicUrl,
      ...(deps.parse ? { parse: deps.parse } : {}),
    };
    try {
      return (await queueMessage(queueDeps, user, input)).id;
    } catch (error) {
      if (error instanceof AppError && error.code === 'TRACKING_OFF') {
        // The owner turned tracking off since: the step goes untracked rather than not at all.
        const { track: _track, ...untracked } = input;
        return (await queueMessage(queueDeps, user, untracked)).id;
      }
      if (error instanceof AppError && error.code === 'CONFLICT') {
        const found = await stored();
        if (found) return found.id;
      }
      throw error;
    }
  }

  async function runOne(e: Due, at: number): Promise<boolean> {
    const steps = stepsOf(e);
    const index = e.step;
    const step = steps[index];
    if (!step) {
      await db
        .updateTable('sequence_enrollments')
        .set({ state: 'finished', stopped_at: at, stop_reason: 'finished', next_at: null, updated_at: at })
        .where('id', '=', e.id)
        .where('state', '=', 'active')
        .execute();
      return false;
    }
    if (step.type === 'email') {
      const allowed = await nextAllowed(windowOf(e), e.daily_limit, at, load(e.account_id));
      if (allowed > at) {
        await db
          .updateTable('sequence_enrollments')
          .set({ next_at: allowed, updated_at: at })
          .where('id', '=', e.id)
          .where('step', '=', index)
          .where('state', '=', 'active')
          .execute();
        return false;
      }
    }
    const claimId = await claim(e, index, at);
    if (!claimId) return false;
    try {
      if (step.type === 'task') {
        const taskId = newId(at);
        await db
          .insertInto('tasks')
          .values({
            id: taskId,
            org_id: e.org_id,
            user_id: e.owner_user_id,
            contact_id: e.contact_id,
            title: step.subject ?? 'Follow up',
            due_at: at,
            done_at: null,
            created_at: at,
          })
          .execute();
        await record(e, claimId, index, { task: taskId }, at);
        return true;
      }
      const messageId = await sendEmail(e, index);
      if (deps.crashAfterQueue?.()) return true;
      await record(e, claimId, index, { message: messageId }, now());
      return true;
    } catch (error) {
      await db.deleteFrom('sequence_sends').where('id', '=', claimId).where('state', '=', 'claimed').execute();
      if (error instanceof AppError && error.code === 'MERGE_FIELD_MISSING') {
        // Never "Hi ,": the enrollment is held until the owner fills the field and resumes the sequence.
        await db
          .updateTable('sequence_enrollments')
          .set({ state: 'paused', stop_reason: 'merge-field-missing', updated_at: at })
          .where('id', '=', e.id)
          .where('state', '=', 'active')
          .execute();
        return false;
      }
      log.warn({ err: error, enrollmentId: e.id, step: index }, 'sequence step failed; retried in 5 minutes');
      await db
        .updateTable('sequence_enrollments')
        .set({ next_at: at + 5 * MINUTE_MS, updated_at: at })
        .where('id', '=', e.id)
        .where('step', '=', index)
        .execute();
      return false;
    }
  }

  async function runDue(): Promise<number> {
    const at = now();
    const due = (await db
      .selectFrom('sequence_enrollments')
      .innerJoin('sequences', 'sequences.id', 'sequence_enrollments.sequence_id')
      .selectAll('sequence_enrollments')
      .select([
        'sequences.owner_user_id',
        'sequences.account_id',
        'sequences.steps_json',
        'sequences.send_window_json',
        'sequences.daily_limit',
      ])
      .where('sequence_enrollments.state', '=', 'active')
      .where('sequences.paused', '=', 0)
      .where('sequence_enrollments.next_at', '<=', at)
      .where((eb) =>
        eb.or([
          eb('sequence_enrollments.waiting_until', 'is', null),
          eb('sequence_enrollments.waiting_until', '<=', at),
        ]),
      )
      .orderBy('sequence_enrollments.next_at')
      .limit(batchSize)
      .execute()) as Due[];
    lastDue = due.length;
    let ran = 0;
    for (const e of due) {
      if (stopped && loop) break;
      if (await runOne(e, now())) ran++;
    }
    return ran;
  }

  async function cursor(name: string, fallback: number): Promise<number> {
    const row = await db.selectFrom('sequence_cursors').select('at').where('name', '=', name).executeTakeFirst();
    if (row) return Number(row.at);
    await db
      .insertInto('sequence_cursors')
      .values({ name, at: fallback })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    return fallback;
  }

  async function moveCursor(name: string, at: number): Promise<void> {
    // Forward only: two sweeping processes never move it back.
    await db.updateTable('sequence_cursors').set({ at }).where('name', '=', name).where('at', '<', at).execute();
  }

  async function stopEnrollments(ids: string[], state: 'replied' | 'bounced' | 'booked', at: number) {
    if (ids.length === 0) return 0;
    const result = await db
      .updateTable('sequence_enrollments')
      .set({ state, stopped_at: at, stop_reason: state, next_at: null, updated_at: at })
      .where('id', 'in', ids)
      .where('state', 'in', ['active', 'paused'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async function sweepReplies(at: number): Promise<number> {
    const from = await cursor('messages', at - OVERLAP_MS);
    const rows = await db
      .selectFrom('messages')
      .select(['id', 'org_id', 'from_address', 'subject', 'date', 'created_at', 'raw_blob_sha256'])
      .where('created_at', '>', from - OVERLAP_MS)
      .where('from_address', 'is not', null)
      .orderBy('created_at')
      .limit(SWEEP_PAGE)
      .execute();
    if (rows.length === 0) return 0;
    const addresses = [...new Set(rows.map((r) => r.from_address!.toLowerCase()))];
    const orgs = [...new Set(rows.map((r) => r.org_id))];
    let changed = 0;
    for (let i = 0; i < addresses.length; i += 500) {
      const slice = addresses.slice(i, i + 500);
      const hits = await db
        .selectFrom('contact_addresses')
        .innerJoin('sequence_enrollments', 'sequence_enrollments.contact_id', 'contact_addresses.contact_id')
        .select([
          'contact_addresses.address as from',
          'sequence_enrollments.id',
          'sequence_enrollments.org_id',
          'sequence_enrollments.enrolled_at',
          'sequence_enrollments.last_auto_reply_id',
        ])
        // With the organisation named, the (org_id, address) index finds them.
        .where('contact_addresses.org_id', 'in', orgs)
        .where('contact_addresses.address', 'in', slice)
        .where('sequence_enrollments.state', 'in', ['active', 'paused'])
        .execute();
      for (const hit of hits) {
        const messages = rows.filter(
          (m) =>
            m.org_id === hit.org_id &&
            m.from_address!.toLowerCase() === hit.from &&
            Number(m.date) >= Number(hit.enrolled_at) - 1000,
        );
        for (const m of messages) {
          let headers = new Map<string, string[]>();
          if (m.raw_blob_sha256) {
            try {
              headers = headerFields(await deps.blobs.get(m.raw_blob_sha256));
            } catch {
              // A missing blob: judged on its subject alone.
            }
          }
          if (isAutoReply(headers, m.subject)) {
            if (hit.last_auto_reply_id === m.id) continue;
            const held = await db
              .updateTable('sequence_enrollments')
              .set({ waiting_until: at + waitDays * DAY_MS, last_auto_reply_id: m.id, updated_at: at })
              .where('id', '=', hit.id)
              .where('state', 'in', ['active', 'paused'])
              .where((eb) => eb.or([eb('last_auto_reply_id', 'is', null), eb('last_auto_reply_id', '!=', m.id)]))
              .executeTakeFirst();
            changed += Number(held.numUpdatedRows);
            hit.last_auto_reply_id = m.id;
          } else {
            changed += await stopEnrollments([hit.id], 'replied', at);
            break;
          }
        }
      }
    }
    const last = rows.reduce((max, r) => Math.max(max, Number(r.created_at)), from);
    // A full page moves the cursor past the overlap so a burst larger than a page is read through.
    await moveCursor('messages', rows.length === SWEEP_PAGE ? last + OVERLAP_MS : last);
    return changed;
  }

  async function sweepBounces(at: number): Promise<number> {
    const bounced = await db
      .selectFrom('sequence_enrollments')
      .innerJoin('sequence_sends', 'sequence_sends.enrollment_id', 'sequence_enrollments.id')
      .innerJoin('messages', 'messages.id', 'sequence_sends.message_id')
      .select(['sequence_enrollments.id', 'sequence_enrollments.org_id', 'sequence_enrollments.address'])
      .where('sequence_enrollments.state', 'in', ['active', 'paused'])
      .where('messages.bounced', '=', 1)
      .execute();
    const flagged = await db
      .selectFrom('sequence_enrollments')
      .innerJoin('contact_addresses', (j) =>
        j
          .onRef('contact_addresses.org_id', '=', 'sequence_enrollments.org_id')
          .onRef('contact_addresses.address', '=', 'sequence_enrollments.address'),
      )
      .select(['sequence_enrollments.id', 'sequence_enrollments.org_id', 'sequence_enrollments.address'])
      .where('sequence_enrollments.state', 'in', ['active', 'paused'])
      .where('contact_addresses.bounced_at', 'is not', null)
      .whereRef('contact_addresses.bounced_at', '>=', 'sequence_enrollments.enrolled_at')
      .execute();
    const all = [...bounced, ...flagged];
    for (const b of all) {
      await db
        .insertInto('suppressions')
        .values({ org_id: b.org_id, address_hash: addressHash(b.address), reason: 'bounced', created_at: at })
        .onConflict((oc) => oc.columns(['org_id', 'address_hash']).doNothing())
        .execute();
    }
    return stopEnrollments([...new Set(all.map((b) => b.id))], 'bounced', at);
  }

  async function sweepBookings(at: number): Promise<number> {
    const from = await cursor('bookings', at - OVERLAP_MS);
    const rows = await db
      .selectFrom('bookings')
      .innerJoin('booking_pages', 'booking_pages.id', 'bookings.page_id')
      .select(['bookings.invitee_email', 'bookings.created_at', 'booking_pages.owner_user_id', 'booking_pages.org_id'])
      .where('bookings.created_at', '>', from - OVERLAP_MS)
      .orderBy('bookings.created_at')
      .limit(SWEEP_PAGE)
      .execute();
    let changed = 0;
    for (const b of rows) {
      const hits = await db
        .selectFrom('sequence_enrollments')
        .innerJoin('sequences', 'sequences.id', 'sequence_enrollments.sequence_id')
        .select('sequence_enrollments.id')
        .where('sequence_enrollments.org_id', '=', b.org_id)
        .where('sequence_enrollments.address', '=', b.invitee_email.trim().toLowerCase())
        .where('sequences.owner_user_id', '=', b.owner_user_id)
        .where('sequence_enrollments.enrolled_at', '<=', Number(b.created_at))
        .where('sequence_enrollments.state', 'in', ['active', 'paused'])
        .execute();
      changed += await stopEnrollments(
        hits.map((h) => h.id),
        'booked',
        at,
      );
    }
    if (rows.length > 0)
      await moveCursor(
        'bookings',
        rows.reduce((max, r) => Math.max(max, Number(r.created_at)), from),
      );
    return changed;
  }

  async function sweep(): Promise<number> {
    const at = now();
    lastSweep = at;
    return (await sweepReplies(at)) + (await sweepBounces(at)) + (await sweepBookings(at));
  }

  /** How long to sleep: until the nearest due step, at most the sweep period and the interval. */
  async function sleepMs(): Promise<number> {
    // The time a step can really run: its next_at, or the end of an auto-reply's hold; steps of paused sequences
    // are left out (else a paused sequence with past-due steps would wake the loop at once, round after round).
    const row = await db
      .selectFrom('sequence_enrollments')
      .innerJoin('sequences', 'sequences.id', 'sequence_enrollments.sequence_id')
      .select(
        sql<
          number | null
        >`min(case when sequence_enrollments.waiting_until > sequence_enrollments.next_at then sequence_enrollments.waiting_until else sequence_enrollments.next_at end)`.as(
          'at',
        ),
      )
      .where('sequence_enrollments.state', '=', 'active')
      .where('sequences.paused', '=', 0)
      .executeTakeFirst();
    const cap = Math.min(intervalMs, sweepIntervalMs);
    if (row?.at == null) return cap;
    // Past-due steps that this round could not take (another worker's claim, a lease still running) are looked at
    // again in a second, not in a tight loop.
    return Math.max(idleRound ? 1000 : 50, Math.min(cap, Number(row.at) - now()));
  }

  async function run(): Promise<void> {
    while (!stopped) {
      try {
        if (now() - lastSweep >= sweepIntervalMs) await sweep();
        // Rounds follow each other while full batches come back.
        let ran: number;
        do ran = await runDue();
        while (!stopped && ran >= batchSize);
        // Due steps were there but none could be taken (held by another worker's claim, deferred).
        idleRound = ran === 0 && lastDue > 0;
      } catch (err) {
        log.error({ err }, 'sequence engine round failed');
      }
      if (stopped) break;
      await sleeper.sleep(await sleepMs().catch(() => intervalMs));
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      loop = run();
    },
    async stop() {
      stopped = true;
      sleeper.interrupt();
      await loop;
      loop = null;
    },
    kick() {
      sleeper.wake();
    },
    runDue,
    sweep,
  };
}
