import type { BrokerAdapter, Subscription } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import type { EventStore } from '../eventstore/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { MessagingPlan } from '../messaging/topology.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Database } from '../store/database.js';
import { processOwner } from '../store/leases.js';
import { createApplier } from './apply.js';
import { readCheckpoints } from './checkpoint.js';
import { EventFollower, type FollowerTuning } from './follower.js';
import { projectionModels, type ProjectionModel } from './model.js';
import { ensureTable } from './table.js';
import { subscribeProjection } from './topic.js';

export { rebuildProjection, type RebuildOptions } from './rebuild.js';
export { projectionContext, type ProjectionContext, type ProjectionHook } from './apply.js';
export { normalizeRow, quoteIdentifier, selectColumn } from './columns.js';
export { projectionModel, projectionModels, type ColumnType, type ProjectionModel } from './model.js';
export { projectionLease } from './follower.js';

export interface Projections {
  stop(): Promise<void>;
  /** The last applied global event position per projection (for a topic-fed one: how many messages it applied). */
  positions(): Promise<Record<string, number>>;
}

export interface ProjectionsOptions extends FollowerTuning {
  readonly definitions: Definitions;
  readonly database: Database;
  readonly store: Pick<EventStore, 'readAll' | 'cursorAt' | 'onAppend'>;
  readonly catalog: MessageCatalog;
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  readonly plan: MessagingPlan;
  readonly functions: HandlerFunctions;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

/**
 * Creates every projection's table (refusing one whose columns differ from the definitions), then keeps
 * each up to date: projections `from: events` follow the event store (woken by append notifications,
 * with polling as the fallback; one process per projection at a time), topic-fed ones consume their
 * topic as a consumer group named after the projection.
 */
export async function startProjections(options: ProjectionsOptions): Promise<Projections> {
  const models = projectionModels(options.definitions);
  for (const projection of models) await options.database.transaction((tx) => ensureTable(tx, projection));
  const owner = options.owner ?? processOwner();
  const followers: EventFollower[] = [];
  const subscriptions: Subscription[] = [];
  let unsubscribe: (() => Promise<void>) | undefined;
  const stop = async (): Promise<void> => {
    await unsubscribe?.().catch(() => undefined);
    await Promise.all([...followers.map((follower) => follower.stop()), ...subscriptions.map((subscription) => subscription.stop())]);
  };
  try {
    for (const projection of models) {
      const apply = createApplier(projection, options.functions);
      if (projection.source.kind === 'events') {
        followers.push(new EventFollower({ ...options, projection, apply, owner, logger: options.logger }));
      } else {
        subscriptions.push(
          await subscribeProjection({
            ...topicWiring(options, projection),
            database: options.database,
            catalog: options.catalog,
            apply,
            logger: options.logger,
            inboxTtlMs: options.definitions.defaults.idempotencyTtlMs,
            ...(options.metrics ? { metrics: options.metrics } : {}),
          }),
        );
      }
    }
    if (followers.length) unsubscribe = await options.store.onAppend(() => followers.forEach((follower) => follower.wake()));
    for (const follower of followers) follower.start();
  } catch (error) {
    await stop();
    throw error;
  }
  const names = models.map((projection) => projection.name);
  return { stop, positions: () => readCheckpoints(options.database, names) };
}

function topicWiring(options: ProjectionsOptions, projection: ProjectionModel) {
  const consumer = options.plan.projectionConsumers.find((candidate) => candidate.name === projection.name);
  const broker = consumer && options.brokers.get(consumer.broker);
  if (!consumer || !broker) throw new EdaflowError('EDA_STARTUP', `projection ${projection.name}: no consumer group planned for it on a connected broker`);
  return { consumer, broker };
}
