import type { Queryable } from '../../store/database.js';
import { toBuffer } from './wire.js';

export interface QueueRow {
  readonly id: string;
  readonly key?: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** Deliveries so far including this one; also the claim's token (settling checks it). */
  readonly attempt: number;
  /** Time since it was enqueued, by the database's clock. */
  readonly ageMs: number;
}

/** `now()` plus the lease in milliseconds given as parameter `$param`. */
const lease = (param: number): string => `now() + make_interval(secs => $${param}::double precision / 1000)`;

/**
 * Claims up to `limit` visible, unleased messages (SKIP LOCKED: competing consumers never wait on or
 * take each other's rows), leasing them for `leaseMs` and counting the delivery in the row, so a
 * crashed consumer's messages come back after the lease with the next attempt number. The ready rows
 * are found by `edaflow_ready_queue_messages` (migration 009: an index scan whatever the statistics
 * say) and updated by `id = any(array(...))`, not joined: a join makes the planner scan the whole table.
 */
export async function claimQueue(db: Queryable, queue: string, limit: number, leaseMs: number): Promise<QueueRow[]> {
  const { rows } = await db.query<{ id: string; key: string | null; headers: Record<string, string>; body: unknown; attempts: number; age_ms: number }>(
    `update edaflow_queue_messages as m set attempts = m.attempts + 1, leased_until = ${lease(3)}
     where m.id = any (array(select edaflow_ready_queue_messages($1, $2)))
     returning m.id::text, m.key, m.headers, m.body, m.attempts, (extract(epoch from now() - m.created_at) * 1000)::float8 as age_ms`,
    [queue, limit, leaseMs],
  );
  return rows
    .map((row) => ({ id: row.id, ...(row.key !== null ? { key: row.key } : {}), headers: row.headers, body: toBuffer(row.body), attempt: row.attempts, ageMs: Number(row.age_ms) }))
    .sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)));
}

/** Extends the leases of messages still being handled (a slow handler must not lose its message). */
export async function renewLeases(db: Queryable, ids: readonly string[], leaseMs: number): Promise<void> {
  if (!ids.length) return;
  await db.query(
    `update edaflow_queue_messages set leased_until = ${lease(2)} where id = any(string_to_array($1, ',')::bigint[]) and leased_until is not null`,
    [ids.join(','), leaseMs],
  );
}
