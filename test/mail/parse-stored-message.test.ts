// A big message parsed from its blob file a piece at a time (issue 18) must give exactly what the usual parse of the
// whole message gives: same fields, bodies and attachments (their bytes in blob files). Checked on hand-made MIME of
// every shape the walk has to follow, on hostile MIME, and on every message of the corpus with every base64
// attachment extracted.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { extractLargeParts, type PartSink } from '../../src/mail/mime/extract-large-parts.js';
import {
  parseMessage,
  resolveLimits,
  type ParseLimits,
  type ParsedMessage,
} from '../../src/mail/mime/parse-message.js';
import { isFileError, parseStoredMessage } from '../../src/mail/mime/parse-stored-message.js';
import { blobPathIn, putBlobFileSync } from '../../src/storage/blob-store.js';
import { storedMessageWithBlockedWrites } from '../support/blocked-blob-writes.js';
import { makeMessage } from '../support/make-message.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const emlDir = path.resolve(repoRoot, '..', 'shared', 'corpus', 'eml');
const corpusExists = existsSync(emlDir);
if (!corpusExists) console.warn(`[parse-stored-message] corpus not found at ${emlDir}: corpus test skipped`);

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function blobRoot(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'conversa-stored-'));
  dirs.push(dir);
  return dir;
}

function crlf(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

function base64Lines(content: Buffer, width = 76): string {
  return content.toString('base64').replace(new RegExp(`.{${width}}`, 'g'), '$&\r\n');
}

async function fromFile(
  root: string,
  raw: Buffer,
  extractFromBytes: number,
  limits: Partial<ParseLimits> = {},
): Promise<ParsedMessage> {
  const ref = putBlobFileSync(root, raw);
  return parseStoredMessage(
    ref,
    { root },
    {
      limits: resolveLimits(limits),
      options: {},
      mode: 'full',
      storing: () => undefined,
      extractFromBytes,
    },
  );
}

/** The attachments' bytes read back from their blob files. */
function storedContents(root: string, message: ParsedMessage): Buffer[] {
  return message.blobs!.attachments.map((ref) => readFileSync(blobPathIn(root, ref.sha256)));
}

function withoutContent(message: ParsedMessage): unknown {
  const { blobs: _blobs, ...rest } = message;
  return { ...rest, attachments: message.attachments.map(({ content: _content, ...a }) => a) };
}

/** Parsed from the file (every base64 attachment of `extractFromBytes` or more extracted) = parsed whole. */
async function expectSameAsWhole(raw: Buffer, extractFromBytes = 1, limits: Partial<ParseLimits> = {}): Promise<void> {
  const root = blobRoot();
  const whole = await parseMessage(Buffer.from(raw), limits);
  const stored = await fromFile(root, raw, extractFromBytes, limits);
  expect(withoutContent(stored)).toEqual(withoutContent(whole));
  expect(stored.blobs!.raw).toEqual({ sha256: createHash('sha256').update(raw).digest('hex'), size: raw.length });
  const contents = storedContents(root, stored);
  expect(contents.map((c) => c.length)).toEqual(whole.attachments.map((a) => a.content.length));
  contents.forEach((content, i) => expect(content.equals(whole.attachments[i]!.content)).toBe(true));
  for (const a of stored.attachments) expect(a.content.length).toBe(0);
}

/** A sink that keeps what it is given, for the walk alone. */
function memorySinks(): { sink: () => PartSink<Buffer>; written: Buffer[] } {
  const written: Buffer[] = [];
  return {
    written,
    sink: () => {
      const pieces: Buffer[] = [];
      return {
        write: (bytes) => void pieces.push(Buffer.from(bytes)),
        finish: () => {
          const all = Buffer.concat(pieces);
          written.push(all);
          return all;
        },
        abort: () => undefined,
      };
    },
  };
}

function* inPieces(raw: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < raw.length; at += size) yield raw.subarray(at, at + size);
}

