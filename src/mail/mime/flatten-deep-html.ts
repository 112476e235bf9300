// Bounds the element nesting of an HTML body before sanitize-html sees it: sanitize-html's cost grows with the
// square of the nesting depth (a 2 MB body nested 100,000 deep took 12 s, 200,000 deep 38 s), so markup deeper
// than the limit is dropped here while every character of text is kept. One linear pass over the string.
//
// The pass tokenises the way htmlparser2 (sanitize-html's parser) does where it matters for depth: tags start with
// `<` and a letter, quoted attribute values may hold `>`, void elements never open, the raw-text elements (script,
// style, title, textarea, xmp) hold no tags. Every element it pops gets an explicit close tag, so the parser's stack
// of open elements stays a subsequence of this one and can never be deeper than the limit (even where the parser
// keeps elements open that this pass closed: `<p><div></p>` repeated grows the parser's stack, not this one's, and
// the explicit close tags written here take the parser's along). Where the two still
// disagree (exotic markup), the parse pool's per-message time limit is the backstop.

/** Elements htmlparser2 never pushes on its stack. */
const VOID = new Set([
  'area',
  'base',
  'basefont',
  'br',
  'col',
  'command',
  'embed',
  'frame',
  'hr',
  'img',
  'input',
  'isindex',
  'keygen',
  'link',
  'meta',
  'param',
  'source',
  'track',
  'wbr',
]);

/** Whose content htmlparser2 reads as text up to the closing tag; sanitize-html drops all of them with their text. */
const RAW_TEXT = new Set(['script', 'style', 'title', 'textarea', 'xmp']);

export interface FlattenResult {
  html: string;
  /** The deepest nesting seen (before flattening). */
  depth: number;
  /** Markup was dropped for depth (the input was deeper than the limit). */
  flattened: boolean;
}

function isLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d;
}

/** Index just past the `>` that ends the start tag whose name ends at `from` (quoted values honoured); -1 if none. */
function endOfStartTag(html: string, from: number): number {
  let i = from;
  let quote = 0;
  let afterEquals = false;
  while (i < html.length) {
    const c = html.charCodeAt(i);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x3e) {
      return i + 1;
    } else if (afterEquals && (c === 0x22 || c === 0x27)) {
      quote = c;
      afterEquals = false;
    } else if (c === 0x3d) {
      afterEquals = true;
    } else if (!isSpace(c)) {
      afterEquals = false;
    }
    i++;
  }
  return -1;
}

function readName(html: string, from: number): number {
  let i = from;
  while (i < html.length) {
    const c = html.charCodeAt(i);
    if (isSpace(c) || c === 0x2f || c === 0x3e) break;
    i++;
  }
  return i;
}

/**
 * `html` with every element nested deeper than `maxDepth` unwrapped (its tags dropped, its text kept), every
 * element closed explicitly where a later close tag ends it, and comments, doctypes and raw-text elements dropped.
 * Well-formed mail comes out the same but for what the sanitiser would drop anyway.
 */
export function flattenDeepHtml(html: string, maxDepth: number): FlattenResult {
  const out: string[] = [];
  const stack: string[] = [];
  let deepest = 0;
  let flattened = false;
  let pos = 0; // start of the part not yet copied
  let i = 0;
  const lower = (from: number, to: number) => html.slice(from, to).toLowerCase();

  while (i < html.length) {
    const lt = html.indexOf('<', i);
    if (lt === -1) break;
    const next = html.charCodeAt(lt + 1);
    if (next === 0x21 || next === 0x3f) {
      // Comment, doctype, CDATA, processing instruction: dropped (the sanitiser drops them too), so that where the
      // parser would end one earlier than this pass, no markup hidden here can reach it uncounted.
      const isComment = html.startsWith('<!--', lt);
      const end = isComment ? html.indexOf('-->', lt + 4) : html.indexOf('>', lt + 2);
      out.push(html.slice(pos, lt));
      if (end === -1) {
        pos = i = html.length;
        break;
      }
      pos = i = end + (isComment ? 3 : 1);
      continue;
    }
    if (next === 0x2f && isLetter(html.charCodeAt(lt + 2))) {
      const nameEnd = readName(html, lt + 2);
      const close = html.indexOf('>', nameEnd);
      if (close === -1) break;
      const name = lower(lt + 2, nameEnd);
      const at = stack.lastIndexOf(name);
      out.push(html.slice(pos, lt));
      if (at !== -1) {
        // Close, innermost first, every element this tag ends that the parser was shown.
        for (let d = stack.length - 1; d >= at; d--) if (d < maxDepth) out.push(`</${stack[d]}>`);
        stack.length = at;
      } else if (stack.length < maxDepth) {
        out.push(html.slice(lt, close + 1)); // a stray close tag: the parser decides (</p> and </br> mean something)
      }
      pos = i = close + 1;
      continue;
    }
    if (!isLetter(next)) {
      i = lt + 1;
      continue;
    }
    const nameEnd = readName(html, lt + 1);
    const end = endOfStartTag(html, nameEnd);
    if (end === -1) break;
    const name = lower(lt + 1, nameEnd);
    if (RAW_TEXT.has(name)) {
      // Dropped with its content (the sanitiser drops it anyway); no tag inside it may count.
      const closing = new RegExp(`</${name}`, 'gi');
      closing.lastIndex = end;
      const closeAt = closing.exec(html)?.index ?? -1;
      out.push(html.slice(pos, lt));
      if (closeAt === -1) {
        pos = i = html.length;
        break;
      }
      const close = html.indexOf('>', closeAt);
      pos = i = close === -1 ? html.length : close + 1;
      continue;
    }
    if (VOID.has(name)) {
      if (stack.length >= maxDepth) {
        out.push(html.slice(pos, lt));
        pos = end;
      }
      i = end;
      continue;
    }
    stack.push(name);
    if (stack.length > deepest) deepest = stack.length;
    if (stack.length > maxDepth) {
      flattened = true;
      out.push(html.slice(pos, lt));
      pos = end;
    }
    i = end;
  }
  out.push(html.slice(pos));
  return { html: out.join(''), depth: deepest, flattened };
}
