// The worker-thread side of the parse pool (parse-pool.ts): receives one raw message at a time (its bytes
// transferred, not copied), parses it, and sends the result back with every attachment's memory transferred —
// or, asked to store blobs (a first sync on the file blob store), writes the raw message and the attachments to
// the blob files itself and sends back only their refs. A message already in a blob file (a big download) is
// parsed from there a piece at a time (parse-stored-message.ts).
// One message at a time, in the order received: a message that hangs or crashes its worker is the one the
// pool's clock is on, and the pool resends whatever was waiting behind it to another worker.
import { parentPort, type MessagePort } from 'node:worker_threads';
import { collectGarbage, COLLECT_AFTER_BYTES } from '../../core/collect-garbage.js';
import { putBlobFileSync, type BlobFiles, type BlobRef } from '../../storage/blob-store.js';
import {
  parseMessage,
  parseMessageHeaders,
  type ParseLimits,
  type ParsedMessage,
  type ParseOptions,
} from './parse-message.js';
import { parseStoredMessage } from './parse-stored-message.js';

export interface ParseRequest {
  id: number;
  /** `headers`: only the header block, after the full parse of this message crashed or timed out. */
  mode: 'full' | 'headers';
  /** Empty when the message is `stored`. */
  raw: ArrayBuffer;
  /** The message is this blob of `blobFiles` (downloaded there), not `raw`. */
  stored?: BlobRef;
  limits: ParseLimits;
  options?: ParseOptions;
  /** For `headers` mode: why the full parse failed. */
  parseError?: string;
  /** The file blob store, for a request whose options ask to store blobs, or whose message is `stored`. */
  blobFiles?: BlobFiles;
}

/** The result, or for a `stored` message a file error (a full disk) that kept its blobs from being written. */
export type ParseResponse = { id: number; result: ParsedMessage } | { id: number; error: string };

/**
 * Sent before the worker writes blobs (`store`) and before it parses (`parse`): the pool's time limit is on the
 * parse alone. A slow disk is not a hostile message; it would make the main thread's writes wait as long.
 */
export interface ParseStage {
  id: number;
  stage: 'store' | 'parse';
}

/** Sent once the worker's modules are loaded, so that start-up time never counts against a message. */
export interface WorkerReady {
  ready: true;
}

/**
 * Transfers the attachments' memory back. Only a buffer that owns its whole ArrayBuffer may go: transferring
 * a slice of Node's shared pool would detach unrelated buffers in this thread, and cloning a slice would copy
 * the whole backing store, so such a slice is first copied into a buffer of its own.
 */
function transferables(result: ParsedMessage): ArrayBuffer[] {
  const list: ArrayBuffer[] = [];
  const seen = new Set<ArrayBufferLike>();
  for (const attachment of result.attachments) {
    let content = attachment.content;
    if (content.length === 0) continue;
    const backing = content.buffer;
    if (
      content.byteOffset !== 0 ||
      content.byteLength !== backing.byteLength ||
      seen.has(backing) ||
      !(backing instanceof ArrayBuffer)
    ) {
      const own = Buffer.allocUnsafeSlow(content.length);
      content.copy(own);
      attachment.content = content = own;
    }
    seen.add(content.buffer);
    list.push(content.buffer as ArrayBuffer);
  }
  return list;
}

/*
 * A message of COLLECT_AFTER_BYTES or more is followed by a full collection of this worker's heap (issue 18). Parsing one
 * leaves garbage several times its size outside the heap — postal-mime decodes base64 into 100 KB chunks, joins
 * them in a Blob and copies that into the attachment's ArrayBuffer, beside the raw bytes and the MIME input —
 * and V8 frees such memory only when the small JS objects holding it are collected, which a worker with a small
 * heap seldom does: a few 27 MB messages in a row took the process past 500 MB. A full collection of this heap
 * (a few MB live) takes a few milliseconds, nothing beside the parse of such a message (core/collect-garbage.ts).
 */

const EMPTY = Buffer.alloc(0);

/** `write`'s refs, or null when it failed: the caller (the intake) writes those blobs itself and meets the error. */
function stored<T>(port: MessagePort, id: number, write: () => T): T | null {
  port.postMessage({ id, stage: 'store' } satisfies ParseStage);
  try {
    return write();
  } catch {
    return null;
  }
}

async function handleStored(port: MessagePort, request: ParseRequest, stored: BlobRef): Promise<ParseResponse> {
  const files = request.blobFiles;
  if (!files) return { id: request.id, error: 'a stored message without the blob files it is in' };
  try {
    const result = await parseStoredMessage(stored, files, {
      limits: request.limits,
      options: request.options ?? {},
      mode: request.mode,
      parseError: request.parseError,
      storing: () => port.postMessage({ id: request.id, stage: 'store' } satisfies ParseStage),
    });
    return { id: request.id, result };
  } catch (error) {
    return { id: request.id, error: error instanceof Error ? error.message : String(error) };
  }
}

async function handle(port: MessagePort, request: ParseRequest): Promise<ParseResponse> {
  if (request.stored) return handleStored(port, request, request.stored);
  const raw = Buffer.from(request.raw);
  const files = request.options?.storeBlobs === true ? request.blobFiles : undefined;
  // The raw bytes first: the full parse may overwrite their header block (parseMessage's rawIsScratch).
  const rawRef = files ? stored(port, request.id, () => putBlobFileSync(files.root, raw, files)) : null;
  if (files) port.postMessage({ id: request.id, stage: 'parse' } satisfies ParseStage);
  const result =
    request.mode === 'headers'
      ? parseMessageHeaders(raw, request.limits, request.parseError)
      : // The bytes are this worker's own copy, read by nobody after the parse: parsed without another copy.
        await parseMessage(raw, request.limits, request.options, true);
  if (files && rawRef) {
    const attachments: BlobRef[] | null =
      result.attachments.length === 0
        ? []
        : stored(port, request.id, () => result.attachments.map((a) => putBlobFileSync(files.root, a.content, files)));
    if (attachments) {
      for (const attachment of result.attachments) attachment.content = EMPTY;
      result.blobs = { raw: rawRef, attachments };
    }
  }
  return { id: request.id, result };
}

const port = parentPort;
if (port) {
  // The pool may send the next message before this one is done; they are parsed strictly one after another
  // (postal-mime yields between lines, so two parses would otherwise interleave and share one time limit).
  let previous: Promise<void> = Promise.resolve();
  port.on('message', (request: ParseRequest) => {
    const big = Math.max(request.raw.byteLength, request.stored?.size ?? 0) >= COLLECT_AFTER_BYTES;
    previous = previous
      .then(() => handle(port, request))
      .then((response) => {
        port.postMessage(response, 'result' in response ? transferables(response.result) : []);
        if (big) collectGarbage();
      });
  });
  port.postMessage({ ready: true } satisfies WorkerReady);
}
