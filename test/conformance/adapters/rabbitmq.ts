import amqp from 'amqplib';
import type { BrokerAdapter, Topology } from '../../../runtime/brokers/adapter.js';
import { createAdapter } from '../../../runtime/brokers/rabbitmq.js';
import { groupQueue } from '../../../runtime/brokers/rabbitmq/wire.js';
import { createLogger } from '../../../runtime/observability/logger.js';
import type { AdapterUnderTest } from '../adapters.js';

export const RABBITMQ_URL = process.env['EDAFLOW_RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/**
 * The adapter, wrapped so that `close()` also deletes what the tests provisioned: every run uses unique
 * names, and quorum queues left behind would pile up on the shared server (retry queues expire by
 * themselves).
 */
export function rabbitmqUnderTest(name = 'rabbitmq'): BrokerAdapter {
  const adapter = createAdapter(name, { type: 'rabbitmq', url: RABBITMQ_URL }, { logger: createLogger({ level: 'silent' }) });
  const queues = new Set<string>();
  const exchanges = new Set<string>();
  const record = (topology: Topology): void => {
    for (const topic of topology.topics) exchanges.add(topic.name);
    for (const queue of topology.queues) [queue.name, queue.deadLetter].forEach((q) => q && queues.add(q));
    for (const group of topology.groups) {
      if (group.deadLetter) queues.add(group.deadLetter);
      if (group.destination.kind === 'topic') queues.add(groupQueue(group.destination.name, group.group));
    }
  };
  return Object.assign(Object.create(adapter) as BrokerAdapter, {
    provision: async (topology: Topology) => {
      record(topology);
      await adapter.provision(topology);
    },
    close: async () => {
      await adapter.close();
      await deleteAll([...queues], [...exchanges]);
    },
  });
}

async function deleteAll(queues: readonly string[], exchanges: readonly string[]): Promise<void> {
  const connection = await amqp.connect(RABBITMQ_URL).catch(() => undefined);
  if (!connection) return;
  try {
    const channel = await connection.createChannel();
    for (const queue of queues) await channel.deleteQueue(queue);
    for (const exchange of exchanges) await channel.deleteExchange(exchange);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export const adapters: readonly AdapterUnderTest[] = [{ name: 'rabbitmq', servers: ['rabbitmq'], create: async () => rabbitmqUnderTest() }];
