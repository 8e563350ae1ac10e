import { randomUUID } from 'node:crypto';
import { encodeBinary } from '../../envelope/index.js';
import { EdaflowError } from '../../errors/index.js';
import type { Logger } from '../../observability/logger.js';
import type { Database, Queryable } from '../../store/database.js';
import { migrate } from '../../store/migrations/index.js';
import type { InsertPart } from '../../store/insert-part.js';
import type { BrokerAdapter, DeadLetterOperations, Delivery, DestinationRef, GroupSpec, OutgoingMessage, SubscribeRequest, Subscription, Topology } from '../adapter.js';
import { KeyedLanes } from '../keyed-lanes.js';
import { BatchedAcks } from '../batched-acks.js';
import { appendToTopic, topicInserts } from './append-to-topic.js';
import { consumeQueue, type LoopContext } from './consume-queue.js';
import { TopicGroupConsumer } from './consume-topic.js';
import { deadLetterOperations } from './dead-letters.js';
import { dropGroup } from './drop-group.js';
import { enqueue, queueInserts } from './enqueue.js';
import { groupLag } from './lag.js';
import { provisionGroup, provisionInternalQueue, provisionQueue, provisionTopic } from './provision.js';
import { readQueueLimits } from './queue-settings.js';
import { ackQueuedMany } from './settle-queue.js';
import { Signal } from '../../core/signal.js';
import { CHANNEL, INSERT_CHUNK, redeliveryQueue, type Wake, type WireRow } from './wire.js';
import { OpenSubscriptions } from '../subscriptions.js';

const HEADER_PREFIX = 'ce-';

export interface PostgresBrokerOptions {
  /** The polling fallback behind LISTEN/NOTIFY (a lost notification costs at most this). Default 1 s. */
  readonly pollIntervalMs?: number;
  /** How long a claimed queue message or a leased partition stays with a consumer that stops renewing it. Default 30 s. */
  readonly leaseMs?: number;
  readonly logger?: Logger;
}

/** Databases whose leases this process has already reclaimed (see `connect`). */
const reclaimed = new WeakSet<Database>();

/**
 * The `postgres` broker: topics and queues as tables of the `database` store (DESIGN.md), the durable
 * default on the embedded database. Topics are an append-only log read per group below the oldest
 * running transaction, with per-group positions per partition; queues are rows claimed with
 * `FOR UPDATE SKIP LOCKED` under a lease. NOTIFY (sent in the writing transaction) wakes consumers;
 * they also poll every `pollIntervalMs`.
 *
 * `publishInTransaction(tx, destination, messages)` writes messages inside a caller's transaction on the
 * same database, so an event store's append and its publication commit (or roll back) together and no
 * outbox relay is needed. Consumers see the messages once that transaction commits.
 */
export class PostgresBroker implements BrokerAdapter {
  /** Queue retries are the broker's (a visibility time in the row); topic retries hold the key's lane in process, so false. */
  readonly capabilities = { headerPrefix: HEADER_PREFIX, topics: true, brokerDelayedRetry: false, durable: true, topicHistory: true, lateAck: true } as const;
  readonly deadLetters: DeadLetterOperations;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly wakers = new Map<Wake, Set<() => void>>();
  private readonly subscriptions = new OpenSubscriptions();
  private readonly topicPartitions = new Map<string, number>();
  private readonly knownQueues = new Set<string>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(readonly name: string, private readonly db: Database, private readonly options: PostgresBrokerOptions = {}) {
    this.pollMs = options.pollIntervalMs ?? 1_000;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.deadLetters = deadLetterOperations(db);
  }

  async connect(): Promise<void> {
    try {
      await migrate(this.db);
      this.unlisten ??= await this.db.listen(CHANNEL, (payload) => this.wake(payload as Wake));
      await this.reclaimEmbeddedLeases();
    } catch (error) {
      throw new EdaflowError('EDA_BROKER_UNAVAILABLE', `broker ${this.name}: the ${this.db.kind} database cannot be used: ${(error as Error).message}`, { cause: error });
    }
  }

