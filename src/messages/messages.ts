// Reading stored mail: a contact's timeline, the inbox, a thread, one message and its attachments. Every read
// goes through the access policy's message rule (src/access/access-policy.ts).
import { sql, type ExpressionBuilder, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { notFound } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';
import type { User } from '../users/users.js';
import { assertContactInOrg, decodeCursor, encodeCursor } from '../contacts/contacts.js';
import { messageVisibleTo } from '../access/access-policy.js';
import { readOf, readStateColumns, unreadCandidates, unreadFor, type ReadStateRow } from './read-state.js';
import { searchPage, type SearchMatch } from './search-messages.js';
import { inboxViewToken, isPostgres } from '../storage/search-index.js';
import { jsonAgg, jsonArray, jsonList } from '../storage/json-columns.js';
import { prepared, withKeptPlans } from '../storage/prepared-statement.js';

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

/** Each list item's people (in order) and contacts, as JSON columns of its `messages` row. */
function listColumns(db: Db) {
  const people = jsonAgg(db, jsonArray(db, [sql`p.role`, sql`p.address`, sql`p.name`]), sql`p.position`);
  const contacts = jsonAgg(db, sql`c.contact_id`, sql`c.contact_id`);
  return [
    sql<unknown>`(SELECT ${people} FROM message_participants p WHERE p.message_id = messages.id)`.as('people'),
    sql<unknown>`(SELECT ${contacts} FROM message_contacts c WHERE c.message_id = messages.id)`.as('contacts'),
  ] as const;
}

/** A list item's people, contacts and read state for one user (detailColumns). */
type DetailRow = ReadStateRow & { people: unknown; contacts: unknown };

/** The columns of DetailRow, for `user`. */
function detailColumns(db: Db, user: User) {
  return [...listColumns(db), ...readStateColumns(db, user.id)] as const;
}

/**
 * The list items of `rows`. Their people, contacts and read state come with the rows when the page's query read them
 * (detailColumns: pageById's, bounded to the page's ids), else from ONE statement over the page's ids (issue 18: five
 * statements before; on PostgreSQL each round trip cost the server's event loop ~0.3 ms of socket writes here). Not
 * columns of a query that is sorted after it is read (a thread): SQLite would compute them for every row it sorts.
 */
async function summaries(db: Db, user: User, rows: Array<SummaryRow & Partial<DetailRow>>): Promise<MessageSummary[]> {
  if (rows.length === 0) return [];
  const details = new Map<string, DetailRow>();
  const missing: string[] = [];
  for (const row of rows) {
    if (row.read_sent === undefined) missing.push(row.id);
    else details.set(row.id, row as DetailRow);
  }
  if (missing.length > 0)
    for (const detail of await db
      .selectFrom('messages')
      .select(['messages.id', ...detailColumns(db, user)])
      .where('messages.id', 'in', missing)
      .execute())
      details.set(detail.id, detail);
  return rows.map((row) => {
    const detail = details.get(row.id);
    const people = jsonList<[string, string, string | null]>(detail?.people);
    const of = (role: string) =>
      people.filter(([r]) => r === role).map(([, address, name]) => ({ address, ...(name ? { name } : {}) }));
    const read = detail ? readOf(detail) : false;
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
      contactIds: jsonList<string>(detail?.contacts),
      hasAttachments: row.has_attachments === 1,
      bounced: row.bounced === 1,
      read,
      unread: !read,
    };
  });
}

/** Cursor over (date, id), newest first. */
function pageCursor(row: { date: number; id: string }): string {
  return encodeCursor(`${row.date}|${row.id}`);
}

/**
 * The rows of `table` (whose `date` and `message_id` are its messages') after the cursor's, newest first: older, or
 * as old with a smaller id.
 */
