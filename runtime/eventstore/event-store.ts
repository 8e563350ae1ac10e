import type { Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { Metrics } from '../observability/metrics.js';
import type { Outbox } from '../outbox/index.js';
import { notifySoon, type Database, type Queryable } from '../store/database.js';
import { appendSpan } from '../tracing/index.js';
import { appendToStream, eventsInsert, INSERTED, isDuplicateEventId, isVersionConflict, positionsOf, type EventRow, type InsertedEvent } from './append.js';
import { composeInserts } from '../store/insert-part.js';
import { walk } from '../store/commit-cursor.js';
import { cursorAt } from './cursor-at.js';
import { readAllRows } from './read-all.js';
import { readStreamRows } from './read-stream.js';
import { metadataOf, toRecordedEvent } from './rows.js';
import { loadSnapshot, saveSnapshot } from './snapshots.js';
import { readStreamVersion } from './stream-version.js';
import { EVENTS_CHANNEL, type AppendOptions, type AppendResult, type EventStore, type ExpectedVersion, type ReadAllPage } from './types.js';

/** Up to this many events, an append with a known version is one statement (its parameters stay far below PostgreSQL's limit). */
const ONE_STATEMENT_EVENTS = 100;

/** How often `append` with expectedVersion 'any' tries again after losing a race to another writer. */
const ANY_VERSION_ATTEMPTS = 5;

export interface EventStoreOptions {
  readonly database: Database;
  readonly catalog: MessageCatalog;
  /** Where appended events go in the appending transaction, so they reach their topic after commit. */
  readonly outbox: Outbox;
  /** With metrics: each append's time and event count (edaflow_eventstore_append_seconds/_events). */
  readonly metrics?: Metrics;
}

/**
 * The event store on the `database` store (PostgreSQL or the embedded PGlite, the same SQL): one
 * file per SQL operation beside this one, as Emmett's PostgreSQL store has them.
 */
export function createEventStore(options: EventStoreOptions): EventStore {
  const { database, catalog, outbox } = options;

  /** Inserts the rows at `expected`+1.., turning every way of losing the race into the ConcurrencyError. */
  const insertEvents = async (tx: Queryable, streamId: string, append: AppendOptions, expected: number, rows: readonly EventRow[]): Promise<number[]> => {
    let positions: number[] | undefined;
    try {
      positions = await appendToStream(tx, { id: streamId, type: append.streamType }, expected, rows);
    } catch (error) {
      // The transaction is aborted now; the winner has committed, so its version is read outside it (on
      // the embedded database, one session, there is no other writer and so no such race).
      if (isVersionConflict(error)) throw await conflict(database.kind === 'embedded' ? tx : database, streamId, append.expectedVersion, error);
      if (isDuplicateEventId(error)) throw new EdaflowError('EDA_DUPLICATE_EVENT', `an event of ${rows.map((row) => row.eventId).join(', ')} is already stored`, { cause: error, details: { streamId } });
      throw error;
    }
    if (!positions) throw await conflict(tx, streamId, append.expectedVersion);
    return positions;
  };

  const appendInTransaction = async (tx: Queryable, streamId: string, events: readonly Envelope[], append: AppendOptions): Promise<AppendResult> => {
    const rows = events.map((event) => toEventRow(event, catalog));
    const expected = await resolveExpectedVersion(tx, streamId, append.expectedVersion);
    if (!rows.length) {
      // Nothing to write, but a stale expected version is still a conflict.
      if ((await readStreamVersion(tx, streamId)) !== expected) throw await conflict(tx, streamId, append.expectedVersion);
      return { nextExpectedVersion: expected, positions: [] };
    }
    const positions = await insertEvents(tx, streamId, append, expected, rows);
    await outbox.write(tx, events);
    return { nextExpectedVersion: expected + rows.length, positions };
  };

  /**
   * The common append (a known version, a batch that fits one insert) as ONE statement: the events'
   * insert with the version check, and the outbox's inserts as data-modifying WITHs that write only if
   * it did. Atomic without BEGIN/COMMIT, so one round trip where a transaction takes four.
   */
  const appendInOneStatement = async (streamId: string, events: readonly Envelope[], append: AppendOptions, expectedVersion: number): Promise<AppendResult> => {
    const rows = events.map((event) => toEventRow(event, catalog));
    const parts = await outbox.parts(events);
    const insert = eventsInsert({ id: streamId, type: append.streamType }, expectedVersion, rows);
    const statement = composeInserts({ ...insert, returning: INSERTED }, parts);
    let inserted: InsertedEvent[];
    try {
      ({ rows: inserted } = await database.query<InsertedEvent>(statement.sql, statement.params));
    } catch (error) {
      throw await appendFailure(database, streamId, events, append.expectedVersion, error);
    }
    if (inserted.length !== rows.length) throw await conflict(database, streamId, append.expectedVersion);
    notifySoon(database, EVENTS_CHANNEL);
    for (const part of parts) notifySoon(database, part.wake.channel, part.wake.payload);
    return { nextExpectedVersion: expectedVersion + rows.length, positions: positionsOf(inserted) };
  };

  const metrics = options.metrics;
  const timed = <T>(count: number, append: () => Promise<T>): Promise<T> => (metrics ? metrics.timeAppend(count, append) : append());

  /** A known version and a batch that fits: one statement; otherwise ('any', a big batch) a transaction. */
  const appendEvents = async (streamId: string, events: readonly Envelope[], append: AppendOptions): Promise<AppendResult> => {
    const expectedVersion = append.expectedVersion === 'no-stream' ? 0 : append.expectedVersion;
    if (typeof expectedVersion === 'number' && Number.isInteger(expectedVersion) && expectedVersion >= 0 && events.length > 0 && events.length <= ONE_STATEMENT_EVENTS) {
      return appendInOneStatement(streamId, events, append, expectedVersion);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await database.transaction((tx) => appendInTransaction(tx, streamId, events, append));
      } catch (error) {
        const retry = append.expectedVersion === 'any' && attempt < ANY_VERSION_ATTEMPTS && error instanceof EdaflowError && error.code === 'EDA_CONCURRENCY_CONFLICT';
        if (!retry) throw error;
      }
    }
  };

  return {
    append: (streamId, events, append) => appendSpan(streamId, events, () => timed(events.length, () => appendEvents(streamId, events, append))),
    appendInTransaction,
    async readStream(streamId, read = {}) {
      const rows = await readStreamRows(read.tx ?? database, streamId, read.fromVersion ?? 1);
      return Promise.all(rows.map((row) => toRecordedEvent(row, catalog)));
    },
    async readAll(read): Promise<ReadAllPage> {
      const { rows, snapshot } = await readAllRows(database, read.after, read.limit, read.types);
      const { afters, next } = walk(read.after, rows.map((row) => ({ transactionId: row.transaction_id, position: row.position })), snapshot, rows.length < read.limit);
      const events = await Promise.all(rows.map(async (row, index) => ({ ...(await toRecordedEvent(row, catalog)), after: afters[index]! })));
      return { events, next };
    },
    cursorAt: (position, late = new Map(), tx) => cursorAt(tx ?? database, position, late),
    streamVersion: (streamId, tx) => readStreamVersion(tx ?? database, streamId),
    loadSnapshot: (streamId, tx) => loadSnapshot(tx ?? database, streamId),
    saveSnapshot: (streamId, version, state, tx) => saveSnapshot(tx ?? database, streamId, version, state),
    onAppend: (listener) => database.listen(EVENTS_CHANNEL, () => listener()),
  };
}

