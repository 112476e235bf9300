// Makes the HTML body of a received e-mail safe to show inside the CRM web app. An allow-list (sanitize-html):
// formatting, tables, links and images survive; scripts, styles, frames, objects, forms, event handlers,
// <base>, <meta>, class/id and every URL scheme but http(s)/mailto/tel are dropped.
// Remote images are never fetched by default: their `src` moves to `data-remote-src` (see rewriteImage), so a
// UI that forgets to block them still leaks nothing (tracking pixels, IP, read receipts); "show images" copies
// it back. Limits: the UI should still render the result in a sandboxed iframe with a strict CSP, since
// inline `style` is kept (filtered per property) and CSS can still make a message look like anything.
import sanitize from 'sanitize-html';

/** Marks a remote image the UI has to opt in to: the original URL, always http(s). */
export const REMOTE_IMAGE_ATTRIBUTE = 'data-remote-src';

const LINK_REL = 'noopener noreferrer nofollow';

const ALLOWED_TAGS = [
  'a',
  'abbr',
  'acronym',
  'address',
  'article',
  'aside',
  'b',
  'bdi',
  'bdo',
  'big',
  'blockquote',
  'br',
  'caption',
  'center',
  'cite',
  'code',
  'col',
  'colgroup',
  'dd',
  'del',
  'details',
  'dfn',
  'div',
  'dl',
  'dt',
  'em',
  'figcaption',
  'figure',
  'font',
  'footer',
  'h1',
  'h2',
  'h3',
  'h4',
  'h5',
  'h6',
  'header',
  'hr',
  'i',
  'img',
  'ins',
  'kbd',
  'li',
  'main',
  'mark',
  'nav',
  'ol',
  'p',
  'pre',
  'q',
  's',
  'samp',
  'section',
  'small',
  'span',
  'strike',
  'strong',
  'sub',
  'summary',
  'sup',
  'table',
  'tbody',
  'td',
  'tfoot',
  'th',
  'thead',
  'time',
  'tr',
  'tt',
  'u',
  'ul',
  'var',
  'wbr',
];

// Presentational attributes e-mail HTML relies on. No class/id: they would pick up the app's own CSS or
// clobber DOM names. No `background`: it loads a remote image behind the UI's back.
const COMMON_ATTRIBUTES = ['style', 'title', 'dir', 'lang', 'align', 'valign', 'bgcolor', 'width', 'height'];
const CELL_ATTRIBUTES = [...COMMON_ATTRIBUTES, 'colspan', 'rowspan', 'nowrap', 'scope'];

const ALLOWED_ATTRIBUTES: Record<string, string[]> = {
  '*': COMMON_ATTRIBUTES,
  a: ['href', 'name', 'target', 'rel'],
  img: ['src', REMOTE_IMAGE_ATTRIBUTE, 'alt', 'border', 'hspace', 'vspace'],
  table: ['border', 'cellpadding', 'cellspacing', 'summary'],
  td: CELL_ATTRIBUTES,
  th: CELL_ATTRIBUTES,
  col: ['span'],
  colgroup: ['span'],
  font: ['color', 'face', 'size'],
  ol: ['start', 'type', 'reversed'],
  ul: ['type'],
  li: ['value'],
  time: ['datetime'],
  hr: ['size', 'noshade'],
};

// A CSS value that cannot fetch anything or run anything: no url()/image-set(), no IE expression() or
// behaviours, no escapes (which could spell any of those), no braces or angle brackets.
const SAFE_CSS_VALUE =
  /^(?!.*(?:url|image-set|expression|javascript|vbscript|behavior|binding|import|element))[^\\<>{}@;]*$/i;

// Only properties that lay text out. Left out on purpose: position/z-index/top/left (a message could cover
// the app's own UI), background/background-image/border-image/list-style-image/content/cursor (load URLs).
const ALLOWED_STYLE_PROPERTIES = [
  'color',
  'background-color',
  'font',
  'font-family',
  'font-size',
  'font-style',
  'font-weight',
  'font-variant',
  'line-height',
  'letter-spacing',
  'word-spacing',
  'text-align',
  'text-decoration',
  'text-indent',
  'text-transform',
  'white-space',
  'word-break',
  'word-wrap',
  'overflow-wrap',
  'vertical-align',
  'direction',
  'margin',
  'margin-top',
  'margin-right',
  'margin-bottom',
  'margin-left',
  'padding',
  'padding-top',
  'padding-right',
  'padding-bottom',
  'padding-left',
  'border',
  'border-top',
  'border-right',
  'border-bottom',
  'border-left',
  'border-color',
  'border-style',
  'border-width',
  'border-radius',
  'border-collapse',
  'border-spacing',
  'width',
  'height',
  'min-width',
  'max-width',
  'min-height',
  'max-height',
  'display',
  'float',
  'clear',
  'table-layout',
  'list-style-type',
  'text-overflow',
  'overflow',
];

