import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  extractMessageIds,
  makeSnippet,
  normalizeMessageId,
  parseAddressList,
  parseDate,
  parseMessage,
  type ParsedMessage,
} from '../../src/mail/mime/parse-message.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const corpusDir = path.resolve(repoRoot, '..', 'shared', 'corpus');
const emlDir = path.join(corpusDir, 'eml');
const corpusExists = existsSync(emlDir);
if (!corpusExists) console.warn(`[parse-message] corpus not found at ${emlDir}: corpus tests skipped`);

function eml(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

function expectShape(m: ParsedMessage, raw: Buffer): void {
  expect(m.size).toBe(raw.length);
  expect(Array.isArray(m.references)).toBe(true);
  expect(Array.isArray(m.to) && Array.isArray(m.cc) && Array.isArray(m.bcc) && Array.isArray(m.replyTo)).toBe(true);
  expect(typeof m.snippet).toBe('string');
  expect(typeof m.contentType).toBe('string');
  for (const a of [...m.to, ...m.cc, ...m.bcc, ...m.replyTo, m.from, m.sender, m.originalFrom]) {
    if (a) expect(a.address).toBe(a.address.toLowerCase());
  }
  for (const a of m.attachments) {
    expect(Buffer.isBuffer(a.content)).toBe(true);
    expect(a.size).toBe(a.content.length);
  }
}

describe('parseMessage: hand-made messages', () => {
  it('reads multipart/alternative: text, sanitised html, snippet, threading ids and participants', async () => {
    const raw = eml(
      'Message-ID: < Abc.123@Mail.Example.COM >',
      'In-Reply-To: <parent@Example.com>',
      'References: <root@example.com>',
      '  <Parent@EXAMPLE.com> <root@example.com>',
      'Date: Tue, 1 Jul 2003 10:52:37 +0200',
      'From: "Ana Souza" <Ana@Example.COM>',
      'To: Team: bob@example.com, "Carl" <CARL@example.org>;, not-an-address, <>',
      'Cc: =?UTF-8?Q?Jos=C3=A9?= <jose@example.net>',
      'Reply-To: replies@example.com',
      'List-Id: Sales team <sales.example.com>',
      'X-Original-From: Real Person <real@example.com>',
      'Auto-Submitted: auto-generated; type=test',
      'Precedence: Bulk',
      'Subject: Proposal',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Olá Bob, the proposal is attached.',
      '',
      'On Mon, 30 Jun 2003 at 10:00, Bob <bob@example.com> wrote:',
      '> earlier text',
      '--b1',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p onclick="steal()">Olá <b>Bob</b><script>alert(1)</script></p><a href="https://example.com">site</a>',
      '--b1--',
      '',
    );
    const m = await parseMessage(raw);
    expectShape(m, raw);
    expect(m.parseError).toBeNull();
    expect(m.messageId).toBe('Abc.123@mail.example.com');
    expect(m.inReplyTo).toBe('parent@example.com');
    expect(m.references).toEqual(['root@example.com', 'Parent@example.com']);
    expect(m.date).toBe(Date.UTC(2003, 6, 1, 8, 52, 37));
    expect(m.from).toEqual({ address: 'ana@example.com', name: 'Ana Souza' });
    expect(m.to).toEqual([
      { address: 'bob@example.com', name: null },
      { address: 'carl@example.org', name: 'Carl' },
    ]);
    expect(m.cc).toEqual([{ address: 'jose@example.net', name: 'José' }]);
    expect(m.replyTo).toEqual([{ address: 'replies@example.com', name: null }]);
    expect(m.listId).toBe('sales.example.com');
    expect(m.originalFrom).toEqual({ address: 'real@example.com', name: 'Real Person' });
    expect(m.autoSubmitted).toBe('auto-generated');
    expect(m.precedence).toBe('bulk');
    expect(m.contentType).toBe('multipart/alternative');
    expect(m.reportType).toBeNull();
    expect(m.text).toContain('Olá Bob, the proposal is attached.');
    expect(m.html).toContain('<b>Bob</b>');
    expect(m.html).not.toMatch(/script|onclick/i);
    expect(m.html).toContain('rel="noopener noreferrer nofollow"');
    expect(m.snippet).toBe('Olá Bob, the proposal is attached.');
    expect(m.attachments).toEqual([]);
  });

  it('reads attachments with RFC 2231 filenames (charset, continuations) and an inline cid image', async () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const pdf = Buffer.from('%PDF-1.4 fake');
    const raw = eml(
      'From: a@example.com',
      'Subject: files',
      'Content-Type: multipart/mixed; boundary=outer',
      '',
      '--outer',
      'Content-Type: multipart/related; boundary=rel',
      '',
      '--rel',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Logo: <img src="cid:logo@x.example"> <img src="https://tracker.example/p.gif"></p>',
      '--rel',
      'Content-Type: image/png',
      'Content-ID: <logo@x.example>',
      'Content-Transfer-Encoding: base64',
      '',
      png.toString('base64'),
      '--rel--',
      '--outer',
      'Content-Type: application/pdf',
      'Content-Disposition: attachment;',
      " filename*0*=utf-8''Or%C3%A7amento%20;",
      ' filename*1*=%E2%82%AC%20;',
      ' filename*2="final.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      pdf.toString('base64'),
      '--outer',
      'Content-Type: text/plain; name="=?ISO-8859-1?Q?r=E9sum=E9=2Etxt?="',
      'Content-Disposition: attachment',
      '',
      'cv',
      '--outer--',
      '',
    );
    const m = await parseMessage(raw);
    expectShape(m, raw);
    expect(m.parseError).toBeNull();
    const logo = m.attachments.find((a) => a.contentType === 'image/png');
    expect(logo).toMatchObject({ contentId: 'logo@x.example', inline: true, size: png.length });
    expect(logo!.content.equals(png)).toBe(true);
    const doc = m.attachments.find((a) => a.contentType === 'application/pdf');
    expect(doc).toMatchObject({ filename: 'Orçamento € final.pdf', inline: false, contentId: null });
    expect(doc!.content.equals(pdf)).toBe(true);
    expect(m.attachments.find((a) => a.contentType === 'text/plain')?.filename).toBe('résumé.txt');
    expect(m.html).toContain('src="cid:logo@x.example"');
    expect(m.html).toContain('data-remote-src="https://tracker.example/p.gif"');
    expect(m.html).not.toMatch(/[^-]src="https:/);
  });

  it('decodes encoded-word subjects: Q and B, several charsets, adjacent words joined', async () => {
    const cases: Array<[string, string]> = [
      ['=?ISO-8859-1?Q?Andr=E9?= Pirard', 'André Pirard'],
      ['=?UTF-8?B?5pel5pys6Kqe44Gu5Lu25ZCN?=', '日本語の件名'],
      ['=?UTF-8?Q?a?= =?UTF-8?Q?b?=', 'ab'],
      ['Re: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?= ok', 'Re: テスト ok'],
      ['=?KOI8-R?B?8NLJ18XU?=', 'Привет'],
      ['=?windows-1252?Q?=80_price?=', '€ price'],
    ];
    for (const [header, expected] of cases) {
      const m = await parseMessage(eml(`Subject: ${header}`, '', 'x'));
      expect(m.subject).toBe(expected);
    }
  });

  it('decodes windows-1252 smart quotes and the euro sign (Node 20 TextDecoder reads them as Latin-1)', async () => {
    const raw = Buffer.concat([
      Buffer.from(
        'Subject: =?iso-8859-1?Q?=93Quoted=94_=80_10?=\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n',
      ),
      Buffer.from([0x93, 0x48, 0x69, 0x94, 0x20, 0x96, 0x20, 0x80, 0x35, 0x20, 0x99, 0x85]),
    ]);
    const m = await parseMessage(raw);
    expect(m.subject).toBe('“Quoted” € 10');
    expect(m.text?.trim()).toBe('“Hi” – €5 ™…');
  });

  it('reads raw 8-bit headers: UTF-8 as UTF-8, otherwise the declared charset or windows-1252', async () => {
    const latin = Buffer.concat([
      Buffer.from('From: '),
      Buffer.from('Jo\xe3o <joao@example.com>\r\nSubject: Promo\xe7\xe3o de ver\xe3o\r\n', 'latin1'),
      Buffer.from('Content-Type: text/plain\r\n\r\nPre\xe7o especial para voc\xea.\r\n', 'latin1'),
    ]);
    const m = await parseMessage(latin);
    expect(m.from).toEqual({ address: 'joao@example.com', name: 'João' });
    expect(m.subject).toBe('Promoção de verão');
    // No charset declared and not UTF-8: the bytes decide (windows-1252), not U+FFFD.
    expect(m.text).toContain('Preço especial para você.');

    const utf8 = await parseMessage(
      eml('Subject: Reunião amanhã', 'Content-Type: text/plain; charset=us-ascii', '', 'Até já'),
    );
    expect(utf8.subject).toBe('Reunião amanhã');
    expect(utf8.text).toContain('Até já');
  });

  it('returns null for a missing or broken Message-ID, Date and From, without an error', async () => {
    const raw = eml('Subject: no ids', 'Date: sometime last week', 'From: nobody', '', 'body');
    const m = await parseMessage(raw);
    expect(m.messageId).toBeNull();
    expect(m.inReplyTo).toBeNull();
    expect(m.references).toEqual([]);
    expect(m.date).toBeNull();
    expect(m.from).toBeNull();
    expect(m.parseError).toBeNull();
    expect(m.text).toContain('body');
  });

  it('never throws on garbage', async () => {
    const inputs = [
      Buffer.alloc(0),
      Buffer.from('\r\n'),
      Buffer.from('not a message at all'),
      Buffer.from([0, 1, 2, 255, 254, 10, 13, 10, 0, 0]),
      Buffer.from('Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n--\r\n'),
      Buffer.from('Content-Type: multipart/mixed\r\n\r\n--x\r\n'),
      Buffer.from('Content-Type: text/plain; charset="unterminated\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@@'),
      Buffer.from('Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n'),
      Buffer.from(':::\r\n: \r\n \r\n\tcontinued\r\n\r\n'),
      Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
    ];
    for (const raw of inputs) {
      const m = await parseMessage(raw);
      expectShape(m, raw);
    }
  });

  it('cuts a huge header at maxHeaderLength, says so, and still reads the body quickly', async () => {
    const recipients = Array.from({ length: 20_000 }, (_, i) => `"User ${i}" <user${i}@example.com>`).join(',\r\n ');
    const raw = eml(`To: ${recipients}`, 'From: a@example.com', 'Subject: big', '', 'hello');
    expect(raw.length).toBeGreaterThan(500_000);
    const t0 = performance.now();
    const m = await parseMessage(raw);
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(m.parseError).toMatch(/header to is \d+ bytes, cut to 65536/);
    expect(m.to.length).toBeGreaterThan(1_000);
    expect(m.to.length).toBeLessThan(20_000);
    expect(m.subject).toBe('big');
    expect(m.text).toContain('hello');
  });

  it('gives headers only when the header block is larger than maxHeadersSize', async () => {
    const filler = Array.from({ length: 3000 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(400)}`);
    const raw = eml('Subject: kept', 'Message-ID: <m@example.com>', ...filler, '', 'body');
    const m = await parseMessage(raw);
    expect(m.subject).toBe('kept');
    expect(m.messageId).toBe('m@example.com');
    expect(m.text).toBeNull();
    expect(m.parseError).toMatch(/header block exceeds/);
  });

  it('gives headers only for deep nesting, past maxNestingDepth', async () => {
    const depth = 300;
    const lines = ['From: a@example.com', 'Subject: deep', 'Content-Type: multipart/mixed; boundary=b0', ''];
    for (let i = 0; i < depth; i++) lines.push(`--b${i}`, `Content-Type: multipart/mixed; boundary=b${i + 1}`, '');
    lines.push(`--b${depth}`, 'Content-Type: text/plain', '', 'bottom');
    for (let i = depth; i >= 0; i--) lines.push(`--b${i}--`);
    const t0 = performance.now();
    const m = await parseMessage(eml(...lines));
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(m.subject).toBe('deep');
    expect(m.parseError).toMatch(/body unreadable/i);
    expect(m.text).toBeNull();
    // Within the limit the same structure parses.
    const shallow = await parseMessage(eml(...lines), { maxNestingDepth: 1000 });
    expect(shallow.parseError).toBeNull();
    expect(shallow.text).toContain('bottom');
  });

  it('gives headers only past maxBytes and past maxParts', async () => {
    const raw = eml('Subject: large', 'From: a@example.com', '', 'x'.repeat(5_000));
    const m = await parseMessage(raw, { maxBytes: 1_000 });
    expect(m.subject).toBe('large');
    expect(m.from?.address).toBe('a@example.com');
    expect(m.text).toBeNull();
    expect(m.parseError).toMatch(/over the 1000 byte limit/);

    const bomb = Buffer.from(
      `Subject: bomb\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${'--b\r\n\r\nx\r\n'.repeat(20_000)}--b--\r\n`,
    );
    const t0 = performance.now();
    const b = await parseMessage(bomb);
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(b.subject).toBe('bomb');
    expect(b.parseError).toMatch(/more than 10000 MIME parts/);
  });

  it('reads the report type of a delivery report', async () => {
    const m = await parseMessage(
      eml(
        'From: MAILER-DAEMON@example.com',
        'Content-Type: multipart/report; report-type="Delivery-Status"; boundary=r',
        '',
        '--r',
        'Content-Type: text/plain',
        '',
        'failed',
        '--r',
        'Content-Type: message/delivery-status',
        '',
        'Final-Recipient: rfc822; x@example.com',
        'Action: failed',
        '--r--',
      ),
    );
    expect(m.contentType).toBe('multipart/report');
    expect(m.reportType).toBe('delivery-status');
    expect(m.from?.address).toBe('mailer-daemon@example.com');
  });
});

describe('field helpers', () => {
  it('normalizeMessageId / extractMessageIds', () => {
    expect(normalizeMessageId('<Local.Part@Example.COM>')).toBe('Local.Part@example.com');
    expect(normalizeMessageId('  <1234   @   local(blah)  .machine .example> ')).toBe('1234@local.machine.example');
    expect(normalizeMessageId('bare@Host.Example')).toBe('bare@host.example');
    expect(normalizeMessageId('<>')).toBeNull();
    expect(normalizeMessageId('no-at-sign')).toBeNull();
    expect(normalizeMessageId(null)).toBeNull();
    expect(extractMessageIds('<a@X> (comment <c@x>) <b@y>\r\n <a@x>')).toEqual(['a@x', 'b@y']);
    expect(extractMessageIds('someone@yahoo.com')).toEqual(['someone@yahoo.com']);
  });

  it('parseDate', () => {
    expect(parseDate('Fri, 21 Nov 1997 09:55:06 -0600')).toBe(Date.UTC(1997, 10, 21, 15, 55, 6));
    expect(parseDate('21 Nov 97 09:55:06 GMT')).toBe(Date.UTC(1997, 10, 21, 9, 55, 6));
    expect(parseDate('Fri, 21 Nov 1997 09(comment):   55  :  06 -0600')).toBe(Date.UTC(1997, 10, 21, 15, 55, 6));
    expect(parseDate('Tue, 1 Jul 2003 10:52 PDT')).toBe(Date.UTC(2003, 6, 1, 17, 52));
    expect(parseDate('Thu, 13 Feb 2020 12:00:00 +0000 (UTC)')).toBe(Date.UTC(2020, 1, 13, 12));
    expect(parseDate('Tue Jul  1 10:52:37 2003')).toBe(Date.UTC(2003, 6, 1, 10, 52, 37));
    expect(parseDate('2021-09-20T19:29:21Z')).toBe(Date.UTC(2021, 8, 20, 19, 29, 21));
    expect(parseDate('31 Feb 2020 10:00:00 +0000')).toBeNull();
    expect(parseDate('yesterday')).toBeNull();
    expect(parseDate('')).toBeNull();
  });

  it('parseAddressList: groups flattened, invalid dropped, comments removed, missing commas tolerated', () => {
    expect(parseAddressList('A <a@X.com> B <b@x.com>, undisclosed-recipients:;, c@x.com, c@X.com, d@@x.com')).toEqual([
      { address: 'a@x.com', name: 'A' },
      { address: 'b@x.com', name: 'B' },
      { address: 'c@x.com', name: null },
    ]);
    expect(parseAddressList('Pete(A nice chap) <pete(his account)@silly.test(his host)>')).toEqual([
      { address: 'pete@silly.test', name: expect.stringContaining('Pete') },
    ]);
    expect(parseAddressList('"Mikel@Lindsaar" <mikel@test.lindsaar.net>')).toEqual([
      { address: 'mikel@test.lindsaar.net', name: 'Mikel@Lindsaar' },
    ]);
  });

  it('makeSnippet drops quoted replies, reply headers and signatures, and caps the length', () => {
    expect(makeSnippet('Sounds good.\n\nOn Mon, 2 Apr 2012 at 18:26, Megan <m@x.com> wrote:\n> Hi', null)).toBe(
      'Sounds good.',
    );
    expect(makeSnippet('Combinado!\n\nEm seg., 2 de abr. de 2012 às 14:20, Ana <a@x.com>\nescreveu:\n> Oi', null)).toBe(
      'Combinado!',
    );
    expect(makeSnippet('On 04/02/2012 06:26 PM, Megan One wrote:\n> Hi\nHello', null)).toBe('Hello');
    expect(makeSnippet('Thanks\n-- \nAna Souza\nSales', null)).toBe('Thanks');
    expect(makeSnippet('See below\n\n-----Original Message-----\nFrom: x', null)).toBe('See below');
    expect(makeSnippet(null, '<style>p{}</style><p>Hello&nbsp;<b>there</b> &amp; welcome</p>')).toBe(
      'Hello there & welcome',
    );
    const long = makeSnippet('word '.repeat(100), null);
    expect(long.length).toBeLessThanOrEqual(201);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('parseMessage with a scratch copy (the parse worker: the header block is overwritten, the body not copied)', () => {
  /** Its own ArrayBuffer, as the worker receives it. */
  const scratchOf = (raw: Buffer): Buffer => {
    const own = Buffer.from(new ArrayBuffer(raw.length));
    raw.copy(own);
    return own;
  };
  const attachment = Buffer.alloc(30_000, 9).toString('base64').replace(/.{76}/g, '$&\r\n');
  const multipart = (...top: string[]) =>
    eml(
      ...top,
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'see attached',
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="data.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      attachment,
      '--b--',
      '',
    );
  // [name, raw, whether its header block is rewritten in place]
  const cases: Array<[string, Buffer, boolean]> = [
    ['short header block', multipart('From: a@example.com', 'Subject: file'), true],
    // Filler of several lines (each at most 998 bytes), one of them shortened so that the last one fits.
    ...[1000, 1010, 2015, 5000].map((n): [string, Buffer, boolean] => [
      `${n}-byte field before the content fields`,
      multipart('From: a@example.com', `X-Long: ${'y'.repeat(n)}`, 'Subject: long'),
      true,
    ]),
    ['only content fields (no filler needed, nothing changes)', multipart(), false],
    [
      'bare LF line ends',
      Buffer.from(multipart('From: a@example.com', 'Subject: lf').toString('latin1').replace(/\r\n/g, '\n'), 'latin1'),
      true,
    ],
    ['no body', eml('From: a@example.com', 'Subject: nothing else'), true],
    // The repaired Content-Type is longer than the whole header block: copied instead.
    [
      'single part, charset repaired',
      Buffer.from('From: a@example.com\r\nSubject: x\r\n\r\nol\xe1 mundo\r\n', 'latin1'),
      false,
    ],
  ];
  for (const [name, raw, rewritten] of cases) {
    it(`gives the result of the copying parse: ${name}`, async () => {
      const expected = await parseMessage(raw);
      const scratch = scratchOf(raw);
      const got = await parseMessage(scratch, undefined, {}, true);
      expect(got).toEqual(expected);
      expect(got.size).toBe(raw.length);
      expect(!scratch.equals(raw), 'header block rewritten').toBe(rewritten);
    });
  }

  it('leaves a buffer that is not the whole of its ArrayBuffer alone (and still parses it)', async () => {
    const raw = multipart('From: a@example.com', 'Subject: slice');
    const big = Buffer.concat([Buffer.alloc(10), raw]);
    const slice = big.subarray(10);
    const got = await parseMessage(slice, undefined, {}, true);
    expect(slice.equals(raw)).toBe(true);
    expect(got).toEqual(await parseMessage(raw));
  });
});

describe.skipIf(!corpusExists)(`parseMessage: corpus at ${emlDir}`, () => {
  const files = corpusExists
    ? readdirSync(emlDir)
        .filter((f) => f.endsWith('.eml'))
        .sort()
    : [];
  const read = (name: string): Buffer => readFileSync(path.join(emlDir, name));
  const parse = (name: string): Promise<ParsedMessage> => parseMessage(read(name));

  it('parses every .eml without throwing or hanging, each within 2 s', async () => {
    expect(files.length).toBeGreaterThan(0);
    const failures: string[] = [];
    let withError = 0;
    let slowest = { name: '', ms: 0 };
    const t0 = performance.now();
    for (const name of files) {
      const raw = read(name);
      const t = performance.now();
      const m = await parseMessage(raw);
      const ms = performance.now() - t;
      if (ms > slowest.ms) slowest = { name, ms };
      expectShape(m, raw);
      if (ms > 2_000) failures.push(`${name}: ${Math.round(ms)} ms`);
      if (m.parseError) {
        withError++;
        console.info(`[corpus] ${name}: parseError: ${m.parseError}`);
      }
    }
    console.info(
      `[corpus] ${files.length} messages parsed in ${Math.round(performance.now() - t0)} ms, ${withError} with parseError; ` +
        `slowest ${slowest.name} (${Math.round(slowest.ms)} ms)`,
    );
    expect(failures).toEqual([]);
  });

  it('decodes legacy charsets in bodies', async () => {
    expect((await parse('cs-rbmail-japanese_shift_jis.eml')).text).toContain('このメールはテスト用のメールです');
    const korean = await parse('cs-rbmail-raw_email.eml');
    expect(korean.subject).toBe('NOTE: 한국말로 하는 것');
    expect(korean.text).toContain('우리는 하나님을 믿습니다');
    // Big5 declared as us-ascii: detected from the bytes.
    expect((await parse('cs-enmime-chardet-success-big-5.eml')).text).toContain('顏之推');
    expect((await parse('mua-flanker-8bitmime.eml')).text).toContain('Превел');
  });

  it('decodes encoded-words in many charsets and raw 8-bit headers', async () => {
    expect((await parse('cs-rbmail-raw_email_string_in_date_field.eml')).subject).toBe('NOTE: 한국말로 하는 것');
    expect((await parse('cs-rbmail-raw_email_with_partially_quoted_subject.eml')).subject).toBe(
      'Re: Test: "漢字" mid "漢字" tail',
    );
    expect((await parse('cs-phpmmp-issue149.eml')).subject).toContain("מענה 'אני לא נמצא'"); // iso-8859-8-i
    const m0023 = await parse('cs-phpmmp-m0023.eml');
    expect(m0023.to).toEqual([{ address: 'keld@dkuug.dk', name: 'Keld Jørn Simonsen' }]);
    expect(m0023.cc).toEqual([{ address: 'pirard@vm1.ulg.ac.be', name: 'André Pirard' }]);
    const win1252 = await parse('cs-rbmail-invalid_subject_characters.eml');
    expect(win1252.subject).toBe('Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro');
    expect(win1252.from?.name).toBe('Formação Frenetikpolis');
    expect((await parse('cs-rbmail-trademark_character_in_subject.eml')).subject).toBe('GA.comô has a lead for you');
    const recursed = await parse('cs-enmime-qp-utf8-header-recursed.eml');
    expect(recursed.subject).toBe('MIME UTF8 Test ¢ More Text');
    expect(recursed.from?.address).toBe('jamehi03@jamehi03lx.noa.com');
    expect((await parse('dsn-sisimai-lhost-kddi-01.eml')).subject).toBe('メールエラー通知');
    expect((await parse('mal-flanker-mailformed-headers.eml')).from?.name).toMatch(/^Юникод запрещен/);
  });

  it('reads attachment filenames whole: RFC 2231 continuations and charsets, encoded-words', async () => {
    const names = async (file: string): Promise<Array<string | null>> =>
      (await parse(file)).attachments.map((a) => a.filename);
    expect(await names('cs-rbmail-japanese_attachment_long_name.eml')).toContain(
      'かきくけこかきくけこかきくけこかきくけこかきくけこ.txt',
    );
    expect(await names('cs-james-messageWithNonASCIIFilenameAttachment.eml')).toEqual(['ديناصور.odt']);
    expect(await names('cs-rbmail-attachment_with_quoted_filename.eml')).toEqual(['Eelanalüüsi päring.jpg']);
    expect(await names('cs-mime4j-attachment-filename-encoding-Latin1.eml')).toEqual(['attachment.äöü']);
    expect(await names('cs-james-james-3901.eml')).toEqual(['4%P001!.DOC']);
    expect(await names('cs-phpmmp-m0018.eml')).toContain('사진.JPG'); // ks_c_5601-1987
    expect((await names('mua-flanker-russian-attachment-yahoo.eml'))[0]).toMatch(/^Картинка с очень, очень длинным/);
  });

  it('reads obsolete and malformed header syntax', async () => {
    const obsolete = await parse('addr-rbmail-example13.eml');
    expect(obsolete.messageId).toBe('1234@local.machine.example');
    expect(obsolete.date).toBe(Date.UTC(1997, 10, 21, 15, 55, 6));
    expect(obsolete.from).toEqual({ address: 'jdoe@machine.example', name: 'John Doe' });
    expect((await parse('addr-rbmail-example02.eml')).sender?.address).toBe('mjones@machine.example');
    const noBrackets = await parse('mal-rbmail-bad_date_header.eml');
    expect(noBrackets.inReplyTo).toBe('someone@yahoo.com');
    expect(noBrackets.date).toBeNull();
    expect((await parse('thr-rbmail-multiple_references_with_one_invalid.eml')).references).toEqual([
      'foo@bar.net',
      'baz@bar.net',
      'invalid.something@bar.net',
    ]);
    expect((await parse('mal-enmime-bad-header-start.eml')).from?.address).toBe('james@makita.skynet');
    const noComma = await parse('addr-enmime-malformed-multiple-address-header-values.eml');
    expect(noComma.from?.address).toBe('bob@extern');
    const stack = await parse('big-mimekit-stack-overflow.eml');
    expect(stack.subject).toBe('Message Subject');
    expect(stack.parseError).toMatch(/cut to/);
  });

  it('reads the routing headers the smart mapping uses', async () => {
    const dsn = await parse('dsn-sisimai-rfc3464-01.eml');
    expect(dsn.contentType).toBe('multipart/report');
    expect(dsn.reportType).toBe('delivery-status');
    expect((await parse('dsn-sisimai-arf-01.eml')).reportType).toBe('feedback-report');
    expect((await parse('auto-sisimai-rfc3834-01.eml')).autoSubmitted).toBe('auto-replied');
    const list = await parse('list-james-mail1.eml');
    expect(list.listId).toBe('server-dev.james.apache.org');
    expect(list.precedence).toBe('bulk');
    expect(list.inReplyTo).toBe('JIRA.12835341.1433409792000@atlassian.jira');
  });

  it('keeps odd bodies as attachments and trims replies in snippets', async () => {
    const root = await parse('mime-mailparser-base64encodedroot.eml');
    expect(root.attachments.map((a) => a.contentType)).toEqual(['image/png']);
    expect((await parse('tnef-zbateson-m4006.eml')).attachments[0]).toMatchObject({
      filename: 'winmail.dat',
      contentType: 'application/ms-tnef',
    });
    const inline = (await parse('mua-spamscope-mail_test_10.eml')).attachments.filter((a) => a.inline);
    expect(inline.length).toBe(3);
    // Not mua-talon-thunderbird.eml: postal-mime's format=flowed decoding joins "> Hi " with the unquoted
    // "Hello" below it (RFC 3676 says a change of quote depth ends the paragraph), so the reply is lost as a quote.
    for (const file of [
      'mua-talon-gmail.eml',
      'mua-talon-apple_mail.eml',
      'mua-talon-iphone.eml',
      'mua-talon-android.eml',
    ]) {
      expect((await parse(file)).snippet, file).toBe('Hello');
    }
  });
});
