import type { Queryable } from '../../store/database.js';
import { enqueue } from './enqueue.js';
import type { WireRow } from './wire.js';

/**
 * Settling is guarded by the claim's attempt number: a consumer whose lease ran out (and whose message
 * another consumer claimed since) changes nothing. Each returns whether it settled the message.
 */
export async function ackQueued(db: Queryable, id: string, attempt: number): Promise<boolean> {
  const { affectedRows } = await db.query('delete from edaflow_queue_messages where id = $1::bigint and attempts = $2', [id, attempt]);
  return affectedRows > 0;
}

/**
 * `ackQueued` for many messages in one statement; returns the ids it settled (see BatchedAcks).
 */
export async function ackQueuedMany(db: Queryable, acks: readonly { id: string; attempt: number }[]): Promise<Set<string>> {
  const { rows } = await db.query<{ id: string }>(
    `delete from edaflow_queue_messages as m using unnest($1::bigint[], $2::int[]) as settled (id, attempts)
     where m.id = settled.id and m.attempts = settled.attempts returning m.id::text as id`,
    [acks.map((ack) => ack.id), acks.map((ack) => ack.attempt)],
  );
  return new Set(rows.map((row) => row.id));
}

/** Releases the message to become visible again after `delayMs`: the broker's own delayed retry. */
export async function retryQueued(db: Queryable, id: string, attempt: number, delayMs: number): Promise<boolean> {
  const { affectedRows } = await db.query(
    `update edaflow_queue_messages set leased_until = null, visible_at = now() + make_interval(secs => $3::double precision / 1000)
     where id = $1::bigint and attempts = $2`,
    [id, attempt, delayMs],
  );
  return affectedRows > 0;
}

/** Moves the message to `deadLetter` (a queue) in one transaction: it is in exactly one of them. */
export async function deadLetterQueued(db: { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> }, id: string, attempt: number, deadLetter: string | null, row: WireRow): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await ackQueued(tx, id, attempt))) return false;
    if (deadLetter !== null) await enqueue(tx, deadLetter, [row]);
    return true;
  });
}

/** Gives back a claimed message that was never delivered (the consumer is stopping): not an attempt. */
export async function releaseQueued(db: Queryable, id: string, attempt: number): Promise<boolean> {
  const { affectedRows } = await db.query('update edaflow_queue_messages set leased_until = null, attempts = attempts - 1 where id = $1::bigint and attempts = $2', [id, attempt]);
  return affectedRows > 0;
}
