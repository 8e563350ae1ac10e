import type { Definitions } from '../definitions/index.js';
import type { Messaging } from '../messaging/index.js';
import type { ConsumerKind } from '../messaging/topology.js';
import {
  allConsumers, alertThresholds, deadLetterDestinations, measureConsumers, measureDeadLetters, outboxBacklog, projectionLags, sagaInstanceCounts, storeFedProjections, type Measured,
} from '../observability/measure.js';
import type { Database } from '../store/database.js';
import { CommandFailure, withMessaging } from './messaging-session.js';
import { table } from './sagas.js';

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
  /** From a running runtime's /metrics (`--url`); null without it or without deliveries in the window. */
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
 * `edaflow status <dir> [--url <runtime>] [--format table|json] [--fail-on-alert]`: every consumer with
 * its broker, destination, group, lag and dead-letter size (from the brokers' own numbers), every
 * projection fed by the event store with its lag, every saga's instances by status, and the outbox
 * backlog. Error rates live in the running process: with `--url` they are read from its /metrics,
 * otherwise they show `-`. Rows over a threshold of their `alerts` are flagged (LAGGING, DLQ,
 * FAILING); `--fail-on-alert` then exits 1.
 */
export async function statusCommand(dir: string, options: { url?: string; format?: string; failOnAlert?: boolean }): Promise<number> {
  const errorRates = options.url ? await readErrorRates(options.url) : undefined;
  return withMessaging(dir, async (messaging, definitions, database) => {
    // `database: true` below: the session always opens it.
    const report = await collectStatus(definitions, messaging, database!, errorRates);
    process.stdout.write(options.format === 'json' ? JSON.stringify(report) + '\n' : formatStatus(report));
    const alerting = report.consumers.some((row) => row.flags.length) || report.projections.some((row) => row.flags.length);
    return options.failOnAlert && alerting ? 1 : 0;
  }, { database: true });
}

export async function collectStatus(definitions: Definitions, messaging: Messaging, database: Database, errorRates?: ReadonlyMap<string, number>): Promise<StatusReport> {
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
    const errorRate = errorRates?.get(`${consumer.kind}:${consumer.name}`) ?? null;
    const flags: Flag[] = [];
    const errors = [lag, dlq].flatMap((measured) => (measured && 'error' in measured ? [measured.error] : []));
    if (errors.length) flags.push('UNKNOWN');
    if ('value' in lag && over(lag.value, thresholds.lagAbove)) flags.push('LAGGING');
    if (dlq && 'value' in dlq && over(dlq.value, deadLetterAlerts.get(consumer.deadLetter!))) flags.push('DLQ');
    if (errorRate !== null && over(errorRate, thresholds.errorRateAbove)) flags.push('FAILING');
    return {
      kind: consumer.kind, name: consumer.name, broker: consumer.broker, destination: `${consumer.destination.kind}:${consumer.destination.name}`, group: consumer.group,
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

export function formatStatus(report: StatusReport): string {
  const sections: string[] = [];
  const number = (value: number | null): string => (value === null ? '-' : String(value));
  if (report.consumers.length) {
    sections.push(table([
      ['KIND', 'NAME', 'BROKER', 'DESTINATION', 'GROUP', 'LAG', 'DLQ', 'ERRORS', 'STATUS'],
      ...report.consumers.map((row) => [
        row.kind, row.name, row.broker, row.destination, row.group, number(row.lag), number(row.deadLetters),
        row.errorRate === null ? '-' : `${(row.errorRate * 100).toFixed(1)}%`,
        row.flags.length ? row.flags.join(',') + (row.errors.length ? ` (${row.errors.join('; ')})` : '') : 'OK',
      ]),
    ]));
  }
  if (report.projections.length) sections.push(table([['PROJECTION', 'LAG', 'STATUS'], ...report.projections.map((row) => [row.name, String(row.lag), row.flags.join(',') || 'OK'])]));
  if (report.sagas.length) {
    sections.push(table([['SAGA', 'INSTANCES'], ...report.sagas.map((row) => [row.saga, Object.entries(row.instances).map(([status, count]) => `${status}=${count}`).join(' ') || 'none'])]));
  }
  sections.push(`outbox: ${report.outbox.pending} pending, ${report.outbox.dead} dead\n`);
  return sections.join('\n');
}

/** `edaflow_consumer_error_rate{kind,consumer}` of a running runtime, keyed `kind:consumer`. */
async function readErrorRates(url: string): Promise<Map<string, number>> {
  let text: string;
  try {
    const response = await fetch(new URL('/metrics', url));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    text = await response.text();
  } catch (error) {
    throw new CommandFailure(`cannot read the metrics of the runtime at ${url}: ${(error as Error).message}`, 2);
  }
  const rates = new Map<string, number>();
  for (const match of text.matchAll(/^edaflow_consumer_error_rate\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...match[1]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1], label[2]]));
    if (labels['kind'] && labels['consumer']) rates.set(`${labels['kind']}:${labels['consumer']}`, Number(match[2]));
  }
  return rates;
}
