// Does a sender domain's DNS let the chosen SMTP server deliver its mail? SPF (is the server authorised),
// DKIM (is a signing key published) and DMARC (which policy) — each with a status and, when something is
// wrong, one fix in words an IT person can act on. SPF and DMARC are evaluated by mailauth; DKIM can only be
// checked for a published key here (whether the server actually signs shows in a sent message, not in DNS).
import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
// mailauth is loaded when a check runs (~10 MB of heap an idle process need not carry).
import type { SPFResult } from 'mailauth';
import { AppError } from '../../core/app-error.js';
import { isNoRecordError, type DnsResolver } from './dns-resolver.js';
import type { TextParams } from '../../core/server-text.js';
import {
  codedDeliverabilityMessages,
  fixOf,
  type DeliverabilityMessages,
  type DeliverabilityTextCode,
  type KnownSenderId,
} from './deliverability-texts.js';

export type SpfStatus = 'pass' | 'fail' | 'missing' | 'error';
export type DkimStatus = 'pass' | 'missing' | 'error' | 'unknown';
export type DmarcStatus = 'pass' | 'missing' | 'weak' | 'error';

export interface SpfCheck {
  status: SpfStatus;
  /** The domain's SPF record as published. */
  record?: string;
  fix?: string;
  /** The fix as a text code and parameters, for the user's language (deliverability-texts.ts). */
  fixCode?: DeliverabilityTextCode;
  fixParams?: TextParams;
}

export interface DkimCheck {
  status: DkimStatus;
  /** The selector checked (or, when none was given, the one found). */
  selector?: string;
  /** The TXT record at `<selector>._domainkey.<domain>`. */
  record?: string;
  fix?: string;
  /** The fix as a text code and parameters, for the user's language (deliverability-texts.ts). */
  fixCode?: DeliverabilityTextCode;
  fixParams?: TextParams;
}

export interface DmarcCheck {
  status: DmarcStatus;
  record?: string;
  /** The policy that applies to the domain: `none`, `quarantine` or `reject` (a subdomain's `sp=`). */
  policy?: string;
  fix?: string;
  /** The fix as a text code and parameters, for the user's language (deliverability-texts.ts). */
  fixCode?: DeliverabilityTextCode;
  fixParams?: TextParams;
}

export interface DeliverabilityReport {
  domain: string;
  spf: SpfCheck;
  dkim: DkimCheck;
  dmarc: DmarcCheck;
}

export interface DeliverabilityInput {
  /** The sender domain: the part after @ of the account's address. */
  domain: string;
  /** The SMTP server the mail goes out through. */
  smtpHost: string;
  /** The addresses that server connects to receivers from, when not the ones its name resolves to (NAT, relays). */
  smtpIps?: string[];
  /** The DKIM selector the server signs with; null: unknown, try the usual ones. */
  dkimSelector: string | null;
  resolver: DnsResolver;
  signal?: AbortSignal;
  /**
   * Where a sending service publishes its own key (e.g. `conversa._domainkey.relay.example`): when the key is
   * missing at the customer's domain, the fix asks for a CNAME to it instead of a TXT record.
   */
  dkimKeyTarget?: string;
  /** The texts of the report (English by default). */
  messages?: DeliverabilityMessages;
}

// ---- the texts, in one place so a translation is one more object of this type -------------------------------

