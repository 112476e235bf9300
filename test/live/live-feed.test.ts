// The live feed's table and poller on SQLite and PostgreSQL: each event reaches a listener once, a row committed
// late by another process (an older id and time) still arrives, a resume replays only what followed and at most
// MAX_REPLAY rows, old rows are pruned, and nothing polls when nobody listens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveFeed, MAX_REPLAY } from '../../src/live/live-feed.js';
import { LIVE_EVENT_TTL_MS, publishLiveEvent, pruneLiveEvents, type LiveEvent } from '../../src/live/live-events.js';
import { newId } from '../../src/storage/ids.js';
import { createTestDatabase, DIALECTS, type TestDatabase } from '../support/databases.js';
import { waitFor } from '../support/wait-for.js';
import { addOrg } from '../support/org-rows.js';

describe.each(DIALECTS)('the live feed on %s', (dialect) => {
  let database: TestDatabase;
  let feed: LiveFeed;
  const orgId = newId();
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    await addOrg(database.storage.db, 'Feed test', orgId);
    feed = new LiveFeed(database.storage.db, { intervalMs: 50, lookbackMs: 5_000 });
  });
  afterAll(async () => {
    await feed?.close();
    await database?.destroy();
  });

  it('hands each event to a listener once, and a late-committed older row too', async () => {
    const db = database.storage.db;
    const seen: LiveEvent[] = [];
    const stop = feed.subscribe((event) => seen.push(event));
    try {
      const first = await publishLiveEvent(db, { orgId, type: 'reminder.due', data: { reminderId: 'a' } });
      await waitFor('the first event', async () => seen.some((e) => e.id === first));
      // Another process's row that committed only now, with the id and time it got two seconds ago.
      const lateAt = Date.now() - 2_000;
      const late = newId(lateAt);
      await db
        .insertInto('live_events')
        .values({
          id: late,
          org_id: orgId,
          user_id: null,
          type: 'message.new',
          data_json: JSON.stringify({ messageId: 'm', threadId: null }),
          created_at: lateAt,
        })
        .execute();
      await waitFor('the late row', async () => seen.some((e) => e.id === late));
      const marker = await publishLiveEvent(db, { orgId, type: 'reminder.due', data: { reminderId: 'b' } });
      await waitFor('the marker', async () => seen.some((e) => e.id === marker));
      // Many polls went by: still once each.
      expect(seen.filter((e) => e.id === first)).toHaveLength(1);
      expect(seen.filter((e) => e.id === late)).toHaveLength(1);
      expect(seen.find((e) => e.id === late)!.data).toEqual({ messageId: 'm', threadId: null });
    } finally {
      stop();
    }
    expect(feed.listenerCount).toBe(0);
  });

  it('ignores rows of an unknown type or unreadable data', async () => {
    const db = database.storage.db;
    const seen: LiveEvent[] = [];
    const stop = feed.subscribe((event) => seen.push(event));
    try {
      const now = Date.now();
      const bad = [newId(now), newId(now)];
      await db
        .insertInto('live_events')
        .values([
          { id: bad[0]!, org_id: orgId, user_id: null, type: 'account.secrets', data_json: '{}', created_at: now },
          { id: bad[1]!, org_id: orgId, user_id: null, type: 'message.new', data_json: '{not json', created_at: now },
        ])
        .execute();
      const marker = await publishLiveEvent(db, { orgId, type: 'reminder.due', data: { reminderId: 'c' } });
      await waitFor('the marker', async () => seen.some((e) => e.id === marker));
      expect(seen.map((e) => e.id)).not.toContain(bad[0]);
      expect(seen.map((e) => e.id)).not.toContain(bad[1]);
    } finally {
      stop();
    }
  });

  it('replays what followed a resume point, bounded, for one organisation only', async () => {
    const db = database.storage.db;
    const from = await publishLiveEvent(db, { orgId, type: 'reminder.due', data: { reminderId: 'start' } });
    const after: string[] = [];
    for (let i = 0; i < MAX_REPLAY + 20; i++) {
      after.push(newId());
    }
    const now = Date.now();
    for (let i = 0; i < after.length; i += 100) {
      await db
        .insertInto('live_events')
        .values(
          after.slice(i, i + 100).map((id) => ({
            id,
            org_id: orgId,
            user_id: null,
            type: 'reminder.due',
            data_json: '{"reminderId":"r"}',
            created_at: now,
          })),
        )
        .execute();
    }
    const replayed = await feed.replay(orgId, from);
    expect(replayed).toHaveLength(MAX_REPLAY);
    expect(replayed.map((e) => e.id)).toEqual(after.slice(0, MAX_REPLAY));
    expect(await feed.replay(newId(), from)).toEqual([]);
  });

  it('prunes rows older than the time they are kept', async () => {
    const db = database.storage.db;
    const old = Date.now() - LIVE_EVENT_TTL_MS - 60_000;
    const oldId = newId(old);
    await db
      .insertInto('live_events')
      .values({ id: oldId, org_id: orgId, user_id: null, type: 'reminder.due', data_json: '{}', created_at: old })
      .execute();
    await pruneLiveEvents(db);
    expect(await db.selectFrom('live_events').select('id').where('id', '=', oldId).execute()).toEqual([]);
    expect(
      (
        await db
          .selectFrom('live_events')
          .select('id')
          .where('created_at', '>', Date.now() - 60_000)
          .execute()
      ).length,
    ).toBeGreaterThan(0);
  });
});
