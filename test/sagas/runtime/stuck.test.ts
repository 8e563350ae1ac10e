import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions, memoryFileSystem } from '../../../runtime/definitions/index.js';
import type { HandlerFunctions } from '../../../runtime/host/handlers-module.js';
import { MemoryDedupStore } from '../../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../../runtime/messaging/index.js';
import { Metrics } from '../../../runtime/observability/metrics.js';
import { createOutbox } from '../../../runtime/outbox/index.js';
import { showInstance, startSagas, type SagaRuntime } from '../../../runtime/sagas/index.js';
import type { Database } from '../../../runtime/store/database.js';
import { openTestPostgres } from '../../conformance/adapters/postgres.js';
import { eventually, instanceOf, logger } from './support.js';

// A compensation that fails every attempt leaves the saga `stuck` (status, metric), never silently
// finished; `edaflow.retry`, on a schedule, runs it again with a new idempotency key.
const YAML = `
edaflow: 1
topics: { bookings: {} }
events:
  BookingStarted: { topic: bookings, versions: { 1: { schema: { type: object, required: [key], properties: { key: { type: string } } } } } }
sagas:
  Booking:
    startedBy: BookingStarted
    correlate: { BookingStarted: data.key }
    context: { key: "{% data.key %}" }
    steps:
      - name: reserve
        invoke: reserve
        retry: { attempts: 2, backoff: fixed, delay: 10ms }
        compensate: { invoke: unreserve }
      - name: charge
        invoke: charge
        retry: { attempts: 1 }
`;

let database: Database;
let dispose: () => Promise<void>;
let messaging: Messaging;
let sagas: SagaRuntime;
const metrics = new Metrics();
let unreserveWorks = false;
const calls: string[] = [];
const functions = {
  reserve: async (_input: unknown, context: { idempotencyKey: string }) => {
    calls.push(`reserve ${context.idempotencyKey}`);
    return { reservation: 'r-1' };
  },
  charge: async () => {
    throw new Error('card declined');
  },
  unreserve: async (_input: unknown, context: { idempotencyKey: string; attempt: number }) => {
    calls.push(`unreserve ${context.idempotencyKey} #${context.attempt}`);
    if (!unreserveWorks) throw new Error('inventory service down');
    return { released: true };
  },
} as unknown as HandlerFunctions;

beforeAll(async () => {
  const definitions = (await loadDefinitions('/test', { fileSystem: memoryFileSystem({ 'app.yaml': YAML }, '/test') })).definitions!;
  ({ database, dispose } = await openTestPostgres());
  messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
  const { catalog, brokers, plan, publisher } = messaging;
  sagas = await startSagas({ definitions, database, catalog, brokers, plan, outbox: createOutbox({ publisher }), functions, logger, metrics, pollIntervalMs: 100, stuckRetryMs: 1_500 });
}, 60_000);

afterAll(async () => {
  await sagas?.stop();
  await messaging?.stop();
  await dispose?.();
  await database?.close();
});

describe('a stuck compensation', () => {
  it('is visible as stuck, then retried by edaflow.retry until it succeeds', async () => {
    await messaging.publisher.publish('BookingStarted', { key: 'b-1' });
    const stuck = await eventually(async () => {
      const instance = await instanceOf(database, 'Booking', 'b-1');
      return instance?.status === 'stuck' ? instance : undefined;
    });
    expect(stuck.state).toBe('compensate_reserve');
    expect(stuck.context['$saga']).toMatchObject({ completed: ['reserve'], stuck: { step: 'reserve', error: 'inventory service down' } });
    expect(await metrics.registry.getSingleMetricAsString('edaflow_saga_instances')).toContain('edaflow_saga_instances{saga="Booking",status="stuck"} 1');
    const detail = await showInstance(database, stuck.id);
    expect(detail.timers.map((timer) => timer.name)).toEqual(['$retry']);

    unreserveWorks = true;
    const failed = await eventually(async () => {
      const instance = await instanceOf(database, 'Booking', 'b-1');
      return instance?.status === 'failed' ? instance : undefined;
    });
    expect(failed.context['$saga']).toMatchObject({ completed: ['reserve'], compensated: ['reserve'], failure: { step: 'charge' } });
    expect(calls).toEqual([
      `reserve ${stuck.id}:reserve`,
      `unreserve ${stuck.id}:reserve:compensate #1`,
      `unreserve ${stuck.id}:reserve:compensate #2`,
      // The operator-triggered retry is a new invocation: a new key, attempts from 1.
      `unreserve ${stuck.id}:reserve:compensate:2 #1`,
    ]);
    const history = (await showInstance(database, stuck.id)).history.map((entry) => `${entry.event} -> ${entry.to} (${entry.status})`);
    expect(history).toEqual([
      'BookingStarted -> reserve (running)',
      'edaflow.activity.done -> charge (running)',
      'edaflow.activity.failed -> compensate_reserve (compensating)',
      'edaflow.activity.failed -> compensate_reserve (stuck)',
      'edaflow.retry -> compensate_reserve (compensating)',
      'edaflow.activity.done -> failed (failed)',
    ]);
    // Step latency: each state left once, its time in it observed (compensate_reserve only on leaving for good).
    const latency = await metrics.registry.getSingleMetricAsString('edaflow_saga_state_seconds');
    for (const state of ['reserve', 'charge', 'compensate_reserve']) {
      expect(latency).toContain(`edaflow_saga_state_seconds_count{saga="Booking",state="${state}"} 1`);
    }
  }, 30_000);
});
