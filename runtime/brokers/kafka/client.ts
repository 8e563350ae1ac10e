import kafkajs, { type Consumer, type ConsumerRunConfig, type IHeaders, type KafkaConfig, type LogEntry, type Message, type SASLOptions } from 'kafkajs';
import type { BrokerConfig } from '../../definitions/index.js';
import { EdaflowError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import type { DestinationRef } from '../adapter.js';
import { installRecordCodec } from './record-codec.js';

const { Kafka, logLevel } = kafkajs;

/** CloudEvents Kafka protocol binding: attributes travel as `ce_*` headers (binary content mode). */
export const HEADER_PREFIX = 'ce_';

export type KafkaBrokerConfig = Extract<BrokerConfig, { type: 'kafka' }>;

/**
 * Consumer-group timing. Kafka's defaults suit production; tests pass shorter ones so joins, rebalances
 * and stops take milliseconds (set here, never through NODE_ENV).
 */
export interface KafkaAdapterOptions {
  /** A member that sends no heartbeat for this long is removed from its group. */
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** How long a rebalance waits for every member to rejoin. */
  readonly rebalanceTimeoutMs?: number;
  /** Long-poll time of one fetch: also how soon an idle member notices a rebalance or a stop. */
  readonly maxWaitTimeMs?: number;
  /**
   * Kafka's fetch.min.bytes: the broker holds a fetch until this much is there (or maxWaitTimeMs has
   * passed). 1 answers as soon as anything is; more fetches in bulk under load (less CPU per message)
   * but makes a quiet topic's messages wait up to maxWaitTimeMs.
   */
  readonly minBytes?: number;
  /**
   * Partitions of a queue's topic. A Kafka partition has one consumer per group at a time, so a queue
   * needs several partitions for several competing consumers to share it.
   */
  readonly queuePartitions?: number;
}

export const DEFAULT_OPTIONS: Required<KafkaAdapterOptions> = {
  sessionTimeoutMs: 30_000,
  heartbeatIntervalMs: 3_000,
  rebalanceTimeoutMs: 60_000,
  maxWaitTimeMs: 1_000,
  minBytes: 1,
  queuePartitions: 6,
};

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** The kafkajs client for a declared broker: its brokers, client id, TLS and SASL credentials. */
export function createKafka(name: string, config: KafkaBrokerConfig, logger: Logger): InstanceType<typeof Kafka> {
  const codec = installRecordCodec();
  if (!codec.installed) logger.debug({ broker: name, reason: codec.reason }, 'kafkajs keeps its own record codec (slower, same bytes)');
  const settings: KafkaConfig = {
    clientId: config.clientId ?? `edaflow-${name}`,
    brokers: [...config.brokers],
    logLevel: logLevel.WARN,
    // kafkajs's own log lines go to our logger, at warn: they are transient connection noise as a rule.
    logCreator: () => (entry: LogEntry) => {
      const { message, level, timestamp, logger: _source, ...fields } = entry.log;
      logger.warn({ kafkajs: entry.namespace, kafkajsLevel: level, kafkajsTime: timestamp, ...fields }, message);
    },
  };
  if (config.ssl !== undefined && config.ssl !== false) settings.ssl = tls(config.ssl);
  if (config.sasl) settings.sasl = sasl(name, config.sasl);
  return new Kafka(settings);
}

/** `ssl: true` (the system's CAs) or PEM strings, as the definitions schema allows them. */
function tls(ssl: unknown): NonNullable<KafkaConfig['ssl']> {
  if (ssl === true || typeof ssl !== 'object' || ssl === null) return true;
  const { ca, cert, key, rejectUnauthorized } = ssl as Record<string, unknown>;
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  return { ca: text(ca), cert: text(cert), key: text(key), rejectUnauthorized: rejectUnauthorized !== false };
}

function sasl(name: string, options: NonNullable<KafkaBrokerConfig['sasl']>): SASLOptions {
  const mechanism = options.mechanism.toLowerCase();
  if (!(SASL_MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new EdaflowError('EDA_INVALID_VALUE', `broker ${name}: SASL mechanism "${options.mechanism}" is not supported (use ${SASL_MECHANISMS.join(', ')})`);
  }
  return { mechanism: mechanism as (typeof SASL_MECHANISMS)[number], username: options.username, password: options.password };
}

/**
 * Kafka consumer group of a subscriber. On a topic every edaflow group is its own Kafka group; a
 * queue's consumers compete whatever group name they give, so a queue is consumed by one Kafka group.
 */
export function groupIdOf(destination: DestinationRef, group: string): string {
  return destination.kind === 'topic' ? `${destination.name}.${group}` : destination.name;
}

/** Header values arrive as Buffers; the pipeline reads strings. */
export function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) result[name] = first.toString();
  }
  return result;
}

export function record(headers: Record<string, string>, body: Buffer, key: string | undefined): Message {
  return { headers, value: body, ...(key !== undefined ? { key } : {}) };
}

/** The Kafka error types along a kafkajs error's cause chain (retries wrap the broker's error). */
export function kafkaErrorTypes(error: unknown): string[] {
  const types: string[] = [];
  for (let current = error as { type?: unknown; cause?: unknown } | undefined; current; current = current.cause as typeof current) {
    if (typeof current.type === 'string') types.push(current.type);
  }
  return types;
}

/** kafkajs's own test (not exported): the group is rebalancing and this member must rejoin. */
export function isRebalancing(error: unknown): boolean {
  return kafkaErrorTypes(error).some((type) => type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION');
}

/** A kafkajs failure as an EdaflowError naming the broker and what failed. */
export function brokerError(name: string, action: string, error: unknown): EdaflowError {
  if (error instanceof EdaflowError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const code = kafkaErrorTypes(error).includes('UNKNOWN_TOPIC_OR_PARTITION') ? 'EDA_UNKNOWN_DESTINATION' : 'EDA_BROKER_UNAVAILABLE';
  return new EdaflowError(code, `Kafka broker ${name}: ${action} failed: ${message}`, { cause: error });
}

/** What the adapter's parts share: one client, one admin, one producer for every publish. */
export interface KafkaContext {
  readonly name: string;
  readonly kafka: InstanceType<typeof Kafka>;
  readonly admin: import('kafkajs').Admin;
  readonly logger: Logger;
  readonly options: Required<KafkaAdapterOptions>;
  /** Produces `messages` to `topic`; resolves once every in-sync replica has them (acks = all). */
  send(topic: string, messages: Message[]): Promise<void>;
}

/**
 * Runs `consumer` and resolves once it has joined its group: kafkajs's run() resolves even when the
 * join fails (it crashes, and restarts itself when the failure is retriable), so wait for the event.
 */
export async function runJoined(consumer: Consumer, config: ConsumerRunConfig, timeoutMs: number): Promise<void> {
  const listeners: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  const joined = new Promise<void>((resolve, reject) => {
    listeners.push(consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    listeners.push(consumer.on(consumer.events.CRASH, (event) => event.payload.restart || reject(event.payload.error)));
    timer = setTimeout(() => reject(new Error(`the consumer group did not accept a member within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await consumer.run(config);
    await joined;
  } finally {
    clearTimeout(timer);
    for (const remove of listeners) remove();
  }
}

/** A join waits at most a rebalance (every member rejoining) plus a session (a dead member expiring). */
export function joinTimeoutMs(options: Required<KafkaAdapterOptions>): number {
  return options.rebalanceTimeoutMs + options.sessionTimeoutMs;
}