  async provision(topology: Topology): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const topic of topology.topics) await provisionTopic(tx, this.name, topic);
      for (const queue of topology.queues) await provisionQueue(tx, this.name, queue);
      for (const group of topology.groups) {
        if (group.deadLetter) await provisionInternalQueue(tx, group.deadLetter);
        if (group.destination.kind !== 'topic') continue;
        // A new group starts at the topic's end as of now; an existing one keeps its position (StartAt).
        await provisionGroup(tx, group.destination.name, group.group, 'latest');
        await provisionInternalQueue(tx, redeliveryQueue(group.destination.name, group.group));
      }
    });
  }

  async publish(destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void> {
    if (!messages.length) return;
    // Up to INSERT_CHUNK messages are one statement, atomic by itself: no BEGIN/COMMIT round trips.
    if (messages.length <= INSERT_CHUNK) await this.publishInTransaction(this.db, destination, messages);
    else await this.db.transaction((tx) => this.publishInTransaction(tx, destination, messages));
    // NOTIFY wakes every process; this spares the local consumers the round trip.
    this.wake(`${destination.kind}:${destination.name}`);
  }

  /**
   * Writes `messages` to `destination` in the caller's transaction `tx` (a transaction of this broker's
   * database): they become visible to consumers only when it commits, and vanish if it rolls back.
   */
  async publishInTransaction(tx: Queryable, destination: DestinationRef, messages: readonly OutgoingMessage[]): Promise<void> {
    const rows = wireRows(messages);
    if (destination.kind === 'topic') await appendToTopic(tx, destination.name, await this.partitionsOf(tx, destination.name), rows);
    else {
      await this.assertQueue(tx, destination.name);
      await enqueue(tx, destination.name, rows);
    }
  }

  /**
   * The inserts that publish `messages` to `destination`, for a caller to run inside its own statement
   * or transaction on this broker's database (the event store composes them into its append). Inside a
   * transaction, pass it as `tx`: the lookups must not wait for it (the embedded database is one session).
   */
  async publishParts(destination: DestinationRef, messages: readonly OutgoingMessage[], tx: Queryable = this.db): Promise<InsertPart[]> {
    const rows = wireRows(messages);
    if (destination.kind === 'topic') return topicInserts(destination.name, await this.partitionsOf(tx, destination.name), rows);
    await this.assertQueue(tx, destination.name);
    return queueInserts(destination.name, rows);
  }

  async subscribe(request: SubscribeRequest, deliver: (delivery: Delivery) => Promise<void>): Promise<Subscription> {
    const window = Math.max(1, request.prefetch);
    let running = true;
    let stop: () => void = () => undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const signal = new Signal();
    const onError = (error: unknown, what: string): void => this.options.logger?.warn({ err: error, broker: this.name }, `postgres broker: failed ${what}`);
    const context: LoopContext = {
      db: this.db, leaseMs: this.leaseMs, pollMs: this.pollMs, lanes: new KeyedLanes(Math.max(1, Math.min(request.concurrency, window))), window, signal,
      running: () => running, deliver, deadLetter: request.deadLetter, origin: request.destination, group: request.group, onError,
      acks: new BatchedAcks({ write: async (chunk: { id: string; attempt: number }[]) => void (await ackQueuedMany(this.db, chunk)), chunk: INSERT_CHUNK, onError }),
    };
    const destination = request.destination;
    const queue = destination.kind === 'topic' ? redeliveryQueue(destination.name, request.group) : destination.name;
    const topic = destination.kind === 'topic' ? await this.topicConsumer(request, context, stopped) : undefined;
    const unregister = this.onWake(`queue:${queue}`, () => signal.wake());
    const limits = await readQueueLimits(this.db, queue);
    const loops = Promise.all([consumeQueue(queue, limits, context), topic?.run()]);
    return this.subscriptions.track(async () => {
      running = false;
      stop();
      signal.wake();
      topic?.wake();
      await loops;
      await context.lanes.idle();
      await context.acks.flushed();
      await topic?.finish();
      unregister();
      if (request.ephemeral && destination.kind === 'topic') {
        await this.db.transaction((tx) => dropGroup(tx, destination.name, request.group)).catch((error: unknown) => context.onError(error, `removing the throwaway group ${request.group}`));
      }
    });
  }

  lag(group: GroupSpec): Promise<number> {
    return groupLag(this.db, this.name, group);
  }

  async close(): Promise<void> {
    await this.subscriptions.stopAll();
    await this.unlisten?.().catch(() => undefined);
    this.unlisten = undefined;
  }

  /** The group's partitions reader; the group (and its redelivery queue) is created if provision was skipped. */
  private async topicConsumer(request: SubscribeRequest, context: LoopContext, stopped: Promise<void>): Promise<TopicGroupConsumer> {
    const { name: topic } = request.destination;
    const { partitions, retentionMs } = await this.db.transaction(async (tx) => {
      await provisionInternalQueue(tx, redeliveryQueue(topic, request.group));
      if (request.deadLetter) await provisionInternalQueue(tx, request.deadLetter);
      return provisionGroup(tx, topic, request.group, request.startAt ?? 'earliest');
    });
    return new TopicGroupConsumer({
      ...context,
      topic,
      group: request.group,
      owner: randomUUID(),
      // At most `prefetch` unsettled rows in all, spread over the partitions.
      prefetch: Math.max(1, Math.floor(request.prefetch / partitions)),
      retentionMs,
      stopped,
      onNotify: (wake) => this.onWake(`topic:${topic}`, wake),
    });
  }

  private onWake(name: Wake, wake: () => void): () => void {
    let set = this.wakers.get(name);
    if (!set) this.wakers.set(name, (set = new Set()));
    set.add(wake);
    return () => set.delete(wake);
  }

  private wake(name: Wake): void {
    for (const wake of this.wakers.get(name) ?? []) wake();
  }

  private async partitionsOf(tx: Queryable, topic: string): Promise<number> {
    const cached = this.topicPartitions.get(topic);
    if (cached !== undefined) return cached;
    const { rows } = await tx.query<{ partitions: number }>('select partitions from edaflow_topics where name = $1', [topic]);
    const partitions = rows[0]?.partitions;
    if (partitions === undefined) throw new EdaflowError('EDA_UNKNOWN_TYPE', `topic ${topic} is not provisioned on broker ${this.name}`);
    this.topicPartitions.set(topic, partitions);
    return partitions;
  }

  private async assertQueue(tx: Queryable, queue: string): Promise<void> {
    if (this.knownQueues.has(queue)) return;
    const { rows } = await tx.query('select 1 from edaflow_queues where name = $1', [queue]);
    if (!rows.length) throw new EdaflowError('EDA_UNKNOWN_TYPE', `queue ${queue} is not provisioned on broker ${this.name}`);
    this.knownQueues.add(queue);
  }

  /**
   * The embedded database belongs to one process at a time, so leases left by a previous process that
   * was killed can be released at once instead of waiting for them to expire.
   */
  private async reclaimEmbeddedLeases(): Promise<void> {
    if (this.db.kind !== 'embedded' || reclaimed.has(this.db)) return;
    reclaimed.add(this.db);
    await this.db.query('update edaflow_topic_groups set owner = null, leased_until = null where owner is not null');
    await this.db.query('update edaflow_queue_messages set leased_until = null where leased_until is not null');
  }
}

/** Messages as the broker stores them: CloudEvents binary-mode headers, the body, the ordering key. */
function wireRows(messages: readonly OutgoingMessage[]): WireRow[] {
  return messages.map((message) => ({ ...encodeBinary(message.envelope, HEADER_PREFIX), ...(message.key !== undefined ? { key: message.key } : {}) }));
}
