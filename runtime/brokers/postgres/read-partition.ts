import type { Queryable } from '../../store/database.js';
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

/**
 * The next rows of a partition after (transactionId, position), in (transaction id, position) order,
 * and only of transactions older than the oldest one still running (Emmett's rule): a transaction that
 * started earlier but commits later can never land behind a position the group already passed.
 * The same statement counts the delivery of each row returned.
 */
export async function readPartition(
  db: Queryable,
  at: { topic: string; group: string; partition: number; transactionId: string; position: string },
  limit: number,
): Promise<TopicRow[]> {
  const { rows } = await db.query<{ transaction_id: string; position: string; key: string | null; headers: Record<string, string>; body: unknown; attempts: number }>(
    `with batch as (
       select transaction_id, position, key, headers, body from edaflow_topic_messages
       where topic = $1 and partition = $3
         and (transaction_id, position) > ($4::xid8, $5::bigint)
         and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       order by transaction_id, position
       limit $6
     ), counted as (
       insert into edaflow_topic_attempts (topic, group_name, partition, transaction_id, position, attempts)
       select $1, $2, $3, transaction_id, position, 1 from batch
       on conflict (topic, group_name, partition, transaction_id, position) do update set attempts = edaflow_topic_attempts.attempts + 1
       returning transaction_id, position, attempts
     )
     select batch.transaction_id::text, batch.position::text, key, headers, body, counted.attempts
     from batch join counted using (transaction_id, position)
     order by batch.transaction_id, batch.position`,
    [at.topic, at.group, at.partition, at.transactionId, at.position, limit],
  );
  return rows.map((row) => ({
    transactionId: row.transaction_id,
    position: row.position,
    ...(row.key !== null ? { key: row.key } : {}),
    headers: row.headers,
    body: toBuffer(row.body),
    attempt: row.attempts,
  }));
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

/**
 * Whether rows past the position exist that are still hidden behind an older running transaction:
 * then the reader looks again shortly instead of sleeping a whole poll interval, because the
 * transaction holding them back may write nothing and so notify nobody when it ends.
 */
export async function hasHiddenRows(db: Queryable, at: { topic: string; partition: number; transactionId: string; position: string }): Promise<boolean> {
  const { rows } = await db.query<{ hidden: boolean }>(
    `select exists (
       select 1 from edaflow_topic_messages
       where topic = $1 and partition = $2 and (transaction_id, position) > ($3::xid8, $4::bigint)
         and transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
     ) as hidden`,
    [at.topic, at.partition, at.transactionId, at.position],
  );
  return rows[0]?.hidden === true;
}

/** Takes back the count of a row that was read but never delivered (the consumer stopped first). */
export async function uncountTopicAttempt(db: Queryable, at: { topic: string; group: string; partition: number; transactionId: string; position: string }): Promise<void> {
  const row = `topic = $1 and group_name = $2 and partition = $3 and transaction_id = $4::xid8 and position = $5::bigint`;
  const params = [at.topic, at.group, at.partition, at.transactionId, at.position];
  // Two statements: one statement may not both update and delete the same row.
  await db.query(`delete from edaflow_topic_attempts where ${row} and attempts <= 1`, params);
  await db.query(`update edaflow_topic_attempts set attempts = attempts - 1 where ${row}`, params);
}
