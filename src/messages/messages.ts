// Reading stored mail: a contact's timeline, the inbox, a thread, one message and its attachments. Every read
// goes through the access policy's message rule (src/access/access-policy.ts).
import { notFound } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { User } from '../users/users.js';
import { decodeCursor, encodeCursor } from '../contacts/contacts.js';
import { messageVisibleTo } from '../access/access-policy.js';
import { readStates, unreadFor } from './read-state.js';
import { searchPage, type SearchMatch } from './search-messages.js';

export interface AddressOut {
  address: string;
  name?: string;
}

export interface MessageSummary {
  id: string;
  messageId: string | null;
  threadId: string | null;
  subject: string | null;
  from: AddressOut | null;
  to: AddressOut[];
  cc: AddressOut[];
  bcc: AddressOut[];
  date: string;
  direction: 'incoming' | 'outgoing';
  source: 'sync' | 'crm' | 'bcc';
  snippet: string | null;
  contactIds: string[];
  hasAttachments: boolean;
  bounced: boolean;
  /** Read for the caller (read-state.ts); `unread` is its opposite, kept for older clients. */
  read: boolean;
  unread: boolean;
  /** With `q`: where the search found the message (search-messages.ts). */
  match?: SearchMatch;
}

export interface MessageDetail extends MessageSummary {
  text: string | null;
  html: string | null;
  attachments: Array<{
    id: string;
    filename: string | null;
    contentType: string;
    size: number;
    inline: boolean;
    contentId: string | null;
  }>;
  parseError: string | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** The visibility rule of the access policy. */
const visibleTo = messageVisibleTo;

const summaryColumns = [
  'messages.id',
  'messages.message_id_header',
  'messages.thread_id',
  'messages.subject',
  'messages.from_address',
  'messages.from_name',
  'messages.date',
  'messages.direction',
  'messages.source',
  'messages.snippet',
  'messages.has_attachments',
  'messages.bounced',
] as const;

type SummaryRow = {
  id: string;
  message_id_header: string | null;
  thread_id: string | null;
  subject: string | null;
  from_address: string | null;
  from_name: string | null;
  date: number;
  direction: 'incoming' | 'outgoing';
  source: 'sync' | 'crm' | 'bcc';
  snippet: string | null;
  has_attachments: number;
  bounced: number;
};

async function summaries(db: Db, user: User, rows: SummaryRow[]): Promise<MessageSummary[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const [participants, contacts, read] = await Promise.all([
    db
      .selectFrom('message_participants')
      .select(['message_id', 'role', 'address', 'name'])
      .where('message_id', 'in', ids)
      .orderBy('position')
      .execute(),
    db.selectFrom('message_contacts').select(['message_id', 'contact_id']).where('message_id', 'in', ids).execute(),
    readStates(db, user.id, ids),
  ]);
  return rows.map((row) => {
    const mine = participants.filter((p) => p.message_id === row.id);
    const of = (role: string) =>
      mine.filter((p) => p.role === role).map((p) => ({ address: p.address, ...(p.name ? { name: p.name } : {}) }));
    return {
      id: row.id,
      messageId: row.message_id_header,
      threadId: row.thread_id,
      subject: row.subject,
      from: row.from_address ? { address: row.from_address, ...(row.from_name ? { name: row.from_name } : {}) } : null,
      to: of('to'),
      cc: of('cc'),
      bcc: of('bcc'),
      date: new Date(row.date).toISOString(),
      direction: row.direction,
      source: row.source,
      snippet: row.snippet,
      contactIds: contacts.filter((c) => c.message_id === row.id).map((c) => c.contact_id),
      hasAttachments: row.has_attachments === 1,
      bounced: row.bounced === 1,
      read: read.get(row.id) ?? false,
      unread: !(read.get(row.id) ?? false),
    };
  });
}

/** Cursor over (date, id), newest first. */
function pageCursor(row: { date: number; id: string }): string {
  return encodeCursor(`${row.date}|${row.id}`);
}

function readPageCursor(cursor: string): { date: number; id: string } {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const [date, id] = raw.split('|');
  if (!date || !id || !/^\d+$/.test(date)) return { date: 0, id: decodeCursor(cursor) };
  return { date: Number(date), id };
}

async function page(
  db: Db,
  user: User,
  query: ReturnType<typeof baseQuery>,
  limit: number,
  cursor?: string,
): Promise<Page<MessageSummary>> {
  let q = query;
  if (cursor) {
    const c = readPageCursor(cursor);
    q = q.where((eb) =>
      eb.or([
        eb('messages.date', '<', c.date),
        eb.and([eb('messages.date', '=', c.date), eb('messages.id', '<', c.id)]),
      ]),
    );
  }
  const rows = (await q
    .orderBy('messages.date', 'desc')
    .orderBy('messages.id', 'desc')
    .limit(limit + 1)
    .execute()) as SummaryRow[];
  const items = rows.slice(0, limit);
  return {
    items: await summaries(db, user, items),
    nextCursor: rows.length > limit ? pageCursor(items[items.length - 1]!) : null,
  };
}

function baseQuery(db: Db, user: User) {
  return db.selectFrom('messages').select(summaryColumns).where(visibleTo(user));
}

export async function contactMessages(
  db: Db,
  user: User,
  contactId: string,
  options: { q?: string; limit: number; cursor?: string },
): Promise<Page<MessageSummary>> {
  const contact = await db
    .selectFrom('contacts')
    .select('id')
    .where('id', '=', contactId)
    .where('org_id', '=', user.orgId)
    .executeTakeFirst();
  if (!contact) throw notFound('Contact');
  const query = baseQuery(db, user).where((eb) =>
    eb.exists(
      eb
        .selectFrom('message_contacts')
        .select('message_contacts.message_id')
        .whereRef('message_contacts.message_id', '=', 'messages.id')
        .where('message_contacts.contact_id', '=', contactId),
    ),
  );
  if (options.q?.trim()) return searchPage(db, query, options.q, options, (rows) => summaries(db, user, rows));
  return page(db, user, query, options.limit, options.cursor);
}

/** The inbox's condition: received mail in the caller's own mailboxes (or one of them). */
function inboxQuery(db: Db, user: User, accountId?: string) {
  return baseQuery(db, user).where((eb) =>
    eb.exists(
      eb
        .selectFrom('message_holders')
        .select('message_holders.id')
        .whereRef('message_holders.message_id', '=', 'messages.id')
        .where('message_holders.user_id', '=', user.id)
        .where('message_holders.account_id', 'is not', null)
        // Incoming as the caller's own mailbox sees it: a colleague's sent mail is this inbox's received mail.
        .where('message_holders.direction', '=', 'incoming')
        .$if(accountId !== undefined, (qb) => qb.where('message_holders.account_id', '=', accountId!)),
    ),
  );
}

/** Received mail in the caller's own mailboxes (or one of them), newest first. */
export async function inbox(
  db: Db,
  user: User,
  options: { accountId?: string; q?: string; limit: number; cursor?: string },
): Promise<Page<MessageSummary>> {
  const query = inboxQuery(db, user, options.accountId);
  // `q`: full-text search of subject, people, attachment names and body (search-messages.ts).
  if (options.q?.trim()) return searchPage(db, query, options.q, options, (rows) => summaries(db, user, rows));
  return page(db, user, query, options.limit, options.cursor);
}

/** How many messages of the inbox view are unread for the caller (the navigation's badge). */
export async function unreadCount(db: Db, user: User): Promise<number> {
  const row = await inboxQuery(db, user)
    .clearSelect()
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where(unreadFor(user.id))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** One message as lists show it (no bodies): what PATCH answers. */
export async function getMessageSummary(db: Db, user: User, id: string): Promise<MessageSummary> {
  const row = (await baseQuery(db, user).where('messages.id', '=', id).executeTakeFirst()) as SummaryRow | undefined;
  if (!row) throw notFound('Message');
  const [summary] = await summaries(db, user, [row]);
  return summary!;
}

export async function getMessage(db: Db, user: User, id: string): Promise<MessageDetail> {
  const row = await db
    .selectFrom('messages')
    .select([...summaryColumns, 'messages.text_body', 'messages.html_body', 'messages.parse_error'])
    .where(visibleTo(user))
    .where('messages.id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('Message');
  const [summary] = await summaries(db, user, [row]);
  const attachments = await db
    .selectFrom('attachments')
    .select(['id', 'filename', 'content_type', 'size', 'inline', 'content_id'])
    .where('message_id', '=', id)
    .orderBy('position')
    .execute();
  return {
    ...summary!,
    text: row.text_body,
    html: row.html_body,
    parseError: row.parse_error,
    attachments: attachments.map((a) => ({
      id: a.id,
      filename: a.filename,
      contentType: a.content_type,
      size: a.size,
      inline: a.inline === 1,
      contentId: a.content_id,
    })),
  };
}

export async function getAttachment(
  db: Db,
  user: User,
  messageId: string,
  attachmentId: string,
): Promise<{ sha256: string; filename: string | null; contentType: string; size: number }> {
  await getMessage(db, user, messageId);
  const row = await db
    .selectFrom('attachments')
    .select(['blob_sha256', 'filename', 'content_type', 'size'])
    .where('message_id', '=', messageId)
    .where('id', '=', attachmentId)
    .executeTakeFirst();
  if (!row) throw notFound('Attachment');
  return { sha256: row.blob_sha256, filename: row.filename, contentType: row.content_type, size: row.size };
}

export async function getThread(
  db: Db,
  user: User,
  threadId: string,
): Promise<{ id: string; subject: string | null; messages: MessageSummary[] }> {
  const thread = await db
    .selectFrom('threads')
    .select('id')
    .where('id', '=', threadId)
    .where('org_id', '=', user.orgId)
    .executeTakeFirst();
  if (!thread) throw notFound('Thread');
  const rows = (await baseQuery(db, user)
    .where('messages.thread_id', '=', threadId)
    .orderBy('messages.date', 'asc')
    .orderBy('messages.id', 'asc')
    .execute()) as SummaryRow[];
  if (rows.length === 0) throw notFound('Thread');
  // The subject of the first message the caller may read: the thread's own is its first message's, which may
  // be a private message of someone else's that shares the thread.
  return { id: thread.id, subject: rows[0]!.subject, messages: await summaries(db, user, rows) };
}
