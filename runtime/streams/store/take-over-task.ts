import type { Queryable } from '../../store/database.js';

/**
 * Makes `owner` the stream's runner: creates its task row or bumps its epoch, and returns the new
 * epoch, the fencing token every later transaction of this owner checks (`lockTask`). Waits for a
 * transaction of the previous holder still holding the row lock, so nothing it commits is missed by
 * the state the new holder loads afterwards.
 */
export async function takeOverTask(queryable: Queryable, stream: string, owner: string): Promise<number> {
  const { rows } = await queryable.query<{ epoch: string | number }>(
    `insert into edaflow_stream_tasks (stream, epoch, owner, updated_at) values ($1, 1, $2, now())
     on conflict (stream) do update set epoch = edaflow_stream_tasks.epoch + 1, owner = excluded.owner, updated_at = now()
     returning epoch`,
    [stream, owner],
  );
  return Number(rows[0]!.epoch);
}
