import { beforeAll, describe, expect, it } from 'vitest';
import { loadDefinitions, type Definitions } from '../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import {
  ACTIVITY_DONE,
  ACTIVITY_FAILED,
  RETRY_COMPENSATION,
  TIMER_FIRED,
  createSagaMachine,
  start,
  step,
  type InvokeEffect,
  type PersistedSagaSnapshot,
  type SagaEffect,
  type SagaEvent,
  type SagaMachine,
  type SagaStepResult,
} from '../../runtime/sagas/index.js';

let definitions: Definitions;
let fulfilment: SagaMachine;
let tracking: SagaMachine;

beforeAll(async () => {
  const loaded = await loadDefinitions('definitions');
  expect(loaded.errorCount).toBe(0);
  definitions = loaded.definitions!;
  fulfilment = createSagaMachine('OrderFulfillment', definitions.sagas.get('OrderFulfillment')!.spec, definitions);
  tracking = createSagaMachine('DeliveryTracking', definitions.sagas.get('DeliveryTracking')!.spec, definitions);
});

const message = (type: string, data: unknown, subject?: string): Envelope => createEnvelope(type, data, 'saga-test', subject === undefined ? {} : { subject });

const ORDER_CREATED = () => message('OrderCreated', {
  customerId: 'c-7',
  items: [{ sku: 'TSHIRT-M-BLUE', quantity: 2, price: 15 }, { sku: 'MUG-WHITE', quantity: 1, price: 17 }],
  shippingAddress: { line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' },
}, 'o-1001');
const ITEMS = [{ sku: 'TSHIRT-M-BLUE', quantity: 2 }, { sku: 'MUG-WHITE', quantity: 1 }];
const RESERVED = () => message('InventoryReserved', { orderId: 'o-1001', reservationId: 'r-77', items: ITEMS });
const CHARGED: SagaEvent = { type: ACTIVITY_DONE, activity: 'chargePayment', step: 'chargePayment', result: { paymentId: 'pay-9001' } };

/**
 * Every step goes through a JSON round trip of the stored snapshot, as the durable runtime will do:
 * what `step` gets is only ever what a database would give back.
 */
async function drive(machine: SagaMachine, first: Envelope, events: readonly SagaEvent[]): Promise<SagaStepResult[]> {
  const results = [await start(machine, first)];
  for (const event of events) {
    const stored = JSON.parse(JSON.stringify(results.at(-1)!.snapshot)) as PersistedSagaSnapshot;
    results.push(await step(machine, stored, event));
  }
  return results;
}

const kinds = (effects: readonly SagaEffect[]): string[] => effects.map((effect) => {
  switch (effect.kind) {
    case 'send': return `send ${effect.command}`;
    case 'emit': return `emit ${effect.event}`;
    case 'invoke': return `invoke ${effect.activity}${effect.compensation ? ' (compensation)' : ''}`;
    case 'schedule': return `schedule ${effect.timer}`;
    case 'cancel': return `cancel ${effect.timer}`;
  }
});

describe('OrderFulfillment (steps form)', () => {
  it('compiles one state per step, a compensation state per compensable step, and the final states', () => {
    expect(Object.keys(fulfilment.config.states)).toEqual([
      'reserveInventory', 'chargePayment', 'recordPayment', 'ship', 'confirm',
      'compensating', 'compensate_reserveInventory', 'compensate_chargePayment', 'completed', 'failed',
    ]);
    expect(fulfilment.config.states['completed']!.type).toBe('final');
    expect(fulfilment.config.states['failed']!.type).toBe('final');
    // Reverse step order: the later step is compensated first.
    expect(fulfilment.config.states['compensating']!.always!.map((transition) => transition.target)).toEqual(['compensate_chargePayment', 'compensate_reserveInventory', 'failed']);
  });

  it('runs the happy path: reserve, charge, record, ship, confirm', async () => {
    const results = await drive(fulfilment, ORDER_CREATED(), [
      RESERVED(),
      CHARGED,
      message('ShipmentCreated', { orderId: 'o-1001', shipmentId: 's-501', trackingId: '1Z', carrier: 'UPS' }),
    ]);
    const [started, reserved, charged, shipped] = results as [SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult];

    expect(started.state).toBe('reserveInventory');
    expect(started.status).toBe('running');
    expect(kinds(started.effects)).toEqual(['schedule saga.timeout', 'send ReserveInventory', 'schedule reserveInventory.timeout']);
    expect(started.effects).toContainEqual({ kind: 'schedule', timer: 'saga.timeout', delayMs: 3_600_000 });
    expect(started.effects).toContainEqual({ kind: 'send', command: 'ReserveInventory', data: { orderId: 'o-1001', items: ITEMS } });
    expect(started.effects).toContainEqual({ kind: 'schedule', timer: 'reserveInventory.timeout', delayMs: 30_000 });
    expect(started.context).toMatchObject({ orderId: 'o-1001', customerId: 'c-7', items: ITEMS, total: 47, $saga: { completed: [] } });

    expect(reserved.state).toBe('chargePayment');
    expect(kinds(reserved.effects)).toEqual(['cancel reserveInventory.timeout', 'invoke chargePayment', 'schedule chargePayment.timeout']);
    const invoke = reserved.effects.find((effect): effect is InvokeEffect => effect.kind === 'invoke')!;
    expect(invoke).toMatchObject({ activity: 'chargePayment', step: 'chargePayment', compensation: false, timeoutMs: 10_000, retry: { attempts: 3, backoff: 'exponential', delayMs: 1_000 } });
    expect(invoke.context).toMatchObject({ orderId: 'o-1001', total: 47, reserveInventory: { reservationId: 'r-77' } });
    expect('$saga' in invoke.context).toBe(false);
    expect(invoke.message?.type).toBe('InventoryReserved');

    // The activity's result lands in context.chargePayment; recordPayment emits at once, then ship sends.
    expect(charged.state).toBe('ship');
    expect(kinds(charged.effects)).toEqual(['cancel chargePayment.timeout', 'emit PaymentProcessed', 'send CreateShipment', 'schedule ship.timeout']);
    expect(charged.effects).toContainEqual({ kind: 'emit', event: 'PaymentProcessed', data: { orderId: 'o-1001', paymentId: 'pay-9001', amount: 47 } });
    expect(charged.effects).toContainEqual({ kind: 'send', command: 'CreateShipment', data: { orderId: 'o-1001', shippingAddress: { line1: '1 Main St', city: 'Springfield', postalCode: '12345', country: 'US' }, items: ITEMS } });
    expect(charged.context['chargePayment']).toEqual({ paymentId: 'pay-9001' });

    expect(shipped.state).toBe('completed');
    expect(shipped.status).toBe('completed');
    expect(kinds(shipped.effects)).toEqual(['cancel ship.timeout', 'send ConfirmOrder']);
    expect(shipped.context.$saga).toEqual({ completed: ['reserveInventory', 'chargePayment', 'recordPayment', 'ship', 'confirm'] });
    expect(shipped.snapshot['status']).toBe('done');
  });

  it('compensates only the inventory reservation when the payment fails, then fails with the reason', async () => {
    const [, , failed] = await drive(fulfilment, ORDER_CREATED(), [
      RESERVED(),
      { type: ACTIVITY_FAILED, activity: 'chargePayment', step: 'chargePayment', error: 'card declined' },
    ]) as [SagaStepResult, SagaStepResult, SagaStepResult];
    expect(failed.state).toBe('failed');
    expect(failed.status).toBe('failed');
    // No refund: chargePayment never completed. The reservation is released.
    expect(kinds(failed.effects)).toEqual(['cancel chargePayment.timeout', 'send ReleaseInventory']);
    expect(failed.effects).toContainEqual({ kind: 'send', command: 'ReleaseInventory', data: { orderId: 'o-1001', reason: 'fulfilment-failed' } });
    expect(failed.context.$saga).toEqual({
      completed: ['reserveInventory'],
      compensated: ['reserveInventory'],
      failure: { step: 'chargePayment', reason: 'activity chargePayment failed: card declined' },
    });
  });

  it('compensates in reverse order, awaiting the refund before releasing the inventory', async () => {
    const results = await drive(fulfilment, ORDER_CREATED(), [
      RESERVED(),
      CHARGED,
      { type: TIMER_FIRED, timer: 'ship.timeout' },
      { type: ACTIVITY_DONE, activity: 'refundPayment', step: 'chargePayment', compensation: true, result: { refunded: true } },
    ]);
    const [, , , timedOut, refunded] = results as SagaStepResult[] as [SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult];
    expect(timedOut.state).toBe('compensate_chargePayment');
    expect(timedOut.status).toBe('compensating');
    expect(kinds(timedOut.effects)).toEqual(['cancel ship.timeout', 'invoke refundPayment (compensation)']);
    expect(timedOut.context.$saga?.failure).toEqual({ step: 'ship', reason: 'step ship timed out after 15m' });

    expect(refunded.state).toBe('failed');
    expect(refunded.status).toBe('failed');
    expect(kinds(refunded.effects)).toEqual(['send ReleaseInventory']);
    expect(refunded.context.$saga?.compensated).toEqual(['chargePayment', 'reserveInventory']);
  });

  it('turns a step timeout into a timer effect and its firing into a failure', async () => {
    const [started, timedOut] = await drive(fulfilment, ORDER_CREATED(), [{ type: TIMER_FIRED, timer: 'reserveInventory.timeout' }]) as [SagaStepResult, SagaStepResult];
    expect(started.effects).toContainEqual({ kind: 'schedule', timer: 'reserveInventory.timeout', delayMs: 30_000 });
    // Nothing completed, so nothing is compensated.
    expect(timedOut.state).toBe('failed');
    expect(timedOut.effects).toEqual([{ kind: 'cancel', timer: 'reserveInventory.timeout' }]);
    expect(timedOut.context.$saga).toEqual({ completed: [], failure: { step: 'reserveInventory', reason: 'step reserveInventory timed out after 30s' } });
  });

  it('fails on the saga timeout from whichever step is waiting', async () => {
    const [, , late] = await drive(fulfilment, ORDER_CREATED(), [RESERVED(), { type: TIMER_FIRED, timer: 'saga.timeout' }]) as [SagaStepResult, SagaStepResult, SagaStepResult];
    expect(late.state).toBe('failed');
    expect(kinds(late.effects)).toEqual(['cancel chargePayment.timeout', 'send ReleaseInventory']);
    expect(late.context.$saga?.failure).toEqual({ reason: 'the saga timed out after 1h' });
  });

  it('ignores a timer of a state it has left and any event of no concern; a final saga ignores everything', async () => {
    const [, reserved, stale, unrelated] = await drive(fulfilment, ORDER_CREATED(), [
      RESERVED(),
      { type: TIMER_FIRED, timer: 'reserveInventory.timeout' },
      message('ShipmentDelayed', { orderId: 'o-1001', shipmentId: 's', reason: 'storm' }),
    ]) as [SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult];
    for (const result of [stale, unrelated]) {
      expect(result.changed).toBe(false);
      expect(result.effects).toEqual([]);
      expect(result.snapshot).toEqual(reserved.snapshot);
    }
    const [, , failed] = await drive(fulfilment, ORDER_CREATED(), [message('InventoryReservationFailed', { orderId: 'o-1001', reason: 'Out of stock' }), RESERVED()]) as [SagaStepResult, SagaStepResult, SagaStepResult];
    expect(failed.status).toBe('failed');
    expect(failed.changed).toBe(false);
    expect(failed.context.$saga?.failure).toEqual({ step: 'reserveInventory', reason: 'InventoryReservationFailed: Out of stock' });
  });

  it('is stuck, not final, when a compensation fails every attempt, until an operator retries it', async () => {
    const results = await drive(fulfilment, ORDER_CREATED(), [
      RESERVED(),
      CHARGED,
      { type: TIMER_FIRED, timer: 'saga.timeout' },
      { type: ACTIVITY_FAILED, activity: 'refundPayment', step: 'chargePayment', compensation: true, error: 'gateway down' },
      { type: RETRY_COMPENSATION },
      { type: ACTIVITY_DONE, activity: 'refundPayment', step: 'chargePayment', compensation: true, result: null },
    ]);
    const [, , , , stuck, retried, done] = results as [SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult];
    expect(stuck.status).toBe('stuck');
    expect(stuck.state).toBe('compensate_chargePayment');
    expect(stuck.context.$saga?.stuck).toEqual({ step: 'chargePayment', error: 'gateway down' });
    expect(retried.status).toBe('compensating');
    expect(kinds(retried.effects)).toEqual(['invoke refundPayment (compensation)']);
    expect(done.status).toBe('failed');
    expect(kinds(done.effects)).toEqual(['send ReleaseInventory']);
  });

  it('round-trips every snapshot through JSON and resumes from it identically', async () => {
    const events: SagaEvent[] = [RESERVED(), CHARGED];
    const results = await drive(fulfilment, ORDER_CREATED(), events);
    for (const result of results) expect(JSON.parse(JSON.stringify(result.snapshot))).toEqual(result.snapshot);
    // Resuming from a restored snapshot gives what resuming from the live result gives.
    const fromStored = await step(fulfilment, JSON.parse(JSON.stringify(results[1]!.snapshot)) as PersistedSagaSnapshot, CHARGED);
    const fromLive = await step(fulfilment, results[1]!.snapshot, CHARGED);
    expect(fromStored).toEqual(fromLive);
  });

  it('rejects a stored snapshot whose state the definition no longer has', async () => {
    const started = await start(fulfilment, ORDER_CREATED());
    const error = await step(fulfilment, { ...started.snapshot, value: 'vanished' }, RESERVED()).catch((caught: unknown) => caught);
    expect(isEdaflowError(error, 'EDA_SAGA_SNAPSHOT')).toBe(true);
  });
});

describe('DeliveryTracking (machine form)', () => {
  const created = () => message('ShipmentCreated', { orderId: 'o-1001', shipmentId: 's-501', trackingId: '1Z999', carrier: 'UPS' });
  const delayed = (reason: string) => message('ShipmentDelayed', { orderId: 'o-1001', shipmentId: 's-501', reason });

  it('assigns, takes the guarded `always` on the third delay, and sends from entry actions', async () => {
    const results = await drive(tracking, created(), [delayed('storm'), delayed('strike'), delayed('flood')]);
    const [started, first, , third] = results as [SagaStepResult, SagaStepResult, SagaStepResult, SagaStepResult];
    expect(started.state).toBe('inTransit');
    expect(started.effects).toEqual([{ kind: 'schedule', timer: 'inTransit.after.10d', delayMs: 864_000_000 }]);
    expect(started.context).toEqual({ orderId: 'o-1001', shipmentId: 's-501', trackingId: '1Z999', delays: 0 });
    expect(first.state).toBe('inTransit');
    expect(first.changed).toBe(true);
    expect(first.context).toMatchObject({ delays: 1, lastDelayReason: 'storm' });
    expect(third.state).toBe('escalated');
    expect(third.effects).toEqual([
      { kind: 'cancel', timer: 'inTransit.after.10d' },
      { kind: 'send', command: 'NotifyCustomer', data: { orderId: 'o-1001', kind: 'delivery-delayed', trackingId: '1Z999' } },
      { kind: 'schedule', timer: 'escalated.after.7d', delayMs: 604_800_000 },
    ]);
  });

  it('turns `after` into a durable timer: its firing takes the transition, and the final state completes the saga', async () => {
    const [, lost] = await drive(tracking, created(), [{ type: TIMER_FIRED, timer: 'inTransit.after.10d' }]) as [SagaStepResult, SagaStepResult];
    expect(lost.state).toBe('lost');
    expect(lost.status).toBe('completed');
    expect(lost.effects).toEqual([
      { kind: 'cancel', timer: 'inTransit.after.10d' },
      { kind: 'send', command: 'NotifyCustomer', data: { orderId: 'o-1001', kind: 'shipment-lost', trackingId: '1Z999' } },
    ]);
  });
});

describe('machine form: activities and the saga timeout', () => {
  const spec = {
    startedBy: 'OrderCreated',
    timeout: '2h',
    context: { orderId: '{% subject %}' },
    machine: {
      initial: 'charging',
      states: {
        charging: {
          entry: [{ invoke: 'chargePayment' }],
          on: { PaymentProcessed: { target: 'paid', when: 'data.paymentId = context.chargePayment.paymentId' } },
        },
        paid: { type: 'final' as const },
      },
    },
  };

  it('puts an activity result in context.<activity>, which later guards can read', async () => {
    const machine = createSagaMachine('Charging', spec, definitions);
    const [started, charged, paid] = await drive(machine, ORDER_CREATED(), [
      { type: ACTIVITY_DONE, activity: 'chargePayment', step: 'charging', result: { paymentId: 'pay-1' } },
      message('PaymentProcessed', { orderId: 'o-1001', paymentId: 'pay-1', amount: 47 }),
    ]) as [SagaStepResult, SagaStepResult, SagaStepResult];
    expect(kinds(started.effects)).toEqual(['schedule saga.timeout', 'invoke chargePayment']);
    expect(charged.state).toBe('charging');
    expect(charged.context['chargePayment']).toEqual({ paymentId: 'pay-1' });
    expect(paid.status).toBe('completed');
  });

  it('ends in `failed` with the reason when an activity fails or the saga times out', async () => {
    const machine = createSagaMachine('Charging', spec, definitions);
    expect(machine.config.states['failed']).toEqual({ type: 'final' });
    const [, declined] = await drive(machine, ORDER_CREATED(), [{ type: ACTIVITY_FAILED, activity: 'chargePayment', step: 'charging', error: 'declined' }]) as [SagaStepResult, SagaStepResult];
    expect(declined.status).toBe('failed');
    expect(declined.context.$saga?.failure).toEqual({ reason: 'activity chargePayment failed: declined' });
    const [, late] = await drive(machine, ORDER_CREATED(), [{ type: TIMER_FIRED, timer: 'saga.timeout' }]) as [SagaStepResult, SagaStepResult];
    expect(late.state).toBe('failed');
    expect(late.context.$saga?.failure).toEqual({ reason: 'the saga timed out after 2h' });
  });
});

describe('compilation errors', () => {
  it('refuses a step named like one of the compiled states', () => {
    const spec = { startedBy: 'OrderCreated', steps: [{ name: 'completed', emit: { event: 'OrderPaid' } }] } as never;
    expect(() => createSagaMachine('Bad', spec, definitions)).toThrow(/cannot be named "completed"/);
  });

  it('reports a guard that fails to evaluate as EDA_SAGA_EXPRESSION', async () => {
    const machine = createSagaMachine('Broken', {
      startedBy: 'OrderCreated',
      machine: { initial: 'a', states: { a: { on: { OrderConfirmed: { target: 'b', when: '$notAFunction(1)' } } }, b: { type: 'final' } } },
    }, definitions);
    const started = await start(machine, ORDER_CREATED());
    const error = await step(machine, started.snapshot, message('OrderConfirmed', {})).catch((caught: unknown) => caught);
    expect(isEdaflowError(error, 'EDA_SAGA_EXPRESSION')).toBe(true);
  });
});
