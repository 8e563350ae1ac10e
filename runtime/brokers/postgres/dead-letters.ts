import { EdaflowError } from '../../errors/index.js';
import type { Database, Queryable } from '../../store/database.js';
import type { DeadLetter, DeadLetterOperations } from '../adapter.js';
import { readDeadLetterHeaders, withoutDeadLetterHeaders } from '../dead-letter.js';
import { enqueue } from './enqueue.js';
import { redeliveryQueue, toBuffer } from './wire.js';

interface DeadRow {
  id: string;
  key: string | null;
  headers: Record<string, string>;
  body: unknown;
}

const COLUMNS = 'id::text, key, headers, body';

/** Dead-letter queues are ordinary queues; these are `edaflow dlq ...` in SQL. */
export function deadLetterOperations(db: Database): DeadLetterOperations {
  return {
    async list(name, options) {
      const { rows } = await db.query<DeadRow>(`select ${COLUMNS} from edaflow_queue_messages where queue = $1 order by id limit $2`, [name, options?.limit ?? 100]);
      return rows.map((row) => toDeadLetter(name, row));
    },
    async count(name) {
      const { rows } = await db.query<{ count: number }>('select count(*)::int as count from edaflow_queue_messages where queue = $1', [name]);
      return rows[0]?.count ?? 0;
    },
    async retry(name, id) {
      await db.transaction(async (tx) => {
        const { rows } = await tx.query<DeadRow>(`delete from edaflow_queue_messages where queue = $1 and id = $2::bigint returning ${COLUMNS}`, [name, id]);
        if (!rows[0]) throw new EdaflowError('EDA_UNKNOWN_TYPE', `no message ${id} in dead-letter queue ${name}`);
        await sendBack(tx, name, rows[0]);
      });
    },
    async retryAll(name) {
      // In batches, each one transaction: a huge DLQ never needs one huge transaction.
      for (let total = 0; ; ) {
        const moved = await db.transaction(async (tx) => {
          const { rows } = await tx.query<DeadRow>(
            `delete from edaflow_queue_messages where id in (select id from edaflow_queue_messages where queue = $1 order by id limit 500 for update skip locked) returning ${COLUMNS}`,
            [name],
          );
          for (const row of rows.sort((a, b) => Number(BigInt(a.id) - BigInt(b.id)))) await sendBack(tx, name, row);
          return rows.length;
        });
        total += moved;
        if (!moved) return total;
      }
    },
    async purge(name, options) {
      const { affectedRows } = await db.query(
        `delete from edaflow_queue_messages where queue = $1 and ($2::double precision is null or created_at <= now() - make_interval(secs => $2::double precision / 1000))`,
        [name, options?.olderThanMs ?? null],
      );
      return affectedRows;
    },
  };
}

/** To the origin queue, or to the failing group's redelivery queue of a topic (that group only). */
async function sendBack(tx: Queryable, name: string, row: DeadRow): Promise<void> {
  const info = readDeadLetterHeaders(row.headers);
  if (!info) throw new EdaflowError('EDA_UNKNOWN_TYPE', `message ${row.id} in ${name} has no dead-letter metadata`);
  const restored = { headers: withoutDeadLetterHeaders(row.headers), body: toBuffer(row.body), ...(row.key !== null ? { key: row.key } : {}) };
  await enqueue(tx, info.origin.kind === 'topic' ? redeliveryQueue(info.origin.name, info.group) : info.origin.name, [restored]);
}

function toDeadLetter(name: string, row: DeadRow): DeadLetter {
  const info = readDeadLetterHeaders(row.headers);
  if (!info) throw new EdaflowError('EDA_UNKNOWN_TYPE', `message ${row.id} in ${name} has no dead-letter metadata`);
  return { id: row.id, deadLetterDestination: name, headers: row.headers, body: toBuffer(row.body), info };
}
