// Files a message delivered to an account's BCC address on the CRM's contacts, through the sync engine's own
// storing path (storeMessages: dedupe by key, threads, participants, attachments as blobs, contact links), as
// source 'bcc' with no mailbox location. Two cases, told apart by whom the mail is visibly addressed to:
// - to other people (the BCC address in Bcc, or even in Cc): the user SENT this mail and copied the CRM → it is
//   stored as the user's outgoing mail, on the contacts among its recipients;
// - to the BCC address alone (with, at most, the organisation's own people), with a forwarded message inside
//   (attached message/rfc822, or an inline forward block): the user FORWARDED someone's mail to the CRM → the
//   ORIGINAL is stored (its sender, recipients, date, subject, Message-ID when known, body), incoming unless its
//   From is one of the filing user's own addresses (a colleague's mail is mail the user received), on the
//   original's sender and recipients.
// Every filing is recorded in bcc_filings (message, filing user, account, time).
// A mail to the BCC address alone with no forward inside (a note to the CRM) is stored as the user's outgoing mail.
// The caller (the SMTP listener) has checked that the sender is the account's own address.
import { erasedAmong } from '../../contacts/erased-addresses.js';
import { isValidEmail, normalizeEmail } from '../../contacts/email-address.js';
import type { BlobStore } from '../../storage/blob-store.js';
import { isUniqueViolation, type Db } from '../../storage/database.js';
import { makeSnippet, type ParsedMessage, type ParseOptions } from '../mime/parse-message.js';
import { addressesToAutoCreate } from '../rules/auto-contacts.js';
import { isMachineAddress, isMachineMessage } from '../rules/machine-senders.js';
import { parseMessageIdList } from '../rules/message-key.js';
import { isNeverLogged, parseNeverLogList, type NeverLogList } from '../rules/never-log.js';
import type { Participant } from '../rules/participants.js';
import { normalizeSubject } from '../rules/thread-keys.js';
import { contactsByAddress, storeMessages, type MessageToStore } from '../intake/store-messages.js';
import {
  dateHeaderOffset,
  embeddedMessages,
  findInlineForward,
  htmlToText,
  stripForwardPrefix,
  type InlineForward,
} from './forwarded-message.js';
import { organisationAddresses } from '../accounts/organisation-addresses.js';
import { ensureContacts } from '../../contacts/ensure-contacts.js';
import { dedupeKeyOfParsed, messageFromParsed, participantsOfParsed } from '../intake/message-from-parsed.js';

export interface BccAccount {
  id: string;
  orgId: string;
  userId: string;
  /** Lower-cased. */
  email: string;
  username: string;
  bccToken: string;
  visibility: 'shared' | 'private';
}

export interface FileBccDeps {
  db: Db;
  blobs: BlobStore;
  /** The parse pool (parses forwarded originals too, and the second pass that keeps message parts apart). */
  parse(raw: Buffer, options?: ParseOptions): Promise<ParsedMessage>;
  /** BCC_DOMAIN, lower-cased. */
  bccDomain: string;
}

export type FiledKind = 'sent' | 'forwarded-attached' | 'forwarded-inline' | 'note';

export interface FiledMessage {
  /** The CRM message id. */
  id: string;
  /** False when the message was already stored (synced, or delivered before): only contact links were added. */
  created: boolean;
  contactIds: string[];
  kind: FiledKind;
}

export interface FilingResult {
  filed: FiledMessage[];
  /** Messages not stored because an address in them is on the user's never-log list. */
  neverLogged: number;
  /** Messages not stored because their only other people are contacts erased on request (issue 19). */
  erasedOnly: number;
  /** Contacts created by automatic contact creation. */
  contactsCreated: number;
}

/**
 * The account whose BCC address `address` is, or null (another domain, an unknown or deleted account's token, or a
 * mailbox paused because its owner is deactivated).
 */
