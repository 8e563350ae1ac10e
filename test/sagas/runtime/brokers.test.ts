import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerAdapter, Subscription } from '../../../runtime/brokers/adapter.js';
import { createBroker } from '../../../runtime/brokers/index.js';
import type { Definitions, RetryPolicy } from '../../../runtime/definitions/index.js';
import { decode, type Envelope } from '../../../runtime/envelope/index.js';
import { planMessaging } from '../../../runtime/messaging/index.js';
import { showInstance } from '../../../runtime/sagas/index.js';
import type { Database } from '../../../runtime/store/database.js';
import { openTestPostgres } from '../../conformance/adapters/postgres.js';
import { ensureServers } from '../../servers/servers.mjs';
import { exampleOnBroker, newRun, removeRunDestinations, type ExampleBroker } from './brokers-support.js';
import { createOrder, eventually, exampleFunctions, instanceOf, logger, startStack, type Stack } from './support.js';

// The example's OrderFulfillment saga with its topics and its queue on each external broker (the
// README's brokers file), the database on PostgreSQL: the saga reads OrderCreated, InventoryReserved and
// ShipmentCreated from the broker, and its commands and events travel over it. The postgres broker
// (PostgreSQL and embedded) runs the same scenarios in fulfilment.test.ts. The memory broker is one per
// process: its observer is the runtime's own adapter. SQS is not here: it has no topics (no
// publish/subscribe), so the example, whose events all travel on topics, cannot run on it.

/** Orders whose shipping system never answers (their `ship` step times out). */
const silentShipping = new Set<string>();
const functions = exampleFunctions(silentShipping);
const NO_RETRY: RetryPolicy = { attempts: 1, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false };

