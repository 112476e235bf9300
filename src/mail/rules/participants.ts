// Who took part in a message and which of their addresses decide the contacts it is attached to. Handles mailing
// lists that rewrite From (DMARC "munging": Google Groups' "'Ana' via Vendas", Mailman's "Ana via Lista"): the real
// author counts as the sender and the list's own addresses never attach a message to a contact.
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';

export interface Address {
  /** Lower-cased. */
  address: string;
  name: string | null;
}

export type ParticipantRole = 'from' | 'to' | 'cc' | 'bcc' | 'reply-to' | 'sender';

export interface Participant {
  role: ParticipantRole;
  address: string;
  name: string | null;
}

export interface HeaderAddresses {
  /** From; several when the header names several authors (the first one is the one list rewriting concerns). */
  from: Address | readonly Address[] | null;
  sender?: Address | null;
  replyTo: readonly Address[];
  to: readonly Address[];
  cc: readonly Address[];
  bcc: readonly Address[];
  /** The raw List-Id header, e.g. `"Vendas" <vendas.empresa.com.br>`. */
  listId?: string | null;
  /** X-Original-From, parsed (Google Groups puts the author there when it rewrites From). */
  originalFrom?: Address | null;
}

export interface ParticipantsResult {
  /**
   * Everyone named in the headers, valid addresses only, without repeats per role, in the order from, sender,
   * reply-to, to, cc, bcc. When a list rewrote From and the author is known, `from` is the author and the list
   * address that stood in From is listed as `sender` (it sent on the author's behalf, which is what Sender means).
   */
  participants: Participant[];
  /**
   * The addresses that attach the message to contacts: From (the author when a list rewrote it), Reply-To, To,
   * Cc, Bcc — as product.md lists them — without the list's own addresses and without repeats. Sender is not
   * one: it names a sending agent (a secretary, a list's bounce address, a newsletter platform), not a party.
   */
  mappingAddresses: string[];
  /** Who the message is from for the CRM: the author when a list rewrote From, else From; null without a From. */
  effectiveFrom: Address | null;
  /** The addresses recognised as the mailing list's own (excluded from mapping). */
  listAddresses: string[];
  /** True when From was recognised as rewritten by a list. */
  fromRewrittenByList: boolean;
}

export interface ListIdentity {
  /** The list identifier of RFC 2919, lower-cased: `vendas.empresa.com.br`. */
  id: string | null;
  /** A list address written directly in a (non-standard) List-Id, lower-cased. */
  address: string | null;
}

