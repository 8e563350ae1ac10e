import type { Queryable } from '../../store/database.js';
import { chunks, notify, valuesList, type WireRow } from './wire.js';

/** Inserts messages into a queue in the caller's transaction; `delayMs` postpones their visibility. */
export async function enqueue(tx: Queryable, queue: string, rows: readonly WireRow[], delayMs = 0): Promise<void> {
  for (const chunk of chunks(rows)) {
    const params = [delayMs, ...chunk.flatMap((row) => [queue, row.key ?? null, JSON.stringify(row.headers), row.body])];
    await tx.query(
      `insert into edaflow_queue_messages (queue, key, headers, body, visible_at)
       select queue, key, headers, body, now() + make_interval(secs => $1::double precision / 1000)
       from (values ${valuesList(chunk.length, ['::text', '::text', '::jsonb', '::bytea'], 1)}) as v (queue, key, headers, body)`,
      params,
    );
  }
  if (rows.length) await notify(tx, `queue:${queue}`);
}
