// The runner loop shared by the mail and calendar runners: backoff grows with each failure in a row and starts over
// after a round that got through, a fixed delay overrides it, statuses are recorded before each wait, and the loop
// ends on stop, on an empty claim, and without asking what a failure means once the runner is stopping.
import { describe, expect, it } from 'vitest';
import { runRetryLoop, type RetryLoop, type RoundEnd } from '../../src/jobs/retry-loop.js';
import { WakeableSleep } from '../../src/jobs/wakeable-sleep.js';

type Step = 'ok' | 'fail' | 'fixed' | 'stop';

/** A loop over a script of rounds; records every backoff delay and every failure it was asked about. */
function scripted(steps: Step[], extra: Partial<RetryLoop<number>> = {}) {
  const delays: number[] = [];
  const failures: string[] = [];
  let index = 0;
  let stopped = false;
  const loop: RetryLoop<number> = {
    stopped: () => stopped,
    waiting: new WakeableSleep(),
    backoffBaseMs: 10,
    backoffMaxMs: 1_000,
    claim: () => Promise.resolve(index < steps.length ? index++ : null),
    run: (i, round) => {
      const step = steps[i]!;
      if (step === 'stop') return Promise.resolve<RoundEnd>({ next: 'stop' });
      if (step === 'ok') {
        round.succeeded();
        return Promise.resolve<RoundEnd>({ next: 'again', afterMs: 1 });
      }
      return Promise.reject(new Error(step));
    },
    failed: (_i, error) => {
      const message = (error as Error).message;
      failures.push(message);
      return Promise.resolve<RoundEnd>({
        next: 'backoff',
        ...(message === 'fixed' ? { delayMs: 7 } : {}),
        record: (delay) => {
          delays.push(delay);
          return Promise.resolve();
        },
      });
    },
    ...extra,
  };
  return { loop, delays, failures, stop: () => (stopped = true) };
}

describe('runRetryLoop', () => {
  it('backs off more with each failure in a row and starts over after a round that got through', async () => {
    const { loop, delays } = scripted(['fail', 'fail', 'fail', 'ok', 'fail']);
    await runRetryLoop(loop);
    expect(delays).toHaveLength(4);
    // Full jitter: attempt n waits between half and all of base * 2^(n-1).
    expect(delays[0]).toBeLessThanOrEqual(10);
    expect(delays[1]).toBeGreaterThanOrEqual(10);
    expect(delays[2]).toBeGreaterThanOrEqual(20);
    expect(delays[3]).toBeLessThanOrEqual(10);
  });

  it('uses the delay a failure names, and still counts the attempt', async () => {
    const { loop, delays } = scripted(['fail', 'fixed', 'fail']);
    await runRetryLoop(loop);
    expect(delays[1]).toBe(7);
    expect(delays[2]).toBeGreaterThanOrEqual(20);
  });

  it('ends when a round says stop or nothing is claimed', async () => {
    const stopping = scripted(['ok', 'stop', 'ok']);
    await runRetryLoop(stopping.loop);
    const empty = scripted([]);
    await runRetryLoop(empty.loop);
    expect(stopping.failures).toEqual([]);
  });

  it('does not ask what a failure means once the runner is stopping', async () => {
    const script = scripted(['fail', 'fail']);
    const { loop } = script;
    const run = loop.run;
    loop.run = (i, round) => {
      script.stop();
      return run(i, round);
    };
    await runRetryLoop(loop);
    expect(script.failures).toEqual([]);
  });

  it('treats a failed status write after a round like a failure of the round', async () => {
    let writes = 0;
    const { loop, failures, delays } = scripted(['ok', 'ok'], {
      run: (i) =>
        Promise.resolve<RoundEnd>(
          i === 0
            ? {
                next: 'backoff',
                record: () => {
                  writes++;
                  return Promise.reject(new Error('database gone'));
                },
              }
            : { next: 'stop' },
        ),
    });
    await runRetryLoop(loop);
    expect(writes).toBe(1);
    expect(failures).toEqual(['database gone']);
    // Still the first attempt: the write that failed did not count one.
    expect(delays[0]).toBeLessThanOrEqual(10);
  });
});
