// The limits of a contact's fields, in one place: the API's zod schemas (contact-routes.ts) and the CSV import
// (contact-csv.ts, contacts.ts) both check them, so a file can never store what the API would refuse.
import { z } from 'zod';
import type { ImportProblem } from './import-texts.js';

export const CONTACT_NAME_MAX = 200;
/** RFC 5321's longest path; longer is not an address. */
export const CONTACT_EMAIL_MAX = 320;
export const CONTACT_EMAILS_MAX = 50;

/** firstName, lastName, company. */
export const contactName = z.string().max(CONTACT_NAME_MAX).nullable().optional();
export const contactEmailList = z.array(z.string().max(CONTACT_EMAIL_MAX)).max(CONTACT_EMAILS_MAX);

/** One contact's fields as the API takes them (emails possibly empty: callers add `.min(1)` where needed). */
export const contactFields = z.strictObject({
  firstName: contactName,
  lastName: contactName,
  company: contactName,
  emails: contactEmailList,
});

/** What is wrong with a contact's fields, in words (and as a code) for a per-line import error; null when nothing is. */
export function contactFieldsProblem(fields: z.input<typeof contactFields>): ImportProblem | null {
  const result = contactFields.safeParse(fields);
  if (result.success) return null;
  const issue = result.error.issues[0]!;
  const field = String(issue.path[0] ?? 'line');
  if (field === 'emails' && issue.path.length === 1)
    return {
      message: `more than ${CONTACT_EMAILS_MAX} e-mail addresses (found ${fields.emails.length})`,
      code: 'IMPORT_TOO_MANY_EMAILS',
      params: { max: CONTACT_EMAILS_MAX, found: fields.emails.length },
    };
  if (field === 'emails')
    return {
      message: `an e-mail address is longer than ${CONTACT_EMAIL_MAX} characters`,
      code: 'IMPORT_EMAIL_TOO_LONG',
      params: { max: CONTACT_EMAIL_MAX },
    };
  return {
    message: `${field} is longer than ${CONTACT_NAME_MAX} characters`,
    code: 'IMPORT_FIELD_TOO_LONG',
    params: { field, max: CONTACT_NAME_MAX },
  };
}
