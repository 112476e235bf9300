// A tiny authoritative DNS server for tests: UDP and TCP on one 127.0.0.1 port, answering A, AAAA, CNAME,
// MX, TXT, NS and PTR from an in-memory zone a test fills with set(). No recursion, no SOA, no caching hints
// (TTL 0, so the c-ares cache in node:dns never holds an answer between two tests). The wire format
// (RFC 1035, EDNS0 payload size from RFC 6891) is written by hand: it is small and needs no package.

import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv4, isIPv6, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME' | 'MX' | 'TXT' | 'NS' | 'PTR';

/** What a name answers instead of records: a server failure, a refusal, or silence (the client times out). */
export type DnsFailure = 'SERVFAIL' | 'REFUSED' | 'TIMEOUT';

export interface DnsQueryLog {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
}

export interface DnsServer {
  host: string;
  port: number;
  /** For createDnsResolver({ servers }) or dns.Resolver#setServers: ['127.0.0.1:PORT']. */
  servers: string[];
  /**
   * Replaces the records of one type at a name (empty `values` removes them). Values as in a zone file:
   * A '192.0.2.1', AAAA '2001:db8::1', CNAME/NS/PTR 'target.example', MX '10 mx.example',
   * TXT the whole text (split into 255-byte strings on the wire by the server).
   */
  set(name: string, type: DnsRecordType, values: string[]): void;
  /** Makes every query for `name` (any type) fail this way until clear(). */
  fail(name: string, how: DnsFailure): void;
  /** Forgets every record and failure (and the query log). */
  clear(): void;
  /** Every question asked so far, in arrival order. */
  readonly queries: readonly DnsQueryLog[];
  stop(): Promise<void>;
}

const TYPE_CODES: Record<DnsRecordType, number> = { A: 1, NS: 2, CNAME: 5, PTR: 12, MX: 15, TXT: 16, AAAA: 28 };
const TYPE_NAMES = new Map<number, string>(Object.entries(TYPE_CODES).map(([name, code]) => [code, name]));
const OPT = 41;
const CLASS_IN = 1;
const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
/** Without EDNS0 a UDP answer may not exceed 512 bytes (RFC 1035 §4.2.1); larger ones go out truncated. */
const CLASSIC_UDP_LIMIT = 512;
const MAX_CNAME_HOPS = 8;

type Zone = Map<string, Map<DnsRecordType, string[]>>;

interface Question {
  id: number;
  flags: number;
  name: string;
  qtype: number;
  /** The end of the question section: the answer echoes bytes 12..questionEnd. */
  questionEnd: number;
  /** The requester's EDNS0 UDP payload size, or null without an OPT record. */
  udpPayload: number | null;
}

