// Substring search that means the same on SQLite and PostgreSQL: the user's text matched literally (their % and
// _ are not wildcards) with an explicit ESCAPE, since SQLite has no default escape character.
import { sql, type RawBuilder } from 'kysely';

export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** `<column expression> LIKE '%text%' ESCAPE '\'` for a lower-cased column expression. */
export function likeContains(column: RawBuilder<unknown>, text: string): RawBuilder<boolean> {
  return sql<boolean>`${column} like ${containsPattern(text)} escape '\\'`;
}
