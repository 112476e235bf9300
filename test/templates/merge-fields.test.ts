// Merge fields (issue 15), as pure text work: values, fallbacks in either quote with spaces, HTML escaping of values,
// unknown names refused, missing values listed (and refused with a message that names the field and the contact),
// and text that only looks like braces left alone.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/app-error.js';
import {
  findMergeFields,
  missingMergeFieldsError,
  renderMergeFields,
  unknownMergeFields,
} from '../../src/templates/merge-fields.js';

const ana = {
  'contact.firstName': 'Ana',
  'contact.lastName': 'Souza',
  'contact.company': 'Acme & Filhos',
  'user.name': 'Bruno',
};

describe('merge fields', () => {
  it('fills every field, in subject (plain) and HTML (escaped)', () => {
    const html = renderMergeFields(
      '<p>Hi {{contact.firstName}} {{contact.lastName}} of {{contact.company}}, {{user.name}}</p>',
      ana,
      'html',
    );
    expect(html).toEqual({ text: '<p>Hi Ana Souza of Acme &amp; Filhos, Bruno</p>', missing: [] });
    expect(renderMergeFields('Offer for {{contact.company}}', ana, 'plain').text).toBe('Offer for Acme & Filhos');
  });

  it('uses fallbacks with double or single quotes and tolerates spaces', () => {
    const none = {};
    expect(renderMergeFields('Hi {{contact.firstName | "there"}}!', none, 'plain').text).toBe('Hi there!');
    expect(renderMergeFields("Hi {{ contact.firstName|'there' }}!", none, 'plain').text).toBe('Hi there!');
    expect(renderMergeFields('Hi {{   contact.firstName   |   "dear friend"   }}!', none, 'plain').text).toBe(
      'Hi dear friend!',
    );
    // A value wins over the fallback; a blank value is no value.
    expect(renderMergeFields('Hi {{contact.firstName | "there"}}', ana, 'plain').text).toBe('Hi Ana');
    expect(renderMergeFields('Hi {{contact.firstName | "there"}}', { 'contact.firstName': '  ' }, 'plain').text).toBe(
      'Hi there',
    );
    expect(renderMergeFields('Hi {{contact.firstName | ""}}!', none, 'plain')).toEqual({ text: 'Hi !', missing: [] });
  });

  it("reads an HTML editor's &nbsp; as a space and typographic quotes as quotes", () => {
    expect(renderMergeFields('<p>Hi {{contact.firstName&nbsp;|&nbsp;"there"&nbsp;}}</p>', {}, 'html').text).toBe(
      '<p>Hi there</p>',
    );
    expect(renderMergeFields('Hi {{contact.firstName | “there”}} {{contact.lastName | ‘you’}}', {}, 'plain').text).toBe(
      'Hi there you',
    );
  });

  it('escapes values inserted into HTML but not into the subject', () => {
    const hostile = { 'contact.firstName': '<script>alert(1)</script>', 'contact.company': '"><img src=x onerror=1>' };
    const html = renderMergeFields('<p title="{{contact.company}}">Hi {{contact.firstName}}</p>', hostile, 'html').text;
    expect(html).toBe('<p title="&quot;&gt;&lt;img src=x onerror=1&gt;">Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(html).not.toContain('<script');
    expect(renderMergeFields('Hi {{contact.firstName}}', hostile, 'plain').text).toBe('Hi <script>alert(1)</script>');
  });

  it('leaves a field without value or fallback as written and lists it once', () => {
    const result = renderMergeFields(
      'Hi {{contact.firstName}}, {{contact.firstName}} at {{contact.company | "your company"}}',
      {},
      'plain',
    );
    expect(result).toEqual({
      text: 'Hi {{contact.firstName}}, {{contact.firstName}} at your company',
      missing: ['contact.firstName'],
    });
    const error = missingMergeFieldsError(result.missing, 'Ana Souza');
    expect(error).toBeInstanceOf(AppError);
    expect(error.code).toBe('MERGE_FIELD_MISSING');
    expect(error.message).toBe('contact.firstName has no value for Ana Souza and no fallback');
    expect(error.details).toMatchObject({ missing: ['contact.firstName'] });
  });

  it('refuses unknown field names, naming them, instead of leaving them blank', () => {
    expect(unknownMergeFields('Your password is {{contact.password}} {{ user.email | "x" }}')).toEqual([
      'contact.password',
      'user.email',
    ]);
    let caught: unknown;
    try {
      renderMergeFields('Your password is {{contact.password}}', ana, 'html');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AppError);
    expect((caught as AppError).code).toBe('MERGE_FIELD_UNKNOWN');
    expect((caught as AppError).message).toContain('contact.password');
    expect((caught as AppError).fields).toEqual([{ path: 'contact.password', message: 'not a merge field' }]);
  });

  it('keeps text that only contains braces as written', () => {
    const text =
      'Vue: {{ message }}; {{#if x}}; {{}}; {{ contact.firstName | unquoted }}; {{contact.firstName | "no end}}; {{{';
    expect(findMergeFields(text)).toEqual([]);
    expect(renderMergeFields(text, ana, 'html')).toEqual({ text, missing: [] });
    // A stray quote never swallows the following lines.
    expect(renderMergeFields('{{contact.firstName | "a\nb"}} {{contact.firstName}}', ana, 'plain').text).toBe(
      '{{contact.firstName | "a\nb"}} Ana',
    );
  });

  it('matches field names case-insensitively', () => {
    expect(renderMergeFields('{{Contact.FirstName}}', ana, 'plain').text).toBe('Ana');
  });

  it('stays linear on 512 KB of almost-references (a generous guard, not a benchmark)', () => {
    for (const unit of ['{{contact.firstName | "', '{{contact.a|"x"', '{{ ', '{{contact.firstName&nbsp;&nbsp;']) {
      const text = unit.repeat(Math.floor((512 * 1024) / unit.length));
      const started = Date.now();
      try {
        renderMergeFields(text, {}, 'html');
      } catch {
        // Unknown names are refused; only the time matters here.
      }
      expect(Date.now() - started).toBeLessThan(2_000);
    }
  });
});
