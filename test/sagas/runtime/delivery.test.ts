import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../../runtime/envelope/index.js';
import { startMessaging, type Messaging } from '../../../runtime/messaging/index.js';
import { MemoryDedupStore } from '../../../runtime/idempotency/dedup.js';
import { createOutbox } from '../../../runtime/outbox/index.js';
import { createSagaMachine, startSagas, type SagaRuntime } from '../../../runtime/sagas/index.js';
import { handleMessage, type TransitionContext } from '../../../runtime/sagas/runtime/advance.js';
import { pruneSagaTables } from '../../../runtime/sagas/runtime/housekeeping.js';
import type { Database } from '../../../runtime/store/database.js';
import { openTestPostgres } from '../../conformance/adapters/postgres.js';
import { eventually, logger } from './support.js';

// Exactly-once effects of at-least-once delivery: a redelivered message changes nothing twice,
// concurrent starts make one instance, concurrent messages to one instance all count (none is lost to
// a race), and a message for no instance is recorded.
const YAML = `
edaflow: 1
topics: { counters: { partitions: 2, key: data.key } }
events:
  CounterStarted: { topic: counters, versions: { 1: { schema: { type: object, required: [key], properties: { key: { type: string } } } } } }
  CounterBumped: { topic: counters, versions: { 1: { schema: { type: object, required: [key], properties: { key: { type: string } } } } } }
  CounterClosed: { topic: counters, versions: { 1: { schema: { type: object, required: [key], properties: { key: { type: string } } } } } }
sagas:
  Counter:
    startedBy: CounterStarted
    correlate: { CounterStarted: data.key, CounterBumped: data.key, CounterClosed: data.key }
    context: { key: "{% data.key %}", count: 0 }
    machine:
      initial: counting
      states:
        counting:
          on:
            CounterBumped: { assign: { count: "{% context.count + 1 %}" } }
            CounterClosed: { target: closed }
        closed: { type: final }
`;

let definitions: Definitions;
let database: Database;
let dispose: () => Promise<void>;
let messaging: Messaging;
let transitions: TransitionContext;

beforeAll(async () => {
  const loaded = await loadDefinitions('/test', { fileSystem: memoryFileSystem({ 'app.yaml': YAML }, '/test') });
  if (!loaded.definitions) throw new Error(JSON.stringify(loaded.diagnostics, null, 2));
  definitions = loaded.definitions;
  ({ database, dispose } = await openTestPostgres());
  messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
  const machine = createSagaMachine('Counter', definitions.sagas.get('Counter')!.spec, definitions);
  transitions = { machines: new Map([['Counter', machine]]), outbox: createOutbox({ publisher: messaging.publisher }), source: 'test', logger, stuckRetryMs: 60_000 };
}, 60_000);

afterAll(async () => {
  await messaging?.stop();
  await dispose?.();
  await database?.close();
});

const machine = () => transitions.machines.get('Counter')!;
const message = (type: string, key: string): Envelope => createEnvelope(type, { key }, 'test');

async function counter(key: string): Promise<{ count: number; version: number; status: string } | undefined> {
  const { rows } = await database.query<{ count: number; version: number; status: string }>(
    "select (snapshot->'context'->>'count')::int as count, version, status from edaflow_saga_instances where saga = 'Counter' and correlation_key = $1",
    [key],
  );
  return rows[0];
}

