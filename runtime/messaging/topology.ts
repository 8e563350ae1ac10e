import type { DestinationRef, GroupSpec, QueueSpec, TopicSpec, Topology } from '../brokers/adapter.js';
import { topicGroupDeadLetter } from '../brokers/dead-letter.js';
import { asList, parseDuration, retryPolicy, type Definitions, type RetryPolicy } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import { createSagaMachine } from '../sagas/machine.js';
import { listenedTypes } from '../sagas/runtime/listens.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_PREFETCH = 10;

/** What a consumer feeds: its metrics, alerts and `edaflow status` rows are labelled with it. */
export type ConsumerKind = 'handler' | 'aggregate' | 'projection' | 'saga' | 'stream';

/** A handler's subscription, everything resolved: where it reads, as which group, with which policy. */
export interface ConsumerPlan {
  readonly kind: ConsumerKind;
  readonly name: string;
  readonly broker: string;
  readonly destination: DestinationRef;
  readonly group: string;
  readonly accepts: ReadonlySet<string>;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly deadLetter: string | null;
  readonly idempotency?: { readonly key: string; readonly ttlMs: number };
}

/** Which broker carries which destinations, and who consumes them. */
export interface MessagingPlan {
  readonly topologies: ReadonlyMap<string, Topology>;
  readonly consumers: readonly ConsumerPlan[];
  /** Handlers of commands that travel over no queue: called in-process when the command is sent. */
  readonly inProcess: ReadonlyMap<string, readonly string[]>;
  /** Projections fed from a topic (or queue): each reads it as a consumer group named after the projection. */
  readonly projectionConsumers: readonly ConsumerPlan[];
  /** Aggregates whose commands travel over a queue: each reads it as a group named after the aggregate; the command bus executes them. */
  readonly aggregateConsumers: readonly ConsumerPlan[];
  /** Sagas: each reads every topic (or queue) carrying a type it listens to, as a group named after the saga. */
  readonly sagaConsumers: readonly ConsumerPlan[];
  /** Streams: each reads every topic carrying one of its input events, as the group `stream.<name>` (one record at a time, in order). */
  readonly streamConsumers: readonly ConsumerPlan[];
  /** The broker of a topic or queue. */
  brokerOf(destination: DestinationRef): string;
}

/**
 * Derives, from the definitions, each broker's topology (topics, queues with their dead-letter queues,
 * consumer groups) and each handler's subscription. Defaults: a queue's dead-letter queue is
 * `<queue>.dlq`; a topic group's is `<topic>.<group>.dlq`; retry is the handler's, else the queue's,
 * else `defaults.retry`.
 */
