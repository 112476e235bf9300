// Parse throughput: parseMessage on the main thread vs the worker pool, over the shared corpus repeated to about
// 5,000 messages, plus how long the event loop was blocked meanwhile (the point of the pool).
//
// Run from the repo root, either from sources (workers load parse-worker.ts through tsx):
//   node --import tsx bench/parse-throughput.ts [messages]
// or compiled, as production runs (workers load dist/src/mail/mime/parse-worker.js):
//   npx tsc -p tsconfig.json && node dist/bench/parse-throughput.js [messages]
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseMessage } from '../src/mail/mime/parse-message.js';
import { createParsePool } from '../src/mail/mime/parse-pool.js';

const target = Number(process.argv[2] ?? 5_000);
const corpus = path.resolve(process.cwd(), '..', 'shared', 'corpus', 'eml');
if (!existsSync(corpus)) {
  console.error(`corpus not found at ${corpus} (run from the repo root)`);
  process.exit(1);
}
const files = readdirSync(corpus)
  .filter((f) => f.endsWith('.eml'))
  .sort();
const raws = files.map((f) => readFileSync(path.join(corpus, f)));
const messages = Array.from({ length: target }, (_, i) => raws[i % raws.length]!);
const totalBytes = messages.reduce((sum, raw) => sum + raw.length, 0);

interface Figures {
  label: string;
  ms: number;
  errors: number;
  maxLoopDelayMs: number;
}

/**
 * The longest stretch in which a 5 ms timer could not run, i.e. how long an IMAP socket or an HTTP request
 * would have waited. (monitorEventLoopDelay reports nothing when the loop never reaches its timer at all.)
 */
async function measure(label: string, run: () => Promise<number>): Promise<Figures> {
  let last = performance.now();
  let maxGap = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  const errors = await run();
  const ms = performance.now() - t0;
  clearInterval(probe);
  maxGap = Math.max(maxGap, performance.now() - last);
  return { label, ms, errors, maxLoopDelayMs: maxGap };
}

function print(f: Figures): void {
  const perSecond = (messages.length / f.ms) * 1000;
  const mbPerSecond = (totalBytes / 1024 / 1024 / f.ms) * 1000;
  console.log(
    `${f.label.padEnd(22)} ${String(Math.round(perSecond)).padStart(6)} msg/s  ${mbPerSecond.toFixed(1).padStart(6)} MB/s  ` +
      `${(f.ms / 1000).toFixed(2).padStart(6)} s  max event-loop block ${Math.round(f.maxLoopDelayMs)} ms  (${f.errors} with parseError)`,
  );
}

console.log(
  `${messages.length} messages (${files.length} corpus files repeated), ${(totalBytes / 1024 / 1024).toFixed(1)} MB, ` +
    `${availableParallelism()} cores, Node ${process.version}`,
);

// Warm the JIT on the main thread first, so the in-thread figure is not the cold one.
for (const raw of raws) await parseMessage(raw);

print(
  await measure('in-thread', async () => {
    let errors = 0;
    for (const raw of messages) if ((await parseMessage(raw)).parseError) errors++;
    return errors;
  }),
);

for (const size of [...new Set([1, 2, Math.max(1, availableParallelism() - 1)])].sort()) {
  const pool = createParsePool({ size });
  await Promise.all(raws.map((raw) => pool.parse(raw))); // start and warm the workers
  const figures = await measure(`pool, ${size} worker${size === 1 ? '' : 's'}`, async () => {
    let errors = 0;
    const pending: Array<Promise<void>> = [];
    for (const raw of messages) {
      await pool.ready(); // back-pressure, as a fetch loop would use it
      pending.push(pool.parse(raw).then((m) => void (m.parseError && errors++)));
    }
    await Promise.all(pending);
    return errors;
  });
  await pool.close();
  print(figures);
}