export async function findBccAccount(db: Db, bccDomain: string, address: string): Promise<BccAccount | null> {
  const value = normalizeEmail(address);
  const at = value.lastIndexOf('@');
  if (at <= 0 || value.slice(at + 1) !== bccDomain.toLowerCase()) return null;
  const token = value.slice(0, at);
  // Tokens are lower-case hex (email-accounts.ts); anything else cannot be one.
  if (!/^[0-9a-f]{8,64}$/.test(token)) return null;
  const row = await db
    .selectFrom('email_accounts')
    .select(['id', 'org_id', 'user_id', 'email', 'username', 'bcc_token', 'visibility'])
    .where('bcc_token', '=', token)
    // A deactivated owner's mailbox (0009) files nothing: the address answers like an unknown one.
    .where('paused', '=', 0)
    .executeTakeFirst();
  if (!row) return null;
  return {
    id: row.id,
    orgId: row.org_id,
    userId: row.user_id,
    email: normalizeEmail(row.email),
    username: row.username,
    bccToken: row.bcc_token,
    visibility: row.visibility,
  };
}

/** The account's own sending addresses: its e-mail, and its username when that is an address. */
export function accountAddresses(account: BccAccount): Set<string> {
  const own = new Set([account.email]);
  const username = normalizeEmail(account.username);
  if (username.includes('@') && isValidEmail(username)) own.add(username);
  return own;
}

