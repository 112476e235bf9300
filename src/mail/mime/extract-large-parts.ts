// Takes the big attachments out of a message as it is read, so that a message with a 20 MB attachment is never whole
// in memory (issue 18: a first sync of such mail peaked at ~350 MB, its 27 MB source, the parse's copy and the
// decoded attachment three times over). A line-by-line walk of the MIME structure finds each base64 leaf part that is
// neither text nor a message and whose body runs past `minBytes`; its body is decoded straight into a sink (a blob
// file) and replaced, in the message handed on, by one line: a token of its own, base64-encoded. The parser then
// sees a small message of the same structure and headers (filename, type, Content-ID, disposition unchanged), and
// each extracted part comes back as an attachment whose content is its token.
//
// The walk follows postal-mime's rules where they decide what a part's body is (a boundary is "--" + the boundary of
// an open multipart, innermost first, optionally "--", then only spaces and tabs; base64 is decoded unit by unit, a
// run of "=" ending a unit). Where hostile input makes the two disagree, an extracted part's content is not exactly
// its token, and the caller (parse-stored-message.ts) parses the whole message instead: never a wrong attachment.
import { parseStructured } from './parse-message.js';

/** Where an extracted part's decoded bytes go. */
export interface PartSink<T> {
  write(bytes: Uint8Array): void;
  finish(): T;
  abort(): void;
}

export interface ExtractOptions<T> {
  /** A base64 body (as written, line breaks included) shorter than this stays in the message. */
  minBytes: number;
  /** Multipart nesting the walk follows; deeper parts stay in the message. */
  maxDepth: number;
  /** Header bytes of one part; a longer block ends the walk (the rest is copied as it is). */
  maxHeaderBytes: number;
  /** The token that stands for the `index`th extracted part: unguessable by the message's author. */
  token(index: number): Buffer;
  sink(): PartSink<T>;
}

export interface ExtractedPart<T> {
  token: Buffer;
  stored: T;
}

export interface Extraction<T> {
  /** The message with each extracted body replaced by its token's line. */
  message: Buffer;
  parts: Array<ExtractedPart<T>>;
}

// A longer line is handed on in pieces (it cannot be a boundary postal-mime would see, short of a boundary this long).
const MAX_LINE = 64 * 1024;
// Clean base64 characters decoded at once (a multiple of 4): the string made of them stays a young-generation object,
// freed by the next scavenge (a string of 128 KB or more goes to the large-object space until a full collection).
const DECODE_AT = 48 * 1024;
const BASE64_CHAR = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=') BASE64_CHAR[c.charCodeAt(0)] = 1;
const EQUALS = 0x3d;

/** base64 decoded as postal-mime does: non-alphabet bytes dropped, each run of "=" closing a unit. */
class Base64Stream {
  private readonly pending = Buffer.allocUnsafe(DECODE_AT);
  private length = 0;

  constructor(private readonly out: (bytes: Buffer) => void) {}

  write(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      if (BASE64_CHAR[c] !== 1) continue;
      if (c === EQUALS) {
        this.flush();
        continue;
      }
      this.pending[this.length++] = c;
      if (this.length === DECODE_AT) this.decode(DECODE_AT);
    }
  }

  /** The end of a unit: its last group decoded as postal-mime does (a lone last character carries no byte). */
  flush(): void {
    this.decode(this.length % 4 === 1 ? this.length - 1 : this.length);
    this.length = 0;
  }

  private decode(count: number): void {
    if (count > 0) this.out(Buffer.from(this.pending.toString('latin1', 0, count), 'base64'));
    this.pending.copy(this.pending, 0, count, this.length);
    this.length -= count;
  }
}

interface Leaf<T> {
  extractable: boolean;
  /** Lines held back until the body proves long enough to extract. */
  held: Buffer[];
  heldBytes: number;
  sink: PartSink<T> | null;
  decoder: Base64Stream | null;
}

/** A line without its ending: postal-mime drops the LF and every CR before it. */
function contentOf(line: Buffer): Buffer {
  let end = line.length;
  if (end > 0 && line[end - 1] === 0x0a) end--;
  while (end > 0 && line[end - 1] === 0x0d) end--;
  return line.subarray(0, end);
}

