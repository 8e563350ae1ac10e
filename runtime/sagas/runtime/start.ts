import { Gauge, Histogram } from 'prom-client';
import type { Subscription } from '../../brokers/adapter.js';
import type { HandlerFunctions } from '../../host/handlers-module.js';
import type { DurableComponentOptions } from '../../host/services.js';
import { subscribePlanned } from '../../messaging/subscribe.js';
import { sagaInstanceCounts } from '../../observability/measure.js';
import type { Metrics } from '../../observability/metrics.js';
import type { Database } from '../../store/database.js';
import { createSagaMachine, type SagaMachine } from '../machine.js';
import { ActivityWorker } from './activities.js';
import { fireTimer, handleMessage, SAGA_WORK_CHANNEL, type TransitionContext } from './advance.js';
import { dueTimers, msUntilNextTimer } from './instances.js';
import { HOUSEKEEPING_INTERVAL_MS, pruneSagaTables } from './housekeeping.js';
import { Poller } from './poller.js';

export interface SagaRuntimeOptions extends DurableComponentOptions {
  /** The handlers module: the activities sagas `invoke`. */
  readonly functions: HandlerFunctions;
  /** Polling fallback of the timer and activity pollers (default 1 s); NOTIFY wakes them sooner. */
  readonly pollIntervalMs?: number;
  /** Activity invocations this process runs at once (default 16). */
  readonly activityConcurrency?: number;
  /** How long a claimed invocation belongs to this process before another may retry it (default 30 s). */
  readonly activityLeaseMs?: number;
  /** How long a stuck saga waits before `edaflow.retry` re-runs its compensation (default 5 min). */
  readonly stuckRetryMs?: number;
  /** How long unmatched messages are kept (default 7 days); see housekeeping.ts. */
  readonly unmatchedRetentionMs?: number;
  /** How often the saga tables are pruned (default 10 min). */
  readonly housekeepingIntervalMs?: number;
}

export interface SagaRuntime {
  stop(): Promise<void>;
}

const TIMER_BATCH = 100;
const BUSY_RETRY_MS = 50;

/**
 * Starts the durable sagas: a consumer per saga and destination (consumer groups share the messages
 * among processes), the timer poller (due timers, including those that fell due while no process ran,
 * fire at start), and the activity worker (pending invocations resume). Stops in reverse.
 */
export async function startSagas(options: SagaRuntimeOptions): Promise<SagaRuntime> {
  const { definitions, database, logger } = options;
  const machines = new Map<string, SagaMachine>([...definitions.sagas.values()].map((saga) => [saga.name, createSagaMachine(saga.name, saga.spec, definitions)]));
  if (!machines.size) return { stop: async () => undefined };
  const sagaLogger = logger.child({ component: 'sagas' });
  const stepLatency = options.metrics ? stepLatencyHistogram(options.metrics) : undefined;
  const transitions: TransitionContext = {
    machines,
    outbox: options.outbox,
    source: definitions.defaults.source,
    logger: sagaLogger,
    stuckRetryMs: options.stuckRetryMs ?? 300_000,
    ...(stepLatency ? { onStateLeft: (saga: string, state: string, seconds: number) => stepLatency.observe({ saga, state }, seconds) } : {}),
  };
  const pollIntervalMs = options.pollIntervalMs ?? 1_000;
  if (options.metrics) registerInstanceGauge(options.metrics, database);

  const timers = new Poller('timers', async () => {
    let skipped = false;
    for (const timer of await dueTimers(database, TIMER_BATCH)) skipped = !(await fireTimer(database, transitions, timer.instance_id, timer.name)) || skipped;
    const next = await msUntilNextTimer(database);
    // A timer whose instance another transaction holds stays due: come back shortly, without spinning.
    return skipped && next !== undefined ? Math.max(next, BUSY_RETRY_MS) : next;
  }, pollIntervalMs, sagaLogger);
  let activities: Poller | undefined;
  const worker = new ActivityWorker(
    { database, transitions, functions: options.functions, concurrency: options.activityConcurrency ?? 16, leaseMs: options.activityLeaseMs ?? 30_000 },
    () => activities?.wake(),
  );
  activities = new Poller('activities', () => worker.round(), pollIntervalMs, sagaLogger);
  const housekeeping = new Poller('housekeeping', async () => {
    const pruned = await pruneSagaTables(database, options.unmatchedRetentionMs);
    if (pruned.inbox || pruned.unmatched) sagaLogger.info(pruned, 'pruned the inbox rows of ended sagas and old unmatched messages');
    return undefined;
  }, options.housekeepingIntervalMs ?? HOUSEKEEPING_INTERVAL_MS, sagaLogger);
  const unlisten = await database.listen(SAGA_WORK_CHANNEL, () => {
    timers.wake();
    activities?.wake();
  });
  timers.start();
  activities.start();
  housekeeping.start();

  const subscriptions: Subscription[] = [];
  try {
    for (const consumer of options.plan.sagaConsumers) {
      const machine = machines.get(consumer.name)!;
      subscriptions.push(await subscribePlanned({
        consumer,
        broker: options.brokers.get(consumer.broker)!,
        catalog: options.catalog,
        logger: sagaLogger,
        ...(options.metrics ? { metrics: options.metrics } : {}),
        handle: (envelope) => handleMessage(database, transitions, machine, envelope),
      }));
      sagaLogger.info({ saga: consumer.name, destination: consumer.destination, group: consumer.group }, 'saga subscribed');
    }
  } catch (error) {
    await stopAll();
    throw error;
  }

  async function stopAll(): Promise<void> {
    await Promise.all(subscriptions.splice(0).map((subscription) => subscription.stop()));
    await housekeeping.stop();
    await timers.stop();
    await activities?.stop();
    await worker.stop();
    await unlisten();
  }
  let stopping: Promise<void> | undefined;
  return { stop: () => (stopping ??= stopAll()) };
}

/** `edaflow_saga_state_seconds{saga,state}`: how long instances stayed in a state before leaving it (step latency). */
function stepLatencyHistogram(metrics: Metrics): Histogram<'saga' | 'state'> {
  const existing = metrics.registry.getSingleMetric('edaflow_saga_state_seconds');
  if (existing) return existing as Histogram<'saga' | 'state'>;
  return new Histogram({
    name: 'edaflow_saga_state_seconds',
    help: 'Time saga instances stayed in a state (a step, waiting for a reply, a timer) before leaving it.',
    labelNames: ['saga', 'state'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600, 86_400],
    registers: [metrics.registry],
  });
}

/** `edaflow_saga_instances{saga,status}`, counted from the table when scraped (so every process reports the whole). */
function registerInstanceGauge(metrics: Metrics, database: Database): void {
  if (metrics.registry.getSingleMetric('edaflow_saga_instances')) return;
  new Gauge({
    name: 'edaflow_saga_instances',
    help: 'Saga instances, by saga and status (stuck ones wait for edaflow.retry).',
    labelNames: ['saga', 'status'] as const,
    registers: [metrics.registry],
    async collect() {
      const counts = await sagaInstanceCounts(database);
      this.reset();
      for (const { saga, status, count } of counts) this.set({ saga, status }, count);
    },
  });
}