const ALLOWED_STYLES: Record<string, Record<string, RegExp[]>> = {
  '*': Object.fromEntries(ALLOWED_STYLE_PROPERTIES.map((property) => [property, [SAFE_CSS_VALUE]])),
};

// Disallowed tags whose text must go too (the default keeps a dropped tag's text).
const NON_TEXT_TAGS = [
  'script',
  'style',
  'textarea',
  'option',
  'xmp',
  'noscript',
  'title',
  'head',
  'template',
  'noembed',
  'noframes',
  'iframe',
  'object',
  'applet',
  'svg',
  'math',
  'select',
];

const LINK_SCHEME = /^(?:https?:\/\/|mailto:|tel:)/i;
const REMOTE_URL = /^(?:https?:)?\/\//i;
// Raster formats only: an SVG cannot run script from <img>, but it has no reason to be here either.
const DATA_IMAGE = /^data:image\/(?:png|gif|jpe?g|webp|bmp);base64,[a-z0-9+/=\s]*$/i;

/** Attribute values arrive entity-decoded; browsers ignore ASCII controls in URLs, so the checks must too. */
function cleanUrl(value: string | undefined): string {
  return (value ?? '').replace(/[\u0000-\u001f\u007f]+/g, '').trim();
}

function pick(attribs: sanitize.Attributes, names: readonly string[]): sanitize.Attributes {
  const out: sanitize.Attributes = {};
  for (const name of names) {
    const value = attribs[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function rewriteLink(tagName: string, attribs: sanitize.Attributes): sanitize.Tag {
  const out = pick(attribs, [...COMMON_ATTRIBUTES, 'name']);
  const href = cleanUrl(attribs.href);
  // Relative and fragment links are dropped: inside the app they would resolve against the CRM itself.
  if (LINK_SCHEME.test(href)) {
    out.href = href;
    out.target = '_blank';
    out.rel = LINK_REL;
  }
  return { tagName, attribs: out };
}

function rewriteImage(tagName: string, attribs: sanitize.Attributes): sanitize.Tag {
  // Rebuilt from scratch, so a data-remote-src written by the sender never survives unchecked.
  const out = pick(attribs, [...COMMON_ATTRIBUTES, 'alt', 'border', 'hspace', 'vspace']);
  const src = cleanUrl(attribs.src);
  if (REMOTE_URL.test(src)) {
    out[REMOTE_IMAGE_ATTRIBUTE] = src.startsWith('//') ? `https:${src}` : src;
  } else if (/^cid:/i.test(src) || DATA_IMAGE.test(src)) {
    out.src = src;
  }
  return { tagName, attribs: out };
}

const OPTIONS: sanitize.IOptions = {
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: ALLOWED_ATTRIBUTES,
  allowedStyles: ALLOWED_STYLES,
  allowedSchemes: ['http', 'https', 'mailto', 'tel'],
  // Remote images no longer have a src by now, so only embedded ones reach the scheme check.
  allowedSchemesByTag: { img: ['cid', 'data'] },
  allowedSchemesAppliedToAttributes: ['href', 'src', 'cite', 'background', 'action', 'formaction', 'poster'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  nonTextTags: NON_TEXT_TAGS,
  transformTags: { a: rewriteLink, img: rewriteImage },
};

/** Sanitises an e-mail's HTML body for display in the CRM. Never throws on any string. */
export function sanitizeHtml(html: string): string {
  return sanitize(html, OPTIONS);
}

// --- Issue 15, templates (H1): HTML a user writes to send, saved for colleagues to use ---

/** Like rewriteImage, but a remote image keeps its `src`: the recipient's mail program decides whether to load it. */
function keepRemoteImage(tagName: string, attribs: sanitize.Attributes): sanitize.Tag {
  const tag = rewriteImage(tagName, attribs);
  const remote = tag.attribs[REMOTE_IMAGE_ATTRIBUTE];
  if (remote !== undefined) {
    delete tag.attribs[REMOTE_IMAGE_ATTRIBUTE];
    tag.attribs.src = remote;
  }
  return tag;
}

const AUTHORED_OPTIONS: sanitize.IOptions = {
  ...OPTIONS,
  allowedSchemesByTag: { img: ['cid', 'data', 'http', 'https'] },
  transformTags: { a: rewriteLink, img: keepRemoteImage },
};

/**
 * Sanitises HTML written to be sent and shared (templates, signatures): the same allow-list as received mail, so a shared
 * template cannot carry script, frames or handlers to a colleague's compose window, except that remote images keep
 * their `src` (a logo in a template must reach the recipient). Never throws on any string.
 */
export function sanitizeAuthoredHtml(html: string): string {
  return sanitize(html, AUTHORED_OPTIONS);
}