/** Starts the server on a free port (UDP and TCP share the number). */
export async function startDnsServer(): Promise<DnsServer> {
  const zone: Zone = new Map();
  const failures = new Map<string, DnsFailure>();
  const queries: DnsQueryLog[] = [];

  const answer = (query: Buffer, transport: 'udp' | 'tcp'): Buffer | null => {
    const question = parseQuestion(query);
    if (question === null)
      return query.length >= 12 ? header(query.readUInt16BE(0), query.readUInt16BE(2), RCODE.FORMERR, 0) : null;
    queries.push({ name: question.name, type: TYPE_NAMES.get(question.qtype) ?? String(question.qtype), transport });
    const failure = failures.get(question.name);
    if (failure === 'TIMEOUT') return null;
    if (failure !== undefined) return respond(query, question, RCODE[failure], []);
    const { rcode, records } = lookup(zone, question.name, question.qtype);
    const response = respond(query, question, rcode, records);
    const limit = Math.max(CLASSIC_UDP_LIMIT, question.udpPayload ?? 0);
    if (transport === 'udp' && response.length > limit) return respond(query, question, rcode, [], true);
    return response;
  };

  const createUdp = (): UdpSocket => {
    const socket = createSocket('udp4');
    socket.on('message', (message: Buffer, peer: RemoteInfo) => {
      const response = safely(() => answer(message, 'udp'));
      if (response !== null) socket.send(response, peer.port, peer.address);
    });
    return socket;
  };

  const connections = new Set<TcpSocket>();
  const tcp = createServer((socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Each TCP message is prefixed with its two-byte length (RFC 1035 §4.2.2); several may share a segment.
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const response = safely(() => answer(message, 'tcp'));
        if (response === null) continue;
        const prefix = Buffer.alloc(2);
        prefix.writeUInt16BE(response.length);
        socket.write(Buffer.concat([prefix, response]));
      }
    });
  });
  tcp.on('error', () => undefined);

  const { udp, port } = await listenOnSharedPort(createUdp, tcp);
  // A malformed packet or a vanished peer must not take the test process down.
  udp.on('error', () => undefined);
  const host = '127.0.0.1';

  return {
    host,
    port,
    servers: [`${host}:${port}`],
    queries,
    set(name, type, values) {
      const key = normaliseName(name);
      if (values.length === 0) {
        zone.get(key)?.delete(type);
        if (zone.get(key)?.size === 0) zone.delete(key);
        return;
      }
      for (const value of values) encodeRdata(type, value); // reject a bad value now, not at query time
      let types = zone.get(key);
      if (types === undefined) zone.set(key, (types = new Map()));
      types.set(type, [...values]);
    },
    fail(name, how) {
      failures.set(normaliseName(name), how);
    },
    clear() {
      zone.clear();
      failures.clear();
      queries.length = 0;
    },
    stop: async () => {
      for (const socket of connections) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}

function safely(produce: () => Buffer | null): Buffer | null {
  try {
    return produce();
  } catch {
    return null;
  }
}

/** Binds UDP to a free port, then TCP to the same number; retries when TCP finds that number taken. */
async function listenOnSharedPort(
  createUdp: () => UdpSocket,
  tcp: TcpServer,
): Promise<{ udp: UdpSocket; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const udp = createUdp();
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => {
        udp.off('error', reject);
        resolve(udp.address().port);
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      return { udp, port };
    } catch (error) {
      // A bound UDP socket cannot move to another port: close it and try a fresh pair.
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (attempt >= 10) throw error;
    }
  }
}

function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

interface AnswerRecord {
  name: string;
  type: DnsRecordType;
  value: string;
}

/** Authoritative lookup: follows CNAMEs inside the zone; NXDOMAIN only when nothing exists at or below the name. */
function lookup(zone: Zone, name: string, qtype: number): { rcode: number; records: AnswerRecord[] } {
  const records: AnswerRecord[] = [];
  let current = name;
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const types = zone.get(current);
    const wanted = TYPE_NAMES.get(qtype) as DnsRecordType | undefined;
    if (wanted !== undefined && types?.has(wanted)) {
      for (const value of types.get(wanted) ?? []) records.push({ name: current, type: wanted, value });
      return { rcode: RCODE.NOERROR, records };
    }
    const cname = types?.get('CNAME')?.[0];
    if (cname !== undefined && wanted !== 'CNAME') {
      records.push({ name: current, type: 'CNAME', value: cname });
      current = normaliseName(cname);
      continue;
    }
    return { rcode: exists(zone, current) ? RCODE.NOERROR : RCODE.NXDOMAIN, records };
  }
  return { rcode: RCODE.SERVFAIL, records: [] };
}

/** A name exists when it has records or a name below it does (an "empty non-terminal", e.g. _domainkey.x). */
function exists(zone: Zone, name: string): boolean {
  if (zone.has(name)) return true;
  for (const owner of zone.keys()) if (owner.endsWith(`.${name}`)) return true;
  return false;
}

// ---- wire format -------------------------------------------------------------------------------------------

function parseQuestion(message: Buffer): Question | null {
  if (message.length < 12) return null;
  const id = message.readUInt16BE(0);
  const flags = message.readUInt16BE(2);
  if (flags & 0x8000) return null; // a response, not a query
  const qdcount = message.readUInt16BE(4);
  const ancount = message.readUInt16BE(6);
  const nscount = message.readUInt16BE(8);
  const arcount = message.readUInt16BE(10);
  if (qdcount !== 1) return null;
  const parsedName = readName(message, 12);
  if (parsedName === null || parsedName.end + 4 > message.length) return null;
  const qtype = message.readUInt16BE(parsedName.end);
  const qclass = message.readUInt16BE(parsedName.end + 2);
  if (qclass !== CLASS_IN) return null;
  const questionEnd = parsedName.end + 4;

  // Look for an OPT pseudo-record among the remaining records to learn the EDNS0 UDP payload size.
  let udpPayload: number | null = null;
  let offset = questionEnd;
  for (let i = 0; i < ancount + nscount + arcount; i++) {
    const owner = readName(message, offset);
    if (owner === null || owner.end + 10 > message.length) break;
    const type = message.readUInt16BE(owner.end);
    const rrClass = message.readUInt16BE(owner.end + 2);
    const rdlength = message.readUInt16BE(owner.end + 8);
    if (type === OPT) udpPayload = rrClass;
    offset = owner.end + 10 + rdlength;
  }
  return { id, flags, name: normaliseName(parsedName.name), qtype, questionEnd, udpPayload };
}

