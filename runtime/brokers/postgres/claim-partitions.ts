import type { Queryable } from '../../store/database.js';
import { lateFromJson, type CommitCursor } from '../../store/commit-cursor.js';

/** Where a group stands in one partition: the cursor after its last settled row. */
export interface PartitionPosition extends CommitCursor {
  readonly partition: number;
}

/**
 * Leases the group's partitions that are free, expired or already ours to `owner`, and renews ours.
 * One consumer per partition keeps its order; a consumer that dies loses its partitions when the
 * lease runs out and another instance of the group takes them over from the saved position.
 */
export async function claimPartitions(db: Queryable, topic: string, group: string, owner: string, leaseMs: number): Promise<PartitionPosition[]> {
  const { rows } = await db.query<{ partition: number; transaction_id: string; position: string; late: unknown }>(
    `update edaflow_topic_groups set owner = $3, leased_until = now() + make_interval(secs => $4::double precision / 1000)
     where topic = $1 and group_name = $2 and (owner is null or owner = $3 or leased_until < now())
     returning partition, last_transaction_id::text as transaction_id, last_position::text as position, late`,
    [topic, group, owner, leaseMs],
  );
  return rows.map((row) => ({ partition: row.partition, transactionId: row.transaction_id, position: row.position, late: lateFromJson(row.late) }));
}

/** Gives the partitions back on a graceful stop, so another instance need not wait for the lease. */
export async function releasePartitions(db: Queryable, topic: string, group: string, owner: string): Promise<void> {
  await db.query('update edaflow_topic_groups set owner = null, leased_until = null where topic = $1 and group_name = $2 and owner = $3', [topic, group, owner]);
}
