// The example's handlers module: every function the definitions name, checked against the generated
// types by `defineHandlers`. Run it with `edaflow run definitions --handlers definitions/handlers/index.ts`.
import { defineHandlers } from '../generated/index.js';
import { releaseInventory, reserveInventory } from './inventory.js';
import { notifyCustomer } from './notifications.js';
import { changeShippingAddress, enrichOrderSummary } from './orders.js';
import { chargePayment, refundCancelledOrder, refundPayment } from './payments.js';
import { createShipment } from './shipping.js';

export default defineHandlers({
  changeShippingAddress,
  chargePayment,
  createShipment,
  enrichOrderSummary,
  notifyCustomer,
  refundCancelledOrder,
  refundPayment,
  releaseInventory,
  reserveInventory,
});
