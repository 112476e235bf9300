// Charset helpers shared by the message parser and the bounce reader: one cache of TextDecoders by label, the
// ASCII test that lets most text skip decoding, and the windows-1252 repair of Node's Latin-1 decoding.
import { TextDecoder } from 'node:util';

const decoders = new Map<string, TextDecoder | null>();

/** The TextDecoder of a charset label (trimmed, any case), cached; null for a label Node does not know. */
export function decoderFor(label: string | null | undefined): TextDecoder | null {
  if (!label) return null;
  const key = label.trim().toLowerCase();
  let decoder = decoders.get(key);
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(key);
    } catch {
      decoder = null;
    }
    decoders.set(key, decoder);
  }
  return decoder;
}

export function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 0x7f) return false;
  return true;
}

// Node 20's TextDecoder reads the whole windows-1252 family (windows-1252, iso-8859-1, latin1, us-ascii) as
// ISO-8859-1: bytes 0x80-0x9F come out as C1 controls instead of € ‚ „ … ‘ ’ “ ” – — ™ (Outlook's smart quotes).
// postal-mime decodes with TextDecoder too. The WHATWG mapping is restored on every string we return; C1
// controls have no business in mail text, and on a fixed Node this finds nothing to do.
const CP1252_C1 = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';

export function fixC1(text: string): string;
export function fixC1(text: string | null): string | null;
export function fixC1(text: string | null): string | null {
  if (text === null || !/[\u0080-\u009f]/.test(text)) return text;
  return text.replace(/[\u0080-\u009f]/g, (c) => CP1252_C1[c.charCodeAt(0) - 0x80]!);
}
