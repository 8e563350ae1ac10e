import type { Envelope } from '../envelope/index.js';
import type { EventStore, RecordedEvent } from '../eventstore/index.js';
import type { Logger } from '../observability/logger.js';
import { evolveAll, type Aggregate, type AggregateState } from './decider.js';

/** An aggregate's state as of a stream version, with the events read to get there. */
export interface LoadedState {
  readonly state: AggregateState;
  /** The stream's version the state reflects (0: no events). */
  readonly version: number;
  /** The events read after the snapshot (all of them without one). */
  readonly events: readonly RecordedEvent[];
  /** The snapshot version the load started from, if one was used. */
  readonly snapshotVersion?: number;
}

/** What a snapshot row holds: the state, and which definition of which aggregate produced it. */
interface SnapshotRecord {
  readonly aggregate: string;
  readonly fingerprint: string;
  readonly state: AggregateState;
}

/**
 * Loads the state of `streamId`: the latest snapshot when the aggregate takes snapshots and the
 * snapshot was made by the current `initial`/`evolve` (else it is ignored), then every later event.
 */
export async function loadState(aggregate: Aggregate, store: EventStore, streamId: string, options: { useSnapshot?: boolean } = {}): Promise<LoadedState> {
  const useSnapshot = (options.useSnapshot ?? true) && aggregate.snapshotEvery !== undefined;
  const snapshot = useSnapshot ? await store.loadSnapshot(streamId) : undefined;
  const record = snapshot && isSnapshotOf(aggregate, snapshot.state) ? { version: snapshot.version, state: snapshot.state.state } : undefined;
  const from = record?.version ?? 0;
  const recorded = await store.readStream(streamId, from > 0 ? { fromVersion: from + 1 } : {});
  const events = recorded.filter((event) => event.version > from);
  const state = await evolveAll(aggregate, record?.state ?? (await aggregate.initialState()), events.map((event) => event.envelope));
  return { state, version: events.at(-1)?.version ?? from, events, ...(record ? { snapshotVersion: record.version } : {}) };
}

/**
 * After appending `events` to a state loaded at `loaded.version`, stores a snapshot when the new
 * version crosses a multiple of `snapshotEvery`. A snapshot is only a cache: failing to write one
 * is logged and the command still succeeds.
 */
export async function snapshotIfDue(aggregate: Aggregate, store: EventStore, streamId: string, loaded: LoadedState, events: readonly Envelope[], version: number, logger: Logger): Promise<void> {
  const every = aggregate.snapshotEvery;
  if (every === undefined || Math.floor(version / every) <= Math.floor(loaded.version / every)) return;
  try {
    const state = await evolveAll(aggregate, loaded.state, events);
    const record: SnapshotRecord = { aggregate: aggregate.name, fingerprint: aggregate.fingerprint, state };
    await store.saveSnapshot(streamId, version, record);
  } catch (error) {
    logger.warn({ err: error, aggregate: aggregate.name, streamId, version }, 'snapshot not saved');
  }
}

function isSnapshotOf(aggregate: Aggregate, value: unknown): value is SnapshotRecord {
  const record = value as Partial<SnapshotRecord> | null;
  return record !== null && typeof record === 'object' && record.aggregate === aggregate.name && record.fingerprint === aggregate.fingerprint && typeof record.state === 'object';
}
