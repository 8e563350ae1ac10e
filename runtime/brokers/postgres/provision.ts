import { EdaflowError } from '../../errors/index.js';
import type { Queryable } from '../../store/database.js';
import type { QueueSpec, StartAt, TopicSpec } from '../adapter.js';

/** Creates the topic when missing; an existing one with other settings is a conflict, never changed. */
export async function provisionTopic(tx: Queryable, broker: string, topic: TopicSpec): Promise<void> {
  const retention = topic.retentionMs ?? null;
  await tx.query('insert into edaflow_topics (name, partitions, retention_ms) values ($1, $2, $3) on conflict (name) do nothing', [topic.name, topic.partitions, retention]);
  const { rows } = await tx.query<{ partitions: number; retention_ms: string | null }>('select partitions, retention_ms::text from edaflow_topics where name = $1', [topic.name]);
  const existing = rows[0]!;
  conflictIf(broker, `topic ${topic.name}`, 'partitions', topic.partitions, existing.partitions);
  conflictIf(broker, `topic ${topic.name}`, 'retentionMs', retention, existing.retention_ms === null ? null : Number(existing.retention_ms));
}

/**
 * Creates the queue when missing. A queue that exists only as some destination's dead-letter queue
 * (`declared` false) takes the settings of its first declaration; a declared one must match.
 */
export async function provisionQueue(tx: Queryable, broker: string, queue: QueueSpec): Promise<void> {
  const settings = { messageTtlMs: queue.messageTtlMs ?? null, deadLetter: queue.deadLetter, maxDeliveries: queue.maxDeliveries };
  await tx.query(
    `insert into edaflow_queues (name, declared, message_ttl_ms, dead_letter, max_deliveries) values ($1, true, $2, $3, $4)
     on conflict (name) do update set declared = true, message_ttl_ms = $2, dead_letter = $3, max_deliveries = $4 where not edaflow_queues.declared`,
    [queue.name, settings.messageTtlMs, settings.deadLetter, settings.maxDeliveries],
  );
  const { rows } = await tx.query<{ message_ttl_ms: string | null; dead_letter: string | null; max_deliveries: number }>(
    'select message_ttl_ms::text, dead_letter, max_deliveries from edaflow_queues where name = $1',
    [queue.name],
  );
  const existing = rows[0]!;
  conflictIf(broker, `queue ${queue.name}`, 'messageTtlMs', settings.messageTtlMs, existing.message_ttl_ms === null ? null : Number(existing.message_ttl_ms));
  conflictIf(broker, `queue ${queue.name}`, 'deadLetter', settings.deadLetter, existing.dead_letter);
  conflictIf(broker, `queue ${queue.name}`, 'maxDeliveries', settings.maxDeliveries, existing.max_deliveries);
  if (queue.deadLetter) await provisionInternalQueue(tx, queue.deadLetter);
}

/** A queue nobody declares: a dead-letter queue, or a group's redelivery queue. */
export async function provisionInternalQueue(tx: Queryable, name: string): Promise<void> {
  await tx.query('insert into edaflow_queues (name, declared) values ($1, false) on conflict (name) do nothing', [name]);
}

/**
 * A position row per partition for a consumer group that has none yet; an existing group keeps its
 * positions. A new group starts at `startAt` (see StartAt): 'latest' is after the newest committed
 * row, with the transactions still running below it remembered as late (see CommitCursor), so
 * rows they commit afterwards are delivered, never skipped.
 */
export async function provisionGroup(tx: Queryable, topic: string, group: string, startAt: StartAt): Promise<{ partitions: number; retentionMs: number | null }> {
  const { rows } = await tx.query<{ partitions: number; retention_ms: string | null }>('select partitions, retention_ms::text from edaflow_topics where name = $1', [topic]);
  const row = rows[0];
  if (!row) throw new EdaflowError('EDA_UNKNOWN_TYPE', `topic ${topic} is not provisioned`);
  await tx.query(
    `insert into edaflow_topic_groups (topic, group_name, partition, last_transaction_id, last_position, late)
     select $1, $2, p, coalesce(newest.transaction_id, '0'::xid8), coalesce(newest.position, 0),
       coalesce((select jsonb_object_agg(running::text, '0') from pg_snapshot_xip(pg_current_snapshot()) as running where running < newest.transaction_id), '{}'::jsonb)
     from generate_series(0, $3::int - 1) as p
     left join lateral (
       select transaction_id, position from edaflow_topic_messages
       where topic = $1 and partition = p
       order by transaction_id desc, position desc limit 1
     ) as newest on $4::boolean
     on conflict do nothing`,
    [topic, group, row.partitions, startAt === 'latest'],
  );
  return { partitions: row.partitions, retentionMs: row.retention_ms === null ? null : Number(row.retention_ms) };
}

function conflictIf(broker: string, what: string, setting: string, declared: unknown, existing: unknown): void {
  if (declared === existing) return;
  throw new EdaflowError(
    'EDA_PROVISION_CONFLICT',
    `${what} on broker ${broker} exists with ${setting} ${JSON.stringify(existing)}, but the definitions declare ${JSON.stringify(declared)}`,
    { details: { setting, declared, existing } },
  );
}
