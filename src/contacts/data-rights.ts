// A data subject's rights under LGPD (art. 18) and the GDPR (arts. 15, 17): see everything the organisation holds
// about a contact, and have it erased. Both are requests to the organisation, not to one user, so both are for
// administrators and cover everything the organisation holds, every mailbox included, private ones too (a member's
// request is refused with 403 by the route). Both are recorded in the audit log, with counts, never content.
//
// Erasure, in one transaction so the contact is gone from every answer at once:
// - the contact and its addresses; each address is kept only as sha256 in erased_addresses (erased-addresses.ts);
// - messages in which no other contact appears, with everything hanging on them (participants, locations, holders,
//   attachment rows, reads, reminders, outbox rows, BCC filings by cascade; tracking links and events explicitly);
//   then, after the commit, each blob (raw message, attachment) that nothing names any more goes through blob
//   collection (src/storage/collect-blobs.ts): at once when older than its grace period, else at the next run;
// - messages shared with other contacts keep their content for those contacts, lose the link to the erased one,
//   and the erased address among their participants (and as sender) becomes `<hash prefix>@erased.invalid`;
// - meetings linked to no other contact go (with attendees); the others lose the link and the attendee's address;
// - enrollments go with the contact (cascade), their sends and unsubscribe tokens with them; suppressions are already
//   hashes and stay; tasks about the contact go; bookings made from its addresses are anonymised.
// Written with the storage layer only (this floor is below messages, sequences and calendar): these are deletions,
// not domain operations, and listing the tables here keeps "what erasure touches" in one file.
import type { Db } from '../storage/database.js';
import type { BlobStore } from '../storage/blob-store.js';
import { collectBlobs } from '../storage/collect-blobs.js';
import { recordAudit } from '../audit/audit-log.js';
import { inChunks, MAX_IN_LIST } from '../storage/batches.js';
import { reindexMessages } from '../storage/search-index.js';
import { getContact, type Contact } from './contacts.js';
import { erasedAddressHash } from './erased-addresses.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(Number(ms)).toISOString());

async function contactAddresses(db: Db, orgId: string, contactId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('contact_addresses')
    .select('address')
    .where('org_id', '=', orgId)
    .where('contact_id', '=', contactId)
    .orderBy('position')
    .execute();
  return rows.map((r) => r.address);
}

async function messageIdsOf(db: Db, orgId: string, contactId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('message_contacts')
    .innerJoin('messages', 'messages.id', 'message_contacts.message_id')
    .select('messages.id')
    .where('message_contacts.contact_id', '=', contactId)
    .where('messages.org_id', '=', orgId)
    .orderBy('messages.date')
    .execute();
  return rows.map((r) => r.id);
}

async function meetingIdsOf(db: Db, orgId: string, contactId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('meeting_contacts')
    .innerJoin('meetings', 'meetings.id', 'meeting_contacts.meeting_id')
    .select('meetings.id')
    .where('meeting_contacts.contact_id', '=', contactId)
    .where('meetings.org_id', '=', orgId)
    .execute();
  return rows.map((r) => r.id);
}

/** Rows of `ids` in chunks the dialects' parameter limits allow. */
async function chunked<T>(ids: string[], read: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (const chunk of inChunks(ids, MAX_IN_LIST)) out.push(...(await read(chunk)));
  return out;
}

function group<T, K extends keyof T>(rows: T[], key: K): Map<T[K], T[]> {
  const map = new Map<T[K], T[]>();
  for (const row of rows) map.set(row[key], [...(map.get(row[key]) ?? []), row]);
  return map;
}