const nested = (image: Buffer, file: Buffer): Buffer =>
  crlf(
    'From: Ana <ana@example.com>',
    'To: bia@example.com',
    'Subject: =?utf-8?q?proposta_reuni=C3=A3o?=',
    'Message-ID: <nested@example.com>',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="outer"',
    '',
    'preamble',
    '--outer',
    'Content-Type: multipart/related; boundary=rel',
    '',
    '--rel',
    'Content-Type: multipart/alternative; boundary="alt"',
    '',
    '--alt',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'Ol=C3=A1, segue a proposta.',
    '--alt',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<p>Olá, <img src="cid:logo@x"> segue a proposta.</p>',
    '--alt--',
    '--rel',
    'Content-Type: image/png',
    'Content-ID: <logo@x>',
    'Content-Disposition: inline',
    'Content-Transfer-Encoding: base64',
    '',
    base64Lines(image),
    '--rel--',
    '--outer',
    'Content-Type: application/pdf;',
    ' name="=?utf-8?q?proposta_comercial.pdf?="',
    "Content-Disposition: attachment; filename*=utf-8''proposta%20final.pdf",
    'Content-Transfer-Encoding: BASE64 (a comment)',
    '',
    base64Lines(file),
    '--outer--   ',
    'epilogue',
    '',
  );

describe('extractLargeParts', () => {
  it('takes a big base64 attachment out, decoded, and leaves one token line and everything else in place', () => {
    const file = randomBytes(3 * 1024 * 1024);
    const raw = Buffer.from(
      makeMessage({
        from: 'a@example.com',
        to: ['b@example.com'],
        subject: 'Big',
        attachment: { filename: 'big.bin', contentType: 'application/octet-stream', content: file },
      }),
    );
    const sinks = memorySinks();
    const token = Buffer.from('the-token');
    const extraction = extractLargeParts(inPieces(raw, 100_000), {
      minBytes: 256 * 1024,
      maxDepth: 50,
      maxHeaderBytes: 1024 * 1024,
      token: () => token,
      sink: sinks.sink,
    });
    expect(extraction.parts).toHaveLength(1);
    expect(sinks.written).toHaveLength(1);
    expect(sinks.written[0]!.equals(file)).toBe(true);
    expect(extraction.message.length).toBeLessThan(2_000);
    const text = extraction.message.toString('latin1');
    expect(text).toContain('Subject: Big');
    expect(text).toContain('Content-Disposition: attachment; filename="big.bin"');
    expect(text).toContain(`\r\n\r\n${token.toString('base64')}\r\n--`);
    // Everything but the attachment's body is byte for byte the message's.
    const body = raw.toString('latin1');
    const encoded = base64Lines(file);
    expect(text.replace(`${token.toString('base64')}\r\n`, `${encoded}\r\n`)).toBe(body);
  });

  it('keeps text, messages, non-base64 parts and attachments under the threshold in the message', () => {
    const small = randomBytes(1000);
    const raw = crlf(
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(randomBytes(5000)),
      '--b',
      'Content-Type: message/rfc822',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(randomBytes(5000)),
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'x'.repeat(5000),
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(small),
      '--b--',
      '',
    );
    const sinks = memorySinks();
    const extraction = extractLargeParts(inPieces(raw, 777), {
      minBytes: 2000,
      maxDepth: 50,
      maxHeaderBytes: 1024 * 1024,
      token: () => Buffer.from('t'),
      sink: sinks.sink,
    });
    expect(extraction.parts).toHaveLength(0);
    expect(extraction.message.equals(raw)).toBe(true);
  });
});

