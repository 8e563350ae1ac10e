import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope } from '../../runtime/envelope/index.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { createEventStore, type EventStore } from '../../runtime/eventstore/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import type { Envelope } from '../../runtime/envelope/index.js';
import type { ProjectionContext, Projections } from '../../runtime/projections/index.js';
import { openDatabase, type Database } from '../../runtime/store/database.js';
import { openTestPostgres, POSTGRES_URL } from '../conformance/adapters/postgres.js';
import { ensureServers } from '../servers/servers.mjs';
import { definitionsFrom, DISCARDING_OUTBOX, eventually, openStack, sleep, start, type Stack } from './support.js';

/** A projection counting each stream's events, with a checksum of their ids: applying one twice, or never, shows. */
const DEFINITIONS = `
edaflow: 1
topics: { ticks: {} }
events:
  Ticked: { topic: ticks, versions: { 1: { schema: { type: object, required: [writer], properties: { writer: { type: integer } } } } } }
projections:
  StreamCounts:
    table: stream_counts
    key: [stream_id]
    columns: { stream_id: text, last_writer: integer, events: bigint, checksum: bigint }
    on:
      Ticked: { upsert: { stream_id: "{% subject %}", last_writer: "{% data.writer %}" } }
    handler: countEvent
`;

async function countEvent(message: Envelope, context: ProjectionContext): Promise<void> {
  await context.query('update stream_counts set events = coalesce(events, 0) + 1, checksum = coalesce(checksum, 0) + hashtext($2) where stream_id = $1', [message.subject, message.id]);
}

const WRITERS = 8;
const STREAMS = 100;
const DURATION_MS = 10_000;

interface WriterStats {
  appended: number;
  conflicts: number;
}

/** Appends 1–3 events at a time to random streams at the version it read, until `until`; counts the conflicts it is told about. */
async function writer(store: EventStore, id: number, until: number): Promise<WriterStats> {
  const stats: WriterStats = { appended: 0, conflicts: 0 };
  while (Date.now() < until) {
    const streamId = `s-${Math.floor(Math.random() * STREAMS)}`;
    const version = await store.streamVersion(streamId);
    const events = Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => createEnvelope('Ticked', { writer: id }, 'test', { subject: streamId }));
    try {
      await store.append(streamId, events, { expectedVersion: version });
      stats.appended += events.length;
    } catch (error) {
      if (!isEdaflowError(error, 'EDA_CONCURRENCY_CONFLICT')) throw error;
      stats.conflicts += 1;
    }
  }
  return stats;
}

type Counts = Record<string, { events: number; checksum: string }>;

async function storeCounts(database: Database): Promise<Counts> {
  const { rows } = await database.query<{ stream_id: string; events: string; checksum: string }>(
    `select stream_id, count(*) as events, sum(hashtext(event_id))::text as checksum from edaflow_events where type = 'Ticked' group by stream_id`,
  );
  return Object.fromEntries(rows.map((row) => [row.stream_id, { events: Number(row.events), checksum: row.checksum }]));
}

async function projectedCounts(database: Database): Promise<Counts> {
  const { rows } = await database.query<{ stream_id: string; events: string; checksum: string }>('select stream_id, events, checksum::text as checksum from stream_counts');
  return Object.fromEntries(rows.map((row) => [row.stream_id, { events: Number(row.events), checksum: row.checksum }]));
}

