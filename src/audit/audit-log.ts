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

export interface AuditQuery {
  action?: AuditAction;
  actorId?: string;
  /** Entries at or after this time (ms). */
  since?: number;
  /** The cursor: entries older than this entry id, or (a time in ms) older than this instant. */
  before?: { id: string } | { at: number };
  limit: number;
}

export interface AuditEntry {
  id: string;
  at: number;
  actorId: string | null;
  /** The actor's display name or address, as it is now; null for the system, the command line or a removed user. */
  actorName: string | null;
  action: string;
  target: string | null;
  details: Record<string, unknown> | null;
  ip: string | null;
}

/** One organisation's entries and the install-wide ones (org null), newest first; `nextBefore` is the id to pass as `before` for the next page. */
export async function listAuditLog(
  db: Db,
  orgId: string,
  query: AuditQuery,
): Promise<{ items: AuditEntry[]; nextBefore: string | null }> {
  let select = db
    .selectFrom('audit_log')
    .leftJoin('users', 'users.id', 'audit_log.actor_id')
    .select([
      'audit_log.id',
      'audit_log.at',
      'audit_log.actor_id',
      'audit_log.action',
      'audit_log.target',
      'audit_log.details_json',
      'audit_log.ip',
      'users.display_name',
      'users.email',
    ])
    // The organisation's own entries and the install-wide ones (backups, restores from the command line, no org).
    .where((eb) => eb.or([eb('audit_log.org_id', '=', orgId), eb('audit_log.org_id', 'is', null)]));
  if (query.action) select = select.where('audit_log.action', '=', query.action);
  if (query.actorId) select = select.where('audit_log.actor_id', '=', query.actorId);
  if (query.since !== undefined) select = select.where('audit_log.at', '>=', query.since);
  const before = query.before;
  if (before && 'id' in before) select = select.where('audit_log.id', '<', before.id);
  if (before && 'at' in before) select = select.where('audit_log.at', '<', before.at);
  // Ids are time-ordered (UUIDv7), so the id alone orders and pages the log.
  const rows = await select
    .orderBy('audit_log.id', 'desc')
    .limit(query.limit + 1)
    .execute();
  const page = rows.slice(0, query.limit);
  return {
    items: page.map((row) => ({
      id: row.id,
      at: Number(row.at),
      actorId: row.actor_id,
      actorName: row.actor_id ? (row.display_name ?? row.email ?? null) : null,
      action: row.action,
      target: row.target,
      details: row.details_json ? (JSON.parse(row.details_json) as Record<string, unknown>) : null,
      ip: row.ip,
    })),
    nextBefore: rows.length > query.limit ? page[page.length - 1]!.id : null,
  };
}
