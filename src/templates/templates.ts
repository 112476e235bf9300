// Templates: a saved name, subject and HTML with merge fields (merge-fields.ts). A personal template is its owner's
// alone; a shared one is read by the whole organisation and only administrators create, change or remove it. What
// the caller may not read is "not found" (its existence is not revealed); a shared one a member may read but not
// change is "forbidden". The HTML arrives here already sanitised by the caller (template-routes.ts passes the
// sanitiser of src/mail/mime, a floor above this one) so every stored copy is safe to hand to a colleague.
import { AppError, notFound } from '../core/app-error.js';
import type { Actor } from '../access/access-policy.js';
import type { Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import type { TemplatesTable } from '../storage/schema.js';
import { storableText } from '../storage/storable-text.js';
import { assertKnownMergeFields } from './merge-fields.js';

export const TEMPLATE_NAME_MAX = 200;
/** RFC 5322's longest line. */
export const TEMPLATE_SUBJECT_MAX = 998;
/** UTF-8 bytes of the HTML. */
export const TEMPLATE_HTML_MAX_BYTES = 512 * 1024;
/** Templates one user may own (personal and shared together). */
export const TEMPLATES_PER_USER_MAX = 500;

export interface Template {
  id: string;
  name: string;
  subject: string;
  html: string;
  shared: boolean;
  ownerUserId: string;
  /** Whether the caller may change and remove it. */
  editable: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface TemplateInput {
  name: string;
  subject: string;
  html: string;
  shared?: boolean | undefined;
}

/** Makes stored HTML safe for colleagues (sanitize-html's allow-list for authored mail). */
export type SanitizeHtml = (html: string) => string;

function mayChange(actor: Actor, row: Pick<TemplatesTable, 'shared' | 'owner_user_id'>): boolean {
  return row.shared === 1 ? actor.isAdmin : row.owner_user_id === actor.id;
}

function toTemplate(actor: Actor, row: TemplatesTable): Template {
  return {
    id: row.id,
    name: row.name,
    subject: row.subject,
    html: row.html,
    shared: row.shared === 1,
    ownerUserId: row.owner_user_id,
    editable: mayChange(actor, row),
    createdAt: new Date(Number(row.created_at)).toISOString(),
    updatedAt: new Date(Number(row.updated_at)).toISOString(),
  };
}

function forbiddenShared(): AppError {
  return new AppError('FORBIDDEN', 'Only an administrator can create, change or remove a shared template', {
    fields: [{ path: 'body.shared', message: 'shared templates are managed by administrators' }],
  });
}

/** The template when the caller may read it: their own, or one shared in their organisation; 404 otherwise. */
async function readableRow(db: Db, actor: Actor, id: string): Promise<TemplatesTable> {
  const row = await db
    .selectFrom('templates')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', actor.orgId)
    .where((eb) => eb.or([eb('shared', '=', 1), eb('owner_user_id', '=', actor.id)]))
    .executeTakeFirst();
  if (!row) throw notFound('Template');
  return row;
}

/** The caller's personal templates and the organisation's shared ones, by name. */
export async function listTemplates(db: Db, actor: Actor): Promise<Template[]> {
  const rows = await db
    .selectFrom('templates')
    .selectAll()
    .where('org_id', '=', actor.orgId)
    .where((eb) => eb.or([eb('shared', '=', 1), eb('owner_user_id', '=', actor.id)]))
    .execute();
  return rows
    .map((row) => toTemplate(actor, row))
    .sort((a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' }) || a.id.localeCompare(b.id));
}

export async function getTemplate(db: Db, actor: Actor, id: string): Promise<Template> {
  return toTemplate(actor, await readableRow(db, actor, id));
}

function clean(input: { subject?: string | undefined; html?: string | undefined }, sanitize: SanitizeHtml) {
  const html = input.html === undefined ? undefined : storableText(sanitize(input.html));
  const subject = input.subject === undefined ? undefined : storableText(input.subject);
  // Checked on what is stored: a template that names a field which does not exist is refused when written, not
  // when a colleague tries to send it.
  assertKnownMergeFields(subject ?? '', html ?? '');
  return { subject, html };
}

export async function createTemplate(
  db: Db,
  actor: Actor,
  input: TemplateInput,
  sanitize: SanitizeHtml,
): Promise<Template> {
  if (input.shared && !actor.isAdmin) throw forbiddenShared();
  const { subject, html } = clean(input, sanitize);
  const owned = await db
    .selectFrom('templates')
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('owner_user_id', '=', actor.id)
    .executeTakeFirstOrThrow();
  if (Number(owned.n) >= TEMPLATES_PER_USER_MAX) {
    throw new AppError('CONFLICT', `You already have ${TEMPLATES_PER_USER_MAX} templates, the most one user can have`, {
      hint: 'Remove templates you no longer use.',
      details: { limit: TEMPLATES_PER_USER_MAX },
    });
  }
  const now = Date.now();
  const row: TemplatesTable = {
    id: newId(now),
    org_id: actor.orgId,
    owner_user_id: actor.id,
    shared: input.shared ? 1 : 0,
    name: storableText(input.name.trim()),
    subject: subject ?? '',
    html: html ?? '',
    created_at: now,
    updated_at: now,
  };
  await db.insertInto('templates').values(row).execute();
  return toTemplate(actor, row);
}

/** The template when the caller may change it: 404 when they may not read it, 403 when it is shared and they are no admin. */
async function changeableRow(db: Db, actor: Actor, id: string): Promise<TemplatesTable> {
  const row = await readableRow(db, actor, id);
  if (!mayChange(actor, row)) throw forbiddenShared();
  return row;
}

/**
 * Changes what is given. Sharing needs an administrator; an administrator who makes a shared template personal
 * takes it as their own (it leaves everyone else's list, so it must land in someone's: the one who asked).
 */
export async function updateTemplate(
  db: Db,
  actor: Actor,
  id: string,
  patch: Partial<TemplateInput>,
  sanitize: SanitizeHtml,
): Promise<Template> {
  const row = await changeableRow(db, actor, id);
  if (patch.shared === true && row.shared === 0 && !actor.isAdmin) throw forbiddenShared();
  const { subject, html } = clean(patch, sanitize);
  const shared = patch.shared === undefined ? row.shared : patch.shared ? 1 : 0;
  const next: TemplatesTable = {
    ...row,
    name: patch.name === undefined ? row.name : storableText(patch.name.trim()),
    subject: subject ?? row.subject,
    html: html ?? row.html,
    shared,
    owner_user_id: row.shared === 1 && shared === 0 ? actor.id : row.owner_user_id,
    updated_at: Date.now(),
  };
  await db
    .updateTable('templates')
    .set({
      name: next.name,
      subject: next.subject,
      html: next.html,
      shared: next.shared,
      owner_user_id: next.owner_user_id,
      updated_at: next.updated_at,
    })
    .where('id', '=', row.id)
    .execute();
  return toTemplate(actor, next);
}

export async function deleteTemplate(db: Db, actor: Actor, id: string): Promise<void> {
  const row = await changeableRow(db, actor, id);
  await db.deleteFrom('templates').where('id', '=', row.id).execute();
}
