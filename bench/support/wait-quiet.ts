// Waiting for a quiet machine before a measurement, so other engineers' work weighs less on the figures.
import { setTimeout as sleep } from 'node:timers/promises';
import { fmt, log, now } from './format.js';
import { CLK_TCK, machineBusyTicks } from './proc-stats.js';

/**
 * The machine is shared (other engineers' tests, CI): before each measurement, wait up to `limitMs` (the scenarios'
 * --quiet-wait, default 45 s) for a second in which the whole machine is less than 30% of one core busy.
 * Returns the seconds waited.
 */
export async function waitQuiet(label: string, limitMs: number): Promise<number> {
  if (!(limitMs > 0)) return 0;
  const t0 = now();
  for (;;) {
    const m0 = machineBusyTicks();
    await sleep(1_000);
    const busy = (machineBusyTicks() - m0) / CLK_TCK;
    if (busy < 0.3) break;
    if (now() - t0 >= limitMs) {
      log(`${label}: the machine stayed busy (${fmt(busy * 100)}% of a core), measuring anyway`);
      break;
    }
  }
  const waited = (now() - t0) / 1000 - 1;
  if (waited > 0.5) log(`${label}: waited ${fmt(waited)} s for a quiet machine`);
  return waited;
}
