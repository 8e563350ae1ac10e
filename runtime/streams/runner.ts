import type { BrokerAdapter, Subscription } from '../brokers/adapter.js';
import { Signal } from '../core/signal.js';
import type { Envelope } from '../envelope/index.js';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
import type { MessageCatalog } from '../messages/catalog.js';
import { subscribePlanned } from '../messaging/subscribe.js';
import type { ConsumerPlan } from '../messaging/topology.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Outbox } from '../outbox/index.js';
import { lateSettlement, type AttemptContext, type LateSettlement } from '../pipeline/consumer.js';
import { inInbox, pruneInbox, recordAllInInbox, recordInInbox } from '../projections/checkpoint.js';
import type { Database } from '../store/database.js';
import { acquireLease, type Lease } from '../store/leases.js';
import type { StreamMetrics } from './metrics.js';
import type { StreamModel } from './model.js';
import { createProcessor, type StreamProcessor } from './processor.js';
import { StepBatch, stepsDone, type BatchEntry } from './batch.js';
import type { StepResult } from './record.js';
import { loadSnapshot } from './store/load-snapshot.js';
import { lockTask } from './store/lock-task.js';
import { saveSteps } from './store/save-steps.js';
import { takeOverTask } from './store/take-over-task.js';

export interface StreamRunnerOptions {
  readonly model: StreamModel;
  /** One per input topic of the stream. */
  readonly consumers: readonly ConsumerPlan[];
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  readonly database: Database;
  readonly catalog: MessageCatalog;
  readonly outbox: Outbox;
  readonly logger: Logger;
  readonly metrics?: Metrics;
  readonly streamMetrics?: StreamMetrics;
  readonly owner: string;
  readonly leaseTtlMs: number;
  readonly inboxTtlMs: number;
}

