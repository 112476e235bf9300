// Read state per user. A message in one of the user's OWN mailboxes is read when a live copy of it there has
// \Seen (message_locations.seen, which the sync keeps up to date from the server's flags); marking it read or
// unread here sets those copies at once and queues the \Seen change for the mail server (flag_writes), which the
// process holding the mailbox's lease writes back. A message the user sees only through a colleague's shared
// mailbox gets a mark of the user's own (message_reads): the colleague's mailbox is never touched. In order:
// live copies in the user's mailboxes, else the user's own mark, else the last state of copies since removed from
// the user's mailboxes, else read when sent from the CRM or by the user, else unread.
//
// Rule for a pending write against the server's state: the wish in flag_writes wins until it is written. A pass
// that reads older flags from the server in between (the sync's CONDSTORE step) leaves `seen` alone for a location
// with a pending wish; once written, the server's flags are the truth again.
import { sql, type Expression, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { notFound } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';
import { newId } from '../storage/ids.js';
import { isPostgres } from '../storage/search-index.js';
import { messageVisibleTo, type Actor } from '../access/access-policy.js';
import { publishLiveEvent } from '../live/live-events.js';

/**
 * 1 when the message was sent from the CRM or by `userId` (a mailbox of the user's holds it as outgoing), else 0: the
 * last rule of the read state.
 */
function sentByUser(userId: string): RawBuilder<number> {
  return sql<number>`CASE WHEN messages.source = 'crm' OR EXISTS (SELECT 1 FROM message_holders h
    WHERE h.message_id = messages.id AND h.user_id = ${userId} AND h.direction = 'outgoing') THEN 1 ELSE 0 END`;
}

/** What readOf needs of a message row: its read state's inputs for one user (readStateColumns). */
export interface ReadStateRow {
  /** 1 when a live copy in the user's mailboxes has \Seen, 0 when none of them has, null without a live copy. */
  read_live: number | string | null;
  /** The user's own mark (message_reads), null without one. */
  read_mark: number | string | null;
  /** As read_live, for copies since removed from the user's mailboxes. */
  read_gone: number | string | null;
  /** sentByUser. */
  read_sent: number | string;
}

/**
 * `l.account_id` is one of `userId`'s mailboxes, the list computed once per statement, so that each probe of a message's
 * copies is one read of migration 0027's index. SQLite builds the IN list once; PostgreSQL plans an IN (SELECT …) inside
 * a correlated subquery as a join per outer row (a scan of email_accounts per message and rule: most of the unread
 * badge's time at 893,000 messages), so there it is an array, an InitPlan evaluated once.
 */
function inOwnAccounts(db: Db, userId: string): RawBuilder<SqlBool> {
  const accounts = sql`SELECT a.id FROM email_accounts a WHERE a.user_id = ${userId}`;
  return isPostgres(db) ? sql`l.account_id = ANY (ARRAY(${accounts}))` : sql`l.account_id IN (${accounts})`;
}

/**
 * The read state's inputs as columns of a `messages` row for `userId`, so that a list reads them with its rows: one
 * statement per page, not three more (issue 18: each round trip to PostgreSQL cost the server's event loop ~0.3 ms of
 * socket writes here). readOf applies the rule to them.
 */
export function readStateColumns(db: Db, userId: string) {
  const own = (live: boolean) => sql<number | null>`(SELECT MAX(l.seen) FROM message_locations l
    WHERE l.message_id = messages.id AND ${inOwnAccounts(db, userId)}
    AND l.removed_at IS ${live ? sql`NULL` : sql`NOT NULL`})`;
  return [
    own(true).as('read_live'),
    sql<number | null>`(SELECT MAX(r.read) FROM message_reads r WHERE r.message_id = messages.id
      AND r.user_id = ${userId})`.as('read_mark'),
    own(false).as('read_gone'),
    sentByUser(userId).as('read_sent'),
  ] as const;
}

/** The rule of the module comment, from readStateColumns. */
export function readOf(row: ReadStateRow): boolean {
  const flag = (value: number | string | null) => (value === null ? undefined : Number(value) === 1);
  return flag(row.read_live) ?? flag(row.read_mark) ?? flag(row.read_gone) ?? Number(row.read_sent) === 1;
}

/**
 * The same rule as readOf, as a WHERE condition on `messages`: true when the message is unread for `userId`.
 * Used by the unread count, so the count and the list's `read` never disagree.
 */
export function unreadFor(db: Db, userId: string): Expression<SqlBool> {
  const own = (live: boolean) => sql`SELECT 1 FROM message_locations l
    WHERE l.message_id = messages.id AND ${inOwnAccounts(db, userId)}
    AND l.removed_at IS ${live ? sql`NULL` : sql`NOT NULL`}`;
  const mark = sql`SELECT 1 FROM message_reads r WHERE r.message_id = messages.id AND r.user_id = ${userId}`;
  return sql<SqlBool>`(
    (EXISTS (${own(true)}) AND NOT EXISTS (${own(true)} AND l.seen = 1))
    OR (NOT EXISTS (${own(true)}) AND (
      EXISTS (${mark} AND r.read = 0)
      OR (NOT EXISTS (${mark}) AND (
        (EXISTS (${own(false)}) AND NOT EXISTS (${own(false)} AND l.seen = 1))
        OR (NOT EXISTS (${own(false)}) AND messages.source <> 'crm'
          AND NOT EXISTS (SELECT 1 FROM message_holders h WHERE h.message_id = messages.id AND h.user_id = ${userId}
            AND h.direction = 'outgoing'))
      ))
    ))
  )`;
}

/**
 * Every message that CAN be unread for `userId` by the rule above, among those `holders` (the user's holder rows of a
 * view, e.g. the inbox) hold, each kind read from an index instead of testing the rule on every held message (issue
 * 18: the badge tested ~3,000 messages per request, 70% of them read). Unread needs one of: an own copy without \Seen
 * (live, or since removed: migration 0027's index), an own mark "unread", or no own copy at all (a held message that
 * never had one, or whose copies were forgotten at a UIDVALIDITY change). A superset; UNION ALL, the kind most likely
 * unread first, so that a LIMIT stops the read early (the last kind walks the held rows: one index probe each).
 *
 * A message may come more than once (two unseen copies, an own copy and a mark, two of the user's mailboxes holding
 * it): apply unreadFor and DISTINCT. Or ask for `once`, and each message comes at most once, from the first kind
 * that has it (its first unseen copy by id; a mark only without an unseen copy; a held row only without a copy or an
 * "unread" mark, and only the first of `holders`' rows for it):
 * for PostgreSQL, whose DISTINCT (a hash or a sort) reads every candidate before a LIMIT can stop it, and whose
 * `IN (candidates)` hashes them all — the badge's 190 ms p95 at 676,500 messages. Each test is one index probe.
 */
export function unreadCandidates(
  db: Db,
  userId: string,
  holders: SelectQueryBuilder<Database, 'message_holders', object>,
  options: { once?: boolean } = {},
) {
  const once = options.once === true;
  const ownAccounts = db
    .selectFrom('email_accounts')
    .select('email_accounts.id')
    .where('email_accounts.user_id', '=', userId);
  return db
    .selectFrom('message_locations')
    .select('message_locations.message_id')
    .where('message_locations.account_id', 'in', ownAccounts)
    .where('message_locations.seen', '=', 0)
    .$if(once, (qb) =>
      qb.where(
        sql<SqlBool>`NOT EXISTS (SELECT 1 FROM message_locations l
          WHERE l.message_id = message_locations.message_id AND ${inOwnAccounts(db, userId)} AND l.seen = 0
          AND l.id < message_locations.id)`,
      ),
    )
    .unionAll(
      db
        .selectFrom('message_reads')
        .select('message_reads.message_id')
        .where('message_reads.user_id', '=', userId)
        .where('message_reads.read', '=', 0)
        .$if(once, (qb) =>
          qb.where(
            sql<SqlBool>`NOT EXISTS (SELECT 1 FROM message_locations l
              WHERE l.message_id = message_reads.message_id AND ${inOwnAccounts(db, userId)} AND l.seen = 0)`,
          ),
        ),
    )
    .unionAll(
      holders
        .select('message_holders.message_id')
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom('message_locations')
                .select('message_locations.id')
                .whereRef('message_locations.message_id', '=', 'message_holders.message_id')
                .where('message_locations.account_id', 'in', ownAccounts),
            ),
          ),
        )
        .$if(once, (qb) =>
          qb
            .where(
              sql<SqlBool>`NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = message_holders.message_id
                AND r.user_id = ${userId} AND r.read = 0)`,
            )
            // Only the first of `holders`' own rows for the message: the same filter, so another view stays right.
            .where((eb) =>
              eb.not(
                eb.exists(
                  eb
                    .selectFrom(
                      holders
                        .select(['message_holders.id as id', 'message_holders.message_id as message_id'])
                        .as('earlier'),
                    )
                    .select('earlier.id')
                    .whereRef('earlier.message_id', '=', 'message_holders.message_id')
                    .whereRef('earlier.id', '<', 'message_holders.id'),
                ),
              ),
            ),
        ),
    );
}

