import type { SchemaOrigin } from './refs.js';
import type { Path, SourceFile } from './source.js';
import type * as Document from './spec/document.generated.js';

export type { Document };

/** Where a definition was written. */
export interface Origin {
  readonly file: SourceFile;
  readonly path: Path;
}

/** A definition of a named section, with its name and where it was written. */
export interface Defined<T> {
  readonly name: string;
  readonly spec: T;
  readonly origin: Origin;
}

export type RetryBackoff = 'fixed' | 'linear' | 'exponential';

export interface RetryPolicy {
  readonly attempts: number;
  readonly backoff: RetryBackoff;
  readonly delayMs: number;
  readonly maxDelayMs: number;
  readonly jitter: boolean;
}

export type BrokerConfig =
  | { readonly type: 'kafka'; readonly brokers: readonly string[]; readonly clientId?: string; readonly ssl?: unknown; readonly sasl?: { mechanism: string; username: string; password: string }; readonly fetch?: { readonly minBytes?: number; readonly maxWait?: string | number } }
  | { readonly type: 'rabbitmq'; readonly url: string; readonly exchange?: string; readonly tls?: unknown }
  | { readonly type: 'nats'; readonly servers: readonly string[]; readonly user?: string; readonly pass?: string; readonly token?: string; readonly tls?: unknown }
  | { readonly type: 'sqs'; readonly region: string; readonly endpoint?: string; readonly accessKeyId?: string; readonly secretAccessKey?: string }
  | { readonly type: 'postgres'; readonly pollInterval?: string | number }
  | { readonly type: 'memory' };

export type BrokerType = BrokerConfig['type'];

export type DatabaseStore = { readonly type: 'postgres'; readonly url: string; readonly schema?: string } | { readonly type: 'embedded'; readonly path: string };
export type CacheStore = { readonly type: 'redis'; readonly url: string; readonly keyPrefix?: string } | { readonly type: 'memory' };

export interface Defaults {
  readonly broker: string;
  readonly source: string;
  readonly retry: RetryPolicy;
  readonly idempotencyTtlMs: number;
  readonly payloadLimitBytes: number;
  /** `defaults.alerts`: the thresholds of consumers that set none, and how often alerts are checked. */
  readonly alerts: AlertThresholds;
  readonly alertCheckEveryMs: number;
}

/** `alerts` of a handler, aggregate, projection, saga or stream (each key unset: no alert of that kind). */
export interface AlertThresholds {
  readonly lagAbove?: number;
  /** A fraction (0..1) of the deliveries of the error-rate window that failed. */
  readonly errorRateAbove?: number;
  readonly deadLettersAbove?: number;
}

export interface Upcast {
  readonly set?: Readonly<Record<string, unknown>>;
  readonly remove?: readonly string[];
  readonly handler?: string;
}

/** One version of an event, its `$ref`s resolved. */
export interface EventVersion {
  readonly version: number;
  readonly schema: unknown;
  readonly schemaOrigin: SchemaOrigin;
  readonly examples: readonly unknown[];
  readonly upcast?: Upcast;
}

export interface EventModel {
  readonly versions: readonly EventVersion[];
  readonly latest: number;
}

export interface CommandModel {
  readonly schema: unknown;
  readonly schemaOrigin: SchemaOrigin;
}

/** Everything a definitions directory declares, merged across files, defaults applied. */
export interface Definitions {
  readonly root: string;
  readonly files: readonly SourceFile[];
  readonly brokers: ReadonlyMap<string, Defined<BrokerConfig>>;
  readonly stores: { readonly database: DatabaseStore; readonly cache: CacheStore };
  readonly defaults: Defaults;
  readonly topics: ReadonlyMap<string, Defined<Document.TopicDefinition>>;
  readonly queues: ReadonlyMap<string, Defined<Document.QueueDefinition>>;
  readonly events: ReadonlyMap<string, Defined<Document.EventDefinition> & EventModel>;
  readonly commands: ReadonlyMap<string, Defined<Document.CommandDefinition> & CommandModel>;
  readonly aggregates: ReadonlyMap<string, Defined<Document.AggregateDefinition>>;
  readonly handlers: ReadonlyMap<string, Defined<Document.HandlerDefinition>>;
  readonly sagas: ReadonlyMap<string, Defined<Document.SagaDefinition>>;
  readonly projections: ReadonlyMap<string, Defined<Document.ProjectionDefinition>>;
  readonly queries: ReadonlyMap<string, Defined<Document.QueryDefinition>>;
  readonly streams: ReadonlyMap<string, Defined<Document.StreamDefinition>>;
}

/** The name of the broker used when a directory declares none. */
export const IMPLICIT_BROKER = 'default';

export function asList<T>(value: T | readonly T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...(value as T[])] : [value as T];
}