export function planMessaging(definitions: Definitions): MessagingPlan {
  const brokerOfTopic = new Map([...definitions.topics.values()].map((topic) => [topic.name, topic.spec.broker ?? definitions.defaults.broker]));
  const brokerOfQueue = new Map([...definitions.queues.values()].map((queue) => [queue.name, queue.spec.broker ?? definitions.defaults.broker]));
  const brokerOf = (destination: DestinationRef): string => {
    const broker = (destination.kind === 'topic' ? brokerOfTopic : brokerOfQueue).get(destination.name);
    if (!broker) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no ${destination.kind} named ${destination.name}`);
    return broker;
  };
  const topologies = new Map<string, { topics: TopicSpec[]; queues: QueueSpec[]; groups: GroupSpec[] }>();
  const topologyOf = (broker: string) => {
    let topology = topologies.get(broker);
    if (!topology) topologies.set(broker, (topology = { topics: [], queues: [], groups: [] }));
    return topology;
  };
  for (const topic of definitions.topics.values()) {
    const retentionMs = parseDuration(topic.spec.retention);
    topologyOf(brokerOf({ kind: 'topic', name: topic.name })).topics.push({ name: topic.name, partitions: topic.spec.partitions ?? 1, ...(retentionMs !== undefined ? { retentionMs } : {}) });
  }
  for (const queue of definitions.queues.values()) {
    const ttl = parseDuration(queue.spec.messageTtl);
    const retry = retryPolicy(queue.spec.retry, definitions.defaults.retry);
    topologyOf(brokerOf({ kind: 'queue', name: queue.name })).queues.push({ name: queue.name, deadLetter: queueDeadLetter(definitions, queue.name), maxDeliveries: retry.attempts, ...(ttl !== undefined ? { messageTtlMs: ttl } : {}) });
  }
  const inProcess = new Map<string, string[]>();
  const consumers = [...definitions.handlers.values()].flatMap((handler): ConsumerPlan[] => {
    const spec = handler.spec;
    const destination = sourceOf(definitions, asList(spec.on), spec.from);
    if (!destination) {
      for (const command of asList(spec.on)) inProcess.set(command, [...(inProcess.get(command) ?? []), handler.name]);
      return [];
    }
    const group = spec.group ?? handler.name;
    const queue = destination.kind === 'queue' ? definitions.queues.get(destination.name)?.spec : undefined;
    const retry = retryPolicy(spec.retry, retryPolicy(queue?.retry, definitions.defaults.retry));
    const deadLetter = destination.kind === 'queue' ? queueDeadLetter(definitions, destination.name) : topicGroupDeadLetter(destination.name, group);
    const broker = brokerOf(destination);
    topologyOf(broker).groups.push({ destination, group, deadLetter, retry });
    const concurrency = spec.concurrency ?? 1;
    return [{
      kind: 'handler',
      name: handler.name,
      broker,
      destination,
      group,
      accepts: new Set(asList(spec.on)),
      retry,
      timeoutMs: parseDuration(spec.timeout) ?? DEFAULT_TIMEOUT_MS,
      concurrency,
      prefetch: Math.max(concurrency, queue?.prefetch ?? DEFAULT_PREFETCH),
      deadLetter,
      ...(spec.idempotency ? { idempotency: { key: spec.idempotency.key ?? 'id', ttlMs: parseDuration(spec.idempotency.ttl) ?? definitions.defaults.idempotencyTtlMs } } : {}),
    }];
  });
  const projectionConsumers = [...definitions.projections.values()].flatMap((projection): ConsumerPlan[] => {
    const from = projection.spec.from;
    if (from === undefined || from === 'events') return [];
    const destination = sourceOf(definitions, [], from)!;
    const group = projection.name;
    const retry = definitions.defaults.retry;
    const deadLetter = destination.kind === 'queue' ? queueDeadLetter(definitions, from) : topicGroupDeadLetter(from, group);
    const broker = brokerOf(destination);
    topologyOf(broker).groups.push({ destination, group, deadLetter, retry });
    // One at a time: a projection applies a topic's messages in order.
    return [{ kind: 'projection', name: projection.name, broker, destination, group, accepts: new Set(Object.keys(projection.spec.on)), retry, timeoutMs: DEFAULT_TIMEOUT_MS, concurrency: 1, prefetch: DEFAULT_PREFETCH, deadLetter }];
  });
  const aggregateConsumers = planAggregateConsumers(definitions, brokerOf);
  for (const consumer of aggregateConsumers) topologyOf(consumer.broker).groups.push({ destination: consumer.destination, group: consumer.group, deadLetter: consumer.deadLetter, retry: consumer.retry });
  const sagaConsumers = planSagaConsumers(definitions, brokerOf);
  for (const consumer of sagaConsumers) topologyOf(consumer.broker).groups.push({ destination: consumer.destination, group: consumer.group, deadLetter: consumer.deadLetter, retry: consumer.retry });
  const streamConsumers = planStreamConsumers(definitions, brokerOf);
  for (const consumer of streamConsumers) topologyOf(consumer.broker).groups.push({ destination: consumer.destination, group: consumer.group, deadLetter: consumer.deadLetter, retry: consumer.retry });
  return { topologies, consumers, inProcess, projectionConsumers, aggregateConsumers, sagaConsumers, streamConsumers, brokerOf };
}

/**
 * A saga consumes each destination that carries a type it listens to. Several messages may be in
 * flight at once: the instance row lock serializes those of one instance.
 */
function planSagaConsumers(definitions: Definitions, brokerOf: (destination: DestinationRef) => string): ConsumerPlan[] {
  return [...definitions.sagas.values()].flatMap((saga) => {
    const typesByDestination = new Map<string, { destination: DestinationRef; types: string[] }>();
    for (const type of listenedTypes(createSagaMachine(saga.name, saga.spec, definitions))) {
      const topic = definitions.events.get(type)?.spec.topic;
      const queue = definitions.commands.get(type)?.spec.queue;
      const destination: DestinationRef | undefined = topic !== undefined ? { kind: 'topic', name: topic } : queue !== undefined ? { kind: 'queue', name: queue } : undefined;
      if (!destination) continue;
      const key = `${destination.kind}:${destination.name}`;
      const entry = typesByDestination.get(key) ?? { destination, types: [] };
      entry.types.push(type);
      typesByDestination.set(key, entry);
    }
    return [...typesByDestination.values()].map(({ destination, types }): ConsumerPlan => {
      const deadLetter = destination.kind === 'queue' ? queueDeadLetter(definitions, destination.name) : topicGroupDeadLetter(destination.name, saga.name);
      return {
        kind: 'saga',
        name: saga.name,
        broker: brokerOf(destination),
        destination,
        group: saga.name,
        accepts: new Set(types),
        retry: definitions.defaults.retry,
        timeoutMs: DEFAULT_TIMEOUT_MS,
        concurrency: DEFAULT_PREFETCH,
        prefetch: DEFAULT_PREFETCH,
        deadLetter,
      };
    });
  });
}

/** A stream reads the topic of each of its input events (one consumer per topic), as the group `stream.<name>`. */
function planStreamConsumers(definitions: Definitions, brokerOf: (destination: DestinationRef) => string): ConsumerPlan[] {
  return [...definitions.streams.values()].flatMap((stream) => {
    const spec = stream.spec;
    const inputs = spec.join ? [spec.join.left.event, spec.join.right.event] : spec.aggregate ? [spec.aggregate.from.event] : spec.from ? [spec.from.event] : [];
    const typesByTopic = new Map<string, Set<string>>();
    for (const type of inputs) {
      const topic = definitions.events.get(type)?.spec.topic;
      if (topic !== undefined) typesByTopic.set(topic, (typesByTopic.get(topic) ?? new Set()).add(type));
    }
    const group = streamGroup(stream.name);
    return [...typesByTopic].map(([topic, types]): ConsumerPlan => {
      const destination: DestinationRef = { kind: 'topic', name: topic };
      const deadLetter = topicGroupDeadLetter(topic, group);
      return { kind: 'stream', name: stream.name, broker: brokerOf(destination), destination, group, accepts: types, retry: definitions.defaults.retry, timeoutMs: DEFAULT_TIMEOUT_MS, concurrency: 1, prefetch: DEFAULT_PREFETCH, deadLetter };
    });
  });
}

/** The consumer group of a stream: prefixed, so that a stream never shares a group with a handler or saga of the same name. */
export function streamGroup(stream: string): string {
  return `stream.${stream}`;
}

/**
 * An aggregate whose commands travel over a queue consumes that queue (one consumer per queue), one
 * command at a time so that commands addressing one stream are decided in the order they were sent.
 */
function planAggregateConsumers(definitions: Definitions, brokerOf: (destination: DestinationRef) => string): ConsumerPlan[] {
  return [...definitions.aggregates.values()].flatMap((aggregate) => {
    const commandsByQueue = new Map<string, string[]>();
    for (const command of Object.keys(aggregate.spec.handle)) {
      const queue = definitions.commands.get(command)?.spec.queue;
      if (queue !== undefined) commandsByQueue.set(queue, [...(commandsByQueue.get(queue) ?? []), command]);
    }
    return [...commandsByQueue].map(([queue, commands]): ConsumerPlan => {
      const destination: DestinationRef = { kind: 'queue', name: queue };
      const spec = definitions.queues.get(queue)?.spec;
      return {
        kind: 'aggregate',
        name: aggregate.name,
        broker: brokerOf(destination),
        destination,
        group: aggregate.name,
        accepts: new Set(commands),
        retry: retryPolicy(spec?.retry, definitions.defaults.retry),
        timeoutMs: DEFAULT_TIMEOUT_MS,
        concurrency: 1,
        prefetch: spec?.prefetch ?? DEFAULT_PREFETCH,
        deadLetter: queueDeadLetter(definitions, queue),
      };
    });
  });
}

/** The topic or queue a handler reads: `from`, else where its first `on` type travels; none for an unrouted command. */
function sourceOf(definitions: Definitions, on: readonly string[], from: string | undefined): DestinationRef | undefined {
  if (from !== undefined) return definitions.queues.has(from) ? { kind: 'queue', name: from } : { kind: 'topic', name: from };
  const first = on[0]!;
  const event = definitions.events.get(first);
  if (event) return { kind: 'topic', name: event.spec.topic };
  const queue = definitions.commands.get(first)?.spec.queue;
  return queue ? { kind: 'queue', name: queue } : undefined;
}

function queueDeadLetter(definitions: Definitions, queue: string): string | null {
  const declared = definitions.queues.get(queue)?.spec.deadLetter;
  if (declared === false) return null;
  return declared?.queue ?? `${queue}.dlq`;
}
