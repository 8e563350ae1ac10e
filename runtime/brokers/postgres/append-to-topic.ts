import type { Queryable } from '../../store/database.js';
import { chunks, insertAndNotify, valuesList, type WireRow } from './wire.js';

/**
 * Appends to a topic's log in the caller's transaction. Each row is stamped (by column default) with
 * `pg_current_xact_id()`, which readers compare with the oldest running transaction. The partition is
 * the key's hash, so one key's rows stay in one partition, in order.
 */
export async function appendToTopic(tx: Queryable, topic: string, partitions: number, rows: readonly WireRow[]): Promise<void> {
  const batches = chunks(rows);
  for (const [index, chunk] of batches.entries()) {
    const params = chunk.flatMap((row) => [topic, partitionOf(row.key, partitions), row.key ?? null, JSON.stringify(row.headers), row.body]);
    const insert = `insert into edaflow_topic_messages (topic, partition, key, headers, body) values ${valuesList(chunk.length, ['', '::int', '', '::jsonb', '::bytea'], 0)}`;
    // The last insert carries the NOTIFY: up to INSERT_CHUNK rows are one statement, atomic by itself.
    if (index === batches.length - 1) await insertAndNotify(tx, insert, params, `topic:${topic}`);
    else await tx.query(insert, params);
  }
}

/** FNV-1a of the key modulo the partitions; keyless rows spread at random. */
export function partitionOf(key: string | undefined, partitions: number): number {
  if (partitions <= 1) return 0;
  if (key === undefined) return Math.floor(Math.random() * partitions);
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash % partitions;
}