export interface ContactExport {
  format: 'conversa.contact-export.v1';
  exportedAt: string;
  scope: string;
  contact: Contact;
  messages: {
    id: string;
    subject: string | null;
    date: string | null;
    direction: string;
    from: { address: string | null; name: string | null };
    participants: { role: string; address: string; name: string | null }[];
    textBody: string | null;
    htmlBody: string | null;
    attachments: { filename: string | null; contentType: string; size: number }[];
    trackingEvents: { type: string; at: string | null; automated: boolean; linkPosition: number | null }[];
    followUpReminders: { dueAt: string | null; state: string }[];
  }[];
  meetings: {
    id: string;
    title: string | null;
    description: string | null;
    location: string | null;
    startAt: string | null;
    endAt: string | null;
    organizer: string | null;
    attendees: { address: string; name: string | null; status: string | null }[];
  }[];
  sequenceEnrollments: {
    sequence: string;
    address: string;
    state: string;
    step: number;
    enrolledAt: string | null;
    stoppedAt: string | null;
    sends: { step: number; sentAt: string | null; messageId: string | null }[];
  }[];
  suppressions: { reason: string; since: string | null }[];
  bookings: { name: string; email: string; note: string | null; startAt: string | null; state: string }[];
  tasks: { title: string; dueAt: string | null; doneAt: string | null }[];
  notes: string[];
}

