// Full-text search of the mail a caller may read (issue 18): `q` on the inbox and on a contact's timeline. The words
// of `q` are folded like the index's (src/storage/search-index.ts) and written into the engine's query language by
// us, from letters and digits only: nothing a user types is ever taken as FTS5 or tsquery syntax. Words are AND-ed,
// "quoted words" are a phrase, the last word is also a prefix while typing. The match runs inside the caller's own
// query (the access policy's visibility rule and the inbox or contact condition), in the same SQL, so a search never
// finds, counts or ranks a message the caller cannot open. Ranked best first (FTS5 bm25 / ts_rank_cd, subject above
// people and attachment names above body), then newest; the page cursor is an offset, at most MAX_SEARCH_RESULTS deep.
import { sql, type SelectQueryBuilder } from 'kysely';
import { AppError } from '../core/app-error.js';
import type { Db } from '../storage/database.js';
import type { Database } from '../storage/schema.js';
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
 * One ranked page of `query`'s messages matching `q`, summarised by `summarize`, each with its `match`. `q` without a
 * letter or digit finds nothing.
 */
export async function searchPage<Row extends { id: string }, Item extends { id: string }>(
  db: Db,
  query: VisibleMessages<Row>,
  q: string,
  options: { limit: number; cursor?: string },
  summarize: (rows: Row[]) => Promise<Item[]>,
): Promise<{ items: Array<Item & { match: SearchMatch }>; nextCursor: string | null }> {
  const offset = readSearchCursor(options.cursor);
  const terms = parseSearch(q);
  const limit = Math.min(options.limit, MAX_SEARCH_RESULTS - offset);
  if (terms.length === 0 || limit <= 0) return { items: [], nextCursor: null };
  const rows = await rankedRows(db, query, terms, limit + 1, offset);
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

/**
 * One ranked page of the caller's rows. Ranking every match of a common word would cost as much as the matches (1M
 * messages: hundreds of thousands of bm25 / ts_rank_cd computations, and on PostgreSQL as many tsvectors read back):
 * the candidates are first the caller's MAX_SEARCH_RESULTS most recent visible matches (SQLite: most recently
 * indexed, walking the FTS5 doclists backwards; PostgreSQL: newest by date), and only those are ranked. A word with
 * fewer visible matches than that is ranked over all of them.
 */
async function rankedRows<Row>(
  db: Db,
  query: VisibleMessages<Row>,
  terms: SearchTerm[],
  limit: number,
  offset: number,
): Promise<Row[]> {
  if (isPostgres(db)) {
    const tsquery = sql`to_tsquery('simple', ${tsQuery(terms)})`;
    const candidates = query
      .innerJoin('message_search', 'message_search.message_id', 'messages.id')
      .where(sql<boolean>`message_search.doc @@ ${tsquery}`)
      .orderBy('messages.date', 'desc')
      .orderBy('messages.id', 'desc')
      .limit(MAX_SEARCH_RESULTS);
    // Only the candidates' tsvectors are read back to rank them.
    const result = await sql<Row>`select c.* from (${candidates}) as c
      join message_search on message_search.message_id = c.id
      order by ts_rank_cd('{0, 0.2, 0.4, 1.0}', message_search.doc, ${tsquery}) desc, c.date desc, c.id desc
      limit ${limit} offset ${offset}`.execute(db);
    return result.rows;
  }
  const hits = sql<{ message_id: string; seq: number; score: number }>`(select message_search_docs.message_id,
    message_search_fts.rowid as seq, -bm25(message_search_fts, 10.0, 4.0, 4.0, 1.0) as score
    from message_search_fts join message_search_docs on message_search_docs.doc = message_search_fts.rowid
    where message_search_fts match ${fts5Query(terms)})`.as('hits');
  const candidates = query
    .innerJoin(hits, 'hits.message_id', 'messages.id')
    .select(sql<number>`hits.score`.as('search_score'))
    .orderBy(sql`hits.seq`, 'desc')
    .limit(MAX_SEARCH_RESULTS);
  const result = await sql<Row>`select c.* from (${candidates}) as c
    order by c.search_score desc, c.date desc, c.id desc limit ${limit} offset ${offset}`.execute(db);
  return result.rows;
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
