// Full-text search of the mail a caller may read (issue 18): `q` on the inbox and on a contact's timeline. The words
// of `q` are folded like the index's (src/storage/search-index.ts) and written into the engine's query language by
// us, from letters and digits only: nothing a user types is ever taken as FTS5 or tsquery syntax. Words are AND-ed,
// "quoted words" are a phrase, the last word is also a prefix while typing. The match runs inside the caller's own
// query (the access policy's visibility rule and the inbox or contact condition), in the same SQL, so a search never
// finds, counts or ranks a message the caller cannot open. Ranked best first (subject above people and attachment
// names above body, from each message's own fields: see rankedRows), then newest; the page cursor is an offset, at most
// MAX_SEARCH_RESULTS deep.
import { sql, type SelectQueryBuilder } from 'kysely';
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';
import { inChunks, MAX_IN_LIST } from '../storage/batches.js';
import { foldForSearch, isPostgres, searchBodyText } from '../storage/search-index.js';

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

/** FTS5: every term a quoted string of folded words (letters and digits only), AND-ed. */
export function fts5Query(terms: SearchTerm[]): string {
  return terms.map((t) => `"${t.words.join(' ')}"${t.prefix ? ' *' : ''}`).join(' AND ');
}

/** tsquery: words of a phrase followed by each other, terms AND-ed; folded words need no quoting. */
export function tsQuery(terms: SearchTerm[]): string {
  return terms
    .map((t) => {
      const words = t.words.map((w, i) => (t.prefix && i === t.words.length - 1 ? `${w}:*` : w));
      return words.length > 1 ? `(${words.join(' <-> ')})` : words[0]!;
    })
    .join(' & ');
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
  const rows = await rankedRows(db, query, terms, limit + 1, offset, scope);
  // Candidates stop at MAX_SEARCH_RESULTS: no page goes deeper.
  const page = rows.slice(0, limit);
  const items = await summarize(page);
  const matches = await matchesFor(
    db,
    page.map((r) => r.id),
    terms,
  );
  return {
    items: items.map((item) => ({ ...item, match: matches.get(item.id) ?? { snippet: '', highlights: [] } })),
    nextCursor: rows.length > limit && offset + limit < MAX_SEARCH_RESULTS ? searchCursor(offset + limit) : null,
  };
}

/** What a ranked row needs besides the caller's own columns. */
export interface RankedRow {
  id: string;
  date: number;
  subject: string | null;
  from_address: string | null;
  from_name: string | null;
}

/** Weight of a term by the field it is found in (the best one); found in none of these, it is in the body. */
const FIELD_WEIGHT = { subject: 8, people: 4, attachments: 4, body: 1 } as const;
/** Participants of a candidate read for ranking (the index holds up to 16 KB of them; these decide the rank). */
const MAX_RANKED_PEOPLE = 50;

/**
 * One ranked page of the caller's rows. Ranking every match of a common word would cost as much as the matches (1M
 * messages: hundreds of thousands of them): the candidates are the caller's MAX_SEARCH_RESULTS most recent visible
 * matches (SQLite: most recently indexed, walking the FTS5 doclists backwards, intersected with the scope's view
 * token or driven by its contact's messages; PostgreSQL: newest by date), and only
 * those are ranked; a word with fewer visible matches than that is ranked over all of them. The rank is computed here
 * from each candidate's own fields (a term in the subject above one in the people or attachment names, above one only
 * in the body; then newest), never with bm25's index-wide statistics: how often a word occurs in other people's mail
 * must not change the order of one's own results.
 */
