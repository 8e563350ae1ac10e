/**
 * Raw RabbitMQ baseline with amqplib: the same durable quorum queue the adapter declares, persistent
 * publishes on a confirm channel (each batch's confirms awaited), basic.consume with the same prefetch,
 * JSON.parse of each body, basic.ack coalesced as the adapter does (runtime/brokers/rabbitmq/acks.ts):
 * the acks of one event-loop turn go out at its end as one `multiple` ack (handled in order here, so
 * the run of settled deliveries is always all of them).
 */
import amqp from 'amqplib';
import { randomUUID } from 'node:crypto';
import { HEADER_PREFIX, publishOptions } from '../../dist/runtime/brokers/rabbitmq/wire.js';
import { Acks, type Timing, chunks, rawMessages, type Workload } from './common.js';

export const RABBITMQ_URL = process.env['EDAFLOW_RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

export async function raw(workload: Workload): Promise<Timing> {
  const connection = await amqp.connect(RABBITMQ_URL, { noDelay: true }); // as the adapter: TCP_NODELAY
  try {
    const queue = workload.name;
    const setup = await connection.createChannel();
    // As the adapter's queueArguments() without a dead-letter queue.
    await setup.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 } });
    const acks = new Acks(workload.messages, `rabbitmq raw ${queue}`, workload.timeoutMs);
    const consumer = await connection.createChannel();
    await consumer.prefetch(workload.prefetch);
    let newest: amqp.ConsumeMessage | undefined;
    let unacked = 0;
    const flushAcks = (): void => {
      if (newest) consumer.ack(newest, unacked > 1);
      newest = undefined;
      unacked = 0;
    };
    await consumer.consume(queue, (message) => {
      if (!message) return;
      JSON.parse(message.content.toString('utf8'));
      if (!newest) setImmediate(flushAcks);
      newest = message;
      unacked++;
      acks.ack();
    });
    const publisher = await connection.createConfirmChannel();
    // The same message: the adapter's properties (CloudEvents headers, message id, timestamp) and its `mandatory` flag.
    const batches = chunks(rawMessages(workload, HEADER_PREFIX).map(({ body, headers }) => ({
      body, options: headers ? { ...publishOptions(headers, randomUUID()), mandatory: true } : { persistent: true, contentType: 'application/json' },
    })), workload.batch);
    acks.start();
    for (const batch of batches) {
      for (const { body, options } of batch) {
        if (!publisher.sendToQueue(queue, body, options)) await new Promise((resolve) => publisher.once('drain', resolve));
      }
      await publisher.waitForConfirms();
    }
    acks.published();
    const timing = await acks.done;
    await setup.deleteQueue(queue);
    return timing;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Deletes queues the edaflow side provisioned. */
export async function dropQueues(queues: readonly string[]): Promise<void> {
  const connection = await amqp.connect(RABBITMQ_URL);
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
