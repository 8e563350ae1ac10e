import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { LOG_START, type RecordedEvent } from '../../runtime/eventstore/index.js';
import type { Database } from '../../runtime/store/database.js';
import { ensureServers } from '../servers/servers.mjs';
import { itemAdded, itemRemoved, loadTestDefinitions, startStore, testDatabase, uniqueStream, type StoreUnderTest } from './setup.js';

const WRITERS = 8;
const STREAMS = 100;
const DURATION_MS = 10_000;

function checksum(ids: Iterable<string>): string {
  return createHash('md5').update([...ids].sort().join(',')).digest('hex');
}

describe('event store under concurrent writers (PostgreSQL)', () => {
  const db = testDatabase('postgres');
  let database: Database;
  let under: StoreUnderTest;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    database = await db.open();
    under = await startStore(database, await loadTestDefinitions());
  }, 60_000);

  afterAll(async () => {
    await under?.stop();
    await database?.close();
    await db.destroy();
  });

  it(`${WRITERS} writers on ${STREAMS} streams for ${DURATION_MS / 1000} s: no gaps, no duplicates, every conflict reported, a live reader gets every event once`, async () => {
    const streams = Array.from({ length: STREAMS }, () => uniqueStream('race'));
    const appended = new Set<string>();
    const refused = new Set<string>();
    const unexpected: unknown[] = [];
    let conflicts = 0;
    let lostInsertRaces = 0;
    let appends = 0;
    const deadline = Date.now() + DURATION_MS;

    const writer = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const stream = streams[Math.floor(Math.random() * STREAMS)]!;
        const version = await under.store.streamVersion(stream);
        const events = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, (_, n) => (n % 2 ? itemRemoved(`v${version}`, stream) : itemAdded(`v${version}`, stream)));
        try {
          const result = await under.store.append(stream, events, { expectedVersion: version });
          expect(result.nextExpectedVersion).toBe(version + events.length);
          events.forEach((event) => appended.add(event.id));
          appends++;
        } catch (error) {
          if (isEdaflowError(error, 'EDA_CONCURRENCY_CONFLICT') && error.details['streamId'] === stream && error.details['expectedVersion'] === version) {
            conflicts++;
            // The writer that lost a race inside the INSERT (unique (stream_id, version)) carries pg's error as the cause.
            if (error.cause) lostInsertRaces++;
          }
          else unexpected.push(error);
          events.forEach((event) => refused.add(event.id));
        }
      }
    };

    // A reader following the log while it is written, as a projection does: resumes where the last page left off.
    const followed: RecordedEvent[] = [];
    let writing = true;
    const follower = async (): Promise<void> => {
      let after = LOG_START;
      for (;;) {
        const page = await under.store.readAll({ after, limit: 250 });
        followed.push(...page.events);
        after = page.next;
        if (page.events.length) continue;
        if (!writing && followed.length >= appended.size) return;
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    const following = follower();
    await Promise.all(Array.from({ length: WRITERS }, writer));
    writing = false;
    await Promise.race([following, new Promise((_, reject) => setTimeout(() => reject(new Error(`the follower is stuck at ${followed.length} of ${appended.size}`)), 60_000))]);

    expect(unexpected).toEqual([]);
    expect(appends).toBeGreaterThan(100);
    expect(conflicts).toBeGreaterThan(0);
    expect(lostInsertRaces).toBeGreaterThan(0);

    // No gaps: every stream is numbered 1..n, and holds exactly the events whose append succeeded.
    const { rows: gaps } = await database.query<{ stream_id: string }>(
      `select stream_id from edaflow_events where stream_id like 'race-%' group by stream_id having max(version) <> count(*) or min(version) <> 1`,
    );
    expect(gaps).toEqual([]);
    const { rows: [store] } = await database.query<{ events: number; ids: number; checksum: string }>(
      `select count(*)::int as events, count(distinct event_id)::int as ids, md5(string_agg(event_id, ',' order by event_id)) as checksum from edaflow_events where stream_id like 'race-%'`,
    );
    expect(store!.events).toBe(appended.size);
    expect(store!.ids).toBe(store!.events);
    expect(store!.checksum).toBe(checksum(appended));
    const { rows: leaked } = await database.query('select 1 from edaflow_events where event_id in (select jsonb_array_elements_text($1::jsonb))', [JSON.stringify([...refused])]);
    expect(leaked).toEqual([]);

    // The live reader got every event exactly once.
    const followedIds = followed.map((event) => event.envelope.id);
    expect(followedIds.length).toBe(store!.events);
    expect(new Set(followedIds).size).toBe(followedIds.length);
    expect(checksum(followedIds)).toBe(store!.checksum);

    // And so does a reader that starts after the fact, paging from 0.
    const paged: string[] = [];
    for (let after = LOG_START; ; ) {
      const page = await under.store.readAll({ after, limit: 333 });
      if (!page.events.length) break;
      paged.push(...page.events.map((event) => event.envelope.id));
      after = page.next;
    }
    expect(paged.length).toBe(store!.events);
    expect(checksum(paged)).toBe(store!.checksum);
    console.info(`concurrency: ${appends} appends (${store!.events} events), ${conflicts} conflicts (${lostInsertRaces} of them raced inside the INSERT) in ${DURATION_MS / 1000} s`);
  }, 120_000);
});
