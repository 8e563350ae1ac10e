/** The order the demo places and the order-flow test walks: the example application's CreateOrder data. */
export function exampleOrder(orderId) {
  return {
    orderId,
    customerId: 'c-42',
    items: [
      { sku: 'TSHIRT-M-BLUE', quantity: 2, price: 19.5 },
      { sku: 'MUG-WHITE', quantity: 1, price: 8 },
    ],
    shippingAddress: { line1: '5 Harbour Rd', city: 'Bristol', postalCode: 'BS1 5TR', country: 'GB' },
    billingAddress: { line1: '20 Queen St', city: 'London', postalCode: 'EC4R 1BE', country: 'GB' },
  };
}
