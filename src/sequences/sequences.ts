// Sequences (issue 17): their definition, enrolment and what became of them. A sequence belongs to its owner
// (the user who made it) and sends from one of the owner's own mailboxes; nobody else sees or changes it (404),
// administrators included — it is the owner's outreach, like the owner's private mail.
//
// Enrolment rules (a contact skipped says why):
//   not-found          not a contact of the caller's organisation (another org's contact looks the same as none)
//   no-address         the contact has no e-mail address
//   unsubscribed       an address of the contact unsubscribed from any sequence of the organisation (suppressed)
//   bounced            every address of the contact bounced before (flagged by the sync) or is suppressed as bounced
//   already-enrolled   the contact was ever enrolled in this sequence (whatever became of it: no second round)
//   in-other-sequence  the contact is active (or held) in another, not paused, sequence of ANY user of the org:
//                      one sequence at a time per contact, so two colleagues never mail the same person at once
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import type { EnrollmentState, SequencesTable } from '../storage/schema.js';
import type { Actor } from '../access/access-policy.js';
import { mailboxFor } from '../access/access-policy.js';
import { assertKnownMergeFields } from '../templates/merge-fields.js';
import { getTemplate } from '../templates/templates.js';
import { assertContactInOrg } from '../contacts/contacts.js';
import type { SendWindow } from './send-window.js';
import { isTimeZone, minutesOf } from './send-window.js';

export const MAX_STEPS = 20;
export const MAX_ENROLL_PER_REQUEST = 1000;
export const MINUTE_MS = 60_000;

export interface SequenceStep {
  type: 'email' | 'task';
  waitMinutes: number;
  templateId?: string | undefined;
  subject?: string | undefined;
  html?: string | undefined;
  replyInThread?: boolean | undefined;
  /** Extension: ask for open/click tracking of this step's mail (needs the owner's tracking setting). */
  track?: boolean | undefined;
}

export interface SequenceInput {
  name: string;
  accountId: string;
  steps: SequenceStep[];
  sendWindow?: SendWindow | null | undefined;
  dailyLimit?: number | null | undefined;
  paused?: boolean | undefined;
}

export interface Counts {
  sent: number;
  replied: number;
  bounced: number;
  unsubscribed: number;
  booked: number;
  opened: number;
  clicked: number;
  automatedOpens: number;
  replyRate: number;
}

export interface SequenceView {
  id: string;
  name: string;
  accountId: string;
  steps: SequenceStep[];
  sendWindow?: SendWindow;
  dailyLimit?: number;
  paused: boolean;
  createdAt: string;
  updatedAt: string;
  enrolled: number;
  active: number;
  stats: Counts;
  stepStats: Array<Counts & { index: number }>;
}

export type SkipReason =
  'not-found' | 'no-address' | 'unsubscribed' | 'bounced' | 'already-enrolled' | 'in-other-sequence';

/** sha256 (hex) of the lower-cased address: what suppressions keep. */
export function addressHash(address: string): string {
  return createHash('sha256').update(address.trim().toLowerCase(), 'utf8').digest('hex');
}

/** A fresh unsubscribe token (128 random bits, base64url) and the hash stored for it. */
export function newUnsubscribeToken(): { token: string; hash: string } {
  const token = randomBytes(16).toString('base64url');
  return { token, hash: tokenHash(token) };
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function parseSteps(json: string): SequenceStep[] {
  return JSON.parse(json) as SequenceStep[];
}

export function stepsOf(row: Pick<SequencesTable, 'steps_json'>): SequenceStep[] {
  return parseSteps(row.steps_json);
}

export function windowOf(row: Pick<SequencesTable, 'send_window_json'>): SendWindow | null {
  return row.send_window_json ? (JSON.parse(row.send_window_json) as SendWindow) : null;
}

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `Invalid request body: ${path}: ${message}`, {
    fields: [{ path, message }],
  });
}

