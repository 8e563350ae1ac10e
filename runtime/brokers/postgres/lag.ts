import { EdaflowError } from '../../errors/index.js';
import type { Queryable } from '../../store/database.js';
import type { GroupSpec } from '../adapter.js';
import { redeliveryQueue } from './wire.js';

/**
 * Consumer lag of a group. On a topic: the committed rows after the group's cursor in each partition
 * (see CommitCursor: those after its position, and those of its late transactions after the last one
 * read; in flight ones included, as the cursor moves once they are settled), plus the dead letters
 * retried back to this group and waiting in its redelivery queue. On a queue: its rows, claimed (in
 * flight) or not, delayed or not — a row leaves the queue when it is settled.
 */
export async function groupLag(db: Queryable, broker: string, group: GroupSpec): Promise<number> {
  const { kind, name } = group.destination;
  if (kind === 'queue') {
    const { rows } = await db.query<{ known: boolean; count: number }>(
      'select exists (select 1 from edaflow_queues where name = $1) as known, (select count(*)::int from edaflow_queue_messages where queue = $1) as count',
      [name],
    );
    if (!rows[0]?.known) throw unknown(broker, group);
    return rows[0].count;
  }
  const { rows } = await db.query<{ partitions: number; unread: number; redeliveries: number }>(
    `select (select count(*)::int from edaflow_topic_groups where topic = $1 and group_name = $2) as partitions,
       (select count(*)::int from edaflow_topic_groups g join edaflow_topic_messages m
          on m.topic = g.topic and m.partition = g.partition and (m.transaction_id, m.position) > (g.last_transaction_id, g.last_position)
        where g.topic = $1 and g.group_name = $2)
       + (select count(*)::int from edaflow_topic_groups g cross join lateral jsonb_each_text(g.late) as late join edaflow_topic_messages m
          on m.topic = g.topic and m.partition = g.partition and m.transaction_id = late.key::xid8 and m.position > late.value::bigint
        where g.topic = $1 and g.group_name = $2) as unread,
       (select count(*)::int from edaflow_queue_messages where queue = $3) as redeliveries`,
    [name, group.group, redeliveryQueue(name, group.group)],
  );
  if (!rows[0]?.partitions) throw unknown(broker, group);
  return rows[0].unread + rows[0].redeliveries;
}

function unknown(broker: string, group: GroupSpec): EdaflowError {
  return new EdaflowError('EDA_UNKNOWN_DESTINATION', `group ${group.group} on ${group.destination.kind} ${group.destination.name} is not provisioned on broker ${broker}`);
}
