import type { Queryable } from '../../store/database.js';

/**
 * Moves the group's position in a partition to the last row of its settled prefix and forgets the
 * attempt counts up to it, in one statement. Only the lease holder may write: a consumer that lost its
 * partition must not move a position another one now owns.
 */
export async function savePosition(db: Queryable, at: { topic: string; group: string; partition: number; owner: string; transactionId: string; position: string }): Promise<boolean> {
  const { rows } = await db.query<{ saved: number }>(
    `with saved as (
       update edaflow_topic_groups set last_transaction_id = $5::xid8, last_position = $6::bigint
       where topic = $1 and group_name = $2 and partition = $3 and owner = $4
       returning 1
     ), forgotten as (
       delete from edaflow_topic_attempts
       where topic = $1 and group_name = $2 and partition = $3 and (transaction_id, position) <= ($5::xid8, $6::bigint) and exists (select 1 from saved)
     )
     select count(*)::int as saved from saved`,
    [at.topic, at.group, at.partition, at.owner, at.transactionId, at.position],
  );
  return (rows[0]?.saved ?? 0) > 0;
}
