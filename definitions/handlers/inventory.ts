// Inventory: reserve the lines of an order, or say which SKUs are out of stock; release a reservation.
// Stock is simulated: a SKU starting with "OUT-" is never available.
import type { ReleaseInventoryHandler, ReserveInventoryHandler } from '../generated/index.js';

const isAvailable = (sku: string): boolean => !sku.startsWith('OUT-');

export const reserveInventory: ReserveInventoryHandler = async (message, context) => {
  const { orderId, items } = message.data;
  const unavailableSkus = items.map((item) => item.sku).filter((sku) => !isAvailable(sku));
  if (unavailableSkus.length > 0) {
    await context.emit('InventoryReservationFailed', { orderId, reason: 'Out of stock', unavailableSkus });
    return;
  }
  // One reservation per order: the handler's idempotency key is the order id.
  await context.emit('InventoryReserved', { orderId, reservationId: `r-${context.idempotencyKey}`, items });
};

export const releaseInventory: ReleaseInventoryHandler = async (message, context) => {
  const { orderId, reason } = message.data;
  await context.emit('InventoryReleased', { orderId, reason });
};
