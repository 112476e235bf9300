// The full-text index of messages (issue 18): subject, people (names and addresses), attachment file names and the
// body text, folded here in JS (lower-case, accents removed, every non-letter/digit a space) and fed as plain words to
// both engines, so "reuniao" finds "reunião" with no `unaccent` extension and both engines see the same words.
//
// SQLite: a contentless FTS5 table (the text lives once, in `messages`), keyed by `message_search_docs.doc`, an
// INTEGER PRIMARY KEY of our own: `messages.rowid` may be renumbered by VACUUM (backups use VACUUM INTO). Deleting a
// message deletes its doc row and its FTS row by triggers (0023). PostgreSQL: one weighted tsvector per message
// (`simple` configuration) under a GIN index, removed with the message by ON DELETE CASCADE.
//
// The inbox VIEW is part of the index (migration 0026): each message's document also carries a token per inbox that
// shows it (its holder rows that are a mailbox's incoming mail: one token for the mailbox's user, one for the mailbox),
// so a search of a common word intersects the word's postings with the caller's token in the engine instead of testing
// each match against the holder rows. Tokens only narrow a search: the query keeps the inbox and visibility conditions.
// A token starts with a private-use character (VIEW_MARK): FTS5's tokenizer keeps it inside a token and PostgreSQL's
// lexeme is ours verbatim, while foldForSearch turns it into a space, so neither a word of a search nor a word of a
// message ever holds one. Whatever adds an inbox holder row reindexes its message (a token missing would hide mail);
// a token left behind by a holder that changed or went (a mailbox removed: a year of mail) is only one more candidate
// the query's own conditions drop, so those are not reindexed. On PostgreSQL each view token comes with its month's
// (viewMonthToken, 0032): a search reads a view's newest months first and stops at enough matches.
//
// The index's vocabulary (its words, without view tokens) expands a typed prefix into exact words (see indexWords).
// Both databases keep it in `message_search_words` (PostgreSQL 0029, SQLite 0030), added to as documents are indexed
// (indexNewMessages) and never pruned: a word whose messages all went only expands into a term that matches nothing.
// PostgreSQL's words are its lexemes, read back from the documents; SQLite's are the folded text's words, which FTS5
// may cut further (a letter newer than its Unicode tables is a separator to it), but a word written into a query is cut
// the same way, so each expands into a term that finds the messages holding it.
//
// It sits in src/storage (not src/messages) because everything that writes or rewrites what it indexes must reach it:
// the migration's backfill (this floor), an erasure rewriting participants (src/contacts) and mail intake.
import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';
import { htmlToPlain } from '../core/html-to-plain.js';
import { inChunks, MAX_IN_LIST, rowsPerInsert } from './batches.js';
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

/** First character of a view token: private use (Unicode Co), so no folded word holds it (see the file comment). */
export const VIEW_MARK = '\uE000';

/** The token of an inbox view: a user's incoming mail in any of their mailboxes, or one mailbox's. */
export function inboxViewToken(view: { userId: string } | { accountId: string }): string {
  const [kind, id] = 'userId' in view ? ['u', view.userId] : ['a', view.accountId];
  return `${VIEW_MARK}${kind}${Buffer.from(id, 'utf8').toString('hex')}`;
}

/**
 * PostgreSQL: a view's mail of one month (UTC) as its own token, the view token + `m` + YYYYMM, on every document beside
 * the view token itself (0032): a search of a common word in a year of a user's mail then reads the newest month or two
 * of its matches, not all of them (search-messages.ts, newestInView). A date further ahead than MONTHS_AHEAD_MS of the
 * indexing is `mf` ("far future", a broken clock's), searched with the current month.
 */
export function viewMonthToken(viewToken: string, month: string | 'f'): string {
  return `${viewToken}m${month}`;
}

/** How far ahead of its indexing a message's date still gets its month's token (see viewMonthToken). */
export const MONTHS_AHEAD_MS = 366 * 24 * 3600 * 1000;
/** 0001-01-01T00:00:00Z (Date.UTC would read the year 1 as 1901). */
const YEAR_ONE_MS = -62_135_596_800_000;

/**
 * PostgreSQL: the text[] of view tokens `tokens` with each one's month token for the epoch-ms `date` (viewMonthToken's
 * rule in SQL: indexing and migration 0032 write them; the search names them in JavaScript).
 */
