import { chunks, valuesList } from '../brokers/postgres/wire.js';
import { notifyAfterCommit, type Queryable } from '../store/database.js';
import { EVENTS_CHANNEL } from './types.js';

/** An event as a row of `edaflow_events`, ready to insert (JSON already serialised). */
export interface EventRow {
  readonly eventId: string;
  readonly type: string;
  readonly dataVersion: number;
  readonly data: string;
  readonly metadata: string;
}

/** Parameters per event row in the insert below. */
const COLUMNS = ['::text', '::text', '::int', '::jsonb', '::jsonb', '::int'];

/**
 * Appends `rows` to a stream as versions expectedVersion+1.., in one INSERT per chunk, only if the
 * stream's current version is `expectedVersion`; 'edaflow_events' is notified once the transaction
 * commits. Returns the positions, or undefined when the stream is at another version (nothing was
 * written). A concurrent writer that passed the same check first makes this INSERT wait for it and then
 * fail on unique (stream_id, version): see `isVersionConflict`.
 */
export async function appendToStream(tx: Queryable, stream: { id: string; type: string | undefined }, expectedVersion: number, rows: readonly EventRow[]): Promise<number[] | undefined> {
  const positions: number[] = [];
  let version = expectedVersion;
  for (const chunk of chunks(rows)) {
    const insert = eventsInsert(stream, version, chunk);
    const { rows: inserted } = await tx.query<InsertedEvent>(`${insert.sql} returning ${INSERTED}`, insert.params);
    if (inserted.length !== chunk.length) return undefined;
    positions.push(...positionsOf(inserted));
    version += chunk.length;
  }
  await notifyAfterCommit(tx, EVENTS_CHANNEL);
  return positions;
}

/** What the inserts return per event: `positionsOf` orders them. */
export const INSERTED = 'position::text as position, version';
export interface InsertedEvent {
  readonly position: string;
  readonly version: number;
}

/** RETURNING promises no order: the positions in version order. */
export function positionsOf(inserted: readonly InsertedEvent[]): number[] {
  return [...inserted].sort((a, b) => a.version - b.version).map((row) => Number(row.position));
}

/**
 * The INSERT of up to INSERT_CHUNK events as versions expectedVersion+1.., which writes nothing unless
 * the stream is at `expectedVersion` (parameters $1..; no RETURNING, so that callers can compose it).
 */
export function eventsInsert(stream: { id: string; type: string | undefined }, expectedVersion: number, rows: readonly EventRow[]): { sql: string; params: unknown[] } {
  return {
    sql: `insert into edaflow_events (stream_id, stream_type, version, event_id, type, data_version, data, metadata)
       select $1::text, $2::text, $3::int + e.ord, e.event_id, e.type, e.data_version, e.data, e.metadata
       from (values ${valuesList(rows.length, COLUMNS, 3)}) as e (event_id, type, data_version, data, metadata, ord)
       where (select coalesce(max(version), 0) from edaflow_events where stream_id = $1::text) = $3::int
       order by e.ord`,
    params: [stream.id, stream.type ?? null, expectedVersion, ...rows.flatMap((row, index) => [row.eventId, row.type, row.dataVersion, row.data, row.metadata, index + 1])],
  };
}

/** Whether `error` is PostgreSQL's unique violation of (stream_id, version): another writer won the race. */
export function isVersionConflict(error: unknown): boolean {
  return uniqueViolationOf(error) === 'edaflow_events_stream_version';
}

/** Whether `error` is the unique violation of an event id that is already stored. */
export function isDuplicateEventId(error: unknown): boolean {
  return uniqueViolationOf(error) === 'edaflow_events_event_id';
}

/** The constraint of a unique violation (pg and PGlite both report `code` and `constraint`). */
function uniqueViolationOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, constraint } = error as { code?: unknown; constraint?: unknown };
  return code === '23505' && typeof constraint === 'string' ? constraint : undefined;
}