/** Checks what the zod schema cannot: templates readable, merge fields known, a valid window. */
async function checkInput(db: Db, actor: Actor, input: Partial<SequenceInput>): Promise<void> {
  if (input.accountId !== undefined) {
    await mailboxFor(db, actor, input.accountId, 'use').catch(() => {
      throw new AppError('NOT_FOUND', 'E-mail account not found', {
        fields: [{ path: 'body.accountId', message: 'not one of your e-mail accounts' }],
      });
    });
  }
  for (const [i, step] of (input.steps ?? []).entries()) {
    if (step.type === 'email') {
      if (!step.templateId && step.html === undefined)
        throw invalid(`body.steps.${i}`, 'an email step needs a templateId or html');
      if (!step.templateId && !step.subject && !(step.replyInThread && i > 0))
        throw invalid(`body.steps.${i}.subject`, 'a new message needs a subject (or a template)');
      if (step.replyInThread && i === 0)
        throw invalid(`body.steps.0.replyInThread`, 'the first step has no thread to reply in');
      if (step.templateId) {
        await getTemplate(db, actor, step.templateId).catch(() => {
          throw new AppError('NOT_FOUND', 'Template not found', {
            fields: [{ path: `body.steps.${i}.templateId`, message: 'no such template' }],
          });
        });
      }
      assertKnownMergeFields(step.subject ?? '', step.html ?? '');
    } else if (!step.subject) {
      throw invalid(`body.steps.${i}.subject`, 'a task step needs a subject (the task title)');
    }
  }
  const w = input.sendWindow;
  if (w) {
    if (!isTimeZone(w.timeZone)) throw invalid('body.sendWindow.timeZone', 'not a known IANA time zone');
    if (minutesOf(w.from) >= minutesOf(w.to)) throw invalid('body.sendWindow.to', 'must be after from');
  }
}

async function ownSequence(db: Db, actor: Actor, id: string): Promise<SequencesTable> {
  const row = await db
    .selectFrom('sequences')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', actor.orgId)
    .where('owner_user_id', '=', actor.id)
    .executeTakeFirst();
  if (!row) throw new AppError('NOT_FOUND', 'Sequence not found');
  return row;
}

const iso = (ms: number | null | undefined) => (ms == null ? undefined : new Date(Number(ms)).toISOString());

function emptyCounts(): Counts {
  return {
    sent: 0,
    replied: 0,
    bounced: 0,
    unsubscribed: 0,
    booked: 0,
    opened: 0,
    clicked: 0,
    automatedOpens: 0,
    replyRate: 0,
  };
}

/** Per sequence and per step: sends, stops (attributed to the last step that ran), tracking of the steps' mail. */
async function countsOf(
  db: Db,
  row: SequencesTable,
): Promise<Pick<SequenceView, 'enrolled' | 'active' | 'stats' | 'stepStats'>> {
  const steps = stepsOf(row);
  const perStep = steps.map(emptyCounts);
  const total = emptyCounts();
  const sends = await db
    .selectFrom('sequence_sends')
    .select(['step_index', sql<number>`count(*)`.as('n')])
    .where('sequence_id', '=', row.id)
    .where('state', '=', 'done')
    .groupBy('step_index')
    .execute();
  for (const s of sends) {
    const c = perStep[s.step_index];
    if (c) c.sent += Number(s.n);
    total.sent += Number(s.n);
  }
  const states = await db
    .selectFrom('sequence_enrollments')
    .select(['state', 'step', sql<number>`count(*)`.as('n')])
    .where('sequence_id', '=', row.id)
    .groupBy(['state', 'step'])
    .execute();
  let enrolled = 0;
  let active = 0;
  let reached = 0;
  for (const s of states) {
    const n = Number(s.n);
    enrolled += n;
    if (s.state === 'active' || s.state === 'paused') active += n;
    if (s.step > 0) reached += n;
    const key = s.state as keyof Counts;
    if (s.state === 'replied' || s.state === 'bounced' || s.state === 'unsubscribed' || s.state === 'booked') {
      const c = perStep[Math.max(0, Math.min(steps.length - 1, s.step - 1))];
      if (c) c[key] += n;
      total[key] += n;
    }
  }
  const tracking = await db
    .selectFrom('tracking_events')
    .innerJoin('sequence_sends', 'sequence_sends.message_id', 'tracking_events.message_id')
    .select([
      'sequence_sends.step_index as step',
      'tracking_events.type as type',
      'tracking_events.automated as automated',
      sql<number>`count(*)`.as('events'),
      sql<number>`count(distinct tracking_events.message_id)`.as('messages'),
    ])
    .where('sequence_sends.sequence_id', '=', row.id)
    .groupBy(['sequence_sends.step_index', 'tracking_events.type', 'tracking_events.automated'])
    .execute();
  for (const t of tracking) {
    const c = perStep[t.step];
    const add = (k: 'opened' | 'clicked' | 'automatedOpens', n: number) => {
      if (c) c[k] += n;
      total[k] += n;
    };
    if (Number(t.automated) === 1) {
      if (t.type === 'open') add('automatedOpens', Number(t.events));
    } else add(t.type === 'open' ? 'opened' : 'clicked', Number(t.messages));
  }
  for (const c of perStep) c.replyRate = c.sent > 0 ? c.replied / c.sent : 0;
  total.replyRate = reached > 0 ? total.replied / reached : 0;
  return { enrolled, active, stats: total, stepStats: perStep.map((c, index) => ({ index, ...c })) };
}

