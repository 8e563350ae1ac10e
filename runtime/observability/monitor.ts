import type { BrokerAdapter } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import type { MessagingPlan } from '../messaging/topology.js';
import type { Queryable } from '../store/database.js';
import { AlertEpisodes, everyInterval } from './alerts.js';
import type { Logger } from './logger.js';
import { allConsumers, alertThresholds, deadLetterDestinations, measureConsumers, measureDeadLetters, outboxBacklog, projectionLags, storeFedProjections, type DeadLetterDestination } from './measure.js';
import type { Metrics } from './metrics.js';

export interface MonitoringOptions {
  readonly definitions: Definitions;
  readonly plan: MessagingPlan;
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** With the database: projection lag and the outbox backlog too. */
  readonly database?: Queryable;
  /** Default: `defaults.alerts.checkEvery` (30 s). */
  readonly intervalMs?: number;
}

/**
 * The one alert evaluator. Every interval it measures each consumer's lag and each dead-letter
 * destination's size from the brokers, the projections' lag and the outbox backlog from the database,
 * sets their gauges, and compares them (and each consumer's error rate) with the `alerts` thresholds:
 * consumer-lag, error-rate, dlq-size and projection-lag alerts, each one warning per episode.
 */
export function startMonitoring(options: MonitoringOptions): { check(): Promise<void>; stop(): Promise<void> } {
  const { definitions, plan, brokers, metrics, logger, database } = options;
  const episodes = new AlertEpisodes(metrics, logger);
  const consumers = allConsumers(plan);
  const deadLetters = deadLetterDestinations(definitions, plan);
  const projections = storeFedProjections(definitions);
  // A saga or stream reading several destinations has one error rate.
  const rated = new Map(consumers.map((consumer) => [`${consumer.kind}:${consumer.name}`, consumer]));

  const checkConsumers = async (): Promise<void> => {
    for (const { consumer, lag } of await measureConsumers(consumers, brokers)) {
      const subject = `${consumer.kind}:${consumer.name}:${consumer.destination.name}`;
      if ('error' in lag) {
        logger.warn({ consumer: consumer.name, kind: consumer.kind, destination: consumer.destination.name, error: lag.error }, 'cannot measure consumer lag');
        continue;
      }
      metrics.consumerLag.set({ kind: consumer.kind, consumer: consumer.name, broker: consumer.broker, destination: consumer.destination.name, group: consumer.group }, lag.value);
      const lagAbove = alertThresholds(definitions, consumer.kind, consumer.name).lagAbove;
      if (lagAbove === undefined) continue;
      episodes.update({
        alert: 'consumer-lag', subject, value: lag.value, threshold: lagAbove, fields: { kind: consumer.kind, consumer: consumer.name, destination: consumer.destination.name, group: consumer.group },
        crossed: `${consumer.kind} ${consumer.name} lags ${lag.value} messages behind on ${consumer.destination.name}, more than ${lagAbove}`,
        cleared: `${consumer.kind} ${consumer.name} is back at or below ${lagAbove} messages of lag on ${consumer.destination.name}`,
      });
    }
    for (const consumer of rated.values()) {
      const errorRateAbove = alertThresholds(definitions, consumer.kind, consumer.name).errorRateAbove;
      if (errorRateAbove === undefined) continue;
      const rate = metrics.errorRate(consumer.kind, consumer.name);
      episodes.update({
        alert: 'error-rate', subject: `${consumer.kind}:${consumer.name}`, value: rate, threshold: errorRateAbove, fields: { kind: consumer.kind, consumer: consumer.name },
        crossed: `${consumer.kind} ${consumer.name} failed ${percent(rate)} of its deliveries in the last 5 minutes, more than ${percent(errorRateAbove)}`,
        cleared: `${consumer.kind} ${consumer.name} is back at or below ${percent(errorRateAbove)} failed deliveries`,
      });
    }
  };

  const checkStore = async (db: Queryable): Promise<void> => {
    const lags = await projectionLags(db, projections);
    for (const [projection, lag] of lags) {
      metrics.projectionLag.set({ projection }, lag);
      const lagAbove = alertThresholds(definitions, 'projection', projection).lagAbove;
      if (lagAbove === undefined) continue;
      episodes.update({
        alert: 'projection-lag', subject: projection, value: lag, threshold: lagAbove, fields: { projection },
        crossed: `projection ${projection} has ${lag} events to apply, more than ${lagAbove}`,
        cleared: `projection ${projection} is back at or below ${lagAbove} events to apply`,
      });
    }
    const backlog = await outboxBacklog(db);
    metrics.outboxBacklog.set({ state: 'pending' }, backlog.pending);
    metrics.outboxBacklog.set({ state: 'dead' }, backlog.dead);
  };

  return everyInterval(async () => {
    await Promise.all([
      checkConsumers(),
      checkDeadLetters(deadLetters, brokers, episodes, metrics, logger),
      database ? checkStore(database) : undefined,
    ]);
  }, options.intervalMs ?? definitions.defaults.alertCheckEveryMs, logger);
}

/** Sets each dead-letter destination's gauge and raises its dlq-size alert. */
async function checkDeadLetters(destinations: readonly DeadLetterDestination[], brokers: ReadonlyMap<string, BrokerAdapter>, episodes: AlertEpisodes, metrics: Metrics, logger: Logger): Promise<void> {
  const sizes = await measureDeadLetters(destinations, brokers);
  for (const { name, alertAbove } of destinations) {
    const size = sizes.get(name)!;
    if ('error' in size) {
      logger.warn({ destination: name, error: size.error }, 'cannot count dead letters');
      continue;
    }
    metrics.deadLetters.set({ destination: name }, size.value);
    if (alertAbove === undefined) continue;
    episodes.update({
      alert: 'dlq-size', subject: name, value: size.value, threshold: alertAbove, fields: { destination: name },
      crossed: `dead-letter queue ${name} holds ${size.value} messages, more than ${alertAbove}`,
      cleared: `dead-letter queue ${name} is back at or below ${alertAbove}`,
    });
  }
}

function percent(rate: number | undefined): string {
  return rate === undefined ? '-' : `${Math.round(rate * 1000) / 10}%`;
}
