// The queries that run all day whatever anyone does, for data-scale.ts's EXPLAIN: the live feed's poll, the
// sequence engine's stop sweep, the follow-up reminders sweep and one /metrics scrape, called through the app's
// own functions on the capturing Kysely instance (each logs the SQL it sends).
import { LiveFeed } from '../src/live/live-feed.js';
import { evaluateReminders } from '../src/mail/send/follow-up-reminders.js';
import { createConversaMetrics } from '../src/ops/conversa-metrics.js';
import { createSequenceEngine } from '../src/sequences/sequence-engine.js';
import type { BlobStore } from '../src/storage/blob-store.js';
import type { Db } from '../src/storage/database.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

export function extraPlans(db: Db): Array<[string, () => Promise<unknown>]> {
  return [
    [
      'periodic: live feed poll',
      async () => {
        const feed = new LiveFeed(db, { intervalMs: 3_600_000 });
        try {
          await (feed as unknown as { poll(): Promise<void> }).poll();
        } finally {
          await feed.close();
        }
      },
    ],
    [
      'periodic: sequence stop sweep',
      async () => {
        const engine = createSequenceEngine({
          db,
          blobs: {} as BlobStore,
          bccDomain: 'bcc.bench.test',
          publicUrl: 'http://127.0.0.1',
          outbox: { kick: () => undefined },
          log: quiet as never,
        });
        return engine.sweep();
      },
    ],
    ['periodic: follow-up reminders sweep', () => evaluateReminders(db, { now: Date.now() })],
    ['periodic: /metrics scrape', () => createConversaMetrics(db).scrape()],
  ];
}
