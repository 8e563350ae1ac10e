import type { Queryable } from '../../store/database.js';
import { lateToJson, type CommitCursor } from '../../store/commit-cursor.js';

/**
 * Moves the group's position in a partition to the cursor after its settled prefix and forgets the
 * attempt counts of the rows it has passed (not those of late transactions still to be read), in one
 * statement. Only the lease holder may write: a consumer that lost its partition must not move a
 * position another one now owns.
 */
export async function savePosition(db: Queryable, at: { topic: string; group: string; partition: number; owner: string }, cursor: CommitCursor): Promise<boolean> {
  const { rows } = await db.query<{ saved: number }>(
    `with saved as (
       update edaflow_topic_groups set last_transaction_id = $5::xid8, last_position = $6::bigint, late = $7::jsonb
       where topic = $1 and group_name = $2 and partition = $3 and owner = $4
       returning 1
     ), forgotten as (
       delete from edaflow_topic_attempts
       where topic = $1 and group_name = $2 and partition = $3 and (transaction_id, position) <= ($5::xid8, $6::bigint) and exists (select 1 from saved)
         and not exists (select 1 from jsonb_each_text($7::jsonb) as late where late.key::xid8 = transaction_id and position > late.value::bigint)
     )
     select count(*)::int as saved from saved`,
    [at.topic, at.group, at.partition, at.owner, cursor.transactionId, cursor.position, lateToJson(cursor.late)],
  );
  return (rows[0]?.saved ?? 0) > 0;
}
