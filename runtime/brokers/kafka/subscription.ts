import type { Consumer, EachMessagePayload, KafkaMessage } from 'kafkajs';
import type { DeadLetterInfo, Delivery, SubscribeRequest, Subscription } from '../adapter.js';
import { deadLetterHeaders } from '../dead-letter.js';
import { OffsetCommitter } from './offsets.js';
import { startGroupAtEnd } from './provision.js';
import { groupIdOf, isRebalancing, joinTimeoutMs, record, runJoined, stringHeaders, type KafkaContext } from './client.js';

type Deliver = (delivery: Delivery) => Promise<void>;

/**
 * One member of a Kafka consumer group. Per-key order comes from partitions: a key always lands on
 * one partition, kafkajs hands one partition's messages over one at a time, and runs up to
 * `concurrency` partitions at once (partitionsConsumedConcurrently) — so KeyedLanes is not needed here.
 * At most `concurrency` (≤ prefetch) deliveries are unsettled at once.
 *
 * Offsets are committed by hand (OffsetCommitter), only after ack or deadLetter: a message the process
 * never settled is delivered again (at least once).
 */
export class KafkaSubscription implements Subscription {
  private consumer: Consumer | undefined;
  private stopping = false;
  private readonly stopped = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  /** Per partition: the last delivery queued, and the offset up to which this member has settled. */
  private readonly tails = new Map<number, Promise<void>>();
  private readonly settledUpTo = new Map<number, bigint>();
  /** Per partition: offsets handed over and not settled yet (late acks): the committed offset stays at the lowest. */
  private readonly unsettled = new Map<number, Set<bigint>>();
  private readonly offsets: OffsetCommitter;
  /** The latest batch's heartbeat, for the keep-alive timer. */
  private heartbeat: (() => Promise<void>) | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;

  constructor(private readonly context: KafkaContext, private readonly request: SubscribeRequest, private readonly deliver: Deliver) {
    this.offsets = new OffsetCommitter(request.destination.name, () => this.consumer, context.logger);
  }

  /** Resolves once this member has joined its group and got its partitions. */
  async start(): Promise<void> {
    const { options } = this.context;
    const consumer = this.context.kafka.consumer({
      groupId: groupIdOf(this.request.destination, this.request.group),
      sessionTimeout: options.sessionTimeoutMs,
      heartbeatInterval: options.heartbeatIntervalMs,
      rebalanceTimeout: options.rebalanceTimeoutMs,
      maxWaitTimeInMs: options.maxWaitTimeMs,
      minBytes: options.minBytes,
      allowAutoTopicCreation: false,
      retry: { restartOnFailure: async () => true },
    });
    this.consumer = consumer;
    this.keepAliveTimer ??= this.keepAlive();
    consumer.on(consumer.events.CRASH, (event) => this.onCrash(event.payload.error, event.payload.restart));
    // Commit what was handled before kafkajs rejoins, so a partition's next owner starts after it
    // (best effort: a commit that loses the race only means a redelivery).
    consumer.on(consumer.events.REBALANCING, () => void this.offsets.flush());
    await consumer.connect();
    // Where a group with no committed position starts (StartAt): provisioning commits one for every
    // declared group, so this is for a group subscribed unprovisioned, such as `edaflow tail`'s. 'latest'
    // is committed before joining: kafkajs would resolve it lazily, after messages published meanwhile.
    if (this.request.startAt === 'latest') await startGroupAtEnd(this.context, this.request);
    await consumer.subscribe({ topics: [this.request.destination.name], fromBeginning: true });
    const limit = Math.max(1, Math.min(this.request.concurrency, this.request.prefetch));
    await runJoined(consumer, { autoCommit: false, partitionsConsumedConcurrently: limit, eachMessage: (payload) => this.track(this.inPartitionOrder(payload, () => this.handle(payload))) }, joinTimeoutMs(options));
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopped.abort();
    const consumer = this.consumer;
    try {
      consumer?.pause([{ topic: this.request.destination.name }]);
    } catch {
      // not running (crashed): nothing to pause
    }
    // kafkajs ignores commits once its consumer stops: in-flight deliveries settle and commit first.
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
    clearInterval(this.keepAliveTimer);
    await this.offsets.flush();
    // A late ack from now on is not committed: that message is delivered again (at least once).
    this.offsets.close();
    await consumer?.disconnect();
  }

