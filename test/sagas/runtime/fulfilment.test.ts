import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Definitions } from '../../../runtime/definitions/index.js';
import { showInstance } from '../../../runtime/sagas/index.js';
import type { Database } from '../../../runtime/store/database.js';
import { openTestEmbedded, openTestPostgres } from '../../conformance/adapters/postgres.js';
import { createOrder, eventually, exampleDefinitions, exampleFunctions, instanceOf, startStack, type Stack } from './support.js';

// The example's OrderFulfillment saga, durable, on the postgres broker with PostgreSQL and with the
// embedded database (the default): the real
// handlers reserve inventory and create shipments; the saga charges through the `chargePayment`
// activity and compensates on failure.

/** Orders whose shipping system never answers (their `ship` step times out). */
const silentShipping = new Set<string>();
const functions = exampleFunctions(silentShipping);

describe.each(['postgres', 'embedded'] as const)('OrderFulfillment, durable (postgres broker on %s)', (kind) => {
  let definitions: Definitions;
  let database: Database;
  let dispose: () => Promise<void>;
  let stack: Stack | undefined;

  beforeAll(async () => {
    definitions = await exampleDefinitions();
    ({ database, dispose } = kind === 'postgres' ? await openTestPostgres() : await openTestEmbedded());
    stack = await startStack(definitions, database, functions);
  }, 120_000);

  afterAll(async () => {
    await stack?.stop();
    if (kind === 'postgres') await dispose?.();
    await database?.close();
    if (kind === 'embedded') await dispose?.();
  });

  const status = (order: string, expected: string) => async () => {
    const instance = await instanceOf(database, 'OrderFulfillment', order);
    return instance?.status === expected ? instance : undefined;
  };

  it('completes: reserve, charge, record the payment, ship, confirm', async () => {
    await createOrder(stack!, `${kind}-ok-1`);
    const done = await eventually(status(`${kind}-ok-1`, 'completed'));
    expect(done.state).toBe('completed');
    expect(done.context['chargePayment']).toEqual({ paymentId: expect.stringMatching(/^pay-/) });
    const detail = await showInstance(database, done.id);
    expect(detail.history.map((entry) => entry.to)).toEqual(['reserveInventory', 'chargePayment', 'ship', 'completed']);
    expect(detail.timers).toEqual([]);
    expect(detail.activities).toEqual([expect.objectContaining({ activity: 'chargePayment', status: 'done', attempts: 1, key: `${done.id}:chargePayment` })]);
    // ConfirmOrder reached the Order aggregate; ShipmentCreated also started DeliveryTracking.
    await eventually(async () => {
      const { rows } = await database.query<{ type: string }>("select type from edaflow_events where stream_id = $1 order by version", [`${kind}-ok-1`]);
      return rows.some((row) => row.type === 'OrderConfirmed') ? rows : undefined;
    });
    const tracking = await eventually(async () => {
      const { rows } = await database.query("select status, state from edaflow_saga_instances where saga = 'DeliveryTracking' and correlation_key like $1", [`s-%`]);
      return rows.length ? rows : undefined;
    });
    expect(tracking).toEqual([{ status: 'running', state: 'inTransit' }]);
  }, 30_000);

  it('a payment failure compensates the inventory reservation, and only that', async () => {
    await createOrder(stack!, `${kind}-declined-1`, 5_000);
    const failed = await eventually(status(`${kind}-declined-1`, 'failed'), 30_000);
    const saga = failed.context['$saga'] as { failure: { step: string; reason: string }; compensated: string[] };
    expect(saga.failure.step).toBe('chargePayment');
    expect(saga.failure.reason).toMatch(/card declined/);
    expect(saga.compensated).toEqual(['reserveInventory']);
    const detail = await showInstance(database, failed.id);
    expect(detail.activities).toEqual([expect.objectContaining({ activity: 'chargePayment', status: 'failed', attempts: 3 })]);
    // The ReleaseInventory compensation ran: the inventory topic has InventoryReleased for this order.
    await eventually(async () => {
      const { rows } = await database.query(
        "select 1 from edaflow_topic_messages where topic = 'inventory' and headers::text like '%InventoryReleased%' and convert_from(body, 'UTF8') like $1",
        [`%${kind}-declined-1%`],
      );
      return rows.length ? rows : undefined;
    });
  }, 40_000);

  it('a shipment timeout fires after a restart that spanned its due time, and compensates', async () => {
    silentShipping.add(`${kind}-late-1`);
    await createOrder(stack!, `${kind}-late-1`);
    const waiting = await eventually(async () => {
      const instance = await instanceOf(database, 'OrderFulfillment', `${kind}-late-1`);
      return instance?.state === 'ship' ? instance : undefined;
    });
    await stack!.stop();
    stack = undefined;
    // While no process runs, the 15-minute timeout falls due.
    const moved = await database.query("update edaflow_saga_timers set fire_at = now() - interval '1 second' where instance_id = $1 and name = 'ship.timeout'", [waiting.id]);
    expect(moved.affectedRows).toBe(1);
    stack = await startStack(definitions, database, functions);
    const failed = await eventually(status(`${kind}-late-1`, 'failed'));
    const saga = failed.context['$saga'] as { failure: { step: string; reason: string }; compensated: string[] };
    expect(saga.failure).toEqual({ step: 'ship', reason: 'step ship timed out after 15m' });
    // Reverse order: the refund activity, then the inventory release.
    expect(saga.compensated).toEqual(['chargePayment', 'reserveInventory']);
    const detail = await showInstance(database, failed.id);
    expect(detail.activities.map((activity) => [activity.key, activity.status])).toEqual([
      [`${failed.id}:chargePayment`, 'done'],
      [`${failed.id}:chargePayment:compensate`, 'done'],
    ]);
    expect(detail.timers).toEqual([]);
  }, 40_000);
});