async function rankedRows<Row extends RankedRow>(
  db: Db,
  query: VisibleMessages<Row>,
  terms: SearchTerm[],
  limit: number,
  offset: number,
  scope: SearchScope | undefined,
): Promise<Row[]> {
  let candidates: Row[];
  const viewToken = scope && 'viewToken' in scope ? scope.viewToken : null;
  if (isPostgres(db)) {
    // The token is a lexeme as it is (a quoted tsquery literal: no parser); only private-use, 'u'/'a' and hex in it.
    const view = viewToken === null ? sql`` : sql` && ${`'${viewToken}'`}::tsquery`;
    candidates = (await query
      .innerJoin('message_search', 'message_search.message_id', 'messages.id')
      .where(sql<boolean>`message_search.doc @@ (to_tsquery('simple', ${tsQuery(terms)})${view})`)
      .orderBy('messages.date', 'desc')
      .orderBy('messages.id', 'desc')
      .limit(MAX_SEARCH_RESULTS)
      .execute()) as Row[];
  } else {
    const match = viewToken === null ? fts5Query(terms) : `${fts5Query(terms)} AND "${viewToken}"`;
    // A contact's scope: the contact's documents are read once into a set (IN over a subquery) and each match, newest
    // indexed first, is tested against it; the `+` keeps the set from being pushed into FTS5 as rowid lookups, which
    // re-read the whole doclist per lookup (16 s for a contact of 1,317 messages at 200,000).
    const hits =
      scope && 'contactId' in scope
        ? sql<{ message_id: string; seq: number }>`(select message_search_docs.message_id,
            message_search_fts.rowid as seq
            from message_search_fts join message_search_docs on message_search_docs.doc = message_search_fts.rowid
            where message_search_fts match ${match}
              and +message_search_fts.rowid in (select contact_docs.doc from message_contacts
                join message_search_docs as contact_docs on contact_docs.message_id = message_contacts.message_id
                where message_contacts.contact_id = ${scope.contactId}))`.as('hits')
        : sql<{ message_id: string; seq: number }>`(select message_search_docs.message_id,
            message_search_fts.rowid as seq
            from message_search_fts join message_search_docs on message_search_docs.doc = message_search_fts.rowid
            where message_search_fts match ${match})`.as('hits');
    candidates = (await query
      .innerJoin(hits, 'hits.message_id', 'messages.id')
      .orderBy(sql`hits.seq`, 'desc')
      .limit(MAX_SEARCH_RESULTS)
      .execute()) as Row[];
  }
  const scores = await fieldScores(db, candidates, terms);
  return candidates
    .sort(
      (a, b) =>
        scores.get(b.id)! - scores.get(a.id)! ||
        Number(b.date) - Number(a.date) ||
        (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
    )
    .slice(offset, offset + limit);
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

/** Each candidate's score: per term, the weight of the best field it is found in. */
async function fieldScores(db: Db, rows: RankedRow[], terms: SearchTerm[]): Promise<Map<string, number>> {
  const people = new Map<string, Array<string | null>>();
  const names = new Map<string, Array<string | null>>();
  for (const chunk of inChunks(
    rows.map((r) => r.id),
    MAX_IN_LIST,
  )) {
    const [participants, attachments] = await Promise.all([
      db
        .selectFrom('message_participants')
        .select(['message_id', 'address', 'name'])
        .where('message_id', 'in', chunk)
        .where('position', '<', MAX_RANKED_PEOPLE)
        .execute(),
      db.selectFrom('attachments').select(['message_id', 'filename']).where('message_id', 'in', chunk).execute(),
    ]);
    for (const p of participants) {
      const list = people.get(p.message_id) ?? [];
      list.push(p.name, p.address);
      people.set(p.message_id, list);
    }
    for (const a of attachments) {
      const list = names.get(a.message_id) ?? [];
      list.push(a.filename);
      names.set(a.message_id, list);
    }
  }
  const scores = new Map<string, number>();
  for (const row of rows) {
    const subject = foldedWords([row.subject]);
    const who = foldedWords([row.from_name, row.from_address, ...(people.get(row.id) ?? [])]);
    const attached = foldedWords(names.get(row.id) ?? []);
    let score = 0;
    for (const term of terms) {
      if (holds(subject, term)) score += FIELD_WEIGHT.subject;
      else if (holds(who, term)) score += FIELD_WEIGHT.people;
      else if (holds(attached, term)) score += FIELD_WEIGHT.attachments;
      else score += FIELD_WEIGHT.body;
    }
    scores.set(row.id, score);
  }
  return scores;
}

/** The excerpts of a page's messages, computed here from their rows (only the page's, never ts_headline's). */
async function matchesFor(db: Db, ids: string[], terms: SearchTerm[]): Promise<Map<string, SearchMatch>> {
  const out = new Map<string, SearchMatch>();
  if (ids.length === 0) return out;
  const [messages, people, attachments] = await Promise.all([
    db
      .selectFrom('messages')
      .select(['id', 'subject', 'from_address', 'from_name', 'text_body', 'html_body'])
      .where('id', 'in', ids)
      .execute(),
    db
      .selectFrom('message_participants')
      .select(['message_id', 'address', 'name'])
      .where('message_id', 'in', ids)
      .orderBy('position')
      .execute(),
    db
      .selectFrom('attachments')
      .select(['message_id', 'filename'])
      .where('message_id', 'in', ids)
      .orderBy('position')
      .execute(),
  ]);
  for (const m of messages) {
    const body = searchBodyText(m.text_body, m.html_body);
    const names = attachments
      .filter((a) => a.message_id === m.id && a.filename)
      .map((a) => a.filename!)
      .join(', ');
    const who = [
      ...(m.from_address ? [{ address: m.from_address, name: m.from_name }] : []),
      ...people.filter((p) => p.message_id === m.id),
    ]
      .map((p) => (p.name ? `${p.name} <${p.address}>` : p.address))
      .join(', ');
    let match: SearchMatch | null = null;
    for (const text of [body, m.subject ?? '', names, who]) {
      match = excerpt(text, terms);
      if (match) break;
    }
    out.set(m.id, match ?? { snippet: clip(body.replace(/\s+/g, ' ').trim(), 0, SNIPPET_LENGTH - 1), highlights: [] });
  }
  return out;
}

interface Token {
  word: string;
  start: number;
  end: number;
}

/** The folded words of `text` with where each lies in `text` (folding changes lengths, so positions are mapped). */
function tokens(text: string): Token[] {
  const out: Token[] = [];
  let word = '';
  let start = 0;
  let end = 0;
  const flush = () => {
    if (word !== '') out.push({ word, start, end });
    word = '';
  };
  for (let i = 0; i < text.length;) {
    const cp = text.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    let folded: string;
    if (cp >= 0x300 && /\p{M}/u.test(String.fromCodePoint(cp))) {
      // A combining accent belongs to the word it follows (the index drops it, joining the word).
      if (word !== '') end = i + width;
      i += width;
      continue;
    }
    if (cp < 128) {
      // ASCII, most of any mail: lower-case letters and digits, everything else a separator.
      const lower = cp >= 65 && cp <= 90 ? cp + 32 : cp;
      folded = (lower >= 97 && lower <= 122) || (lower >= 48 && lower <= 57) ? String.fromCharCode(lower) : ' ';
    } else folded = foldForSearch(String.fromCodePoint(cp)) || ' ';
    for (const ch of folded) {
      if (ch === ' ') flush();
      else {
        if (word === '') start = i;
        word += ch;
        end = i + width;
      }
    }
    i += width;
  }
  flush();
  return out;
}

/** The ≤ 200-character excerpt of `raw` around its first hit, or null when no term is found in it. */
export function excerpt(raw: string, terms: SearchTerm[]): SearchMatch | null {
  const text = raw.replace(/\s+/g, ' ').trim();
  if (text === '') return null;
  const words = tokens(text);
  const hits: Array<{ start: number; end: number }> = [];
  for (const term of terms) {
    const n = term.words.length;
    for (let i = 0; i + n <= words.length; i++) {
      let ok = true;
      for (let j = 0; j < n && ok; j++) {
        const want = term.words[j]!;
        const got = words[i + j]!.word;
        ok = term.prefix && j === n - 1 ? got.startsWith(want) : got === want;
      }
      if (ok) hits.push({ start: words[i]!.start, end: words[i + n - 1]!.end });
    }
  }
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