export function withMonthTokens(tokens: RawBuilder<string[]>, date: RawBuilder<unknown>): RawBuilder<string[]> {
  // Before year 1 (a date PostgreSQL's timestamps may not hold, and that JavaScript's may: a hostile Date header) the
  // month is `o`, which no span of months names: such mail is found by the search's last branch, as all old mail.
  const month = sql`case when ${date} >= (extract(epoch from now()) * 1000)::bigint + ${MONTHS_AHEAD_MS}::bigint then 'f'
    when ${date} < ${YEAR_ONE_MS}::bigint then 'o'
    else to_char(to_timestamp(${date} / 1000.0) at time zone 'UTC', 'YYYYMM') end`;
  // `tokens` read once (0032 derives them from each whole document), then each given its month's twin.
  return sql<string[]>`(select v.tokens || array(select t || 'm' || ${month} from unnest(v.tokens) as t)
    from (select ${tokens} as tokens) as v)`;
}

/** The view tokens of the given messages, from their holder rows (the truth the inbox's condition reads). */
async function viewTokens(db: AnyDb, messageIds: string[]): Promise<Map<string, string[]>> {
  const tokens = new Map<string, Set<string>>();
  for (const chunk of inChunks(messageIds, MAX_IN_LIST)) {
    const holders = await db
      .selectFrom('message_holders')
      .select(['message_id', 'user_id', 'account_id'])
      .where('message_id', 'in', chunk)
      .where('account_id', 'is not', null)
      .where('direction', '=', 'incoming')
      .execute();
    for (const h of holders) {
      const set = tokens.get(h.message_id) ?? new Set<string>();
      if (h.user_id !== null) set.add(inboxViewToken({ userId: h.user_id }));
      set.add(inboxViewToken({ accountId: h.account_id! }));
      tokens.set(h.message_id, set);
    }
  }
  return new Map([...tokens].map(([id, set]) => [id, [...set]]));
}

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
  return (LITTLE_ENDIAN ? foldLatin(text) : null) ?? foldByRegex(text);
}

function foldByRegex(text: string): string {
  let folded = text.toLowerCase();
  // Once its accents (the combining marks U+0300–U+036F after NFD) are gone, text is often ASCII, and ASCII classes
  // fold it three times as fast as the Unicode property classes.
  const ascii = /^[\x00-\x7f]*$/;
  if (!ascii.test(folded)) {
    folded = folded.normalize('NFD').replace(/[\u0300-\u036f]+/g, '');
    if (!ascii.test(folded))
      return folded
        .replace(/\p{M}+/gu, '')
        .replace(/[^\p{L}\p{N}]+/gu, ' ')
        .trim();
  }
  return folded.replace(/[^a-z0-9]+/g, ' ').trim();
}

/** Characters below this (Basic Latin, Latin-1, Latin Extended-A) each fold alone, by LATIN_FOLD. */
const LATIN_END = 0x180;
/**
 * What each of those characters folds to (0: a separator). Each is one character or none: their lower case, their
 * canonical decomposition and its marks (all in U+0300–U+036F) depend on nothing around them, so folding text of
 * only these characters one by one is folding it whole (the test compares both on every such character).
 */
const LATIN_FOLD = (() => {
  const table = new Uint16Array(LATIN_END);
  for (let c = 0; c < LATIN_END; c++) {
    const folded = foldByRegex(String.fromCharCode(c));
    if (folded.length > 1) throw new Error(`U+${c.toString(16)} folds to ${folded.length} characters`);
    table[c] = folded === '' ? 0 : folded.charCodeAt(0);
  }
  return table;
})();
const utf16 = new TextDecoder('utf-16le');
/** foldLatin's Uint16Array is read as UTF-16LE: true on every machine Node ships for but s390x. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * foldForSearch in one pass through LATIN_FOLD, for text of Latin characters only (most mail here: Portuguese and
 * English); null for any other text. The regex path made five passes (lower case, NFD, marks, separators, trim),
 * ~7% of the intake's time on a big database; this is twice as fast.
 */
function foldLatin(text: string): string | null {
  const out = new Uint16Array(text.length);
  let length = 0;
  let separated = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= LATIN_END) return null;
    const folded = LATIN_FOLD[c]!;
    if (folded === 0) {
      // A run of separators is one space, and none before the first word or after the last.
      separated = length > 0;
      continue;
    }
    if (separated) {
      out[length++] = 0x20;
      separated = false;
    }
    out[length++] = folded;
  }
  return utf16.decode(out.subarray(0, length));
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
 * How SQLite's index is written fast. FTS5 gathers a transaction's new terms in memory and writes them as one segment
 * at commit, but it writes them early, as a segment of their own, whenever a later statement of the transaction may
 * have to be undone alone (a statement journal: any multi-row insert, a delete that fires a trigger). Merging those
 * small segments made indexing three times as costly (bench/README.md, "Data scale"). So a batch's doc rows are
 * written first, its FTS rows last and one row per statement (a single-row insert needs no statement journal), and
 * documents being replaced are dropped before any is inserted.
 */
