// Shipping: book a shipment with a carrier chosen by destination, then tell the customer.
// The carrier is simulated: the tracking id is derived from the order, so a retry books the same one.
import { createHash } from 'node:crypto';
import type { CreateShipmentHandler } from '../generated/index.js';

const CARRIERS: Readonly<Record<string, string>> = { GB: 'Royal Mail', US: 'UPS', DE: 'DHL' };

export const createShipment: CreateShipmentHandler = async (message, context) => {
  const { orderId, shippingAddress } = message.data;
  const carrier = CARRIERS[shippingAddress.country] ?? 'DHL Express';
  const trackingId = createHash('sha256').update(`${carrier}:${orderId}`).digest('hex').slice(0, 18).toUpperCase();
  await context.emit('ShipmentCreated', { orderId, shipmentId: `s-${orderId}`, trackingId, carrier });
  await context.send('NotifyCustomer', { orderId, kind: 'shipment-dispatched', trackingId });
};
