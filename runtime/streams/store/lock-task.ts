import { EdaflowError } from '../../errors/index.js';
import type { Queryable } from '../../store/database.js';

/**
 * Locks the stream's task row for this transaction and checks it still carries `epoch`: when another
 * process has taken the stream over since, this one is fenced off (EDA_STREAM_FENCED) and commits nothing.
 */
export async function lockTask(tx: Queryable, stream: string, epoch: number): Promise<void> {
  const { rows } = await tx.query<{ epoch: string | number }>('select epoch from edaflow_stream_tasks where stream = $1 for update', [stream]);
  const current = rows.length ? Number(rows[0]!.epoch) : 0;
  if (current !== epoch) throw new EdaflowError('EDA_STREAM_FENCED', `stream ${stream} was taken over (epoch ${current}, this runner holds ${epoch})`, { details: { stream, epoch, current } });
}