export const englishDeliverabilityMessages: DeliverabilityMessages = {
  spf: {
    missing: (domain, suggested) =>
      `${domain} has no SPF record, so receivers cannot tell whether this server may send its mail. ` +
      `Add a TXT record to ${domain} with the value: ${suggested}`,
    notAuthorised: (domain, terms, suggested) =>
      `Add "${terms}" to the SPF record of ${domain} (before the "all" at its end), so it reads: ${suggested}`,
    multipleRecords: (domain, count) =>
      `${domain} has ${count} SPF records; receivers then ignore all of them. ` +
      `Merge them into one TXT record that starts with "v=spf1" and delete the others.`,
    broken: (domain, reason) => `The SPF record of ${domain} has an error, so receivers ignore it: ${reason}.`,
    tooManyLookups:
      'checking it takes more than 10 DNS lookups (every include:, a, mx, ptr, exists and redirect counts); remove the includes you no longer use',
    tooManyVoidLookups: 'it refers to more than two names that do not exist; remove those',
    lookupFailed: (domain) => `The DNS records of ${domain} could not be read just now. Try again in a few minutes.`,
    hostNotFound: (host) =>
      `The sending server ${host} was not found in DNS. Check the SMTP server name in the settings.`,
  },
  dkim: {
    missing: (recordName, setup) => `No DKIM key is published at ${recordName}. ${setup}`,
    missingCname: (recordName, target) =>
      `No DKIM key is published at ${recordName}. Add a CNAME record ${recordName} pointing to ${target}.`,
    unknown: (domain, tried, setup) =>
      `No DKIM key was found for ${domain} under the usual names (${tried.join(', ')}). ` +
      `If your provider signs with another selector, enter it in the SMTP settings. ${setup}`,
    revoked: (recordName, setup) => `The DKIM key at ${recordName} is revoked (its "p=" is empty). ${setup}`,
    invalid: (recordName, reason, setup) => `The DKIM record at ${recordName} cannot be used: ${reason}. ${setup}`,
    reasons: {
      notDkim: 'it is not a DKIM key',
      several: 'there are several DKIM records at that name; keep only one',
      noKey: 'it has no key ("p=")',
      badVersion: (version) => `it says "v=${version}" instead of "v=DKIM1"`,
      badKey: 'its key ("p=") is damaged — often a character lost while copying',
      unknownKeyType: (type) => `its key type "${type}" is not one receivers accept (rsa or ed25519)`,
      shortKey: (bits) =>
        `its key is only ${bits} bits long and receivers reject keys under 1024 bits; create a 2048-bit key`,
    },
    lookupFailed: (recordName) =>
      `The DKIM record at ${recordName} could not be read just now. Try again in a few minutes.`,
    setup: {
      google: (domain) =>
        `Turn on DKIM in the Google Admin console (Apps › Google Workspace › Gmail › Authenticate email): generate a key for ${domain}, ` +
        `publish the TXT record it shows, then click "Start authentication".`,
      microsoft: (domain) =>
        `Turn on DKIM for ${domain} in the Microsoft Defender portal (Email & collaboration › Policies › Email authentication settings › DKIM) ` +
        `and add the two CNAME records it shows, selector1._domainkey and selector2._domainkey.`,
      zoho: (domain) =>
        `In the Zoho Mail admin console (Domains › ${domain} › Email configuration › DKIM), add a selector, publish the TXT record it shows and click Verify.`,
      fastmail: (domain) =>
        `Add the three DKIM CNAME records Fastmail shows for ${domain} under Settings › Domains (fm1._domainkey, fm2._domainkey and fm3._domainkey).`,
      icloud: (domain) =>
        `Add the DKIM CNAME record (sig1._domainkey) that iCloud shows in the settings of the custom e-mail domain ${domain}.`,
      generic: (recordName) =>
        `Ask whoever runs your mail server for its DKIM public key and publish it as a TXT record at ${recordName}.`,
    },
  },
  dmarc: {
    missing: (recordName, suggested) =>
      `There is no DMARC record. Add a TXT record at ${recordName} with the value: ${suggested} ` +
      `(once SPF and DKIM pass; some start with "p=none" for a few weeks to watch the reports).`,
    weak: (recordName, policy) =>
      `The DMARC policy is "p=${policy}": receivers are told to deliver mail that fails the checks anyway, so anyone can send as you. ` +
      `Once SPF and DKIM pass, change it to "p=quarantine" (or "p=reject") in the TXT record at ${recordName}.`,
    invalidPolicy: (recordName, policy) =>
      `The DMARC record at ${recordName} has no valid policy ("p=${policy}"). Set "p=quarantine" (or "p=reject").`,
    lookupFailed: (domain) => `The DMARC record of ${domain} could not be read just now. Try again in a few minutes.`,
  },
};