function pastCursor(table: 'message_holders' | 'message_contacts', cursor: string): RawBuilder<SqlBool> {
  const c = readPageCursor(cursor);
  const date = sql.ref(`${table}.date`);
  return sql<SqlBool>`(${date} < ${c.date} OR (${date} = ${c.date} AND ${sql.ref(`${table}.message_id`)} < ${c.id}))`;
}

function readPageCursor(cursor: string): { date: number; id: string } {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const [date, id] = raw.split('|');
  if (!date || !id || !/^\d+$/.test(date)) return { date: 0, id: decodeCursor(cursor) };
  return { date: Number(date), id };
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
  if (options.q?.trim()) {
    await assertContactInOrg(db, user.orgId, contactId);
    // A search is driven by the contact's messages, each tested against the index (searchPage's contactId scope);
    // the contact's condition stays in the query as well.
    const matches = baseQuery(db, user).where((eb) =>
      eb.exists(
        eb
          .selectFrom('message_contacts')
          .select('message_contacts.message_id')
          .whereRef('message_contacts.message_id', '=', 'messages.id')
          .where('message_contacts.contact_id', '=', contactId),
      ),
    );
    // The details are computed for the page's rows only (searchPage reads its candidates without them).
    return searchPage(
      db,
      matches.select(detailColumns(db, user)),
      options.q,
      options,
      (rows) => summaries(db, user, rows),
      {
        contactId,
      },
    );
  }
  // The contact's own links newest first (message_contacts_contact_date_idx: each carries its message's date,
  // migration 0033), each asked the visibility rule, until the page is full: a contact with thousands of messages
  // costs a page, not a sort of all of them.
  let links = db
    .selectFrom('message_contacts')
    .innerJoin('messages', 'messages.id', 'message_contacts.message_id')
    .select(['message_contacts.date', 'message_contacts.message_id'])
    .where('message_contacts.contact_id', '=', contactId)
    .where(visibleTo(user));
  if (options.cursor) links = links.where(pastCursor('message_contacts', options.cursor));
  const result = await pageById(
    db,
    user,
    links.orderBy('message_contacts.date', 'desc').orderBy('message_contacts.message_id', 'desc'),
    options.limit,
  );
  // An empty page may be a contact of another organisation: that is a 404, not an empty timeline. A page with mail
  // proves the contact (its links are to the caller's organisation's visible mail).
  if (result.items.length === 0) await assertContactInOrg(db, user.orgId, contactId);
  return result;
}

/**
 * Rows a page's statement reads, at least one past the page: written into its text (a LIMIT parameter's kept plan
 * is PostgreSQL's guess for any limit: 7 ms against 3 for the inbox's), so only a few sizes, each its own kept plan.
 */
const PAGE_READS = [11, 26, 51, 101, 201];

function pageRead(limit: number): number {
  return PAGE_READS.find((n) => n > limit) ?? limit + 1;
}

/**
 * A page of messages whose ids, newest first, `ordered` lists (its `message_id` column, ordered by date and id, at
 * most one row per message): ONE statement reads the page's rows with their details (detailColumns, computed for
 * the page's rows only since the ids bound them) — each round trip cost the server's event loop ~0.3 ms on
 * PostgreSQL here (issue 18) — `prepared` (its text depends on the query's shape and PAGE_READS, not on the values):
 * PostgreSQL keeps a contact's timeline's plan after five runs (7.3 → 4.4 ms per page in process at 744,500
 * messages). The inbox's it would plan on every request (1.2–2.8 ms at 680,000 messages, for ~3 ms of running: it
 * estimates its kept plan dearer, though it runs the same), so the inbox runs it inside withKeptPlans (two more
 * round trips, no planning). One row past the page tells whether there is a next one.
 */
