/**
 * Raw PostgreSQL baseline with pg: a plain queue table (bigserial id, jsonb headers, bytea body, as the
 * adapter stores) on the same database, one multi-row INSERT per batch, and `concurrency` workers that
 * each claim their share of `prefetch` rows with `SELECT ... FOR UPDATE SKIP LOCKED LIMIT n` in a
 * transaction, JSON.parse each body, DELETE each row, and COMMIT. Workers sleep on an in-process wake-up
 * from the publisher (the adapter's local wake-up) or a 500 ms poll.
 */
import pg from 'pg';
import { Acks, type Timing, chunks, rawMessages, Wake, type Workload } from './common.js';

export const POSTGRES_URL = process.env['EDAFLOW_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export async function raw(workload: Workload): Promise<Timing> {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 10 });
  const table = `"${workload.name.replace(/[^A-Za-z0-9_]/g, '_')}"`;
  try {
    await pool.query(`create table ${table} (id bigserial primary key, headers jsonb not null default '{}', body bytea not null)`);
    const acks = new Acks(workload.messages, `postgres raw ${table}`, workload.timeoutMs);
    const wake = new Wake();
    let running = true;
    const claim = Math.max(1, Math.ceil(workload.prefetch / workload.concurrency));
    const worker = async (): Promise<void> => {
      while (running) {
        const client = await pool.connect();
        let claimed = 0;
        try {
          await client.query('begin');
          const { rows } = await client.query<{ id: string; body: Buffer }>(`select id, body from ${table} order by id limit $1 for update skip locked`, [claim]);
          claimed = rows.length;
          for (const row of rows) {
            JSON.parse(row.body.toString('utf8'));
            await client.query(`delete from ${table} where id = $1`, [row.id]);
          }
          await client.query('commit');
        } catch (error) {
          await client.query('rollback').catch(() => undefined);
          throw error;
        } finally {
          client.release();
        }
        for (let i = 0; i < claimed; i++) acks.ack();
        if (!claimed) await wake.wait(500);
      }
    };
    const workers = Array.from({ length: workload.concurrency }, worker);
    // The same message: the CloudEvents headers in the jsonb column, as the adapter stores them.
    const columns = workload.cloudEvents ? ['headers', 'body'] : ['body'];
    const batches = chunks(rawMessages(workload, 'ce-').map(({ body, headers }) => (headers ? [JSON.stringify(headers), body] : [body])), workload.batch);
    acks.start();
    for (const batch of batches) {
      const values = batch.map((_, i) => `(${columns.map((column, c) => `$${i * columns.length + c + 1}::${column === 'headers' ? 'jsonb' : 'bytea'}`).join(', ')})`).join(', ');
      await pool.query(`insert into ${table} (${columns.join(', ')}) values ${values}`, batch.flat());
      wake.wake();
    }
    acks.published();
    const timing = await acks.done.finally(() => ((running = false), wake.wake()));
    await Promise.all(workers);
    await pool.query(`drop table ${table}`);
    return timing;
  } finally {
    await pool.end();
  }
}
