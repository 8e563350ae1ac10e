import type { Queryable } from '../../store/database.js';
import type { InsertPart } from '../../store/insert-part.js';
import { CHANNEL, chunks, insertAndNotify, valuesList, type WireRow } from './wire.js';

/**
 * Appends to a topic's log in the caller's transaction. Each row is stamped (by column default) with
 * `pg_current_xact_id()`, which readers compare with the oldest running transaction. The partition is
 * the key's hash, so one key's rows stay in one partition, in order.
 */
export async function appendToTopic(tx: Queryable, topic: string, partitions: number, rows: readonly WireRow[]): Promise<void> {
  const parts = topicInserts(topic, partitions, rows);
  for (const [index, part] of parts.entries()) {
    const insert = `insert into ${part.into} ${part.select(0)}`;
    // The last insert carries the NOTIFY: up to INSERT_CHUNK rows are one statement, atomic by itself.
    if (index === parts.length - 1) await insertAndNotify(tx, insert, part.params, `topic:${topic}`);
    else await tx.query(insert, part.params);
  }
}

/** The inserts of `rows` into a topic, INSERT_CHUNK rows each, to run alone or inside another statement. */
export function topicInserts(topic: string, partitions: number, rows: readonly WireRow[]): InsertPart[] {
  return chunks(rows).map((chunk) => ({
    into: 'edaflow_topic_messages (topic, partition, key, headers, body)',
    select: (offset) => `select * from (values ${valuesList(chunk.length, ['::text', '::int', '::text', '::jsonb', '::bytea'], offset)}) as v (topic, partition, key, headers, body)`,
    params: chunk.flatMap((row) => [topic, partitionOf(row.key, partitions), row.key ?? null, JSON.stringify(row.headers), row.body]),
    wake: { channel: CHANNEL, payload: `topic:${topic}` },
  }));
}

/** FNV-1a of the key modulo the partitions; keyless rows spread at random. */
export function partitionOf(key: string | undefined, partitions: number): number {
  if (partitions <= 1) return 0;
  if (key === undefined) return Math.floor(Math.random() * partitions);
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash % partitions;
}
