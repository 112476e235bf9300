// The body of POST /api/email-accounts for a user of the test Dovecot: provider "other", plain loopback IMAP
// and submission.
import type { Credentials, DovecotClientSide } from './servers.js';

export function dovecotAccountBody(
  dovecot: DovecotClientSide,
  creds: Credentials,
  extra: Record<string, unknown> = {},
) {
  return {
    provider: 'other',
    email: creds.user,
    password: creds.password,
    imap: { host: dovecot.host, port: dovecot.imapPort, secure: false },
    smtp: { host: dovecot.host, port: dovecot.submissionPort, secure: false },
    ...extra,
  };
}