async function view(db: Db, row: SequencesTable): Promise<SequenceView> {
  const window = windowOf(row);
  return {
    id: row.id,
    name: row.name,
    accountId: row.account_id,
    steps: stepsOf(row),
    ...(window ? { sendWindow: window } : {}),
    ...(row.daily_limit != null ? { dailyLimit: row.daily_limit } : {}),
    paused: row.paused === 1,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    ...(await countsOf(db, row)),
  };
}

/** The step as stored: only the fields given. */
function cleanStep(step: SequenceStep): SequenceStep {
  const out: SequenceStep = { type: step.type, waitMinutes: step.waitMinutes };
  if (step.templateId !== undefined) out.templateId = step.templateId;
  if (step.subject !== undefined) out.subject = step.subject;
  if (step.html !== undefined) out.html = step.html;
  if (step.replyInThread !== undefined) out.replyInThread = step.replyInThread;
  if (step.track !== undefined) out.track = step.track;
  return out;
}

export async function createSequence(db: Db, actor: Actor, input: SequenceInput, now: number): Promise<SequenceView> {
  await checkInput(db, actor, input);
  const row: SequencesTable = {
    id: newId(now),
    org_id: actor.orgId,
    owner_user_id: actor.id,
    account_id: input.accountId,
    name: input.name.trim(),
    steps_json: JSON.stringify(input.steps.map(cleanStep)),
    send_window_json: input.sendWindow ? JSON.stringify(input.sendWindow) : null,
    daily_limit: input.dailyLimit ?? null,
    paused: input.paused ? 1 : 0,
    created_at: now,
    updated_at: now,
  };
  await db.insertInto('sequences').values(row).execute();
  return view(db, row);
}

export async function updateSequence(
  db: Db,
  actor: Actor,
  id: string,
  input: Partial<SequenceInput>,
  now: number,
): Promise<SequenceView> {
  const current = await ownSequence(db, actor, id);
  await checkInput(db, actor, input);
  const set: Partial<SequencesTable> = { updated_at: now };
  if (input.name !== undefined) set.name = input.name.trim();
  if (input.accountId !== undefined) set.account_id = input.accountId;
  if (input.steps !== undefined) set.steps_json = JSON.stringify(input.steps.map(cleanStep));
  if (input.sendWindow !== undefined) set.send_window_json = input.sendWindow ? JSON.stringify(input.sendWindow) : null;
  if (input.dailyLimit !== undefined) set.daily_limit = input.dailyLimit ?? null;
  if (input.paused !== undefined) set.paused = input.paused ? 1 : 0;
  await db.transaction().execute(async (trx) => {
    await trx.updateTable('sequences').set(set).where('id', '=', current.id).execute();
    // Resuming also releases the enrollments held for a merge field: the owner has had the chance to fill it.
    if (input.paused === false) {
      await trx
        .updateTable('sequence_enrollments')
        .set({ state: 'active', stop_reason: null, next_at: now, updated_at: now })
        .where('sequence_id', '=', current.id)
        .where('state', '=', 'paused')
        .execute();
    }
  });
  return view(db, await ownSequence(db, actor, id));
}

export async function getSequence(db: Db, actor: Actor, id: string): Promise<SequenceView> {
  return view(db, await ownSequence(db, actor, id));
}

export async function listSequences(db: Db, actor: Actor): Promise<{ items: SequenceView[] }> {
  const rows = await db
    .selectFrom('sequences')
    .selectAll()
    .where('org_id', '=', actor.orgId)
    .where('owner_user_id', '=', actor.id)
    .orderBy('created_at', 'desc')
    .execute();
  const items: SequenceView[] = [];
  for (const row of rows) items.push(await view(db, row));
  return { items };
}

