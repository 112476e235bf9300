// Seals small JSON secrets (mail passwords, OAuth tokens) with AES-256-GCM before they reach the database,
// and finds the key they are sealed with: CONVERSA_SECRET_KEY, or else a random key generated once into the
// data dir. Losing that key (e.g. restoring the database without it) makes every stored credential
// unreadable: the accounts must then be reconnected. Nothing here logs or returns key material.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './config-error.js';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const VERSION = 'v1';
export const SECRET_KEY_FILE = 'secret.key';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// 32 bytes are 43 base64 characters plus one padding '='; standard or URL alphabet.
const BASE64_KEY = /^(?:[A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})=?$/;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

const GENERATE_HINT = 'generate one with `openssl rand -hex 32`';

/**
 * Parses a 32-byte key written as 64 hex characters or as base64 (standard or URL-safe).
 *
 * Anything else is refused rather than stretched into a key with a KDF: a passphrase would give a key
 * only as strong as the passphrase, and a mistyped or truncated key would silently become a *different*
 * key — every stored credential would then fail to open much later, far from the cause. A clear error at
 * start-up is the kinder failure.
 */
export function parseSecretKey(text: string, source: string): Buffer {
  const value = text.trim();
  if (HEX_KEY.test(value)) return Buffer.from(value, 'hex');
  if (BASE64_KEY.test(value)) {
    const key = Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  throw new ConfigError(
    `${source} must be a 32-byte key written as 64 hex characters or as base64 (${GENERATE_HINT}); ` +
      `passphrases are not accepted`,
  );
}

function errnoCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error ? String((error as NodeJS.ErrnoException).code) : undefined;
}

function fsyncDir(dir: string): void {
  // Makes the new directory entry durable; not every platform lets a directory be opened, hence best effort.
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

/**
 * Creates `file` holding a fresh random key unless it exists, without ever exposing a half-written file:
 * the key is written and synced under a private temporary name, then hard-linked to its final name.
 * link() fails with EEXIST instead of replacing, so when two processes start at once exactly one key wins
 * and both read that one back.
 */
function createKeyFileOnce(dataDir: string, file: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const temp = join(dataDir, `.${SECRET_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(KEY_BYTES).toString('hex')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, file);
    fsyncDir(dataDir);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') {
      throw new ConfigError(
        `could not create the secret key file ${file} (${errnoCode(error) ?? String(error)}); ` +
          `make the data directory writable or set CONVERSA_SECRET_KEY (${GENERATE_HINT})`,
        { cause: error },
      );
    }
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      /* already gone */
    }
  }
}

/**
 * The key that seals stored credentials: CONVERSA_SECRET_KEY when set (it wins over any key file), else
 * `$dataDir/secret.key`, generated on first use (random 32 bytes as hex, mode 0600). An existing file that
 * does not hold a valid key is an error, never silently replaced: that would orphan every sealed secret.
 */
export function loadSecretKey(options: { secretKey?: string | null; dataDir: string }): Buffer {
  if (options.secretKey != null && options.secretKey.trim() !== '') {
    return parseSecretKey(options.secretKey, 'CONVERSA_SECRET_KEY');
  }
  const file = join(options.dataDir, SECRET_KEY_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') {
      throw new ConfigError(`could not read the secret key file ${file} (${errnoCode(error) ?? String(error)})`, {
        cause: error,
      });
    }
    createKeyFileOnce(options.dataDir, file);
    // Re-read instead of trusting what we wrote: another process may have won the race.
    text = readFileSync(file, 'utf8');
  }
  return parseSecretKey(text, file);
}

export type SecretBoxErrorCode =
  /** Not a sealed string of a version we know (truncated, corrupted outside the ciphertext, wrong column). */
  | 'MALFORMED'
  /** Authentication failed: another key, other associated data, or tampered with. */
  | 'UNAUTHENTIC';

export class SecretBoxError extends Error {
  readonly code: SecretBoxErrorCode;

  constructor(code: SecretBoxErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SecretBoxError';
    this.code = code;
  }
}

/**
 * Authenticated encryption of JSON values. Sealed form: `v1.<iv>.<tag>.<ciphertext>`, each part base64url,
 * a random 12-byte IV per seal (fine for far more than the 2^32 seals per key GCM allows with random IVs).
 * The optional associated data (e.g. the account id) is authenticated but not stored, so a blob copied to
 * another row fails to open there. The version is authenticated too, so a later format cannot be confused
 * with this one.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      throw new TypeError(`SecretBox needs a ${KEY_BYTES}-byte key`);
    }
    // A purpose-bound subkey, so the same master key can later key other things (signed state, …)
    // without one use ever weakening another.
    this.#key = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'conversa/secret-box/v1', KEY_BYTES));
  }

  seal(value: unknown, aad?: string): string {
    const json = JSON.stringify(value);
    if (json === undefined) throw new TypeError('SecretBox.seal: the value is not representable as JSON');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(associatedData(aad));
    const ciphertext = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  open<T>(sealed: string, aad?: string): T {
    const parts = typeof sealed === 'string' ? sealed.split('.') : [];
    const [version, ivText, tagText, ciphertextText] = parts;
    if (
      parts.length !== 4 ||
      version === undefined ||
      ivText === undefined ||
      tagText === undefined ||
      ciphertextText === undefined
    ) {
      throw new SecretBoxError('MALFORMED', 'cannot open sealed secret: not in the v1.<iv>.<tag>.<ciphertext> form');
    }
    if (version !== VERSION) {
      throw new SecretBoxError(
        'MALFORMED',
        `cannot open sealed secret: unknown format version "${version.slice(0, 10)}"`,
      );
    }
    if (![ivText, tagText, ciphertextText].every((part) => BASE64URL.test(part))) {
      throw new SecretBoxError('MALFORMED', 'cannot open sealed secret: a part is not base64url');
    }
    const iv = Buffer.from(ivText, 'base64url');
    const tag = Buffer.from(tagText, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
      throw new SecretBoxError('MALFORMED', 'cannot open sealed secret: IV or tag has the wrong length');
    }
    let plaintext: string;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(associatedData(aad));
      decipher.setAuthTag(tag);
      plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch (error) {
      throw new SecretBoxError(
        'UNAUTHENTIC',
        'cannot open sealed secret: wrong key, wrong associated data, or the data was altered',
        { cause: error },
      );
    }
    try {
      return JSON.parse(plaintext) as T;
    } catch (error) {
      // Authenticated yet not JSON: only possible if something else sealed it with our key.
      throw new SecretBoxError('MALFORMED', 'cannot open sealed secret: the content is not JSON', { cause: error });
    }
  }
}

function associatedData(aad: string | undefined): Buffer {
  return Buffer.from(`conversa-secret-box:${VERSION}\0${aad ?? ''}`, 'utf8');
}
