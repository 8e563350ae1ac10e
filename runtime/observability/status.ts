import { destinationLabel } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import type { Messaging } from '../messaging/index.js';
import type { ConsumerKind } from '../messaging/topology.js';
import type { Database } from '../store/database.js';
import {
  allConsumers, alertThresholds, deadLetterDestinations, measureConsumers, measureDeadLetters, outboxBacklog, projectionLags, sagaInstanceCounts, storeFedProjections, type Measured,
} from './measure.js';
import type { Metrics } from './metrics.js';

/** What a row is flagged with when a threshold of its `alerts` is crossed. */
type Flag = 'LAGGING' | 'DLQ' | 'FAILING' | 'UNKNOWN';

export interface ConsumerStatus {
  readonly kind: ConsumerKind;
  readonly name: string;
  readonly broker: string;
  readonly destination: string;
  readonly group: string;
  readonly lag: number | null;
  readonly deadLetter: string | null;
  readonly deadLetters: number | null;
  /** Measured in the running runtime (`GET /status`, `edaflow status --url`); null without it or without deliveries in the window. */
  readonly errorRate: number | null;
  readonly flags: readonly Flag[];
  readonly errors: readonly string[];
}

export interface StatusReport {
  readonly consumers: readonly ConsumerStatus[];
  readonly projections: readonly { readonly name: string; readonly lag: number; readonly flags: readonly Flag[] }[];
  readonly sagas: readonly { readonly saga: string; readonly instances: Readonly<Record<string, number>> }[];
  readonly outbox: { readonly pending: number; readonly dead: number };
}

/**
 * The status of everything the definitions run: consumers with their lag and dead-letter size (from the
 * brokers' own numbers), projections fed by the event store with their lag, saga instances by status,
 * the outbox backlog; rows over a threshold of their `alerts` flagged. Error rates exist only in the
 * process that consumes: `metrics` is that process's.
 */
export async function collectStatus(definitions: Definitions, messaging: Messaging, database: Database, metrics?: Metrics): Promise<StatusReport> {
  const consumers = allConsumers(messaging.plan);
  const deadLetterTargets = deadLetterDestinations(definitions, messaging.plan);
  const [lags, deadLetters, projectionLag, sagas, outbox] = await Promise.all([
    measureConsumers(consumers, messaging.brokers),
    measureDeadLetters(deadLetterTargets, messaging.brokers),
    projectionLags(database, storeFedProjections(definitions)),
    sagaInstanceCounts(database),
    outboxBacklog(database),
  ]);
  const deadLetterAlerts = new Map(deadLetterTargets.map((target) => [target.name, target.alertAbove]));
  const rows = lags.map(({ consumer, lag }): ConsumerStatus => {
    const thresholds = alertThresholds(definitions, consumer.kind, consumer.name);
    const dlq: Measured | undefined = consumer.deadLetter === null ? undefined : deadLetters.get(consumer.deadLetter);
    const errorRate = metrics?.errorRate(consumer.kind, consumer.name) ?? null;
    const flags: Flag[] = [];
    const errors = [lag, dlq].flatMap((measured) => (measured && 'error' in measured ? [measured.error] : []));
    if (errors.length) flags.push('UNKNOWN');
    if ('value' in lag && over(lag.value, thresholds.lagAbove)) flags.push('LAGGING');
    if (dlq && 'value' in dlq && over(dlq.value, deadLetterAlerts.get(consumer.deadLetter!))) flags.push('DLQ');
    if (errorRate !== null && over(errorRate, thresholds.errorRateAbove)) flags.push('FAILING');
    return {
      kind: consumer.kind, name: consumer.name, broker: consumer.broker, destination: destinationLabel(consumer.destination), group: consumer.group,
      lag: 'value' in lag ? lag.value : null, deadLetter: consumer.deadLetter, deadLetters: dlq && 'value' in dlq ? dlq.value : null, errorRate, flags, errors,
    };
  });
  const projections = [...projectionLag].map(([name, lag]) => ({ name, lag, flags: over(lag, alertThresholds(definitions, 'projection', name).lagAbove) ? ['LAGGING' as const] : [] }));
  const bySaga = new Map<string, Record<string, number>>([...definitions.sagas.keys()].map((saga) => [saga, {}]));
  for (const { saga, status, count } of sagas) {
    // A saga no longer declared still shows while it has instances.
    const instances = bySaga.get(saga) ?? {};
    instances[status] = count;
    bySaga.set(saga, instances);
  }
  return { consumers: rows, projections, sagas: [...bySaga].map(([saga, instances]) => ({ saga, instances })), outbox };
}

function over(value: number, threshold: number | undefined): boolean {
  return threshold !== undefined && value > threshold;
}
