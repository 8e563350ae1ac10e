import type { BrokerAdapter, Subscription } from '../brokers/adapter.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { createConsumer, type ConsumerOptions, type MessageHandler } from '../pipeline/consumer.js';
import type { ConsumerPlan } from './topology.js';
import { traced } from '../tracing/index.js';

export interface PlannedSubscription {
  readonly consumer: ConsumerPlan;
  readonly broker: BrokerAdapter;
  readonly catalog: MessageCatalog;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly dedup?: ConsumerOptions['dedup'];
  readonly handle: MessageHandler;
}

/**
 * Subscribes one planned consumer (a handler, an aggregate's command queue, a topic-fed projection, a
 * saga, a stream input) through the one consumer pipeline, counting each delivery's outcome and timing
 * it, labelled with what the consumer feeds. Here rather than in each component, so every consumer is
 * measured the same way.
 */
export async function subscribePlanned(options: PlannedSubscription): Promise<Subscription> {
  const { consumer, broker, metrics } = options;
  const pipeline = createConsumer({
    name: consumer.name,
    group: consumer.group,
    origin: consumer.destination,
    accepts: consumer.accepts,
    retry: consumer.retry,
    timeoutMs: consumer.timeoutMs,
    headerPrefix: broker.capabilities.headerPrefix,
    catalog: options.catalog,
    logger: options.logger,
    ...(options.dedup ? { dedup: options.dedup } : {}),
    handle: traced(consumer.name, consumer.destination.name, options.handle),
  });
  return broker.subscribe(
    { destination: consumer.destination, group: consumer.group, deadLetter: consumer.deadLetter, retry: consumer.retry, concurrency: consumer.concurrency, prefetch: consumer.prefetch },
    async (delivery) => {
      const started = process.hrtime.bigint();
      const outcome = await pipeline(delivery);
      metrics?.recordDelivery(consumer.kind, consumer.name, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    },
  );
}
