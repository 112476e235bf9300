// Why a line of a contacts import was skipped, as a text code with parameters (web dictionaries: `server.<code>`)
// beside the English `message`: broken CSV (csv.ts), a field the API would refuse (contact-fields.ts), an address
// that is not one or is already taken (contacts.ts). Addresses and field names stay parameters, untranslated.
import type { TextParams } from '../core/server-text.js';

export const IMPORT_TEXT_CODES = [
  'CSV_QUOTE_NOT_CLOSED',
  'CSV_TEXT_AFTER_QUOTE',
  'CSV_QUOTE_IN_FIELD',
  'IMPORT_TOO_MANY_FIELDS',
  'IMPORT_TOO_MANY_EMAILS',
  'IMPORT_EMAIL_TOO_LONG',
  'IMPORT_FIELD_TOO_LONG',
  'IMPORT_NO_EMAIL',
  'IMPORT_NOT_AN_EMAIL',
  'IMPORT_DUPLICATE_IN_FILE',
  'IMPORT_EMAIL_TAKEN',
  'IMPORT_EMAIL_JUST_TAKEN',
  // Data-subject rights (issue 19, A4).
  'IMPORT_EMAIL_ERASED',
] as const;
export type ImportTextCode = (typeof IMPORT_TEXT_CODES)[number];

/** One skipped line: its number, the English, and the same as a code with parameters. */
export interface ImportLineError {
  line: number;
  message: string;
  code: ImportTextCode;
  params: TextParams;
}

/** What is wrong with a line, before its number is known. */
export type ImportProblem = Omit<ImportLineError, 'line'>;
