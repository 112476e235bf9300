// Full-text search of the mail a caller may read (issue 18): `q` on the inbox and on a contact's timeline. The words
// of `q` are folded like the index's (src/storage/search-index.ts) and written into the engine's query language by
// us, from letters and digits only: nothing a user types is ever taken as FTS5 or tsquery syntax. Words are AND-ed,
// "quoted words" are a phrase, the last word is also a prefix while typing. Every row a search returns is read through
// the caller's own query (the access policy's visibility rule and the inbox or contact condition), so a search never
// finds a message the caller cannot open: the index narrows (an inbox's view token), the caller's query decides
// (pageRows). Ranked best first (subject above people and attachment names above body, from each message's own fields,
// never index-wide statistics: see rankedRows), then newest; the page cursor is an offset, at most MAX_SEARCH_RESULTS
// deep.
import { sql, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';
import { inChunks, MAX_IN_LIST } from '../storage/batches.js';
import { foldForSearch, indexWords, isPostgres, searchBodyText, viewMonthToken } from '../storage/search-index.js';
import { jsonAgg, jsonArray, jsonList } from '../storage/json-columns.js';
import { inValues, prepared } from '../storage/prepared-statement.js';

/** The excerpt around the first hit, with the hits' ranges in it (UTF-16 offsets into `snippet`). */
export interface SearchMatch {
  snippet: string;
  highlights: Array<{ start: number; end: number }>;
}

/** How deep a ranked search pages: ranking is over the matches, and nobody reads past a thousand. */
export const MAX_SEARCH_RESULTS = 1_000;
/** Terms of `q` used at most; more words only narrow an AND further. */
const MAX_TERMS = 16;
/** A last word shorter than this is not also taken as a prefix (one or two letters would match half the index). */
const MIN_PREFIX = 3;
/** Characters of an excerpt, "…" included. */
const SNIPPET_LENGTH = 200;
/** Characters shown before the first hit. */
const SNIPPET_LEAD = 60;

/** One term of a search: a word, or a phrase of several; the last word may be a prefix. */
export interface SearchTerm {
  words: string[];
  prefix: boolean;
}

/** The terms of `q`; none when it holds no letter or digit. */
export function parseSearch(q: string): SearchTerm[] {
  const terms: SearchTerm[] = [];
  const parts = q.split('"');
  parts.forEach((part, index) => {
    const quoted = index % 2 === 1;
    // Unquoted: each whitespace-separated piece is one term, so "ana.silva@x.com" stays a phrase of its words.
    for (const piece of quoted ? [part] : part.split(/\s+/)) {
      const words = foldForSearch(piece).split(' ').filter(Boolean);
      if (words.length > 0) terms.push({ words, prefix: false });
    }
  });
  const last = terms[terms.length - 1];
  const typing = !/["\s]$/.test(q) && parts.length % 2 === 1;
  if (last && typing && last.words[last.words.length - 1]!.length >= MIN_PREFIX) last.prefix = true;
  const seen = new Set<string>();
  return terms
    .filter((t) => {
      const key = `${t.words.join(' ')}${t.prefix ? '*' : ''}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .slice(0, MAX_TERMS);
}

/**
 * One term in FTS5's syntax (a quoted string of folded words: letters and digits only); a prefix term whose words are
 * known (`words`) is those phrases OR-ed, without a prefix.
 */
function fts5Term(term: SearchTerm, words?: string[]): string {
  if (!term.prefix || words === undefined) return `"${term.words.join(' ')}"${term.prefix ? ' *' : ''}`;
  // No word of the index starts with it: the term as an exact phrase, which no document holds either.
  if (words.length === 0) return `"${term.words.join(' ')}"`;
  const head = term.words.slice(0, -1);
  const phrases = words.map((w) => `"${[...head, w].join(' ')}"`);
  return phrases.length === 1 ? phrases[0]! : `(${phrases.join(' OR ')})`;
}

/** Words of the index a typed prefix is searched as, at most: past this, the engine's own prefix query is cheaper. */
const MAX_PREFIX_WORDS = 32;

/** Per term of a search, the exact words its typed prefix stands for; undefined: not a prefix, or searched as one. */
type PrefixWords = Array<string[] | undefined>;

/**
 * The words of the index each prefix term starts (from the dialect's vocabulary: search-index.ts, indexWords), so the
 * engine intersects those words' postings with the rest of the query instead of first gathering every posting of
 * every word that starts with the prefix (FTS5 merges them; GIN collects them into a bitmap before the view token can
 * narrow anything). A prefix that more than MAX_PREFIX_WORDS words start with stays the engine's prefix query.
 */
async function prefixWords(db: Db, terms: SearchTerm[]): Promise<PrefixWords> {
  return Promise.all(
    terms.map(async (term) => {
      if (!term.prefix) return undefined;
      const words = await indexWords(db, term.words[term.words.length - 1]!, MAX_PREFIX_WORDS + 1);
      return words.length > MAX_PREFIX_WORDS ? undefined : words;
    }),
  );
}

/**
 * One term as a tsquery, in `weight`'s field only when given: its words followed by each other; a prefix term's last
 * word is its words OR-ed (none: the prefix as an exact word, which no document holds either) or, unexpanded, `:*`.
 */
function tsTerm(term: SearchTerm, words: string[] | undefined, weight: '' | 'A' | 'B' = ''): string {
  const exact = (w: string) => (weight === '' ? w : `${w}:${weight}`);
  const last = term.words.length - 1;
  const parts = term.words.map((w, i) => {
    if (!term.prefix || i < last) return exact(w);
    if (words === undefined) return `${w}:*${weight}`;
    if (words.length === 0) return exact(w);
    return words.length === 1 ? exact(words[0]!) : `(${words.map(exact).join(' | ')})`;
  });
  return parts.length > 1 ? `(${parts.join(' <-> ')})` : parts[0]!;
}

/** tsquery of a search: its terms AND-ed; folded words (letters and digits) need no quoting. */
export function tsQuery(terms: SearchTerm[], expanded: PrefixWords = []): string {
  return terms.map((t, i) => tsTerm(t, expanded[i])).join(' & ');
}

function searchCursor(offset: number): string {
  return Buffer.from(`search:${offset}`, 'utf8').toString('base64url');
}

function readSearchCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^search:(\d{1,7})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) {
    throw new AppError('VALIDATION_FAILED', 'The cursor is not one this API gave out', {
      fields: [{ path: 'cursor', message: 'invalid cursor' }],
    });
  }
  return Number(match[1]);
}

/** The caller's message query (visibility and view conditions applied) that a search narrows. */
export type VisibleMessages<Row> = SelectQueryBuilder<Database, 'messages', Row>;

/**
 * What drives the index's part of a search, besides the words. It only narrows: the caller's query keeps its own
 * conditions (visibility, inbox, contact), which decide.
 * - `viewToken`: an inbox view token (search-index.ts, inboxViewToken) the match must carry: the engine intersects
 *   the words' postings with the view's, so a common word costs the view's matches, not the organisation's.
 * - `contactId`: SQLite tests each match against the set of the contact's documents, read once (cheaper than the
 *   contact's condition through messages per match).
 */
export type SearchScope = { viewToken: string } | { contactId: string };

/**
 * One ranked page of `query`'s messages matching `q`, summarised by `summarize`, each with its `match`. `q` without a
 * letter or digit finds nothing.
 */
export async function searchPage<Row extends RankedRow, Item extends { id: string }>(
  db: Db,
  query: VisibleMessages<Row>,
  q: string,
  options: { limit: number; cursor?: string },
  summarize: (rows: Row[]) => Promise<Item[]>,
  scope?: SearchScope,
): Promise<{ items: Array<Item & { match: SearchMatch }>; nextCursor: string | null }> {
  const offset = readSearchCursor(options.cursor);
  const terms = parseSearch(q);
  const limit = Math.min(options.limit, MAX_SEARCH_RESULTS - offset);
  if (terms.length === 0 || limit <= 0) return { items: [], nextCursor: null };
  // The page's rows come with what their excerpts are made from (matchColumns); the candidates' statement reads none
  // of it.
  const rows = await rankedRows(db, query.select(matchColumns(db)), terms, limit + 1, offset, scope);
  // Candidates stop at MAX_SEARCH_RESULTS: no page goes deeper.
  const page = rows.slice(0, limit);
  const items = await summarize(page);
  const matches = new Map(page.map((row) => [row.id, matchOf(row, terms)]));
  return {
    items: items.map((item) => ({ ...item, match: matches.get(item.id) ?? { snippet: '', highlights: [] } })),
    nextCursor: rows.length > limit && offset + limit < MAX_SEARCH_RESULTS ? searchCursor(offset + limit) : null,
  };
}

/** What a ranked row needs besides the caller's own columns. */
export interface RankedRow {
  id: string;
  date: number;
}

/** Weight of a term by the field it is found in (the best one); found in none of these, it is in the body. */
const FIELD_WEIGHT = { subject: 8, peopleOrAttachmentNames: 4, body: 1 } as const;

/** A candidate of a search on SQLite: only what ranking needs (the page's own rows are read after, 50 not 1,000). */
interface Candidate {
  id: string;
  date: number;
  /** The message's row in the full-text index (most recently indexed is highest). */
  seq: number;
}

/** The ranked ids from the `from`th, at most `count` of them (fewer at the end of the ranking). */
type RankedIds = (from: number, count: number) => Promise<string[]>;

/**
 * One ranked page of the caller's rows. Ranking every match of a common word would cost as much as the matches (1M
 * messages: hundreds of thousands of them): the candidates are the MAX_SEARCH_RESULTS most recent matches (SQLite:
 * most recently indexed, walking the FTS5 doclists backwards, intersected with the scope's view token or driven by
 * its contact's messages, through the caller's query; PostgreSQL: newest by date, of the view's index entries or
 * through the caller's query), and only those are ranked; a word with fewer matches than that is ranked over all of
 * them. The rank is the field each term is found in (subject above people or attachment names, above the body only:
 * FIELD_WEIGHT; then newest), never bm25's index-wide statistics: how often a word occurs in other people's mail must
 * not change the order of one's own results. PostgreSQL ranks in its statement (fieldScore, rankedInDatabase), SQLite
 * here (fieldScores, from FTS5's column filters).
 */
async function rankedRows<Row extends RankedRow>(
  db: Db,
  query: VisibleMessages<Row>,
  terms: SearchTerm[],
  limit: number,
  offset: number,
  scope: SearchScope | undefined,
): Promise<Row[]> {
  const viewToken = scope && 'viewToken' in scope ? scope.viewToken : null;
  // Only the ids, dates and index rows of the candidates: the page's own rows are read once ranked.
  const ids = query.clearSelect().select(['messages.id', 'messages.date']);
  const expanded = await prefixWords(db, terms);
  if (isPostgres(db)) {
    // With a view token the index's matches are the view's own: the candidates are its newest matches read from the
    // index's table alone (its documents carry their dates, 0031), and the caller's conditions are asked about the
    // ranked page only (pageRows), not about every match of a common word (2,301 for one user at 219,500 messages).
    // They still decide: a match they refuse is left out of the page and the next ranked one taken, as if it had never
    // been a candidate. Without a view token (a contact's timeline) the matches are the organisation's: every one is
    // joined to the caller's query.
    const words = tsQuery(terms, expanded);
    if (viewToken !== null)
      return pageRows(db, query, newestInView(db, words, viewToken, terms, expanded), offset, limit, false);
    const ranked = rankedInDatabase(
      db,
      ids
        .innerJoin('message_search', 'message_search.message_id', 'messages.id')
        .select('message_search.fields')
        .where(sql<boolean>`message_search.doc @@ to_tsquery('simple', ${words})`)
        .orderBy('messages.date', 'desc')
        .orderBy('messages.id', 'desc')
        .limit(MAX_SEARCH_RESULTS),
      fieldScore(terms, expanded),
    );
    return pageRows(db, query, ranked, offset, limit, true);
  }
  // SQLite: each term in FTS5's syntax, prefixes as their words.
  const ftsTerms = terms.map((t, i) => fts5Term(t, expanded[i]));
  const match = [...ftsTerms, ...(viewToken === null ? [] : [`"${viewToken}"`])].join(' AND ');
  // A contact's scope: the contact's documents are read once into a set (IN over a subquery) and each match, newest
  // indexed first, is tested against it; the `+` keeps the set from being pushed into FTS5 as rowid lookups, which
  // re-read the whole doclist per lookup (16 s for a contact of 1,317 messages at 200,000).
  const ofContact =
    scope && 'contactId' in scope
      ? sql`and +message_search_fts.rowid in (select contact_docs.doc from message_contacts
          join message_search_docs as contact_docs on contact_docs.message_id = message_contacts.message_id
          where message_contacts.contact_id = ${scope.contactId})`
      : sql``;
  const hits = sql<{ message_id: string; seq: number }>`(select message_search_docs.message_id,
    message_search_fts.rowid as seq
    from message_search_fts join message_search_docs on message_search_docs.doc = message_search_fts.rowid
    where message_search_fts match ${match} ${ofContact})`.as('hits');
  const candidates: Candidate[] = (
    await ids
      .innerJoin(hits, 'hits.message_id', 'messages.id')
      .select('hits.seq')
      .orderBy(sql`hits.seq`, 'desc')
      .limit(MAX_SEARCH_RESULTS)
      .execute()
  ).map((r) => ({ id: r.id, date: Number(r.date), seq: Number(r.seq) }));
  const scores = await fieldScores(db, candidates, terms, viewToken, ftsTerms);
  const ranked = candidates
    .sort(
      (a, b) => scores.get(b.id)! - scores.get(a.id)! || b.date - a.date || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
    )
    .map((c) => c.id);
  return pageRows(db, query, async (from, count) => ranked.slice(from, from + count), offset, limit, true);
}

/**
 * PostgreSQL: a search's score of a candidate, the SQL form of fieldScores' rule: per term, the weight of the best
 * field it is found in, from the document's subject (weight A) and people or attachment names (B) lexemes: `fields`,
 * a tenth of the document (0031), carried by the candidates (rankedInDatabase scores the candidates only, not every
 * match they were chosen from).
 */
function fieldScore(terms: SearchTerm[], expanded: PrefixWords) {
  const perTerm = terms.map(
    (term, i) => sql`(case
      when candidates.fields @@ to_tsquery('simple', ${tsTerm(term, expanded[i], 'A')})
        then ${sql.lit(FIELD_WEIGHT.subject)}
      when candidates.fields @@ to_tsquery('simple', ${tsTerm(term, expanded[i], 'B')})
        then ${sql.lit(FIELD_WEIGHT.peopleOrAttachmentNames)}
      else ${sql.lit(FIELD_WEIGHT.body)} end)`,
  );
  return sql<number>`${sql.join(perTerm, sql` + `)}`;
}

/** Months back from the current one (UTC) that each branch of newestInView's statement reads, newest first. */
const MONTH_WINDOWS: ReadonlyArray<readonly [number, number]> = [
  [0, 0],
  [1, 1],
  [2, 2],
  [3, 3],
  [4, 4],
  [5, 5],
  [6, 7],
  [8, 11],
  [12, 17],
  [18, 31],
];
/** Months ahead of the current one that the first branch reads too (mail dated ahead: see viewMonthToken). */
const MONTHS_AHEAD = 13;

/** YYYYMM of the month `offset` months after the one of `now` (UTC). */
function monthOf(now: Date, offset: number): string {
  const at = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1));
  return `${at.getUTCFullYear()}${String(at.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * PostgreSQL: the ranking of a view's MAX_SEARCH_RESULTS newest matches, read from the index's table alone (its
 * documents carry their dates and fields, 0031). The matches are read a span of months at a time, newest first, by the
 * view's month tokens (0032): the current month (and any ahead), each of the five before, then two, four, six and
 * fourteen more, then whatever is older by the view token and the date. One statement: the spans are the branches of
 * a UNION ALL under a LIMIT, which PostgreSQL runs one after another and stops pulling as soon as it has enough, so a
 * common word's search reads the heap rows of a few months of a user's mail, not a year's (issue 18: ~8,300 matches of
 * one word for one user at 893,000 messages, 280 ms p95 when all were read). Each span reads every match of its months
 * (to sort them by date), so the spans start small. The candidates are then ranked in the same statement, the server
 * receiving a window of ids (rankedInDatabase).
 */
function newestInView(db: Db, words: string, viewToken: string, terms: SearchTerm[], expanded: PrefixWords): RankedIds {
  const now = new Date();
  // Lexemes of our own (private-use mark, letters and digits): nothing in them is tsquery syntax.
  const anyOf = (tokens: string[]) => `(${tokens.map((t) => `'${t}'`).join(' | ')})`;
  const spans = MONTH_WINDOWS.map(([from, to]) => {
    const months: string[] = [];
    for (let back = from; back <= to; back++) months.push(monthOf(now, -back));
    if (from === 0) for (let ahead = 1; ahead <= MONTHS_AHEAD; ahead++) months.push(monthOf(now, ahead));
    if (from === 0) months.push('f');
    return sql`${anyOf(months.map((m) => viewMonthToken(viewToken, m)))}::tsquery`;
  });
  const oldest = MONTH_WINDOWS[MONTH_WINDOWS.length - 1]![1];
  const before = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - oldest, 1);
  const branch = (view: RawBuilder<unknown>, older: boolean) =>
    db
      .selectFrom('message_search')
      .select(['message_search.message_id as id', 'message_search.date', 'message_search.fields'])
      .where(sql<boolean>`message_search.doc @@ (to_tsquery('simple', ${words}) && ${view})`)
      .$if(older, (qb) => qb.where('message_search.date', '<', before))
      .orderBy('message_search.date', 'desc')
      .orderBy('message_search.message_id', 'desc')
      .limit(MAX_SEARCH_RESULTS);
  // Older mail: by the view token and the date, leaving out what the first span read by `f` (dated far ahead of its
  // indexing, that may be older than the spans years later).
  const older = sql`(${`'${viewToken}'`}::tsquery && !!${`'${viewMonthToken(viewToken, 'f')}'`}::tsquery)`;
  const branches = [...spans.map((view) => branch(view, false)), branch(older, true)];
  const union = sql.join(
    branches.map((b) => sql`(${b})`),
    sql` union all `,
  );
  const candidates = db
    .selectFrom(sql<{ id: string; date: number; fields: string }>`(${union})`.as('spans'))
    .select(['spans.id', 'spans.date', 'spans.fields'])
    .limit(MAX_SEARCH_RESULTS);
  return rankedInDatabase(db, candidates, fieldScore(terms, expanded));
}

/**
 * PostgreSQL: the ranking of `candidates` (best `score` first, then newest, then the id in byte order, as SQLite's
 * sort here), read a window at a time: the server sends a page's ids, not a thousand scored rows (issue 18: parsing and
 * sorting them was a tenth of a search's time in the event loop).
 */
function rankedInDatabase<DB, TB extends keyof DB>(
  db: Db,
  candidates: SelectQueryBuilder<DB, TB, { id: string; date: number; fields: string }>,
  score: RawBuilder<number>,
): RankedIds {
  return async (from, count) =>
    (
      await db
        .selectFrom(candidates.as('candidates'))
        .select('candidates.id')
        .orderBy(score, 'desc')
        .orderBy('candidates.date', 'desc')
        .orderBy(sql`candidates.id collate "C"`, 'desc')
        .limit(count)
        .offset(from)
        .execute()
    ).map((r) => r.id);
}

/**
 * The rows of the ranking that the caller's query returns, from the `offset`th of them, at most `limit`, read through
 * that query (its conditions decide). `checked`: the ranked ids were read through it already, so each is taken to pass
 * and only the page's rows are read; otherwise the ids before the page are asked first (their rows are not read) and
 * the page's are read and asked at once, more ids being read for any refused.
 */
async function pageRows<Row extends RankedRow>(
  db: Db,
  query: VisibleMessages<Row>,
  ranked: RankedIds,
  offset: number,
  limit: number,
  checked: boolean,
): Promise<Row[]> {
  let at = checked ? offset : 0;
  let skipped = at;
  while (skipped < offset) {
    const ids = await ranked(at, Math.min(offset - skipped, MAX_IN_LIST));
    if (ids.length === 0) return [];
    at += ids.length;
    const passed = await query
      .clearSelect()
      .modifyFront(prepared)
      .select('messages.id')
      .where(inValues(db, 'messages.id', ids))
      .execute();
    skipped += new Set(passed.map((r) => r.id)).size;
  }
  const rows: Row[] = [];
  while (rows.length < limit) {
    const ids = await ranked(at, Math.min(limit - rows.length, MAX_IN_LIST));
    if (ids.length === 0) break;
    at += ids.length;
    const read = new Map(
      (
        await query
          .modifyFront(prepared)
          .where(inValues(db, 'messages.id', ids))
          .execute()
      ).map((r) => [r.id, r]),
    );
    for (const id of ids) if (read.has(id)) rows.push(read.get(id)!);
  }
  return rows;
}

/**
 * SQLite: each candidate's score: per term, the weight of the best field it is found in (FIELD_WEIGHT; fieldScore is
 * the same rule in PostgreSQL's SQL), asked of the index where that is cheap: with a view token, per term the
 * candidates' index rows matching it in the subject and in the people or attachment names (FTS5 column filters within
 * the candidates' range of rows, intersected with the view: a few hundred postings). Without a view (a contact's
 * timeline) those column filters would walk the word's postings in the whole index (20–70 ms at 210,000 messages),
 * so the candidates' own fields are read and folded here instead (foundInFields).
 */
async function fieldScores(
  db: Db,
  candidates: Candidate[],
  terms: SearchTerm[],
  viewToken: string | null,
  ftsTerms: string[],
): Promise<Map<string, number>> {
  const found: FoundIn = { subject: new Map(), named: new Map() };
  if (candidates.length > 0) {
    if (viewToken !== null) await foundInView(db, candidates, ftsTerms, viewToken, found);
    else await foundInFields(db, candidates, terms, found);
  }
  const scores = new Map<string, number>();
  for (const c of candidates) {
    let score = 0;
    terms.forEach((_, i) => {
      if (found.subject.get(c.id)?.has(i)) score += FIELD_WEIGHT.subject;
      else if (found.named.get(c.id)?.has(i)) score += FIELD_WEIGHT.peopleOrAttachmentNames;
      else score += FIELD_WEIGHT.body;
    });
    scores.set(c.id, score);
  }
  return scores;
}

/** Per field, the indexes of the terms each candidate holds there. */
interface FoundIn {
  subject: Map<string, Set<number>>;
  /** People or attachment names. */
  named: Map<string, Set<number>>;
}

/** SQLite with a view token: per term and field, the view's index rows in the candidates' range (column filters). */
async function foundInView(
  db: Db,
  candidates: Candidate[],
  ftsTerms: string[],
  viewToken: string,
  found: FoundIn,
): Promise<void> {
  const bySeq = new Map(candidates.map((c) => [c.seq, c.id]));
  const low = Math.min(...bySeq.keys());
  const high = Math.max(...bySeq.keys());
  for (const [i, term] of ftsTerms.entries()) {
    for (const [field, columns] of [
      ['subject', '{subject}'],
      ['named', '{people attachments}'],
    ] as const) {
      const match = `${columns} : (${term}) AND "${viewToken}"`;
      const { rows } = await sql<{ seq: number }>`select rowid as seq from message_search_fts
        where message_search_fts match ${match} and rowid between ${low} and ${high}`.execute(db);
      for (const row of rows) {
        const id = bySeq.get(Number(row.seq));
        if (id !== undefined) add(found[field], id, i);
      }
    }
  }
}

/** Participants of a candidate read for ranking in JavaScript (the index holds up to 16 KB of them). */
const MAX_RANKED_PEOPLE = 50;

/** The terms each candidate holds in its subject and in its people or attachment names, read and folded here. */
async function foundInFields(db: Db, candidates: Candidate[], terms: SearchTerm[], found: FoundIn): Promise<void> {
  for (const chunk of inChunks(
    candidates.map((c) => c.id),
    MAX_IN_LIST,
  )) {
    const [messages, participants, attachments] = await Promise.all([
      db
        .selectFrom('messages')
        .select(['id', 'subject', 'from_name', 'from_address'])
        .where('id', 'in', chunk)
        .execute(),
      db
        .selectFrom('message_participants')
        .select(['message_id', 'address', 'name'])
        .where('message_id', 'in', chunk)
        .where('position', '<', MAX_RANKED_PEOPLE)
        .execute(),
      db.selectFrom('attachments').select(['message_id', 'filename']).where('message_id', 'in', chunk).execute(),
    ]);
    const named = new Map<string, Array<string | null>>();
    const push = (id: string, ...parts: Array<string | null>) => {
      const list = named.get(id);
      if (list) list.push(...parts);
      else named.set(id, parts);
    };
    for (const p of participants) push(p.message_id, p.name, p.address);
    for (const a of attachments) push(a.message_id, a.filename);
    for (const m of messages) {
      const subject = foldedWords([m.subject]);
      const other = foldedWords([m.from_name, m.from_address, ...(named.get(m.id) ?? [])]);
      terms.forEach((term, i) => {
        if (holds(subject, term)) add(found.subject, m.id, i);
        if (holds(other, term)) add(found.named, m.id, i);
      });
    }
  }
}

/** Whether the folded `words` hold `term` (its words in a row, the last maybe as a prefix). */
function holds(words: string[], term: SearchTerm): boolean {
  const n = term.words.length;
  for (let i = 0; i + n <= words.length; i++) {
    let j = 0;
    for (; j < n; j++) {
      const want = term.words[j]!;
      const got = words[i + j]!;
      if (!(term.prefix && j === n - 1 ? got.startsWith(want) : got === want)) break;
    }
    if (j === n) return true;
  }
  return false;
}

function foldedWords(parts: Array<string | null>): string[] {
  return foldForSearch(parts.filter(Boolean).join(' ')).split(' ');
}

function add(into: Map<string, Set<number>>, id: string, term: number): void {
  const set = into.get(id) ?? new Set<number>();
  set.add(term);
  into.set(id, set);
}

/**
 * What a page's excerpts are made from, read with its rows (issue 18: three statements of their own before): the body,
 * the subject and sender, and the people and attachment names in their order.
 */
function matchColumns(db: Db) {
  const people = jsonAgg(db, jsonArray(db, [sql`p.address`, sql`p.name`]), sql`p.position`);
  // The HTML only where searchBodyText may read it, a blank text: most real mail carries both bodies, and a page
  // need not bring each one twice. A text holding an ASCII letter or digit is not blank (others still bring theirs).
  const textHasWord = isPostgres(db)
    ? sql`messages.text_body ~ '[0-9A-Za-z]'`
    : sql`messages.text_body GLOB '*[0-9A-Za-z]*'`;
  return [
    'messages.text_body as match_text',
    sql<string | null>`CASE WHEN ${textHasWord} THEN NULL ELSE messages.html_body END`.as('match_html'),
    'messages.subject as match_subject',
    'messages.from_address as match_from_address',
    'messages.from_name as match_from_name',
    sql<unknown>`(SELECT ${people} FROM message_participants p WHERE p.message_id = messages.id)`.as('match_people'),
    sql<unknown>`(SELECT ${jsonAgg(db, sql`a.filename`, sql`a.position`)} FROM attachments a
      WHERE a.message_id = messages.id)`.as('match_attachments'),
  ] as const;
}

/** The columns of matchColumns. */
interface MatchRow {
  match_text: string | null;
  match_html: string | null;
  match_subject: string | null;
  match_from_address: string | null;
  match_from_name: string | null;
  match_people: unknown;
  match_attachments: unknown;
}

/** A page row's excerpt: from its body, else its subject, attachment names or people; else the body's beginning. */
function matchOf(row: MatchRow, terms: SearchTerm[]): SearchMatch {
  const body = searchBodyText(row.match_text, row.match_html);
  const names = jsonList<string | null>(row.match_attachments).filter(Boolean).join(', ');
  const who = [
    ...(row.match_from_address ? [[row.match_from_address, row.match_from_name] as const] : []),
    ...jsonList<[string, string | null]>(row.match_people),
  ]
    .map(([address, name]) => (name ? `${name} <${address}>` : address))
    .join(', ');
  for (const text of [body, row.match_subject ?? '', names, who]) {
    const match = excerpt(text, terms);
    if (match) return match;
  }
  return { snippet: clip(body.replace(/\s+/g, ' ').trim(), 0, SNIPPET_LENGTH - 1), highlights: [] };
}

/** tokens()'s fold of each non-ASCII code point ('' for a combining mark), computed once per code point met. */
const FOLDED_CODE_POINTS = new Map<number, string>();

function foldCodePoint(cp: number): string {
  let folded = FOLDED_CODE_POINTS.get(cp);
  if (folded === undefined) {
    const ch = String.fromCodePoint(cp);
    folded = cp >= 0x300 && /\p{M}/u.test(ch) ? '' : foldForSearch(ch) || ' ';
    if (FOLDED_CODE_POINTS.size < 65_536) FOLDED_CODE_POINTS.set(cp, folded);
  }
  return folded;
}

/**
 * The words of `text`, each handed to `take` as it is read with where it lies in `text` (folding changes lengths, so
 * positions are mapped); reading stops when `take` returns false. A word is handed as its range only (`folded` null):
 * its fold is that range's characters folded one by one (see wordIs), lower-cased only when `ascii`. Only a word that
 * a character's fold cuts (a fold holding a separator, rare) comes as a string. Issue 18: a string per word read, built
 * a character at a time, was a third of a search's allocations.
 */
function tokens(
  text: string,
  take: (start: number, end: number, folded: string | null, ascii: boolean) => boolean,
): void {
  /** Where the current word starts (-1: between words) and ends. */
  let start = -1;
  let end = 0;
  /** Whether the current word is ASCII letters and digits only. */
  let ascii = true;
  /** The current word's fold once a character's fold has cut it; null before. */
  let folded: string | null = null;
  const flush = (): boolean => {
    if (start === -1) return true;
    const from = start;
    const word = folded;
    const plain = ascii;
    start = -1;
    folded = null;
    ascii = true;
    return take(from, end, word, plain);
  };
  for (let i = 0; i < text.length;) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      // ASCII: letters and digits make words, everything else separates them.
      if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57)) {
        if (start === -1) start = i;
        else if (folded !== null) folded += String.fromCharCode(c >= 65 && c <= 90 ? c + 32 : c);
        end = i + 1;
      } else if (!flush()) return;
      i++;
      continue;
    }
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    const fold = foldCodePoint(cp);
    if (fold === ' ') {
      if (!flush()) return;
    } else if (fold === '') {
      // A combining accent belongs to the word it follows (the index drops it, joining the word).
      if (start !== -1) {
        ascii = false;
        end = i + width;
      }
    } else if (!fold.includes(' ')) {
      if (start === -1) start = i;
      else if (folded !== null) folded += fold;
      ascii = false;
      end = i + width;
    } else {
      // A fold with separators in it: each of its parts ends a word or starts one, at this character.
      for (const ch of fold) {
        if (ch === ' ') {
          if (!flush()) return;
          continue;
        }
        folded = start === -1 ? ch : (folded ?? foldRange(text, start, end)) + ch;
        if (start === -1) start = i;
        ascii = false;
        end = i + width;
      }
    }
    i += width;
  }
  flush();
}

/** The fold of a word's range of `text` (tokens: every character of it folds to letters or digits, or to nothing). */
function foldRange(text: string, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end;) {
    const cp = text.codePointAt(i)!;
    out += cp < 128 ? String.fromCharCode(cp >= 65 && cp <= 90 ? cp + 32 : cp) : foldCodePoint(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

/**
 * Reads the hits of `terms` in `text` (their ranges: a phrase from its first word's start to its last word's end), in
 * the order their last words are read, handing each to `hit` with `earliest`: where the first of the last words read
 * (as many as the longest term has) starts, before which no hit read later can start. Reading stops when `hit` returns
 * false or at the first word starting past `stopAfter()`.
 */
function readHits(
  text: string,
  terms: SearchTerm[],
  hit: (start: number, end: number, earliest: number) => boolean,
  stopAfter: () => number = () => Infinity,
): void {
  // The last words read, as many as the longest term has (a ring): their ranges and folded forms (see tokens).
  const span = Math.max(...terms.map((t) => t.words.length));
  const starts = new Array<number>(span);
  const ends = new Array<number>(span);
  const foldeds = new Array<string | null>(span);
  const asciis = new Array<boolean>(span);
  let count = 0;
  tokens(text, (start, end, folded, ascii) => {
    if (start > stopAfter()) return false;
    starts[count % span] = start;
    ends[count % span] = end;
    foldeds[count % span] = folded;
    asciis[count % span] = ascii;
    count++;
    for (const term of terms) {
      const n = term.words.length;
      if (count < n) continue;
      let ok = true;
      for (let j = 0; j < n && ok; j++) {
        const at = (count - n + j) % span;
        ok = wordIs(
          text,
          starts[at]!,
          ends[at]!,
          foldeds[at]!,
          asciis[at]!,
          term.words[j]!,
          term.prefix && j === n - 1,
        );
      }
      if (ok && !hit(starts[(count - n) % span]!, end, starts[Math.max(0, count - span) % span]!)) return false;
    }
    return true;
  });
}

/**
 * Whether the word tokens() read is `want` (or starts with it: `prefix`), compared in place when it comes as a range:
 * its characters folded one at a time against `want`'s.
 */
function wordIs(
  text: string,
  start: number,
  end: number,
  folded: string | null,
  ascii: boolean,
  want: string,
  prefix: boolean,
): boolean {
  if (folded !== null) return prefix ? folded.startsWith(want) : folded === want;
  if (ascii && (prefix ? end - start < want.length : end - start !== want.length)) return false;
  let k = 0;
  for (let i = start; i < end;) {
    const c = text.charCodeAt(i);
    if (c < 128) {
      if (k === want.length) return prefix;
      if ((c >= 65 && c <= 90 ? c + 32 : c) !== want.charCodeAt(k)) return false;
      k++;
      i++;
      continue;
    }
    const cp = text.codePointAt(i)!;
    const fold = foldCodePoint(cp);
    for (let j = 0; j < fold.length; j++) {
      if (k === want.length) return prefix;
      if (fold.charCodeAt(j) !== want.charCodeAt(k)) return false;
      k++;
    }
    i += cp > 0xffff ? 2 : 1;
  }
  return k === want.length;
}

/**
 * Where `text` can be cut so that, from `from` on, its whitespace-collapsed form holds `length` characters and then
 * the rest of the word that reaches past them (whitespace ends every word), or its end.
 */
function collapsedEnd(text: string, from: number, length: number): number {
  let counted = 0;
  let i = from;
  for (; i < text.length && counted <= length; i++) {
    if (isSpace(text.charCodeAt(i))) while (i + 1 < text.length && isSpace(text.charCodeAt(i + 1))) i++;
    counted++;
  }
  while (i < text.length && !isSpace(text.charCodeAt(i))) i++;
  return i;
}

/**
 * Where excerpt's text can start so that the excerpt is the one of the whole text: `before` is where the earliest hit
 * can start, and what precedes it there holds more than SNIPPET_LEAD characters once whitespace is collapsed (the lead
 * is cut from it and "…" marks the cut, as from the whole); and the text starts a whitespace-separated piece (its
 * beginning, or after whitespace), so its words and collapsed whitespace are the whole's from there on.
 */
function excerptStart(raw: string, before: number): number {
  let i = before;
  for (let counted = 0; i > 0 && counted <= SNIPPET_LEAD + 1; counted++) {
    i--;
    // A run of whitespace collapses to one character.
    if (isSpace(raw.charCodeAt(i))) while (i > 0 && isSpace(raw.charCodeAt(i - 1))) i--;
  }
  while (i > 0 && !isSpace(raw.charCodeAt(i - 1))) i--;
  return i;
}

/** Whether a UTF-16 code unit is whitespace as a regular expression's `\s` has it. */
function isSpace(c: number): boolean {
  if (c < 128) return c === 32 || (c >= 9 && c <= 13);
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** The ≤ 200-character excerpt of `raw` around its first hit, or null when no term is found in it. */
export function excerpt(raw: string, terms: SearchTerm[]): SearchMatch | null {
  if (terms.length === 0) return null;
  // The first hit, read from `raw` itself: a text without one (a page's bodies when the word is in their subjects)
  // is never copied, and one with a hit only as far as its excerpt can reach (issue 18: copying and reading whole
  // bodies was most of a search's allocations). Collapsing whitespace only merges separators, so the words and hits
  // are the same in both forms.
  let firstHit = -1;
  let earliest = 0;
  readHits(raw, terms, (start, _end, before) => {
    firstHit = start;
    earliest = before;
    return false;
  });
  if (firstHit === -1) return null;
  // Every hit that can show in the excerpt lies within SNIPPET_LENGTH of the first (plus a phrase's length): reading
  // stops 2 × SNIPPET_LENGTH past it. Nor does any start before `earliest`, so the text is read again from a little
  // before that (excerptStart), not from its beginning: the same excerpt, from a text cut where its words and
  // collapsed whitespace are the same as in the whole.
  const text = raw
    .slice(excerptStart(raw, earliest), collapsedEnd(raw, firstHit, 2 * SNIPPET_LENGTH))
    .replace(/\s+/g, ' ')
    .trim();
  const hits: Array<{ start: number; end: number }> = [];
  let stopAfter = Infinity;
  readHits(
    text,
    terms,
    (start, end) => {
      hits.push({ start, end });
      if (stopAfter === Infinity) stopAfter = start + 2 * SNIPPET_LENGTH;
      return true;
    },
    () => stopAfter,
  );
  if (hits.length === 0) return null;
  hits.sort((a, b) => a.start - b.start || b.end - a.end);
  const first = hits[0]!;
  let from = Math.max(0, first.start - SNIPPET_LEAD);
  if (from > 0) {
    // Start at a word, not inside one.
    const space = text.indexOf(' ', from);
    if (space !== -1 && space < first.start) from = space + 1;
  }
  if (/[\udc00-\udfff]/.test(text[from] ?? '')) from++;
  const lead = from > 0 ? '…' : '';
  let to = Math.min(text.length, from + SNIPPET_LENGTH - lead.length);
  if (to < text.length) to--; // room for the trailing "…"
  if (/[\ud800-\udbff]/.test(text[to - 1] ?? '')) to--;
  const snippet = `${lead}${text.slice(from, to)}${to < text.length ? '…' : ''}`;
  const highlights: Array<{ start: number; end: number }> = [];
  for (const h of hits) {
    if (h.start < from || h.start >= to) continue;
    const start = h.start - from + lead.length;
    const end = Math.min(h.end, to) - from + lead.length;
    const prev = highlights[highlights.length - 1];
    if (prev && start <= prev.end) prev.end = Math.max(prev.end, end);
    else highlights.push({ start, end });
  }
  return { snippet, highlights };
}

function clip(text: string, from: number, length: number): string {
  if (text.length <= length) return text;
  let to = from + length;
  if (/[\ud800-\udbff]/.test(text[to - 1] ?? '')) to--;
  return `${text.slice(from, to)}…`;
}
