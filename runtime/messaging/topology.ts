import type { DestinationRef, GroupSpec, QueueSpec, TopicSpec, Topology } from '../brokers/adapter.js';
import { topicGroupDeadLetter } from '../brokers/dead-letter.js';
import { asList, parseDuration, retryPolicy, type Definitions, type RetryPolicy } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_PREFETCH = 10;

/** A handler's subscription, everything resolved: where it reads, as which group, with which policy. */
export interface ConsumerPlan {
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
  return { topologies, consumers, inProcess, brokerOf };
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
