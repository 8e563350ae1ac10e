import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import type { HandlerFunctions } from '../../runtime/host/handlers-module.js';
import type { ProjectionContext, Projections } from '../../runtime/projections/index.js';
import type { Database } from '../../runtime/store/database.js';
import { ensureServers } from '../servers/servers.mjs';
import { definitionsFrom, eventually, openStack, openTestDatabase, start, type Stack } from './support.js';

/** A projection fed from a topic, whose hook counts how often its row was written: a message applied twice shows. */
const DEFINITIONS = `
edaflow: 1
brokers: { db: { type: postgres, pollInterval: 50ms } }
defaults: { broker: db }
topics: { payments: {} }
events:
  PaymentProcessed:
    topic: payments
    versions: { 1: { schema: { type: object, required: [orderId, amount], properties: { orderId: { type: string }, amount: { type: number } } } } }
projections:
  PaymentStatus:
    from: payments
    table: payment_status
    key: [order_id]
    columns: { order_id: text, amount: numeric, writes: integer }
    on:
      PaymentProcessed: { upsert: { order_id: "{% data.orderId %}", amount: "{% data.amount %}" } }
    handler: countWrite
`;

async function countWrite(message: Envelope, context: ProjectionContext): Promise<void> {
  await context.query('update payment_status set writes = coalesce(writes, 0) + 1 where order_id = $1', [(message.data as { orderId: string }).orderId]);
}

describe('a projection fed from a topic (postgres broker on PostgreSQL)', () => {
  let database: Database;
  let dispose: () => Promise<void>;
  let stack: Stack;
  let projections: Projections;

  beforeAll(async () => {
    await ensureServers(['postgres']);
    ({ database, dispose } = await openTestDatabase('postgres'));
    stack = await openStack(await definitionsFrom(DEFINITIONS), database);
    projections = await start(stack, { countWrite } as unknown as HandlerFunctions);
  }, 60_000);

  afterAll(async () => {
    await projections?.stop();
    await stack?.messaging.stop();
    await dispose?.();
    await database?.close();
  });

  it('its consumer group is part of the broker topology', () => {
    expect(stack.messaging.plan.topologies.get('db')!.groups).toContainEqual(expect.objectContaining({ destination: { kind: 'topic', name: 'payments' }, group: 'PaymentStatus' }));
  });

  it('a redelivered message changes nothing twice; the next message does', async () => {
    const first = createEnvelope('PaymentProcessed', { orderId: 'o-1', amount: 12.5 }, 'test', { subject: 'o-1' });
    const second = createEnvelope('PaymentProcessed', { orderId: 'o-1', amount: 20 }, 'test', { subject: 'o-1' });
    await stack.messaging.publisher.deliver(first);
    await eventually(async () => expect((await database.query(`select amount::text, writes from payment_status`)).rows).toEqual([{ amount: '12.5', writes: 1 }]));
    // The same message again, as a broker redelivers one whose acknowledgement was lost.
    await stack.messaging.publisher.deliver(first);
    await stack.messaging.publisher.deliver(second);
    await eventually(async () => expect((await database.query(`select amount::text, writes from payment_status`)).rows).toEqual([{ amount: '20', writes: 2 }]));
    const { rows: inbox } = await database.query<{ message_id: string }>(`select message_id from edaflow_inbox where consumer = 'PaymentStatus' order by received_at`);
    expect(inbox.map((row) => row.message_id).sort()).toEqual([first.id, second.id].sort());
    expect(await projections.positions()).toEqual({ PaymentStatus: 2 });
  });
});
