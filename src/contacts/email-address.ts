// What counts as an e-mail address in Conversa, and its one normal form: trimmed and lower-cased.
// Providers treat local parts case-insensitively in practice, and contract.md compares addresses so.

export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

// Deliberately permissive (real mail carries odd but valid local parts); rejects what cannot be an address.
const ADDRESS_RE = /^[^\s@<>(),;:"[\]\\]+@[^\s@<>(),;:"[\]\\]+$/;

export function isValidEmail(normalized: string): boolean {
  if (normalized.length > 254 || !ADDRESS_RE.test(normalized)) return false;
  const [local, domain] = normalized.split('@') as [string, string];
  if (local.length > 64) return false;
  return (
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    !domain.includes('..') &&
    !local.startsWith('.') &&
    !local.endsWith('.')
  );
}
