// The one HTML-to-text converter: what snippets and bounce notices read (a removed tag leaves a space) and what
// forward detection reads (tags leave nothing, <hr> is Outlook's separator), on the same entity and element rules.
import { describe, expect, it } from 'vitest';
import { dropElements, htmlToPlain } from '../../src/mail/mime/html-to-plain.js';

/** Runs of spaces as one: where a tag leaves a space matters, how many do not. */
const words = (text: string): string => text.replace(/ +/g, ' ');

describe('htmlToPlain', () => {
  it('keeps words of neighbouring cells apart and decodes entities', () => {
    expect(words(htmlToPlain('<td>a</td><td>b</td><p>x&nbsp;&lt;y&gt; &#233;&amp;</p>'))).toBe(' a b x <y> é&\n');
  });

  it('drops scripts, styles, head and title, but not elements whose name only starts like them', () => {
    const html = '<head><title>t</title></head><header>Hi</header><script>x()</script>there';
    expect(words(htmlToPlain(html))).toBe(' Hi there');
    expect(dropElements('a<style>b</style>c<styled>d</styled>', ['style'])).toBe('a c<styled>d</styled>');
  });

  it('drops the rest after an unclosed script, and reads no more than maxLength', () => {
    expect(htmlToPlain('a<script>b')).toBe('a ');
    expect(htmlToPlain('abcdef', { maxLength: 3 })).toBe('abc');
  });

  it("reads forward blocks without spaces for tags, with Outlook's rule for <hr>", () => {
    const html = '<p>FYI</p><hr size="2"><p><b>From:</b> Ana &lt;<a href="mailto:a@x.com">a@x.com</a>&gt;</p>';
    expect(htmlToPlain(html, { forwardBlocks: true })).toBe(
      'FYI\n\n________________________________\nFrom: Ana <a@x.com>\n',
    );
    expect(words(htmlToPlain(html))).toBe(' FYI\n From: Ana < a@x.com >\n');
  });
});