// ---- what is known about mailbox providers' sending servers ---------------------------------------------------

interface KnownSender {
  id: KnownSenderId;
  /** Host names (exact) or `.suffix` patterns of its SMTP servers. */
  smtpHosts: string[];
  /** The SPF include that authorises all of its sending servers. */
  spfInclude: string;
  /** The selectors it signs with by default. */
  dkimSelectors: string[];
}

// Zoho's include follows the data centre of the account, which its SMTP host name shows.
const KNOWN_SENDERS: readonly KnownSender[] = [
  {
    id: 'google',
    smtpHosts: ['.gmail.com', '.googlemail.com'],
    spfInclude: '_spf.google.com',
    dkimSelectors: ['google'],
  },
  {
    id: 'microsoft',
    smtpHosts: ['.office365.com', '.outlook.com'],
    spfInclude: 'spf.protection.outlook.com',
    dkimSelectors: ['selector1', 'selector2'],
  },
  ...['com', 'eu', 'in', 'com.au', 'jp'].map((tld): KnownSender => ({
    id: 'zoho',
    smtpHosts: [`.zoho.${tld}`],
    spfInclude: `zoho.${tld}`,
    dkimSelectors: ['zmail'],
  })),
  {
    id: 'fastmail',
    smtpHosts: ['.fastmail.com', '.messagingengine.com'],
    spfInclude: 'spf.messagingengine.com',
    dkimSelectors: ['fm1', 'fm2', 'fm3'],
  },
  { id: 'icloud', smtpHosts: ['.mail.me.com'], spfInclude: 'icloud.com', dkimSelectors: ['sig1'] },
];

/** Selectors tried after the provider's own when the caller does not know which one the server uses. */
const COMMON_SELECTORS = ['default', 'dkim', 'mail', 'selector1', 'selector2', 'google', 'k1', 's1', 's2'];

function knownSender(smtpHost: string): KnownSender | undefined {
  const host = smtpHost.toLowerCase().replace(/\.$/, '');
  return KNOWN_SENDERS.find((sender) =>
    sender.smtpHosts.some((pattern) =>
      pattern.startsWith('.') ? host.endsWith(pattern) || host === pattern.slice(1) : host === pattern,
    ),
  );
}

// ---- the check -------------------------------------------------------------------------------------------------

/**
 * Checks SPF, DKIM and DMARC of `domain` for mail sent through `smtpHost`. DNS trouble becomes an `error`
 * status in the part it hit, never an exception; the function rejects only when `signal` aborts or the
 * domain is not a domain name (AppError VALIDATION_FAILED).
 */
export async function checkDeliverability(input: DeliverabilityInput): Promise<DeliverabilityReport> {
  const { signal } = input;
  signal?.throwIfAborted();
  const domain = normaliseDomain(input.domain);
  // The English texts, each also carrying its code and parameters (read back below), unless the caller chose texts.
  const coded = input.messages === undefined;
  const messages = input.messages ?? codedDeliverabilityMessages(englishDeliverabilityMessages);
  // Once aborted, no further query goes out; answers still in flight are ignored.
  const resolver = ((name: string, rrtype: string) => {
    signal?.throwIfAborted();
    return input.resolver(name, rrtype);
  }) as DnsResolver;
  const sender = knownSender(input.smtpHost);

  const [spf, dkim, dmarc] = await abortable(
    Promise.all([
      checkSpf(domain, input.smtpHost, input.smtpIps, sender, resolver, messages),
      checkDkim(domain, input.dkimSelector, input.dkimKeyTarget, sender, resolver, messages),
      checkDmarc(domain, resolver, messages),
    ]),
    signal,
  );
  if (!coded) return { domain, spf, dkim, dmarc };
  return { domain, spf: withFixCode(spf), dkim: withFixCode(dkim), dmarc: withFixCode(dmarc) };
}

function withFixCode<T extends { fix?: string }>(check: T): T {
  if (check.fix === undefined) return check;
  return { ...check, ...fixOf(check.fix) };
}

