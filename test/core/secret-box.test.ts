import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/app/config.js';
import { loadSecretKey, SecretBox, SecretBoxError } from '../../src/core/secret-box.js';

function flipByte(sealed: string, partIndex: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[partIndex]!, 'base64url');
  bytes[0] = bytes[0]! ^ 0x01;
  parts[partIndex] = bytes.toString('base64url');
  return parts.join('.');
}

function openError(fn: () => unknown): SecretBoxError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SecretBoxError);
    return error as SecretBoxError;
  }
  throw new Error('expected open() to throw');
}

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));
  const secret = { password: 'correct horse battery staple', refreshToken: '1//0gAbCdEf-refresh' };

  it('round-trips JSON values, with and without associated data', () => {
    expect(box.open(box.seal(secret))).toEqual(secret);
    expect(box.open(box.seal(secret, 'acc_1'), 'acc_1')).toEqual(secret);
    expect(box.open<string>(box.seal('plain string'))).toBe('plain string');
    expect(box.open(box.seal(null))).toBeNull();
  });

  it('writes a versioned base64url string with a fresh IV each time', () => {
    const a = box.seal(secret);
    const b = box.seal(secret);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
  });

  it('does not contain the plaintext in any common encoding', () => {
    const sealed = box.seal(secret, 'acc_1');
    for (const value of [secret.password, secret.refreshToken, JSON.stringify(secret)]) {
      for (const encoding of ['utf8', 'base64', 'base64url', 'hex'] as const) {
        const encoded = Buffer.from(value).toString(encoding).replace(/=+$/, '');
        expect(sealed).not.toContain(encoded.slice(0, 12));
      }
    }
  });

  it('refuses a tampered ciphertext, tag or IV', () => {
    const sealed = box.seal(secret, 'acc_1');
    for (const part of [1, 2, 3]) {
      const error = openError(() => box.open(flipByte(sealed, part), 'acc_1'));
      expect(error.code).toBe('UNAUTHENTIC');
      expect(error.message).toMatch(/wrong key|altered/);
    }
  });

  it('refuses other associated data (a blob moved to another account)', () => {
    const sealed = box.seal(secret, 'acc_1');
    expect(openError(() => box.open(sealed, 'acc_2')).code).toBe('UNAUTHENTIC');
    expect(openError(() => box.open(sealed)).code).toBe('UNAUTHENTIC');
    expect(openError(() => box.open(box.seal(secret), 'acc_1')).code).toBe('UNAUTHENTIC');
  });

  it('refuses a blob sealed under another key', () => {
    const other = new SecretBox(randomBytes(32));
    expect(openError(() => other.open(box.seal(secret))).code).toBe('UNAUTHENTIC');
  });

  it('refuses malformed input clearly', () => {
    const sealed = box.seal(secret);
    for (const bad of [
      '',
      'not sealed',
      sealed.replace(/^v1/, 'v9'),
      sealed.split('.').slice(0, 3).join('.'),
      `${sealed}.x`,
      sealed.replace(/\.[^.]+\./, '.AAAA.'),
    ]) {
      expect(openError(() => box.open(bad)).code).toBe('MALFORMED');
    }
  });

  it('needs a 32-byte key', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32-byte key/);
  });
});

describe('loadSecretKey', () => {
  let dataDir: string;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'conversa-secret-key-'));
  });

  afterEach(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('creates $dataDir/secret.key once with mode 0600 and reuses it', () => {
    const dir = join(dataDir, 'nested', 'data');
    const first = loadSecretKey({ secretKey: null, dataDir: dir });
    expect(first).toHaveLength(32);
    const file = join(dir, 'secret.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(loadSecretKey({ secretKey: null, dataDir: dir }).equals(first)).toBe(true);
    // No temporary files left behind.
    expect(readdirSync(dir)).toEqual(['secret.key']);
    // What one process seals, the next start opens.
    const sealed = new SecretBox(first).seal('x', 'a');
    expect(new SecretBox(loadSecretKey({ secretKey: null, dataDir: dir })).open(sealed, 'a')).toBe('x');
  });

  it('lets CONVERSA_SECRET_KEY win over the key file, as hex or base64', () => {
    loadSecretKey({ secretKey: null, dataDir });
    const key = randomBytes(32);
    expect(loadSecretKey({ secretKey: key.toString('hex'), dataDir }).equals(key)).toBe(true);
    expect(loadSecretKey({ secretKey: key.toString('hex').toUpperCase(), dataDir }).equals(key)).toBe(true);
    expect(loadSecretKey({ secretKey: key.toString('base64'), dataDir }).equals(key)).toBe(true);
    expect(loadSecretKey({ secretKey: key.toString('base64url'), dataDir }).equals(key)).toBe(true);
    expect(loadSecretKey({ secretKey: ` ${key.toString('hex')}\n`, dataDir }).equals(key)).toBe(true);
  });

  it('does not create a key file when CONVERSA_SECRET_KEY is set', () => {
    loadSecretKey({ secretKey: randomBytes(32).toString('hex'), dataDir });
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it('refuses a key that is not 32 bytes in hex or base64, saying how to make one', () => {
    for (const bad of [
      'changeme',
      randomBytes(31).toString('hex'),
      `${randomBytes(32).toString('hex')}0`,
      randomBytes(24).toString('base64'),
    ]) {
      expect(() => loadSecretKey({ secretKey: bad, dataDir })).toThrow(ConfigError);
      expect(() => loadSecretKey({ secretKey: bad, dataDir })).toThrow(/CONVERSA_SECRET_KEY.*openssl rand -hex 32/);
    }
  });

  it('refuses a damaged key file instead of replacing it', () => {
    const file = join(dataDir, 'secret.key');
    writeFileSync(file, 'garbage\n', { mode: 0o600 });
    expect(() => loadSecretKey({ secretKey: null, dataDir })).toThrow(/secret\.key must be a 32-byte key/);
    expect(readFileSync(file, 'utf8')).toBe('garbage\n');
  });
});
