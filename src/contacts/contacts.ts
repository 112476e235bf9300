// Contacts and their addresses. An address belongs to at most one contact of the organisation: the
// unique index on contact_addresses is the guard, checked first only to name the address in the error.
import { erasedAmong, refuseErased } from './erased-addresses.js';
import { sql } from 'kysely';
import { AppError, notFound } from '../core/app-error.js';
import { isUniqueViolation, type Db } from '../storage/database.js';
import { newId } from '../storage/ids.js';
import { likeContains } from '../storage/like-pattern.js';
import { contactsContaining } from './contact-search.js';
import type { ContactSource } from '../storage/schema.js';
import { isValidEmail, normalizeEmail } from './email-address.js';
import { announceAddresses } from './contact-events.js';
import { eventLoopSlicer } from '../core/event-loop-slicer.js';
import type { ImportLineError, ImportProblem } from './import-texts.js';

export interface Contact {
  id: string;
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  emails: string[];
  /** Addresses a delivery report said do not exist (hard bounce): the UI warns before mailing them. */
  bouncedEmails: string[];
  source: ContactSource;
  createdAt: string;
  updatedAt: string;
}

export interface ContactInput {
  firstName?: string | null;
  lastName?: string | null;
  company?: string | null;
  emails: string[];
}

export interface ContactPage {
  items: Contact[];
  nextCursor: string | null;
}

type Executor = Db;

interface ContactRow {
  id: string;
  first_name: string | null;
  last_name: string | null;
  company: string | null;
  source: ContactSource;
  created_at: number;
  updated_at: number;
}

/** Normalises and checks a list of addresses; duplicates within the list collapse to one. */
export function normalizeEmailList(emails: string[], field = 'emails'): string[] {
  const seen = new Set<string>();
  emails.forEach((raw, index) => {
    const email = normalizeEmail(raw);
    if (!isValidEmail(email)) {
      throw new AppError('VALIDATION_FAILED', `"${raw}" is not an e-mail address`, {
        fields: [{ path: `${field}.${index}`, message: 'not an e-mail address' }],
      });
    }
    seen.add(email);
  });
  return [...seen];
}

function cleanName(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed : null;
}

function searchText(c: {
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  emails: string[];
}): string {
  return [c.firstName, c.lastName, c.company, ...c.emails].filter(Boolean).join(' ').toLowerCase();
}

interface ContactEmails {
  emails: string[];
  bounced: string[];
}