  private track(work: Promise<void>): Promise<void> {
    this.inFlight.add(work);
    const done = (): void => void this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  /**
   * kafkajs rejoins its group by itself (stale metadata after a topic was created, a rebalance) and
   * fetches again from the committed offset while a batch fetched before may still be running. So one
   * partition never runs two deliveries at once here, and an offset this member already settled is
   * skipped: the refetch neither repeats finished work nor lets a message overtake an older one.
   */
  private inPartitionOrder({ partition, message }: EachMessagePayload, work: () => Promise<void>): Promise<void> {
    const offset = BigInt(message.offset);
    const run = (this.tails.get(partition) ?? Promise.resolve()).then(async () => {
      if (offset < (this.settledUpTo.get(partition) ?? -1n)) return;
      await work();
    });
    const tail = run.catch(() => undefined);
    this.tails.set(partition, tail);
    void tail.then(() => this.tails.get(partition) === tail && this.tails.delete(partition));
    return run;
  }

  /**
   * Commits up to the lowest delivery of the partition still unsettled (a late ack may settle a message
   * after a later one was acked or dead-lettered), else past everything settled.
   */
  private settle(partition: number, offset: string): void {
    const settled = BigInt(offset);
    const open = this.unsettled.get(partition);
    open?.delete(settled);
    if (settled + 1n > (this.settledUpTo.get(partition) ?? -1n)) this.settledUpTo.set(partition, settled + 1n);
    let lowest: bigint | undefined;
    for (const pending of open ?? []) if (lowest === undefined || pending < lowest) lowest = pending;
    this.offsets.add(partition, lowest ?? this.settledUpTo.get(partition)!);
  }

  /** kafkajs restarts after retriable failures itself; after any other crash the member is rebuilt. */
  private onCrash(error: Error, restarting: boolean): void {
    this.context.logger.warn({ group: this.request.group, destination: this.request.destination.name, error: error.message, restarting }, 'Kafka consumer crashed');
    if (restarting || this.stopping) return;
    setTimeout(() => {
      if (!this.stopping) this.start().catch((failure: Error) => this.onCrash(failure, false));
    }, 1_000).unref();
  }

  /**
   * Delivers one message until it is settled. retry(delay) waits here, in process, with the partition
   * held (later messages of its keys wait too, as Kafka's order demands) and heartbeats going; the
   * attempt count therefore lives in this process only: after a crash or a rebalance the next owner of
   * the partition starts again at attempt 1. A rebalance announced during a retry wait ends the wait
   * with the message uncommitted, so a long backoff never holds up the whole group.
   */
  private async handle({ partition, message, heartbeat }: EachMessagePayload): Promise<void> {
    if (this.stopping) return; // not committed: whoever consumes next gets it
    this.heartbeat = heartbeat;
    let open = this.unsettled.get(partition);
    if (!open) this.unsettled.set(partition, (open = new Set()));
    open.add(BigInt(message.offset));
    const commit = async (): Promise<void> => this.settle(partition, message.offset);
    for (let attempt = 1; !this.stopping; attempt++) {
      let retryAfter: number | undefined;
      await this.deliver(this.delivery(message, attempt, {
        ack: commit,
        retry: async (delayMs) => void (retryAfter = delayMs),
        deadLetter: async (info) => {
          await this.toDeadLetter(message, info);
          await commit();
        },
      }));
      if (retryAfter === undefined) return;
      const rebalancing = await this.waitOutRetry(retryAfter, heartbeat);
      if (rebalancing) {
        // The partition's next owner delivers it again; kept here, a stale offset could later pull this
        // member's commits back below what that owner committed.
        open.delete(BigInt(message.offset));
        // Thrown, not returned: kafkajs then leaves the offset unresolved and rejoins the group.
        throw rebalancing;
      }
    }
  }

  /**
   * Waits `ms` before a retry, heartbeating meanwhile; resolves early with the error when a rebalance
   * is announced (or with undefined when the subscription stops or the wait is over).
   */
  private async waitOutRetry(ms: number, heartbeat: () => Promise<void>): Promise<unknown> {
    const rebalancing = new AbortController();
    const beat = (): Promise<void> => heartbeat().catch((error: unknown) => void (isRebalancing(error) && rebalancing.abort(error)));
    const keepAlive = setInterval(() => void beat(), this.context.options.heartbeatIntervalMs);
    try {
      await pause(ms, AbortSignal.any([this.stopped.signal, rebalancing.signal]));
    } finally {
      clearInterval(keepAlive);
    }
    return rebalancing.signal.aborted ? rebalancing.signal.reason : undefined;
  }

  /**
   * Heartbeats while a handler runs longer than the heartbeat interval, so the group does not drop this
   * member: one timer for the subscription, not one per message (kafkajs itself heartbeats between messages).
   */
  private keepAlive(): NodeJS.Timeout {
    const timer = setInterval(() => {
      if (this.inFlight.size) void this.heartbeat?.().catch(() => undefined);
    }, this.context.options.heartbeatIntervalMs);
    timer.unref();
    return timer;
  }

  private delivery(message: KafkaMessage, attempt: number, settle: Pick<Delivery, 'ack' | 'retry' | 'deadLetter'>): Delivery {
    const key = message.key?.toString();
    return { headers: stringHeaders(message.headers), body: message.value ?? Buffer.alloc(0), attempt, ...(key !== undefined ? { key } : {}), ...settle };
  }

  private async toDeadLetter(message: KafkaMessage, info: DeadLetterInfo): Promise<void> {
    const destination = this.request.deadLetter;
    if (destination === null) {
      this.context.logger.warn({ group: this.request.group, destination: this.request.destination.name, error: info.error }, 'dead-lettering is off: message dropped');
      return;
    }
    const headers = { ...stringHeaders(message.headers), ...deadLetterHeaders(info) };
    await this.context.send(destination, [record(headers, message.value ?? Buffer.alloc(0), message.key?.toString())]);
  }
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
