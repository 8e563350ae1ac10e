import type { BrokerAdapter } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import { AlertEpisodes, everyInterval } from '../observability/alerts.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { DeadLetterDestination } from '../observability/measure.js';
import { checkDeadLetters } from '../observability/monitor.js';

const DEFAULT_INTERVAL_MS = 30_000;

/**
 * The dead-letter part of the alert evaluator (runtime/observability/monitor.ts) alone, for the queues'
 * dead-letter queues: a gauge per destination and, for a queue that declares `deadLetter.alertAbove`,
 * a warning once per episode and an alert gauge. The runtime runs the whole evaluator (startMonitoring),
 * which covers topic groups' dead-letter destinations and the other alerts too.
 */
export function monitorDeadLetters(options: {
  readonly definitions: Definitions;
  readonly brokerOfQueue: (queue: string) => BrokerAdapter | undefined;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly intervalMs?: number;
}): { check(): Promise<void>; stop(): Promise<void> } {
  const brokers = new Map<string, BrokerAdapter>();
  const destinations: DeadLetterDestination[] = [];
  for (const queue of options.definitions.queues.values()) {
    const declared = queue.spec.deadLetter;
    const broker = options.brokerOfQueue(queue.name);
    if (declared === false || !broker) continue;
    // Keyed by queue: each queue's broker is looked up by the queue's name.
    brokers.set(queue.name, broker);
    destinations.push({ name: declared?.queue ?? `${queue.name}.dlq`, broker: queue.name, ...(declared?.alertAbove !== undefined ? { alertAbove: declared.alertAbove } : {}) });
  }
  const episodes = new AlertEpisodes(options.metrics, options.logger);
  return everyInterval(() => checkDeadLetters(destinations, brokers, episodes, options.metrics, options.logger), options.intervalMs ?? DEFAULT_INTERVAL_MS, options.logger);
}
