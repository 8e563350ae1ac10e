import { EdaflowError } from '../errors/index.js';
import type { DurableComponentOptions } from '../host/services.js';
import { processOwner } from '../store/leases.js';
import { streamMetrics } from './metrics.js';
import { streamModels } from './model.js';
import { StreamRunner } from './runner.js';

export interface StreamsOptions extends DurableComponentOptions {
  /** This process's name in the leases (default: host, pid and a random suffix). */
  readonly owner?: string;
  /** How long a stream's lease lasts without renewal: how soon another process takes a dead holder's streams over (default 15 s). */
  readonly leaseTtlMs?: number;
}

export interface Streams {
  /** Names of the streams this process runs now (it holds their leases). */
  running(): string[];
  stop(): Promise<void>;
}

const DEFAULT_LEASE_TTL_MS = 15_000;

/**
 * Starts every stream of the definitions. Each runs in one process at a time, under a lease named
 * after it; the others stand by and take over when the holder stops renewing (see StreamRunner).
 */
export async function startStreams(options: StreamsOptions): Promise<Streams> {
  const owner = options.owner ?? processOwner();
  const metrics = streamMetrics(options.metrics);
  const runners = streamModels(options.definitions).map((model) => {
    const consumers = options.plan.streamConsumers.filter((consumer) => consumer.name === model.name);
    if (!consumers.length) throw new EdaflowError('EDA_STARTUP', `stream ${model.name}: no consumer group planned for its inputs`);
    return new StreamRunner({
      model,
      consumers,
      brokers: options.brokers,
      database: options.database,
      catalog: options.catalog,
      outbox: options.outbox,
      logger: options.logger.child({ component: 'streams' }),
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(metrics ? { streamMetrics: metrics } : {}),
      owner,
      leaseTtlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      inboxTtlMs: options.definitions.defaults.idempotencyTtlMs,
    });
  });
  const stop = async (): Promise<void> => {
    await Promise.all(runners.map((runner) => runner.stop()));
  };
  try {
    for (const runner of runners) await runner.start();
  } catch (error) {
    await stop();
    throw error;
  }
  return { running: () => runners.filter((runner) => runner.running).map((runner) => runner.name), stop };
}