export async function enrollContacts(
  db: Db,
  actor: Actor,
  sequenceId: string,
  contactIds: string[],
  now: number,
): Promise<{ enrolled: number; skipped: Array<{ contactId: string; reason: SkipReason }> }> {
  const sequence = await ownSequence(db, actor, sequenceId);
  const steps = stepsOf(sequence);
  const ids = [...new Set(contactIds)];
  const skipped: Array<{ contactId: string; reason: SkipReason }> = [];
  if (ids.length === 0) return { enrolled: 0, skipped };
  const contacts = new Set(
    (
      await db.selectFrom('contacts').select('id').where('org_id', '=', actor.orgId).where('id', 'in', ids).execute()
    ).map((c) => c.id),
  );
  const addresses = await db
    .selectFrom('contact_addresses')
    .select(['contact_id', 'address', 'bounced_at'])
    .where('org_id', '=', actor.orgId)
    .where('contact_id', 'in', ids)
    .orderBy('position')
    .execute();
  const suppressed = new Map(
    (
      await db
        .selectFrom('suppressions')
        .select(['address_hash', 'reason'])
        .where('org_id', '=', actor.orgId)
        .where('address_hash', 'in', addresses.length ? addresses.map((a) => addressHash(a.address)) : ['-'])
        .execute()
    ).map((s) => [s.address_hash, s.reason]),
  );
  const existing = await db
    .selectFrom('sequence_enrollments')
    .innerJoin('sequences', 'sequences.id', 'sequence_enrollments.sequence_id')
    .select([
      'sequence_enrollments.contact_id',
      'sequence_enrollments.sequence_id',
      'sequence_enrollments.state',
      'sequences.paused',
    ])
    .where('sequence_enrollments.org_id', '=', actor.orgId)
    .where('sequence_enrollments.contact_id', 'in', ids)
    .execute();
  const rows = [];
  for (const contactId of ids) {
    if (!contacts.has(contactId)) {
      skipped.push({ contactId, reason: 'not-found' });
      continue;
    }
    const mine = existing.filter((e) => e.contact_id === contactId);
    if (mine.some((e) => e.sequence_id === sequence.id)) {
      skipped.push({ contactId, reason: 'already-enrolled' });
      continue;
    }
    if (mine.some((e) => (e.state === 'active' || e.state === 'paused') && e.paused === 0)) {
      skipped.push({ contactId, reason: 'in-other-sequence' });
      continue;
    }
    const own = addresses.filter((a) => a.contact_id === contactId);
    if (own.length === 0) {
      skipped.push({ contactId, reason: 'no-address' });
      continue;
    }
    if (own.some((a) => suppressed.get(addressHash(a.address)) === 'unsubscribed')) {
      skipped.push({ contactId, reason: 'unsubscribed' });
      continue;
    }
    const usable = own.find((a) => a.bounced_at == null && !suppressed.has(addressHash(a.address)));
    if (!usable) {
      skipped.push({ contactId, reason: 'bounced' });
      continue;
    }
    rows.push({
      id: newId(now),
      sequence_id: sequence.id,
      org_id: actor.orgId,
      contact_id: contactId,
      address: usable.address.toLowerCase(),
      state: 'active' as const,
      step: 0,
      next_at: now + (steps[0]?.waitMinutes ?? 0) * MINUTE_MS,
      waiting_until: null,
      last_auto_reply_id: null,
      thread_message_id: null,
      enrolled_at: now,
      stopped_at: null,
      stop_reason: null,
      updated_at: now,
    });
  }
  for (let i = 0; i < rows.length; i += 200)
    await db
      .insertInto('sequence_enrollments')
      .values(rows.slice(i, i + 200))
      .execute();
  return { enrolled: rows.length, skipped };
}

export interface EnrollmentItem {
  id: string;
  contactId: string;
  address: string;
  state: EnrollmentState;
  step: number;
  nextAt?: string;
  enrolledAt: string;
  stoppedAt?: string;
  stopReason?: string;
}

function enrollmentItem(e: {
  id: string;
  contact_id: string;
  address: string;
  state: EnrollmentState;
  step: number;
  next_at: number | null;
  waiting_until: number | null;
  enrolled_at: number;
  stopped_at: number | null;
  stop_reason: string | null;
}): EnrollmentItem {
  const next =
    e.state === 'active' && e.next_at != null ? Math.max(Number(e.next_at), Number(e.waiting_until ?? 0)) : null;
  return {
    id: e.id,
    contactId: e.contact_id,
    address: e.address,
    state: e.state,
    step: e.step,
    ...(next !== null ? { nextAt: iso(next)! } : {}),
    enrolledAt: iso(e.enrolled_at)!,
    ...(e.stopped_at != null ? { stoppedAt: iso(e.stopped_at)! } : {}),
    ...(e.stop_reason ? { stopReason: e.stop_reason } : {}),
  };
}

