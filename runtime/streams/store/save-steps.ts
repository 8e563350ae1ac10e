import { chunks, valuesList } from '../../brokers/postgres/wire.js';
import type { Queryable } from '../../store/database.js';
import type { DropReason, StreamRecord } from '../record.js';

/** What a run of input messages did to a stream, summed: the state's difference and the counters. */
export interface StepsDone {
  readonly streamTime: number | undefined;
  readonly added: readonly StreamRecord[];
  readonly matched: readonly string[];
  readonly removed: readonly string[];
  readonly emitted: number;
  readonly dropped: ReadonlyMap<DropReason, number>;
  /** Messages handled per input topic. */
  readonly handled: ReadonlyMap<string, number>;
}

/**
 * Writes what a run of input messages did to a stream, in the transaction that also records them in
 * the inbox and writes their outputs: the records kept, matched and forgotten (in that order, so a
 * record kept and forgotten within the run is inserted and deleted), the stream time (unchanged when
 * none is given: a run of redeliveries), the counters,
 * and the stream's count of messages handled per input topic.
 */
export async function saveSteps(tx: Queryable, stream: string, done: StepsDone): Promise<void> {
  for (const chunk of chunks(done.added)) {
    await tx.query(
      `insert into edaflow_stream_records (stream, buffer_id, side, key, time_ms, matched, envelope) values ${valuesList(chunk.length, ['', '', '', '', '::bigint', '::boolean', '::jsonb'], 0)}
       on conflict (stream, buffer_id) do nothing`,
      chunk.flatMap((record) => [stream, record.bufferId, record.side, record.key, record.time, record.matched, JSON.stringify(record.envelope)]),
    );
  }
  if (done.matched.length) await tx.query('update edaflow_stream_records set matched = true where stream = $1 and buffer_id = any($2::text[])', [stream, done.matched]);
  if (done.removed.length) await tx.query('delete from edaflow_stream_records where stream = $1 and buffer_id = any($2::text[])', [stream, done.removed]);
  const handled = [...done.handled.values()].reduce((sum, count) => sum + count, 0);
  await tx.query(
    `update edaflow_stream_tasks set stream_time = coalesce($2, stream_time), handled = handled + $3, emitted = emitted + $4, updated_at = now(),
       dropped = dropped || (select coalesce(jsonb_object_agg(reason, coalesce((dropped ->> reason)::bigint, 0) + count), '{}'::jsonb)
                             from unnest($5::text[], $6::bigint[]) as counted (reason, count))
     where stream = $1`,
    [stream, done.streamTime ?? null, handled, done.emitted, [...done.dropped.keys()], [...done.dropped.values()]],
  );
  const topics = [...done.handled];
  await tx.query(
    `insert into edaflow_stream_positions (stream, topic, handled) select $1, topic, count from unnest($2::text[], $3::bigint[]) as counted (topic, count)
     on conflict (stream, topic) do update set handled = edaflow_stream_positions.handled + excluded.handled`,
    [stream, topics.map(([topic]) => topic), topics.map(([, count]) => count)],
  );
}
