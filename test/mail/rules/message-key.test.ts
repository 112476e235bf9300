import { describe, expect, it } from 'vitest';
import {
  BODY_KEY_CHARS,
  BODY_PREFIX_FETCH_BYTES,
  dedupeKey,
  gmMsgKey,
  normalizeMessageId,
  parseMessageIdList,
} from '../../../src/mail/rules/message-key.js';

describe('normalizeMessageId', () => {
  it('strips the angle brackets and surrounding whitespace', () => {
    expect(normalizeMessageId('<556D7ED7.2090108@waycom.net>')).toBe('556D7ED7.2090108@waycom.net');
    expect(normalizeMessageId('  \t<abc@host.example>\r\n ')).toBe('abc@host.example');
  });

  it('lower-cases the domain part only: the local part is case-sensitive', () => {
    // Apache JIRA ids, as in corpus list-james-mail1.eml
    expect(normalizeMessageId('<JIRA.12835341.1433409792000.9340.1433409817961@Atlassian.JIRA>')).toBe(
      'JIRA.12835341.1433409792000.9340.1433409817961@atlassian.jira',
    );
    expect(normalizeMessageId('<CAFx9k+Q2Zq=AbC@mail.GMAIL.com>')).toBe('CAFx9k+Q2Zq=AbC@mail.gmail.com');
    expect(normalizeMessageId('<AbC@x.org>')).not.toBe(normalizeMessageId('<abc@x.org>'));
  });

  it('removes comments and the folding whitespace of the obsolete syntax (RFC 2822 A.6.3, corpus addr-rbmail-example13.eml)', () => {
    expect(normalizeMessageId('<1234   @   local(blah)  .machine .example>')).toBe('1234@local.machine.example');
    expect(normalizeMessageId('<abc@host.example> (added by postmaster@host.example)')).toBe('abc@host.example');
    expect(normalizeMessageId('(a (nested) comment) <abc@host.example>')).toBe('abc@host.example');
  });

  it('takes the first id when a broken header holds several', () => {
    expect(normalizeMessageId('<first@a.example> <second@b.example>')).toBe('first@a.example');
  });

  it('accepts an id written without brackets', () => {
    expect(normalizeMessageId('20240101.123@Mailer.Example')).toBe('20240101.123@mailer.example');
  });

  it('accepts a missing closing bracket when what remains is an id', () => {
    expect(normalizeMessageId('<abc@host.example')).toBe('abc@host.example');
  });

  it('rejects empty and garbage values', () => {
    for (const raw of [
      null,
      undefined,
      '',
      '   ',
      '<>',
      '< >',
      'unknown',
      '(none)',
      '<invalid.',
      '<@host.example>',
      '<abc@>',
      '<abc@...>',
      '@',
      '<a@b\u0000c>',
    ]) {
      expect(normalizeMessageId(raw), String(raw)).toBeNull();
    }
  });

  it('rejects over-long values', () => {
    expect(normalizeMessageId(`<${'a'.repeat(1000)}@x.example>`)).toBeNull();
    expect(normalizeMessageId(`<${'a'.repeat(900)}@x.example>`)).not.toBeNull();
  });

  it('is idempotent', () => {
    for (const raw of ['<JIRA.1@Atlassian.JIRA>', '<1234 @ local(x) .machine .example>', 'abc@HOST']) {
      const once = normalizeMessageId(raw);
      expect(normalizeMessageId(once)).toBe(once);
    }
  });
});

