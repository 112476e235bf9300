// Sentences the server writes for a person (a status detail, a last error, why a send failed, a deliverability fix)
// come with a code and parameters beside their English (src/core/server-text.ts). This says them in the user's
// language from `server.<code>` in the dictionaries, and falls back to the server's English when the code is unknown
// (an older server, a newer code) or absent (a row written before codes existed).
//
// In a text, `{name}` is the parameter as it is, or, for `setup` and `reason` holding a server text code (a DKIM
// set-up inside "no key published"), that text said with the same parameters; `{word.name}` is the dictionary word
// `server.param.<word>.<value of name>` (e.g. `{ports.server}` → how IMAP or SMTP ports usually go). A missing
// parameter says nothing. The other server's own words (`reply`), a give-up count (`attempts`), the next try
// (`nextTryAt`) and a `reason` the text does not place itself are said after it, in the user's language.
import type { Locale } from '../api/types';
import { en } from './messages-en';
import { ptBR } from './messages-pt-br';

export type ServerTextParams = Record<string, string | number>;

const dictionaries: Record<Locale, Record<string, string>> = { en, 'pt-BR': ptBR };

/** Said after the text when present and not placed by it, in this order. */
const SUFFIXES = ['reason', 'reply', 'attempts', 'nextTryAt'] as const;
const CODE = /^[A-Z][A-Z0-9_]*$/;
/** The parameters that may name another text; others (a host, a server's reply) are always shown as they are. */
const NESTED = new Set(['setup', 'reason']);
/** Marks where a parameter said nothing, so tidying removes the space (or brackets) there and changes nothing else. */
const GAP = '\u0000';

export interface ServerTextOptions {
  /** How `nextTryAt` (an ISO instant) is shown; default: as given. */
  dateTime?: (iso: string) => string;
}

function lookup(locale: Locale, key: string): string | undefined {
  const own = dictionaries[locale];
  if (Object.prototype.hasOwnProperty.call(own, key)) return own[key];
  return Object.prototype.hasOwnProperty.call(en, key) ? (en as Record<string, string>)[key] : undefined;
}

/** True when the dictionaries can say this code. */
export function isKnownServerText(code: string | null | undefined): code is string {
  return !!code && CODE.test(code) && Object.prototype.hasOwnProperty.call(en, `server.${code}`);
}

function fill(
  locale: Locale,
  template: string,
  params: ServerTextParams,
  options: ServerTextOptions,
  depth: number,
): string {
  return template.replace(/\{(\w+)(?:\.(\w+))?\}/g, (_whole, first: string, second: string | undefined) => {
    const name = second ?? first;
    const value = params[name];
    if (value === undefined || value === '') return GAP;
    const word = lookup(locale, `server.param.${first}.${String(value)}`);
    if (word !== undefined) return word;
    if (second !== undefined) return GAP;
    if (name === 'nextTryAt' && options.dateTime) return options.dateTime(String(value));
    if (typeof value === 'string' && NESTED.has(name) && depth < 2 && isKnownServerText(value))
      return fill(locale, lookup(locale, `server.${value}`)!, params, options, depth + 1);
    // A parameter's own words are kept as they are (only a stray GAP character could confuse the tidying).
    return String(value).replaceAll(GAP, '');
  });
}

/** The marks of parameters that said nothing, with the space or brackets around them. */
function tidy(text: string): string {
  return text
    .replace(/ ?\(\u0000\)/g, '')
    .replace(/ \u0000(?=[.,;:)])/g, '')
    .replace(/ \u0000 /g, ' ')
    .replace(/\u0000 ?/g, '')
    .trim();
}

/**
 * The text for `code` in `locale`, or `fallbackEnglish` when the code is unknown or absent. Pure: the React side is
 * `useI18n().serverText`.
 */
export function renderServerText(
  locale: Locale,
  code: string | null | undefined,
  params: ServerTextParams | null | undefined,
  fallbackEnglish: string,
  options: ServerTextOptions = {},
): string {
  if (!isKnownServerText(code)) return fallbackEnglish;
  const given = params ?? {};
  const template = lookup(locale, `server.${code}`)!;
  const parts = [fill(locale, template, given, options, 0)];
  for (const name of SUFFIXES) {
    const value = given[name];
    if (value === undefined || value === '' || new RegExp(`\\{${name}\\}`).test(template)) continue;
    const suffix = lookup(locale, `server.suffix.${name}`);
    if (suffix) parts.push(fill(locale, suffix, given, options, 0));
  }
  return tidy(parts.join(' '));
}
