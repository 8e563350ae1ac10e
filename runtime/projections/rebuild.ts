import type { BrokerAdapter } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import { LOG_START, type LogCursor } from '../eventstore/index.js';
import { EdaflowError } from '../errors/index.js';
import type { HandlerFunctions } from '../host/handlers-module.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { MessagingPlan } from '../messaging/topology.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Database } from '../store/database.js';
import { acquireLease, processOwner, type Lease } from '../store/leases.js';
import { createApplier } from './apply.js';
import { commitPage } from './commit.js';
import { DEFAULT_LEASE_TTL_MS, projectionLease, type EventFeed } from './follower.js';
import { projectionModel } from './model.js';
import { resetTable } from './table.js';

export interface RebuildOptions {
  readonly definitions: Definitions;
  readonly database: Database;
  readonly store: EventFeed;
  readonly functions: HandlerFunctions;
  readonly logger: Logger;
  /** The projection to rebuild. */
  readonly name: string;
  /** Called after every page: events replayed so far, and how many there were when the rebuild started. */
  readonly onProgress?: (done: number, total: number) => void;
  /** Events per transaction (default 1000). */
  readonly pageSize?: number;
  /** How long to wait for a running projection's lease before giving up (default: twice the lease's time to live). */
  readonly waitForLeaseMs?: number;
  readonly leaseTtlMs?: number;
  readonly owner?: string;
  // Accepted so that startProjections' options can be passed as they are; a rebuild only reads the store.
  readonly catalog?: MessageCatalog;
  readonly brokers?: ReadonlyMap<string, BrokerAdapter>;
  readonly plan?: MessagingPlan;
  readonly metrics?: Metrics;
}

const DEFAULT_PAGE_SIZE = 1_000;

/**
 * Rebuilds a projection from the event store: holding the projection's lease (so no live process
 * applies events meanwhile), empties the table and sets the checkpoint to 0 in one transaction, then
 * replays every event from the beginning in pages, each page committed with its checkpoint, until it
 * has caught up. The result is exactly what following live produces; a live process takes over from the
 * checkpoint once the lease is released.
 */
export async function rebuildProjection(options: RebuildOptions): Promise<{ events: number }> {
  const projection = projectionModel(options.definitions, options.name);
  if (projection.source.kind !== 'events') {
    throw new EdaflowError(
      'EDA_REBUILD_UNSUPPORTED',
      `projection ${projection.name} is fed from the ${projection.source.destination.kind} ${projection.source.destination.name}, not the event store: ` +
        `rebuilding it would need that ${projection.source.destination.kind}'s whole history, which edaflow cannot replay from here. Feed it \`from: events\` to make it rebuildable`,
    );
  }
  const owner = options.owner ?? processOwner('rebuild');
  const ttlMs = options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
  const lease = await waitForLease(options, projectionLease(projection.name), owner, ttlMs);
  try {
    const types = [...projection.reactions.keys()];
    const total = await countEvents(options.database, types);
    await options.database.transaction((tx) => resetTable(tx, projection));
    options.logger.info({ projection: projection.name, total }, 'rebuilding');
    const apply = createApplier(projection, options.functions);
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    let cursor: LogCursor = LOG_START;
    let done = 0;
    options.onProgress?.(0, total);
    for (;;) {
      const page = await options.store.readAll({ after: cursor, limit: pageSize, types });
      if (page.events.length === 0) break;
      await renew(lease);
      cursor = await commitPage({ database: options.database, projection, apply }, page, cursor);
      done += page.events.length;
      options.onProgress?.(done, Math.max(total, done));
    }
    return { events: done };
  } finally {
    await lease.release().catch(() => undefined);
  }
}

/** Takes the projection's lease, waiting for a holder that stopped renewing to lose it. */
async function waitForLease(options: RebuildOptions, name: string, owner: string, ttlMs: number): Promise<Lease> {
  const deadline = Date.now() + (options.waitForLeaseMs ?? 2 * ttlMs);
  for (;;) {
    const lease = await acquireLease(options.database, name, owner, ttlMs);
    if (lease) return lease;
    if (Date.now() >= deadline) {
      throw new EdaflowError('EDA_PROJECTION_BUSY', `projection ${options.name} is being applied by a running process (lease ${name}): stop it, then rebuild`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, ttlMs / 4)));
  }
}

/** Renews the lease; a rebuild that lost it (it stalled longer than the lease lives) must stop. */
async function renew(lease: Lease): Promise<void> {
  if (!(await lease.renew())) throw new EdaflowError('EDA_PROJECTION_BUSY', `lost lease ${lease.name} during the rebuild: another process took the projection over`);
}

/** How many events the rebuild will replay (for progress; events appended meanwhile are replayed too). */
async function countEvents(database: Database, types: readonly string[]): Promise<number> {
  const { rows } = await database.query<{ count: string | number }>('select count(*) as count from edaflow_events where type = any($1::text[])', [types]);
  return Number(rows[0]?.count ?? 0);
}