describe('parseMessageIdList', () => {
  it('reads a References header in order (corpus list-james-mail1.eml)', () => {
    expect(
      parseMessageIdList('<JIRA.12835341.1433409792000@Atlassian.JIRA> <JIRA.12835341.1433409792972@arcas>'),
    ).toEqual(['JIRA.12835341.1433409792000@atlassian.jira', 'JIRA.12835341.1433409792972@arcas']);
  });

  it('reads folded and comma-separated headers', () => {
    expect(parseMessageIdList('<a@x.example>,\r\n <b@x.example>\r\n\t<c@X.example>')).toEqual([
      'a@x.example',
      'b@x.example',
      'c@x.example',
    ]);
  });

  it('drops a broken id and keeps the rest (corpus thr-rbmail-multiple_references_with_one_invalid.eml)', () => {
    expect(parseMessageIdList(['<foo@bar.net>', '<baz@bar.net>, <invalid.   '])).toEqual([
      'foo@bar.net',
      'baz@bar.net',
    ]);
  });

  it('ignores the phrase of an old-style In-Reply-To', () => {
    expect(parseMessageIdList('Your message of "Mon, 1 Jan 2024 10:00:00 -0300" <msg1@Cliente.com.br>')).toEqual([
      'msg1@cliente.com.br',
    ]);
    expect(parseMessageIdList("<msg1@x.example> (Ana Souza's message of Mon, 1 Jan 2024)")).toEqual(['msg1@x.example']);
  });

  it('splits a header without brackets on whitespace', () => {
    expect(parseMessageIdList('a@x.example b@x.example')).toEqual(['a@x.example', 'b@x.example']);
  });

  it('removes repeats and returns nothing for an empty header (corpus thr-rbmail-empty_in_reply_to.eml)', () => {
    expect(parseMessageIdList('<a@x.example> <A@X.EXAMPLE> <a@x.example>')).toEqual(['a@x.example', 'A@x.example']);
    expect(parseMessageIdList('')).toEqual([]);
    expect(parseMessageIdList(null)).toEqual([]);
    expect(parseMessageIdList([null, undefined, ''])).toEqual([]);
  });

  it('accepts already normalised ids', () => {
    expect(parseMessageIdList(['a@x.example', 'b@x.example'])).toEqual(['a@x.example', 'b@x.example']);
  });
});

