import { describe, expect, it } from 'vitest';
import { decodeUtf8, detectDelimiter, parseCsv } from '../../src/contacts/csv.js';

describe('parseCsv', () => {
  it('reads quoted fields with delimiters, doubled quotes and newlines, numbering records by their first line', () => {
    const { records, errors } = parseCsv('a,b\r\n"x, y","say ""hi"""\n"multi\nline",z\nlast,row');
    expect(errors).toEqual([]);
    expect(records).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'say "hi"'] },
      { line: 3, fields: ['multi\nline', 'z'] },
      { line: 5, fields: ['last', 'row'] },
    ]);
  });

  it('reports a never-closed quote on its line and resumes on the next line', () => {
    const { records, errors } = parseCsv('h1,h2\n"open,1\nok,2\n');
    expect(errors).toEqual([
      { line: 2, message: 'broken CSV: a quoted field is never closed', code: 'CSV_QUOTE_NOT_CLOSED', params: {} },
    ]);
    expect(records.map((r) => r.fields)).toEqual([
      ['h1', 'h2'],
      ['ok', '2'],
    ]);
  });

  it('reports stray quotes and text after a closing quote', () => {
    const { errors } = parseCsv('h\nab"c\n"x"y\nfine\n');
    expect(errors.map((e) => e.line)).toEqual([2, 3]);
    expect(errors.map((e) => e.code)).toEqual(['CSV_QUOTE_IN_FIELD', 'CSV_TEXT_AFTER_QUOTE']);
  });

  it('skips blank lines and keeps empty fields', () => {
    const { records } = parseCsv('a,b\n\n,\n');
    expect(records).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 3, fields: ['', ''] },
    ]);
  });

  it('detects ; and tab delimiters from the header', () => {
    expect(detectDelimiter('Nome;Email\nx;y')).toBe(';');
    expect(detectDelimiter('a\tb')).toBe('\t');
    expect(detectDelimiter('a,b;c')).toBe(',');
  });

  it('decodes UTF-8 strictly', () => {
    expect(decodeUtf8(Buffer.from('ção', 'utf8'))).toBe('ção');
    expect(decodeUtf8(Buffer.from('ção', 'latin1'))).toBeNull();
  });
});
