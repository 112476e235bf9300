// How far V8 lets the heap grow, for every `conversa` command (cli.ts calls it before it loads the other modules:
// the young generation grows during start-up and never gives the memory back).
//
// On a machine with much RAM, V8 lets the old generation grow to about 4× the live heap before it compacts, and
// each young-generation semi-space to 16 MB: a sync whose live heap is ~40 MB sat at ~190 MB of heap (issue 18: a
// 100,000-message first sync peaked at 310-330 MB of RSS, ~150 MB idle). 30 % old-generation growth and semi-spaces
// that stay at their initial 1 MB keep the peak near the live size (bench/README.md: 330 → ~190 MB peak, ~140 →
// ~120 MB idle, throughput within the noise). Both flags are read by V8 at each collection, so setting them here
// works; an operator's own heap flags (node options or NODE_OPTIONS) win.
//
// V8 keeps the semi-space growth factor at 2 or more whenever it creates an isolate (Heap::ConfigureHeap writes the
// process-wide flag), so the start of any worker thread undoes the factor of 1 for the main thread too: measured in
// a first sync, the main thread's young generation went from 2 to 32 MB as soon as the parse worker started (issue
// 18). Hence restoreHeapGrowth() once each worker is running (and why `--semi-space-growth-factor=1` on the command
// line has no effect at all: the main isolate's own creation raises it).
//
// A process that serves the web only (`serve` with CONVERSA_SERVE_BACKGROUND=false) has no first sync to bound, and
// there a 1 MB young generation costs time: the garbage collector was 17% of such a process's CPU profile under the
// inbox endpoint. letYoungGenerationGrow() gives it back V8's own growth: server CPU per PostgreSQL inbox page 2.2-2.8
// -> 1.5-2.0 ms at 1,000,000 messages (bench/README.md, "Data scale", fourteenth session).
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 30;
/** 1: the semi-spaces never grow past their initial size. */
export const SEMI_SPACE_GROWTH_FACTOR = 1;
/** V8's own factor: each growth doubles the semi-spaces, up to their maximum (16 MB on 64-bit). */
const V8_SEMI_SPACE_GROWTH_FACTOR = 2;

function given(flags: RegExp): boolean {
  return process.execArgv.some((arg) => flags.test(arg)) || flags.test(process.env.NODE_OPTIONS ?? '');
}

let limited = false;
let semiSpaceGrowthFactor = SEMI_SPACE_GROWTH_FACTOR;

/** Sets V8's heap growth unless the process was started with heap flags of its own. */
export function limitHeapGrowth(): void {
  limited = true;
  if (!given(/--(heap-growing-percent|max-old-space-size|max-heap-size)\b/))
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  if (!given(/--(semi-space-growth-factor|max-semi-space-size|min-semi-space-size|max-heap-size)\b/))
    v8.setFlagsFromString(`--semi-space-growth-factor=${semiSpaceGrowthFactor}`);
}

/** After a worker thread has started: sets the growth again if limitHeapGrowth() had set it (see above). */
export function restoreHeapGrowth(): void {
  if (limited) limitHeapGrowth();
}

/** For a process that serves the web only: its young generation grows as V8's would (see above). */
export function letYoungGenerationGrow(): void {
  semiSpaceGrowthFactor = V8_SEMI_SPACE_GROWTH_FACTOR;
  if (limited) limitHeapGrowth();
}
