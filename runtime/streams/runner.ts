import type { BrokerAdapter, Subscription } from '../brokers/adapter.js';
import type { Envelope } from '../envelope/index.js';
import { EdaflowError, isEdaflowError } from '../errors/index.js';
import type { MessageCatalog } from '../messages/catalog.js';
import { subscribePlanned } from '../messaging/subscribe.js';
import type { ConsumerPlan } from '../messaging/topology.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Outbox } from '../outbox/index.js';
import { pruneInbox, recordInInbox } from '../projections/checkpoint.js';
import type { Database } from '../store/database.js';
import { acquireLease, type Lease } from '../store/leases.js';
import type { StreamMetrics } from './metrics.js';
import type { StreamModel } from './model.js';
import { createProcessor, type StreamProcessor } from './processor.js';
import type { StepResult } from './record.js';
import { loadSnapshot } from './store/load-snapshot.js';
import { lockTask } from './store/lock-task.js';
import { saveStep } from './store/save-step.js';
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
}

const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

/** The inbox consumer name of a stream (a stream's inbox never mixes with a projection's). */
export function streamInbox(stream: string): string {
  return `stream:${stream}`;
}

/**
 * Runs one stream durably, in one process at a time: the process holding the stream's lease consumes
 * its input topics (through the one consumer pipeline) and handles one message at a time. Each message
 * is one transaction: the task row locked and its epoch checked (a process that lost the lease commits
 * nothing), the inbox row (a redelivery changes nothing twice), the processor's step, the state's
 * difference and the outputs written through the outbox. A crash before the commit leaves everything
 * as it was and the broker redelivers; the replay makes the same outputs with the same ids. Another
 * process tries for the lease every third of its time to live and takes over when the holder stops
 * renewing it.
 */
export class StreamRunner {
  private holding: Holding | undefined;
  private acquiring: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
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
      const holding: Holding = { lease, epoch, processor, subscriptions: [] };
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
      handle: (envelope) => this.serialized(() => this.handle(consumer.destination.name, envelope)),
    });
  }

  /** Stops consuming (waiting for the message in hand) and forgets the state; gives the lease up when asked. */
  private async release(giveUpLease: boolean): Promise<void> {
    const holding = this.holding;
    if (!holding) return;
    this.holding = undefined;
    await Promise.all(holding.subscriptions.map((subscription) => subscription.stop().catch((error: unknown) => this.log.warn({ err: error }, 'stopping a stream input failed'))));
    await this.queue.catch(() => undefined);
    if (giveUpLease) await holding.lease.release().catch(() => undefined);
  }

  /** One message at a time: the inputs of a stream share its state. */
  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work, work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async handle(topic: string, envelope: Envelope): Promise<void> {
    const holding = this.holding;
    if (!holding) throw new EdaflowError('EDA_STREAM_FENCED', `stream ${this.name} is not running in this process`);
    const { database, outbox } = this.options;
    let result: StepResult | 'duplicate' | undefined;
    try {
      result = await database.transaction(async (tx) => {
        await lockTask(tx, this.name, holding.epoch);
        if (!(await recordInInbox(tx, streamInbox(this.name), envelope.id))) {
          await saveStep(tx, this.name, topic, { streamTime: holding.processor.streamTime, added: [], matched: [], removed: [], dropped: 'duplicate', emitted: 0 });
          return 'duplicate' as const;
        }
        const step = await holding.processor.step(envelope);
        const outputs = this.publishable(step.outputs);
        await saveStep(tx, this.name, topic, { ...step, emitted: outputs.length });
        await outbox.write(tx, outputs);
        return { ...step, outputs };
      });
    } catch (error) {
      // The processor may have moved past what was committed: rebuild it from the database.
      await this.reload(holding, error);
      throw error;
    }
    this.observe(envelope, result);
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

  private observe(envelope: Envelope, result: StepResult | 'duplicate'): void {
    const metrics = this.options.streamMetrics;
    const outcome = result === 'duplicate' ? 'duplicate' : (result.dropped ?? 'kept');
    metrics?.records.inc({ stream: this.name, outcome });
    if (result === 'duplicate') return;
    if (result.outputs.length) metrics?.outputs.inc({ stream: this.name }, result.outputs.length);
    if (this.holding) metrics?.buffered.set({ stream: this.name }, this.holding.processor.buffered);
    if (result.dropped === 'late') this.log.info({ id: envelope.id, type: envelope.type, time: envelope.time, streamTime: new Date(result.streamTime!).toISOString() }, 'late record dropped');
    else if (result.dropped === 'no-key' || result.dropped === 'no-time') this.log.info({ id: envelope.id, type: envelope.type, reason: result.dropped }, 'record without a key or time dropped');
  }
}
