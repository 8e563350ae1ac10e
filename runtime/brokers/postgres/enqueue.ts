import type { Queryable } from '../../store/database.js';
import { chunks, insertAndNotify, valuesList, type WireRow } from './wire.js';

/**
 * Inserts messages into a queue in the caller's transaction; `delayMs` postpones their visibility. The
 * last insert carries the NOTIFY, so up to INSERT_CHUNK rows are one statement, atomic by itself.
 */
export async function enqueue(tx: Queryable, queue: string, rows: readonly WireRow[], delayMs = 0): Promise<void> {
  const batches = chunks(rows);
  for (const [index, chunk] of batches.entries()) {
    const params = [delayMs, ...chunk.flatMap((row) => [queue, row.key ?? null, JSON.stringify(row.headers), row.body])];
    const insert = `insert into edaflow_queue_messages (queue, key, headers, body, visible_at)
       select queue, key, headers, body, now() + make_interval(secs => $1::double precision / 1000)
       from (values ${valuesList(chunk.length, ['::text', '::text', '::jsonb', '::bytea'], 1)}) as v (queue, key, headers, body)`;
    if (index === batches.length - 1) await insertAndNotify(tx, insert, params, `queue:${queue}`);
    else await tx.query(insert, params);
  }
}
