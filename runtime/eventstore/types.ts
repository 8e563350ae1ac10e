import type { Envelope } from '../envelope/index.js';
import type { CommitCursor } from '../store/commit-cursor.js';
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

/**
 * A reader's place in the log: after a (transaction id, position), plus the transactions that were
 * still running below it (see runtime/store/commit-cursor.ts). `LOG_START` is the beginning; a page's
 * `next` (or an event's `after`) is where the next read continues.
 */
export type LogCursor = CommitCursor;

export interface ReadAllOptions {
  readonly after: LogCursor;
  readonly limit: number;
  /** Only events of these types (the others are skipped, not returned). */
  readonly types?: readonly string[];
}

/** An event of a page, with the cursor once it (and every event before it in the page) is handled. */
export interface PagedEvent extends RecordedEvent {
  readonly after: LogCursor;
}

export interface ReadAllPage {
  readonly events: readonly PagedEvent[];
  /** Where the next read continues (after the last event, with ended late transactions forgotten). */
  readonly next: LogCursor;
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
   * The next committed events after `after`, never skipping one committed out of order and never
   * waiting for a transaction still running: in (transaction id, position) order, plus the events of
   * transactions that were running when the cursor passed them, once they commit. So positions are
   * NOT increasing: resume with the page's `next`.
   */
  readAll(options: ReadAllOptions): Promise<ReadAllPage>;
  /** The cursor after the event at `position` with `late` transactions (a saved checkpoint); EDA_UNKNOWN_POSITION when there is none. */
  cursorAt(position: number, late?: ReadonlyMap<string, string>, tx?: Queryable): Promise<LogCursor>;
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
