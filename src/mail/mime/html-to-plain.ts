// Readable text out of HTML mail, for snippets and for reading bounce notices sent as HTML only. Not a renderer:
// tags become spaces or line breaks, the common entities are decoded, scripts and styles are dropped.

/** Drops `<tag …>…</tag>` for the given tags in one pass (an unclosed one drops the rest). */
export function dropElements(html: string, tags: readonly string[]): string {
  const lower = html.toLowerCase();
  let out = '';
  let pos = 0;
  for (;;) {
    let start = -1;
    let tag = '';
    for (const t of tags) {
      const at = lower.indexOf(`<${t}`, pos);
      if (at !== -1 && (start === -1 || at < start)) {
        start = at;
        tag = t;
      }
    }
    if (start === -1) return out + html.slice(pos);
    out += `${html.slice(pos, start)} `;
    const end = lower.indexOf(`</${tag}`, start);
    if (end === -1) return out;
    const close = lower.indexOf('>', end);
    if (close === -1) return out;
    pos = close + 1;
  }
}

// Linear on any input: every pattern stops at the next '<' (an unclosed '<' cannot make it rescan the rest).
export function htmlToPlain(html: string, maxLength = 200_000): string {
  return dropElements(html.length > maxLength ? html.slice(0, maxLength) : html, ['script', 'style', 'head', 'title'])
    .replace(/<br\s*\/?>|<\/(?:p|div|tr|li|h[1-6]|blockquote|table|pre)\s*>/gi, '\n')
    .replace(/<[^<>]*>/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&#0*39;|&apos;/gi, "'")
    .replace(/&#(\d{1,7});/g, (_, d: string) => safeCodePoint(Number(d)))
    .replace(/&#x([0-9a-f]{1,6});/gi, (_, h: string) => safeCodePoint(parseInt(h, 16)))
    .replace(/&amp;/gi, '&');
}

function safeCodePoint(cp: number): string {
  return cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : ' ';
}
