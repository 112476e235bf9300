// Where a search found a message (issue 18): the server's excerpt with its hits wrapped in <mark>, built as React
// elements from the ranges the API gives (UTF-16 offsets, as JavaScript strings count) — never as HTML.
import type { ReactNode } from 'react';
import type { SearchMatch } from '../api/types';

export function MatchSnippet({ match, className }: { match: SearchMatch; className?: string }) {
  const { snippet } = match;
  const parts: ReactNode[] = [];
  let at = 0;
  for (const [i, h] of [...match.highlights].sort((a, b) => a.start - b.start).entries()) {
    const start = Math.min(Math.max(h.start, at), snippet.length);
    const end = Math.min(Math.max(h.end, start), snippet.length);
    if (start > at) parts.push(snippet.slice(at, start));
    if (end > start) parts.push(<mark key={i}>{snippet.slice(start, end)}</mark>);
    at = Math.max(at, end);
  }
  if (at < snippet.length) parts.push(snippet.slice(at));
  return <span className={className}>{parts}</span>;
}
