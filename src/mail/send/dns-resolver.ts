// The DNS lookups of the deliverability checks and of mailauth, behind one function type so production uses
// the system's (or configured) name servers and tests a loopback DNS server. The shape is mailauth's resolver
// contract, which is that of `dns.promises.resolve(name, rrtype)`: same answers, same error codes.
import { Resolver } from 'node:dns/promises';
import type { MxRecord } from 'node:dns';

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME' | 'MX' | 'NS' | 'PTR' | 'TXT';

/**
 * Resolves one record type at a name, like `dns.promises.resolve`:
 * - TXT → one entry per record, each the record's <character-string> chunks (join them to read the text);
 * - A / AAAA → address strings; CNAME / NS / PTR → names; MX → `{ exchange, priority }`.
 * Failures reject with a Node DNS error whose `code` mailauth reads: `ENOTFOUND` (the name does not exist) and
 * `ENODATA` (no record of that type) mean "nothing published"; `ETIMEOUT`, `EREFUSED`, `ESERVFAIL`,
 * `ECONNREFUSED` … mean the lookup itself failed (mailauth: temperror).
 *
 * The last signature is mailauth's declared `DNSResolver` type, so a DnsResolver can be passed as the `resolver`
 * option of `authenticate`, `spf`, `dmarc`, `dkimVerify` … as is (mailauth calls it with two arguments).
 */
export interface DnsResolver {
  (name: string, rrtype: 'TXT'): Promise<string[][]>;
  (name: string, rrtype: 'MX'): Promise<MxRecord[]>;
  (name: string, rrtype: 'A' | 'AAAA' | 'CNAME' | 'NS' | 'PTR'): Promise<string[]>;
  (name: string, rrtype: string): Promise<string[][] | string[]>;
}

export interface DnsResolverOptions {
  /**
   * Name servers as `host:port` (IPv6: `[::1]:53`), or bare addresses for port 53. IP addresses only: a name
   * server cannot be found by name. Absent or empty: the system's servers (/etc/resolv.conf).
   */
  servers?: string[];
  /** How long one try waits for an answer, in milliseconds (default 3000). */
  timeoutMs?: number;
  /** Tries per server before a lookup fails with ETIMEOUT (default 2). */
  tries?: number;
}

/**
 * A resolver built on node:dns's Resolver (c-ares): queries the servers directly, never /etc/hosts, and falls
 * back to TCP by itself when a UDP answer comes back truncated (long DKIM keys).
 */
export function createDnsResolver(options: DnsResolverOptions = {}): DnsResolver {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 3_000, tries: options.tries ?? 2 });
  const servers = (options.servers ?? []).map((server) => server.trim()).filter((server) => server !== '');
  if (servers.length > 0) {
    try {
      resolver.setServers(servers);
    } catch (error) {
      throw new TypeError(
        `DNS servers must be IP addresses with an optional port, like 127.0.0.1:53 or [::1]:53; got "${servers.join(',')}"`,
        { cause: error },
      );
    }
  }
  // Node's own overloads are the same shapes; the union it declares for a runtime rrtype needs the cast.
  return ((name: string, rrtype: string) => resolver.resolve(name, rrtype)) as DnsResolver;
}

/** The error codes that mean "nothing is published there" rather than "the lookup failed". */
export function isNoRecordError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'ENOTFOUND' || code === 'ENODATA';
}
