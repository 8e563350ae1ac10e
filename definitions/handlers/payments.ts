// Payments: the OrderFulfillment saga charges the order total (activity `chargePayment`) and refunds
// it when a later step fails (compensation `refundPayment`); an order cancelled after it was charged
// is refunded by the `refundCancelledOrder` handler. The card gateway is simulated in memory: it
// declines totals above CARD_LIMIT and remembers charges by order, so repeated calls are idempotent.
import type { ChargePaymentActivity, RefundCancelledOrderHandler, RefundPaymentActivity } from '../generated/index.js';

export const CARD_LIMIT = 5_000;

interface Charge {
  readonly paymentId: string;
  readonly orderId: string;
  readonly amount: number;
  refunded: boolean;
}

const charges = new Map<string, Charge>();

export const chargePayment: ChargePaymentActivity = async ({ context }, { idempotencyKey }) => {
  const orderId = stringField(context, 'orderId');
  const total = numberField(context, 'total');
  const existing = charges.get(orderId);
  if (existing) return { paymentId: existing.paymentId };
  if (total > CARD_LIMIT) throw new Error(`card declined: ${total} is above the limit of ${CARD_LIMIT}`);
  const charge: Charge = { paymentId: `pay-${idempotencyKey}`, orderId, amount: total, refunded: false };
  charges.set(orderId, charge);
  return { paymentId: charge.paymentId };
};

export const refundPayment: RefundPaymentActivity = async ({ context }) => {
  const charge = charges.get(stringField(context, 'orderId'));
  if (!charge || charge.refunded) return { refunded: false };
  charge.refunded = true;
  return { refunded: true, paymentId: charge.paymentId, amount: charge.amount };
};

export const refundCancelledOrder: RefundCancelledOrderHandler = async (message, context) => {
  const { orderId, reason } = message.data;
  const charge = charges.get(orderId);
  // A confirmed order has been paid for; so may a pending one whose saga has charged but not yet confirmed it.
  if (charge && !charge.refunded) {
    charge.refunded = true;
    await context.emit('PaymentRefunded', { orderId, paymentId: charge.paymentId, amount: charge.amount, reason });
  }
  await context.send('ReleaseInventory', { orderId, reason: 'order-cancelled' });
};

/** The saga context is untyped (its values come from JSONata templates): check what an activity relies on. */
function stringField(context: Readonly<Record<string, unknown>>, key: string): string {
  const value = context[key];
  if (typeof value !== 'string' || value === '') throw new TypeError(`saga context.${key} should be a non-empty string, got ${JSON.stringify(value)}`);
  return value;
}

function numberField(context: Readonly<Record<string, unknown>>, key: string): number {
  const value = context[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`saga context.${key} should be a number, got ${JSON.stringify(value)}`);
  return value;
}
