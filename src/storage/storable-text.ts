// Text that both databases can hold. PostgreSQL refuses a NUL character in text ("invalid byte sequence for
// encoding UTF8: 0x00") and real-world mail carries them in headers, names and bodies; SQLite would keep them
// and make the two databases differ. Removed before storing, on both, so one message never fails a batch.

/** `value` without NUL characters (null stays null). */
export function storableText<T extends string | null | undefined>(value: T): T {
  if (typeof value !== 'string' || !value.includes('\u0000')) return value;
  return value.replace(/\u0000/g, '') as T;
}
