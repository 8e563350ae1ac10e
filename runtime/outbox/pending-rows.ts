import type { Envelope } from '../envelope/index.js';
import type { Queryable } from '../store/database.js';

export interface OutboxRow {
  readonly id: string;
  readonly envelope: Envelope;
  /** Failed attempts so far. */
  readonly attempts: number;
}

/**
 * The oldest unsent rows, in id order (the order they were written in, per stream); dead rows are
 * skipped. Read by `edaflow_pending_outbox` (migration 010): from the index, whatever the statistics say.
 */
export async function readPendingRows(db: Queryable, limit: number): Promise<OutboxRow[]> {
  // Ordered by the table's bigint id, not the selected text `id` ('10' < '9').
  const { rows } = await db.query<OutboxRow>('select id::text as id, envelope, attempts from edaflow_pending_outbox($1) as pending order by pending.id', [limit]);
  return rows;
}

/** Sets a row aside for good (kept, with its error, for operators): it no longer holds back the rows after it. */
export async function markDead(db: Queryable, id: string, error: string): Promise<void> {
  await db.query('update edaflow_outbox set attempts = attempts + 1, last_error = $2, dead_at = now() where id = $1::bigint', [id, error]);
}

/** Removes rows once their messages were acknowledged by the broker. */
export async function deleteSentRows(db: Queryable, ids: readonly string[]): Promise<void> {
  if (ids.length) await db.query('delete from edaflow_outbox where id in (select jsonb_array_elements_text($1::jsonb)::bigint)', [JSON.stringify(ids)]);
}

/** Counts a failed attempt on the row that could not be published, for operators to see. */
export async function recordFailure(db: Queryable, id: string, error: string): Promise<void> {
  await db.query('update edaflow_outbox set attempts = attempts + 1, last_error = $2 where id = $1::bigint', [id, error]);
}
