// Records security-relevant actions (issue 19): sign-ins, mailboxes, users and roles, tokens, settings, exports,
// erasures, backups. One insert per action, where the action succeeded; never a password, token or message content in
// `details`. Reading is for administrators (GET /api/audit-log); nothing changes or removes a row.
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';

/** Every action the log knows; a closed list so the web app can name each one in both languages. */
export const AUDIT_ACTIONS = [
  'auth.sign_in',
  'auth.sign_in_failed',
  'auth.sign_out',
  'mailbox.connected',
  'mailbox.changed',
  'mailbox.deleted',
  'mailbox.smtp_mode',
  'user.invited',
  'user.invitation_accepted',
  'user.role_changed',
  'user.deactivated',
  'user.reactivated',
  'user.password_changed',
  'token.created',
  'token.revoked',
  'settings.changed',
  'org.plan_changed',
  'contact.exported',
  'contact.erased',
  'backup.created',
  'backup.restored',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntryInput {
  /** Null only for what happens outside any organisation (the command line on an empty install). */
  orgId: string | null;
  /** The user who acted; null for the system or the command line. */
  actorId: string | null;
  action: AuditAction;
  /** What was acted on, as "kind:id" (e.g. "mailbox:…", "user:…", "contact:…"). */
  target?: string | null;
  /** Small, non-secret facts (a role, a mode, counts); never passwords, tokens or mail content. */
  details?: Record<string, unknown>;
  ip?: string | null;
}

export async function recordAudit(db: Db, entry: AuditEntryInput): Promise<void> {
  const at = Date.now();
  await db
    .insertInto('audit_log')
    .values({
      id: newId(at),
      org_id: entry.orgId,
      at,
      actor_id: entry.actorId,
      action: entry.action,
      target: entry.target ?? null,
      details_json: entry.details ? JSON.stringify(entry.details) : null,
      ip: entry.ip ?? null,
    })
    .execute();
}