function normaliseDomain(raw: string): string {
  const domain = domainToASCII(raw.trim().toLowerCase().replace(/\.$/, ''));
  if (!/^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/.test(domain)) {
    throw new AppError('VALIDATION_FAILED', `"${raw}" is not a domain name`);
  }
  return domain;
}

function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? signal.reason : error);
      },
    );
  });
}

async function readTxt(resolver: DnsResolver, name: string): Promise<string[]> {
  try {
    return (await resolver(name, 'TXT')).map((chunks) => chunks.join(''));
  } catch (error) {
    if (isNoRecordError(error)) return [];
    throw error;
  }
}

// ---- SPF -------------------------------------------------------------------------------------------------------

async function checkSpf(
  domain: string,
  smtpHost: string,
  smtpIps: string[] | undefined,
  sender: KnownSender | undefined,
  resolver: DnsResolver,
  messages: DeliverabilityMessages,
): Promise<SpfCheck> {
  const text = messages.spf;
  let records: string[];
  let ips: string[];
  try {
    records = (await readTxt(resolver, domain)).filter((record) => /^v=spf1(\s|$)/i.test(record.trim()));
  } catch {
    return { status: 'error', fix: text.lookupFailed(domain) };
  }
  try {
    ips = smtpIps !== undefined && smtpIps.length > 0 ? smtpIps : await addressesOf(smtpHost, resolver);
  } catch (error) {
    return { status: 'error', fix: isNoRecordError(error) ? text.hostNotFound(smtpHost) : text.lookupFailed(smtpHost) };
  }
  const record = records[0];
  if (records.length > 1)
    return { status: 'error', record: records.join('\n'), fix: text.multipleRecords(domain, records.length) };

  const suggestTerms = (failing: string[]): string[] => {
    const include = sender ? `include:${sender.spfInclude}` : null;
    // An include already there that still does not cover the server says the server is not the provider's.
    if (include !== null && !(record ?? '').toLowerCase().split(/\s+/).includes(include)) return [include];
    return failing.map((ip) => (isIP(ip) === 6 ? `ip6:${ip}` : `ip4:${ip}`));
  };

  if (record === undefined) {
    return { status: 'missing', fix: text.missing(domain, `v=spf1 ${suggestTerms(ips).join(' ')} ~all`) };
  }

  const helo = isIP(smtpHost) === 0 ? smtpHost : undefined;
  const { spf: evaluateSpf } = await import('mailauth');
  const results: SPFResult[] = await Promise.all(
    ips.map((ip) => evaluateSpf({ sender: `postmaster@${domain}`, ip, helo, mta: 'conversa', resolver })),
  );
  const outcome = (result: SPFResult): string => result.status.result;

  const broken = results.find((result) => outcome(result) === 'permerror');
  if (broken !== undefined)
    return { status: 'error', record, fix: text.broken(domain, spfErrorReason(broken, messages)) };
  if (results.some((result) => outcome(result) === 'temperror' || outcome(result) === 'temperr')) {
    return { status: 'error', record, fix: text.lookupFailed(domain) };
  }
  // mailauth says `none` when it found no usable record although a v=spf1 line exists (e.g. an invalid domain).
  if (results.some((result) => outcome(result) === 'none')) {
    return { status: 'missing', record, fix: text.missing(domain, `v=spf1 ${suggestTerms(ips).join(' ')} ~all`) };
  }
  const failing = ips.filter((_, i) => outcome(results[i] as SPFResult) !== 'pass');
  if (failing.length === 0) return { status: 'pass', record };
  const terms = suggestTerms(failing);
  return { status: 'fail', record, fix: text.notAuthorised(domain, terms.join(' '), insertSpfTerms(record, terms)) };
}

/** The addresses receivers see the server connect from: its A and AAAA records (an IP literal is itself). */
async function addressesOf(host: string, resolver: DnsResolver): Promise<string[]> {
  const literal = host.replace(/^\[|\]$/g, '');
  if (isIP(literal) !== 0) return [literal];
  const [v4, v6] = await Promise.allSettled([resolver(host, 'A'), resolver(host, 'AAAA')]);
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (addresses.length > 0) return addresses;
  // Neither answered with an address: report the more telling failure (a lookup error beats "no such name").
  const failures = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  throw (
    failures.find((error) => !isNoRecordError(error)) ??
    failures[0] ??
    Object.assign(new Error('no address'), { code: 'ENODATA' })
  );
}

