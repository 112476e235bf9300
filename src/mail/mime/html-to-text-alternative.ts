// The text/plain alternative of mail written as HTML in the CRM (the compose editor sends HTML only): readers
// that show plain text, and spam filters that compare both parts, get the same words. Links keep their URL
// (`label <https://…>`), list items start with "- ", paragraphs are apart, the signature delimiter stays "-- ".
// Built on htmlToPlain, so it is linear on any input too; not a layout engine (tables come out as words).
import { htmlToPlain } from './html-to-plain.js';

const LINK_OR_CLOSE = /<a\b[^<>]*>|<\/a\s*>/gi;
const INLINE_TAG =
  /<\/?(?:b|strong|i|em|u|s|strike|del|ins|span|code|font|small|big|sup|sub|mark|abbr|cite|q)\b[^<>]*>/gi;
const HREF = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+))/i;

/** `<a href="u">label</a>` becomes `label <u>` (just `u` when the label is the address itself). */
function spellOutLinks(html: string): string {
  let out = '';
  let pos = 0;
  let open: { href: string; labelStart: number } | null = null;
  for (const match of html.matchAll(LINK_OR_CLOSE)) {
    const at = match.index;
    out += html.slice(pos, at);
    pos = at + match[0].length;
    if (match[0][1] !== '/') {
      const href = HREF.exec(match[0]);
      const url = href ? htmlToPlain(href[1] ?? href[2] ?? href[3] ?? '').trim() : '';
      // mailto: and tel: are spelled out too, without their scheme when the label already shows the rest.
      open = /^(?:https?:|mailto:|tel:)/i.test(url) ? { href: url, labelStart: out.length } : null;
      continue;
    }
    if (open) {
      const label = htmlToPlain(out.slice(open.labelStart)).trim();
      const bare = open.href.replace(/^(?:mailto:|tel:)/i, '');
      if (label !== open.href && label !== bare) out += ` &lt;${escapeText(open.href)}&gt;`;
    }
    open = null;
  }
  return out + html.slice(pos);
}

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const SIGNATURE_START = /<div\b[^<>]*\bdata-signature\b[^<>]*>/i;

/** The text part for an HTML body. */
export function htmlToTextAlternative(html: string): string {
  // A signature's paragraphs are its lines (the editor makes one per Enter): no blank line between them.
  const signatureAt = html.search(SIGNATURE_START);
  if (signatureAt < 0) return `${tidy(toPlain(html, true))}\n`;
  const body = tidy(toPlain(html.slice(0, signatureAt), true));
  const signature = tidy(toPlain(html.slice(signatureAt), false));
  return `${body ? `${body}\n\n` : ''}${signature}\n`;
}

function toPlain(html: string, blocksApart: boolean): string {
  const marked = spellOutLinks(html)
    // Inline formatting leaves nothing (htmlToPlain would leave a space: "<b>Ana</b>," must stay "Ana,").
    .replace(INLINE_TAG, '')
    // A list item on a line of its own, marked like a list in plain text.
    .replace(/<li\b[^<>]*>/gi, '\n- ')
    .replace(/<\/li\s*>/gi, '')
    // Paragraphs and headings stand apart, as they do on screen.
    .replace(/<\/(?:p|h[1-6]|blockquote)\s*>/gi, (tag) => (blocksApart ? `${tag}\n` : tag))
    .replace(/<\/(?:ul|ol)\s*>/gi, blocksApart ? '\n\n' : '\n');
  return htmlToPlain(marked, { maxLength: marked.length });
}

function tidy(plain: string): string {
  return plain
    .split('\n')
    .map((line) => {
      const clean = line.replace(/[ \t\u00a0]+/g, ' ').trim();
      // The signature delimiter is "-- " with its space (RFC 3676 §4.3): mail programs recognise it so.
      return clean === '--' ? '-- ' : clean;
    })
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .replace(/^\n+|\n+$/g, '');
}