/** Reads a List-Id header: `"Name" <list.example.org>` (RFC 2919), a bare id, or a broken one naming an address. */
export function parseListId(raw: string | null | undefined): ListIdentity {
  if (!raw) return { id: null, address: null };
  const bracketed = /<([^<>]+)>/.exec(raw);
  const tokens = bracketed ? [bracketed[1]!] : raw.split(/[\s,;"]+/);
  for (const token of tokens) {
    const value = normalizeEmail(token.replace(/^mailto:/i, ''));
    if (value.includes('@')) {
      if (!isValidEmail(value)) continue;
      const at = value.lastIndexOf('@');
      return { id: `${value.slice(0, at)}.${value.slice(at + 1)}`, address: value };
    }
    if (/^[a-z0-9_+-][a-z0-9_.+-]*\.[a-z0-9-]+$/.test(value)) return { id: value, address: null };
  }
  return { id: null, address: null };
}

// Addresses a list server runs beside the list itself: mylist-bounces@, mylist-request@, mylist-owner@ (Mailman,
// Sympa, ezmlm). Subaddress tags (`+…`) are dropped before comparing.
const LIST_SERVICE_SUFFIX = /-(?:bounces?|request|owner|admin|confirm|join|leave|subscribe|unsubscribe|help|editor)$/;

/** Google Groups: every address at this domain is a group or one of its service addresses. */
const LIST_DOMAINS = new Set(['googlegroups.com']);

function isListAddress(address: string, list: ListIdentity): boolean {
  if (list.address !== null && address === list.address) return true;
  const at = address.lastIndexOf('@');
  const domain = address.slice(at + 1);
  if (LIST_DOMAINS.has(domain)) return true;
  if (list.id === null) return false;
  const local = address.slice(0, at);
  const base = local.replace(/\+.*$/, '');
  // RFC 2919 suggests the id be the list address with '@' turned into '.': compare that way round, which is
  // unambiguous even for list names with dots in them.
  return [local, base, base.replace(LIST_SERVICE_SUFFIX, '')].some((l) => `${l}.${domain}` === list.id);
}

// "'Ana Souza' via Vendas", "Ana Souza via Lista-X", "Ana (via Google Docs)": the author's name and the agent's.
const VIA_NAME = /^\s*['"]?(.*?)['"]?\s+\(?via\s+[^()]+\)?\s*$/iu;

function clean(address: Address | null | undefined): Address | null {
  if (!address) return null;
  const normalized = normalizeEmail(address.address ?? '');
  if (!isValidEmail(normalized)) return null;
  const name = address.name?.trim() || null;
  return { address: normalized, name };
}

function cleanAll(addresses: readonly Address[] | null | undefined): Address[] {
  return (addresses ?? []).map(clean).filter((a): a is Address => a !== null);
}

/**
 * Participants, mapping addresses and the effective sender of a message.
 *
 * From counts as rewritten by a list when its address is the list's (List-Id `x.domain` ↔ `x@domain`, a list
 * service address like `x-bounces@domain`, or any @googlegroups.com address), or when the message carries a
 * List-Id and either From's name reads "… via …" or X-Original-From names someone else. The author is then
 * X-Original-From, else the first Reply-To that is neither a list address nor From itself. If no author can be
 * found (a Mailman list that puts only itself in Reply-To), From stays the effective sender but still does not
 * map. A "via" name without a List-Id ("Ana (via Google Drive)" from a no-reply address) is not list rewriting:
 * From stays, and the person in Reply-To maps anyway, as every Reply-To does.
 */
export function computeParticipants(headers: HeaderAddresses): ParticipantsResult {
  const list = parseListId(headers.listId);
  const hasList = list.id !== null || list.address !== null;
  const isList = (address: string): boolean => isListAddress(address, list);

  const fromAll = cleanAll(
    Array.isArray(headers.from) ? (headers.from as readonly Address[]) : headers.from ? [headers.from as Address] : [],
  );
  const from = fromAll[0] ?? null;
  const sender = clean(headers.sender);
  const replyTo = cleanAll(headers.replyTo);
  const to = cleanAll(headers.to);
  const cc = cleanAll(headers.cc);
  const bcc = cleanAll(headers.bcc);
  const originalFrom = clean(headers.originalFrom);

  let effectiveFrom: Address | null = from;
  let rewritten = false;
  let author: Address | null = null;
  if (from) {
    const via = from.name ? VIA_NAME.exec(from.name) : null;
    const originalDiffers = originalFrom !== null && originalFrom.address !== from.address;
    author = originalDiffers
      ? originalFrom
      : (replyTo.find((r) => r.address !== from.address && !isList(r.address)) ?? null);
    const fromIsList = isList(from.address);
    if (fromIsList || (hasList && author !== null && (via !== null || originalDiffers))) {
      rewritten = true;
      if (author) effectiveFrom = { address: author.address, name: author.name ?? (via?.[1]?.trim() || null) };
    }
  }

  const listAddresses = new Set<string>();
  if (list.address) listAddresses.add(list.address);
  if (rewritten && from) listAddresses.add(from.address);
  for (const a of [...fromAll, ...(sender ? [sender] : []), ...replyTo, ...to, ...cc, ...bcc])
    if (isList(a.address)) listAddresses.add(a.address);

  const participants: Participant[] = [];
  const seen = new Map<string, Participant>();
  const add = (role: ParticipantRole, a: Address): void => {
    const key = `${role}\u0000${a.address}`;
    const existing = seen.get(key);
    if (existing) {
      existing.name ??= a.name;
      return;
    }
    const participant: Participant = { role, address: a.address, name: a.name };
    seen.set(key, participant);
    participants.push(participant);
  };
  const authorReplaced = rewritten && from !== null && effectiveFrom !== null && effectiveFrom.address !== from.address;
  if (authorReplaced) {
    add('from', effectiveFrom!);
    fromAll.slice(1).forEach((a) => add('from', a));
    add('sender', from!);
  } else {
    fromAll.forEach((a) => add('from', a));
  }
  if (sender) add('sender', sender);
  replyTo.forEach((a) => add('reply-to', a));
  to.forEach((a) => add('to', a));
  cc.forEach((a) => add('cc', a));
  bcc.forEach((a) => add('bcc', a));

  const mapping = new Set<string>();
  for (const p of participants) if (p.role !== 'sender' && !listAddresses.has(p.address)) mapping.add(p.address);

  return {
    participants,
    mappingAddresses: [...mapping],
    effectiveFrom,
    listAddresses: [...listAddresses],
    fromRewrittenByList: rewritten,
  };
}