describe('parseStoredMessage gives what parseMessage gives', () => {
  it('nested multiparts: an inline image by Content-ID, an attachment with an RFC 2231 name, a preamble and epilogue', async () => {
    await expectSameAsWhole(nested(randomBytes(40_000), randomBytes(300_000)));
    await expectSameAsWhole(nested(randomBytes(40_000), randomBytes(300_000)), 256 * 1024);
  });

  it('base64 of every odd shape: padded lines, garbage characters, 8-bit bytes, one 3 MB line, LF and CR CR LF endings', async () => {
    const padded = [randomBytes(1000), randomBytes(1001), randomBytes(1002)];
    const shapes = [
      // Each line a base64 unit of its own, padded: "=" ends a unit mid-part.
      padded.map((piece) => piece.toString('base64')).join('\r\n'),
      // Characters outside the alphabet and bytes over 0x7f between the base64.
      base64Lines(randomBytes(20_000), 60).replace(/A/g, 'A!é*'),
      // No line breaks at all: pieces of a line longer than the walk's line limit, across file reads.
      randomBytes(2_300_000).toString('base64'),
      // A unit cut short: a lone last character carries no byte.
      `${randomBytes(3000).toString('base64')}Q`,
    ];
    for (const body of shapes) {
      for (const ending of ['\r\n', '\n', '\r\r\n']) {
        const raw = Buffer.from(
          [
            'From: a@example.com',
            'Subject: shapes',
            'Content-Type: multipart/mixed; boundary="b b"',
            '',
            '--b b',
            'Content-Type: text/plain',
            '',
            'hello',
            '--b b',
            'Content-Type: application/octet-stream; name=x.bin',
            'Content-Transfer-Encoding: base64',
            '',
            body.replace(/\r\n/g, ending),
            '--b b--',
            '',
          ].join(ending),
          'latin1',
        );
        await expectSameAsWhole(raw);
      }
    }
  });

  it('a part that never closes, a single-part message, a message/rfc822 attachment and deep nesting', async () => {
    const file = randomBytes(50_000);
    await expectSameAsWhole(
      crlf(
        'Subject: unclosed',
        'Content-Type: multipart/mixed; boundary=b',
        '',
        '--b',
        'Content-Type: image/jpeg',
        'Content-Transfer-Encoding: base64',
        '',
        base64Lines(file),
      ),
    );
    await expectSameAsWhole(
      crlf(
        'Subject: whole',
        'Content-Type: application/pdf',
        'Content-Transfer-Encoding: base64',
        '',
        base64Lines(file),
      ),
    );
    const inner = makeMessage({
      from: 'c@example.com',
      to: ['d@example.com'],
      subject: 'Inner',
      attachment: { filename: 'inner.bin', contentType: 'application/octet-stream', content: file },
    });
    await expectSameAsWhole(
      crlf(
        'Subject: forward',
        'Content-Type: multipart/mixed; boundary=o',
        '',
        '--o',
        'Content-Type: message/rfc822',
        '',
        inner,
        '--o--',
      ),
    );
    let deep = `Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Lines(file)}\r\n`;
    for (let i = 0; i < 60; i++)
      deep = `Content-Type: multipart/mixed; boundary=d${i}\r\n\r\n--d${i}\r\n${deep}--d${i}--\r\n`;
    await expectSameAsWhole(Buffer.from(`Subject: deep\r\n${deep}`));
  });

  it('a boundary written as RFC 2231 continuations (which the walk does not follow): nothing extracted, same result', async () => {
    const root = blobRoot();
    const raw = crlf(
      'Subject: continued',
      'Content-Type: multipart/mixed; boundary*0="abc"; boundary*1="def"',
      '',
      '--abcdef',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(randomBytes(30_000)),
      '--abcdef--',
    );
    await expectSameAsWhole(raw);
    const stored = await fromFile(root, raw, 1);
    expect(stored.attachments).toHaveLength(1);
    const walk = extractLargeParts([raw], {
      minBytes: 1,
      maxDepth: 50,
      maxHeaderBytes: 1024 * 1024,
      token: () => Buffer.from('t'),
      sink: memorySinks().sink,
    });
    expect(walk.parts).toEqual([]);
    expect(walk.message.equals(raw)).toBe(true);
  });

  it.skipIf(!corpusExists)('every message of the corpus, with every base64 attachment extracted', async () => {
    const files = readdirSync(emlDir).filter((f) => f.endsWith('.eml'));
    expect(files.length).toBeGreaterThan(0);
    let attachments = 0;
    let extracted = 0;
    const disagreed: string[] = [];
    for (const name of files.sort()) {
      const raw = readFileSync(path.join(emlDir, name));
      attachments += (await parseMessage(Buffer.from(raw))).attachments.length;
      await expectSameAsWhole(raw);
      // The walk and the parser agree on every real message: each extracted part comes back as its token (so none of
      // these was parsed whole as a fallback).
      const walk = extractLargeParts([raw], {
        minBytes: 1,
        maxDepth: 50,
        maxHeaderBytes: 1024 * 1024,
        token: (i) => Buffer.from(`token-${i}-of-${name}`),
        sink: memorySinks().sink,
      });
      const contents = new Set((await parseMessage(walk.message)).attachments.map((a) => a.content.toString('latin1')));
      if (walk.parts.some((part) => !contents.has(part.token.toString('latin1')))) disagreed.push(name);
      extracted += walk.parts.length;
    }
    console.info(
      `[corpus] ${files.length} messages, ${attachments} attachments (${extracted} extracted): parsed from files as whole`,
    );
    expect(extracted).toBeGreaterThan(10);
    expect(disagreed).toEqual([]);
  });
});

