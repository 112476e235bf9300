// Finding the original inside a forward: the inline blocks that mail programs write (in English, Portuguese,
// Spanish; Gmail, Outlook, Apple Mail, Thunderbird, Yahoo, Zoho), their dates, and attached message/rfc822 parts.
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import {
  dateHeaderOffset,
  embeddedMessages,
  findInlineForward,
  htmlToText,
  isForwardSubject,
  parseForwardAddresses,
  parseForwardDate,
  stripForwardPrefix,
} from '../../src/mail/dropbox/forwarded-message.js';

const iso = (ms: number | null | undefined) => (ms == null ? null : new Date(ms).toISOString());

/** The second pass as the BCC path runs it (there through the parse pool), here on the test's thread. */
const reparse = (raw: Buffer) => parseMessage(raw, undefined, { messagePartsAsAttachments: true });

describe('inline forward blocks', () => {
  it("reads a Gmail forward (English), dating it in the forwarder's zone", () => {
    const text = [
      'FYI, see below',
      '',
      '---------- Forwarded message ---------',
      'From: Ana Souza <ana@cliente.com.br>',
      'Date: Mon, Mar 4, 2024 at 10:15 AM',
      'Subject: Proposta comercial',
      'To: Bruno <bruno@empresa.com>',
      'Cc: Carla <carla@cliente.com.br>, dave@cliente.com.br',
      '',
      '',
      'Olá Bruno,',
      'segue a proposta.',
      '',
    ].join('\n');
    const found = findInlineForward(text, { defaultOffsetMinutes: -180 })!;
    expect(found.headers.from).toEqual({ address: 'ana@cliente.com.br', name: 'Ana Souza' });
    expect(found.headers.to).toEqual([{ address: 'bruno@empresa.com', name: 'Bruno' }]);
    expect(found.headers.cc.map((a) => a.address)).toEqual(['carla@cliente.com.br', 'dave@cliente.com.br']);
    expect(found.headers.subject).toBe('Proposta comercial');
    // 10:15 in São Paulo (the forward's own Date header says -0300).
    expect(iso(found.headers.date)).toBe('2024-03-04T13:15:00.000Z');
    expect(found.body).toBe('Olá Bruno,\nsegue a proposta.');
    expect(found.note).toBe('FYI, see below');
  });

  it('reads a Gmail forward in Portuguese (mixed labels, pt-BR date)', () => {
    const text = [
      '---------- Mensagem encaminhada ---------',
      'De: Ana Souza <ana@cliente.com.br>',
      'Date: seg., 4 de mar. de 2024 às 10:15',
      'Subject: Proposta',
      'To: <bruno@empresa.com>',
      '',
      'Corpo',
    ].join('\r\n');
    const found = findInlineForward(text, { defaultOffsetMinutes: -180 })!;
    expect(found.headers.from?.address).toBe('ana@cliente.com.br');
    expect(found.headers.to.map((a) => a.address)).toEqual(['bruno@empresa.com']);
    expect(iso(found.headers.date)).toBe('2024-03-04T13:15:00.000Z');
    expect(found.body).toBe('Corpo');
  });

  it('reads Outlook desktop blocks: "-----Original Message-----" with [mailto:] and Sent, and the Portuguese one', () => {
    const en = [
      'Please see below.',
      '',
      '-----Original Message-----',
      'From: Ana Souza [mailto:ana@cliente.com.br] ',
      'Sent: Monday, March 4, 2024 10:15 PM',
      'To: Bruno Lima <bruno@empresa.com>; Carla <carla@cliente.com.br>',
      'Subject: RE: Proposta',
      '',
      'Body here',
    ].join('\r\n');
    const a = findInlineForward(en)!;
    expect(a.headers.from).toEqual({ address: 'ana@cliente.com.br', name: 'Ana Souza' });
    expect(a.headers.to.map((x) => x.address)).toEqual(['bruno@empresa.com', 'carla@cliente.com.br']);
    expect(a.headers.subject).toBe('RE: Proposta');
    expect(iso(a.headers.date)).toBe('2024-03-04T22:15:00.000Z');

    const pt = [
      '-----Mensagem original-----',
      'De: Ana Souza <ana@cliente.com.br> ',
      'Enviada em: segunda-feira, 4 de março de 2024 10:15',
      'Para: Bruno Lima <bruno@empresa.com>',
      'Cc: carla@cliente.com.br',
      'Assunto: Proposta',
      '',
      'Corpo do e-mail',
    ].join('\r\n');
    const b = findInlineForward(pt, { defaultOffsetMinutes: -180 })!;
    expect(b.headers.from?.address).toBe('ana@cliente.com.br');
    expect(b.headers.cc.map((x) => x.address)).toEqual(['carla@cliente.com.br']);
    expect(b.headers.subject).toBe('Proposta');
    expect(iso(b.headers.date)).toBe('2024-03-04T13:15:00.000Z');
    expect(b.body).toBe('Corpo do e-mail');
  });

  it("reads Outlook's HTML-era block: a rule of underscores, or no separator at all", () => {
    const ruled = [
      'FYI',
      '',
      '________________________________',
      'From: Ana Souza <ana@cliente.com.br>',
      'Sent: Monday, March 4, 2024 10:15 AM',
      'To: Bruno Lima <bruno@empresa.com>',
      'Subject: Proposta',
      '',
      'Body',
    ].join('\n');
    expect(findInlineForward(ruled)?.headers.from?.address).toBe('ana@cliente.com.br');
    const bare = [
      'FYI',
      '',
      'From: Ana Souza <ana@cliente.com.br>',
      'Sent: Monday, March 4, 2024 10:15 AM',
      'To: Bruno <bruno@empresa.com>',
      'Subject: Proposta',
      '',
      'Body',
    ].join('\n');
    const found = findInlineForward(bare)!;
    expect(found.headers.subject).toBe('Proposta');
    expect(found.body).toBe('Body');
  });

  it('reads Apple Mail forwards, quoted or not, in English and Portuguese', () => {
    const en = [
      'Begin forwarded message:',
      '',
      '> From: Ana Souza <ana@cliente.com.br>',
      '> Subject: Proposta',
      '> Date: March 4, 2024 at 10:15:32 AM GMT-3',
      '> To: Bruno <bruno@empresa.com>',
      '> ',
      '> Corpo citado',
    ].join('\n');
    const a = findInlineForward(en)!;
    expect(a.headers.from?.address).toBe('ana@cliente.com.br');
    expect(iso(a.headers.date)).toBe('2024-03-04T13:15:32.000Z');
    expect(a.body).toBe('Corpo citado');

    const pt = [
      'Início da mensagem encaminhada:',
      '',
      'De: Ana Souza <ana@cliente.com.br>',
      'Assunto: Proposta',
      'Data: 4 de março de 2024 10:15:32 BRT',
      'Para: Bruno <bruno@empresa.com>',
      '',
      'Corpo',
    ].join('\n');
    const b = findInlineForward(pt)!;
    expect(b.headers.subject).toBe('Proposta');
    expect(iso(b.headers.date)).toBe('2024-03-04T13:15:32.000Z');
  });

  it('reads Thunderbird forwards (tab after the label), English and Portuguese, with the exact RFC 5322 date', () => {
    const en = [
      '-------- Forwarded Message --------',
      'Subject: \tProposta',
      'Date: \tMon, 4 Mar 2024 10:15:32 -0300',
      'From: \tAna Souza <ana@cliente.com.br>',
      'To: \tBruno <bruno@empresa.com>',
      '',
      'Corpo',
    ].join('\n');
    const a = findInlineForward(en)!;
    expect(a.headers.from?.address).toBe('ana@cliente.com.br');
    expect(iso(a.headers.date)).toBe('2024-03-04T13:15:32.000Z');
    const pt = [
      '-------- Mensagem encaminhada --------',
      'Assunto: \tProposta',
      'Data: \tMon, 4 Mar 2024 10:15:32 -0300',
      'De: \tAna Souza <ana@cliente.com.br>',
      'Para: \tbruno@empresa.com',
      '',
      'Corpo',
    ].join('\n');
    expect(findInlineForward(pt)?.headers.to.map((x) => x.address)).toEqual(['bruno@empresa.com']);
  });

  it('reads Spanish, Yahoo and Zoho blocks', () => {
    const es = [
      '---------- Mensaje reenviado ---------',
      'De: Ana <ana@cliente.es>',
      'Fecha: mar, 5 abr 2024 a las 10:15',
      'Asunto: Presupuesto',
      'Para: bruno@empresa.com',
      '',
      'Hola',
    ].join('\n');
    const a = findInlineForward(es)!;
    expect(a.headers.from?.address).toBe('ana@cliente.es');
    expect(a.headers.subject).toBe('Presupuesto');
    // "mar," is Tuesday here; the month is April.
    expect(iso(a.headers.date)).toBe('2024-04-05T10:15:00.000Z');

    const yahoo = [
      '----- Forwarded Message -----',
      'From: Ana <ana@cliente.com>',
      'To: Bruno <bruno@empresa.com>',
      'Sent: Monday, March 4, 2024, 10:15:00 AM GMT-3',
      'Subject: Hello there',
      '',
      'Body',
    ].join('\n');
    expect(iso(findInlineForward(yahoo)?.headers.date)).toBe('2024-03-04T13:15:00.000Z');

    const zoho = [
      '============ Forwarded message ============',
      'From: Ana <ana@cliente.com>',
      'To: bruno@empresa.com',
      'Date: Mon, 04 Mar 2024 10:15:00 -0300',
      'Subject: Quote',
      '============ Forwarded message ============',
      '',
      'Body',
      '',
      '============ Forwarded message ============',
    ].join('\n');
    // Zoho closes the block with the marker again, and ends the message with it.
    const z = findInlineForward(zoho)!;
    expect(z.headers.subject).toBe('Quote');
    expect(z.body).toBe('Body');
  });

  it('takes the outermost forward of a forward, folds wrapped To lines, reads names without addresses', () => {
    const text = [
      '---------- Forwarded message ---------',
      'From: Bia <bia@parceiro.com>',
      'Date: Tue, Mar 5, 2024 at 9:00 AM',
      'Subject: Fwd: Proposta',
      'To: Bruno <bruno@empresa.com>, Carla <carla@cliente.com.br>,',
      '  Dave <dave@cliente.com.br>',
      '',
      '---------- Forwarded message ---------',
      'From: Ana <ana@cliente.com.br>',
      'Date: Mon, Mar 4, 2024 at 10:15 AM',
      'Subject: Proposta',
      'To: Bia <bia@parceiro.com>',
      '',
      'Inner body',
    ].join('\n');
    const found = findInlineForward(text)!;
    expect(found.headers.from?.address).toBe('bia@parceiro.com');
    expect(found.headers.to.map((a) => a.address)).toEqual([
      'bruno@empresa.com',
      'carla@cliente.com.br',
      'dave@cliente.com.br',
    ]);
    expect(found.body).toContain('Inner body');

    const exchange = [
      '-----Original Message-----',
      'From: Ana Souza',
      'Sent: Monday, March 4, 2024 10:15 AM',
      'To: Bruno Lima <bruno@empresa.com>',
      'Subject: Proposta',
      '',
      'Body',
    ].join('\n');
    const e = findInlineForward(exchange)!;
    expect(e.headers.from).toBeNull();
    expect(e.headers.to.map((a) => a.address)).toEqual(['bruno@empresa.com']);
  });

  it('finds nothing in replies, notes and prose that merely mention headers', () => {
    expect(findInlineForward('Thanks!\n\nOn Mon, Mar 4, 2024 at 10:15 AM Ana <ana@x.com> wrote:\n> hello')).toBeNull();
    expect(findInlineForward('Note: call Ana tomorrow.\nFrom: the meeting, we agreed on price.\nThanks')).toBeNull();
    expect(findInlineForward('---------- Forwarded message ---------\n\nno header block here')).toBeNull();
    expect(findInlineForward('')).toBeNull();
  });

  it('reads the block out of an HTML-only forward', () => {
    const html =
      '<div>FYI</div><div class="gmail_quote"><div>---------- Forwarded message ---------<br>From: <strong>Ana Souza</strong> <span>&lt;<a href="mailto:ana@cliente.com.br">ana@cliente.com.br</a>&gt;</span><br>' +
      'Date: Mon, Mar 4, 2024 at 10:15 AM<br>Subject: Proposta<br>To: &lt;bruno@empresa.com&gt;<br></div><br><br><p>Olá&nbsp;Bruno</p></div>';
    const found = findInlineForward(htmlToText(html))!;
    expect(found.headers.from).toEqual({ address: 'ana@cliente.com.br', name: 'Ana Souza' });
    expect(found.headers.to.map((a) => a.address)).toEqual(['bruno@empresa.com']);
    expect(found.body).toBe('Olá Bruno');
  });
});

