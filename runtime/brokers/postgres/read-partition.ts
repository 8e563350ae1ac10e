import type { Queryable } from '../../store/database.js';
import { lateToJson, parseSnapshot, type CommitCursor, type SnapshotInfo } from '../../store/commit-cursor.js';
import { toBuffer } from './wire.js';

export interface TopicRow {
  readonly transactionId: string;
  readonly position: string;
  readonly key?: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  /** This delivery's number, counted in `edaflow_topic_attempts` so it survives a crash. */
  readonly attempt: number;
}

/** A read: the rows, and the snapshot they were read under (the cursor moves by both). */
export interface PartitionRead {
  readonly rows: TopicRow[];
  readonly snapshot: SnapshotInfo;
}

/**
 * The next committed rows of a partition for `cursor` (see CommitCursor): those after its
 * (transaction id, position), and those of its late transactions after the last one read, in
 * (transaction id, position) order, with the snapshot the statement read them under. The same
 * statement counts the delivery of each row returned.
 */
export async function readPartition(db: Queryable, at: { topic: string; group: string; partition: number }, cursor: CommitCursor, limit: number): Promise<PartitionRead> {
  const { rows } = await db.query<{ snapshot: string; transaction_id: string | null; position: string; key: string | null; headers: Record<string, string>; body: unknown; attempts: number }>(
    `with snapshot as materialized (select pg_current_snapshot() as s),
     late as (select key::xid8 as transaction_id, value::bigint as position from jsonb_each_text($7::jsonb)),
     candidates as (
       (select transaction_id, position, key, headers, body from edaflow_topic_messages
        where topic = $1 and partition = $3 and (transaction_id, position) > ($4::xid8, $5::bigint)
        order by transaction_id, position limit $6)
       union all
       (select m.transaction_id, m.position, m.key, m.headers, m.body from late
        cross join lateral (
          select transaction_id, position, key, headers, body from edaflow_topic_messages
          where topic = $1 and partition = $3 and transaction_id = late.transaction_id and position > late.position
          order by position limit $6
        ) as m)
     ), batch as (
       select * from candidates order by transaction_id, position limit $6
     ), counted as (
       insert into edaflow_topic_attempts (topic, group_name, partition, transaction_id, position, attempts)
       select $1, $2, $3, transaction_id, position, 1 from batch
       on conflict (topic, group_name, partition, transaction_id, position) do update set attempts = edaflow_topic_attempts.attempts + 1
       returning transaction_id, position, attempts
     )
     select snapshot.s::text as snapshot, read.transaction_id::text, read.position::text, read.key, read.headers, read.body, read.attempts
     from snapshot left join (select batch.*, counted.attempts from batch join counted using (transaction_id, position)) as read on true
     order by read.transaction_id, read.position`,
    [at.topic, at.group, at.partition, cursor.transactionId, cursor.position, limit, lateToJson(cursor.late)],
  );
  const snapshot = parseSnapshot(rows[0]!.snapshot);
  const read = rows.filter((row) => row.transaction_id !== null).map((row) => ({
    transactionId: row.transaction_id!,
    position: row.position,
    ...(row.key !== null ? { key: row.key } : {}),
    headers: row.headers,
    body: toBuffer(row.body),
    attempt: row.attempts,
  }));
  return { rows: read, snapshot };
}

/** Counts one more delivery of a row that is being retried in process; returns its number. */
export async function countTopicAttempt(db: Queryable, at: { topic: string; group: string; partition: number; transactionId: string; position: string }): Promise<number> {
  const { rows } = await db.query<{ attempts: number }>(
    `insert into edaflow_topic_attempts (topic, group_name, partition, transaction_id, position, attempts) values ($1, $2, $3, $4::xid8, $5::bigint, 1)
     on conflict (topic, group_name, partition, transaction_id, position) do update set attempts = edaflow_topic_attempts.attempts + 1
     returning attempts`,
    [at.topic, at.group, at.partition, at.transactionId, at.position],
  );
  return rows[0]!.attempts;
}

/** Takes back the count of a row that was read but never delivered (the consumer stopped first). */
export async function uncountTopicAttempt(db: Queryable, at: { topic: string; group: string; partition: number; transactionId: string; position: string }): Promise<void> {
  const row = `topic = $1 and group_name = $2 and partition = $3 and transaction_id = $4::xid8 and position = $5::bigint`;
  const params = [at.topic, at.group, at.partition, at.transactionId, at.position];
  // Two statements: one statement may not both update and delete the same row.
  await db.query(`delete from edaflow_topic_attempts where ${row} and attempts <= 1`, params);
  await db.query(`update edaflow_topic_attempts set attempts = attempts - 1 where ${row}`, params);
}