/** Everything the organisation holds about the contact; NOT_FOUND for another organisation's or a missing one. */
export async function exportContact(
  db: Db,
  orgId: string,
  contactId: string,
  actorId: string | null,
): Promise<ContactExport> {
  const contact = await getContact(db, orgId, contactId);
  const addresses = await contactAddresses(db, orgId, contactId);
  const messageIds = await messageIdsOf(db, orgId, contactId);
  const messages = await chunked(messageIds, (c) =>
    db
      .selectFrom('messages')
      .select(['id', 'subject', 'date', 'direction', 'from_address', 'from_name', 'text_body', 'html_body'])
      .where('id', 'in', c)
      .execute(),
  );
  messages.sort((a, b) => Number(a.date) - Number(b.date));
  const participants = group(
    await chunked(messageIds, (c) =>
      db
        .selectFrom('message_participants')
        .select(['message_id', 'role', 'address', 'name', 'position'])
        .where('message_id', 'in', c)
        .orderBy('position')
        .execute(),
    ),
    'message_id',
  );
  const attachments = group(
    await chunked(messageIds, (c) =>
      db
        .selectFrom('attachments')
        .select(['message_id', 'filename', 'content_type', 'size', 'position'])
        .where('message_id', 'in', c)
        .orderBy('position')
        .execute(),
    ),
    'message_id',
  );
  const events = group(
    await chunked(messageIds, (c) =>
      db
        .selectFrom('tracking_events')
        .select(['message_id', 'type', 'at', 'automated', 'link_position'])
        .where('message_id', 'in', c)
        .orderBy('at')
        .execute(),
    ),
    'message_id',
  );
  const reminders = group(
    await chunked(messageIds, (c) =>
      db
        .selectFrom('follow_up_reminders')
        .select(['message_id', 'due_at', 'state'])
        .where('message_id', 'in', c)
        .execute(),
    ),
    'message_id',
  );

  const meetingIds = await meetingIdsOf(db, orgId, contactId);
  const meetings = await chunked(meetingIds, (c) =>
    db.selectFrom('meetings').selectAll().where('id', 'in', c).orderBy('start_at').execute(),
  );
  const attendees = group(
    await chunked(meetingIds, (c) =>
      db
        .selectFrom('meeting_attendees')
        .select(['meeting_id', 'address', 'name', 'status'])
        .where('meeting_id', 'in', c)
        .execute(),
    ),
    'meeting_id',
  );

  const enrollments = await db
    .selectFrom('sequence_enrollments')
    .innerJoin('sequences', 'sequences.id', 'sequence_enrollments.sequence_id')
    .select([
      'sequence_enrollments.id',
      'sequences.name',
      'sequence_enrollments.address',
      'sequence_enrollments.state',
      'sequence_enrollments.step',
      'sequence_enrollments.enrolled_at',
      'sequence_enrollments.stopped_at',
    ])
    .where('sequence_enrollments.org_id', '=', orgId)
    .where('sequence_enrollments.contact_id', '=', contactId)
    .execute();
  const sends = group(
    await chunked(
      enrollments.map((e) => e.id),
      (c) =>
        db
          .selectFrom('sequence_sends')
          .select(['enrollment_id', 'step_index', 'sent_at', 'message_id'])
          .where('enrollment_id', 'in', c)
          .orderBy('step_index')
          .execute(),
    ),
    'enrollment_id',
  );
  const hashes = addresses.map(erasedAddressHash);
  const suppressions =
    hashes.length === 0
      ? []
      : await db
          .selectFrom('suppressions')
          .select(['reason', 'created_at'])
          .where('org_id', '=', orgId)
          .where('address_hash', 'in', hashes)
          .execute();
  const bookings = await bookingsOf(db, orgId, addresses);
  const tasks = await db
    .selectFrom('tasks')
    .select(['title', 'due_at', 'done_at'])
    .where('org_id', '=', orgId)
    .where('contact_id', '=', contactId)
    .execute();

  await recordAudit(db, {
    orgId,
    actorId,
    action: 'contact.exported',
    target: `contact:${contactId}`,
    details: { messages: messages.length, meetings: meetings.length, enrollments: enrollments.length },
  });

  return {
    format: 'conversa.contact-export.v1',
    exportedAt: new Date().toISOString(),
    scope: 'Everything the organisation holds about this contact, in every mailbox, including private ones.',
    contact,
    messages: messages.map((m) => ({
      id: m.id,
      subject: m.subject,
      date: iso(m.date),
      direction: m.direction,
      from: { address: m.from_address, name: m.from_name },
      participants: (participants.get(m.id) ?? []).map((p) => ({ role: p.role, address: p.address, name: p.name })),
      textBody: m.text_body,
      htmlBody: m.html_body,
      attachments: (attachments.get(m.id) ?? []).map((a) => ({
        filename: a.filename,
        contentType: a.content_type,
        size: Number(a.size),
      })),
      trackingEvents: (events.get(m.id) ?? []).map((e) => ({
        type: e.type,
        at: iso(e.at),
        automated: Number(e.automated) === 1,
        linkPosition: e.link_position,
      })),
      followUpReminders: (reminders.get(m.id) ?? []).map((r) => ({ dueAt: iso(r.due_at), state: r.state })),
    })),
    meetings: meetings.map((m) => ({
      id: m.id,
      title: m.title,
      description: m.description,
      location: m.location,
      startAt: iso(m.start_at),
      endAt: iso(m.end_at),
      organizer: m.organizer_address,
      attendees: (attendees.get(m.id) ?? []).map((a) => ({ address: a.address, name: a.name, status: a.status })),
    })),
    sequenceEnrollments: enrollments.map((e) => ({
      sequence: e.name,
      address: e.address,
      state: e.state,
      step: Number(e.step),
      enrolledAt: iso(e.enrolled_at),
      stoppedAt: iso(e.stopped_at),
      sends: (sends.get(e.id) ?? []).map((s) => ({
        step: Number(s.step_index),
        sentAt: iso(s.sent_at),
        messageId: s.message_id,
      })),
    })),
    suppressions: suppressions.map((s) => ({ reason: s.reason, since: iso(s.created_at) })),
    bookings: bookings.map((b) => ({
      name: b.invitee_name,
      email: b.invitee_email,
      note: b.note,
      startAt: iso(b.start_at),
      state: b.state,
    })),
    tasks: tasks.map((t) => ({ title: t.title, dueAt: iso(t.due_at), doneAt: iso(t.done_at) })),
    notes: [
      'Attachments are listed by name, type and size; their bytes are not included (ask for a copy if needed).',
      'Message texts are as received or sent: the text body and the HTML body as stored.',
    ],
  };
}

async function bookingsOf(db: Db, orgId: string, addresses: string[]) {
  if (addresses.length === 0) return [];
  return db
    .selectFrom('bookings')
    .innerJoin('booking_pages', 'booking_pages.id', 'bookings.page_id')
    .select([
      'bookings.id',
      'bookings.invitee_name',
      'bookings.invitee_email',
      'bookings.note',
      'bookings.start_at',
      'bookings.state',
    ])
    .where('booking_pages.org_id', '=', orgId)
    .where('bookings.invitee_email', 'in', addresses)
    .execute();
}

