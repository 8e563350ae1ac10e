import type { BrokerAdapter } from '../brokers/adapter.js';
import { createBroker } from '../brokers/index.js';
import type { Definitions } from '../definitions/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import type { DedupStore } from '../idempotency/dedup.js';
import { MessageCatalog, type UpcastFunction } from '../messages/catalog.js';
import type { Logger } from '../observability/logger.js';
import type { Database } from '../store/database.js';
import { startHandlers } from '../handlers/runner.js';
import { Publisher } from './publisher.js';
import { planMessaging, type MessagingPlan } from './topology.js';
import { monitorDeadLetters } from './dlq-monitor.js';
import type { Metrics } from '../observability/metrics.js';

export { Publisher, type PublishOptions } from './publisher.js';
export { planMessaging, type ConsumerPlan, type MessagingPlan } from './topology.js';

export interface Messaging {
  readonly plan: MessagingPlan;
  readonly catalog: MessageCatalog;
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  readonly publisher: Publisher;
  stop(): Promise<void>;
}

/**
 * Connects every broker the definitions use, provisions its topology, and returns the publisher.
 * With `functions`, also subscribes the handlers. Stops in reverse: subscriptions, then brokers.
 */
export async function startMessaging(options: {
  readonly definitions: Definitions;
  readonly logger: Logger;
  readonly database?: Database;
  readonly dedup: DedupStore;
  readonly functions?: HandlerFunctions;
  /** With metrics: outcome counts per consumer and dead-letter queue sizes with their `alertAbove` alerts. */
  readonly metrics?: Metrics;
}): Promise<Messaging> {
  const { definitions, logger } = options;
  const plan = planMessaging(definitions);
  const catalog = MessageCatalog.build(definitions, (options.functions ?? {}) as Readonly<Record<string, UpcastFunction>>);
  const brokers = new Map<string, BrokerAdapter>();
  const stops: (() => Promise<void>)[] = [];
  try {
    for (const [name, topology] of plan.topologies) {
      const config = definitions.brokers.get(name)!.spec;
      const adapter = await createBroker(name, config, { logger: logger.child({ broker: name }), ...(options.database ? { database: options.database } : {}) });
      await adapter.connect();
      stops.push(() => adapter.close());
      await adapter.provision(topology);
      brokers.set(name, adapter);
      logger.info({ broker: name, type: config.type, topics: topology.topics.length, queues: topology.queues.length, groups: topology.groups.length }, 'broker ready');
    }
    const publisher = new Publisher(definitions, catalog, plan, brokers);
    if (options.functions) {
      const handlers = await startHandlers({ definitions, plan, catalog, brokers, publisher, functions: options.functions, dedup: options.dedup, logger, ...(options.metrics ? { metrics: options.metrics } : {}) });
      stops.push(() => handlers.stop());
    }
    if (options.metrics) {
      const monitor = monitorDeadLetters({ definitions, metrics: options.metrics, logger, brokerOfQueue: (queue) => brokers.get(plan.brokerOf({ kind: 'queue', name: queue })) });
      void monitor.check();
      stops.push(async () => monitor.stop());
    }
    return { plan, catalog, brokers, publisher, stop: () => stopAll(stops) };
  } catch (error) {
    await stopAll(stops);
    throw error;
  }
}

async function stopAll(stops: (() => Promise<void>)[]): Promise<void> {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined);
}