export function isAccountAddress(account: BccAccount, address: string | null | undefined): boolean {
  return !!address && accountAddresses(account).has(normalizeEmail(address));
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

interface Candidate {
  kind: FiledKind;
  parsed: ParsedMessage;
  raw: Buffer;
  messageId: string | null;
  key: string;
  participants: Participant[];
  mappingAddresses: string[];
  from: { address: string; name: string | null } | null;
  direction: 'incoming' | 'outgoing';
  machineMessage: boolean;
}

interface Context {
  deps: FileBccDeps;
  account: BccAccount;
  own: Set<string>;
  /** The filing user's addresses (every mailbox of theirs): only mail From one of them is their own. */
  filerOwn: Set<string>;
  orgOwn: Set<string>;
}

/** Participants without the BCC plumbing; mapping addresses without the BCC addresses and the account's own. */
function candidateOf(
  ctx: Context,
  kind: FiledKind,
  parsed: ParsedMessage,
  raw: Buffer,
  key: string,
  messageId: string | null,
): Candidate {
  const computed = participantsOfParsed(parsed);
  const isBccAddress = (a: string): boolean => domainOf(a) === ctx.deps.bccDomain;
  const from = computed.effectiveFrom;
  // A colleague's mail forwarded by the user is mail the user received, not mail the user sent.
  const fromOwn = from !== null && ctx.filerOwn.has(from.address);
  return {
    kind,
    parsed,
    raw,
    messageId,
    key,
    participants: computed.participants.filter((p) => !isBccAddress(p.address)),
    mappingAddresses: computed.mappingAddresses.filter((a) => !isBccAddress(a) && !ctx.own.has(a)),
    from,
    direction: kind === 'sent' || kind === 'note' || fromOwn ? 'outgoing' : 'incoming',
    machineMessage: isMachineMessage({
      autoSubmitted: parsed.autoSubmitted,
      precedence: parsed.precedence,
      listId: parsed.listId,
      headers: { 'content-type': parsed.contentType },
    }),
  };
}

function keyOf(parsed: ParsedMessage, messageId: string | null): string {
  // The sync engine's recipe, fed the same header values, so the synced copy of the same message meets this one.
  return dedupeKeyOfParsed(parsed, messageId);
}

/** Reads one top-level header of the raw source (unfolded), for the few the parser does not return. */
function rawHeader(raw: Buffer, name: string): string | null {
  const head = raw.subarray(0, 256 * 1024).toString('latin1');
  const end = head.search(/\r?\n\r?\n/);
  const block = (end === -1 ? head : head.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(block);
  return m ? m[1]!.trim() : null;
}

/** An original forwarded as an attachment: exact, parsed like synced mail. */
async function attachedCandidate(ctx: Context, raw: Buffer): Promise<Candidate> {
  const parsed = await ctx.deps.parse(raw);
  return candidateOf(ctx, 'forwarded-attached', parsed, raw, keyOf(parsed, parsed.messageId), parsed.messageId);
}

/**
 * The Message-ID of an inline-forwarded original, when it can be known: Thunderbird names it in
 * X-Forwarded-Message-Id; Gmail and others thread a forward under the original (In-Reply-To/References), which
 * only counts when a stored message with that id has the same sender and subject (a forward of a reply names the
 * reply's parent too, and a wrong id would merge two different messages).
 */
async function inlineOriginalId(
  ctx: Context,
  forward: ParsedMessage,
  raw: Buffer,
  inline: InlineForward,
): Promise<string | null> {
  if (inline.headers.messageId) return inline.headers.messageId;
  const declared = parseMessageIdList(rawHeader(raw, 'x-forwarded-message-id'));
  if (declared.length === 1) return declared[0]!;
  const candidates = [
    ...new Set([...declared, ...(forward.inReplyTo ? [forward.inReplyTo] : []), ...[...forward.references].reverse()]),
  ];
  if (candidates.length === 0 || !inline.headers.from) return null;
  const rows = await ctx.deps.db
    .selectFrom('messages')
    .select(['message_id_header', 'from_address', 'subject', 'date'])
    .where('org_id', '=', ctx.account.orgId)
    .where(
      'dedupe_key',
      'in',
      candidates.slice(0, 50).map((id) => `mid:${id}`),
    )
    .execute();
  const subject = normalizeSubject(inline.headers.subject);
  const match = rows.find(
    (r) =>
      r.from_address === inline.headers.from!.address &&
      normalizeSubject(r.subject) === subject &&
      // Printed dates are local and minute-precise: a day either way is the same message.
      (inline.headers.date === null || Math.abs(Number(r.date) - inline.headers.date) <= 26 * 3600_000),
  );
  return match?.message_id_header ?? null;
}

/** An original forwarded inline: rebuilt from the forward block; only text survives (the HTML is the forward's). */
async function inlineCandidate(
  ctx: Context,
  forward: ParsedMessage,
  raw: Buffer,
  inline: InlineForward,
): Promise<Candidate> {
  const h = inline.headers;
  const messageId = await inlineOriginalId(ctx, forward, raw, inline);
  const body = inline.body;
  const parsed: ParsedMessage = {
    messageId,
    inReplyTo: null,
    references: [],
    subject: h.subject ?? stripForwardPrefix(forward.subject),
    // Unreadable printed date: the forward's own is the closest known bound.
    date: h.date ?? forward.date,
    from: h.from,
    sender: null,
    replyTo: h.replyTo,
    to: h.to,
    cc: h.cc,
    bcc: [],
    listId: null,
    originalFrom: null,
    autoSubmitted: null,
    precedence: null,
    contentType: 'text/plain',
    reportType: null,
    text: body,
    html: null,
    snippet: makeSnippet(body, null),
    // The original's files travel as the forward's attachments; inline images belonged to the HTML, dropped here.
    attachments: forward.attachments.filter((a) => !a.inline),
    size: raw.length,
    parseError: forward.parseError,
  };
  // Without an id the key is a hash of the printed headers: it dedupes repeated deliveries of this forward, and
  // meets a synced copy only when the printed date carries seconds and the zone (Thunderbird, Apple Mail).
  return candidateOf(ctx, 'forwarded-inline', parsed, raw, keyOf(parsed, messageId), messageId);
}

/** What to store for this delivery (see the module comment). */
async function candidatesFor(ctx: Context, raw: Buffer, parsed: ParsedMessage): Promise<Candidate[]> {
  const visible = [...parsed.to, ...parsed.cc].map((a) => a.address);
  const isCrm = (a: string): boolean => domainOf(a) === ctx.deps.bccDomain;
  const addressedToCrm = visible.some(isCrm);
  // Only mail addressed to the CRM alone (and the organisation's own people) is a forward to file: a reply to a
  // client with the BCC address in Cc quotes the client's mail too ("-----Original Message-----"), and is the
  // user's own mail.
  const toCrmAlone = addressedToCrm && visible.every((a) => isCrm(a) || ctx.orgOwn.has(a));
  if (toCrmAlone) {
    const attached = await embeddedMessages(raw, parsed, (r) => ctx.deps.parse(r, { messagePartsAsAttachments: true }));
    if (attached.length > 0) return Promise.all(attached.map((original) => attachedCandidate(ctx, original)));
    const text = parsed.text ?? (parsed.html ? htmlToText(parsed.html) : null);
    const inline = text ? findInlineForward(text, { defaultOffsetMinutes: dateHeaderOffset(raw) ?? 0 }) : null;
    if (inline && (inline.headers.from || inline.headers.to.length > 0))
      return [await inlineCandidate(ctx, parsed, raw, inline)];
  }
  return [
    candidateOf(ctx, toCrmAlone ? 'note' : 'sent', parsed, raw, keyOf(parsed, parsed.messageId), parsed.messageId),
  ];
}

/**
 * New contacts for the user's automatic contact creation, by the sync engine's rule (To/Cc/Bcc of the message,
 * never own, machine or never-logged addresses), plus one case of this path's own: the sender of an original the
 * user FORWARDED to the CRM. Forwarding a stranger's mail to the CRM is the user's explicit "file this", unlike
 * merely receiving it, which the sync rule guards against.
 */
async function autoCreate(ctx: Context, candidates: Candidate[], neverLog: NeverLogList): Promise<number> {
  const existing = await contactsByAddress(
    ctx.deps.db,
    ctx.account.orgId,
    candidates.flatMap((c) => c.participants.map((p) => p.address)),
  );
  const known = new Set(existing.keys());
  const fresh = new Set<string>();
  for (const c of candidates) {
    const base = addressesToAutoCreate({
      direction: c.direction,
      participants: c.participants,
      ownAddresses: [...ctx.orgOwn],
      existingContactAddresses: known,
      neverLog,
      machineMessage: c.machineMessage,
    });
    for (const a of base) fresh.add(a);
    const sender = c.from?.address;
    if (c.kind.startsWith('forwarded') && c.direction === 'incoming' && sender && !c.machineMessage) {
      if (
        isValidEmail(sender) &&
        !known.has(sender) &&
        !ctx.orgOwn.has(sender) &&
        !isMachineAddress(sender) &&
        !isNeverLogged(sender, neverLog)
      )
        fresh.add(sender);
    }
  }
  return (await ensureContacts(ctx.deps.db, ctx.account.orgId, fresh, 'auto-email')).created;
}

function toStore(c: Candidate): MessageToStore {
  const participants = { participants: c.participants, mappingAddresses: c.mappingAddresses, effectiveFrom: c.from };
  // The key found for the candidate (an inline forward's is its original's), not one recomputed from its bytes.
  const message = messageFromParsed({
    raw: c.raw,
    parsed: c.parsed,
    source: 'bcc',
    direction: c.direction,
    messageId: c.messageId,
    fallbackDate: Date.now(),
    participants,
  });
  return { ...message, dedupeKey: c.key };
}

/**
 * Stores what a delivery to `account`'s BCC address carries and attaches it to the contacts in it. Rejects only
 * for trouble the sender should retry (database, blob store, parser pool); the listener answers 451 then.
 *
 * Mail with nobody in it who is (or becomes) a contact is stored anyway, attached to nobody yet: the user filed it
 * on purpose, it is often the only copy the CRM will ever see (one-way accounts, sent mail outside the synced
 * folders), and the moment one of its addresses becomes a contact it lands on that contact's timeline
 * (createContact links stored mail by its participants).
 */
export async function fileBccMessage(
  deps: FileBccDeps,
  account: BccAccount,
  raw: Buffer,
  parsed: ParsedMessage,
): Promise<FilingResult> {
  const [settings, orgOwn, filerOwn] = await Promise.all([
    deps.db
      .selectFrom('user_settings')
      .select(['auto_create_contacts', 'never_log_json'])
      .where('user_id', '=', account.userId)
      .executeTakeFirst(),
    organisationAddresses(deps.db, account.orgId, deps.bccDomain),
    userAddresses(deps.db, account),
  ]);
  const neverLog = parseNeverLogList(JSON.parse(settings?.never_log_json ?? '[]') as string[]);
  const own = new Set([...accountAddresses(account), `${account.bccToken}@${deps.bccDomain}`]);
  const ctx: Context = { deps, account, own, filerOwn, orgOwn };

  const all = await candidatesFor(ctx, raw, parsed);
  // Never-log: not stored, whoever else is in it — the user's own privacy rule outranks their filing.
  const logged = all.filter((c) => !c.participants.some((p) => isNeverLogged(p.address, neverLog)));
  // A person erased on request (issue 19): mail with nobody else in it but the organisation's own addresses is not
  // stored (it would be the erased person's mail again); mail with someone else in it is, as for sync.
  const erased = await erasedAmong(
    deps.db,
    account.orgId,
    logged.flatMap((c) => c.participants.map((p) => p.address)),
  );
  const candidates =
    erased.size === 0
      ? logged
      : logged.filter((c) => {
          const others = c.participants.filter(
            (p) => !own.has(p.address) && !filerOwn.has(p.address) && !orgOwn.has(p.address),
          );
          return others.length === 0 || !others.every((p) => erased.has(p.address));
        });
  const result: FilingResult = {
    filed: [],
    neverLogged: all.length - logged.length,
    erasedOnly: logged.length - candidates.length,
    contactsCreated: 0,
  };
  if (candidates.length === 0) return result;
  if (settings?.auto_create_contacts === 1) result.contactsCreated = await autoCreate(ctx, candidates, neverLog);

  const store = {
    orgId: account.orgId,
    ownerUserId: account.userId,
    shared: account.visibility !== 'private',
    accountId: account.id,
    blobs: deps.blobs,
  };
  const messages = candidates.map(toStore);
  let stored;
  try {
    stored = await storeMessages(deps.db, store, messages, null);
  } catch (error) {
    // The same message stored by another delivery (or the sync engine) between our look-up and insert
    // (PostgreSQL runs them concurrently): once more, and it is found by its key.
    if (!isUniqueViolation(error)) throw error;
    stored = await storeMessages(deps.db, store, messages, null);
  }
  result.filed = stored.map((s, i) => ({
    id: s.id,
    created: s.created,
    contactIds: s.contactIds,
    kind: candidates[i]!.kind,
  }));
  await recordFilings(
    deps.db,
    account,
    stored.map((s) => s.id),
  );
  return result;
}

/** Who filed what: one row per message and filing user; a repeated delivery keeps the first filing's time. */
async function recordFilings(db: Db, account: BccAccount, messageIds: string[]): Promise<void> {
  if (messageIds.length === 0) return;
  const filedAt = Date.now();
  await db
    .insertInto('bcc_filings')
    .values(
      [...new Set(messageIds)].map((messageId) => ({
        message_id: messageId,
        user_id: account.userId,
        account_id: account.id,
        filed_at: filedAt,
      })),
    )
    .onConflict((oc) => oc.columns(['message_id', 'user_id']).doNothing())
    .execute();
}

/** The filing user's own addresses: those of every mailbox they connected (e-mail, and username when an address). */
async function userAddresses(db: Db, account: BccAccount): Promise<Set<string>> {
  const rows = await db
    .selectFrom('email_accounts')
    .select(['email', 'username'])
    .where('user_id', '=', account.userId)
    .execute();
  const own = accountAddresses(account);
  for (const row of rows) {
    own.add(normalizeEmail(row.email));
    const username = normalizeEmail(row.username);
    if (username.includes('@') && isValidEmail(username)) own.add(username);
  }
  return own;
}