async function pageById<TB extends keyof Database>(
  db: Db,
  user: User,
  ordered: SelectQueryBuilder<Database, TB, { date: number; message_id: string }>,
  limit: number,
): Promise<Page<MessageSummary>> {
  const rows = (await baseQuery(db, user)
    .modifyFront(prepared)
    .select(detailColumns(db, user))
    .where(
      'messages.id',
      'in',
      db.selectFrom(ordered.limit(sql.lit(pageRead(limit))).as('page')).select('page.message_id'),
    )
    .orderBy('messages.date', 'desc')
    .orderBy('messages.id', 'desc')
    .execute()) as Array<SummaryRow & DetailRow>;
  const items = rows.slice(0, limit);
  return {
    items: await summaries(db, user, items),
    nextCursor: rows.length > limit ? pageCursor(items[items.length - 1]!) : null,
  };
}

/**
 * The inbox's holder rows: received mail in the caller's own mailboxes (or one of them), as those mailboxes see it.
 * Each row carries its message's date (migration 0025), so the index on (user_id, direction, date, message_id)
 * hands them out newest first.
 */
function inboxHolders(db: Db, user: User, accountId?: string) {
  return (
    db
      .selectFrom('message_holders')
      .where('message_holders.user_id', '=', user.id)
      .where('message_holders.account_id', 'is not', null)
      // Incoming as the caller's own mailbox sees it: a colleague's sent mail is this inbox's received mail.
      .where('message_holders.direction', '=', 'incoming')
      .$if(accountId !== undefined, (qb) => qb.where('message_holders.account_id', '=', accountId!))
  );
}

/**
 * One inbox page without a search: the page's ids come from the caller's holder rows in index order (one row per
 * message and mailbox, so DISTINCT for mail both of the caller's mailboxes hold) and their messages, still under the
 * visibility rule, come in the same statement (pageById). Its cost is the page's, whatever its depth and the
 * organisation's size.
 */
async function inboxPage(
  db: Db,
  user: User,
  options: { accountId?: string; limit: number; cursor?: string },
): Promise<Page<MessageSummary>> {
  let holders = inboxHolders(db, user, options.accountId)
    .select(['message_holders.date', 'message_holders.message_id'])
    .distinct();
  if (options.cursor) holders = holders.where(pastCursor('message_holders', options.cursor));
  // Its one statement with its plan kept (pageById: PostgreSQL would plan it on every request).
  return withKeptPlans(db, (conn) =>
    pageById(
      conn,
      user,
      holders.orderBy('message_holders.date', 'desc').orderBy('message_holders.message_id', 'desc'),
      options.limit,
    ),
  );
}

/**
 * The inbox's condition tested per message, for a query driven by something else: a search (the full-text index's
 * matches) or the badge (its unread candidates). With the holder rows as an `IN (…)` list instead, SQLite ran the
 * index's MATCH once per holder row (issue 18: one search of a common word took 199 s at 428,000 messages).
 */
function inInbox(eb: ExpressionBuilder<Database, 'messages'>, user: User, accountId?: string) {
  return eb.exists(
    eb
      .selectFrom('message_holders')
      .select('message_holders.id')
      .whereRef('message_holders.message_id', '=', 'messages.id')
      .where('message_holders.user_id', '=', user.id)
      .where('message_holders.account_id', 'is not', null)
      .where('message_holders.direction', '=', 'incoming')
      .$if(accountId !== undefined, (qb) => qb.where('message_holders.account_id', '=', accountId!)),
  );
}

/** The inbox's condition for a search (narrowed first by the inbox's view token in the index, see inbox). */
function inboxSearchQuery(db: Db, user: User, accountId?: string) {
  return baseQuery(db, user).where((eb) => inInbox(eb, user, accountId));
}

/** Received mail in the caller's own mailboxes (or one of them), newest first. */
export async function inbox(
  db: Db,
  user: User,
  options: { accountId?: string; q?: string; limit: number; cursor?: string },
): Promise<Page<MessageSummary>> {
  if (!options.q?.trim()) return inboxPage(db, user, options);
  // `q`: full-text search of subject, people, attachment names and body (search-messages.ts).
  // The index's inbox view token narrows the match in the engine; inboxSearchQuery's condition still decides.
  const viewToken = inboxViewToken(
    options.accountId !== undefined ? { accountId: options.accountId } : { userId: user.id },
  );
  return searchPage(
    db,
    // The details are computed for the page's rows only (searchPage reads its candidates without them).
    inboxSearchQuery(db, user, options.accountId).select(detailColumns(db, user)),
    options.q,
    options,
    (rows) => summaries(db, user, rows),
    { viewToken },
  );
}

