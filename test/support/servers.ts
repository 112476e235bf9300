// Per-test access to the servers started once by test/global-setup.ts: builds the client-side helpers
// (add users, change passwords, fill mailboxes, read the SMTP sink) from the info injected by vitest.

import { inject } from 'vitest';
import { dovecotFromInfo, type DovecotClientSide } from '../servers/dovecot.js';
import { radicaleFromInfo, type RadicaleClientSide } from '../servers/radicale.js';

export type { Credentials, DovecotClientSide, DovecotInfo, FillOptions, MailFlag } from '../servers/dovecot.js';
export type { RadicaleClientSide, RadicaleCredentials, RadicaleInfo } from '../servers/radicale.js';
export type { SinkMessage } from '../servers/smtp-sink.js';

/** The shared Dovecot (IMAP + submission + SMTP sink). Give each test its own user via addUser(). */
export function useDovecot(): DovecotClientSide {
  return dovecotFromInfo(inject('dovecot'));
}

/** The shared Radicale. Give each test its own user via addUser(). */
export function useRadicale(): RadicaleClientSide {
  return radicaleFromInfo(inject('radicale'));
}