describe('dedupeKey', () => {
  const base = {
    messageId: null,
    date: Date.UTC(2024, 2, 5, 14, 30, 12, 0),
    from: 'ana@cliente.com.br',
    to: ['vendas@empresa.com.br', 'carlos@empresa.com.br'],
    subject: 'Proposta comercial — revisão 2',
    bodyStart: 'Olá Carlos,\r\n\r\nSegue a proposta revisada conforme conversamos.\r\n\r\nAbraços,\r\nAna\r\n',
  };

  it('is mid:<normalised id> when the message has one, whatever else differs', () => {
    expect(dedupeKey({ ...base, messageId: '<CAF=abc@Mail.Gmail.com>' })).toBe('mid:CAF=abc@mail.gmail.com');
    expect(dedupeKey({ ...base, messageId: 'CAF=abc@mail.gmail.com', subject: 'other', to: [] })).toBe(
      'mid:CAF=abc@mail.gmail.com',
    );
  });

  it('falls back to a hash when the Message-ID is missing or garbage', () => {
    const key = dedupeKey(base);
    expect(key).toMatch(/^hash:[0-9a-f]{64}$/);
    expect(dedupeKey({ ...base, messageId: '<>' })).toBe(key);
    expect(dedupeKey({ ...base, messageId: 'unknown' })).toBe(key);
  });

  it('is the same for every copy however it is presented: To order and case, folding, sub-second dates', () => {
    const key = dedupeKey(base);
    expect(
      dedupeKey({ ...base, to: ['Carlos@Empresa.com.br ', 'vendas@empresa.com.br', 'carlos@empresa.com.br'] }),
    ).toBe(key);
    expect(dedupeKey({ ...base, from: ' Ana@Cliente.com.br' })).toBe(key);
    expect(dedupeKey({ ...base, subject: 'Proposta  comercial —\r\n revisão 2 ' })).toBe(key);
    expect(dedupeKey({ ...base, date: base.date + 999 })).toBe(key);
    // Decomposed "ã" (a + combining tilde), as some mailers write it.
    expect(dedupeKey({ ...base, subject: 'Proposta comercial — revisa\u0303o 2' })).toBe(key);
  });

  it('hashes the same body prefix whether it comes with CRLF or LF, whole or as the fetched prefix', () => {
    const longBody = `${'Linha de texto da proposta número 1.\r\n'.repeat(40)}fim`;
    const whole = dedupeKey({ ...base, bodyStart: longBody });
    expect(dedupeKey({ ...base, bodyStart: longBody.replace(/\r\n/g, '\n') })).toBe(whole);
    // What the scan gets from BODY.PEEK[TEXT]<0.512>, decoded as latin1 on both paths.
    const bytes = Buffer.from(longBody, 'utf8');
    expect(dedupeKey({ ...base, bodyStart: bytes.subarray(0, BODY_PREFIX_FETCH_BYTES).toString('latin1') })).toBe(
      dedupeKey({ ...base, bodyStart: bytes.toString('latin1') }),
    );
    // Decoded as UTF-8 with a multi-byte character cut in two at the end of the prefix.
    const accented = Buffer.from(`${'ação '.repeat(200)}`, 'utf8');
    let cut = BODY_PREFIX_FETCH_BYTES;
    while ((accented[cut - 1]! & 0xc0) !== 0xc0) cut--; // end just after a lead byte
    expect(dedupeKey({ ...base, bodyStart: accented.subarray(0, cut).toString('utf8') })).toBe(
      dedupeKey({ ...base, bodyStart: accented.toString('utf8') }),
    );
  });

  it('uses only the first BODY_KEY_CHARS non-blank characters of the body', () => {
    const head = 'x'.repeat(BODY_KEY_CHARS);
    expect(dedupeKey({ ...base, bodyStart: `${head}AAA` })).toBe(dedupeKey({ ...base, bodyStart: `${head}BBB` }));
    expect(dedupeKey({ ...base, bodyStart: `y${head}` })).not.toBe(dedupeKey({ ...base, bodyStart: head }));
  });

  it('tells apart messages that differ in any hashed field', () => {
    const key = dedupeKey(base);
    const variants = [
      { date: base.date + 1000 },
      { date: null },
      { from: 'bia@cliente.com.br' },
      { from: null },
      { to: ['vendas@empresa.com.br'] },
      { subject: 'Proposta comercial — revisão 3' },
      { subject: null },
      { bodyStart: 'Olá Carlos, segue outra proposta.' },
      { bodyStart: null },
    ];
    const keys = variants.map((v) => dedupeKey({ ...base, ...v }));
    for (const k of keys) expect(k).not.toBe(key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps fields apart: moving text between subject and body changes the key', () => {
    expect(dedupeKey({ ...base, subject: 'ab', bodyStart: 'c' })).not.toBe(
      dedupeKey({ ...base, subject: 'a', bodyStart: 'bc' }),
    );
  });

  it('treats a missing subject and an empty one alike (ENVELOPE NIL vs a parser\'s "")', () => {
    expect(dedupeKey({ ...base, subject: null })).toBe(dedupeKey({ ...base, subject: '' }));
    expect(dedupeKey({ ...base, subject: ' ' })).toBe(dedupeKey({ ...base, subject: '' }));
  });

  it('treats a missing body and an empty one alike, as every path must agree on', () => {
    expect(dedupeKey({ ...base, bodyStart: undefined })).toBe(dedupeKey({ ...base, bodyStart: '' }));
    expect(dedupeKey({ ...base, bodyStart: null })).toBe(dedupeKey({ ...base, bodyStart: ' \r\n ' }));
  });

  it('still gives a key for a message with none of the fields, and NaN dates count as none', () => {
    expect(dedupeKey({ messageId: null, date: null, from: null, to: [], subject: null })).toMatch(
      /^hash:[0-9a-f]{64}$/,
    );
    expect(dedupeKey({ messageId: null, date: Number.NaN, from: null, to: [], subject: null })).toBe(
      dedupeKey({ messageId: null, date: null, from: null, to: [], subject: null }),
    );
  });
});

describe('gmMsgKey', () => {
  it('keys Gmail messages by X-GM-MSGID', () => {
    expect(gmMsgKey('1278455344230334865')).toBe('gmmsg:1278455344230334865');
    expect(gmMsgKey(1278455344230334865n)).toBe('gmmsg:1278455344230334865');
    expect(gmMsgKey(' 0042 ')).toBe('gmmsg:42');
    expect(gmMsgKey(42)).toBe('gmmsg:42');
    expect(gmMsgKey('18446744073709551615')).toBe('gmmsg:18446744073709551615');
  });

  it('is null when absent or not a number', () => {
    for (const raw of [null, undefined, '', 'abc', '12a', '-5', -5n, 1.5, 2 ** 60, '123456789012345678901']) {
      expect(gmMsgKey(raw as never), String(raw)).toBeNull();
    }
  });
});
