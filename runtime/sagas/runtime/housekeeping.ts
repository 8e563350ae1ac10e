import type { Queryable } from '../../store/database.js';

/** How long a message that matched no instance stays visible (and recorded as handled) before it is pruned. */
export const UNMATCHED_RETENTION_MS = 7 * 24 * 3_600_000;
/** How often a process prunes (each process does; the deletes are idempotent). */
export const HOUSEKEEPING_INTERVAL_MS = 10 * 60_000;
const DELETE_BATCH = 5_000;

export interface Pruned {
  /** Inbox rows of completed and failed instances. */
  readonly inbox: number;
  /** Unmatched messages (and their inbox rows) older than the retention. */
  readonly unmatched: number;
}

/**
 * Keeps the saga tables from growing with every message ever handled:
 * - the inbox rows of ended (completed or failed) instances: an ended instance ignores every message,
 *   so a redelivery that finds no inbox row changes nothing either (it joins the ended instance);
 * - unmatched messages, and their inbox rows, once older than `unmatchedRetentionMs`.
 * Instances and their history stay (`edaflow sagas show`); so do a stuck instance's rows.
 * Deletes go in batches, so one prune never holds locks on a large table for long.
 */
export async function pruneSagaTables(db: Queryable, unmatchedRetentionMs = UNMATCHED_RETENTION_MS): Promise<Pruned> {
  const inbox = await inBatches(() => db.query(
    `delete from edaflow_saga_inbox where (saga, message_id) in (
       select i.saga, i.message_id from edaflow_saga_inbox i join edaflow_saga_instances s on s.id = i.instance_id
       where s.status in ('completed', 'failed') limit $1)`,
    [DELETE_BATCH],
  ));
  const cutoff = [unmatchedRetentionMs, DELETE_BATCH];
  const unmatched = await inBatches(() => db.query(
    `delete from edaflow_saga_unmatched where (saga, message_id) in (
       select saga, message_id from edaflow_saga_unmatched where received_at < now() - $1::double precision * interval '1 millisecond' limit $2)`,
    cutoff,
  ));
  await inBatches(() => db.query(
    `delete from edaflow_saga_inbox where (saga, message_id) in (
       select saga, message_id from edaflow_saga_inbox where instance_id is null and received_at < now() - $1::double precision * interval '1 millisecond' limit $2)`,
    cutoff,
  ));
  return { inbox, unmatched };
}

async function inBatches(deleteBatch: () => Promise<{ affectedRows: number }>): Promise<number> {
  let total = 0;
  for (;;) {
    const { affectedRows } = await deleteBatch();
    total += affectedRows;
    if (affectedRows < DELETE_BATCH) return total;
  }
}
