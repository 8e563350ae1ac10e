import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../runtime/store/database.js';
import { startStreams, type Streams } from '../../runtime/streams/index.js';
import { createOutbox } from '../../runtime/outbox/index.js';
import { openTestPostgres } from '../conformance/adapters/postgres.js';
import { waitFor } from '../helpers/process.js';
import { ensureServers } from '../servers/servers.mjs';
import { crashDefinitions, crashInput } from './crash.js';
import { DurableHarness, logger } from './durable.js';

/**
 * Two runtimes on one database: each stream runs in one of them at a time (its lease), the other
 * stands by and takes over when the holder stops; the outputs are each emitted once.
 */
describe('two processes: one runs each stream, the other takes over', () => {
  let database: Database;
  let dispose: () => Promise<void>;
  let harness: DurableHarness;
  let standby: DurableHarness;
  let second: Streams | undefined;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    ({ database, dispose } = await openTestPostgres());
    const definitions = await crashDefinitions();
    harness = await DurableHarness.open(definitions, database);
    standby = await DurableHarness.open(definitions, database);
  }, 120_000);

  afterAll(async () => {
    await second?.stop();
    await standby?.close();
    await harness?.close();
    await dispose?.();
    await database?.close();
  });

  it('never runs a stream twice at once, and emits each output once', async () => {
    await harness.startStreams();
    const { definitions, messaging } = standby;
    second = await startStreams({ definitions, database, catalog: messaging.catalog, brokers: messaging.brokers, plan: messaging.plan, outbox: createOutbox({ publisher: messaging.publisher }), logger, leaseTtlMs: 1_000, owner: 'standby' });
    expect(harness.streams!.running().sort()).toEqual(['Paid', 'Spend']);
    expect(second.running()).toEqual([]);
    const records = crashInput(100);
    for (const record of records.slice(0, 100)) await harness.messaging.publisher.deliver(record);
    await harness.stopStreams();
    await waitFor(async () => second!.running().length === 2, 10_000);
    for (const record of records.slice(100)) await standby.messaging.publisher.deliver(record);
    await waitFor(async () => {
      const { rows } = await database.query<{ handled: string }>(`select handled from edaflow_stream_tasks where stream = 'Paid'`);
      return Number(rows[0]?.handled) === records.length;
    }, 30_000);
    const { rows } = await database.query<{ n: number }>(`select count(*)::int as n from edaflow_topic_messages where topic = 'results'`);
    await waitFor(async () => harness.outputs.length >= rows[0]!.n, 10_000);
    const ids = harness.outputs.map((output) => output.id);
    expect(ids.length).toBeGreaterThan(80);
    expect(new Set(ids).size).toBe(ids.length);
  }, 120_000);
});
