// Turns a contacts CSV (header row; firstName, lastName, email, company, in any case or spelling such as
// first_name / "First Name" / e-mail) into import rows, reporting lines that cannot be read.
import { AppError } from '../core/app-error.js';
import type { ImportResult, ImportRow } from './contacts.js';
import { eventLoopSlicer } from '../core/event-loop-slicer.js';
import { contactFieldsProblem } from './contact-fields.js';
import { decodeUtf8, readCsv, type CsvRecord } from './csv.js';

type Column = 'firstName' | 'lastName' | 'email' | 'company';

const HEADER_ALIASES: Record<string, Column> = {
  firstname: 'firstName',
  givenname: 'firstName',
  nome: 'firstName',
  lastname: 'lastName',
  surname: 'lastName',
  familyname: 'lastName',
  sobrenome: 'lastName',
  email: 'email',
  emails: 'email',
  emailaddress: 'email',
  emailaddresses: 'email',
  company: 'company',
  organization: 'company',
  organisation: 'company',
  empresa: 'company',
};

export const MAX_IMPORT_ROWS = 50_000;

function headerKey(name: string): string {
  return name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

/**
 * Reads the file in slices, yielding to the event loop between them (a 10 MB file is ~0.2 s of parsing that no
 * other request may wait on). Every line that cannot be a contact (broken CSV, too many fields, a field longer than
 * the API allows, more addresses than a contact may have) is an error for that line; the file as a whole is refused
 * only when it cannot be read at all (not UTF-8, no header, no email column, too many rows).
 */
export async function readContactsCsv(body: Buffer): Promise<{ rows: ImportRow[]; errors: ImportResult['errors'] }> {
  const text = decodeUtf8(body);
  if (text === null) {
    throw new AppError('VALIDATION_FAILED', 'The file is not UTF-8 text', {
      hint: 'Save the spreadsheet as "CSV UTF-8 (comma delimited)" and import it again.',
      fields: [{ path: 'body', message: 'not valid UTF-8' }],
    });
  }
  const slicer = eventLoopSlicer();
  const errors: ImportResult['errors'] = [];
  const rows: ImportRow[] = [];
  let header: CsvRecord | null = null;
  let columns: Array<Column | undefined> = [];
  let count = 0;
  for (const item of readCsv(text.replace(/^\uFEFF/, ''))) {
    if ((++count & 0xff) === 0 && slicer.due()) await slicer.pause();
    if (!('fields' in item)) {
      errors.push(item);
      continue;
    }
    if (!header) {
      header = item;
      if (header.line !== 1) break;
      columns = header.fields.map((name) => HEADER_ALIASES[headerKey(name)]);
      if (!columns.includes('email')) {
        throw new AppError('VALIDATION_FAILED', 'The header row has no email column', {
          hint: `Found the columns: ${header.fields.join(', ').slice(0, 500)}. Name the column of addresses "email".`,
          fields: [{ path: 'body', message: 'no email column' }],
        });
      }
      continue;
    }
    if (rows.length + errors.length >= MAX_IMPORT_ROWS + 1) {
      throw new AppError(
        'VALIDATION_FAILED',
        `The file has more than ${MAX_IMPORT_ROWS} rows; at most ${MAX_IMPORT_ROWS} can be imported at once`,
        {
          hint: 'Split the file and import each part.',
          fields: [{ path: 'body', message: 'too many rows' }],
        },
      );
    }
    const row = toRow(item, header, columns, errors);
    if (row) rows.push(row);
  }
  if (!header || header.line !== 1) {
    throw new AppError('VALIDATION_FAILED', 'The file has no header row', {
      hint: 'The first line must name the columns: firstName, lastName, email, company.',
      fields: [{ path: 'body', message: 'no header row' }],
    });
  }
  return { rows, errors };
}

/** One record as an import row, or null with the line's error recorded. */
function toRow(
  record: CsvRecord,
  header: CsvRecord,
  columns: Array<Column | undefined>,
  errors: ImportResult['errors'],
): ImportRow | null {
  if (record.fields.length > header.fields.length) {
    errors.push({
      line: record.line,
      message: `the line has ${record.fields.length} fields but the header has ${header.fields.length}`,
      code: 'IMPORT_TOO_MANY_FIELDS',
      params: { fields: record.fields.length, headerFields: header.fields.length },
    });
    return null;
  }
  const row: ImportRow = { line: record.line, firstName: null, lastName: null, company: null, emails: [] };
  record.fields.forEach((value, index) => {
    const column = columns[index];
    if (column === 'email')
      row.emails.push(
        ...value
          .split(/[;,]/)
          .map((e) => e.trim())
          .filter(Boolean),
      );
    else if (column) row[column] = value.trim() || null;
  });
  // The API's own limits (one definition): a line the API would refuse is that line's error, never a failed import.
  const problem = contactFieldsProblem({
    firstName: row.firstName,
    lastName: row.lastName,
    company: row.company,
    emails: row.emails,
  });
  if (problem) {
    errors.push({ line: record.line, ...problem });
    return null;
  }
  return row;
}
