import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/core/app-error.js';
import {
  createBlobStore,
  isSha256,
  putBlobFileStream,
  putBlobFileSync,
  BlobFileWriter,
  type BlobStoreOptions,
  type FileBlobStore,
} from '../../src/storage/blob-store.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'conversa-blobs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * The store's own put(), and the parse worker's blocking twin (putBlobFileSync) behind the store's other methods:
 * both must give the same files, folders and modes.
 */
const WRITERS: Record<string, (dir: string, options: BlobStoreOptions) => FileBlobStore> = {
  put: createBlobStore,
  putBlobFileSync: (root, options) => ({
    ...createBlobStore(root, options),
    put: async (content) => putBlobFileSync(root, content, options),
  }),
  // A download written as it arrives (BlobFileWriter), in pieces of 1,000 bytes.
  putBlobFileStream: (root, options) => ({
    ...createBlobStore(root, options),
    put: (content) =>
      putBlobFileStream(
        root,
        (async function* () {
          for (let at = 0; at < content.length; at += 1000) yield content.subarray(at, at + 1000);
        })(),
        options,
      ),
  }),
};

for (const [writer, openStore] of Object.entries(WRITERS))
  for (const fsync of [false, true]) {
    describe(`${writer} (fsync: ${fsync})`, () => {
      it('stores content under dir/ab/cd/<sha256> and reads it back', async () => {
        const store = openStore(dir, { fsync });
        const content = Buffer.from('hello blob');
        const ref = await store.put(content);
        expect(ref).toEqual({ sha256: sha(content), size: content.length });
        const expected = path.join(dir, ref.sha256.slice(0, 2), ref.sha256.slice(2, 4), ref.sha256);
        expect(store.path(ref.sha256)).toBe(expected);
        expect(await listFiles(dir)).toEqual([path.relative(dir, expected)]);
        expect((await store.get(ref.sha256)).equals(content)).toBe(true);
        expect(await store.has(ref.sha256)).toBe(true);
      });

      it('makes its folders owner-only when a first blob needs them, and again after they were removed', async () => {
        const store = openStore(path.join(dir, 'store'), { fsync });
        const first = await store.put(Buffer.from('first'));
        const folder = path.dirname(store.path(first.sha256));
        for (const d of [path.join(dir, 'store'), path.dirname(folder), folder])
          expect((await stat(d)).mode & 0o777).toBe(0o700);
        expect((await stat(store.path(first.sha256))).mode & 0o777).toBe(0o600);
        // Someone removed the whole store meanwhile: the next new blob makes its folders again.
        await rm(path.join(dir, 'store'), { recursive: true });
        const second = await store.put(Buffer.from('second'));
        expect((await store.get(second.sha256)).toString()).toBe('second');
        expect((await stat(path.dirname(store.path(second.sha256)))).mode & 0o777).toBe(0o700);
      });

      it('is idempotent: the same content is not rewritten, only marked as written again (mtime)', async () => {
        const store = openStore(dir, { fsync });
        const content = Buffer.from('same bytes');
        const first = await store.put(content);
        const before = await stat(store.path(first.sha256));
        await new Promise((r) => setTimeout(r, 20));
        const second = await store.put(Buffer.from('same bytes'));
        const after = await stat(store.path(second.sha256));
        expect(second).toEqual(first);
        expect(after.ino).toBe(before.ino);
        // The grace period of collection counts from the last put (src/storage/collect-blobs.ts).
        expect(after.mtimeMs).toBeGreaterThan(before.mtimeMs);
      });

      it('handles concurrent puts of the same and of different content, leaving no temp files', async () => {
        const store = openStore(dir, { fsync });
        const contents = Array.from({ length: 20 }, (_, i) => Buffer.from(`blob ${i % 5}`));
        const refs = await Promise.all(contents.map((c) => store.put(c)));
        expect(new Set(refs.map((r) => r.sha256)).size).toBe(5);
        const files = await listFiles(dir);
        expect(files).toHaveLength(5);
        expect(files.some((f) => f.includes('.tmp-'))).toBe(false);
        for (const [i, ref] of refs.entries()) expect((await store.get(ref.sha256)).equals(contents[i]!)).toBe(true);
      });

      it('stores empty and large content', async () => {
        const store = openStore(dir, { fsync });
        const empty = await store.put(Buffer.alloc(0));
        expect(empty).toEqual({ sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', size: 0 });
        expect((await store.get(empty.sha256)).length).toBe(0);
        const large = Buffer.alloc(8 * 1024 * 1024, 0xab);
        const ref = await store.put(large);
        expect((await store.get(ref.sha256)).equals(large)).toBe(true);
      });
    });
  }

describe('createBlobStore: errors', () => {
  it('rejects anything that is not 64 lower-case hex digits, so no path escapes the store', async () => {
    const store = createBlobStore(dir);
    const bad = [
      '',
      '../../etc/passwd',
      `../${'a'.repeat(61)}`,
      'A'.repeat(64),
      'g'.repeat(64),
      'a'.repeat(63),
      'a'.repeat(65),
      `${'a'.repeat(64)}/`,
      `${'a'.repeat(62)}\0a`,
    ];
    for (const value of bad) {
      expect(isSha256(value)).toBe(false);
      expect(() => store.path(value)).toThrow(AppError);
      await expect(store.get(value)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
      await expect(store.has(value)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    expect(await listFiles(dir)).toEqual([]);
  });

  it('reports a missing blob as NOT_FOUND', async () => {
    const store = createBlobStore(dir);
    const missing = sha(Buffer.from('never stored'));
    expect(await store.has(missing)).toBe(false);
    await expect(store.get(missing)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // A stream is refused before any byte, and a name that is not a hash before any file is opened.
    await expect(store.stream!(missing)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(store.stream!('../'.repeat(10))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('streams a blob in pieces with its size; an aborted signal stops it', async () => {
    const store = createBlobStore(dir);
    const content = Buffer.alloc(300_000, 'ab');
    const ref = await store.put(content);
    const blob = await store.stream!(ref.sha256);
    expect(blob.size).toBe(content.length);
    const pieces: Buffer[] = [];
    for await (const piece of blob.content) pieces.push(piece as Buffer);
    expect(pieces.length).toBeGreaterThan(1);
    expect(Buffer.concat(pieces).equals(content)).toBe(true);
    await expect(store.stream!(ref.sha256, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('rewrites a blob whose file was damaged (wrong size)', async () => {
    const store = createBlobStore(dir);
    const content = Buffer.from('intact content');
    const ref = await store.put(content);
    await writeFile(store.path(ref.sha256), '');
    await store.put(content);
    expect((await store.get(ref.sha256)).equals(content)).toBe(true);
    await writeFile(store.path(ref.sha256), 'short');
    expect(putBlobFileSync(dir, content)).toEqual(ref);
    expect((await store.get(ref.sha256)).equals(content)).toBe(true);
  });

  it('putBlobFileSync throws when its folder cannot be made (a file in the way), leaving nothing behind', async () => {
    const root = path.join(dir, 'not-a-folder');
    await writeFile(root, 'x');
    expect(() => putBlobFileSync(root, Buffer.from('bytes'))).toThrow(/ENOTDIR|EEXIST/);
    expect(await listFiles(dir)).toEqual(['not-a-folder']);
  });

  it('honours an aborted signal', async () => {
    const store = createBlobStore(dir);
    const controller = new AbortController();
    controller.abort();
    await expect(store.put(Buffer.from('x'), { signal: controller.signal })).rejects.toThrow();
    expect(await listFiles(dir)).toEqual([]);
  });
});

describe('createBlobStore: what collection uses', () => {
  const past = (ms: number) => new Date(Date.now() - ms);

  it('entries() lists only blobs written before the cut-off and sweeps old leftovers, never fresh ones', async () => {
    const store = createBlobStore(dir);
    const old = await store.put(Buffer.from('old'));
    const fresh = await store.put(Buffer.from('fresh'));
    await utimes(store.path(old.sha256), past(60_000), past(60_000));
    const folder = path.dirname(store.path(old.sha256));
    const oldTemp = path.join(folder, `${old.sha256}.tmp-1-abc`);
    const freshTemp = path.join(folder, `${old.sha256}.gc-2-def`);
    await writeFile(oldTemp, 'half a blob');
    await utimes(oldTemp, past(60_000), past(60_000));
    await writeFile(freshTemp, 'a removal under way');
    await writeFile(path.join(dir, 'IMPORTED-INTO-DATABASE'), 'not a blob');
    const listed: string[] = [];
    for await (const name of store.entries({ writtenBefore: Date.now() - 30_000 })) listed.push(name);
    expect(listed).toEqual([old.sha256]);
    expect(listed).not.toContain(fresh.sha256);
    const left = await listFiles(dir);
    expect(left.some((f) => f.endsWith('.tmp-1-abc'))).toBe(false);
    expect(left.some((f) => f.endsWith('.gc-2-def'))).toBe(true);
  });

  it('a write in pieces cut short by a crash leaves a temp file that the sweep removes once old', async () => {
    const store = createBlobStore(dir);
    const crashed = new BlobFileWriter(dir);
    crashed.write(Buffer.from('the first piece of a download'));
    // The process dies here: neither finish() nor abort() runs.
    const [temp] = await listFiles(dir);
    expect(temp).toMatch(/^00\/00\/0{64}\.tmp-\d+-[0-9a-f]+$/);
    for await (const _ of store.entries({ writtenBefore: Date.now() - 30_000 })) expect.fail('nothing to list');
    expect(await listFiles(dir)).toEqual([temp]);
    await utimes(path.join(dir, temp!), past(60_000), past(60_000));
    for await (const _ of store.entries({ writtenBefore: Date.now() - 30_000 })) expect.fail('nothing to list');
    expect(await listFiles(dir)).toEqual([]);
    crashed.abort(); // this test's process lives on: its file descriptor is closed
  });

  it('remove() takes an old blob, backs off from a freshly written one, and a put afterwards writes it anew', async () => {
    const store = createBlobStore(dir);
    const ref = await store.put(Buffer.from('content'));
    const cutOff = Date.now() - 30_000;
    expect(await store.remove(ref.sha256, { writtenBefore: cutOff })).toBe(false);
    await utimes(store.path(ref.sha256), past(60_000), past(60_000));
    // Written again (intake, the same bytes arriving anew): its time is renewed, so removal backs off.
    await store.put(Buffer.from('content'));
    expect(await store.remove(ref.sha256, { writtenBefore: cutOff })).toBe(false);
    await utimes(store.path(ref.sha256), past(60_000), past(60_000));
    let alongside = 0;
    expect(
      await store.remove(ref.sha256, {
        writtenBefore: cutOff,
        alongside: () => {
          alongside++;
          return Promise.resolve();
        },
      }),
    ).toBe(true);
    expect(alongside).toBe(1);
    expect(await store.has(ref.sha256)).toBe(false);
    expect(await listFiles(dir)).toEqual([]);
    expect(await store.remove(ref.sha256, { writtenBefore: Date.now() })).toBe(false);
    await store.put(Buffer.from('content'));
    expect((await store.get(ref.sha256)).toString()).toBe('content');
  });
});