async function dropIndexedDocuments(db: AnyDb, messageIds: readonly string[]): Promise<void> {
  // PostgreSQL replaces a document in place (upsert).
  if (isPostgres(db)) return;
  // The doc rows' trigger removes each one's FTS row.
  for (const chunk of inChunks([...messageIds], MAX_IN_LIST))
    await db.deleteFrom('message_search_docs').where('message_id', 'in', chunk).execute();
}

/**
 * What the index's tables hold, for writing documents: the schema of the latest migration unless a migration before
 * it rebuilds the index (reindexAllMessages).
 * - `words`: writing documents adds their words to PostgreSQL's vocabulary (its table exists since 0029).
 * - `ranking`: PostgreSQL's documents carry their message's date and, apart, their subject's, people's and attachment
 *   names' lexemes (`fields`, 0031), which a search ranks by.
 */
interface IndexSchema {
  words: boolean;
  ranking: boolean;
}

const LATEST_SCHEMA: IndexSchema = { words: true, ranking: true };

/**
 * Adds the documents of messages the index does not hold (stored just now, or dropped just before); on PostgreSQL a
 * few multi-row statements per batch. Call inside the transaction that stores the messages, after their holder rows
 * (the view tokens are read from them), and before any reindexMessages of the same transaction (see
 * dropIndexedDocuments).
 */
export async function indexNewMessages(db: AnyDb, docs: SearchDocument[], options = LATEST_SCHEMA): Promise<void> {
  if (docs.length === 0) return;
  const views = await viewTokens(
    db,
    docs.map((d) => d.messageId),
  );
  const columns = (d: SearchDocument) => ({ ...foldedColumns(d), view: (views.get(d.messageId) ?? []).join(' ') });
  if (isPostgres(db)) {
    for (const chunk of inChunks(docs, ROWS_PER_INSERT)) {
      const rows = chunk.map((d) => ({ id: d.messageId, ...columns(d) }));
      // The view tokens are lexemes as they are (array_to_tsvector, no parser; without positions, so setweight leaves
      // them without a weight: they are told apart by VIEW_MARK, not by weight D), each with its month's token
      // (viewMonthToken). The date is the message's own (it never changes) and `fields` the document's A and B lexemes:
      // a search of a view takes its newest matches and ranks them from this table alone (search-messages.ts).
      const fields = sql`setweight(to_tsvector('simple', v.s), 'A') || setweight(to_tsvector('simple', v.p), 'B')
        || setweight(to_tsvector('simple', v.a), 'B')`;
      const body = sql`setweight(to_tsvector('simple', v.b), 'C')`;
      const views = (tokens: RawBuilder<string[]>) => sql`setweight(array_to_tsvector(${tokens}), 'D')`;
      const values = sql`(values ${sql.join(rows.map((r) => sql`(${r.id}, ${r.subject}, ${r.people}, ${r.attachments}, ${r.body}, ${r.view})`))})
        as v (id, s, p, a, b, t)`;
      await (
        options.ranking
          ? sql`insert into message_search (message_id, date, fields, doc)
            select v.id, m.date, f.fields,
              f.fields || ${body} || ${views(withMonthTokens(sql`string_to_array(v.t, ' ')`, sql`m.date`))}
            from ${values}
            cross join lateral (select (select messages.date from messages where messages.id = v.id) as date) as m
            cross join lateral (select ${fields} as fields) as f
            on conflict (message_id) do update set fields = excluded.fields, doc = excluded.doc`
          : sql`insert into message_search (message_id, doc)
            select v.id, ${fields} || ${body} || ${views(sql`string_to_array(v.t, ' ')`)} from ${values}
            on conflict (message_id) do update set doc = excluded.doc`
      ).execute(db);
    }
    if (options.words)
      await addIndexWords(
        db,
        docs.map((d) => d.messageId),
      );
    return;
  }
  const docOf = new Map<string, number>();
  for (const chunk of inChunks(docs, ROWS_PER_INSERT)) {
    const keys = await db
      .insertInto('message_search_docs')
      .values(chunk.map((d) => ({ message_id: d.messageId })))
      .returning(['doc', 'message_id'])
      .execute();
    for (const k of keys) docOf.set(k.message_id, k.doc);
  }
  const words = new Set<string>();
  for (const d of docs) {
    const r = columns(d);
    await sql`insert into message_search_fts (rowid, subject, people, attachments, body, view)
      values (${docOf.get(d.messageId)!}, ${r.subject}, ${r.people}, ${r.attachments}, ${r.body}, ${r.view})`.execute(
      db,
    );
    if (options.words)
      for (const text of [r.subject, r.people, r.attachments, r.body])
        for (const word of text.split(' ')) if (word !== '') words.add(word);
  }
  // After the FTS rows (the one statement that makes FTS5 write the batch's terms, see dropIndexedDocuments). One
  // writer on SQLite: `or ignore` never waits for another.
  for (const chunk of inChunks([...words], rowsPerInsert(1)))
    await sql`insert or ignore into message_search_words (word) values ${sql.join(chunk.map((w) => sql`(${w})`))}`.execute(
      db,
    );
}

