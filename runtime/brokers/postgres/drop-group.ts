import type { Queryable } from '../../store/database.js';
import { redeliveryQueue } from './wire.js';

/** Removes every trace of a throwaway group (`edaflow tail`): its positions, attempt counts and redelivery queue. */
export async function dropGroup(db: Queryable, topic: string, group: string): Promise<void> {
  const queue = redeliveryQueue(topic, group);
  await db.query('delete from edaflow_topic_groups where topic = $1 and group_name = $2', [topic, group]);
  await db.query('delete from edaflow_topic_attempts where topic = $1 and group_name = $2', [topic, group]);
  await db.query('delete from edaflow_queue_messages where queue = $1', [queue]);
  await db.query('delete from edaflow_queues where name = $1 and not declared', [queue]);
}
