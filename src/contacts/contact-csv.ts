// Turns a contacts CSV (header row; firstName, lastName, email, company, in any case or spelling such as
// first_name / "First Name" / e-mail) into import rows, reporting lines that cannot be read.
import { AppError } from '../core/app-error.js';
import type { ImportResult, ImportRow } from './contacts.js';
import { decodeUtf8, parseCsv } from './csv.js';

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

export function readContactsCsv(body: Buffer): { rows: ImportRow[]; errors: ImportResult['errors'] } {
  const text = decodeUtf8(body);
  if (text === null) {
    throw new AppError('VALIDATION_FAILED', 'The file is not UTF-8 text', {
      hint: 'Save the spreadsheet as "CSV UTF-8 (comma delimited)" and import it again.',
      fields: [{ path: 'body', message: 'not valid UTF-8' }],
    });
  }
  const { records, errors } = parseCsv(text.replace(/^\uFEFF/, ''));
  const header = records.shift();
  if (!header || header.line !== 1) {
    throw new AppError('VALIDATION_FAILED', 'The file has no header row', {
      hint: 'The first line must name the columns: firstName, lastName, email, company.',
      fields: [{ path: 'body', message: 'no header row' }],
    });
  }
  const columns = header.fields.map((name) => HEADER_ALIASES[headerKey(name)]);
  if (!columns.includes('email')) {
    throw new AppError('VALIDATION_FAILED', 'The header row has no email column', {
      hint: `Found the columns: ${header.fields.join(', ')}. Name the column of addresses "email".`,
      fields: [{ path: 'body', message: 'no email column' }],
    });
  }
  if (records.length > MAX_IMPORT_ROWS) {
    throw new AppError('VALIDATION_FAILED', `The file has ${records.length} rows; at most ${MAX_IMPORT_ROWS} can be imported at once`, {
      hint: 'Split the file and import each part.',
      fields: [{ path: 'body', message: 'too many rows' }],
    });
  }
  const rows: ImportRow[] = [];
  for (const record of records) {
    if (record.fields.length > header.fields.length) {
      errors.push({ line: record.line, message: `the line has ${record.fields.length} fields but the header has ${header.fields.length}` });
      continue;
    }
    const row: ImportRow = { line: record.line, firstName: null, lastName: null, company: null, emails: [] };
    record.fields.forEach((value, index) => {
      const column = columns[index];
      if (column === 'email') row.emails.push(...value.split(/[;,]/).map((e) => e.trim()).filter(Boolean));
      else if (column) row[column] = value.trim() || null;
    });
    rows.push(row);
  }
  return { rows, errors };
}
