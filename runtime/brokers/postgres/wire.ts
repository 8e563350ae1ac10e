import { isTransaction, type Queryable } from '../../store/database.js';

/** A message as the broker stores it: CloudEvents binary-mode headers, the body, the ordering key. */
export interface WireRow {
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly key?: string;
}

/** The one NOTIFY channel of the broker; payloads say which destination got rows (`topic:x`, `queue:y`). */
export const CHANNEL = 'edaflow_broker';

export type Wake = `topic:${string}` | `queue:${string}`;

/**
 * `insert` and the wake-up of its listeners. Inside a transaction the NOTIFY waits until the commit
 * (`notifyAfterCommit`): sent within it, it would hold PostgreSQL's global notify lock through the
 * commit's flush and make concurrent writers (event store appends) queue. Outside one, the insert and
 * its NOTIFY are one statement (a data-modifying WITH runs whether or not it is read): one round trip,
 * an atomic publish by itself. The statement takes `params`, then the channel and the wake as its last two.
 */
export async function insertAndNotify(tx: Queryable, insert: string, params: readonly unknown[], wake: Wake): Promise<void> {
  if (isTransaction(tx)) {
    await tx.query(insert, params);
    tx.notifyAfterCommit(CHANNEL, wake);
    return;
  }
  const n = params.length;
  await tx.query(`with inserted as (${insert}) select pg_notify($${n + 1}, $${n + 2})`, [...params, CHANNEL, wake]);
}

/** pg returns bytea as a Buffer, PGlite as a Uint8Array. */
export function toBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return Buffer.from(String(value));
}

/** `(a, b), (c, d)` placeholders for a multi-row insert of `columns` values per row, after `offset` params. */
export function valuesList(rows: number, columns: readonly string[], offset: number): string {
  return Array.from({ length: rows }, (_, row) => `(${columns.map((cast, column) => `$${offset + row * columns.length + column + 1}${cast}`).join(', ')})`).join(', ');
}

/** Rows per insert statement: well below PostgreSQL's 65535 parameters. */
export const INSERT_CHUNK = 500;

export function chunks<T>(items: readonly T[], size = INSERT_CHUNK): T[][] {
  const result: T[][] = [];
  for (let start = 0; start < items.length; start += size) result.push(items.slice(start, start + size));
  return result;
}

/**
 * The queue that carries dead letters retried back to one consumer group of a topic: only that group
 * reads it, so `dlq retry` reaches the group that failed and not every group of the topic.
 */
export function redeliveryQueue(topic: string, group: string): string {
  return `${topic}/${group}/redeliveries`;
}
