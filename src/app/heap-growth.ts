// How far V8 lets the heap grow between full garbage collections, for the long-running commands (serve, worker).
// On a machine with much RAM, V8 allows the old generation to grow to about 4× the live heap before it compacts:
// a sync whose live heap is ~40 MB then sat at ~190 MB of heap (issue 18: 310 MB peak RSS for a 100,000-message
// first sync). 30 % growth keeps the peak near the live size at little CPU cost (measured in bench/README.md).
// The flag is read at each collection, so setting it at start-up works; an operator's own heap flags win.
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 30;

const OWN_FLAGS = /--(heap-growing-percent|max-old-space-size|max-heap-size)\b/;

/** Sets V8's heap growing factor unless the process was started with heap flags of its own. */
export function limitHeapGrowth(): void {
  if (process.execArgv.some((arg) => OWN_FLAGS.test(arg)) || OWN_FLAGS.test(process.env.NODE_OPTIONS ?? '')) return;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