describe('saga message delivery (PostgreSQL)', () => {
  it('a redelivered message changes nothing twice', async () => {
    const start = message('CounterStarted', 'redelivered');
    const bump = message('CounterBumped', 'redelivered');
    for (const envelope of [start, start, bump, bump, bump]) await handleMessage(database, transitions, machine(), envelope);
    expect(await counter('redelivered')).toEqual({ count: 1, version: 2, status: 'running' });
    const history = await database.query("select h.event_id from edaflow_saga_history h join edaflow_saga_instances i on i.id = h.instance_id where i.correlation_key = 'redelivered' order by h.id");
    expect(history.rows).toEqual([{ event_id: start.id }, { event_id: bump.id }]);
  });

  it('concurrent starts create exactly one instance; the other starts join it', async () => {
    const starts = Array.from({ length: 12 }, () => message('CounterStarted', 'raced'));
    await Promise.all(starts.map((envelope) => handleMessage(database, transitions, machine(), envelope)));
    const { rows } = await database.query("select count(*)::int as n from edaflow_saga_instances where correlation_key = 'raced'");
    expect(rows).toEqual([{ n: 1 }]);
    const inbox = await database.query("select count(distinct instance_id)::int as instances, count(*)::int as messages from edaflow_saga_inbox where message_id = any($1)", [starts.map((envelope) => envelope.id)]);
    expect(inbox.rows).toEqual([{ instances: 1, messages: 12 }]);
  });

  it('concurrent messages for one instance are serialized: none is lost', async () => {
    await handleMessage(database, transitions, machine(), message('CounterStarted', 'busy'));
    await Promise.all(Array.from({ length: 20 }, () => handleMessage(database, transitions, machine(), message('CounterBumped', 'busy'))));
    expect(await counter('busy')).toEqual({ count: 20, version: 21, status: 'running' });
  });

  it('a message that matches no instance is recorded, not dropped', async () => {
    const orphan = message('CounterBumped', 'nobody');
    await handleMessage(database, transitions, machine(), orphan);
    const { rows } = await database.query("select type, correlation_key from edaflow_saga_unmatched where message_id = $1", [orphan.id]);
    expect(rows).toEqual([{ type: 'CounterBumped', correlation_key: 'nobody' }]);
  });

  it('prunes the inbox rows of ended instances and old unmatched messages; a redelivery to a pruned, ended instance changes nothing', async () => {
    const start = message('CounterStarted', 'ended');
    const bump = message('CounterBumped', 'ended');
    const close = message('CounterClosed', 'ended');
    for (const envelope of [start, bump, close]) await handleMessage(database, transitions, machine(), envelope);
    await handleMessage(database, transitions, machine(), message('CounterStarted', 'alive'));
    const old = message('CounterBumped', 'long-gone');
    const recent = message('CounterBumped', 'just-missed');
    for (const envelope of [old, recent]) await handleMessage(database, transitions, machine(), envelope);
    for (const table of ['edaflow_saga_unmatched', 'edaflow_saga_inbox']) {
      await database.query(`update ${table} set received_at = now() - interval '8 days' where message_id = $1`, [old.id]);
    }
    const inboxOf = async (ids: readonly string[]) => (await database.query<{ message_id: string }>('select message_id from edaflow_saga_inbox where message_id = any($1) order by message_id', [ids])).rows.map((row) => row.message_id);
    const unmatchedOf = async (ids: readonly string[]) => (await database.query<{ message_id: string }>('select message_id from edaflow_saga_unmatched where message_id = any($1) order by message_id', [ids])).rows.map((row) => row.message_id);

    const pruned = await pruneSagaTables(database);
    expect(pruned.inbox).toBeGreaterThanOrEqual(3);
    expect(pruned.unmatched).toBeGreaterThanOrEqual(1);
    expect(await inboxOf([start.id, bump.id, close.id])).toEqual([]);
    expect(await unmatchedOf([old.id, recent.id])).toEqual([recent.id]);
    expect(await inboxOf([old.id, recent.id])).toEqual([recent.id]);
    expect((await database.query("select count(*)::int as n from edaflow_saga_inbox i join edaflow_saga_instances s on s.id = i.instance_id where s.correlation_key = 'alive'")).rows).toEqual([{ n: 1 }]);

    const before = await counter('ended');
    expect(before).toEqual({ count: 1, version: 3, status: 'completed' });
    for (const envelope of [start, bump, close]) await handleMessage(database, transitions, machine(), envelope);
    expect(await counter('ended')).toEqual(before);
    const history = await database.query("select count(*)::int as n from edaflow_saga_history h join edaflow_saga_instances i on i.id = h.instance_id where i.correlation_key = 'ended'");
    expect(history.rows).toEqual([{ n: 3 }]);
  });

  it('through the broker: redelivered and concurrent messages, consumed by two saga runtimes', async () => {
    const runtimes: SagaRuntime[] = [];
    for (let i = 0; i < 2; i++) {
      runtimes.push(await startSagas({ definitions, database, catalog: messaging.catalog, brokers: messaging.brokers, plan: messaging.plan, outbox: transitions.outbox, functions: {}, logger, pollIntervalMs: 100 }));
    }
    try {
      const keys = Array.from({ length: 10 }, (_, i) => `broker-${i}`);
      const sent: Envelope[] = [];
      for (const key of keys) {
        sent.push(message('CounterStarted', key), message('CounterStarted', key));
        for (let i = 0; i < 5; i++) sent.push(message('CounterBumped', key));
      }
      await Promise.all(sent.map((envelope) => messaging.publisher.deliver(envelope)));
      // The same messages again, as a broker redelivers after a lost acknowledgement.
      await Promise.all(sent.map((envelope) => messaging.publisher.deliver(envelope)));
      for (const key of keys) {
        // Bumps that overtook their start are unmatched; the rest count exactly once.
        const expected = async () => {
          const state = await counter(key);
          const unmatched = await database.query<{ n: number }>("select count(*)::int as n from edaflow_saga_unmatched where saga = 'Counter' and correlation_key = $1", [key]);
          return state && state.count + unmatched.rows[0]!.n === 5 ? state : undefined;
        };
        expect(await eventually(expected)).toMatchObject({ status: 'running' });
      }
      const { rows } = await database.query<{ n: number }>("select count(*)::int as n from edaflow_saga_instances where correlation_key like 'broker-%'");
      expect(rows[0]!.n).toBe(10);
    } finally {
      for (const runtime of runtimes) await runtime.stop();
    }
  }, 40_000);
});