export async function listEnrollments(db: Db, actor: Actor, sequenceId: string): Promise<{ items: EnrollmentItem[] }> {
  const sequence = await ownSequence(db, actor, sequenceId);
  const rows = await db
    .selectFrom('sequence_enrollments')
    .selectAll()
    .where('sequence_id', '=', sequence.id)
    .orderBy('enrolled_at')
    .orderBy('id')
    .execute();
  return { items: rows.map(enrollmentItem) };
}

/** The contact's timeline: their enrollments in the caller's sequences, each step with when it ran. */
export async function contactEnrollments(db: Db, actor: Actor, contactId: string) {
  await assertContactInOrg(db, actor.orgId, contactId);
  const rows = await db
    .selectFrom('sequence_enrollments')
    .innerJoin('sequences', 'sequences.id', 'sequence_enrollments.sequence_id')
    .selectAll('sequence_enrollments')
    .select(['sequences.name as sequenceName', 'sequences.steps_json'])
    .where('sequence_enrollments.contact_id', '=', contactId)
    .where('sequences.owner_user_id', '=', actor.id)
    .orderBy('sequence_enrollments.enrolled_at', 'desc')
    .execute();
  const sends = rows.length
    ? await db
        .selectFrom('sequence_sends')
        .select(['enrollment_id', 'step_index', 'message_id', 'task_id', 'sent_at'])
        .where(
          'enrollment_id',
          'in',
          rows.map((r) => r.id),
        )
        .where('state', '=', 'done')
        .execute()
    : [];
  return {
    items: rows.map((r) => ({
      ...enrollmentItem(r),
      sequenceId: r.sequence_id,
      sequenceName: r.sequenceName,
      steps: parseSteps(r.steps_json).map((step, index) => {
        const s = sends.find((x) => x.enrollment_id === r.id && x.step_index === index);
        return {
          index,
          type: step.type,
          ...(s?.sent_at != null ? { sentAt: iso(s.sent_at)! } : {}),
          ...(s?.message_id ? { messageId: s.message_id } : {}),
          ...(s?.task_id ? { taskId: s.task_id } : {}),
        };
      }),
    })),
  };
}

/**
 * One-click or page unsubscribe: the address is suppressed for the whole organisation and every active or held
 * enrollment of it (or of its contact) in any sequence stops. An unknown token changes nothing and says nothing.
 */
export async function unsubscribe(db: Db, token: string, now: number): Promise<boolean> {
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) return false;
  const row = await db
    .selectFrom('sequence_unsubscribe_tokens')
    .innerJoin('sequence_enrollments', 'sequence_enrollments.id', 'sequence_unsubscribe_tokens.enrollment_id')
    .select(['sequence_enrollments.org_id', 'sequence_enrollments.address', 'sequence_enrollments.contact_id'])
    .where('sequence_unsubscribe_tokens.token_hash', '=', tokenHash(token))
    .executeTakeFirst();
  if (!row) return false;
  await db.transaction().execute(async (trx) => {
    const hash = addressHash(row.address);
    const had = await trx
      .selectFrom('suppressions')
      .select('reason')
      .where('org_id', '=', row.org_id)
      .where('address_hash', '=', hash)
      .executeTakeFirst();
    if (!had)
      await trx
        .insertInto('suppressions')
        .values({ org_id: row.org_id, address_hash: hash, reason: 'unsubscribed', created_at: now })
        .onConflict((oc) => oc.columns(['org_id', 'address_hash']).doNothing())
        .execute();
    else if (had.reason !== 'unsubscribed')
      await trx
        .updateTable('suppressions')
        .set({ reason: 'unsubscribed' })
        .where('org_id', '=', row.org_id)
        .where('address_hash', '=', hash)
        .execute();
    await trx
      .updateTable('sequence_enrollments')
      .set({ state: 'unsubscribed', stopped_at: now, stop_reason: 'unsubscribed', updated_at: now })
      .where('org_id', '=', row.org_id)
      .where((eb) => eb.or([eb('address', '=', row.address), eb('contact_id', '=', row.contact_id)]))
      .where('state', 'in', ['active', 'paused'])
      .execute();
  });
  return true;
}
