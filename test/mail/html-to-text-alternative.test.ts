// The text/plain part made from mail written as HTML only (the compose editor): words, link URLs, list items,
// paragraphs apart, a signature's lines together under "-- "; and what it must not do with hostile or huge input.
import { describe, expect, it } from 'vitest';
import { htmlToTextAlternative } from '../../src/mail/mime/html-to-text-alternative.js';

describe('htmlToTextAlternative', () => {
  it('keeps the words, spells out link URLs, and marks list items', () => {
    const html =
      '<p>Hello <strong>Ana</strong>, see <a href="https://example.com/a?x=1&amp;y=2">our page</a>.</p>' +
      '<ul><li>one</li><li><em>two</em></li></ul><p><a href="https://x.test">https://x.test</a></p>' +
      '<p>Write to <a href="mailto:sales@x.test">sales@x.test</a> or <a href="mailto:b@x.test">Bruno</a>.</p>';
    expect(htmlToTextAlternative(html)).toBe(
      'Hello Ana, see our page <https://example.com/a?x=1&y=2>.\n\n- one\n- two\n\nhttps://x.test\n\n' +
        'Write to sales@x.test or Bruno <mailto:b@x.test>.\n',
    );
  });

  it('writes the signature as lines under the "-- " delimiter', () => {
    const html = '<p>Thanks.</p><p></p><div data-signature=""><p>--</p><p>Bruno Lima</p><p><em>Sales</em></p></div>';
    expect(htmlToTextAlternative(html)).toBe('Thanks.\n\n-- \nBruno Lima\nSales\n');
  });

  it('drops scripts and styles and never spells out a javascript: link', () => {
    const html = '<style>p{color:red}</style><p>Hi<script>alert(1)</script></p><a href="javascript:alert(2)">click</a>';
    const text = htmlToTextAlternative(html);
    expect(text).toBe('Hi\n\nclick\n');
    expect(text).not.toMatch(/alert|javascript|color/);
  });

  it('stays linear on a large hostile input', () => {
    const html = '<a href="https://x.test/">'.repeat(20_000) + '<p>' + 'word '.repeat(50_000);
    const started = performance.now();
    const text = htmlToTextAlternative(html);
    // A generous guard, not a timing assertion: a quadratic pass would take minutes here.
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(text).toContain('word word');
  });
});