describe('a projection following live writers on PostgreSQL', () => {
  let definitions: Definitions;
  let schema: string;
  let dispose: () => Promise<void>;
  const databases: Database[] = [];
  const stacks: Stack[] = [];

  /** Another connection pool on the same schema: another process, as far as leases and transactions go. */
  async function openProcess(): Promise<Database> {
    const database = await openDatabase({ type: 'postgres', url: POSTGRES_URL, schema });
    databases.push(database);
    return database;
  }

  beforeAll(async () => {
    await ensureServers(['postgres']);
    let first: Database;
    ({ database: first, schema, dispose } = await openTestPostgres());
    databases.push(first);
    definitions = await definitionsFrom(DEFINITIONS);
  }, 60_000);

  afterAll(async () => {
    for (const stack of stacks) await stack.messaging.stop();
    await dispose?.();
    for (const database of databases) await database.close();
  });

  it('8 writers, 100 streams, 10 s: every event applied exactly once, through a lease takeover', async () => {
    const functions = { countEvent } as unknown as HandlerFunctions;
    const runners: Projections[] = [];
    for (const owner of ['runner-a', 'runner-b']) {
      const stack = await openStack(definitions, await openProcess());
      stacks.push(stack);
      runners.push(await start(stack, functions, { owner, leaseTtlMs: 1_500, pageSize: 200 }));
    }
    const writerDatabase = await openProcess();
    const store = createEventStore({ database: writerDatabase, catalog: stacks[0]!.messaging.catalog, outbox: DISCARDING_OUTBOX });
    const until = Date.now() + DURATION_MS;
    const writing = Promise.all(Array.from({ length: WRITERS }, (_, id) => writer(store, id, until)));

    // Halfway, the runner holding the lease stops; the other one takes over where its checkpoint is.
    await sleep(DURATION_MS / 2);
    const { rows } = await databases[0]!.query<{ owner: string }>(`select owner from edaflow_leases where name = 'projection:StreamCounts'`);
    expect(rows).toHaveLength(1);
    const holder = rows[0]!.owner === 'runner-a' ? 0 : 1;
    await runners[holder]!.stop();

    const stats = await writing;
    const appended = stats.reduce((sum, s) => sum + s.appended, 0);
    const conflicts = stats.reduce((sum, s) => sum + s.conflicts, 0);
    expect(appended).toBeGreaterThan(1_000);
    expect(conflicts).toBeGreaterThan(0);

    const expected = await storeCounts(databases[0]!);
    expect(Object.values(expected).reduce((sum, c) => sum + c.events, 0)).toBe(appended);
    await eventually(async () => expect(await projectedCounts(databases[0]!)).toEqual(expected), 60_000);
    const { rows: takenOver } = await databases[0]!.query<{ owner: string }>(`select owner from edaflow_leases where name = 'projection:StreamCounts'`);
    expect(takenOver).toEqual([{ owner: holder === 0 ? 'runner-b' : 'runner-a' }]);
    // Versions have no gaps and no duplicates: 1..n in every stream.
    const { rows: gaps } = await databases[0]!.query(`select stream_id from edaflow_events group by stream_id having max(version) <> count(*) or min(version) <> 1`);
    expect(gaps).toEqual([]);
    await runners[1 - holder]!.stop();
  }, 120_000);

  it('is not held back by a transaction left open elsewhere: applies what committed after it at once, its event once when it commits, across a restart', async () => {
    const functions = { countEvent } as unknown as HandlerFunctions;
    const stack = await openStack(definitions, await openProcess());
    stacks.push(stack);
    const writerDatabase = await openProcess();
    const store = createEventStore({ database: writerDatabase, catalog: stack.messaging.catalog, outbox: DISCARDING_OUTBOX });
    let commitHeld: () => void = () => undefined;
    const held = new Promise<void>((appended) => {
      void writerDatabase.transaction(async (tx) => {
        await store.appendInTransaction(tx, 'held', [createEnvelope('Ticked', { writer: 1 }, 'test', { subject: 'held' })], { expectedVersion: 'no-stream' });
        appended();
        await new Promise<void>((resolve) => (commitHeld = resolve));
      });
    });
    await held;
    let runner = await start(stack, functions, { owner: 'runner-late-a', leaseTtlMs: 1_500 });
    try {
      await store.append('free', [createEnvelope('Ticked', { writer: 2 }, 'test', { subject: 'free' })], { expectedVersion: 'no-stream' });
      await eventually(async () => expect(Object.keys(await projectedCounts(databases[0]!))).toContain('free'), 15_000);
      expect(Object.keys(await projectedCounts(databases[0]!))).not.toContain('held');
    } finally {
      await runner.stop();
      commitHeld();
    }
    // The checkpoint remembers the open transaction: a new runner applies its event, once.
    runner = await start(stack, functions, { owner: 'runner-late-b', leaseTtlMs: 1_500 });
    try {
      const expected = await storeCounts(databases[0]!);
      await eventually(async () => expect(await projectedCounts(databases[0]!)).toEqual(expected), 15_000);
      expect(expected['held']).toMatchObject({ events: 1 });
      await eventually(async () => expect((await databases[0]!.query(`select late from edaflow_projection_checkpoints where name = 'StreamCounts'`)).rows).toEqual([{ late: {} }]), 15_000);
      await sleep(500);
      expect(await projectedCounts(databases[0]!)).toEqual(expected);
    } finally {
      await runner.stop();
    }
  }, 60_000);
});