export interface ErasureCounts {
  addresses: number;
  messagesDeleted: number;
  messagesUnlinked: number;
  meetingsDeleted: number;
  meetingsUnlinked: number;
  enrollments: number;
  bookingsAnonymised: number;
  tasks: number;
  blobFilesDeleted: number;
}

/** The stand-in for an erased address where a shared record must keep a syntactically valid one. */
export function erasedStandIn(address: string): string {
  return `${erasedAddressHash(address).slice(0, 16)}@erased.invalid`;
}

/** Erases the contact (see the module comment); NOT_FOUND for another organisation's or a missing one. */
export async function eraseContact(
  db: Db,
  blobs: BlobStore | undefined,
  orgId: string,
  contactId: string,
  actorId: string | null,
): Promise<ErasureCounts> {
  await getContact(db, orgId, contactId);
  const result = await db.transaction().execute(async (trx) => {
    const addresses = await contactAddresses(trx, orgId, contactId);
    const now = Date.now();
    for (const address of addresses) {
      await trx
        .insertInto('erased_addresses')
        .values({ org_id: orgId, address_hash: erasedAddressHash(address), erased_at: now })
        .onConflict((oc) => oc.columns(['org_id', 'address_hash']).doNothing())
        .execute();
    }

    const messageIds = await messageIdsOf(trx, orgId, contactId);
    const withOthers = new Set(
      (
        await chunked(messageIds, (c) =>
          trx
            .selectFrom('message_contacts')
            .select('message_id')
            .where('message_id', 'in', c)
            .where('contact_id', '!=', contactId)
            .execute(),
        )
      ).map((r) => r.message_id),
    );
    const doomed = messageIds.filter((id) => !withOthers.has(id));
    const shared = messageIds.filter((id) => withOthers.has(id));

    // Blobs those messages use: looked at again after the commit. Threads they were in: removed if left empty
    // (a thread row keeps the subject).
    const blobCandidates = new Set<string>();
    const threadIds = new Set<string>();
    for (const chunk of inChunks(doomed, MAX_IN_LIST)) {
      for (const r of await trx
        .selectFrom('messages')
        .select('thread_id')
        .where('id', 'in', chunk)
        .where('thread_id', 'is not', null)
        .execute())
        threadIds.add(r.thread_id!);
      for (const r of await trx
        .selectFrom('attachments')
        .select('blob_sha256')
        .where('message_id', 'in', chunk)
        .execute())
        blobCandidates.add(r.blob_sha256);
      for (const r of await trx
        .selectFrom('messages')
        .select('raw_blob_sha256')
        .where('id', 'in', chunk)
        .where('raw_blob_sha256', 'is not', null)
        .execute())
        blobCandidates.add(r.raw_blob_sha256!);
      // No foreign key on these two (tracking is written by the public pixel and redirect routes).
      await trx.deleteFrom('tracking_events').where('message_id', 'in', chunk).execute();
      await trx.deleteFrom('tracked_links').where('message_id', 'in', chunk).execute();
      await trx.updateTable('sequence_sends').set({ message_id: null }).where('message_id', 'in', chunk).execute();
      // Participants, locations, holders, attachments, reads, reminders, outbox, filings: cascade.
      await trx.deleteFrom('messages').where('id', 'in', chunk).where('org_id', '=', orgId).execute();
    }

    for (const chunk of inChunks([...threadIds], MAX_IN_LIST)) {
      await trx
        .deleteFrom('threads')
        .where('id', 'in', chunk)
        .where('org_id', '=', orgId)
        .where((eb) =>
          eb.not(
            eb.exists(
              eb.selectFrom('messages').select('messages.id').whereRef('messages.thread_id', '=', 'threads.id'),
            ),
          ),
        )
        .execute();
    }

    // Shared mail keeps its content for the other contacts; the erased person's address leaves its records.
    for (const address of addresses) {
      const standIn = erasedStandIn(address);
      for (const chunk of inChunks(shared, MAX_IN_LIST)) {
        await trx
          .updateTable('message_participants')
          .set({ address: standIn, name: null })
          .where('message_id', 'in', chunk)
          .where('address', '=', address)
          .execute();
        await trx
          .updateTable('messages')
          .set({ from_address: standIn, from_name: null })
          .where('id', 'in', chunk)
          .where('from_address', '=', address)
          .execute();
      }
    }
    // The search index held the erased address and name too: rebuilt from the rewritten rows.
    await reindexMessages(trx, shared);

    const meetingIds = await meetingIdsOf(trx, orgId, contactId);
    const meetingsWithOthers = new Set(
      (
        await chunked(meetingIds, (c) =>
          trx
            .selectFrom('meeting_contacts')
            .select('meeting_id')
            .where('meeting_id', 'in', c)
            .where('contact_id', '!=', contactId)
            .execute(),
        )
      ).map((r) => r.meeting_id),
    );
    const doomedMeetings = meetingIds.filter((id) => !meetingsWithOthers.has(id));
    const sharedMeetings = meetingIds.filter((id) => meetingsWithOthers.has(id));
    for (const chunk of inChunks(doomedMeetings, MAX_IN_LIST)) {
      await trx.updateTable('bookings').set({ meeting_id: null }).where('meeting_id', 'in', chunk).execute();
      await trx.deleteFrom('meetings').where('id', 'in', chunk).where('org_id', '=', orgId).execute();
    }
    for (const address of addresses) {
      for (const chunk of inChunks(sharedMeetings, MAX_IN_LIST)) {
        await trx
          .updateTable('meeting_attendees')
          .set({ address: erasedStandIn(address), name: null })
          .where('meeting_id', 'in', chunk)
          .where('address', '=', address)
          .execute();
      }
    }

    const bookings = await bookingsOf(trx, orgId, addresses);
    for (const b of bookings) {
      await trx
        .updateTable('bookings')
        .set({ invitee_name: '', invitee_email: erasedStandIn(b.invitee_email), note: null, updated_at: now })
        .where('id', '=', b.id)
        .execute();
    }
    const tasks = await trx
      .deleteFrom('tasks')
      .where('org_id', '=', orgId)
      .where('contact_id', '=', contactId)
      .executeTakeFirst();
    const enrollments = await trx
      .selectFrom('sequence_enrollments')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('contact_id', '=', contactId)
      .executeTakeFirst();
    // Addresses, message and meeting links, enrollments (with their sends and tokens): cascade.
    await trx.deleteFrom('contacts').where('org_id', '=', orgId).where('id', '=', contactId).execute();
    return {
      blobCandidates: [...blobCandidates],
      counts: {
        addresses: addresses.length,
        messagesDeleted: doomed.length,
        messagesUnlinked: shared.length,
        meetingsDeleted: doomedMeetings.length,
        meetingsUnlinked: sharedMeetings.length,
        enrollments: Number(enrollments?.n ?? 0),
        bookingsAnonymised: bookings.length,
        tasks: Number(tasks.numDeletedRows),
        blobFilesDeleted: 0,
      } satisfies ErasureCounts,
    };
  });

  const counts = result.counts;
  counts.blobFilesDeleted = await dropUnusedBlobs(db, blobs, result.blobCandidates);
  await recordAudit(db, {
    orgId,
    actorId,
    action: 'contact.erased',
    target: `contact:${contactId}`,
    details: { ...counts },
  });
  return counts;
}

/**
 * The candidate blobs (the erased messages' raw sources and attachments) go through collection now: those that
 * nothing names any more and that were written before the grace period are removed with their `blobs` row; the
 * rest (named elsewhere, blobs are shared by content across messages and organisations; or written within the grace
 * period, which a racing intake may be about to name) stay, and the periodic collection takes the unnamed ones.
 */
async function dropUnusedBlobs(db: Db, blobs: BlobStore | undefined, candidates: string[]): Promise<number> {
  if (!blobs || candidates.length === 0) return 0;
  return (await collectBlobs(db, blobs, { only: candidates })).removed;
}