/** Held while running: the lease, the fencing epoch, the processor, the input subscriptions. */
interface Holding {
  readonly lease: Lease;
  readonly epoch: number;
  processor: StreamProcessor;
  subscriptions: Subscription[];
  /** Group commit: messages stepped since the last commit began, not written yet. */
  open: StepBatch | undefined;
  /** The commit in flight. */
  flushing: Promise<void> | undefined;
  /** Batches whose commit failed, waiting to be stepped again on state reloaded from the database. */
  readonly failed: StepBatch[];
  /** Ids of the messages in the batches above: a message delivered twice before its commit is a duplicate. */
  readonly uncommitted: Set<string>;
}

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** Messages stepped ahead of the commit in flight before the inputs wait (bounds memory and a commit's size). */
const MAX_UNCOMMITTED = 500;
const RECOVERY_RETRY_MS = 1_000;
/**
 * Messages stepped between two turns of the event loop. Stepping fetched messages is a chain of
 * microtasks that holds the event loop until it blocks, so without a break the group commit's replies
 * from the database waited behind up to MAX_UNCOMMITTED steps at each of its round trips and committing
 * alternated with stepping instead of overlapping it (bench:streams: +15% join, +10-20% aggregation).
 */
const STEPS_PER_YIELD = 32;

/** A redelivered message found in a batch only as it was written: the batch is stepped again without it. */
class RedeliveredInBatch extends Error {}

/** The inbox consumer name of a stream (a stream's inbox never mixes with a projection's). */
export function streamInbox(stream: string): string {
  return `stream:${stream}`;
}

/**
 * Runs one stream durably, in one process at a time: the process holding the stream's lease consumes
 * its input topics (through the one consumer pipeline) and steps one message at a time, in arrival
 * order. A transaction writes what messages did: the task row locked and its epoch checked (a process
 * that lost the lease commits nothing), their inbox rows (a redelivery changes nothing twice), the
 * state's difference, the counters and the outputs through the outbox. On a broker that takes late
 * acknowledgements (Kafka, RabbitMQ, NATS, postgres) that transaction is a group commit: messages are
 * stepped while the previous commit runs and acknowledged once theirs has committed, as Kafka Streams
 * commits a task; on the others each message is its own transaction. A crash before a commit leaves
 * everything as it was and the broker redelivers; the replay makes the same outputs with the same ids.
 * A failed commit rebuilds the state from the database and steps the uncommitted messages again.
 * Another process tries for the lease every third of its time to live and takes over when the holder
 * stops renewing it.
 */
export class StreamRunner {
  private holding: Holding | undefined;
  private acquiring: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** Woken when a commit ends or a rebuild is done: inputs waiting for room look again. */
  private readonly progress = new Signal();
  private stopped = false;
  private stepsSinceYield = 0;
  private readonly log: Logger;
  readonly name: string;

  constructor(private readonly options: StreamRunnerOptions) {
    this.name = options.model.name;
    this.log = options.logger.child({ stream: this.name });
  }

  /** Whether this process runs the stream now. */
  get running(): boolean {
    return this.holding !== undefined;
  }

  async start(): Promise<void> {
    await this.tick();
    this.timer = setInterval(() => void this.tick(), Math.max(50, Math.floor(this.options.leaseTtlMs / 3)));
    const prune = (): void => void pruneInbox(this.options.database, streamInbox(this.name), this.options.inboxTtlMs).catch((error: unknown) => this.log.warn({ err: error }, 'inbox pruning failed'));
    prune();
    this.pruneTimer = setInterval(prune, PRUNE_INTERVAL_MS).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.pruneTimer);
    await this.acquiring;
    await this.release(true);
  }

  /** Renews the lease while holding it, else tries to take it. */
  private tick(): Promise<void> {
    if (this.stopped || this.acquiring) return this.acquiring ?? Promise.resolve();
    this.acquiring = (this.holding ? this.renew(this.holding) : this.acquire())
      .catch((error: unknown) => this.log.warn({ err: error }, 'stream lease check failed'))
      .finally(() => (this.acquiring = undefined));
    return this.acquiring;
  }

  private async renew(holding: Holding): Promise<void> {
    if (await holding.lease.renew()) return;
    this.log.warn('stream lease lost to another process; stopping');
    await this.release(false);
  }

  private async acquire(): Promise<void> {
    const { options } = this;
    const lease = await acquireLease(options.database, `stream:${this.name}`, options.owner, options.leaseTtlMs);
    if (!lease) return;
    try {
      const epoch = await takeOverTask(options.database, this.name, options.owner);
      const processor = createProcessor(options.model, await loadSnapshot(options.database, this.name));
      const holding: Holding = { lease, epoch, processor, subscriptions: [], open: undefined, flushing: undefined, failed: [], uncommitted: new Set() };
      this.holding = holding;
      options.streamMetrics?.buffered.set({ stream: this.name }, processor.buffered);
      for (const consumer of options.consumers) holding.subscriptions.push(await this.subscribe(consumer));
      this.log.info({ epoch, buffered: processor.buffered, streamTime: processor.streamTime }, 'stream running');
    } catch (error) {
      await this.release(true);
      throw error;
    }
  }

  private subscribe(consumer: ConsumerPlan): Promise<Subscription> {
    const broker = this.options.brokers.get(consumer.broker);
    if (!broker) throw new EdaflowError('EDA_STARTUP', `stream ${this.name}: broker ${consumer.broker} is not connected`);
    return subscribePlanned({
      consumer,
      broker,
      catalog: this.options.catalog,
      logger: this.options.logger,
      ...(this.options.metrics ? { metrics: this.options.metrics } : {}),
      handle: broker.capabilities.lateAck
        ? (envelope, attempt) => this.handleInBatch(consumer.destination.name, envelope, attempt)
        : (envelope) => this.serialized(() => this.handleAlone(consumer.destination.name, envelope)),
    });
  }

  /**
   * Stops consuming and forgets the state; gives the lease up when asked. What was stepped is committed
   * first (and acknowledged) while the inputs still run; what arrives meanwhile is not acknowledged, so
   * the broker delivers it again to whoever runs the stream next.
   */
  private async release(giveUpLease: boolean): Promise<void> {
    const holding = this.holding;
    if (!holding) return;
    this.holding = undefined;
    await this.drain(holding);
    await Promise.all(holding.subscriptions.map((subscription) => subscription.stop().catch((error: unknown) => this.log.warn({ err: error }, 'stopping a stream input failed'))));
    await this.queue.catch(() => undefined);
    await this.drain(holding);
    if (giveUpLease) await holding.lease.release().catch(() => undefined);
  }

  /** Commits the open batch, unless a commit failed: then everything uncommitted stays unacknowledged. */
  private async drain(holding: Holding): Promise<void> {
    await holding.flushing;
    if (holding.open && !holding.failed.length) this.kick(holding);
    await holding.flushing;
    const left = [...holding.failed.splice(0), ...(holding.open ? [holding.open] : [])];
    holding.open = undefined;
    for (const batch of left) batch.fail(new EdaflowError('EDA_STREAM_FENCED', `stream ${this.name} stopped here before these messages were committed`));
    holding.uncommitted.clear();
  }

  /** One message at a time: the inputs of a stream share its state. */
  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** One message, one transaction (a broker without late acknowledgements). */
  private async handleAlone(topic: string, envelope: Envelope): Promise<void> {
    const holding = this.current();
    const { database, outbox } = this.options;
    let entry: BatchEntry;
    try {
      entry = await database.transaction(async (tx) => {
        await lockTask(tx, this.name, holding.epoch);
        if (!(await recordInInbox(tx, streamInbox(this.name), envelope.id))) {
          await saveSteps(tx, this.name, stepsDone([{ topic, envelope, duplicate: true }]));
          return { topic, envelope, duplicate: true as const };
        }
        const taken = await this.step(holding, topic, envelope);
        await saveSteps(tx, this.name, stepsDone([taken]));
        await outbox.write(tx, taken.result.outputs);
        return taken;
      });
    } catch (error) {
      // The processor may have moved past what was committed: rebuild it from the database.
      await this.reload(holding, error);
      throw error;
    }
    this.observe(entry);
  }

  /**
   * Group commit: steps the message now and answers with a promise of its commit, which the pipeline
   * acknowledges on. Waits first while too many messages are uncommitted, or a failed commit is being
   * rebuilt (outside the queue, which the rebuild needs).
   */
  private async handleInBatch(topic: string, envelope: Envelope, attempt: AttemptContext): Promise<LateSettlement> {
    if (++this.stepsSinceYield >= STEPS_PER_YIELD) {
      this.stepsSinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (;;) {
      const holding = this.current();
      const uncommitted = (holding.open?.size ?? 0) + holding.failed.reduce((sum, batch) => sum + batch.size, 0);
      if (uncommitted < MAX_UNCOMMITTED && !holding.failed.length) break;
      this.progress.reset();
      await this.progress.wait(RECOVERY_RETRY_MS);
      // Read only here: the pipeline makes an attempt's AbortController on first read.
      if (attempt.signal.aborted) throw attempt.signal.reason;
    }
    return this.serialized(async () => {
      const holding = this.current();
      const batch = (holding.open ??= new StepBatch());
      if (holding.uncommitted.has(envelope.id)) {
        batch.entries.push({ topic, envelope, duplicate: true });
      } else {
        // A step that throws changed nothing: the pipeline retries or dead-letters the message alone.
        batch.entries.push(await this.step(holding, topic, envelope));
        holding.uncommitted.add(envelope.id);
      }
      this.kick(holding);
      return lateSettlement(batch.committed);
    });
  }

  private current(): Holding {
    const holding = this.holding;
    if (!holding) throw new EdaflowError('EDA_STREAM_FENCED', `stream ${this.name} is not running in this process`);
    return holding;
  }

  private async step(holding: Holding, topic: string, envelope: Envelope): Promise<BatchEntry & { readonly result: StepResult }> {
    const step = await holding.processor.step(envelope);
    return { topic, envelope, result: { ...step, outputs: this.publishable(step.outputs) } };
  }

  /** Starts committing the open batch unless a commit is in flight (its end starts the next) or failed. */
  private kick(holding: Holding): void {
    if (holding.flushing || !holding.open || holding.failed.length) return;
    const batch = holding.open;
    holding.open = undefined;
    holding.flushing = this.commit(holding, batch).finally(() => {
      holding.flushing = undefined;
      this.progress.wake();
      this.kick(holding);
    });
  }

  private async commit(holding: Holding, batch: StepBatch): Promise<void> {
    const { database, outbox } = this.options;
    try {
      await database.transaction(async (tx) => {
        await lockTask(tx, this.name, holding.epoch);
        const stepped = batch.entries.filter((entry): entry is BatchEntry & { result: StepResult } => 'result' in entry);
        const recorded = await recordAllInInbox(tx, streamInbox(this.name), stepped.map((entry) => entry.envelope.id));
        if (recorded.size < stepped.length) throw new RedeliveredInBatch();
        await saveSteps(tx, this.name, stepsDone(batch.entries));
        await outbox.write(tx, stepped.flatMap((entry) => entry.result.outputs));
      });
    } catch (error) {
      holding.failed.push(batch);
      if (isEdaflowError(error, 'EDA_STREAM_FENCED')) {
        this.log.warn({ err: error }, 'stream taken over by another process; stopping here');
        void this.release(false);
      } else {
        if (!(error instanceof RedeliveredInBatch)) this.log.warn({ err: error, messages: batch.size }, 'stream commit failed: stepping its messages again on the committed state');
        void this.serialized(() => this.rebuild(holding));
      }
      return;
    }
    for (const entry of batch.entries) {
      holding.uncommitted.delete(entry.envelope.id);
      this.observe(entry);
    }
    batch.done();
  }

  /**
   * After a failed commit: reloads the state from the database, then steps the uncommitted messages
   * again in their order, as redeliveries where the inbox has them (a batch that met a redelivery) or an
   * earlier entry does; their pipelines acknowledge when the rebuilt batch commits.
   */
  private async rebuild(holding: Holding): Promise<void> {
    if (this.holding !== holding) return;
    const batches = [...holding.failed, ...(holding.open ? [holding.open] : [])];
    try {
      const entries = batches.flatMap((batch) => batch.entries);
      const processor = createProcessor(this.options.model, await loadSnapshot(this.options.database, this.name));
      const committed = await inInbox(this.options.database, streamInbox(this.name), entries.map((entry) => entry.envelope.id));
      holding.processor = processor;
      const rebuilt = new StepBatch();
      const seen = new Set<string>();
      for (const { topic, envelope } of entries) {
        if (committed.has(envelope.id) || seen.has(envelope.id)) rebuilt.entries.push({ topic, envelope, duplicate: true });
        else rebuilt.entries.push(await this.step(holding, topic, envelope));
        seen.add(envelope.id);
      }
      for (const batch of batches) batch.follow(rebuilt);
      holding.failed.length = 0;
      holding.open = rebuilt;
      holding.uncommitted.clear();
      for (const id of seen) if (!committed.has(id)) holding.uncommitted.add(id);
      this.kick(holding);
    } catch (error) {
      this.log.error({ err: error }, 'stream state could not be rebuilt; trying again');
      setTimeout(() => void this.serialized(() => this.rebuild(holding)), RECOVERY_RETRY_MS).unref();
    } finally {
      this.progress.wake();
    }
  }

  private async reload(holding: Holding, error: unknown): Promise<void> {
    if (isEdaflowError(error, 'EDA_STREAM_FENCED')) {
      this.log.warn({ err: error }, 'stream taken over by another process; stopping here');
      void this.release(false);
      return;
    }
    try {
      holding.processor = createProcessor(this.options.model, await loadSnapshot(this.options.database, this.name));
    } catch (reloadError) {
      this.log.error({ err: reloadError }, 'stream state could not be reloaded; stopping here');
      void this.release(true);
    }
  }

  /** Outputs whose data fits the emitted event's schema; the others are logged and counted, so one bad template does not stall the stream. */
  private publishable(outputs: readonly Envelope[]): Envelope[] {
    const { catalog } = this.options;
    return outputs.filter((output) => {
      const problem = catalog.check(output.type, output.dataversion ?? 1, output.data);
      if (!problem) return true;
      this.log.error({ id: output.id, type: output.type, pointer: problem.pointer, problem: problem.message }, 'stream output does not match its schema; not emitted');
      this.options.streamMetrics?.records.inc({ stream: this.name, outcome: 'invalid-output' });
      return false;
    });
  }

  private observe(entry: BatchEntry): void {
    const metrics = this.options.streamMetrics;
    const { envelope } = entry;
    if ('duplicate' in entry) {
      metrics?.records.inc({ stream: this.name, outcome: 'duplicate' });
      return;
    }
    const { result } = entry;
    metrics?.records.inc({ stream: this.name, outcome: result.dropped ?? 'kept' });
    if (result.outputs.length) metrics?.outputs.inc({ stream: this.name }, result.outputs.length);
    if (this.holding) metrics?.buffered.set({ stream: this.name }, this.holding.processor.buffered);
    if (result.dropped === 'late') this.log.info({ id: envelope.id, type: envelope.type, time: envelope.time, streamTime: new Date(result.streamTime!).toISOString() }, 'late record dropped');
    else if (result.dropped === 'no-key' || result.dropped === 'no-time') this.log.info({ id: envelope.id, type: envelope.type, reason: result.dropped }, 'record without a key or time dropped');
  }
}