function readName(message: Buffer, start: number): { name: string; end: number } | null {
  const labels: string[] = [];
  let offset = start;
  let end: number | null = null;
  for (let jumps = 0; jumps < 64; jumps++) {
    if (offset >= message.length) return null;
    const length = message[offset] as number;
    if (length === 0) return { name: labels.join('.'), end: end ?? offset + 1 };
    if ((length & 0xc0) === 0xc0) {
      // A compression pointer (rare in queries, but legal).
      if (offset + 1 >= message.length) return null;
      end ??= offset + 2;
      offset = message.readUInt16BE(offset) & 0x3fff;
      continue;
    }
    if (offset + 1 + length > message.length) return null;
    labels.push(message.toString('latin1', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  return null;
}

function header(
  id: number,
  queryFlags: number,
  rcode: number,
  qdcount: number,
  ancount = 0,
  truncated = false,
): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  const opcode = queryFlags & 0x7800;
  const rd = queryFlags & 0x0100;
  // QR (response) | opcode | AA (authoritative) | TC | RD copied | rcode. RA stays 0: there is no recursion.
  out.writeUInt16BE(0x8000 | opcode | 0x0400 | (truncated ? 0x0200 : 0) | rd | rcode, 2);
  out.writeUInt16BE(qdcount, 4);
  out.writeUInt16BE(ancount, 6);
  return out;
}

function respond(query: Buffer, question: Question, rcode: number, records: AnswerRecord[], truncated = false): Buffer {
  const parts = [
    header(question.id, question.flags, rcode, 1, records.length, truncated),
    query.subarray(12, question.questionEnd),
  ];
  for (const record of records) {
    const rdata = encodeRdata(record.type, record.value);
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(TYPE_CODES[record.type], 0);
    fixed.writeUInt16BE(CLASS_IN, 2);
    fixed.writeUInt32BE(0, 4); // TTL 0: never cached
    fixed.writeUInt16BE(rdata.length, 8);
    parts.push(encodeName(record.name), fixed, rdata);
  }
  return Buffer.concat(parts);
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const label of normaliseName(name)
    .split('.')
    .filter((l) => l !== '')) {
    const bytes = Buffer.from(label, 'latin1');
    if (bytes.length > 63) throw new Error(`DNS label longer than 63 bytes in "${name}"`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function encodeRdata(type: DnsRecordType, value: string): Buffer {
  switch (type) {
    case 'A':
      if (!isIPv4(value)) throw new Error(`not an IPv4 address: "${value}"`);
      return Buffer.from(value.split('.').map(Number));
    case 'AAAA':
      return encodeIPv6(value);
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return encodeName(value);
    case 'MX': {
      const match = /^(\d+)\s+(\S+)$/.exec(value.trim());
      if (match === null) throw new Error(`MX value must be "<preference> <host>", got "${value}"`);
      const preference = Buffer.alloc(2);
      preference.writeUInt16BE(Number(match[1]));
      return Buffer.concat([preference, encodeName(match[2] as string)]);
    }
    case 'TXT': {
      // One record, its text cut into <character-string>s of at most 255 bytes (RFC 1035 §3.3.14).
      const bytes = Buffer.from(value, 'utf8');
      const parts: Buffer[] = [];
      for (let offset = 0; offset < bytes.length || offset === 0; offset += 255) {
        const chunk = bytes.subarray(offset, offset + 255);
        parts.push(Buffer.from([chunk.length]), chunk);
        if (bytes.length === 0) break;
      }
      return Buffer.concat(parts);
    }
    default: {
      const unreachable: never = type;
      throw new Error(`unsupported record type ${String(unreachable)}`);
    }
  }
}

function encodeIPv6(address: string): Buffer {
  if (!isIPv6(address)) throw new Error(`not an IPv6 address: "${address}"`);
  let text = address;
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = (v4[1] as string).split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}
