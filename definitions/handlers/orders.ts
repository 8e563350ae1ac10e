// Orders: the typed decider of the Order aggregate's ChangeShippingAddress command, and the hook of
// the OrderSummary projection.
import type { ChangeShippingAddressDecider, EnrichOrderSummaryProjectionHook } from '../generated/index.js';

/** An address can change until the order is cancelled; the same address again changes nothing. */
export const changeShippingAddress: ChangeShippingAddressDecider = (command, state) => {
  const { orderId, shippingAddress } = command.data;
  if (state['status'] === undefined || state['status'] === 'none') throw new Error(`order ${orderId} does not exist`);
  if (state['status'] === 'cancelled') throw new Error(`order ${orderId} is cancelled: its address cannot change`);
  if (JSON.stringify(state['shippingAddress']) === JSON.stringify(shippingAddress)) return [];
  return [{ type: 'ShippingAddressChanged', data: { orderId, shippingAddress } }];
};

/**
 * The summary's total is a sum of price × quantity in binary floating point (9.95 × 3 gives
 * 29.849999999999998): store it rounded to cents, in the transaction that wrote the row.
 */
export const enrichOrderSummary: EnrichOrderSummaryProjectionHook = async (message, context) => {
  switch (message.type) {
    case 'OrderCreated':
      await context.query('UPDATE order_summary SET total = round(total, 2) WHERE id = $1', [message.subject ?? message.data.orderId]);
      return;
    case 'OrderConfirmed':
    case 'OrderCancelled':
    case 'ShippingAddressChanged':
      return;
  }
};
