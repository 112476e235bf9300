// Is an answer an auto-reply (out of office, vacation)? RFC 3834 Auto-Submitted (anything but "no"), the
// de-facto X-Autoreply / X-Autorespond / Precedence: auto_reply headers, and subject patterns in English and
// Brazilian Portuguese. Only the message's top header block is read (from its stored raw bytes).

const SUBJECT =
  /\b(?:out of (?:the )?office|automatic reply|auto[- ]?reply|autoreply|resposta autom[aá]tica|ausente|fora do escrit[oó]rio|f[eé]rias)\b/iu;

/** The unfolded top-level header fields of a raw message, lower-cased names. */
export function headerFields(raw: Buffer): Map<string, string[]> {
  const text = raw.subarray(0, 64 * 1024).toString('latin1');
  const end = text.search(/\r?\n\r?\n/);
  const block = (end < 0 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const out = new Map<string, string[]>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const list = out.get(name) ?? [];
    list.push(line.slice(colon + 1).trim());
    out.set(name, list);
  }
  return out;
}

export function isAutoReply(headers: Map<string, string[]>, subject: string | null): boolean {
  const first = (name: string) => headers.get(name) ?? [];
  if (first('auto-submitted').some((v) => v.split(/[;(]/)[0]!.trim().toLowerCase() !== 'no')) return true;
  if (first('x-autoreply').length > 0 || first('x-autorespond').length > 0) return true;
  if (first('precedence').some((v) => /^auto[_-]reply$/i.test(v.trim()))) return true;
  return SUBJECT.test(subject ?? '');
}
