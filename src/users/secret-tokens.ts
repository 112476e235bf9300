// Bearer tokens and session ids: 256 random bits, stored only as a SHA-256 digest. High-entropy secrets
// need no slow hash; a digest keeps a leaked database from yielding working credentials.
import { createHash, randomBytes } from 'node:crypto';

export function newSecretToken(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function digestToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
