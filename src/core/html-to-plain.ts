// Readable text out of HTML mail: the one converter, for snippets, the search index, bounce notices sent as HTML only and
// forwards filed from the BCC address. Not a renderer: tags become spaces or line breaks, the common entities are
// decoded, scripts and styles are dropped. Linear on any input.

export interface HtmlToPlainOptions {
  /** Characters of HTML read at most; the rest is ignored. Default 200,000. */
  maxLength?: number;
  /**
   * Reading a forward's header block (the BCC filing): a removed tag leaves nothing, so that
   * "<b>From:</b> Ana &lt;<a>ana@x</a>&gt;" stays one "From: Ana <ana@x>" line, and <hr> becomes Outlook's line
   * of underscores, the separator forward detection looks for. Otherwise (snippets, bounce notices) a removed tag
   * leaves a space, so that "a</td><td>b" stays two words.
   */
  forwardBlocks?: boolean;
}

const DEFAULT_MAX_LENGTH = 200_000;
/** What Outlook prints between a reply and the message it quotes or forwards. */
const OUTLOOK_RULE = '\n________________________________\n';

/** Drops `<tag …>…</tag>` for the given tags in one pass (an unclosed one drops the rest). */
export function dropElements(html: string, tags: readonly string[]): string {
  const lower = html.toLowerCase();
  let out = '';
  let pos = 0;
  // Each tag's next opening, searched again only once passed: every tag's search moves forward, so the pass is linear.
  const next = tags.map(() => -2);
  for (;;) {
    let start = -1;
    let tag = '';
    for (const [i, t] of tags.entries()) {
      if (next[i] !== -1 && next[i]! < pos) next[i] = indexOfTag(lower, `<${t}`, pos);
      const at = next[i]!;
      if (at !== -1 && (start === -1 || at < start)) {
        start = at;
        tag = t;
      }
    }
    if (start === -1) return out + html.slice(pos);
    out += `${html.slice(pos, start)} `;
    const end = indexOfTag(lower, `</${tag}`, start);
    if (end === -1) return out;
    const close = lower.indexOf('>', end);
    if (close === -1) return out;
    pos = close + 1;
  }
}

/** Where `<name` (or `</name`) starts a tag of that very name: `<head` is not `<header>`. */
function indexOfTag(lower: string, open: string, from: number): number {
  let at = lower.indexOf(open, from);
  while (at !== -1 && /[a-z0-9-]/.test(lower[at + open.length] ?? '')) at = lower.indexOf(open, at + 1);
  return at;
}

// Every pattern stops at the next '<' (an unclosed '<' cannot make it rescan the rest).
export function htmlToPlain(html: string, options: HtmlToPlainOptions = {}): string {
  const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  const forward = options.forwardBlocks === true;
  const read = html.length > maxLength ? html.slice(0, maxLength) : html;
  let text = dropElements(read, ['script', 'style', 'head', 'title']).replace(
    /<br\s*\/?>|<\/(?:p|div|tr|li|h[1-6]|blockquote|table|pre)\s*>/gi,
    '\n',
  );
  if (forward) text = text.replace(/<hr\b[^<>]*>/gi, OUTLOOK_RULE);
  return text
    .replace(/<[^<>]*>/g, forward ? '' : ' ')
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
