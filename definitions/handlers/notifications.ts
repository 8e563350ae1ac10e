// Notifications: turn a NotifyCustomer command into a message for the customer. Delivery is
// simulated: the last messages are kept in memory and logged.
import type { NotifyCustomer, NotifyCustomerHandler } from '../generated/index.js';

export interface Notification {
  readonly orderId: string;
  readonly text: string;
  readonly sentAt: string;
}

const KEEP = 100;
export const sentNotifications: Notification[] = [];

export function notificationText(data: NotifyCustomer): string {
  const tracking = data.trackingId ? ` (tracking ${data.trackingId})` : '';
  switch (data.kind) {
    case 'shipment-dispatched':
      return `Your order ${data.orderId} is on its way${tracking}.`;
    case 'delivery-delayed':
      return `Your order ${data.orderId} is delayed${tracking}; we are on it.`;
    case 'shipment-lost':
      return `We could not deliver your order ${data.orderId}${tracking}; support will contact you.`;
  }
}

export const notifyCustomer: NotifyCustomerHandler = (message) => {
  const notification: Notification = { orderId: message.data.orderId, text: notificationText(message.data), sentAt: message.time };
  sentNotifications.push(notification);
  if (sentNotifications.length > KEEP) sentNotifications.shift();
  console.info(`notify ${notification.orderId}: ${notification.text}`);
};
