// The deliverability fixes as text codes with parameters (web dictionaries: `server.<code>`), made by wrapping the
// English texts of deliverability.ts: each wrapped text carries its English words, its code and its parameters, and
// a text built from another (a DKIM setup inside "no key published", a reason inside "the record has an error")
// names the inner text's code as a parameter (`setup`, `reason`) and takes its parameters along. DNS names, records
// and what a library said stay parameters, untranslated.
import type { TextParams } from '../../core/server-text.js';

/** The mail providers whose DKIM setup the texts describe (deliverability.ts matches a sender to one). */
export type KnownSenderId = 'google' | 'microsoft' | 'zoho' | 'fastmail' | 'icloud';

/** The texts of a deliverability report: a translation is one more object of this type (deliverability.ts). */
export interface DeliverabilityMessages {
  spf: {
    missing(domain: string, suggestedRecord: string): string;
    notAuthorised(domain: string, terms: string, suggestedRecord: string): string;
    multipleRecords(domain: string, count: number): string;
    broken(domain: string, reason: string): string;
    tooManyLookups: string;
    tooManyVoidLookups: string;
    lookupFailed(domain: string): string;
    hostNotFound(host: string): string;
  };
  dkim: {
    missing(recordName: string, setup: string): string;
    missingCname(recordName: string, target: string): string;
    unknown(domain: string, tried: string[], setup: string): string;
    revoked(recordName: string, setup: string): string;
    invalid(recordName: string, reason: string, setup: string): string;
    reasons: {
      notDkim: string;
      several: string;
      noKey: string;
      badVersion(version: string): string;
      badKey: string;
      unknownKeyType(type: string): string;
      shortKey(bits: number): string;
    };
    lookupFailed(recordName: string): string;
    /** How to publish the key, per mail provider; `generic` for any other server. */
    setup: Record<KnownSenderId, (domain: string) => string> & { generic(recordName: string): string };
  };
  dmarc: {
    missing(recordName: string, suggestedRecord: string): string;
    weak(recordName: string, policy: string): string;
    invalidPolicy(recordName: string, policy: string): string;
    lookupFailed(domain: string): string;
  };
}

export const DELIVERABILITY_TEXT_CODES = [
  'DELIV_SPF_MISSING',
  'DELIV_SPF_NOT_AUTHORISED',
  'DELIV_SPF_MULTIPLE_RECORDS',
  'DELIV_SPF_BROKEN',
  'DELIV_SPF_TOO_MANY_LOOKUPS',
  'DELIV_SPF_TOO_MANY_VOID_LOOKUPS',
  'DELIV_SPF_LOOKUP_FAILED',
  'DELIV_SPF_HOST_NOT_FOUND',
  'DELIV_DKIM_MISSING',
  'DELIV_DKIM_MISSING_CNAME',
  'DELIV_DKIM_UNKNOWN',
  'DELIV_DKIM_REVOKED',
  'DELIV_DKIM_INVALID',
  'DELIV_DKIM_NOT_DKIM',
  'DELIV_DKIM_SEVERAL',
  'DELIV_DKIM_NO_KEY',
  'DELIV_DKIM_BAD_VERSION',
  'DELIV_DKIM_BAD_KEY',
  'DELIV_DKIM_UNKNOWN_KEY_TYPE',
  'DELIV_DKIM_SHORT_KEY',
  'DELIV_DKIM_LOOKUP_FAILED',
  'DELIV_DKIM_SETUP_GOOGLE',
  'DELIV_DKIM_SETUP_MICROSOFT',
  'DELIV_DKIM_SETUP_ZOHO',
  'DELIV_DKIM_SETUP_FASTMAIL',
  'DELIV_DKIM_SETUP_ICLOUD',
  'DELIV_DKIM_SETUP_GENERIC',
  'DELIV_DMARC_MISSING',
  'DELIV_DMARC_WEAK',
  'DELIV_DMARC_INVALID_POLICY',
  'DELIV_DMARC_LOOKUP_FAILED',
] as const;
export type DeliverabilityTextCode = (typeof DELIVERABILITY_TEXT_CODES)[number];

export interface CodedFix {
  fix: string;
  fixCode: DeliverabilityTextCode;
  fixParams: TextParams;
}

interface Coded {
  en: string;
  code: DeliverabilityTextCode;
  params: TextParams;
}

// A wrapped text travels through deliverability.ts as a string (its messages are strings): this marker, then JSON.
const MARK = '\u0000coded:';

function encode(coded: Coded): string {
  return MARK + JSON.stringify(coded);
}

function decode(text: string): Coded | undefined {
  if (!text.startsWith(MARK)) return undefined;
  return JSON.parse(text.slice(MARK.length)) as Coded;
}

/** The English of a wrapped text (or the text itself). */
function en(text: string): string {
  return decode(text)?.en ?? text;
}

/** An inner text as a parameter: its code under `name` and its own parameters; plain words as they are. */
function inner(name: string, text: string): TextParams {
  const coded = decode(text);
  return coded ? { ...coded.params, [name]: coded.code } : { [name]: text };
}

function coded(code: DeliverabilityTextCode, english: string, params: TextParams): string {
  return encode({ en: english, code, params });
}

