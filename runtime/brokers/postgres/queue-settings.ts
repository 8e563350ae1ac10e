import type { Queryable } from '../../store/database.js';

/** The limits a queue's consumers enforce; null where the queue sets none (internal queues). */
export interface QueueLimits {
  readonly maxDeliveries: number | null;
  readonly messageTtlMs: number | null;
}

export async function readQueueLimits(db: Queryable, queue: string): Promise<QueueLimits> {
  const { rows } = await db.query<{ max_deliveries: number | null; message_ttl_ms: string | null }>(
    'select max_deliveries, message_ttl_ms::text from edaflow_queues where name = $1',
    [queue],
  );
  const row = rows[0];
  return { maxDeliveries: row?.max_deliveries ?? null, messageTtlMs: row?.message_ttl_ms == null ? null : Number(row.message_ttl_ms) };
}
