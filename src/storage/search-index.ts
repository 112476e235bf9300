// The full-text index of messages (issue 18): subject, people (names and addresses), attachment file names and the
// body text, folded here in JS (lower-case, accents removed, every non-letter/digit a space) and fed as plain words to
// both engines, so "reuniao" finds "reunião" with no `unaccent` extension and both engines see the same words.
//
// SQLite: a contentless FTS5 table (the text lives once, in `messages`), keyed by `message_search_docs.doc`, an
// INTEGER PRIMARY KEY of our own: `messages.rowid` may be renumbered by VACUUM (backups use VACUUM INTO). Deleting a
// message deletes its doc row and its FTS row by triggers (0023). PostgreSQL: one weighted tsvector per message
// (`simple` configuration) under a GIN index, removed with the message by ON DELETE CASCADE.
//
// It sits in src/storage (not src/messages) because everything that writes or rewrites what it indexes must reach it:
// the migration's backfill (this floor), an erasure rewriting participants (src/contacts) and mail intake.
import { PostgresAdapter, sql, type Kysely } from 'kysely';
import { htmlToPlain } from '../core/html-to-plain.js';
import { inChunks, MAX_IN_LIST } from './batches.js';
import type { Database } from './schema.js';

type AnyDb = Kysely<Database>;

/** Characters of body text indexed per message: enough for any letter, and the index stays small. */
export const MAX_INDEXED_BODY = 64 * 1024;
/** Characters of people or attachment names indexed per message (a message may carry 1,000 recipients). */
const MAX_INDEXED_LIST = 16 * 1024;
/** HTML characters read to find the body text (markup is most of an HTML mail). */
const MAX_HTML_READ = 4 * MAX_INDEXED_BODY;
/** Messages per multi-row insert: 100 × (64 KB body + the rest) keeps one statement under ~10 MB. */
const ROWS_PER_INSERT = 100;

/** What one message contributes to the index. */
export interface SearchDocument {
  messageId: string;
  subject: string | null;
  /** Names and addresses of the sender and every participant. */
  people: Array<string | null>;
  attachmentNames: Array<string | null>;
  text: string | null;
  html: string | null;
}

/** Lower-case, without accents, every run of characters other than letters and digits one space. */
export function foldForSearch(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** The body text a reader sees: the text part, else the HTML part turned into text, capped. */
export function searchBodyText(text: string | null, html: string | null): string {
  const plain = text && text.trim() !== '' ? text : html ? htmlToPlain(html, { maxLength: MAX_HTML_READ }) : '';
  return plain.length > MAX_INDEXED_BODY ? plain.slice(0, MAX_INDEXED_BODY) : plain;
}

function joinCapped(parts: Array<string | null>): string {
  let out = '';
  for (const part of parts) {
    if (!part) continue;
    if (out.length + part.length + 1 > MAX_INDEXED_LIST) break;
    out += `${part} `;
  }
  return out;
}

function foldedColumns(doc: SearchDocument) {
  return {
    subject: foldForSearch(doc.subject ?? ''),
    people: foldForSearch(joinCapped([...new Set(doc.people)])),
    attachments: foldForSearch(joinCapped(doc.attachmentNames)),
    body: foldForSearch(searchBodyText(doc.text, doc.html)),
  };
}

export function isPostgres(db: AnyDb): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Adds the documents to the index, a few multi-row statements per batch (never one per message). Call inside the
 * transaction that stores the messages; a message indexed before is replaced.
 */
export async function writeSearchIndex(db: AnyDb, docs: SearchDocument[]): Promise<void> {
  if (docs.length === 0) return;
  const postgres = isPostgres(db);
  for (const chunk of inChunks(docs, ROWS_PER_INSERT)) {
    const rows = chunk.map((d) => ({ id: d.messageId, ...foldedColumns(d) }));
    const ids = rows.map((r) => r.id);
    if (postgres) {
      await sql`insert into message_search (message_id, doc)
        select v.id, setweight(to_tsvector('simple', v.s), 'A') || setweight(to_tsvector('simple', v.p), 'B')
          || setweight(to_tsvector('simple', v.a), 'B') || setweight(to_tsvector('simple', v.b), 'C')
        from (values ${sql.join(rows.map((r) => sql`(${r.id}, ${r.subject}, ${r.people}, ${r.attachments}, ${r.body})`))})
          as v (id, s, p, a, b)
        on conflict (message_id) do update set doc = excluded.doc`.execute(db);
      continue;
    }
    // The doc rows' trigger removes an earlier FTS row of the same message.
    await db.deleteFrom('message_search_docs').where('message_id', 'in', ids).execute();
    const keys = await db
      .insertInto('message_search_docs')
      .values(ids.map((id) => ({ message_id: id })))
      .returning(['doc', 'message_id'])
      .execute();
    const docOf = new Map(keys.map((k) => [k.message_id, k.doc]));
    await sql`insert into message_search_fts (rowid, subject, people, attachments, body) values ${sql.join(
      rows.map((r) => sql`(${docOf.get(r.id)!}, ${r.subject}, ${r.people}, ${r.attachments}, ${r.body})`),
    )}`.execute(db);
  }
}

/**
 * Indexes (again) the given stored messages from their rows: the migration's backfill, and whatever rewrites what a
 * message's index holds after it was stored (an erasure replacing a person's address).
 */
export async function reindexMessages(db: AnyDb, messageIds: readonly string[]): Promise<void> {
  for (const chunk of inChunks([...new Set(messageIds)], Math.min(MAX_IN_LIST, ROWS_PER_INSERT))) {
    const [messages, people, attachments] = await Promise.all([
      db
        .selectFrom('messages')
        .select(['id', 'subject', 'from_address', 'from_name', 'text_body', 'html_body'])
        .where('id', 'in', chunk)
        .execute(),
      db
        .selectFrom('message_participants')
        .select(['message_id', 'address', 'name'])
        .where('message_id', 'in', chunk)
        .orderBy('position')
        .execute(),
      db
        .selectFrom('attachments')
        .select(['message_id', 'filename'])
        .where('message_id', 'in', chunk)
        .orderBy('position')
        .execute(),
    ]);
    await writeSearchIndex(
      db,
      messages.map((m) => ({
        messageId: m.id,
        subject: m.subject,
        people: [
          m.from_name,
          m.from_address,
          ...people.filter((p) => p.message_id === m.id).flatMap((p) => [p.name, p.address]),
        ],
        attachmentNames: attachments.filter((a) => a.message_id === m.id).map((a) => a.filename),
        text: m.text_body,
        html: m.html_body,
      })),
    );
  }
}
