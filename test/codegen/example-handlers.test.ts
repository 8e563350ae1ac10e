import { describe, expect, it } from 'vitest';
import handlers from '../../definitions/handlers/index.js';
import { CARD_LIMIT } from '../../definitions/handlers/payments.js';
import { commandValidators, eventValidators } from '../../definitions/generated/validators.js';

type Sent = { kind: 'emit' | 'send'; type: string; data: unknown };

/** A handler context that records what is emitted and sent, checking each against the generated validators. */
function recorder(idempotencyKey = 'key-1') {
  const sent: Sent[] = [];
  const check = (validate: ((data: unknown) => boolean) & { errors?: unknown }, type: string, data: unknown): void => {
    expect(validate(data), `${type}: ${JSON.stringify(validate.errors)}`).toBe(true);
  };
  const context = {
    emit: async (type: string, data: unknown) => {
      const versions = (eventValidators as unknown as Record<string, Record<number, (data: unknown) => boolean>>)[type]!;
      check(versions[Math.max(...Object.keys(versions).map(Number))]!, type, data);
      sent.push({ kind: 'emit', type, data });
    },
    send: async (type: string, data: unknown) => {
      check((commandValidators as unknown as Record<string, (data: unknown) => boolean>)[type]!, type, data);
      sent.push({ kind: 'send', type, data });
    },
    attempt: 1,
    signal: new AbortController().signal,
    idempotencyKey,
  };
  return { sent, context };
}

function message<T extends string, D>(type: T, data: D) {
  return { id: `m-${type}`, source: 'test', specversion: '1.0' as const, type, subject: 'o-1', time: '2025-03-10T09:00:00Z', datacontenttype: 'application/json', data };
}

const address = { line1: '5 Harbour Rd', city: 'Bristol', postalCode: 'BS1 5TR', country: 'GB' };
const activity = { idempotencyKey: 'saga-1:chargePayment', attempt: 1, signal: new AbortController().signal };

describe('the example handlers', () => {
  it('reserve inventory unless a SKU is out of stock', async () => {
    const ok = recorder('o-1');
    await handlers.reserveInventory(message('ReserveInventory', { orderId: 'o-1', items: [{ sku: 'MUG-WHITE', quantity: 2 }] }), ok.context);
    expect(ok.sent).toEqual([{ kind: 'emit', type: 'InventoryReserved', data: { orderId: 'o-1', reservationId: 'r-o-1', items: [{ sku: 'MUG-WHITE', quantity: 2 }] } }]);

    const short = recorder('o-2');
    await handlers.reserveInventory(message('ReserveInventory', { orderId: 'o-2', items: [{ sku: 'MUG-WHITE', quantity: 1 }, { sku: 'OUT-LAMP', quantity: 1 }] }), short.context);
    expect(short.sent).toEqual([{ kind: 'emit', type: 'InventoryReservationFailed', data: { orderId: 'o-2', reason: 'Out of stock', unavailableSkus: ['OUT-LAMP'] } }]);
  });

  it('charge once per order, decline above the card limit, and refund a cancelled order that was charged', async () => {
    const charged = await handlers.chargePayment({ sagaId: 'saga-1', context: { orderId: 'o-10', total: 47 } }, activity);
    expect(charged).toEqual({ paymentId: 'pay-saga-1:chargePayment' });
    expect(await handlers.chargePayment({ sagaId: 'saga-1', context: { orderId: 'o-10', total: 47 } }, { ...activity, attempt: 2 })).toEqual(charged);
    await expect(handlers.chargePayment({ sagaId: 'saga-2', context: { orderId: 'o-11', total: CARD_LIMIT + 1 } }, activity)).rejects.toThrow(/card declined/);
    await expect(handlers.chargePayment({ sagaId: 'saga-3', context: { orderId: 'o-12' } }, activity)).rejects.toThrow(/context\.total should be a number/);

    const cancel = recorder();
    await handlers.refundCancelledOrder(message('OrderCancelled', { orderId: 'o-10', reason: 'changed my mind', previousStatus: 'confirmed' as const }), cancel.context);
    expect(cancel.sent).toEqual([
      { kind: 'emit', type: 'PaymentRefunded', data: { orderId: 'o-10', paymentId: 'pay-saga-1:chargePayment', amount: 47, reason: 'changed my mind' } },
      { kind: 'send', type: 'ReleaseInventory', data: { orderId: 'o-10', reason: 'order-cancelled' } },
    ]);
    // already refunded: the compensation has nothing left to do
    expect(await handlers.refundPayment({ sagaId: 'saga-1', context: { orderId: 'o-10' } }, activity)).toEqual({ refunded: false });
  });

  it('book a shipment with a carrier for the destination and tell the customer', async () => {
    const { sent, context } = recorder();
    await handlers.createShipment(message('CreateShipment', { orderId: 'o-1', items: [{ sku: 'MUG-WHITE', quantity: 1 }], shippingAddress: address }), context);
    expect(sent.map((s) => [s.kind, s.type])).toEqual([['emit', 'ShipmentCreated'], ['send', 'NotifyCustomer']]);
    const created = sent[0]!.data as { carrier: string; trackingId: string };
    expect(created.carrier).toBe('Royal Mail');
    expect(sent[1]!.data).toEqual({ orderId: 'o-1', kind: 'shipment-dispatched', trackingId: created.trackingId });
  });

  it('decide an address change: rejected for unknown or cancelled orders, nothing for the same address', async () => {
    const command = message('ChangeShippingAddress', { orderId: 'o-1', shippingAddress: address });
    expect(await handlers.changeShippingAddress(command, { status: 'pending', shippingAddress: { ...address, line1: '1 Main St' } })).toEqual([
      { type: 'ShippingAddressChanged', data: { orderId: 'o-1', shippingAddress: address } },
    ]);
    expect(await handlers.changeShippingAddress(command, { status: 'confirmed', shippingAddress: address })).toEqual([]);
    expect(() => handlers.changeShippingAddress(command, { status: 'none' })).toThrow(/does not exist/);
    expect(() => handlers.changeShippingAddress(command, { status: 'cancelled' })).toThrow(/is cancelled/);
  });

  it('round the summary total in the projection hook', async () => {
    const queries: [string, readonly unknown[] | undefined][] = [];
    const context = { query: async (sql: string, params?: readonly unknown[]) => (queries.push([sql, params]), { rows: [] }) };
    await handlers.enrichOrderSummary(message('OrderConfirmed', { orderId: 'o-1' }), context);
    expect(queries).toEqual([]);
    const created = message('OrderCreated', { orderId: 'o-1', customerId: 'c-1', items: [{ sku: 'A', quantity: 3, price: 9.95 }], shippingAddress: address, billingAddress: address });
    await handlers.enrichOrderSummary(created, context);
    expect(queries).toEqual([['UPDATE order_summary SET total = round(total, 2) WHERE id = $1', ['o-1']]]);
  });
});
