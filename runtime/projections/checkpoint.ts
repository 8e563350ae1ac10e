import type { Queryable } from '../store/database.js';

/** The checkpoint moved under us (a rebuild reset it, or another process applied the same events): reload it. */
export class StaleCheckpoint extends Error {
  constructor(readonly projection: string, readonly expected: number, readonly actual: number) {
    super(`projection ${projection}: checkpoint is at ${actual}, expected ${expected}`);
  }
}

export async function readCheckpoint(queryable: Queryable, name: string): Promise<number> {
  const { rows } = await queryable.query<{ position: string | number }>('select position from edaflow_projection_checkpoints where name = $1', [name]);
  return rows.length ? Number(rows[0]!.position) : 0;
}

export async function readCheckpoints(queryable: Queryable, names: readonly string[]): Promise<Record<string, number>> {
  const { rows } = await queryable.query<{ name: string; position: string | number }>('select name, position from edaflow_projection_checkpoints where name = any($1::text[])', [names]);
  const positions: Record<string, number> = Object.fromEntries(names.map((name) => [name, 0]));
  for (const row of rows) positions[row.name] = Number(row.position);
  return positions;
}

/**
 * Locks the checkpoint row for this transaction and checks it is still at `expected`. Whoever applies
 * events must hold this lock, so two writers (a lease taken over while its old holder is mid-page, a
 * rebuild) can never both apply the same events: the second one sees a moved checkpoint.
 */
export async function claimCheckpoint(tx: Queryable, name: string, expected: number): Promise<void> {
  const { rows } = await tx.query<{ position: string | number }>('select position from edaflow_projection_checkpoints where name = $1 for update', [name]);
  const actual = rows.length ? Number(rows[0]!.position) : 0;
  if (actual !== expected) throw new StaleCheckpoint(name, expected, actual);
}

export async function advanceCheckpoint(tx: Queryable, name: string, position: number): Promise<void> {
  await tx.query(
    `insert into edaflow_projection_checkpoints (name, position, updated_at) values ($1, $2, now())
     on conflict (name) do update set position = excluded.position, updated_at = excluded.updated_at`,
    [name, position],
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
