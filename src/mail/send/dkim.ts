// DKIM signing for mail that leaves through the application's own SMTP relay (mailbox servers sign their own).
// The expected path is nodemailer: pass the loaded config as the app transport's `dkim` option and every
// message (composed or `raw`) is signed while it streams out. signMessage signs bytes that never pass through
// nodemailer (a message handed to another relay as is). Keys: RSA only, since nodemailer signs rsa-sha256 only.
import { readFileSync } from 'node:fs';
import { createPrivateKey } from 'node:crypto';

import { ConfigError } from '../../core/config-error.js';

/** The shape of nodemailer's `dkim` transport option (DKIM.SingleKeyOptions), so it can be passed as is. */
export interface DkimConfig {
  /** d=: the domain the signature speaks for (DKIM_DOMAIN). */
  domainName: string;
  /** s=: the key is published at `<keySelector>._domainkey.<domainName>` (DKIM_SELECTOR). */
  keySelector: string;
  /** The RSA private key, PEM. */
  privateKey: string;
}

const LABELS = /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?$/;

/**
 * Reads DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY (PEM; `\n` escapes allowed, for one-line variables)
 * or DKIM_PRIVATE_KEY_FILE. None of them set: null (the relay sends unsigned). Some set, or a key that cannot
 * sign: ConfigError, so a half-done set-up stops the start rather than sending mail that fails DKIM.
 */
export function loadDkimConfig(env: NodeJS.ProcessEnv): DkimConfig | null {
  const value = (name: string, trim = true): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    return trim ? raw.trim() : raw;
  };
  const domain = value('DKIM_DOMAIN');
  const selector = value('DKIM_SELECTOR');
  // The PEM keeps its final line break: the key is passed on exactly as given.
  const inlineKey = value('DKIM_PRIVATE_KEY', false);
  const keyFile = value('DKIM_PRIVATE_KEY_FILE');
  if (domain === undefined && selector === undefined && inlineKey === undefined && keyFile === undefined) return null;

  const missing = [
    ...(domain === undefined ? ['DKIM_DOMAIN'] : []),
    ...(selector === undefined ? ['DKIM_SELECTOR'] : []),
    ...(inlineKey === undefined && keyFile === undefined ? ['DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE'] : []),
  ];
  if (missing.length > 0)
    throw new ConfigError(`DKIM signing is half set up: ${missing.join(', ')} missing (or unset them all)`);
  if (inlineKey !== undefined && keyFile !== undefined) {
    throw new ConfigError('Set DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE, not both');
  }
  const domainName = (domain as string).toLowerCase().replace(/\.$/, '');
  const keySelector = (selector as string).toLowerCase();
  if (!LABELS.test(domainName) || !domainName.includes('.'))
    throw new ConfigError(`DKIM_DOMAIN must be a domain name, got "${domain}"`);
  if (!LABELS.test(keySelector))
    throw new ConfigError(`DKIM_SELECTOR must be a DNS label like "conversa", got "${selector}"`);

  let privateKey: string;
  if (keyFile !== undefined) {
    try {
      privateKey = readFileSync(keyFile, 'utf8');
    } catch (error) {
      throw new ConfigError(`DKIM_PRIVATE_KEY_FILE cannot be read: ${keyFile}`, { cause: error });
    }
  } else {
    const key = inlineKey as string;
    privateKey = key.includes('\n') ? key : key.replace(/\\n/g, '\n');
  }
  checkSigningKey(privateKey, keyFile === undefined ? 'DKIM_PRIVATE_KEY' : 'DKIM_PRIVATE_KEY_FILE');
  return { domainName, keySelector, privateKey };
}

function checkSigningKey(pem: string, source: string): void {
  let key;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new ConfigError(`${source} is not a PEM private key`, { cause: error });
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new ConfigError(
      `${source} must be an RSA key (nodemailer signs rsa-sha256 only), got ${key.asymmetricKeyType ?? 'an unknown type'}`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 1024)
    throw new ConfigError(`${source} is a ${bits}-bit key; receivers reject DKIM keys under 1024 bits (use 2048)`);
}

/**
 * Returns `raw` with a DKIM-Signature header (rsa-sha256, relaxed/relaxed) in front. Rejects when mailauth
 * reports a signing error: an unsigned copy would go out looking signed to the caller.
 */
export async function signMessage(raw: Buffer, dkim: DkimConfig, options: { signTime?: Date } = {}): Promise<Buffer> {
  const signing = { signingDomain: dkim.domainName, selector: dkim.keySelector, privateKey: dkim.privateKey };
  // Loaded on the first signature: ~10 MB of heap that a process which never sends need not carry.
  const { dkimSign } = await import('mailauth');
  // mailauth reads the key from signatureData only; its typings also want the same fields at the top level.
  const result = await dkimSign(raw, {
    ...signing,
    canonicalization: 'relaxed/relaxed',
    algorithm: 'rsa-sha256',
    signTime: options.signTime ?? new Date(),
    signatureData: [signing],
  });
  if (result.errors.length > 0 || result.signatures.trim() === '') {
    throw new Error(`DKIM signing failed for ${dkim.domainName}`, { cause: result.errors[0] });
  }
  return Buffer.concat([Buffer.from(result.signatures, 'latin1'), raw]);
}
