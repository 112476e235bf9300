// The pool runs real worker threads. Under vitest this module is loaded from .ts sources, so each worker
// registers tsx before loading parse-worker.ts (see parse-pool.ts); the compiled dist/ starts parse-worker.js
// directly. Everything else — transfer, time limits, crash recovery, queueing — is the production code path.
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/mail/mime/parse-message.js';
import { createParsePool, type ParsePool } from '../../src/mail/mime/parse-pool.js';
import { createBlobStore } from '../../src/storage/blob-store.js';
import { storedMessageWithBlockedWrites } from '../support/blocked-blob-writes.js';
import { makeMessage } from '../support/make-message.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const emlDir = path.resolve(repoRoot, '..', 'shared', 'corpus', 'eml');
const corpusExists = existsSync(emlDir);
if (!corpusExists) console.warn(`[parse-pool] corpus not found at ${emlDir}: using hand-made messages only`);

function eml(...lines: string[]): Buffer {
  return Buffer.from(lines.join('\r\n'), 'utf8');
}

const HAND_MADE: Array<[string, Buffer]> = [
  ['plain', eml('From: a@example.com', 'To: b@example.com', 'Subject: hi', 'Message-ID: <1@example.com>', '', 'hello')],
  [
    'attachment',
    eml(
      'From: a@example.com',
      'Subject: file',
      'Content-Type: multipart/mixed; boundary=b',
      '',
      '--b',
      'Content-Type: text/plain',
      '',
      'see attached',
      '--b',
      'Content-Type: application/octet-stream',
      'Content-Disposition: attachment; filename="data.bin"',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.alloc(20_000, 7).toString('base64'),
      '--b--',
    ),
  ],
];

function samples(): Array<[string, Buffer]> {
  if (!corpusExists) return HAND_MADE;
  const files = readdirSync(emlDir)
    .filter((f) => f.endsWith('.eml'))
    .sort();
  return [...HAND_MADE, ...files.map((f): [string, Buffer] => [f, readFileSync(path.join(emlDir, f))])];
}

/** Many empty MIME parts: seconds of parsing and hundreds of MB of heap once the part limit is lifted. */
function partBomb(parts: number): Buffer {
  return Buffer.from(
    'From: a@example.com\r\nSubject: poison\r\nMessage-ID: <poison@example.com>\r\n' +
      `Content-Type: multipart/mixed; boundary=b\r\n\r\n${'--b\r\n\r\nx\r\n'.repeat(parts)}--b--\r\n`,
  );
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

const scratchDirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'conversa-parse-pool-'));
  scratchDirs.push(dir);
  return dir;
}

const pools: ParsePool[] = [];
function pool(...args: Parameters<typeof createParsePool>): ParsePool {
  const p = createParsePool(...args);
  pools.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
});