export interface ReadChange {
  /** Accounts with \Seen writes queued: the process holding each one's lease should write them now. */
  accountIds: string[];
}

/**
 * Marks a message read or unread for `actor`. NOT_FOUND when the actor may not read it (another user's private
 * mail is "not found", never "forbidden").
 */
export async function setMessageRead(db: Db, actor: Actor, messageId: string, read: boolean): Promise<ReadChange> {
  const visible = await db
    .selectFrom('messages')
    .select('messages.id')
    .where(messageVisibleTo(actor))
    .where('messages.id', '=', messageId)
    .executeTakeFirst();
  if (!visible) throw notFound('Message');
  const seen = read ? 1 : 0;
  const now = Date.now();
  const accountIds = await db.transaction().execute(async (trx) => {
    const own = await trx
      .selectFrom('message_locations')
      .innerJoin('email_accounts', 'email_accounts.id', 'message_locations.account_id')
      .leftJoin('flag_writes', 'flag_writes.location_id', 'message_locations.id')
      .select([
        'message_locations.id',
        'message_locations.account_id',
        'message_locations.seen',
        'flag_writes.seen as pending',
      ])
      .where('message_locations.message_id', '=', messageId)
      .where('email_accounts.user_id', '=', actor.id)
      .where('message_locations.removed_at', 'is', null)
      .execute();
    if (own.length === 0) {
      // Seen only through someone else's mailbox (or filed without a copy in a mailbox): a mark of the user's own.
      await trx
        .insertInto('message_reads')
        .values({ user_id: actor.id, message_id: messageId, read: seen, updated_at: now })
        .onConflict((oc) => oc.columns(['user_id', 'message_id']).doUpdateSet({ read: seen, updated_at: now }))
        .execute();
      return [];
    }
    const changed = own.filter((l) => l.seen !== seen || (l.pending !== null && l.pending !== seen));
    for (const location of changed) {
      await trx.updateTable('message_locations').set({ seen }).where('id', '=', location.id).execute();
      await trx
        .insertInto('flag_writes')
        .values({
          id: newId(now),
          account_id: location.account_id,
          location_id: location.id,
          seen,
          request_id: newId(now),
          attempts: 0,
          next_attempt_at: null,
          last_error: null,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.column('location_id').doUpdateSet({
            seen,
            request_id: newId(now),
            attempts: 0,
            next_attempt_at: null,
            last_error: null,
            updated_at: now,
          }),
        )
        .execute();
    }
    return [...new Set(changed.map((l) => l.account_id))];
  });
  await publishLiveEvent(db, { orgId: actor.orgId, userId: actor.id, type: 'message.read', data: { messageId, read } });
  return { accountIds };
}
