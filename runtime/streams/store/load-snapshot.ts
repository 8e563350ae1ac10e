import type { Envelope } from '../../envelope/index.js';
import type { Queryable } from '../../store/database.js';
import type { Side } from '../model.js';
import type { StreamSnapshot } from '../processor.js';

interface RecordRow {
  readonly buffer_id: string;
  readonly side: string;
  readonly key: string;
  readonly time_ms: string | number;
  readonly matched: boolean;
  readonly envelope: Envelope | string;
}

/** The stream time and kept records a stream's processor resumes from. */
export async function loadSnapshot(queryable: Queryable, stream: string): Promise<StreamSnapshot> {
  const { rows: tasks } = await queryable.query<{ stream_time: string | number | null }>('select stream_time from edaflow_stream_tasks where stream = $1', [stream]);
  const streamTime = tasks[0]?.stream_time;
  const { rows } = await queryable.query<RecordRow>('select buffer_id, side, key, time_ms, matched, envelope from edaflow_stream_records where stream = $1', [stream]);
  return {
    streamTime: streamTime === null || streamTime === undefined ? undefined : Number(streamTime),
    records: rows.map((row) => ({
      bufferId: row.buffer_id,
      side: row.side as Side,
      key: row.key,
      time: Number(row.time_ms),
      matched: row.matched,
      envelope: typeof row.envelope === 'string' ? (JSON.parse(row.envelope) as Envelope) : row.envelope,
    })),
  };
}
