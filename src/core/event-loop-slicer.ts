// Long synchronous work (reading a 50,000-line CSV, writing it through the synchronous SQLite driver) must not hold
// the event loop: every other user's request would wait for it. A slicer says when a slice of work has run long
// enough, and `pause()` lets everything that queued up meanwhile (I/O callbacks, timers, other requests) run first.
import { setImmediate as nextTurn } from 'node:timers/promises';

export interface EventLoopSlicer {
  /** True once the current slice has run for its budget (checked cheaply: call it as often as you like). */
  due(): boolean;
  /** Yields to the event loop (setImmediate: after pending I/O) and starts a new slice. */
  pause(): Promise<void>;
}

/** A slice of `sliceMs` (default 15 ms): the longest any other request waits on this work, plus its own work. */
export function eventLoopSlicer(sliceMs = 15): EventLoopSlicer {
  let started = performance.now();
  return {
    due: () => performance.now() - started >= sliceMs,
    async pause() {
      await nextTurn();
      started = performance.now();
    },
  };
}
