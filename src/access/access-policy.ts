// Who may see, use, change or remove a mailbox, and who may read a message or a meeting: decided here, once,
// and asked by every route and worker. Before, six places each had a rule of their own.
//
// Mailboxes: the owner does everything; an administrator may see and remove any mailbox of the organisation but
// never uses it (no sending as a colleague, no reading its credentials) nor changes its connection. A mailbox the
// caller may not touch is "not found", never "forbidden": its existence is not revealed.
// Messages: readable when a mailbox that brought the message in (message_holders) is shared with the organisation
// or is the reader's own — never from a flag a later copy of the message can set.
// Meetings: visible unless they came from another user's private mailbox.
import type { ExpressionBuilder } from 'kysely';
import { notFound } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { Database, EmailAccountsTable } from '../storage/schema.js';

/** The caller, as far as access is concerned. */
export interface Actor {
  id: string;
  orgId: string;
  isAdmin: boolean;
}

/** see: its settings and health; use: sync, send, calendar, meetings; change: its connection and settings; remove. */
export type MailboxAction = 'see' | 'use' | 'change' | 'remove';

export function mayOnMailbox(
  actor: Actor,
  mailbox: Pick<EmailAccountsTable, 'org_id' | 'user_id'>,
  action: MailboxAction,
): boolean {
  if (mailbox.org_id !== actor.orgId) return false;
  if (mailbox.user_id === actor.id) return true;
  return actor.isAdmin && (action === 'see' || action === 'remove');
}

/** The mailbox `id` when `actor` may do `action` on it; NOT_FOUND otherwise (also for another organisation's). */
export async function mailboxFor(db: Db, actor: Actor, id: string, action: MailboxAction): Promise<EmailAccountsTable> {
  const row = await db
    .selectFrom('email_accounts')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', actor.orgId)
    .executeTakeFirst();
  if (!row || !mayOnMailbox(actor, row, action)) throw notFound('E-mail account');
  return row;
}

/** The message-reading rule, as a WHERE condition on `messages`. */
export function messageVisibleTo(actor: Actor) {
  return (eb: ExpressionBuilder<Database, 'messages'>) =>
    eb.and([
      eb('messages.org_id', '=', actor.orgId),
      eb.exists(
        eb
          .selectFrom('message_holders')
          .select('message_holders.id')
          .whereRef('message_holders.message_id', '=', 'messages.id')
          .where((h) => h.or([h('message_holders.shared', '=', 1), h('message_holders.user_id', '=', actor.id)])),
      ),
    ]);
}

/** The meeting-reading rule, as a WHERE condition on `meetings` left-joined with their `email_accounts`. */
export function meetingVisibleTo(actor: Actor) {
  return (eb: ExpressionBuilder<Database & { email_accounts: EmailAccountsTable }, 'meetings' | 'email_accounts'>) =>
    eb.and([
      eb('meetings.org_id', '=', actor.orgId),
      eb.or([
        eb('meetings.account_id', 'is', null),
        eb('email_accounts.visibility', '=', 'shared'),
        eb('email_accounts.user_id', '=', actor.id),
      ]),
    ]);
}

/** Visible (shared, or the reader's own) — the meeting rule for one already loaded mailbox. */
export function mayReadFromMailbox(
  actor: Actor,
  mailbox: Pick<EmailAccountsTable, 'org_id' | 'user_id' | 'visibility'>,
): boolean {
  return mailbox.org_id === actor.orgId && (mailbox.visibility === 'shared' || mailbox.user_id === actor.id);
}
