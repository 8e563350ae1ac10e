import type { Envelope } from '../envelope/index.js';
import type { Queryable } from '../store/database.js';

/** An event as read back from the store. */
export interface RecordedEvent {
  /** Global position (bigserial), as a JS number: the order positions were handed out, not commit order. */
  readonly position: number;
  readonly streamId: string;
  /** 1..n within its stream. */
  readonly version: number;
  /** Upcast to the event's latest version on read (stored rows never change). */
  readonly envelope: Envelope;
}

/** number = the stream's current version (0 means the stream has no events). */
export type ExpectedVersion = number | 'any' | 'no-stream';

export interface AppendOptions {
  readonly expectedVersion: ExpectedVersion;
  readonly streamType?: string;
}

export interface AppendResult {
  /** The stream's version after the append: pass it as the next expected version. */
  readonly nextExpectedVersion: number;
  /** The global positions of the appended events, in order. */
  readonly positions: readonly number[];
}

export interface ReadAllOptions {
  /**
   * Resume point: 0 for the beginning, else the position of the last event a previous `readAll`
   * returned (not the highest one: events come in commit-safe order, see `readAll`).
   */
  readonly after: number;
  readonly limit: number;
  /** Only events of these types (the others are skipped, not returned). */
  readonly types?: readonly string[];
}

export interface EventStore {
  /**
   * Appends in its own transaction. A stale expected version throws EdaflowError
   * 'EDA_CONCURRENCY_CONFLICT' (409, retriable) with details {streamId, expectedVersion, actualVersion},
   * and writes nothing. The events go to the outbox in the same transaction. With `expectedVersion:
   * 'any'`, a concurrent writer's append makes it retry a few times before it gives up with that error.
   */
  append(streamId: string, events: readonly Envelope[], options: AppendOptions): Promise<AppendResult>;
  /** The same inside a caller's transaction (aggregates with snapshots, sagas); a conflict is thrown, never retried. */
  appendInTransaction(tx: Queryable, streamId: string, events: readonly Envelope[], options: AppendOptions): Promise<AppendResult>;
  readStream(streamId: string, options?: { fromVersion?: number; tx?: Queryable }): Promise<RecordedEvent[]>;
  /**
   * The next events after `after`, never skipping one committed out of order: only events whose writing
   * transaction is older than the oldest one still running (`pg_snapshot_xmin(pg_current_snapshot())`),
   * in (transaction id, position) order. So positions are NOT increasing across transactions: resume
   * with the position of the last event returned, which is where this order continues.
   */
  readAll(options: ReadAllOptions): Promise<RecordedEvent[]>;
  /** The current version of a stream (0 when none). */
  streamVersion(streamId: string, tx?: Queryable): Promise<number>;
  loadSnapshot(streamId: string, tx?: Queryable): Promise<{ version: number; state: unknown } | undefined>;
  /** Keeps the newest snapshot: saving an older version than the stored one changes nothing. */
  saveSnapshot(streamId: string, version: number, state: unknown, tx?: Queryable): Promise<void>;
  /** Calls `listener` after appends commit (LISTEN/NOTIFY channel 'edaflow_events'); returns the unsubscribe. */
  onAppend(listener: () => void): Promise<() => Promise<void>>;
}

/** The NOTIFY channel of appends: sent in the appending transaction, so it arrives after the commit. */
export const EVENTS_CHANNEL = 'edaflow_events';