describe('forward dates, addresses and subjects', () => {
  it.each([
    ['Mon, Mar 4, 2024 at 10:15 AM', 0, '2024-03-04T10:15:00.000Z'],
    ['Mon, Mar 4, 2024 at 12:05 AM', 0, '2024-03-04T00:05:00.000Z'],
    ['Monday, March 4, 2024 10:15 PM', 60, '2024-03-04T21:15:00.000Z'],
    ['seg., 4 de mar. de 2024 às 10:15', -180, '2024-03-04T13:15:00.000Z'],
    ['segunda-feira, 4 de março de 2024 10:15', -180, '2024-03-04T13:15:00.000Z'],
    ['March 4, 2024 at 10:15:32 AM GMT-3', 0, '2024-03-04T13:15:32.000Z'],
    ['4 March 2024 at 10:15:32 BST', 0, '2024-03-04T09:15:32.000Z'],
    ['Mon, 4 Mar 2024 10:15:32 -0300', 120, '2024-03-04T13:15:32.000Z'],
    ['Montag, 4. März 2024 10:15', 60, '2024-03-04T09:15:00.000Z'],
    ['lundi 4 mars 2024 10:15', 0, '2024-03-04T10:15:00.000Z'],
  ])('%s (default offset %i) → %s', (text, offset, expected) => {
    expect(iso(parseForwardDate(text, offset))).toBe(expected);
  });

  it('gives up on dates without a month name or a year, and on impossible ones', () => {
    expect(parseForwardDate('04/03/2024 10:15')).toBeNull();
    expect(parseForwardDate('yesterday at 10:15')).toBeNull();
    expect(parseForwardDate('Mar 4 10:15')).toBeNull();
    expect(parseForwardDate('Feb 31, 2024 10:15')).toBeNull();
  });

  it('reads the forms addresses take in forward blocks', () => {
    expect(parseForwardAddresses('Ana Souza [mailto:ana@x.com]')).toEqual([
      { address: 'ana@x.com', name: 'Ana Souza' },
    ]);
    expect(
      parseForwardAddresses('ana@x.com<mailto:ana@x.com>; "Lima, Bruno" <Bruno@Y.com>').map((a) => a.address),
    ).toEqual(['ana@x.com', 'bruno@y.com']);
    expect(parseForwardAddresses('Ana Souza')).toEqual([]);
    expect(parseForwardAddresses(undefined)).toEqual([]);
  });

  it('knows forward prefixes in several languages', () => {
    for (const s of ['Fwd: x', 'FW: x', 'ENC: x', 'Enc: x', 'TR: x', 'WG: x', 'RV: x', 'Fwd[2]: x'])
      expect(isForwardSubject(s), s).toBe(true);
    for (const s of ['Re: x', 'RES: x', 'Forward planning', null]) expect(isForwardSubject(s), String(s)).toBe(false);
    expect(stripForwardPrefix('Fwd: ENC: Proposta')).toBe('Proposta');
    expect(stripForwardPrefix('Fwd:')).toBeNull();
  });

  it("reads the UTC offset of a message's own Date header", () => {
    expect(
      dateHeaderOffset(Buffer.from('Subject: x\r\nDate: Mon, 4 Mar 2024 10:15:32 -0300 (BRT)\r\n\r\nDate: +0500\r\n')),
    ).toBe(-180);
    expect(dateHeaderOffset(Buffer.from('Date: Mon, 4 Mar 2024\r\n 10:15:32 +0530\r\n\r\n'))).toBe(330);
    expect(dateHeaderOffset(Buffer.from('Subject: x\r\n\r\n'))).toBeNull();
  });
});

