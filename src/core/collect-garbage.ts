// A full garbage collection on demand, for the few places that have just let go of a big piece of memory (issue 18:
// a first sync of messages with 20 MB attachments). Buffers and ArrayBuffers live outside V8's heap and are freed
// only when the small objects holding them are collected; a heap kept small (heap-growth.ts, the parse worker's
// limits) is seldom collected, so tens of MB of dropped bytes per big message piled up (500 MB of RSS for a run of
// 27 MB messages). Collecting right after such a message costs a few milliseconds for a heap of a few tens of MB.
//
// gc() is not exposed without --expose-gc; setting the flag at run time and reading `gc` from a fresh context gives
// the same function without changing how the process is started. Where that fails, collect() does nothing.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What counts as a big piece of memory let go: a message (or a sync batch) of at least this many bytes. */
export const COLLECT_AFTER_BYTES = 4 * 1024 * 1024;

let gc: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (gc !== undefined) return gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    const found: unknown = runInNewContext('gc');
    gc = typeof found === 'function' ? (found as () => void) : null;
  } catch {
    gc = null;
  }
  return gc;
}

/** A full collection of this thread's heap (each worker thread has its own); nothing where gc() is unavailable. */
export function collectGarbage(): void {
  collector()?.();
}
