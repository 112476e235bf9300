// Merge fields in a template's subject and HTML: `{{contact.firstName}}`, with an optional fallback
// `{{ contact.firstName | "there" }}` (spaces tolerated, double or single quotes). Pure text work, no I/O.
// A reference is `{{` + `contact.` or `user.` + a name + `}}`; anything else between braces (`{{ message }}` in a
// pasted code sample, `{{#if}}`) is not ours and stays as written. A reference to a name we do not know
// (`{{contact.password}}`) is an error rather than a silent blank, and so is a field that has no value and no
// fallback: a message must never go out as "Hi ,".
import { AppError } from '../core/app-error.js';

export const MERGE_FIELDS = ['contact.firstName', 'contact.lastName', 'contact.company', 'user.name'] as const;
export type MergeFieldName = (typeof MERGE_FIELDS)[number];

/** The values a text is rendered with; null, absent or blank = no value. */
export type MergeValues = Partial<Record<MergeFieldName, string | null>>;

/** One reference as written. */
export interface MergeFieldRef {
  /** The name as written (`contact.FirstName`). */
  written: string;
  /** The known field it names (matched case-insensitively), or null when unknown. */
  name: MergeFieldName | null;
  /** The fallback between quotes, or null when there is none. */
  fallback: string | null;
  /** The whole `{{…}}` text. */
  raw: string;
}

// `{{`, spaces, contact.xxx or user.xxx, optionally `| "fallback"` or `| 'fallback'`, spaces, `}}`. The fallback
// may not span lines (a stray quote must not swallow the rest of a message). An HTML editor writes a run of spaces
// as `&nbsp;` and a pasted text may bring typographic quotes (“there”), so both count as well.
const SPACE = String.raw`(?:\s|&nbsp;|&#160;)*`;
const FALLBACK = String.raw`"([^"\r\n]*)"|'([^'\r\n]*)'|“([^”\r\n]*)”|‘([^’\r\n]*)’`;
const REFERENCE = new RegExp(
  String.raw`\{\{${SPACE}((?:contact|user)\.[A-Za-z_][A-Za-z0-9_]*)${SPACE}(?:\|${SPACE}(?:${FALLBACK})${SPACE})?\}\}`,
  'gi',
);

const BY_LOWER_NAME = new Map<string, MergeFieldName>(MERGE_FIELDS.map((name) => [name.toLowerCase(), name]));

/** Every merge-field reference in `text`, in order. */
export function findMergeFields(text: string): MergeFieldRef[] {
  const out: MergeFieldRef[] = [];
  for (const match of text.matchAll(REFERENCE)) {
    const written = match[1]!;
    const fallback = match[2] ?? match[3] ?? match[4] ?? match[5] ?? null;
    out.push({ written, name: BY_LOWER_NAME.get(written.toLowerCase()) ?? null, fallback, raw: match[0] });
  }
  return out;
}

/** The names referenced that are not merge fields, each once. */
export function unknownMergeFields(...texts: string[]): string[] {
  const unknown = new Set<string>();
  for (const text of texts) for (const ref of findMergeFields(text)) if (!ref.name) unknown.add(ref.written);
  return [...unknown];
}

/** 422 MERGE_FIELD_UNKNOWN when a text names a field that does not exist. */
export function assertKnownMergeFields(...texts: string[]): void {
  const unknown = unknownMergeFields(...texts);
  if (unknown.length === 0) return;
  throw new AppError(
    'MERGE_FIELD_UNKNOWN',
    `${unknown.length === 1 ? 'There is no merge field' : 'There are no merge fields'} ${unknown.join(', ')}; ` +
      `the fields are ${MERGE_FIELDS.join(', ')}`,
    {
      fields: unknown.map((name) => ({ path: name, message: 'not a merge field' })),
      details: { unknown, known: [...MERGE_FIELDS] },
    },
  );
}

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export interface Rendered {
  text: string;
  /** Fields with no value and no fallback, each once, in order; their references are left as written. */
  missing: MergeFieldName[];
}

/**
 * Replaces every reference in `text` by its value, else its fallback. In `html`, values are HTML-escaped (a
 * contact named `<script>` stays text) while a fallback is kept as written: it is part of the author's HTML, which
 * was sanitised with the rest. In `plain` (a subject, a text body) both go in as they are.
 * Unknown names throw MERGE_FIELD_UNKNOWN; a field without value or fallback stays as written and is listed.
 */
export function renderMergeFields(text: string, values: MergeValues, mode: 'html' | 'plain'): Rendered {
  assertKnownMergeFields(text);
  const missing = new Set<MergeFieldName>();
  const out = text.replace(
    REFERENCE,
    // One group per quote style ("…", '…', “…”, ‘…’); the one that matched holds the fallback.
    (raw: string, written: string, double?: string, single?: string, curly?: string, curlySingle?: string) => {
      const name = BY_LOWER_NAME.get(written.toLowerCase())!;
      const value = values[name]?.trim();
      if (value) return mode === 'html' ? escapeHtml(value) : value;
      const fallback = double ?? single ?? curly ?? curlySingle;
      if (fallback !== undefined) return fallback;
      missing.add(name);
      return raw;
    },
  );
  return { text: out, missing: [...missing] };
}

/**
 * 422 MERGE_FIELD_MISSING naming the fields and whose values they lack: "contact.firstName has no value for Ana
 * Souza and no fallback". `source` names the contact (or says there is none).
 */
export function missingMergeFieldsError(missing: MergeFieldName[], source: string): AppError {
  const names = missing.join(', ');
  const verb = missing.length === 1 ? 'has' : 'have';
  return new AppError('MERGE_FIELD_MISSING', `${names} ${verb} no value for ${source} and no fallback`, {
    hint: 'Fill the field on the contact, or give it a fallback: {{contact.firstName | "there"}}.',
    fields: missing.map((name) => ({ path: name, message: `no value for ${source} and no fallback` })),
    details: { missing, source },
  });
}
