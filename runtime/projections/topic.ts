import type { BrokerAdapter, Subscription } from '../brokers/adapter.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { ConsumerPlan } from '../messaging/topology.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { subscribePlanned } from '../messaging/subscribe.js';
import type { Database } from '../store/database.js';
import type { EventApplier } from './apply.js';
import { countApplied, pruneInbox, recordInInbox } from './checkpoint.js';

export interface TopicProjectionOptions {
  readonly consumer: ConsumerPlan;
  readonly broker: BrokerAdapter;
  readonly database: Database;
  readonly catalog: MessageCatalog;
  readonly apply: EventApplier;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** How long a message id stays in the inbox: redeliveries come sooner than this (default 24 h). */
  readonly inboxTtlMs?: number;
}

const DEFAULT_INBOX_TTL_MS = 24 * 60 * 60 * 1000;
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Feeds a projection from a topic through the one consumer pipeline (validation, upcasting, retries,
 * dead-lettering), as the consumer group named after the projection. Each message is applied in one
 * transaction with its inbox row, so a redelivered message (at-least-once brokers) changes nothing twice.
 */
export async function subscribeProjection(options: TopicProjectionOptions): Promise<Subscription> {
  const { consumer, broker } = options;
  const subscription = await subscribePlanned({
    consumer,
    broker,
    catalog: options.catalog,
    logger: options.logger,
    ...(options.metrics ? { metrics: options.metrics } : {}),
    handle: (envelope) =>
      options.database.transaction(async (tx) => {
        if (!(await recordInInbox(tx, consumer.name, envelope.id))) return;
        await options.apply(tx, [envelope]);
        await countApplied(tx, consumer.name);
      }),
  });
  options.logger.info({ projection: consumer.name, destination: consumer.destination, group: consumer.group, broker: consumer.broker }, 'projection subscribed');
  const prune = (): void =>
    void pruneInbox(options.database, consumer.name, options.inboxTtlMs ?? DEFAULT_INBOX_TTL_MS).catch((error: unknown) => options.logger.warn({ projection: consumer.name, err: error }, 'inbox pruning failed'));
  prune();
  const timer = setInterval(prune, PRUNE_INTERVAL_MS).unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await subscription.stop();
    },
  };
}
