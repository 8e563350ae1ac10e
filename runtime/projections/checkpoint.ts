import type { LogCursor } from '../eventstore/index.js';
import { lateFromJson, lateToJson } from '../store/commit-cursor.js';
import type { Queryable } from '../store/database.js';

/** The checkpoint moved under us (a rebuild reset it, or another process applied the same events): reload it. */
export class StaleCheckpoint extends Error {
  constructor(readonly projection: string, readonly expected: number, readonly actual: number) {
    super(`projection ${projection}: checkpoint is at ${actual}, expected ${expected}`);
  }
}

/** A projection's saved place in the event store's log: a position, and the transactions still to read below it (see runtime/store/commit-cursor.ts). */
export interface SavedCheckpoint {
  readonly position: number;
  readonly late: ReadonlyMap<string, string>;
}

export async function readCheckpoint(queryable: Queryable, name: string): Promise<SavedCheckpoint> {
  const { rows } = await queryable.query<{ position: string | number; late: unknown }>('select position, late from edaflow_projection_checkpoints where name = $1', [name]);
  return rows.length ? { position: Number(rows[0]!.position), late: lateFromJson(rows[0]!.late) } : { position: 0, late: new Map() };
}

export async function readCheckpoints(queryable: Queryable, names: readonly string[]): Promise<Record<string, number>> {
  const { rows } = await queryable.query<{ name: string; position: string | number }>('select name, position from edaflow_projection_checkpoints where name = any($1::text[])', [names]);
  const positions: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]));
  for (const row of rows) positions[row.name] = Number(row.position);
  return positions;
}

/**
 * Locks the checkpoint row for this transaction and checks it is still at `expected` (its position and
 * its late transactions). Whoever applies events must hold this lock, so two writers (a lease taken
 * over while its old holder is mid-page, a rebuild) can never both apply the same events: the second
 * one sees a moved checkpoint.
 */
export async function claimCheckpoint(tx: Queryable, name: string, expected: LogCursor): Promise<void> {
  const { rows } = await tx.query<{ position: string | number; same: boolean }>('select position, late = $2::jsonb as same from edaflow_projection_checkpoints where name = $1 for update', [name, lateToJson(expected.late)]);
  const actual = rows.length ? Number(rows[0]!.position) : 0;
  const same = rows.length ? rows[0]!.same : expected.late.size === 0;
  if (actual !== Number(expected.position) || !same) throw new StaleCheckpoint(name, Number(expected.position), actual);
}

/** Saves the checkpoint: where the projection's next read of the log starts. */
export async function advanceCheckpoint(tx: Queryable, name: string, to: LogCursor): Promise<void> {
  await tx.query(
    `insert into edaflow_projection_checkpoints (name, position, late, updated_at) values ($1, $2, $3::jsonb, now())
     on conflict (name) do update set position = excluded.position, late = excluded.late, updated_at = excluded.updated_at`,
    [name, Number(to.position), lateToJson(to.late)],
  );
}

/**
 * Records message `messageId` in `consumer`'s inbox, in the transaction that applies it; false when it
 * is already there (a redelivery), and then the caller changes nothing.
 */
export async function recordInInbox(tx: Queryable, consumer: string, messageId: string): Promise<boolean> {
  const { affectedRows } = await tx.query('insert into edaflow_inbox (consumer, message_id) values ($1, $2) on conflict do nothing', [consumer, messageId]);
  return affectedRows === 1;
}

/**
 * Records every id of `messageIds` in `consumer`'s inbox, in the transaction that applies them; returns
 * the ids that were not there yet (the others are redeliveries).
 */
export async function recordAllInInbox(tx: Queryable, consumer: string, messageIds: readonly string[]): Promise<Set<string>> {
  if (!messageIds.length) return new Set();
  const { rows } = await tx.query<{ message_id: string }>(
    'insert into edaflow_inbox (consumer, message_id) select $1, id from unnest($2::text[]) as ids (id) on conflict do nothing returning message_id',
    [consumer, messageIds],
  );
  return new Set(rows.map((row) => row.message_id));
}

/** The ids of `messageIds` already in `consumer`'s inbox. */
export async function inInbox(db: Queryable, consumer: string, messageIds: readonly string[]): Promise<Set<string>> {
  if (!messageIds.length) return new Set();
  const { rows } = await db.query<{ message_id: string }>('select message_id from edaflow_inbox where consumer = $1 and message_id = any($2::text[])', [consumer, messageIds]);
  return new Set(rows.map((row) => row.message_id));
}

/** Counts one more applied message on a topic-fed projection's checkpoint (it has no global position). */
export async function countApplied(tx: Queryable, name: string): Promise<void> {
  await tx.query(
    `insert into edaflow_projection_checkpoints (name, position, updated_at) values ($1, 1, now())
     on conflict (name) do update set position = edaflow_projection_checkpoints.position + 1, updated_at = now()`,
    [name],
  );
}

/** Forgets inbox entries older than `ttlMs`: the inbox only has to outlive the broker's redeliveries. */
export async function pruneInbox(queryable: Queryable, consumer: string, ttlMs: number): Promise<number> {
  const { affectedRows } = await queryable.query(`delete from edaflow_inbox where consumer = $1 and received_at < now() - make_interval(secs => $2::double precision / 1000)`, [consumer, ttlMs]);
  return affectedRows;
}