/** Puts new mechanisms before the record's final `all` (or `redirect=`), where they still count. */
function insertSpfTerms(record: string, terms: string[]): string {
  const parts = record.trim().split(/\s+/);
  const end = parts.findIndex((part, i) => i > 0 && (/^[+~?-]?all$/i.test(part) || /^redirect=/i.test(part)));
  if (end < 0) return [...parts, ...terms].join(' ');
  return [...parts.slice(0, end), ...terms, ...parts.slice(end)].join(' ');
}

function spfErrorReason(result: SPFResult, messages: DeliverabilityMessages): string {
  const comment = result.status.comment ?? '';
  if (/too many dns requests/i.test(comment)) return messages.spf.tooManyLookups;
  if (/too many void/i.test(comment)) return messages.spf.tooManyVoidLookups;
  // mailauth's comment reads "<mta>: permanent error in processing during lookup of <sender>: <reason>".
  const reason = /lookup of \S+: (.*)$/.exec(comment)?.[1];
  return reason ?? comment;
}

// ---- DKIM ------------------------------------------------------------------------------------------------------

type KeyOutcome =
  | { kind: 'found'; record: string }
  | { kind: 'missing' }
  | { kind: 'revoked'; record: string }
  | { kind: 'invalid'; record: string; reason: string }
  | { kind: 'lookup-failed' };

async function checkDkim(
  domain: string,
  selector: string | null,
  keyTarget: string | undefined,
  sender: KnownSender | undefined,
  resolver: DnsResolver,
  messages: DeliverabilityMessages,
): Promise<DkimCheck> {
  const text = messages.dkim;
  const recordName = (s: string): string => `${s}._domainkey.${domain}`;
  const setup = (s: string): string => (sender ? text.setup[sender.id](domain) : text.setup.generic(recordName(s)));
  const report = (s: string, outcome: KeyOutcome): DkimCheck => {
    switch (outcome.kind) {
      case 'found':
        return { status: 'pass', selector: s, record: outcome.record };
      case 'missing':
        return {
          status: 'missing',
          selector: s,
          fix: keyTarget ? text.missingCname(recordName(s), keyTarget) : text.missing(recordName(s), setup(s)),
        };
      case 'revoked':
        return { status: 'error', selector: s, record: outcome.record, fix: text.revoked(recordName(s), setup(s)) };
      case 'invalid':
        return {
          status: 'error',
          selector: s,
          record: outcome.record,
          fix: text.invalid(recordName(s), outcome.reason, setup(s)),
        };
      case 'lookup-failed':
        return { status: 'error', selector: s, fix: text.lookupFailed(recordName(s)) };
      default: {
        const unreachable: never = outcome;
        return unreachable;
      }
    }
  };

  if (selector !== null && selector.trim() !== '') {
    const s = selector.trim().toLowerCase();
    return report(s, await lookupKey(recordName(s), resolver, messages));
  }

  const candidates = [...new Set([...(sender?.dkimSelectors ?? []), ...COMMON_SELECTORS])];
  const outcomes = await Promise.all(
    candidates.map(async (s) => [s, await lookupKey(recordName(s), resolver, messages)] as const),
  );
  // A usable key wins; then a published but broken one (someone tried); then a failed lookup; else unknown.
  for (const kind of ['found', 'revoked', 'invalid', 'lookup-failed'] as const) {
    const hit = outcomes.find(([, outcome]) => outcome.kind === kind);
    if (hit !== undefined) return report(hit[0], hit[1]);
  }
  const firstSelector = candidates[0] as string;
  return { status: 'unknown', fix: text.unknown(domain, candidates, setup(firstSelector)) };
}

