// The never-log list: addresses and domains whose mail Conversa never stores nor creates contacts for (a bank,
// a doctor, a lawyer). A privacy list, so its matching leans towards matching: a domain covers its subdomains,
// and an address covers its +tagged variants.
import { domainToASCII } from 'node:url';
import { isValidEmail } from '../../contacts/email-address.js';

export interface NeverLogList {
  /** Whole addresses, lower-cased, domain in ASCII (punycode). */
  addresses: ReadonlySet<string>;
  /** Domains, lower-cased ASCII; each covers itself and every subdomain. */
  domains: ReadonlySet<string>;
}

export interface ParsedNeverLogList {
  addresses: Set<string>;
  domains: Set<string>;
  /** Entries that are neither an address nor a usable domain, as written. */
  invalid: string[];
}

// Registry-level suffixes that look like domains but hold millions of unrelated ones: a never-log entry for them
// would silence whole countries. Not the full Public Suffix List — the common two-label ones a user might type.
const PUBLIC_SUFFIXES = new Set([
  'com.br',
  'net.br',
  'org.br',
  'gov.br',
  'edu.br',
  'art.br',
  'ind.br',
  'adv.br',
  'eng.br',
  'med.br',
  'co.uk',
  'org.uk',
  'ac.uk',
  'gov.uk',
  'me.uk',
  'ltd.uk',
  'plc.uk',
  'com.au',
  'net.au',
  'org.au',
  'edu.au',
  'gov.au',
  'co.nz',
  'org.nz',
  'co.jp',
  'ne.jp',
  'or.jp',
  'ac.jp',
  'co.kr',
  'or.kr',
  'com.cn',
  'net.cn',
  'org.cn',
  'com.hk',
  'com.tw',
  'com.sg',
  'co.in',
  'net.in',
  'org.in',
  'co.za',
  'org.za',
  'com.mx',
  'com.ar',
  'com.co',
  'com.pe',
  'com.uy',
  'com.py',
  'com.ve',
  'com.ec',
  'com.bo',
  'cl.cl',
  'com.pt',
  'com.es',
  'com.tr',
  'com.pl',
  'co.il',
  'com.ru',
  'com.ua',
]);

function asciiDomain(domain: string): string | null {
  const trimmed = domain.trim().toLowerCase().replace(/\.$/, '');
  if (trimmed.length === 0) return null;
  const ascii = domainToASCII(trimmed);
  return ascii.length > 0 ? ascii : null;
}

function usableDomain(domain: string): string | null {
  const ascii = asciiDomain(domain);
  if (ascii === null) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || labels.some((l) => !/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/.test(l))) return null;
  return PUBLIC_SUFFIXES.has(ascii) ? null : ascii;
}

/** An address in its list form: lower-cased, domain in ASCII. Null when not an address. */
function listAddress(raw: string): string | null {
  const value = raw.trim().toLowerCase();
  const at = value.lastIndexOf('@');
  if (at <= 0) return null;
  const domain = asciiDomain(value.slice(at + 1));
  if (domain === null) return null;
  const address = `${value.slice(0, at)}@${domain}`;
  return isValidEmail(address) ? address : null;
}

/**
 * Reads the entries a user typed, one per item:
 * - `boss@x.com` — that address, and its +tagged forms (`boss+crm@x.com`);
 * - `bank.com`, `@bank.com`, `*@bank.com`, `*.bank.com`, `.bank.com` — all the same: bank.com and every
 *   subdomain of it (mail.bank.com, a.b.bank.com). A never-log list that let alerts@mail.bank.com through would
 *   leak exactly what it is for, and "the bank's subdomains but not the bank" is not something anyone asks of it.
 * `mailto:` and `Name <address>` forms are accepted; blank lines and `#` comments are skipped. Single labels
 * (`com`), registry suffixes (`com.br`, `co.uk`) and malformed entries are returned in `invalid`, never applied.
 * Internationalised domains are kept in ASCII (punycode), and compared so.
 */
export function parseNeverLogList(entries: readonly string[]): ParsedNeverLogList {
  const result: ParsedNeverLogList = { addresses: new Set(), domains: new Set(), invalid: [] };
  for (const entry of entries) {
    let value = entry.trim();
    if (value.length === 0 || value.startsWith('#')) continue;
    const bracketed = /<([^<>]*)>/.exec(value);
    if (bracketed) value = bracketed[1]!.trim();
    value = value.replace(/^mailto:/i, '').toLowerCase();
    const domainForm = /^(?:\*?@|\*\.|\.)?([^@*\s]+)$/.exec(value);
    if (domainForm && (!value.includes('@') || value.startsWith('@') || value.startsWith('*@'))) {
      const domain = usableDomain(domainForm[1]!);
      if (domain !== null) result.domains.add(domain);
      else result.invalid.push(entry);
      continue;
    }
    const address = value.startsWith('*') ? null : listAddress(value);
    if (address !== null) result.addresses.add(address);
    else result.invalid.push(entry);
  }
  return result;
}

/**
 * Whether mail of this address must never be logged: the address itself or its form without a `+tag` is listed,
 * or its domain or any parent domain of it is (`ana@mail.bank.com` is covered by `bank.com`; `ana@bank.com.br`
 * and `ana@notbank.com` are not).
 */
export function isNeverLogged(address: string, list: NeverLogList): boolean {
  const normalized = listAddress(address);
  if (normalized === null) return false;
  const at = normalized.lastIndexOf('@');
  const local = normalized.slice(0, at);
  const domain = normalized.slice(at + 1);
  if (list.addresses.has(normalized)) return true;
  const plus = local.indexOf('+');
  if (plus > 0 && list.addresses.has(`${local.slice(0, plus)}@${domain}`)) return true;
  const labels = domain.split('.');
  for (let i = 0; i < labels.length; i++) if (list.domains.has(labels.slice(i).join('.'))) return true;
  return false;
}