/** The failure of an append's insert as the store's error: a lost race is a conflict, a stored id a duplicate. */
async function appendFailure(db: Queryable, streamId: string, events: readonly Envelope[], expectedVersion: ExpectedVersion, error: unknown): Promise<unknown> {
  if (isVersionConflict(error)) return conflict(db, streamId, expectedVersion, error);
  if (isDuplicateEventId(error)) return new EdaflowError('EDA_DUPLICATE_EVENT', `an event of ${events.map((e) => e.id).join(', ')} is already stored`, { cause: error, details: { streamId } });
  return error;
}

/** Validates an event for the store: a declared event type, data valid as its latest version. */
function toEventRow(event: Envelope, catalog: MessageCatalog): EventRow {
  if (catalog.kind(event.type) !== 'event') throw new EdaflowError('EDA_UNKNOWN_TYPE', `"${event.type}" is not an event: only events are appended to streams`);
  const latest = catalog.latestVersion(event.type);
  if (event.dataversion !== undefined && event.dataversion !== latest) {
    throw new EdaflowError('EDA_PAYLOAD_INVALID', `${event.type}: events are appended at their latest version (${latest}), not ${event.dataversion}`);
  }
  catalog.assertPublishable(event.type, event.data);
  return { eventId: event.id, type: event.type, dataVersion: latest, data: JSON.stringify(event.data), metadata: JSON.stringify({ ...metadataOf(event), dataversion: latest }) };
}

/** The version the append must find: the one given, 0 for a new stream, the current one for 'any'. */
async function resolveExpectedVersion(tx: Queryable, streamId: string, expected: ExpectedVersion): Promise<number> {
  if (expected === 'no-stream') return 0;
  if (expected === 'any') return readStreamVersion(tx, streamId);
  if (!Number.isInteger(expected) || expected < 0) throw new EdaflowError('EDA_USAGE', `expected version must be a whole number >= 0, 'any' or 'no-stream', not ${String(expected)}`);
  return expected;
}

/** The ConcurrencyError, with the stream's actual version when it can be read. */
async function conflict(db: Queryable, streamId: string, expectedVersion: ExpectedVersion, cause?: unknown): Promise<EdaflowError> {
  const actualVersion = await readStreamVersion(db, streamId).catch(() => undefined);
  return new EdaflowError('EDA_CONCURRENCY_CONFLICT', `stream ${streamId} is at version ${actualVersion ?? 'unknown'}, not the expected ${String(expectedVersion)}`, {
    ...(cause !== undefined ? { cause } : {}),
    details: { streamId, expectedVersion, actualVersion },
  });
}
