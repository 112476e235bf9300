// The rules a new password must meet (setup, accepting an invitation, changing one's password): long enough and
// not one of the passwords attackers try first. Messages are plain English for the API; the web app shows its own
// texts in both languages, keyed by `rule`.
import { AppError } from '../core/app-error.js';
import { COMMON_PASSWORDS } from './common-passwords.js';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

export type PasswordProblem = 'too-short' | 'too-long' | 'too-common' | 'same-as-email';

/** What is wrong with the password, or null when it may be used. */
export function passwordProblem(password: string, email?: string): PasswordProblem | null {
  if ([...password].length < MIN_PASSWORD_LENGTH) return 'too-short';
  if (password.length > MAX_PASSWORD_LENGTH) return 'too-long';
  const lower = password.toLowerCase();
  // "Password2027!" is "password" with decorations attackers try too: strip trailing digits and symbols.
  const stem = lower.replace(/[\d\W_]+$/u, '');
  if (COMMON_PASSWORDS.has(lower) || COMMON_PASSWORDS.has(stem) || /^(.)\1*$/u.test(password)) return 'too-common';
  if (email) {
    const address = email.trim().toLowerCase();
    if (lower === address || lower === address.split('@')[0]) return 'same-as-email';
  }
  return null;
}

const MESSAGES: Record<PasswordProblem, string> = {
  'too-short': `at least ${MIN_PASSWORD_LENGTH} characters`,
  'too-long': `at most ${MAX_PASSWORD_LENGTH} characters`,
  'too-common': 'this password is one of the most common ones, which are guessed first; choose another',
  'same-as-email': 'the password must not be your e-mail address',
};

/** Throws 422 VALIDATION_FAILED naming the field (and the rule, for the web app's own texts) when the password fails. */
export function assertPasswordAllowed(password: string, options: { field?: string; email?: string } = {}): void {
  const problem = passwordProblem(password, options.email);
  if (!problem) return;
  const field = options.field ?? 'password';
  throw new AppError('VALIDATION_FAILED', `The password is not allowed: ${MESSAGES[problem]}`, {
    fields: [{ path: field, message: MESSAGES[problem] }],
    details: { rule: problem },
  });
}
