import type { Queryable } from '../../store/database.js';
import type { InsertPart } from '../../store/insert-part.js';
import { CHANNEL, chunks, insertAndNotify, valuesList, type WireRow } from './wire.js';

/**
 * Inserts messages into a queue in the caller's transaction; `delayMs` postpones their visibility. The
 * last insert carries the NOTIFY, so up to INSERT_CHUNK rows are one statement, atomic by itself.
 */
export async function enqueue(tx: Queryable, queue: string, rows: readonly WireRow[], delayMs = 0): Promise<void> {
  const parts = queueInserts(queue, rows, delayMs);
  for (const [index, part] of parts.entries()) {
    const insert = `insert into ${part.into} ${part.select(0)}`;
    if (index === parts.length - 1) await insertAndNotify(tx, insert, part.params, `queue:${queue}`);
    else await tx.query(insert, part.params);
  }
}

/** The inserts of `rows` into a queue, INSERT_CHUNK rows each, to run alone or inside another statement. */
export function queueInserts(queue: string, rows: readonly WireRow[], delayMs = 0): InsertPart[] {
  return chunks(rows).map((chunk) => ({
    into: 'edaflow_queue_messages (queue, key, headers, body, visible_at)',
    select: (offset) => `select queue, key, headers, body, now() + make_interval(secs => $${offset + 1}::double precision / 1000)
       from (values ${valuesList(chunk.length, ['::text', '::text', '::jsonb', '::bytea'], offset + 1)}) as v (queue, key, headers, body)`,
    params: [delayMs, ...chunk.flatMap((row) => [queue, row.key ?? null, JSON.stringify(row.headers), row.body])],
    wake: { channel: CHANNEL, payload: `queue:${queue}` },
  }));
}