/** The message handed on, built from copies of the lines it keeps (the file is read into buffers that are reused). */
class ByteBuilder {
  private readonly chunks: Buffer[] = [];
  private current = Buffer.allocUnsafe(64 * 1024);
  private length = 0;

  push(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.current.length) {
      this.chunks.push(this.current.subarray(0, this.length));
      this.current = Buffer.allocUnsafe(Math.max(64 * 1024, bytes.length));
      this.length = 0;
    }
    this.current.set(bytes, this.length);
    this.length += bytes.length;
  }

  result(): Buffer {
    return Buffer.concat([...this.chunks, this.current.subarray(0, this.length)]);
  }
}

/** The index in `boundaries` that `line` opens or closes (postal-mime's test), or -1. */
function boundaryOf(line: Buffer, boundaries: Buffer[]): { index: number; closes: boolean } | null {
  if (line.length <= 2 || line[0] !== 0x2d || line[1] !== 0x2d) return null;
  for (let i = boundaries.length - 1; i >= 0; i--) {
    const boundary = boundaries[i]!;
    if (line.length < boundary.length + 2 || line.compare(boundary, 0, boundary.length, 2, boundary.length + 2) !== 0)
      continue;
    let end = boundary.length + 2;
    const closes = line.length >= end + 2 && line[end] === 0x2d && line[end + 1] === 0x2d;
    if (closes) end += 2;
    let trailing = true;
    for (let j = end; j < line.length; j++) {
      if (line[j] !== 0x20 && line[j] !== 0x09) {
        trailing = false;
        break;
      }
    }
    if (trailing) return { index: i, closes };
  }
  return null;
}

/** The first value of each field of a header block, keyed lower-case, folded lines joined. */
function headerValues(lines: Buffer[]): Map<string, string> {
  const fields = new Map<string, string>();
  let key: string | null = null;
  let value = '';
  const done = () => {
    if (key !== null && !fields.has(key)) fields.set(key, value.trim());
    key = null;
  };
  for (const line of lines) {
    const text = contentOf(line).toString('latin1');
    if (text.startsWith(' ') || text.startsWith('\t')) {
      if (key !== null) value += text;
      continue;
    }
    done();
    const colon = text.indexOf(':');
    if (colon <= 0) continue;
    key = text.slice(0, colon).trim().toLowerCase();
    value = text.slice(colon + 1);
  }
  done();
  return fields;
}

class Walk<T> {
  private readonly out = new ByteBuilder();
  private readonly parts: Array<ExtractedPart<T>> = [];
  /** The boundaries of the open multiparts, outermost first. */
  private readonly boundaries: Buffer[] = [];
  private state: 'headers' | 'body' | 'copy' = 'headers';
  private headerLines: Buffer[] = [];
  private headerBytes = 0;
  private leaf: Leaf<T> | null = null;

  constructor(private readonly options: ExtractOptions<T>) {}

  /**
   * One line (its ending included), or a piece of an over-long one (`lineStart` false for the pieces after the first).
   * `line` may be a view of a buffer that is reused: whatever is kept is copied.
   */
  line(line: Buffer, lineStart: boolean): void {
    if (this.state === 'copy') {
      this.out.push(line);
      return;
    }
    const boundary = lineStart && this.boundaries.length > 0 ? boundaryOf(contentOf(line), this.boundaries) : null;
    if (boundary) {
      this.endLeaf();
      this.out.push(line);
      this.boundaries.length = boundary.closes ? boundary.index : boundary.index + 1;
      // After a closing boundary comes the epilogue, copied; after an opening one, the next part's headers.
      this.state = boundary.closes ? 'body' : 'headers';
      this.headerLines = [];
      this.headerBytes = 0;
      return;
    }
    if (this.state === 'headers') {
      this.out.push(line);
      this.headerBytes += line.length;
      if (this.headerBytes > this.options.maxHeaderBytes) {
        this.state = 'copy';
        return;
      }
      if (lineStart && contentOf(line).length === 0 && line.length > 0) this.startBody();
      else this.headerLines.push(line);
      return;
    }
    const leaf = this.leaf;
    if (!leaf?.extractable) {
      this.out.push(line);
      return;
    }
    if (leaf.decoder) {
      leaf.decoder.write(line);
      return;
    }
    leaf.held.push(Buffer.from(line)); // a copy: `line` is a view of a reused read buffer
    leaf.heldBytes += line.length;
    if (leaf.heldBytes >= this.options.minBytes) {
      const sink = this.options.sink();
      leaf.sink = sink;
      leaf.decoder = new Base64Stream((bytes) => sink.write(bytes));
      for (const held of leaf.held) leaf.decoder.write(held);
      leaf.held = [];
    }
  }