async function lookupKey(name: string, resolver: DnsResolver, messages: DeliverabilityMessages): Promise<KeyOutcome> {
  const reasons = messages.dkim.reasons;
  let records: string[];
  try {
    records = await readTxt(resolver, name);
  } catch {
    return { kind: 'lookup-failed' };
  }
  if (records.length === 0) return { kind: 'missing' };
  const keys = records.filter((record) => /(^|;)\s*(v\s*=\s*DKIM1|p\s*=)/i.test(record));
  const first = records[0] as string;
  if (keys.length === 0) return { kind: 'invalid', record: first, reason: reasons.notDkim };
  if (keys.length > 1) return { kind: 'invalid', record: keys.join('\n'), reason: reasons.several };
  const record = keys[0] as string;

  const tags = new Map<string, string>();
  for (const part of record.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) tags.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).replace(/\s+/g, ''));
  }
  const version = tags.get('v');
  if (version !== undefined && version.toUpperCase() !== 'DKIM1')
    return { kind: 'invalid', record, reason: reasons.badVersion(version) };
  const p = tags.get('p');
  if (p === undefined) return { kind: 'invalid', record, reason: reasons.noKey };
  if (p === '') return { kind: 'revoked', record };
  const type = (tags.get('k') ?? 'rsa').toLowerCase();
  if (type !== 'rsa' && type !== 'ed25519') return { kind: 'invalid', record, reason: reasons.unknownKeyType(type) };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(p)) return { kind: 'invalid', record, reason: reasons.badKey };
  const der = Buffer.from(p, 'base64');
  try {
    if (type === 'ed25519') {
      // RFC 8463 publishes the bare 32-byte key; wrap it in the SPKI prefix Node reads.
      if (der.length !== 32) return { kind: 'invalid', record, reason: reasons.badKey };
      createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), der]),
        format: 'der',
        type: 'spki',
      });
      return { kind: 'found', record };
    }
    const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'rsa') return { kind: 'invalid', record, reason: reasons.badKey };
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 1024) return { kind: 'invalid', record, reason: reasons.shortKey(bits) };
    return { kind: 'found', record };
  } catch {
    return { kind: 'invalid', record, reason: reasons.badKey };
  }
}

// ---- DMARC -----------------------------------------------------------------------------------------------------

async function checkDmarc(
  domain: string,
  resolver: DnsResolver,
  messages: DeliverabilityMessages,
): Promise<DmarcCheck> {
  const text = messages.dmarc;
  // mailauth finds the record that governs the domain (its own, else its organisational domain's, RFC 7489 §6.6.3)
  // and the policy that applies (a subdomain gets sp=). Alignment does not matter here: no message is judged.
  const { dmarc: evaluateDmarc } = await import('mailauth');
  const result = await evaluateDmarc({ headerFrom: `postmaster@${domain}`, spfDomains: [], dkimDomains: [], resolver });
  if (result === false || result.status.result === 'temperror' || result.status.result === 'temperr') {
    return { status: 'error', fix: text.lookupFailed(domain) };
  }
  const own = `_dmarc.${domain}`;
  if (result.status.result === 'none' || result.rr === undefined) {
    return { status: 'missing', fix: text.missing(own, `v=DMARC1; p=quarantine; rua=mailto:postmaster@${domain}`) };
  }
  // Where the governing record lives: the domain's own, or its organisational domain's.
  let where = own;
  try {
    const ownRecords = await readTxt(resolver, own);
    if (!ownRecords.some((record) => /^v=DMARC1\b/i.test(record.trim()))) where = `_dmarc.${result.domain}`;
  } catch {
    // Keep the domain's own name: the fix still points somewhere sensible.
  }
  const record = result.rr;
  const policy = (result.policy ?? result.p ?? '').trim().toLowerCase();
  if (policy === 'quarantine' || policy === 'reject') return { status: 'pass', record, policy };
  if (policy === 'none') return { status: 'weak', record, policy, fix: text.weak(where, policy) };
  return { status: 'weak', record, ...(policy ? { policy } : {}), fix: text.invalidPolicy(where, policy) };
}