describe.each(['rabbitmq', 'nats', 'kafka', 'memory'] as const satisfies readonly ExampleBroker[])('OrderFulfillment on %s (database on PostgreSQL)', (broker) => {
  const run = newRun();
  let definitions: Definitions | undefined;
  let database: Database;
  let dispose: () => Promise<void>;
  let stack: Stack | undefined;
  /** A reader of its own on the broker: what it sees went over the broker, not through the process. */
  let observer: BrokerAdapter | undefined;
  const subscriptions: Subscription[] = [];
  const observed: { topic: string; envelope: Envelope }[] = [];

  async function observe(topic: string): Promise<void> {
    const destination = { kind: 'topic', name: `${topic}-${run}` } as const;
    const subscription = await observer!.subscribe(
      { destination, group: `observer-${run}`, deadLetter: null, retry: NO_RETRY, concurrency: 1, prefetch: 50, ephemeral: true },
      async (delivery) => {
        observed.push({ topic, envelope: decode(delivery.headers, delivery.body, observer!.capabilities.headerPrefix) });
        await delivery.ack();
      },
    );
    subscriptions.push(subscription);
  }

  const seen = (topic: string, type: string, orderId: string): boolean =>
    observed.some(({ topic: on, envelope }) => on === topic && envelope.type === type && (envelope.data as { orderId?: string }).orderId === orderId);

  beforeAll(async () => {
    await ensureServers(broker === 'memory' ? ['postgres'] : [broker, 'postgres']);
    definitions = await exampleOnBroker(broker, run);
    ({ database, dispose } = await openTestPostgres());
    if (broker !== 'memory') {
      observer = await createBroker('main', definitions.brokers.get('main')!.spec, { logger });
      await observer.connect();
    }
    stack = await startStack(definitions, database, functions);
    observer ??= stack.brokers.get('main');
    await observe('inventory');
    await observe('payments');
  }, 120_000);

  afterAll(async () => {
    for (const subscription of subscriptions) await subscription.stop();
    await stack?.stop();
    if (broker !== 'memory') await observer?.close();
    await dispose?.();
    await database?.close();
    if (definitions) await removeRunDestinations(broker, run, planMessaging(definitions).topologies.get('main'));
  }, 60_000);

  const status = (order: string, expected: string) => async () => {
    const instance = await instanceOf(database, 'OrderFulfillment', order);
    return instance?.status === expected ? instance : undefined;
  };

  const orderEvents = async (order: string): Promise<string[]> => {
    const { rows } = await database.query<{ type: string }>('select type from edaflow_events where stream_id = $1 order by version', [order]);
    return rows.map((row) => row.type);
  };

  it('completes: reserve, charge, record the payment, ship, confirm', async () => {
    const order = `${run}-ok`;
    await createOrder(stack!, order);
    const done = await eventually(status(order, 'completed'), 30_000);
    expect(done.context['chargePayment']).toEqual({ paymentId: expect.stringMatching(/^pay-/) });
    const detail = await showInstance(database, done.id);
    expect(detail.history.map((entry) => entry.to)).toEqual(['reserveInventory', 'chargePayment', 'ship', 'completed']);
    expect(detail.timers).toEqual([]);
    // The saga's ConfirmOrder reached the Order aggregate.
    await eventually(async () => ((await orderEvents(order)).includes('OrderConfirmed') ? true : undefined));
    expect(await orderEvents(order)).toEqual(['OrderCreated', 'OrderConfirmed']);
    // InventoryReserved and the saga's PaymentProcessed went over the broker.
    await eventually(async () => (seen('inventory', 'InventoryReserved', order) && seen('payments', 'PaymentProcessed', order) ? true : undefined));
  }, 45_000);

  it('a payment failure compensates the inventory reservation, and only that', async () => {
    const order = `${run}-declined`;
    await createOrder(stack!, order, 5_000);
    const failed = await eventually(status(order, 'failed'), 40_000);
    const saga = failed.context['$saga'] as { failure: { step: string; reason: string }; compensated: string[] };
    expect(saga.failure.step).toBe('chargePayment');
    expect(saga.failure.reason).toMatch(/card declined/);
    expect(saga.compensated).toEqual(['reserveInventory']);
    // No refund: the charge never succeeded, so its compensation (refundPayment) did not run.
    const detail = await showInstance(database, failed.id);
    expect(detail.activities).toEqual([expect.objectContaining({ activity: 'chargePayment', status: 'failed', attempts: 3 })]);
    // ReleaseInventory was handled: its InventoryReleased is on the broker's inventory topic.
    await eventually(async () => (seen('inventory', 'InventoryReleased', order) ? true : undefined));
    expect(seen('payments', 'PaymentProcessed', order)).toBe(false);
    expect(seen('payments', 'PaymentRefunded', order)).toBe(false);
    expect(await orderEvents(order)).toEqual(['OrderCreated']);
  }, 60_000);

  it('a shipment timeout fires after a restart that spanned its due time, and compensates', async () => {
    const order = `${run}-late`;
    silentShipping.add(order);
    await createOrder(stack!, order);
    const waiting = await eventually(async () => {
      const instance = await instanceOf(database, 'OrderFulfillment', order);
      return instance?.state === 'ship' ? instance : undefined;
    }, 30_000);
    await stack!.stop();
    stack = undefined;
    // While no process runs, the 15-minute timeout falls due.
    const moved = await database.query("update edaflow_saga_timers set fire_at = now() - interval '1 second' where instance_id = $1 and name = 'ship.timeout'", [waiting.id]);
    expect(moved.affectedRows).toBe(1);
    if (broker === 'memory') subscriptions.length = 0; // stopped with the process's broker
    stack = await startStack(definitions!, database, functions);
    const failed = await eventually(status(order, 'failed'), 40_000);
    const saga = failed.context['$saga'] as { failure: { step: string; reason: string }; compensated: string[] };
    expect(saga.failure).toEqual({ step: 'ship', reason: 'step ship timed out after 15m' });
    expect(saga.compensated).toEqual(['chargePayment', 'reserveInventory']);
    const detail = await showInstance(database, failed.id);
    expect(detail.activities.map((activity) => [activity.key, activity.status])).toEqual([[`${failed.id}:chargePayment`, 'done'], [`${failed.id}:chargePayment:compensate`, 'done']]);
    // The ReleaseInventory it sent was handled over the broker (the memory broker's observer went with the stopped process).
    if (broker !== 'memory') await eventually(async () => (seen('inventory', 'InventoryReleased', order) ? true : undefined), 30_000);
  }, 90_000);
});
