import { randomUUID } from 'node:crypto';
import type { BrokerAdapter, DestinationRef, Subscription } from '../../runtime/brokers/adapter.js';
import { loadDefinitions, memoryFileSystem, type Definitions, type RetryPolicy } from '../../runtime/definitions/index.js';
import { decode, type Envelope } from '../../runtime/envelope/index.js';

export const RABBITMQ_URL = process.env['EDAFLOW_RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Unique names for one test run, so runs never see each other's exchanges and queues. */
export function runId(): string {
  return `ob${Date.now().toString(36)}${randomUUID().slice(0, 6)}`;
}

/**
 * Items on the postgres broker (written in the appending transaction), shipments on RabbitMQ (through
 * outbox rows and the relay), a command with no queue (in-process dispatch) and one on a RabbitMQ queue.
 * The `audit` handler makes the plan provision a consumer group on the shipments exchange.
 */
export function outboxDefinitionsYaml(run: string): string {
  return `
brokers: { db: { type: postgres }, rabbit: { type: rabbitmq, url: "${RABBITMQ_URL}" } }
defaults: { broker: db, source: outbox-test }
topics: { items-${run}: {}, shipments-${run}: { broker: rabbit } }
queues: { jobs-${run}: { broker: rabbit } }
events:
  ItemAdded:
    topic: items-${run}
    versions: { 1: { schema: { type: object, required: [sku], properties: { sku: { type: string } } } } }
  Shipped:
    topic: shipments-${run}
    versions: { 1: { schema: { type: object, required: [n], properties: { n: { type: integer } } } } }
commands:
  Ping: { schema: { type: object, required: [n], properties: { n: { type: integer } } } }
  Work: { queue: jobs-${run}, schema: { type: object, required: [n], properties: { n: { type: integer } } } }
handlers:
  audit: { on: Shipped, group: audit }
  ping: { on: Ping }
`;
}

export async function outboxDefinitions(run: string): Promise<Definitions> {
  const result = await loadDefinitions('/outbox', { fileSystem: memoryFileSystem({ 'app.yaml': outboxDefinitionsYaml(run) }, '/outbox') });
  if (!result.definitions || result.errorCount) throw new Error(`outbox test definitions are invalid: ${JSON.stringify(result.diagnostics)}`);
  return result.definitions as Definitions;
}

const NO_RETRY: RetryPolicy = { attempts: 1, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false };

export interface Collected {
  readonly envelopes: Envelope[];
  readonly subscription: Subscription;
}

/** Subscribes `group` and keeps every envelope that arrives, acknowledging it. */
export async function collect(adapter: BrokerAdapter, destination: DestinationRef, group: string): Promise<Collected> {
  const envelopes: Envelope[] = [];
  const subscription = await adapter.subscribe(
    { destination, group, deadLetter: null, retry: NO_RETRY, concurrency: 1, prefetch: 50 },
    async (delivery) => {
      envelopes.push(decode(delivery.headers, delivery.body, adapter.capabilities.headerPrefix));
      await delivery.ack();
    },
  );
  return { envelopes, subscription };
}

/** Removes what a run provisioned on the shared RabbitMQ (every name carries the run id). */
export async function deleteRabbitObjects(run: string): Promise<void> {
  const { default: amqp } = await import('amqplib');
  const connection = await amqp.connect(RABBITMQ_URL).catch(() => undefined);
  if (!connection) return;
  try {
    const channel = await connection.createChannel();
    for (const queue of [`shipments-${run}.audit`, `shipments-${run}.audit.dlq`, `jobs-${run}`, `jobs-${run}.dlq`]) await channel.deleteQueue(queue);
    await channel.deleteExchange(`shipments-${run}`);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
