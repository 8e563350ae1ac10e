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
import { startMonitoring } from '../observability/monitor.js';
import type { Metrics } from '../observability/metrics.js';

export { Publisher, type PublishOptions } from './publisher.js';
export { planMessaging, type ConsumerKind, type ConsumerPlan, type MessagingPlan } from './topology.js';

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
  /**
   * With metrics: outcome counts and processing times per consumer, and the alert evaluator (consumer
   * lag, dead-letter sizes, error rates; with the database, projection lag and the outbox backlog).
   */
  readonly metrics?: Metrics;
}): Promise<Messaging> {
  const { definitions, logger } = options;
  const plan = planMessaging(definitions);
  // The cache store remembers handled signed messages, so a replay is refused (runtime/security).
  const catalog = MessageCatalog.build(definitions, (options.functions ?? {}) as Readonly<Record<string, UpcastFunction>>, { replays: options.dedup });
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
      // Every `defaults.alerts.checkEvery`.
      const monitor = startMonitoring({ definitions, plan, brokers, metrics: options.metrics, logger, ...(options.database ? { database: options.database } : {}) });
      void monitor.check();
      stops.push(() => monitor.stop());
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