describe('createParsePool', () => {
  it('parses in parallel with exactly the results of parseMessage, leaving the caller its buffers', async () => {
    const p = pool({ size: 2 });
    const all = samples();
    const copies = all.map(([, raw]) => Buffer.from(raw));
    const t0 = performance.now();
    const fromPool = await Promise.all(all.map(([, raw]) => p.parse(raw)));
    console.info(`[parse-pool] ${all.length} messages through 2 workers in ${Math.round(performance.now() - t0)} ms`);
    for (const [i, [name, raw]] of all.entries()) {
      expect(raw.equals(copies[i]!), `${name}: caller's buffer changed`).toBe(true);
      const inThread = await parseMessage(raw);
      expect(fromPool[i], name).toEqual(inThread);
      for (const a of fromPool[i]!.attachments) expect(Buffer.isBuffer(a.content)).toBe(true);
    }
    expect(p.stats()).toMatchObject({ busy: 0, queued: 0 });
  });

  it('accepts slices of a shared buffer (pool slabs, large read buffers) without sending the rest', async () => {
    const p = pool({ size: 1 });
    const one = eml('Subject: first', '', 'one');
    const two = eml('Subject: second', '', 'two');
    const big = Buffer.concat([one, Buffer.alloc(5_000_000), two]);
    const [a, b] = await Promise.all([
      p.parse(big.subarray(0, one.length)),
      p.parse(big.subarray(big.length - two.length)),
    ]);
    expect(a.subject).toBe('first');
    expect(b.subject).toBe('second');
    expect(a.size).toBe(one.length);
  });

  it('writes the raw message and its attachments to the blob files when asked (storeBlobs), sending back refs', async () => {
    const root = path.join(scratch(), 'blobs');
    const p = pool({ size: 1, blobFiles: { root } });
    const raw = HAND_MADE[1]![1];
    const files = createBlobStore(root);
    const stored = await p.parse(raw, { storeBlobs: true });
    expect(stored.blobs?.raw).toEqual({ sha256: sha256(raw), size: raw.length });
    expect((await files.get(stored.blobs!.raw.sha256)).equals(raw)).toBe(true);
    expect(stored.blobs?.attachments).toEqual([{ sha256: sha256(Buffer.alloc(20_000, 7)), size: 20_000 }]);
    expect((await files.get(stored.blobs!.attachments[0]!.sha256)).equals(Buffer.alloc(20_000, 7))).toBe(true);
    expect((statSync(files.path(stored.blobs!.raw.sha256)).mode & 0o777).toString(8)).toBe('600');
    expect((statSync(path.dirname(files.path(stored.blobs!.raw.sha256))).mode & 0o777).toString(8)).toBe('700');
    // The bytes stay in the worker: everything else is what parseMessage gives.
    expect(stored.attachments[0]!.content.length).toBe(0);
    const { blobs: _refs, ...rest } = stored;
    const inThread = await parseMessage(raw);
    expect({ ...rest, attachments: rest.attachments.map((a) => ({ ...a, content: null })) }).toEqual({
      ...inThread,
      attachments: inThread.attachments.map((a) => ({ ...a, content: null })),
    });
    // Not asked: nothing written, the attachments come back.
    const other = eml('Subject: not stored', 'Message-ID: <other@example.com>', '', 'x');
    const plain = await p.parse(other);
    expect(plain.blobs).toBeUndefined();
    expect(await files.has(sha256(other))).toBe(false);
    expect((await p.parse(raw)).attachments[0]!.content.equals(Buffer.alloc(20_000, 7))).toBe(true);
  });

  it('leaves the blobs to the caller when it cannot write them, and parses all the same', async () => {
    const root = path.join(scratch(), 'a-file');
    writeFileSync(root, 'in the way');
    const p = pool({ size: 1, blobFiles: { root } });
    const result = await p.parse(HAND_MADE[1]![1], { storeBlobs: true });
    expect(result.blobs).toBeUndefined();
    expect(result.parseError).toBeNull();
    expect(result.attachments[0]!.content.equals(Buffer.alloc(20_000, 7))).toBe(true);
  });

  it('times the parse alone when storing blobs: a poisoned message still stops at the limit, its source stored', async () => {
    const root = path.join(scratch(), 'blobs');
    const p = pool({ size: 1, timeoutMs: 500, limits: { maxParts: 10_000_000 }, blobFiles: { root } });
    const bomb = partBomb(300_000);
    const [poisoned, after] = await Promise.all([
      p.parse(bomb, { storeBlobs: true }),
      p.parse(HAND_MADE[1]![1], { storeBlobs: true }),
    ]);
    expect(poisoned.parseError).toMatch(/longer than 500 ms/);
    // Its headers-only retry stored the source: the message keeps its raw bytes.
    expect(poisoned.blobs).toEqual({ raw: { sha256: sha256(bomb), size: bomb.length }, attachments: [] });
    expect(await createBlobStore(root).has(sha256(bomb))).toBe(true);
    expect(after.parseError).toBeNull();
    expect(after.blobs?.attachments).toHaveLength(1);
  });

  it('a big download: written to a blob file piece by piece, parsed from there, its attachment decoded into a blob', async () => {
    const root = path.join(scratch(), 'blobs');
    const p = pool({ size: 1, blobFiles: { root } });
    expect(pool({ size: 1 }).downloads).toBeNull();
    const file = randomBytes(3 * 1024 * 1024);
    const raw = Buffer.from(
      makeMessage({
        from: 'Ana <ana@example.com>',
        to: ['bia@example.com'],
        subject: 'Big download',
        attachment: { filename: 'big.bin', contentType: 'application/octet-stream', content: file },
      }),
    );
    async function* pieces(): AsyncGenerator<Buffer> {
      for (let at = 0; at < raw.length; at += 65_536) yield raw.subarray(at, at + 65_536);
    }
    const download = await p.downloads!.store(pieces());
    const ref = download.ref;
    expect(download).toEqual({ ref: { sha256: sha256(raw), size: raw.length }, files: { root } });
    const stored = await p.downloads!.parse(download);
    const files = createBlobStore(root);
    expect(stored).toMatchObject({ subject: 'Big download', size: raw.length, parseError: null });
    expect(stored.blobs).toEqual({ raw: ref, attachments: [{ sha256: sha256(file), size: file.length }] });
    expect(stored.attachments).toMatchObject([{ filename: 'big.bin', size: file.length }]);
    expect((await files.get(sha256(file))).equals(file)).toBe(true);
    expect((statSync(files.path(sha256(file))).mode & 0o777).toString(8)).toBe('600');
    // A failed download leaves nothing: no blob, no temp file.
    const failing = (async function* () {
      yield raw.subarray(0, 1000);
      throw new Error('connection lost');
    })();
    await expect(p.downloads!.store(failing)).rejects.toThrow(/connection lost/);
    const aborted = new AbortController();
    const endless = (async function* () {
      for (;;) {
        yield raw.subarray(0, 1000);
        aborted.abort(new Error('sync stopped'));
      }
    })();
    await expect(p.downloads!.store(endless, aborted.signal)).rejects.toThrow(/sync stopped/);
    expect(readdirSync(path.join(root, '00', '00'))).toEqual([]);
  });

  it('fails a stored message whose attachment cannot be written (a full disk): it is synced again, not stored without it', async () => {
    const root = path.join(scratch(), 'blobs');
    const p = pool({ size: 1, blobFiles: { root } });
    mkdirSync(root, { recursive: true });
    const ref = storedMessageWithBlockedWrites(root, 300_000);
    await expect(p.downloads!.parse({ ref, files: { root } })).rejects.toThrow(/could not be stored/);
    // The pool carries on.
    expect((await p.parse(eml('Subject: next', '', 'x'))).subject).toBe('next');
  });

  it('replaces a worker that runs past the time limit; that message gets a parseError and headers, the rest go on', async () => {
    const p = pool({ size: 1, timeoutMs: 500, limits: { maxParts: 10_000_000 } });
    const t0 = performance.now();
    const [poisoned, after] = await Promise.all([
      p.parse(partBomb(300_000)),
      p.parse(eml('Subject: next in line', '', 'fine')),
    ]);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(poisoned.parseError).toMatch(/longer than 500 ms/);
    expect(poisoned.subject).toBe('poison');
    expect(poisoned.messageId).toBe('poison@example.com');
    expect(poisoned.text).toBeNull();
    expect(after.subject).toBe('next in line');
    expect(after.parseError).toBeNull();
    expect((await p.parse(eml('Subject: later', '', 'x'))).subject).toBe('later');
  });

  it('replaces a worker that crashes (out of memory); that message gets a parseError and headers, the rest go on', async () => {
    const p = pool({
      size: 1,
      timeoutMs: 20_000,
      resourceLimits: { maxOldGenerationSizeMb: 24 },
      limits: { maxParts: 10_000_000 },
    });
    const [crashed, after] = await Promise.all([
      p.parse(partBomb(300_000)),
      p.parse(eml('Subject: survivor', '', 'ok')),
    ]);
    expect(crashed.parseError).toMatch(/crashed: out of memory: the message needs more than the worker's 24 MB heap/);
    expect(crashed.subject).toBe('poison');
    expect(after.subject).toBe('survivor');
    expect(after.parseError).toBeNull();
  });

  it('calls workerOnline once per worker it starts, the replacement of a crashed one included', async () => {
    let started = 0;
    const p = pool({
      size: 1,
      timeoutMs: 20_000,
      resourceLimits: { maxOldGenerationSizeMb: 24 },
      limits: { maxParts: 10_000_000 },
      workerOnline: () => started++,
    });
    expect(started).toBe(0);
    await p.parse(eml('Subject: one', '', 'x'));
    await p.parse(eml('Subject: two', '', 'x'));
    expect(started).toBe(1);
    expect((await p.parse(partBomb(300_000))).parseError).toMatch(/crashed: out of memory/);
    expect(started).toBe(2);
    expect((await p.parse(eml('Subject: after', '', 'x'))).subject).toBe('after');
    expect(started).toBe(2);
  });

  it('hands a worker many small messages at once, so it parses on while the main thread is busy', async () => {
    const p = pool({ size: 1 });
    const raws = Array.from({ length: 100 }, (_, i) =>
      eml(`Subject: s${i}`, `Message-ID: <s${i}@example.com>`, '', 'x'),
    );
    const running = raws.map((raw) => p.parse(raw));
    // All of them are the worker's at once (with only the next one in hand it idled through every long commit).
    expect(p.stats()).toMatchObject({ queued: 0, busy: 1 });
    const results = await Promise.all(running);
    expect(results.map((m) => m.subject)).toEqual(raws.map((_, i) => `s${i}`));
  });

  it('queues beyond its workers, signals back-pressure with ready(), and honours AbortSignal while queued', async () => {
    const p = pool({ size: 1, maxQueue: 2 });
    // 3 MB each: a worker is handed two (6 MB of its 8 MiB), the other three wait.
    const raws = Array.from({ length: 5 }, (_, i) => eml(`Subject: m${i}`, '', 'x'.repeat(3_000_000)));
    const controller = new AbortController();
    const running = raws.map((raw, i) => p.parse(raw, i === 4 ? { signal: controller.signal } : {}));
    expect(p.stats().queued).toBe(3);
    let ready = false;
    const readyPromise = p.ready().then(() => (ready = true));
    expect(ready).toBe(false);
    controller.abort(new Error('not needed any more'));
    await expect(running[4]).rejects.toThrow('not needed any more');
    const results = await Promise.all(running.slice(0, 4));
    expect(results.map((m) => m.subject)).toEqual(['m0', 'm1', 'm2', 'm3']);
    await readyPromise;
    expect(ready).toBe(true);
  });

  it('finishes submitted work on close() and refuses new work after it', async () => {
    const p = createParsePool({ size: 1 });
    const pending = p.parse(eml('Subject: last one', '', 'x'));
    await p.close();
    expect((await pending).subject).toBe('last one');
    await expect(p.parse(eml('Subject: too late', '', 'x'))).rejects.toThrow(/closed/);
    expect(p.stats().workers).toBe(0);
  });
});