  /** The blank line after a part's headers: what its body is. */
  private startBody(): void {
    const fields = headerValues(this.headerLines);
    this.headerLines = [];
    this.headerBytes = 0;
    this.state = 'body';
    const type = parseStructured(fields.get('content-type') ?? '');
    const boundary = type.params.boundary;
    if (type.value.startsWith('multipart/')) {
      if (boundary && this.boundaries.length < this.options.maxDepth)
        this.boundaries.push(Buffer.from(boundary, 'utf8'));
      else this.state = 'copy'; // its parts are not followed (nor would the parser's limits let them through)
      this.leaf = null;
      return;
    }
    // postal-mime's reading: comments dropped, the first token.
    const encoding = ((fields.get('content-transfer-encoding') ?? '')
      .replace(/\((?:[^()\\]|\\.)*\)/g, ' ')
      .toLowerCase()
      .match(/[\w-]+/) ?? [''])[0];
    this.leaf = {
      extractable:
        encoding === 'base64' &&
        type.value !== '' &&
        !type.value.startsWith('text/') &&
        !type.value.startsWith('message/') &&
        type.value !== 'application/ics' && // postal-mime reads it as text (calendar invitations)
        this.boundaries.length > 0,
      held: [],
      heldBytes: 0,
      sink: null,
      decoder: null,
    };
  }

  /** The current part's body ended (a boundary, or the end of the message). */
  endLeaf(): void {
    const leaf = this.leaf;
    this.leaf = null;
    if (!leaf) return;
    if (leaf.sink && leaf.decoder) {
      leaf.decoder.flush();
      const stored = leaf.sink.finish();
      leaf.sink = null;
      const token = this.options.token(this.parts.length);
      this.parts.push({ token, stored });
      this.out.push(Buffer.from(`${token.toString('base64')}\r\n`, 'latin1'));
    } else for (const held of leaf.held) this.out.push(held);
  }

  /** Drops every sink still open (an error mid-walk). */
  abort(): void {
    this.leaf?.sink?.abort();
  }

  result(): Extraction<T> {
    return { message: this.out.result(), parts: this.parts };
  }
}

/**
 * Walks a message given as pieces (chunks of a file), extracting its big base64 attachments into sinks (see the module
 * comment). On an error (a sink's write failing) the open sink is aborted and the error thrown; the sinks already
 * finished are the caller's (their refs are in no result: collection removes unreferenced blobs).
 */
export function extractLargeParts<T>(pieces: Iterable<Uint8Array>, options: ExtractOptions<T>): Extraction<T> {
  const walk = new Walk(options);
  try {
    let carry: Buffer | null = null;
    // Whether the next byte starts a line (false after a piece of an over-long line).
    let lineStart = true;
    for (const piece of pieces) {
      let chunk = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
      if (carry) {
        chunk = Buffer.concat([carry, chunk]);
        carry = null;
      }
      let at = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, at);
        if (nl === -1) break;
        walk.line(chunk.subarray(at, nl + 1), lineStart);
        lineStart = true;
        at = nl + 1;
      }
      const rest = chunk.subarray(at);
      if (rest.length > MAX_LINE) {
        walk.line(rest, lineStart);
        lineStart = false;
      } else if (rest.length > 0) carry = Buffer.from(rest);
    }
    if (carry) walk.line(carry, lineStart);
    walk.endLeaf();
    return walk.result();
  } catch (error) {
    walk.abort();
    throw error;
  }
}
