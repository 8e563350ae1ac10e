import type { BrokerAdapter } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

const DEFAULT_INTERVAL_MS = 30_000;

/**
 * Watches the size of every queue's dead-letter queue: a gauge per destination, and, for a queue that
 * declares `deadLetter.alertAbove`, a warning once when the count crosses it (one per episode, not one
 * per check) and an alert gauge that stays 1 until the count drops back.
 */
export function monitorDeadLetters(options: {
  readonly definitions: Definitions;
  readonly brokerOfQueue: (queue: string) => BrokerAdapter | undefined;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly intervalMs?: number;
}): { check(): Promise<void>; stop(): void } {
  const watched = [...options.definitions.queues.values()].flatMap((queue) => {
    const declared = queue.spec.deadLetter;
    if (declared === false) return [];
    return [{ queue: queue.name, destination: declared?.queue ?? `${queue.name}.dlq`, alertAbove: declared?.alertAbove }];
  });
  const alerting = new Set<string>();
  const check = async (): Promise<void> => {
    for (const { queue, destination, alertAbove } of watched) {
      const broker = options.brokerOfQueue(queue);
      if (!broker) continue;
      const count = await broker.deadLetters.count(destination).catch((error: unknown) => {
        options.logger.warn({ destination, err: error }, 'cannot count dead letters');
        return undefined;
      });
      if (count === undefined) continue;
      options.metrics.deadLetters.set({ destination }, count);
      if (alertAbove === undefined) continue;
      const crossed = count > alertAbove;
      if (crossed && !alerting.has(destination)) options.logger.warn({ alert: 'dlq-size', destination, count, alertAbove }, `dead-letter queue ${destination} holds ${count} messages, more than ${alertAbove}`);
      if (!crossed && alerting.has(destination)) options.logger.info({ alert: 'dlq-size', destination, count, alertAbove }, `dead-letter queue ${destination} is back at or below ${alertAbove}`);
      if (crossed) alerting.add(destination);
      else alerting.delete(destination);
      options.metrics.alerts.set({ alert: 'dlq-size', subject: destination }, crossed ? 1 : 0);
    }
  };
  const timer = setInterval(() => void check(), options.intervalMs ?? DEFAULT_INTERVAL_MS);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