/**
 * The badge counts this far and no further: it shows "99+" beyond (as most apps' badges do; the exact number of
 * hundreds of unread messages tells the user nothing the inbox doesn't), and a count costs what it counts: at 1,000
 * it tested 1,000 messages against the read rule on every badge refresh (issue 18: 350 ms p95 on PostgreSQL at 1M).
 */
export const UNREAD_COUNT_CAP = 100;

/**
 * How many messages of the inbox view are unread for the caller (the navigation's badge), up to `cap` (the route's
 * is UNREAD_COUNT_CAP; tests count further to compare the whole rule).
 * Driven by the unread side (unreadCandidates: unseen own copies, "unread" marks, held mail without an own copy, each
 * from an index), each candidate then tested against the inbox and the whole rule (unreadFor), so the badge and the
 * list's `read` never disagree. Walking the inbox's holder rows instead tested the rule on ~3,000 messages per request
 * with 70% read mail (issue 18: p95 342 ms at 428,500 messages); see bench/README.md, "Data scale".
 */
export async function unreadCount(db: Db, user: User, cap = UNREAD_COUNT_CAP): Promise<number> {
  // PostgreSQL planned this statement (the read rule's dozen probes) anew for every user, ~4.5 ms for ~7 ms of
  // running at 574,000 messages: the plan it would keep looked dearer to it, although it runs as fast (measured for
  // 20 users: 7.0 ms both ways). Kept, it is planned once per connection (0.1 ms after).
  return withKeptPlans(db, (conn) => countUnread(conn, user, cap));
}

async function countUnread(db: Db, user: User, cap: number): Promise<number> {
  // The candidates drive, each message then tested against the inbox, the visibility rule and the read rule, and
  // LIMIT stops the tests once the cap is reached. SQLite (the second form) streams them through DISTINCT; its CROSS
  // JOIN keeps this join order (left to right): it chose the organisation's mail with the candidates as an automatic
  // index (1.3 s at 200,000).
  const unread = isPostgres(db)
    ? // PostgreSQL: each candidate once (unreadCandidates' `once`), so no DISTINCT and no hash of them all stands
      // between the candidates and the LIMIT (both read every candidate first: 447 and 190 ms p95 at 893,000 and
      // 676,500 messages). LATERAL keeps the candidates outside (a join let the planner walk the messages and
      // read the candidates again for each one).
      db
        .selectFrom(unreadCandidates(db, user.id, inboxHolders(db, user), { once: true }).as('candidate'))
        .innerJoinLateral(
          (eb) =>
            eb
              .selectFrom('messages')
              .select('messages.id')
              .whereRef('messages.id', '=', 'candidate.message_id')
              .where(visibleTo(user))
              .where((eb) => inInbox(eb, user))
              .where(unreadFor(db, user.id))
              .as('unread_message'),
          (join) => join.onTrue(),
        )
        .select('unread_message.id')
        .limit(cap)
    : db
        .selectFrom(unreadCandidates(db, user.id, inboxHolders(db, user)).as('candidate'))
        .crossJoin('messages')
        .whereRef('messages.id', '=', 'candidate.message_id')
        .select('messages.id')
        .distinct()
        .where(visibleTo(user))
        .where((eb) => inInbox(eb, user))
        .where(unreadFor(db, user.id))
        .limit(cap);
  // Prepared: on PostgreSQL its plan is kept per connection (unreadCount).
  const row = await db
    .selectFrom(unread.as('unread'))
    .modifyFront(prepared)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
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
