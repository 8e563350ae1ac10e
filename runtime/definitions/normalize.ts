import { parseDuration } from './duration.js';
import type { Entry, Merged, NamedSection } from './merge.js';
import { IMPLICIT_BROKER, type AlertThresholds, type BrokerConfig, type CacheStore, type DatabaseStore, type Defaults, type Defined, type Definitions, type RetryPolicy } from './model.js';
import type { SourceFile } from './source.js';
import type { ResolvedSchemas } from './checks/schemas.js';

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, backoff: 'exponential', delayMs: 200, maxDelayMs: 30_000, jitter: true };
const DEFAULT_IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
const DEFAULT_PAYLOAD_LIMIT = 1024 * 1024;
const DEFAULT_ALERT_CHECK_MS = 30_000;

/** `defaults.alerts`: the default thresholds apart, and the check interval as milliseconds. */
function defaultAlerts(declared: (AlertThresholds & { checkEvery?: string | number }) | undefined): Pick<Defaults, 'alerts' | 'alertCheckEveryMs'> {
  const { checkEvery, ...thresholds } = declared ?? {};
  return { alerts: thresholds, alertCheckEveryMs: parseDuration(checkEvery) ?? DEFAULT_ALERT_CHECK_MS };
}

/** A retry policy with every field filled: the declared one over the fallback. */
export function retryPolicy(declared: unknown, fallback: RetryPolicy = DEFAULT_RETRY): RetryPolicy {
  if (declared === null || typeof declared !== 'object') return fallback;
  const spec = declared as Record<string, unknown>;
  return {
    attempts: typeof spec['attempts'] === 'number' ? spec['attempts'] : fallback.attempts,
    backoff: (spec['backoff'] as RetryPolicy['backoff'] | undefined) ?? fallback.backoff,
    delayMs: parseDuration(spec['delay']) ?? fallback.delayMs,
    maxDelayMs: parseDuration(spec['maxDelay']) ?? fallback.maxDelayMs,
    jitter: typeof spec['jitter'] === 'boolean' ? spec['jitter'] : fallback.jitter,
  };
}

/** The model of a valid definitions directory, implicit defaults made explicit (DSL.md, brokers/stores). */
export function buildDefinitions(root: string, files: SourceFile[], merged: Merged, schemas: ResolvedSchemas): Definitions {
  const section = <T>(name: NamedSection): Map<string, Defined<T>> =>
    new Map([...merged.sections[name].entries()].map(([key, entry]) => [key, { name: entry.name, spec: entry.spec as T, origin: entry.origin }]));
  const brokers = section<BrokerConfig>('brokers');
  if (brokers.size === 0) brokers.set(IMPLICIT_BROKER, { name: IMPLICIT_BROKER, spec: { type: 'postgres' }, origin: { file: files[0]!, path: [] } });
  const setting = (group: 'stores' | 'defaults', key: string): unknown => merged.settings[group].get(key)?.spec;
  const database = (setting('stores', 'database') as DatabaseStore | undefined) ?? { type: 'embedded', path: '.edaflow/db' };
  const cache = (setting('stores', 'cache') as CacheStore | undefined) ?? { type: 'memory' };
  const idempotency = setting('defaults', 'idempotency') as { ttl?: unknown } | undefined;
  const defaults: Defaults = {
    broker: (setting('defaults', 'broker') as string | undefined) ?? [...brokers.keys()][0]!,
    source: (setting('defaults', 'source') as string | undefined) ?? 'edaflow',
    retry: retryPolicy(setting('defaults', 'retry')),
    idempotencyTtlMs: parseDuration(idempotency?.ttl) ?? DEFAULT_IDEMPOTENCY_TTL_MS,
    payloadLimitBytes: (setting('defaults', 'payloadLimit') as number | undefined) ?? DEFAULT_PAYLOAD_LIMIT,
    ...defaultAlerts(setting('defaults', 'alerts') as (AlertThresholds & { checkEvery?: string | number }) | undefined),
  };
  const events = new Map([...merged.sections.events.values()].map((entry: Entry) => {
    const versions = schemas.events.get(entry.name) ?? [];
    return [entry.name, { name: entry.name, spec: entry.spec as never, origin: entry.origin, versions, latest: versions.length }] as const;
  }));
  const commands = new Map([...merged.sections.commands.values()].map((entry: Entry) => {
    const resolved = schemas.commands.get(entry.name)!;
    return [entry.name, { name: entry.name, spec: entry.spec as never, origin: entry.origin, ...resolved }] as const;
  }));
  return {
    root,
    files,
    brokers,
    stores: { database, cache },
    defaults,
    topics: section('topics'),
    queues: section('queues'),
    events,
    commands,
    aggregates: section('aggregates'),
    handlers: section('handlers'),
    sagas: section('sagas'),
    projections: section('projections'),
    queries: section('queries'),
    streams: section('streams'),
  };
}