function toContact(row: ContactRow, addresses: ContactEmails = { emails: [], bounced: [] }): Contact {
  return {
    id: row.id,
    firstName: row.first_name,
    lastName: row.last_name,
    company: row.company,
    emails: addresses.emails,
    bouncedEmails: addresses.bounced,
    source: row.source,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

async function emailsByContact(db: Executor, contactIds: string[]): Promise<Map<string, ContactEmails>> {
  const result = new Map<string, ContactEmails>(contactIds.map((id) => [id, { emails: [], bounced: [] }]));
  if (contactIds.length === 0) return result;
  const rows = await db
    .selectFrom('contact_addresses')
    .select(['contact_id', 'address', 'bounced_at'])
    .where('contact_id', 'in', contactIds)
    .orderBy('contact_id')
    .orderBy('position')
    .execute();
  for (const row of rows) {
    const entry = result.get(row.contact_id);
    entry?.emails.push(row.address);
    if (row.bounced_at !== null) entry?.bounced.push(row.address);
  }
  return result;
}

/** The addresses among `emails` already held by a contact of the org (other than `exceptContactId`). */
export async function takenAddresses(
  db: Executor,
  orgId: string,
  emails: string[],
  exceptContactId?: string,
): Promise<Map<string, string>> {
  const taken = new Map<string, string>();
  // Chunked: both SQLite and PostgreSQL cap the number of bound parameters.
  for (let i = 0; i < emails.length; i += 500) {
    let query = db
      .selectFrom('contact_addresses')
      .select(['address', 'contact_id'])
      .where('org_id', '=', orgId)
      .where('address', 'in', emails.slice(i, i + 500));
    if (exceptContactId) query = query.where('contact_id', '!=', exceptContactId);
    for (const row of await query.execute()) taken.set(row.address, row.contact_id);
  }
  return taken;
}

function emailTaken(address: string, contactId: string | undefined, cause?: unknown): AppError {
  return new AppError('CONTACT_EMAIL_TAKEN', `The address ${address} already belongs to another contact`, {
    details: { email: address, ...(contactId ? { contactId } : {}) },
    cause,
  });
}

/** Throws NOT_FOUND unless the contact is one of the organisation's: what a read scoped to a contact asks first. */
export async function assertContactInOrg(db: Executor, orgId: string, id: string): Promise<void> {
  const row = await db
    .selectFrom('contacts')
    .select('id')
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('Contact');
}

export async function getContact(db: Executor, orgId: string, id: string): Promise<Contact> {
  const row = await db
    .selectFrom('contacts')
    .select(['id', 'first_name', 'last_name', 'company', 'source', 'created_at', 'updated_at'])
    .where('org_id', '=', orgId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!row) throw notFound('Contact');
  return toContact(row, (await emailsByContact(db, [id])).get(id));
}

/** Inserts one contact inside the caller's transaction; unique violations surface as CONTACT_EMAIL_TAKEN. */
async function insertContact(
  trx: Executor,
  orgId: string,
  input: ContactInput,
  emails: string[],
  source: ContactSource,
  now: number,
): Promise<string> {
  const id = newId(now);
  const firstName = cleanName(input.firstName);
  const lastName = cleanName(input.lastName);
  const company = cleanName(input.company);
  await trx
    .insertInto('contacts')
    .values({
      id,
      org_id: orgId,
      first_name: firstName,
      last_name: lastName,
      company,
      source,
      search_text: searchText({ firstName, lastName, company, emails }),
      created_at: now,
      updated_at: now,
    })
    .execute();
  if (emails.length > 0) {
    await trx
      .insertInto('contact_addresses')
      .values(
        emails.map((address, position) => ({
          id: newId(now),
          org_id: orgId,
          contact_id: id,
          address,
          position,
          bounced_at: null,
          created_at: now,
        })),
      )
      .execute();
    await linkStoredMail(trx, orgId, id, emails);
  }
  return id;
}

/** Mail already stored with these addresses in it goes on the contact at once (the mailbox is not asked). */
async function linkStoredMail(trx: Executor, orgId: string, contactId: string, emails: string[]): Promise<void> {
  await trx
    .insertInto('message_contacts')
    .columns(['message_id', 'contact_id', 'date'])
    .expression((eb) =>
      eb
        .selectFrom('message_participants')
        .innerJoin('messages', 'messages.id', 'message_participants.message_id')
        .select(['message_participants.message_id', eb.val(contactId).as('contact_id'), 'messages.date'])
        .where('messages.org_id', '=', orgId)
        .where('message_participants.address', 'in', emails)
        .where('message_participants.role', '!=', 'sender')
        .distinct(),
    )
    .onConflict((oc) => oc.columns(['message_id', 'contact_id']).doNothing())
    .execute();
}

export async function createContact(
  db: Db,
  orgId: string,
  input: ContactInput,
  source: ContactSource = 'manual',
): Promise<Contact> {
  const emails = normalizeEmailList(input.emails);
  // An erased person stays erased (issue 19): refused, whoever asks; ensureContacts filters before it comes here.
  await refuseErased(db, orgId, emails);
  const taken = await takenAddresses(db, orgId, emails);
  const [first] = taken;
  if (first) throw emailTaken(first[0], first[1]);
  try {
    const id = await db.transaction().execute((trx) => insertContact(trx, orgId, input, emails, source, Date.now()));
    announceAddresses(orgId, emails);
    return await getContact(db, orgId, id);
  } catch (error) {
    // Lost a race with another writer between the check and the insert.
    if (isUniqueViolation(error)) throw emailTaken(emails.join(', '), undefined, error);
    throw error;
  }
}

export async function updateContact(db: Db, orgId: string, id: string, patch: Partial<ContactInput>): Promise<Contact> {
  const current = await getContact(db, orgId, id);
  const emails = patch.emails === undefined ? current.emails : normalizeEmailList(patch.emails);
  if (patch.emails !== undefined) {
    await refuseErased(db, orgId, emails);
    const [first] = await takenAddresses(db, orgId, emails, id);
    if (first) throw emailTaken(first[0], first[1]);
  }
  const next = {
    firstName: patch.firstName === undefined ? current.firstName : cleanName(patch.firstName),
    lastName: patch.lastName === undefined ? current.lastName : cleanName(patch.lastName),
    company: patch.company === undefined ? current.company : cleanName(patch.company),
    emails,
  };
  const now = Date.now();
  const added: string[] = [];
  try {
    await db.transaction().execute(async (trx) => {
      await trx
        .updateTable('contacts')
        .set({
          first_name: next.firstName,
          last_name: next.lastName,
          company: next.company,
          search_text: searchText(next),
          updated_at: now,
        })
        .where('id', '=', id)
        .execute();
      if (patch.emails !== undefined) {
        // Keep the rows of addresses that stay (their bounce flags matter); add new ones, drop removed ones.
        const existing = await trx
          .selectFrom('contact_addresses')
          .select(['id', 'address'])
          .where('contact_id', '=', id)
          .execute();
        const removed = existing.filter((row) => !emails.includes(row.address)).map((row) => row.id);
        if (removed.length > 0) await trx.deleteFrom('contact_addresses').where('id', 'in', removed).execute();
        for (const [position, address] of emails.entries()) {
          const row = existing.find((r) => r.address === address);
          if (row) {
            await trx.updateTable('contact_addresses').set({ position }).where('id', '=', row.id).execute();
          } else {
            await trx
              .insertInto('contact_addresses')
              .values({
                id: newId(now),
                org_id: orgId,
                contact_id: id,
                address,
                position,
                bounced_at: null,
                created_at: now,
              })
              .execute();
            added.push(address);
          }
        }
        if (added.length > 0) await linkStoredMail(trx, orgId, id, added);
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw emailTaken(emails.join(', '), undefined, error);
    throw error;
  }
  announceAddresses(orgId, added);
  return getContact(db, orgId, id);
}

export async function deleteContact(db: Db, orgId: string, id: string): Promise<void> {
  const result = await db.deleteFrom('contacts').where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
  if (Number(result.numDeletedRows) === 0) throw notFound('Contact');
}

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[0-9a-f-]{36}$/.test(id)) {
    throw new AppError('VALIDATION_FAILED', 'The cursor is not one this API gave out', {
      fields: [{ path: 'cursor', message: 'invalid cursor' }],
    });
  }
  return id;
}

/** Newest first; `nextCursor` is null on the last page. */
export async function listContacts(
  db: Db,
  orgId: string,
  options: { email?: string; q?: string; limit: number; cursor?: string },
): Promise<ContactPage> {
  let query = db
    .selectFrom('contacts')
    .select([
      'contacts.id',
      'first_name',
      'last_name',
      'company',
      'source',
      'contacts.created_at',
      'contacts.updated_at',
    ])
    .where('contacts.org_id', '=', orgId);
  if (options.email !== undefined) {
    const address = normalizeEmail(options.email);
    query = query.where((eb) =>
      eb.exists(
        eb
          .selectFrom('contact_addresses')
          .select('contact_addresses.id')
          .whereRef('contact_addresses.contact_id', '=', 'contacts.id')
          .where('contact_addresses.address', '=', address),
      ),
    );
  }
  const q = options.q?.trim().toLowerCase();
  if (q) {
    const words = q.split(/\s+/);
    const containing = await contactsContaining(db, words);
    if (containing) query = query.where(containing);
    for (const word of words) {
      query = query.where(likeContains(sql.ref('search_text'), word));
    }
  }
  if (options.cursor) query = query.where('contacts.id', '<', decodeCursor(options.cursor));
  const rows = await query
    .orderBy('contacts.id', 'desc')
    .limit(options.limit + 1)
    .execute();
  const page = rows.slice(0, options.limit);
  const emails = await emailsByContact(
    db,
    page.map((r) => r.id),
  );
  return {
    items: page.map((row) => toContact(row, emails.get(row.id))),
    nextCursor: rows.length > options.limit && page.length > 0 ? encodeCursor(page[page.length - 1]!.id) : null,
  };
}

export interface ImportRow {
  line: number;
  firstName: string | null;
  lastName: string | null;
  company: string | null;
  emails: string[];
}

export interface ImportResult {
  created: number;
  skipped: number;
  /** Each skipped line, with its reason in English and as a code with parameters (import-texts.ts). */
  errors: ImportLineError[];
}

/** Rows written per transaction at most; a slice also ends after its time (see eventLoopSlicer). */
const IMPORT_CHUNK = 200;

/**
 * Imports the good rows and reports each bad one by its line. An address already on a contact, or on an earlier
 * line of the same file, skips the line: re-importing a file creates nothing twice.
 *
 * Fair to everyone else: rows are checked and written in short transactions (at most IMPORT_CHUNK rows, or one
 * time slice), and the event loop runs between them, so a 50,000-line file never holds the database (SQLite has one
 * connection) or the process for more than a slice. A row that loses a race for an address with another writer is
 * that row's error; the rows before it stay imported.
 */
export async function importContacts(
  db: Db,
  orgId: string,
  rows: ImportRow[],
  earlierErrors: ImportResult['errors'],
): Promise<ImportResult> {
  const errors = [...earlierErrors];
  const slicer = eventLoopSlicer();
  const seenInFile = new Map<string, number>();
  let created = 0;
  let next = 0;
  while (next < rows.length) {
    if (slicer.due()) await slicer.pause();
    const chunk: { row: ImportRow; emails: string[] }[] = [];
    // Checked without the database: addresses, and duplicates within the file.
    while (next < rows.length && chunk.length < IMPORT_CHUNK && !slicer.due()) {
      const row = rows[next++]!;
      const checked = checkImportRow(row, seenInFile);
      if ('problem' in checked) errors.push({ line: row.line, ...checked.problem });
      else chunk.push({ row, emails: checked.emails });
    }
    // Lines with an address of a contact erased on request (issue 19) are skipped and reported.
    const erased = await erasedAmong(
      db,
      orgId,
      chunk.flatMap((c) => c.emails),
    );
    if (erased.size > 0) {
      for (let i = chunk.length - 1; i >= 0; i--) {
        const hit = chunk[i]!.emails.find((e) => erased.has(e));
        if (hit === undefined) continue;
        errors.push({
          line: chunk[i]!.row.line,
          message: `${hit} belonged to a contact erased on request`,
          code: 'IMPORT_EMAIL_ERASED',
          params: { address: hit },
        });
        chunk.splice(i, 1);
      }
    }
    if (chunk.length === 0) continue;
    const now = Date.now();
    // Errors of a chunk count only once it commits: a chunk rolled back is done again row by row.
    const chunkErrors: ImportResult['errors'] = [];
    const written = await db
      .transaction()
      .execute(async (trx) => {
        const taken = await takenAddresses(
          trx,
          orgId,
          chunk.flatMap((c) => c.emails),
        );
        const done: string[][] = [];
        for (const { row, emails } of chunk) {
          const inDb = emails.find((e) => taken.has(e));
          if (inDb !== undefined) {
            chunkErrors.push({
              line: row.line,
              message: `${inDb} already belongs to a contact`,
              code: 'IMPORT_EMAIL_TAKEN',
              params: { address: inDb },
            });
            continue;
          }
          await insertContact(trx, orgId, row, emails, 'import', now);
          done.push(emails);
        }
        return done;
      })
      .then((done) => {
        errors.push(...chunkErrors);
        return done;
      })
      .catch(async (error: unknown) => {
        if (!isUniqueViolation(error)) throw error;
        // Another writer took an address meanwhile: this chunk once more, a row at a time.
        return importOneByOne(db, orgId, chunk, errors, now);
      });
    created += written.length;
    // Announced per chunk: the listeners (meeting links, backfill requests) then work in slices too; 50,000
    // addresses in one event kept SQLite, and so every other request, busy for seconds.
    announceAddresses(orgId, written.flat());
  }
  errors.sort((a, b) => a.line - b.line);
  return { created, skipped: errors.length, errors };
}

/** The row's normalised addresses, or what is wrong with it; records its addresses as seen in the file. */
function checkImportRow(
  row: ImportRow,
  seenInFile: Map<string, number>,
): { emails: string[] } | { problem: ImportProblem } {
  if (row.emails.length === 0)
    return { problem: { message: 'no e-mail address', code: 'IMPORT_NO_EMAIL', params: {} } };
  const emails = [...new Set(row.emails.map(normalizeEmail))];
  const bad = emails.find((e) => !isValidEmail(e));
  if (bad !== undefined) {
    const address = bad.slice(0, 320);
    return {
      problem: { message: `"${address}" is not an e-mail address`, code: 'IMPORT_NOT_AN_EMAIL', params: { address } },
    };
  }
  const inFile = emails.find((e) => seenInFile.has(e));
  if (inFile !== undefined) {
    const earlierLine = seenInFile.get(inFile)!;
    return {
      problem: {
        message: `${inFile} already appears on line ${earlierLine}`,
        code: 'IMPORT_DUPLICATE_IN_FILE',
        params: { address: inFile, earlierLine },
      },
    };
  }
  for (const e of emails) seenInFile.set(e, row.line);
  return { emails };
}

async function importOneByOne(
  db: Db,
  orgId: string,
  chunk: { row: ImportRow; emails: string[] }[],
  errors: ImportResult['errors'],
  now: number,
): Promise<string[][]> {
  const done: string[][] = [];
  for (const { row, emails } of chunk) {
    try {
      const [first] = await takenAddresses(db, orgId, emails);
      if (first) {
        errors.push({
          line: row.line,
          message: `${first[0]} already belongs to a contact`,
          code: 'IMPORT_EMAIL_TAKEN',
          params: { address: first[0] },
        });
        continue;
      }
      await db.transaction().execute((trx) => insertContact(trx, orgId, row, emails, 'import', now));
      done.push(emails);
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      errors.push({
        line: row.line,
        message: `an address of this line was just given to another contact`,
        code: 'IMPORT_EMAIL_JUST_TAKEN',
        params: {},
      });
    }
  }
  return done;
}