/**
 * The lexemes of the given documents (or of every document) that the vocabulary lacks, in byte order: the lexemes
 * themselves, not a split of our folded text, so the vocabulary holds exactly the words PostgreSQL's parser kept.
 */
export function missingIndexWords(messageIds?: readonly string[]) {
  const which = messageIds === undefined ? sql`true` : sql`message_search.message_id = any(${[...messageIds]})`;
  return sql`select words.word from (
      select distinct w.word collate "C" as word
      from message_search cross join unnest(tsvector_to_array(message_search.doc)) as w (word)
      where ${which}
    ) as words
    where not starts_with(words.word, ${VIEW_MARK})
      and not exists (select 1 from message_search_words known where known.word = words.word)
    order by words.word`;
}

/**
 * PostgreSQL: adds the words of the given (just written) documents to the vocabulary. Writers of different mailboxes
 * store batches at once and share most words; an insert of a key another open transaction inserted waits for that
 * transaction, so only the words no committed row holds are inserted (a new word is rare once the vocabulary has
 * grown), and in byte order, so two statements adding the same new words take their locks in one order. The intake's
 * second call in a transaction (reindexMessages of mail stored before) finds every word known and locks nothing.
 */
async function addIndexWords(db: AnyDb, messageIds: readonly string[]): Promise<void> {
  for (const chunk of inChunks(messageIds, MAX_IN_LIST))
    await sql`insert into message_search_words (word) ${missingIndexWords(chunk)} on conflict do nothing`.execute(db);
}

/**
 * Up to `limit` words of the index that start with `prefix` (a folded word: letters and digits), in byte order, from
 * the dialect's vocabulary. Compared as a range, never as a LIKE pattern, so no character of `prefix` is syntax.
 */
export async function indexWords(db: AnyDb, prefix: string, limit: number): Promise<string[]> {
  // Every word starting with `prefix` sorts (bytewise: SQLite's BINARY, the PostgreSQL table's "C") at or after it
  // and before it followed by the last code point.
  const end = `${prefix}\u{10FFFF}`;
  const { rows } = await sql<{ word: string }>`select word from message_search_words
    where word >= ${prefix} and word < ${end} order by word limit ${limit}`.execute(db);
  return rows.map((r) => r.word);
}

/**
 * Indexes (again) the given stored messages from their rows: the migration's backfill, and whatever rewrites what a
 * message's index holds after it was stored (an erasure replacing a person's address, a holder row added or changed).
 */
export async function reindexMessages(
  db: AnyDb,
  messageIds: readonly string[],
  options = LATEST_SCHEMA,
): Promise<void> {
  const ids = [...new Set(messageIds)];
  await dropIndexedDocuments(db, ids);
  for (const chunk of inChunks(ids, Math.min(MAX_IN_LIST, ROWS_PER_INSERT))) {
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
    await indexNewMessages(
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
      options,
    );
  }
}

/** Messages reindexed per step of a whole-index rebuild: bodies are read, so the step stays small in memory. */
const REBUILD_STEP = 500;

/** Indexes every stored message again, in id order (a migration's backfill), `step` messages at a time. */
export async function reindexAllMessages(db: AnyDb, step = REBUILD_STEP): Promise<void> {
  // A migration before 0029 (PostgreSQL) or 0030 (SQLite) rebuilds without the vocabulary table; that migration then
  // reads the words from the index. One before 0031 (PostgreSQL) rebuilds without the documents' dates and fields,
  // which 0031 then adds, nor month tokens (they need the date), which 0032 adds.
  const words = isPostgres(db)
    ? (await sql<{ present: boolean }>`select to_regclass('message_search_words') is not null as present`.execute(db))
        .rows[0]!.present
    : (await sql`select 1 from sqlite_master where type = 'table' and name = 'message_search_words'`.execute(db)).rows
        .length > 0;
  const ranking =
    isPostgres(db) &&
    (
      await sql`select 1 from pg_attribute
        where attrelid = 'message_search'::regclass and attname = 'date' and not attisdropped`.execute(db)
    ).rows.length > 0;
  let after = '';
  for (;;) {
    const ids = (
      await db.selectFrom('messages').select('id').where('id', '>', after).orderBy('id').limit(step).execute()
    ).map((r) => r.id);
    if (ids.length === 0) break;
    await reindexMessages(db, ids, { words, ranking });
    after = ids[ids.length - 1]!;
  }
}
