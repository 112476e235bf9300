// The sync's commit pipeline: batches commit one after another in the order added, a failure stops every later
// commit (no cursor after a gap), an abort skips what has not started, and the bytes waiting stay bounded.
import { describe, expect, it } from 'vitest';
import { CommitPipeline } from '../../src/mail/sync/commit-pipeline.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('CommitPipeline', () => {
  it('commits in the order added, one at a time, even when a later batch is ready first', async () => {
    const pipeline = new CommitPipeline(3, 1_000, new AbortController().signal);
    const order: string[] = [];
    let running = 0;
    let most = 0;
    const slow = deferred();
    const commit = (name: string, wait?: Promise<void>) => async () => {
      running++;
      most = Math.max(most, running);
      if (wait) await wait;
      order.push(name);
      running--;
    };
    pipeline.add(10, commit('a', slow.promise));
    pipeline.add(10, commit('b'));
    pipeline.add(10, commit('c'));
    setTimeout(slow.resolve, 10);
    await pipeline.drain();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(most).toBe(1);
  });

  it('skips every commit after a failed one and throws the failure to the producer', async () => {
    const pipeline = new CommitPipeline(3, 1_000, new AbortController().signal);
    const done: string[] = [];
    pipeline.add(1, async () => {
      done.push('a');
    });
    pipeline.add(1, async () => {
      throw new Error('disk full');
    });
    pipeline.add(1, async () => {
      done.push('c');
    });
    await expect(pipeline.drain()).rejects.toThrow('disk full');
    expect(done).toEqual(['a']);
    await expect(pipeline.room(1)).rejects.toThrow('disk full');
  });

  it('skips the commits not yet started once aborted', async () => {
    const abort = new AbortController();
    const pipeline = new CommitPipeline(3, 1_000, abort.signal);
    const done: string[] = [];
    const gate = deferred();
    const started = deferred();
    pipeline.add(1, async () => {
      started.resolve();
      await gate.promise;
      done.push('a');
    });
    pipeline.add(1, async () => {
      done.push('b');
    });
    await started.promise;
    abort.abort();
    gate.resolve();
    await pipeline.drain();
    // The one already running finishes (its transaction is whole); the next never starts.
    expect(done).toEqual(['a']);
  });

  it('holds the producer back by count and by bytes; a batch over the budget waits for an empty pipeline', async () => {
    const pipeline = new CommitPipeline(2, 100, new AbortController().signal);
    const gates = [deferred(), deferred(), deferred()];
    pipeline.add(40, () => gates[0]!.promise);
    pipeline.add(40, () => gates[1]!.promise);
    let roomForThird = false;
    const third = pipeline.room(10).then(() => (roomForThird = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(roomForThird).toBe(false); // two batches wait: the count bound
    gates[0]!.resolve();
    await third;
    expect(pipeline.inFlightBytes()).toBe(40);
    let roomForBig = false;
    const big = pipeline.room(500).then(() => (roomForBig = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(roomForBig).toBe(false); // over the budget: alone only
    gates[1]!.resolve();
    await big;
    expect(pipeline.inFlightBytes()).toBe(0);
    gates[2]!.resolve();
  });
});