describe('attached originals', () => {
  const original = [
    'From: Ana Souza <ana@cliente.com.br>',
    'To: Bruno <bruno@empresa.com>',
    'Subject: Proposta',
    'Date: Mon, 4 Mar 2024 10:15:32 -0300',
    'Message-ID: <orig-1@cliente.com.br>',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Corpo original',
    '',
  ].join('\r\n');

  function forward(partHeaders: string[]): Buffer {
    return Buffer.from(
      [
        'From: bruno@empresa.com',
        'To: 0123456789abcdef0123@bcc.localhost',
        'Subject: Fwd: Proposta',
        'MIME-Version: 1.0',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: text/plain; charset=utf-8',
        '',
        'See attached',
        '--b1',
        ...partHeaders,
        '',
        original,
        '--b1--',
        '',
      ].join('\r\n'),
    );
  }

  it('returns the bytes of a message/rfc822 attachment', async () => {
    const raw = forward(['Content-Type: message/rfc822', 'Content-Disposition: attachment; filename="Proposta.eml"']);
    const found = await embeddedMessages(raw, await parseMessage(raw), reparse);
    expect(found).toHaveLength(1);
    expect(found[0]!.toString()).toContain('Message-ID: <orig-1@cliente.com.br>');
  });

  it('finds a message part without an attachment disposition (which the parser renders inline)', async () => {
    const raw = forward(['Content-Type: message/rfc822']);
    const parsed = await parseMessage(raw);
    expect(parsed.attachments).toHaveLength(0);
    const found = await embeddedMessages(raw, parsed, reparse);
    expect(found).toHaveLength(1);
    expect((await parseMessage(found[0]!)).messageId).toBe('orig-1@cliente.com.br');
  });

  it('takes a saved .eml sent as application/octet-stream, and nothing from an ordinary attachment', async () => {
    const eml = forward([
      'Content-Type: application/octet-stream; name="saved.eml"',
      'Content-Disposition: attachment; filename="saved.eml"',
    ]);
    expect(await embeddedMessages(eml, await parseMessage(eml), reparse)).toHaveLength(1);
    const pdf = Buffer.from(
      [
        'From: bruno@empresa.com',
        'Subject: x',
        'Content-Type: multipart/mixed; boundary="b1"',
        '',
        '--b1',
        'Content-Type: application/pdf',
        'Content-Disposition: attachment; filename="a.pdf"',
        '',
        '%PDF-1.4',
        '--b1--',
        '',
      ].join('\r\n'),
    );
    expect(await embeddedMessages(pdf, await parseMessage(pdf), reparse)).toEqual([]);
  });
});
