// The one outbound policy for every server a user names (IMAP, SMTP, custom SMTP, CalDAV and every URL a calendar
// server hands back). Without it, a user could point Conversa at 127.0.0.1 or a cloud metadata address and read
// what answers through error texts. The policy resolves a name once, refuses loopback / private / link-local /
// CGNAT / metadata / reserved addresses unless the operator listed them (CONVERSA_ALLOWED_HOSTS), and hands back
// the checked address so callers connect to exactly that address (no second lookup, so no DNS rebinding).
// Ground level: imported by mail and calendar, it imports only src/core and Node (plus undici for pinned fetch,
// loaded at the first fetch: ~5 MB of heap that a process syncing only IMAP never needs; issue 18).
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Dispatcher, fetch as UndiciFetch } from 'undici';
import { AppError } from '../core/app-error.js';
import { ConfigError } from '../core/config-error.js';

export type AddressClass =
  'public' | 'loopback' | 'private' | 'link-local' | 'cgnat' | 'metadata' | 'unspecified' | 'multicast' | 'reserved';

/** An address as a 128-bit number; IPv4 is kept as IPv4 (32 bits) so its table below applies. */
interface Parsed {
  family: 4 | 6;
  value: bigint;
}

function parseV4(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseV6(ip: string): bigint {
  let text = ip.replace(/%.*$/, '');
  // A trailing dotted quad (::ffff:1.2.3.4) becomes two hextets.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const v = parseV4(quad[1]!);
    text = `${text.slice(0, -quad[1]!.length)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}

function parse(ip: string): Parsed | null {
  const family = isIP(ip.replace(/%.*$/, ''));
  if (family === 4) return { family: 4, value: parseV4(ip) };
  if (family === 6) return { family: 6, value: parseV6(ip) };
  return null;
}

interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

function cidr(text: string): Cidr | null {
  const [ip, len] = text.split('/');
  const parsed = ip ? parse(ip) : null;
  if (!parsed) return null;
  const width = parsed.family === 4 ? 32 : 128;
  const bits = len === undefined ? width : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > width || (len !== undefined && !/^\d+$/.test(len))) return null;
  return { family: parsed.family, base: parsed.value >> BigInt(width - bits), bits };
}

function within(address: Parsed, range: Cidr): boolean {
  if (address.family !== range.family) return false;
  const width = address.family === 4 ? 32 : 128;
  return address.value >> BigInt(width - range.bits) === range.base;
}

// Most specific first: the metadata addresses sit inside link-local and unique-local ranges.
const TABLE: [string, AddressClass][] = [
  ['169.254.169.254/32', 'metadata'],
  ['169.254.170.2/32', 'metadata'],
  ['100.100.100.200/32', 'metadata'],
  ['fd00:ec2::254/128', 'metadata'],
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'reserved'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'reserved'],
  ['198.51.100.0/24', 'reserved'],
  ['203.0.113.0/24', 'reserved'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['100::/64', 'reserved'],
  ['2001::/23', 'reserved'],
  ['2001:db8::/32', 'reserved'],
  ['fc00::/7', 'private'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'reserved'],
  ['ff00::/8', 'multicast'],
];
const RANGES = TABLE.map(([range, kind]) => ({ range: cidr(range)!, kind }));

/** IPv6 forms that carry an IPv4 address: judged as that address (mapped, compatible, NAT64, 6to4). */
function embeddedV4(address: Parsed): Parsed | null {
  if (address.family !== 6) return null;
  const v = address.value;
  const low32 = v & 0xffffffffn;
  if (v >> 32n === 0xffffn) return { family: 4, value: low32 }; // ::ffff:a.b.c.d
  if (v >> 32n === 0n && v > 1n) return { family: 4, value: low32 }; // ::a.b.c.d (deprecated)
  if (v >> 32n === 0x64ff9b0000000000000000n) return { family: 4, value: low32 }; // 64:ff9b::/96
  if (v >> 48n === 0xffff00000000n >> 32n) return { family: 4, value: low32 }; // ::ffff:0:a.b.c.d (SIIT)
  if (v >> 112n === 0x2002n) return { family: 4, value: (v >> 80n) & 0xffffffffn }; // 2002::/16 (6to4)
  if (v >> 80n === 0x64ff9b0001n) return { family: 4, value: low32 }; // 64:ff9b:1::/48 (local NAT64)
  return null;
}

/** What kind of address `ip` is (an IP literal); anything unparsable counts as reserved. */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parse(ip);
  if (!parsed) return 'reserved';
  const inner = embeddedV4(parsed);
  if (inner) return classifyParsed(inner);
  return classifyParsed(parsed);
}

function classifyParsed(address: Parsed): AddressClass {
  for (const { range, kind } of RANGES) if (within(address, range)) return kind;
  // Outside global unicast (2000::/3) nothing is public on IPv6.
  if (address.family === 6 && address.value >> 125n !== 1n) return 'reserved';
  return 'public';
}

/** CONVERSA_ALLOWED_HOSTS, parsed: names (lower case, no trailing dot) and address ranges. */
export interface AllowedHosts {
  names: ReadonlySet<string>;
  ranges: readonly Cidr[];
}

function normalizeName(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** Parses "mail.internal,10.0.0.0/8,127.0.0.1,::1"; a malformed range stops start-up (ConfigError). */
export function parseAllowedHosts(raw: string | undefined): AllowedHosts {
  const names = new Set<string>();
  const ranges: Cidr[] = [];
  for (const item of (raw ?? '').split(',').map(normalizeName).filter(Boolean)) {
    if (item.includes('/') || isIP(item)) {
      const range = cidr(item);
      if (!range) throw new ConfigError(`CONVERSA_ALLOWED_HOSTS: "${item}" is not an address or CIDR range`);
      ranges.push(range);
    } else if (/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(item)) names.add(item);
    else throw new ConfigError(`CONVERSA_ALLOWED_HOSTS: "${item}" is not a host name, address or CIDR range`);
  }
  return { names, ranges };
}

/** A host that passed the policy, with the one address to connect to. */
export interface CheckedHost {
  /** The name as the user gave it (lower case): the TLS server name and what messages show. */
  host: string;
  address: string;
  family: 4 | 6;
  /** On the operator's allowed list: the only hosts a password may be sent to without TLS. */
  listed: boolean;
}

export type LookupAll = (host: string) => Promise<{ address: string; family: number }[]>;

export interface OutboundPolicy {
  /** Resolves and checks; rejects with AppError HOST_NOT_ALLOWED (or HOST_UNREACHABLE when the name is unknown). */
  check(host: string): Promise<CheckedHost>;
  /** A URL a user or a calendar server gave: http(s) only, host checked. */
  checkUrl(url: string): Promise<{ url: URL; checked: CheckedHost }>;
  /** True when the name or address is on the allowed list (without resolving). */
  listed(host: string): boolean;
  /** fetch whose connections go only to checked addresses; redirects are not followed (callers decide). */
  fetch: typeof globalThis.fetch;
}

const CLASS_WORDS: Record<Exclude<AddressClass, 'public'>, string> = {
  loopback: 'a loopback address (this machine)',
  private: 'a private network address',
  'link-local': 'a link-local address',
  cgnat: 'a carrier-grade NAT address',
  metadata: 'a cloud metadata address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  reserved: 'a reserved address',
};

export function hostNotAllowed(host: string, kind: AddressClass): AppError {
  const what = kind === 'public' ? 'an address' : CLASS_WORDS[kind];
  return new AppError(
    'HOST_NOT_ALLOWED',
    `The server "${host}" is on ${what}, which Conversa is not allowed to reach`,
    {
      hint: 'Use the public name of the server; an administrator can allow internal servers with CONVERSA_ALLOWED_HOSTS.',
      details: { host, addressClass: kind },
    },
  );
}

const systemLookup: LookupAll = (host) => dnsLookup(host, { all: true, verbatim: true });

export function createOutboundPolicy(options: { allowed: AllowedHosts; lookup?: LookupAll }): OutboundPolicy {
  const { allowed } = options;
  const resolveAll = options.lookup ?? systemLookup;
  const inRanges = (address: string): boolean => {
    const parsed = parse(address);
    if (!parsed) return false;
    const inner = embeddedV4(parsed);
    return allowed.ranges.some((r) => within(parsed, r) || (inner !== null && within(inner, r)));
  };
  const listed = (host: string): boolean => {
    const name = normalizeName(host);
    return allowed.names.has(name) || (isIP(name) !== 0 && inRanges(name));
  };

  async function check(rawHost: string): Promise<CheckedHost> {
    const host = normalizeName(rawHost);
    if (!host) throw new AppError('VALIDATION_FAILED', 'A server name is needed');
    const nameListed = allowed.names.has(host);
    let answers: { address: string; family: number }[];
    try {
      answers = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolveAll(host);
    } catch (error) {
      throw new AppError('HOST_UNREACHABLE', `The server name "${host}" could not be found`, {
        cause: error,
        details: { host },
      });
    }
    if (answers.length === 0)
      throw new AppError('HOST_UNREACHABLE', `The server name "${host}" could not be found`, { details: { host } });
    // Every address must pass: a name with one public and one internal address could be steered to either.
    for (const answer of answers) {
      const kind = classifyAddress(answer.address);
      if (kind !== 'public' && !nameListed && !inRanges(answer.address)) throw hostNotAllowed(host, kind);
    }
    const first = answers[0]!;
    return {
      host,
      address: first.address,
      family: first.family === 6 ? 6 : 4,
      listed: nameListed || answers.every((a) => inRanges(a.address)),
    };
  }

  async function checkUrl(raw: string): Promise<{ url: URL; checked: CheckedHost }> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new AppError('VALIDATION_FAILED', `"${raw.slice(0, 100)}" is not a URL`, {
        fields: [{ path: 'body.caldavUrl', message: 'not a URL' }],
      });
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new AppError('HOST_NOT_ALLOWED', `Only http and https calendar URLs are allowed, not ${url.protocol}`, {
        details: { scheme: url.protocol },
      });
    }
    if (url.username || url.password) {
      throw new AppError('VALIDATION_FAILED', 'The calendar URL must not carry a user name or password', {
        fields: [{ path: 'body.caldavUrl', message: 'credentials in URL' }],
      });
    }
    return { url, checked: await check(url.hostname) };
  }

  // The connection's own lookup: the address undici connects to is the one checked here, at connect time.
  let pinned: Promise<{ agent: Dispatcher; undiciFetch: typeof UndiciFetch }> | undefined;
  const loadPinned = async () => {
    const { Agent, fetch: undiciFetch } = await import('undici');
    const agent = new Agent({
      connect: {
        lookup: (hostname, lookupOptions, callback) => {
          check(hostname).then(
            (checked) => {
              if ((lookupOptions as { all?: boolean }).all)
                callback(null, [{ address: checked.address, family: checked.family }]);
              else callback(null, checked.address, checked.family);
            },
            (error: unknown) => callback(error as NodeJS.ErrnoException, '', 4),
          );
        },
      },
    });
    return { agent, undiciFetch };
  };
  const pinnedFetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    // IP literals never reach lookup: check them (and the scheme) here.
    await checkUrl(href);
    const { agent, undiciFetch } = await (pinned ??= loadPinned());
    const response = await undiciFetch(href, {
      ...(init as Record<string, unknown>),
      redirect: 'manual',
      dispatcher: agent,
    } as Parameters<typeof undiciFetch>[1]);
    return response as unknown as Response;
  }) as typeof globalThis.fetch;

  return { check, checkUrl, listed, fetch: pinnedFetch };
}

/** The production default when nothing else is configured: nothing internal is reachable. */
export const STRICT_OUTBOUND_POLICY: OutboundPolicy = createOutboundPolicy({ allowed: parseAllowedHosts('') });

/** For an AppError from the policy: was it the policy refusing (not a server failing)? */
export function isHostNotAllowed(error: unknown): error is AppError {
  return error instanceof AppError && error.code === 'HOST_NOT_ALLOWED';
}
