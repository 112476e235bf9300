// Where merge-field values come from: a contact of the organisation (chosen by id, or found by the address a
// message goes to) and the user who writes. Contacts belong to the whole organisation, so any contact of the
// caller's organisation may be used; another organisation's is "not found".
import { getContact } from '../contacts/contacts.js';
import { normalizeEmail } from '../contacts/email-address.js';
import type { Db } from '../storage/database.js';
import { renderMergeFields, type MergeFieldName, type MergeValues } from './merge-fields.js';

export interface MergeWriter {
  id: string;
  orgId: string;
  displayName: string | null;
}

export interface MergeSource {
  values: MergeValues;
  /** Whose values these are, for messages: "Ana Souza", "ana@example.com", or "this message (no contact)". */
  label: string;
  contactId: string | null;
}

/** The values for `contactId`, else for the contact holding `address`, else the writer's alone. */
export async function mergeSourceFor(
  db: Db,
  writer: MergeWriter,
  target: { contactId?: string | null | undefined; address?: string | null | undefined },
): Promise<MergeSource> {
  let contactId = target.contactId ?? null;
  if (!contactId && target.address) {
    const row = await db
      .selectFrom('contact_addresses')
      .select('contact_id')
      .where('org_id', '=', writer.orgId)
      .where('address', '=', normalizeEmail(target.address))
      .executeTakeFirst();
    contactId = row?.contact_id ?? null;
  }
  const userValues: MergeValues = { 'user.name': writer.displayName };
  if (!contactId) {
    const label = target.address ? `${normalizeEmail(target.address)} (not a contact)` : 'no contact';
    return { values: userValues, label, contactId: null };
  }
  // getContact answers 404 for an id outside the caller's organisation.
  const contact = await getContact(db, writer.orgId, contactId);
  const name = [contact.firstName, contact.lastName].filter((part) => part?.trim()).join(' ');
  return {
    values: {
      ...userValues,
      'contact.firstName': contact.firstName,
      'contact.lastName': contact.lastName,
      'contact.company': contact.company,
    },
    label: name || contact.emails[0] || 'the contact',
    contactId: contact.id,
  };
}

export interface RenderedMessage {
  subject: string;
  html: string;
  /** Fields with no value and no fallback, each once (their references are left as written). */
  missing: MergeFieldName[];
}

/** A subject (plain) and HTML (values escaped) rendered with one source. Unknown fields throw. */
export function renderSubjectAndHtml(subject: string, html: string, source: MergeSource): RenderedMessage {
  const s = renderMergeFields(subject, source.values, 'plain');
  const h = renderMergeFields(html, source.values, 'html');
  return { subject: s.text, html: h.text, missing: [...new Set([...s.missing, ...h.missing])] };
}
