// The loop of a long-lived runner, written once for the mail and the calendar runners: claim the subject (or stop),
// run a round, then either go round again (after a wakeable sleep, or at once) or back off with jitter after a
// failure, until stopped. What a round does, what a failure means and which statuses are written stay with the runner.
import { backoffDelay } from './backoff.js';
import type { WakeableSleep } from './wakeable-sleep.js';

/** How a round (or a failure) ends, and so what the loop does next. */
export type RoundEnd =
  /** Leave the loop: stopped, nothing to do, or a person must act first. */
  | { next: 'stop' }
  /** Go round again: after a wakeable sleep of `afterMs`, or at once without it. */
  | { next: 'again'; afterMs?: number }
  /**
   * Try again after a backoff: `delayMs` when given, else the next exponential delay. `record` writes the status
   * (with the time of the next try) before the wait.
   */
  | { next: 'backoff'; delayMs?: number; record(delayMs: number): Promise<void> };

/** A round's handle on the loop. */
export interface Round {
  /** The round got through: the next failure backs off from the first delay again. */
  succeeded(): void;
}

export interface RetryLoop<Subject> {
  /** True once the runner is stopping; checked before each round, after a failure and before each wait. */
  stopped(): boolean;
  waiting: WakeableSleep;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** The subject of the next round, or null to leave the loop. A throw here ends the loop (the runner's crash). */
  claim(): Promise<Subject | null>;
  run(subject: Subject, round: Round): Promise<RoundEnd>;
  /** Turns a round's failure (while not stopped) into what comes next; a throw here ends the loop. */
  failed(subject: Subject, error: unknown): Promise<RoundEnd>;
}

/** Runs the loop until it is stopped or a round says stop. */
export async function runRetryLoop<Subject>(loop: RetryLoop<Subject>): Promise<void> {
  let attempt = 0;
  const round: Round = {
    succeeded: () => {
      attempt = 0;
    },
  };
  /** Waits as the end says; false when the loop is to end. */
  const follow = async (end: RoundEnd): Promise<boolean> => {
    switch (end.next) {
      case 'stop':
        return false;
      case 'again':
        if (end.afterMs !== undefined) await loop.waiting.sleep(end.afterMs, loop.stopped());
        return true;
      case 'backoff': {
        const next = attempt + 1;
        const delay = end.delayMs ?? backoffDelay(next, loop.backoffBaseMs, loop.backoffMaxMs);
        await end.record(delay);
        await loop.waiting.sleep(delay, loop.stopped());
        // Counted once the wait is recorded and over: a status write that fails is itself a failure of this try.
        attempt = next;
        return true;
      }
      default: {
        const exhaustive: never = end;
        throw new Error(`unknown round end ${JSON.stringify(exhaustive)}`);
      }
    }
  };
  while (!loop.stopped()) {
    const subject = await loop.claim();
    if (subject === null) return;
    try {
      // Inside the try: a status write or wait that follows a round fails like the round itself.
      if (!(await follow(await loop.run(subject, round)))) return;
    } catch (error) {
      if (loop.stopped()) return;
      if (!(await follow(await loop.failed(subject, error)))) return;
    }
  }
}