describe('parseStoredMessage against hostile mail', () => {
  it("an attachment that spells a token is stored as its own bytes: the real token's nonce is never in the message", async () => {
    const root = blobRoot();
    const fake = Buffer.from(`conversa-extracted-part-${'0'.repeat(32)}-0`, 'latin1');
    const raw = crlf(
      'Subject: forged',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      fake.toString('base64'),
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(randomBytes(10_000)),
      '--b--',
    );
    await expectSameAsWhole(raw);
    const stored = await fromFile(root, raw, 1);
    expect(storedContents(root, stored)[0]!.equals(fake)).toBe(true);
  });

  it('when the walk and the parser disagree the whole file is parsed instead (the extracted blob left for collection)', async () => {
    // postal-mime counts header bytes over the whole message, the walk per part: with a 2,000-byte limit the parser
    // gives up on the body after the walk has extracted both attachments, so neither comes back as its token.
    const raw = crlf(
      'Subject: disagree',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      ...Array.from({ length: 12 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(100)}`),
      '',
      base64Lines(randomBytes(10_000)),
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      ...Array.from({ length: 12 }, (_, i) => `X-Filler-${i}: ${'y'.repeat(100)}`),
      '',
      base64Lines(randomBytes(10_000)),
      '--b--',
    );
    const limits = { maxHeadersSize: 2000 };
    const whole = await parseMessage(Buffer.from(raw), limits);
    expect(whole.parseError).toMatch(/header size/i);
    await expectSameAsWhole(raw, 1, limits);
    const root = blobRoot();
    const before = blobFiles(root);
    await fromFile(root, raw, 1, limits);
    // The raw message, and the two attachments the walk wrote before the parser failed: referenced by nothing.
    expect(blobFiles(root).length - before.length).toBe(3);
  });

  it('a message over maxBytes: its headers only, its size and its raw blob, without reading the rest', async () => {
    const root = blobRoot();
    const raw = Buffer.from(
      makeMessage({
        from: 'Big <big@example.com>',
        to: ['b@example.com'],
        subject: 'Too big',
        attachment: { filename: 'a.bin', contentType: 'application/octet-stream', content: randomBytes(200_000) },
      }),
    );
    const stored = await fromFile(root, raw, 1, { maxBytes: 100_000 });
    expect(stored).toMatchObject({ subject: 'Too big', size: raw.length, attachments: [], text: null });
    expect(stored.from).toEqual({ address: 'big@example.com', name: 'Big' });
    expect(stored.parseError).toMatch(/over the 100000 byte limit/);
    expect(stored.blobs).toEqual({
      raw: { sha256: createHash('sha256').update(raw).digest('hex'), size: raw.length },
      attachments: [],
    });
  });

  it('a blob that cannot be written is a file error, thrown, and leaves no temp file behind', async () => {
    const root = blobRoot();
    const ref = storedMessageWithBlockedWrites(root, 5000);
    const failed = await parseStoredMessage(
      ref,
      { root },
      {
        limits: resolveLimits({}),
        options: {},
        mode: 'full',
        storing: () => undefined,
        extractFromBytes: 1,
      },
    ).catch((error: unknown) => error);
    expect(isFileError(failed)).toBe(true);
    expect(blobFiles(root).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

function blobFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(full);
    }
  };
  mkdirSync(root, { recursive: true });
  walk(root);
  return out;
}
