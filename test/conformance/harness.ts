import { randomUUID } from 'node:crypto';
import type { BrokerAdapter, DestinationRef, GroupSpec, StartAt, Subscription } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { loadDefinitions, memoryFileSystem, type Definitions, type RetryPolicy } from '../../runtime/definitions/index.js';
import { createEnvelope, type Envelope } from '../../runtime/envelope/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { MessageCatalog } from '../../runtime/messages/catalog.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createConsumer, type MessageHandler, type Outcome } from '../../runtime/pipeline/consumer.js';

/** Unique names per test run and per test, so runs never see each other's topics and queues. */
export const RUN = `c${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
let counter = 0;
export function uniqueName(prefix: string): string {
  return `${prefix}-${RUN}-${++counter}`;
}

const DEFINITIONS = `
edaflow: 1
topics: { conformance: {} }
events:
  Ping:
    topic: conformance
    versions:
      1: { schema: { type: object, required: [n], properties: { n: { type: integer } }, additionalProperties: false } }
      2:
        schema: { type: object, required: [n, label], properties: { n: { type: integer }, label: { type: string } }, additionalProperties: false }
        upcast: { set: { label: "{% 'ping ' & $string(n) %}" } }
`;

let catalog: MessageCatalog | undefined;

/** The message types the suite sends: Ping v1 → v2 (upcast adds `label`). */
export async function conformanceCatalog(): Promise<MessageCatalog> {
  if (catalog) return catalog;
  const result = await loadDefinitions('/conformance', { fileSystem: memoryFileSystem({ 'app.yaml': DEFINITIONS }, '/conformance') });
  if (!result.definitions) throw new Error(`conformance definitions are invalid: ${JSON.stringify(result.diagnostics)}`);
  catalog = MessageCatalog.build(result.definitions as Definitions);
  return catalog;
}

export function ping(n: number, options: { key?: string; id?: string; version?: 1 | 2 } = {}): { envelope: Envelope; key?: string } {
  const version = options.version ?? 2;
  const data = version === 2 ? { n, label: `ping ${n}` } : { n };
  const envelope = createEnvelope('Ping', data, 'conformance', { dataversion: version, ...(options.id ? { id: options.id } : {}), ...(options.key ? { subject: options.key } : {}) });
  return { envelope, ...(options.key ? { key: options.key } : {}) };
}

export const NO_RETRY: RetryPolicy = { attempts: 1, backoff: 'fixed', delayMs: 0, maxDelayMs: 0, jitter: false };

export interface Received {
  readonly envelope: Envelope;
  readonly attempt: number;
  readonly at: number;
}

export interface TestConsumer {
  readonly received: Received[];
  readonly outcomes: Outcome[];
  readonly subscription: Subscription;
  readonly deadLetter: string;
}

/**
 * Subscribes `group` to `destination` through the real consumer pipeline, recording every message the
 * handler sees and every outcome.
 */
export async function consume(
  adapter: BrokerAdapter,
  destination: DestinationRef,
  group: string,
  options: {
    handler?: MessageHandler; retry?: RetryPolicy; concurrency?: number; prefetch?: number; dedup?: boolean; timeoutMs?: number; deadLetter?: string;
    startAt?: StartAt; ephemeral?: boolean;
  } = {},
): Promise<TestConsumer> {
  const received: Received[] = [];
  const outcomes: Outcome[] = [];
  const deadLetter = options.deadLetter ?? (destination.kind === 'topic' ? topicGroupDeadLetter(destination.name, group) : `${destination.name}.dlq`);
  const spec: GroupSpec = { destination, group, deadLetter, retry: options.retry ?? NO_RETRY };
  const pipeline = createConsumer({
    name: group,
    group,
    origin: destination,
    accepts: new Set(['Ping']),
    retry: spec.retry,
    timeoutMs: options.timeoutMs ?? 10_000,
    headerPrefix: adapter.capabilities.headerPrefix,
    catalog: await conformanceCatalog(),
    logger: createLogger({ level: 'silent' }),
    ...(options.dedup ? { dedup: { store: new MemoryDedupStore(), ttlMs: 60_000 } } : {}),
    handle: async (envelope, context) => {
      received.push({ envelope, attempt: context.attempt, at: Date.now() });
      return options.handler?.(envelope, context);
    },
  });
  const subscription = await adapter.subscribe(
    {
      ...spec, concurrency: options.concurrency ?? 1, prefetch: options.prefetch ?? Math.max(10, options.concurrency ?? 1),
      ...(options.startAt ? { startAt: options.startAt } : {}), ...(options.ephemeral ? { ephemeral: true } : {}),
    },
    async (delivery) => void outcomes.push(await pipeline(delivery)),
  );
  return { received, outcomes, subscription, deadLetter };
}

/** Polls until `condition` holds or `timeoutMs` passes; then fails with `describe()`. */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
export { randomUUID };
