// Parses a message that was downloaded straight into a blob file (a big message of a first sync, issue 18) without
// ever holding it whole: the file is read a piece at a time, its big base64 attachments decoded into blob files as
// they go by (extract-large-parts.ts), and what is left — headers, bodies, small parts, a token for each extracted
// part — parsed as any message. Runs on the parse worker (blocking file calls).
//
// The result is what parseMessage would give for the whole file, with `blobs` set: the file itself as the raw blob,
// the extracted attachments as theirs (their content empty, their size the decoded size), the other attachments
// written here. When the walk and the parser disagree about a part (hostile MIME: an extracted part does not come
// back as exactly its token), the whole file is read and parsed the usual way instead.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import path from 'node:path';
import { BlobFileWriter, blobPathIn, putBlobFileSync, type BlobFiles, type BlobRef } from '../../storage/blob-store.js';
import { extractLargeParts, type ExtractedPart } from './extract-large-parts.js';
import {
  parseMessage,
  parseMessageHeaders,
  type ParsedAttachment,
  type ParseLimits,
  type ParsedMessage,
  type ParseOptions,
} from './parse-message.js';

/** A base64 body (as written) at least this long is decoded into a blob file rather than kept for the parser. */
export const EXTRACT_FROM_BYTES = 256 * 1024;
const READ_BYTES = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** The file's pieces, read into one buffer that is reused (the walk copies what it keeps). */
function* filePieces(file: string): Generator<Buffer> {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    for (;;) {
      const read = readSync(fd, buffer, 0, READ_BYTES, null);
      if (read === 0) return;
      yield buffer.subarray(0, read);
    }
  } finally {
    closeSync(fd);
  }
}

/** The first `bytes` of the file (all of it when shorter). */
function fileStart(file: string, bytes: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(bytes);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, bytes - length, null);
      if (read === 0) break;
      length += read;
      if (length === bytes) break;
    }
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** An error of the file system (a full disk, a missing file): not the message's fault, so not parsed around. */
export function isFileError(error: unknown): boolean {
  return typeof (error as NodeJS.ErrnoException | null)?.code === 'string';
}

function headersOnly(file: string, ref: BlobRef, limits: ParseLimits, parseError: string): ParsedMessage {
  // One byte past the limit, so that a header block longer than it is seen to be.
  const message = parseMessageHeaders(fileStart(file, limits.maxHeadersSize + 1), limits, parseError);
  return { ...message, size: ref.size, blobs: { raw: ref, attachments: [] } };
}

/** The attachments' refs: extracted ones by their token, the others written now. Null when a token is not matched. */
function attachmentRefs(
  message: ParsedMessage,
  parts: Array<ExtractedPart<BlobRef>>,
  files: BlobFiles,
  storing: () => void,
): BlobRef[] | null {
  const byToken = new Map(parts.map((part) => [part.token.toString('latin1'), part.stored]));
  const matched = message.attachments.map((a) => {
    const stored = a.content.length <= 128 ? byToken.get(a.content.toString('latin1')) : undefined;
    if (stored) byToken.delete(a.content.toString('latin1'));
    return stored ?? null;
  });
  if (byToken.size > 0) return null;
  storing();
  return message.attachments.map((attachment, i) => {
    const stored = matched[i];
    if (stored) {
      attachment.size = stored.size;
      attachment.content = EMPTY;
      return stored;
    }
    return writtenToBlob(files, attachment);
  });
}

/** Writes an attachment parsed in memory to its blob file; its bytes are then dropped (the result carries the ref). */
function writtenToBlob(files: BlobFiles, attachment: ParsedAttachment): BlobRef {
  const ref = putBlobFileSync(files.root, attachment.content, files);
  attachment.content = EMPTY;
  return ref;
}

/** The usual parse of the whole file (the fallback): its bytes in memory once, as for any downloaded message. */
async function parseWhole(
  file: string,
  ref: BlobRef,
  limits: ParseLimits,
  options: ParseOptions,
  files: BlobFiles,
  storing: () => void,
): Promise<ParsedMessage> {
  const message = await parseMessage(readFileSync(file), limits, options, true);
  storing();
  const attachments = message.attachments.map((a) => writtenToBlob(files, a));
  return { ...message, blobs: { raw: ref, attachments } };
}

export interface StoredParse {
  limits: ParseLimits;
  options: ParseOptions;
  /** `headers`: its header block only (the retry after a full parse failed, `parseError` saying why). */
  mode: 'full' | 'headers';
  parseError?: string | undefined;
  /** Called before blobs are written outside the walk (the pool stops the parse's clock then). */
  storing(): void;
  /** Default EXTRACT_FROM_BYTES; tests extract every base64 attachment with 1. */
  extractFromBytes?: number;
}

/**
 * Parses the stored message `ref` (a blob under `files.root`). Throws only for a file error (see isFileError): the
 * caller fails the message, to be synced again later, rather than store it without its attachments.
 */
export async function parseStoredMessage(ref: BlobRef, files: BlobFiles, parse: StoredParse): Promise<ParsedMessage> {
  const { limits, options, storing } = parse;
  const file = blobPathIn(path.resolve(files.root), ref.sha256);
  if (parse.mode === 'headers') return headersOnly(file, ref, limits, parse.parseError ?? 'headers only');
  if (ref.size > limits.maxBytes)
    return headersOnly(file, ref, limits, `message is ${ref.size} bytes, over the ${limits.maxBytes} byte limit`);
  const nonce = randomBytes(16).toString('hex');
  let extraction;
  try {
    extraction = extractLargeParts(filePieces(file), {
      minBytes: parse.extractFromBytes ?? EXTRACT_FROM_BYTES,
      maxDepth: limits.maxNestingDepth,
      maxHeaderBytes: limits.maxHeadersSize,
      token: (index) => Buffer.from(`conversa-extracted-part-${nonce}-${index}`, 'latin1'),
      sink: () => new BlobFileWriter(files.root, files),
    });
  } catch (error) {
    if (isFileError(error)) throw error;
    // A fault of the walk itself: the message still gets the parse every message gets.
    return parseWhole(file, ref, limits, options, files, storing);
  }
  const message = await parseMessage(extraction.message, limits, options, true);
  const attachments = attachmentRefs(message, extraction.parts, files, storing);
  if (!attachments) return parseWhole(file, ref, limits, options, files, storing);
  return { ...message, size: ref.size, blobs: { raw: ref, attachments } };
}
