import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { loadDefinitions, memoryFileSystem, type Definitions } from '../../runtime/definitions/index.js';

/**
 * The crash test's streams: an inner join and a tumbling aggregation with a grace long enough that no
 * record is ever late, whatever the order in which a restarted process drains its two input topics;
 * their outputs are then the same set in any run, and a crash must not change it.
 */
export const CRASH_DEFINITIONS = `
edaflow: 1
brokers: { db: { type: postgres, pollInterval: 50ms } }
defaults: { broker: db }
topics: { orders: {}, payments: {}, results: {} }
events:
  OrderPlaced: { topic: orders, versions: { 1: { schema: { type: object, required: [orderId, customerId, amount], properties: { orderId: { type: string }, customerId: { type: string }, amount: { type: number } } } } } }
  PaymentMade: { topic: payments, versions: { 1: { schema: { type: object, required: [orderId, amount], properties: { orderId: { type: string }, amount: { type: number } } } } } }
  StreamOutput: { topic: results, versions: { 1: { schema: { type: object, required: [stream], properties: { stream: { type: string } } } } } }
streams:
  Paid:
    join:
      left: { event: OrderPlaced, key: data.orderId }
      right: { event: PaymentMade, key: data.orderId }
      within: 5m
      grace: 3h
    emit: { event: StreamOutput, data: { stream: Paid, order: "{% left.id %}", payment: "{% right.id %}", amount: "{% right.data.amount %}" } }
  Spend:
    aggregate:
      from: { event: OrderPlaced }
      groupBy: data.customerId
      window: { tumbling: 30m, grace: 3h }
      init: { count: 0, total: 0 }
      reduce: { count: "{% state.count + 1 %}", total: "{% state.total + event.data.amount %}" }
    emit: { event: StreamOutput, data: { stream: Spend, customerId: "{% key %}", start: "{% window.start %}", count: "{% state.count %}", total: "{% state.total %}" } }
`;

export async function crashDefinitions(): Promise<Definitions> {
  const result = await loadDefinitions('/crash', { fileSystem: memoryFileSystem({ 'app.yaml': CRASH_DEFINITIONS }, '/crash') });
  if (!result.definitions) throw new Error(JSON.stringify(result.diagnostics, null, 2));
  return result.definitions;
}

/** `orders` orders a minute apart over hours, each paid 0 to 6 minutes later (a 6-minute payment misses the 5m window), in publish order. */
export function crashInput(orders: number): Envelope[] {
  const start = Date.parse('2025-03-10T00:00:00Z');
  const records: { time: number; envelope: Envelope }[] = [];
  for (let n = 0; n < orders; n++) {
    const time = start + n * 60_000;
    const orderId = `o${n}`;
    records.push({ time, envelope: createEnvelope('OrderPlaced', { orderId, customerId: `c${n % 7}`, amount: n % 13 }, 'crash', { id: `order-${n}`, time: new Date(time).toISOString(), dataversion: 1 }) });
    const paidAfter = (n * 37) % 7;
    const paidAt = time + paidAfter * 60_000;
    records.push({ time: paidAt, envelope: createEnvelope('PaymentMade', { orderId, amount: n }, 'crash', { id: `payment-${n}`, time: new Date(paidAt).toISOString(), dataversion: 1 }) });
  }
  return records.sort((a, b) => a.time - b.time).map((record) => record.envelope);
}
