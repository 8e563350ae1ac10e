import type { Queryable } from '../../store/database.js';

/**
 * Deletes a topic's rows older than its retention, read or not (Kafka's rule: retention is time, not
 * consumption). Consumers call it as they renew their leases; a topic without retention keeps all.
 */
export async function trimTopic(db: Queryable, topic: string, retentionMs: number): Promise<number> {
  const { affectedRows } = await db.query(
    `delete from edaflow_topic_messages where topic = $1 and created_at < now() - make_interval(secs => $2::double precision / 1000)`,
    [topic, retentionMs],
  );
  return affectedRows;
}
