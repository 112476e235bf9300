// V8 writes a floor of 2 into the process-wide semi-space growth factor whenever it creates an isolate, so a worker
// thread's start undoes limitHeapGrowth() for the main thread (issue 18). Each case runs in a fresh node process:
// the flags are process-wide, and the test runner's own isolates would blur them.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../servers/process.js';

const heapGrowth = pathToFileURL(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'app', 'heap-growth.ts'),
).href;

/** The main thread's young generation (MB committed) after a worker started and a burst of allocations. */
async function youngGenerationMb(steps: { limit: boolean; restore: boolean; grow?: boolean }): Promise<number> {
  const script = `
    import v8 from 'node:v8';
    import { Worker } from 'node:worker_threads';
    import { letYoungGenerationGrow, limitHeapGrowth, restoreHeapGrowth } from ${JSON.stringify(heapGrowth)};
    if (${steps.limit}) limitHeapGrowth();
    if (${steps.grow ?? false}) letYoungGenerationGrow();
    const worker = new Worker('setTimeout(() => {}, 10)', { eval: true });
    await new Promise((resolve) => worker.once('online', resolve));
    if (${steps.restore}) restoreHeapGrowth();
    const kept = [];
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 200000; i++) {
        const o = { i, s: 'x' + i, pair: [i, i + 1] };
        if (i % 3 === 0) kept.push(o);
      }
      if (kept.length > 300000) kept.splice(0, 200000);
    }
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    console.log(young.physical_space_size / 1048576);
  `;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  return Number(stdout.trim());
}

describe('heap growth', () => {
  it('keeps the main thread young generation at its initial size after a worker thread starts', async () => {
    expect(await youngGenerationMb({ limit: true, restore: true })).toBeLessThanOrEqual(4);
  });

  it('without restoreHeapGrowth, a worker start lets it grow (the V8 behaviour this works around)', async () => {
    expect(await youngGenerationMb({ limit: true, restore: false })).toBeGreaterThan(8);
  });

  it('restoreHeapGrowth sets nothing in a process that never limited its heap (tests, embedders)', async () => {
    expect(await youngGenerationMb({ limit: false, restore: true })).toBeGreaterThan(8);
  });

  it('a process that serves the web only lets it grow again, also after a worker thread starts', async () => {
    expect(await youngGenerationMb({ limit: true, grow: true, restore: true })).toBeGreaterThan(8);
  });
});
