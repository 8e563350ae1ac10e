import { chunks, valuesList } from '../../brokers/postgres/wire.js';
import type { Queryable } from '../../store/database.js';
import type { StepResult } from '../record.js';

/**
 * Writes what one input message did to a stream, in the transaction that also records the message
 * in the inbox and writes the outputs: the records kept, matched and forgotten, the stream time, the
 * counters, and the stream's position on the input topic.
 */
export async function saveStep(tx: Queryable, stream: string, topic: string, result: Pick<StepResult, 'streamTime' | 'added' | 'matched' | 'removed' | 'dropped'> & { readonly emitted: number }): Promise<void> {
  for (const chunk of chunks(result.added)) {
    await tx.query(
      `insert into edaflow_stream_records (stream, buffer_id, side, key, time_ms, matched, envelope) values ${valuesList(chunk.length, ['', '', '', '', '::bigint', '::boolean', '::jsonb'], 0)}
       on conflict (stream, buffer_id) do nothing`,
      chunk.flatMap((record) => [stream, record.bufferId, record.side, record.key, record.time, record.matched, JSON.stringify(record.envelope)]),
    );
  }
  if (result.matched.length) await tx.query('update edaflow_stream_records set matched = true where stream = $1 and buffer_id = any($2::text[])', [stream, result.matched]);
  if (result.removed.length) await tx.query('delete from edaflow_stream_records where stream = $1 and buffer_id = any($2::text[])', [stream, result.removed]);
  await tx.query(
    `update edaflow_stream_tasks set stream_time = $2, handled = handled + 1, emitted = emitted + $3, updated_at = now(),
       dropped = case when $4::text is null then dropped else jsonb_set(dropped, array[$4::text], to_jsonb(coalesce((dropped ->> $4::text)::bigint, 0) + 1)) end
     where stream = $1`,
    [stream, result.streamTime ?? null, result.emitted, result.dropped ?? null],
  );
  await tx.query(
    `insert into edaflow_stream_positions (stream, topic, handled) values ($1, $2, 1)
     on conflict (stream, topic) do update set handled = edaflow_stream_positions.handled + 1`,
    [stream, topic],
  );
}
