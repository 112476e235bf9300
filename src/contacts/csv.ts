// A strict RFC 4180 reader that keeps going: each record carries the line it starts on, and a broken
// record (an unterminated or misplaced quote) becomes an error for that line while reading resumes on
// the next line, so one bad line never costs the rest of the file.

import type { ImportTextCode } from './import-texts.js';

export interface CsvRecord {
  line: number;
  fields: string[];
}

export interface CsvError {
  line: number;
  message: string;
  /** The same as a text code (import-texts.ts), for the user's language. */
  code: CsvErrorCode;
  params: Record<string, never>;
}

export type CsvErrorCode = Extract<ImportTextCode, `CSV_${string}`>;

export interface CsvParseResult {
  records: CsvRecord[];
  errors: CsvError[];
}

/**
 * The delimiter of the header line: `,` unless the header uses `;` or tabs and no commas (Excel in pt-BR writes `;`).
 */
export function detectDelimiter(text: string): string {
  const header = text.slice(0, text.search(/\r?\n|$/));
  if (header.includes(',')) return ',';
  if (header.includes(';')) return ';';
  if (header.includes('\t')) return '\t';
  return ',';
}

export function parseCsv(text: string, delimiter = detectDelimiter(text)): CsvParseResult {
  const records: CsvRecord[] = [];
  const errors: CsvError[] = [];
  for (const item of readCsv(text, delimiter)) {
    if ('fields' in item) records.push(item);
    else errors.push(item);
  }
  return { records, errors };
}

/**
 * The records and broken lines of `text` one at a time, in order, so that a caller can stop between them (to let
 * the event loop run) on a large file.
 */
export function* readCsv(text: string, delimiter = detectDelimiter(text)): Generator<CsvRecord | CsvError> {
  let pos = 0;
  let line = 1;
  const n = text.length;

  const skipToNextLine = (from: number): number => {
    const next = text.indexOf('\n', from);
    return next === -1 ? n : next + 1;
  };

  while (pos < n) {
    const startLine = line;
    const startPos = pos;
    const fields: string[] = [];
    let field = '';
    let error: { code: CsvErrorCode; text: string } | null = null;
    let linesInRecord = 0;
    let i = pos;
    let atFieldStart = true;
    let done = false;

    while (!done) {
      if (i >= n) {
        fields.push(field);
        done = true;
        break;
      }
      const ch = text[i]!;
      if (atFieldStart && ch === '"') {
        // Quoted field: runs to the next lone quote, newlines and delimiters included.
        let j = i + 1;
        let closed = false;
        while (j < n) {
          const c = text[j]!;
          if (c === '"') {
            if (text[j + 1] === '"') {
              field += '"';
              j += 2;
              continue;
            }
            closed = true;
            j++;
            break;
          }
          if (c === '\n') linesInRecord++;
          field += c;
          j++;
        }
        if (!closed) {
          error = { code: 'CSV_QUOTE_NOT_CLOSED', text: 'a quoted field is never closed' };
          break;
        }
        const after = text[j];
        if (after !== undefined && after !== delimiter && after !== '\n' && after !== '\r') {
          error = { code: 'CSV_TEXT_AFTER_QUOTE', text: 'characters after a closing quote' };
          break;
        }
        i = j;
        atFieldStart = false;
        continue;
      }
      if (ch === delimiter) {
        fields.push(field);
        field = '';
        atFieldStart = true;
        i++;
        continue;
      }
      if (ch === '\r' && text[i + 1] === '\n') {
        i++;
        continue;
      }
      if (ch === '\n') {
        fields.push(field);
        i++;
        done = true;
        break;
      }
      if (ch === '"') {
        error = { code: 'CSV_QUOTE_IN_FIELD', text: 'a quote inside an unquoted field' };
        break;
      }
      field += ch;
      atFieldStart = false;
      i++;
    }

    if (error) {
      yield { line: startLine, message: `broken CSV: ${error.text}`, code: error.code, params: {} };
      pos = skipToNextLine(startPos);
      line = startLine + 1;
      continue;
    }
    pos = i;
    line = startLine + 1 + linesInRecord;
    if (!(fields.length === 1 && fields[0]!.trim() === '')) yield { line: startLine, fields };
  }
}

/** Decodes UTF-8 strictly (a wrong encoding is an error, not mojibake) and drops a byte-order mark. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
}