/** English texts that also say their code and parameters; `fixOf` reads them back. */
export function codedDeliverabilityMessages(base: DeliverabilityMessages): DeliverabilityMessages {
  const { spf, dkim, dmarc } = base;
  return {
    spf: {
      missing: (domain, record) => coded('DELIV_SPF_MISSING', spf.missing(domain, record), { domain, record }),
      notAuthorised: (domain, terms, record) =>
        coded('DELIV_SPF_NOT_AUTHORISED', spf.notAuthorised(domain, terms, record), { domain, terms, record }),
      multipleRecords: (domain, count) =>
        coded('DELIV_SPF_MULTIPLE_RECORDS', spf.multipleRecords(domain, count), { domain, count }),
      broken: (domain, reason) =>
        coded('DELIV_SPF_BROKEN', spf.broken(domain, en(reason)), { domain, ...inner('reason', reason) }),
      tooManyLookups: coded('DELIV_SPF_TOO_MANY_LOOKUPS', spf.tooManyLookups, {}),
      tooManyVoidLookups: coded('DELIV_SPF_TOO_MANY_VOID_LOOKUPS', spf.tooManyVoidLookups, {}),
      lookupFailed: (domain) => coded('DELIV_SPF_LOOKUP_FAILED', spf.lookupFailed(domain), { domain }),
      hostNotFound: (host) => coded('DELIV_SPF_HOST_NOT_FOUND', spf.hostNotFound(host), { host }),
    },
    dkim: {
      missing: (recordName, setup) =>
        coded('DELIV_DKIM_MISSING', dkim.missing(recordName, en(setup)), { recordName, ...inner('setup', setup) }),
      missingCname: (recordName, target) =>
        coded('DELIV_DKIM_MISSING_CNAME', dkim.missingCname(recordName, target), { recordName, target }),
      unknown: (domain, tried, setup) =>
        coded('DELIV_DKIM_UNKNOWN', dkim.unknown(domain, tried, en(setup)), {
          domain,
          tried: tried.join(', '),
          ...inner('setup', setup),
        }),
      revoked: (recordName, setup) =>
        coded('DELIV_DKIM_REVOKED', dkim.revoked(recordName, en(setup)), { recordName, ...inner('setup', setup) }),
      invalid: (recordName, reason, setup) =>
        coded('DELIV_DKIM_INVALID', dkim.invalid(recordName, en(reason), en(setup)), {
          recordName,
          ...inner('reason', reason),
          ...inner('setup', setup),
        }),
      reasons: {
        notDkim: coded('DELIV_DKIM_NOT_DKIM', dkim.reasons.notDkim, {}),
        several: coded('DELIV_DKIM_SEVERAL', dkim.reasons.several, {}),
        noKey: coded('DELIV_DKIM_NO_KEY', dkim.reasons.noKey, {}),
        badVersion: (version) => coded('DELIV_DKIM_BAD_VERSION', dkim.reasons.badVersion(version), { version }),
        badKey: coded('DELIV_DKIM_BAD_KEY', dkim.reasons.badKey, {}),
        unknownKeyType: (type) =>
          coded('DELIV_DKIM_UNKNOWN_KEY_TYPE', dkim.reasons.unknownKeyType(type), { keyType: type }),
        shortKey: (bits) => coded('DELIV_DKIM_SHORT_KEY', dkim.reasons.shortKey(bits), { bits }),
      },
      lookupFailed: (recordName) => coded('DELIV_DKIM_LOOKUP_FAILED', dkim.lookupFailed(recordName), { recordName }),
      setup: {
        google: (domain) => coded('DELIV_DKIM_SETUP_GOOGLE', dkim.setup.google(domain), { domain }),
        microsoft: (domain) => coded('DELIV_DKIM_SETUP_MICROSOFT', dkim.setup.microsoft(domain), { domain }),
        zoho: (domain) => coded('DELIV_DKIM_SETUP_ZOHO', dkim.setup.zoho(domain), { domain }),
        fastmail: (domain) => coded('DELIV_DKIM_SETUP_FASTMAIL', dkim.setup.fastmail(domain), { domain }),
        icloud: (domain) => coded('DELIV_DKIM_SETUP_ICLOUD', dkim.setup.icloud(domain), { domain }),
        generic: (recordName) =>
          coded('DELIV_DKIM_SETUP_GENERIC', dkim.setup.generic(recordName), { setupRecordName: recordName }),
      },
    },
    dmarc: {
      missing: (recordName, record) =>
        coded('DELIV_DMARC_MISSING', dmarc.missing(recordName, record), { recordName, record }),
      weak: (recordName, policy) => coded('DELIV_DMARC_WEAK', dmarc.weak(recordName, policy), { recordName, policy }),
      invalidPolicy: (recordName, policy) =>
        coded('DELIV_DMARC_INVALID_POLICY', dmarc.invalidPolicy(recordName, policy), { recordName, policy }),
      lookupFailed: (domain) => coded('DELIV_DMARC_LOOKUP_FAILED', dmarc.lookupFailed(domain), { domain }),
    },
  };
}

/** A check's fix as English, code and parameters; a fix that was not wrapped stays English alone. */
export function fixOf(fix: string | undefined): Partial<CodedFix> {
  if (fix === undefined) return {};
  const coded = decode(fix);
  return coded ? { fix: coded.en, fixCode: coded.code, fixParams: coded.params } : { fix };
}
