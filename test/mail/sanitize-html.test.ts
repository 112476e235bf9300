import { describe, expect, it } from 'vitest';
import { REMOTE_IMAGE_ATTRIBUTE, sanitizeHtml, sanitizeAuthoredHtml } from '../../src/mail/mime/sanitize-html.js';

const ALLOWED_TAGS = new Set([
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
]);

/**
 * sanitize-html escapes every `<` of text, so each `<name …>` left in the output is a real element: check the
 * element and its attributes, not text that merely mentions "javascript:".
 */
function dangers(html: string): string[] {
  const found: string[] = [];
  for (const m of html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)) {
    const [tag, name, attrs] = [m[0], m[1]!.toLowerCase(), m[2] ?? ''];
    if (!ALLOWED_TAGS.has(name)) found.push(`element ${tag}`);
    if (/\son[a-z]+\s*=/i.test(attrs)) found.push(`event handler ${tag}`);
    if (/\s(?:class|id|srcset|srcdoc|formaction|action|background|poster|xlink:href|http-equiv)\s*=/i.test(attrs))
      found.push(`attribute ${tag}`);
    if (/(?:java|vb)script\s*:|data:(?!image\/(?:png|gif|jpe?g|webp|bmp);)/i.test(attrs)) found.push(`scheme ${tag}`);
    if (/expression\s*\(|url\s*\(|behavior|binding|@import|\\/i.test(attrs)) found.push(`css ${tag}`);
    if (/\ssrc\s*=\s*"(?:https?:)?\/\//i.test(attrs)) found.push(`remote src ${tag}`);
    if (name === 'a' && /\shref=/.test(attrs) && !/rel="noopener noreferrer nofollow"/.test(attrs))
      found.push(`link without rel ${tag}`);
  }
  if (/<(?!\/?[a-zA-Z])/.test(html.replace(/<!--/g, ''))) found.push('unescaped <');
  if (/<!--/.test(html)) found.push('comment');
  return found;
}

const XSS_VECTORS = [
  '<script>alert(1)</script>',
  '<SCRIPT SRC=http://xss.example/xss.js></SCRIPT>',
  '<img src=x onerror=alert(1)>',
  '<IMG SRC="jav&#x09;ascript:alert(\'XSS\');">',
  '<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>',
  '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
  '<a href=" javascript:alert(1)">x</a>',
  '<a href="JaVaScRiPt:alert(1)">x</a>',
  '<a href="javascript&colon;alert(1)">x</a>',
  '<a href="\u0001javascript:alert(1)">x</a>',
  '<a href="vbscript:msgbox(1)">x</a>',
  '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
  '<a href="https://ok.example" onmouseover="alert(1)">x</a>',
  '<svg onload=alert(1)>',
  '<svg><script>alert(1)</script></svg>',
  '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>',
  '<body onload=alert(1)>text</body>',
  '<iframe src="javascript:alert(1)"></iframe>',
  '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
  '<object data="javascript:alert(1)"></object>',
  '<embed src="javascript:alert(1)">',
  '<applet code="x.class"></applet>',
  '<form action="javascript:alert(1)"><input type=submit></form>',
  '<button formaction=javascript:alert(1)>go</button>',
  '<input autofocus onfocus=alert(1)>',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
  '<meta http-equiv="refresh" content="0;url=https://phish.example">',
  '<base href="javascript:alert(1)//">',
  '<base href="https://evil.example/">',
  '<link rel=stylesheet href="https://evil.example/x.css">',
  "<style>@import 'https://evil.example/x.css'; body{background:url(javascript:alert(1))}</style>",
  '<div style="background-image: url(javascript:alert(1))">x</div>',
  '<div style="width: expression(alert(1))">x</div>',
  '<div style="behavior: url(x.htc)">x</div>',
  '<div style="-moz-binding: url(https://evil.example/x.xml#xss)">x</div>',
  '<div style="color: re\\64; background:u\\72l(javascript:alert(1))">x</div>',
  '<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:9999">overlay</div>',
  '<table background="javascript:alert(1)"><tr><td background="https://track.example/t.gif">x</td></tr></table>',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
  '<!--<img src="--><img src=x onerror=alert(1)//">',
  '<textarea><script>alert(1)</script></textarea>',
  '<xmp><img src=x onerror=alert(1)></xmp>',
  '<template><img src=x onerror=alert(1)></template>',
  '<video poster=javascript:alert(1)></video><audio src=x onerror=alert(1)></audio>',
  '<img srcset="https://track.example/x.png 1x">',
  '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
  '<img src="data:text/html,<script>alert(1)</script>">',
  '<details open ontoggle=alert(1)>x</details>',
  '<marquee onstart=alert(1)>x</marquee>',
  '<div id="app" class="admin-panel" data-x="1">x</div>',
  '<img src="https://t.example/p.gif" data-remote-src="javascript:alert(1)">',
  '<a href="https://ok.example" target="_self" rel="opener">x</a>',
  '<<script>alert(1);//<</script>',
  '<scr<script>ipt>alert(1)</scr</script>ipt>',
  '<img """><script>alert(1)</script>">',
  '<IMG SRC="javascript:alert(1)"',
];

describe('sanitizeHtml: classic XSS vectors', () => {
  for (const vector of XSS_VECTORS) {
    it(`neutralises ${vector.slice(0, 70)}`, () => {
      const out = sanitizeHtml(vector);
      expect(dangers(out), out).toEqual([]);
    });
  }

  it('neutralises all vectors at once (state carried between elements)', () => {
    const out = sanitizeHtml(XSS_VECTORS.join('\n'));
    expect(dangers(out), out).toEqual([]);
  });
});

describe('sanitizeHtml: what e-mail needs survives', () => {
  it('keeps formatting, lists and tables with their presentational attributes', () => {
    const html =
      '<h1>Title</h1><p>A <b>bold</b>, <i>italic</i>, <u>underlined</u> and <font color="#ff0000" face="Arial" size="3">font</font> text.</p>' +
      '<ul><li>one</li></ul><ol start="3"><li>three</li></ol><blockquote>quoted</blockquote><pre>code</pre><hr>' +
      '<table border="0" cellpadding="4" cellspacing="0" width="600" align="center"><tr><td colspan="2" bgcolor="#eeeeee" valign="top">cell</td></tr></table>';
    const out = sanitizeHtml(html);
    for (const kept of [
      '<h1>Title</h1>',
      '<b>bold</b>',
      '<i>italic</i>',
      '<u>underlined</u>',
      'face="Arial"',
      '<li>one</li>',
      'start="3"',
      '<blockquote>',
      '<pre>code</pre>',
      '<hr />',
      'cellpadding="4"',
      'width="600"',
      'colspan="2"',
      'bgcolor="#eeeeee"',
      'valign="top"',
    ]) {
      expect(out).toContain(kept);
    }
  });

  it('keeps safe inline styles and drops the rest property by property', () => {
    const out = sanitizeHtml(
      '<p style="color: #333; font-family: \'Brush Script MT\', serif; position: absolute; background: url(x.png); margin: 0 auto">x</p>',
    );
    expect(out).toContain('color:#333');
    expect(out).toContain("font-family:'Brush Script MT', serif");
    expect(out).toContain('margin:0 auto');
    expect(out).not.toMatch(/position|background/);
  });

  it('opens absolute links in a new tab without referrer or opener, and drops relative ones', () => {
    const out = sanitizeHtml(
      '<a href="https://example.com/a?b=1&amp;c=2">web</a> <a href="mailto:ana@example.com">mail</a> <a href="tel:+5511999999999">call</a> <a href="/settings">app</a> <a href="#top">top</a>',
    );
    expect(out).toContain(
      '<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer nofollow">web</a>',
    );
    expect(out).toContain(
      '<a href="mailto:ana@example.com" target="_blank" rel="noopener noreferrer nofollow">mail</a>',
    );
    expect(out).toContain('href="tel:+5511999999999"');
    expect(out).toContain('<a>app</a>');
    expect(out).toContain('<a>top</a>');
  });

  it(`moves remote image URLs to ${REMOTE_IMAGE_ATTRIBUTE}, keeps cid: and raster data: images`, () => {
    const out = sanitizeHtml(
      '<img src="https://cdn.example/logo.png" alt="Logo" width="120">' +
        '<img src="//cdn.example/pixel.gif">' +
        '<img src="cid:part1.123@example.com">' +
        '<img src="data:image/png;base64,iVBORw0KGgo=">' +
        '<img src="file:///etc/passwd">',
    );
    expect(out).toContain(`<img width="120" alt="Logo" ${REMOTE_IMAGE_ATTRIBUTE}="https://cdn.example/logo.png" />`);
    expect(out).toContain(`<img ${REMOTE_IMAGE_ATTRIBUTE}="https://cdn.example/pixel.gif" />`);
    expect(out).toContain('<img src="cid:part1.123@example.com" />');
    expect(out).toContain('<img src="data:image/png;base64,iVBORw0KGgo=" />');
    expect(out).not.toContain('file:');
  });

  it('drops head, title and style content, keeps the body text', () => {
    const out = sanitizeHtml(
      '<html><head><title>Secret title</title><style>.x{color:red}</style></head><body><p>Hello</p></body></html>',
    );
    expect(out).toBe('<p>Hello</p>');
  });

  it('never throws on odd input', () => {
    for (const input of [
      '',
      '<',
      '<<<>>>',
      '<p',
      '</p></p></div>',
      '\u0000<b>\u0000</b>',
      '<a href="'.repeat(1000),
      '<div>'.repeat(5000),
    ]) {
      expect(() => sanitizeHtml(input)).not.toThrow();
    }
  });
});

// HTML the user writes for their own mail (a signature, issue 15): the same fence, but a logo must still show.
describe('sanitizeAuthoredHtml', () => {
  it('keeps a remote image src (recipients are meant to see it) and everything formatting', () => {
    const out = sanitizeAuthoredHtml(
      '<p><strong>Bruno</strong> <a href="https://x.test">site</a></p><img src="https://cdn.example/logo.png" alt="Logo">',
    );
    expect(out).toContain('<strong>Bruno</strong>');
    expect(out).toContain('href="https://x.test"');
    expect(out).toContain('<img alt="Logo" src="https://cdn.example/logo.png" />');
    expect(out).not.toContain(REMOTE_IMAGE_ATTRIBUTE);
  });

  it('still drops scripts, handlers, javascript: and non-raster or file images', () => {
    const out = sanitizeAuthoredHtml(
      '<script>alert(1)</script><img src="x" onerror="alert(2)"><img src="javascript:alert(3)">' +
        '<img src="data:image/svg+xml;base64,PHN2Zz4="><img src="file:///etc/passwd">' +
        '<a href="javascript:alert(4)" onclick="alert(5)">a</a><iframe src="https://x.test"></iframe>' +
        `<img ${REMOTE_IMAGE_ATTRIBUTE}="javascript:alert(6)">`,
    );
    expect(out).not.toMatch(/alert|script|onerror|onclick|iframe|svg|file:|src="x"/);
  });
});
