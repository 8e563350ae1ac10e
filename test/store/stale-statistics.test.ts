import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimQueue } from '../../runtime/brokers/postgres/claim-queue.js';
import { readPendingRows } from '../../runtime/outbox/pending-rows.js';
import { claimActivities } from '../../runtime/sagas/runtime/activity-rows.js';
import type { Database, Queryable } from '../../runtime/store/database.js';
import { openTestEmbedded, openTestPostgres } from '../conformance/adapters/postgres.js';
import { uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

const BACKLOG = 20_000;
/** What a read of the first (up to 100) rows may touch: them and the rows it updates. A scan of the backlog reads all 20,000 and more. */
const A_FEW = 500;

/**
 * Tables that fill and empty all day (queue messages, the outbox, saga activities) are often read
 * before autovacuum has analyzed them. Each read of their first rows must still come from the index,
 * not from a scan and a sort of everything waiting: the rows a read touched are counted by the
 * server's own statistics of the connection (pg_stat_xact_user_tables), before and after.
 */
const databases: { name: string; servers: readonly 'postgres'[]; open: () => Promise<{ database: Database; dispose: () => Promise<void> }> }[] = [
  { name: 'PostgreSQL', servers: ['postgres'], open: () => openTestPostgres() },
  { name: 'PGlite', servers: [], open: () => openTestEmbedded() },
];

async function rowsRead(tx: Queryable, table: string): Promise<number> {
  const { rows } = await tx.query<{ read: string }>(
    `select coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0) as read from pg_stat_xact_user_tables where relid = $1::regclass`,
    [table],
  );
  return Number(rows[0]?.read ?? NaN);
}

for (const target of databases) {
  describe(`reads of the first rows stay on the index before any ANALYZE (${target.name})`, () => {
    let database: Database;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      await ensureServers([...target.servers]);
      ({ database, dispose } = await target.open());
    }, 60_000);

    afterAll(async () => {
      await dispose?.();
      await database?.close();
    });

    /** Fills `table` with `fill` (a backlog of BACKLOG rows) with autovacuum off, so its statistics stay stale, and reads inside one transaction. */
    async function withBacklog<T>(table: string, fill: string, params: unknown[], read: (tx: Queryable) => Promise<T>): Promise<{ result: T; read: number }> {
      await database.query(`alter table ${table} set (autovacuum_enabled = false)`);
      for (const statement of fill.split(';\n')) await database.query(statement, statement.includes('$1') ? params : []);
      // The counters also hold this connection's earlier statements not yet reported: count the difference.
      return database.transaction(async (tx) => {
        const before = await rowsRead(tx, table);
        const result = await read(tx);
        return { result, read: (await rowsRead(tx, table)) - before };
      });
    }

    it('the queue claim', async () => {
      const queue = uniqueName('backlog');
      const { result, read } = await withBacklog(
        'edaflow_queue_messages',
        `insert into edaflow_queue_messages (queue, headers, body) select $1, '{}'::jsonb, '\\x00'::bytea from generate_series(1, ${BACKLOG})`,
        [queue],
        (tx) => claimQueue(tx, queue, 10, 60_000),
      );
      expect(result).toHaveLength(10);
      expect(read).toBeLessThan(A_FEW);
    });

    it('the outbox relay\'s read, past rows already sent and rows set aside as dead', async () => {
      const { result, read } = await withBacklog(
        'edaflow_outbox',
        // Sent rows are deleted: the relay's own churn.
        `insert into edaflow_outbox (envelope, dead_at) select jsonb_build_object('n', n), case when n between ${BACKLOG} + 1 and ${BACKLOG} + 100 then now() end from generate_series(1, 2 * ${BACKLOG}) as n;
         delete from edaflow_outbox where (envelope->>'n')::int <= ${BACKLOG}`,
        [],
        (tx) => readPendingRows(tx, 100), // the relay's batch
      );
      expect(result.map((row) => (row.envelope as unknown as { n: number }).n)).toEqual(Array.from({ length: 100 }, (_, i) => BACKLOG + 101 + i));
      expect(read).toBeLessThan(A_FEW);
    });

    it('the saga activity claim, past activities already done', async () => {
      const instance = uniqueName('instance');
      const { result, read } = await withBacklog(
        'edaflow_saga_activities',
        `insert into edaflow_saga_activities (idempotency_key, instance_id, step, compensation, round, activity, status, input, retry, next_attempt_at)
         select '${instance}:' || n, '${instance}', 'step' || n, false, 0, 'charge', 'pending', '{}'::jsonb, '{}'::jsonb, now() - interval '1 hour' + n * interval '1 ms'
         from generate_series(1, 2 * ${BACKLOG}) as n;
         update edaflow_saga_activities set status = 'done' where instance_id = '${instance}' and split_part(step, 'p', 2)::int <= ${BACKLOG}`,
        [],
        (tx) => claimActivities(tx, 100, 60_000), // a worker with activityConcurrency: 100
      );
      expect(result.map((row) => row.step).sort()).toEqual(Array.from({ length: 100 }, (_, i) => `step${BACKLOG + 1 + i}`).sort());
      expect(read).toBeLessThan(A_FEW);
    });
  });
}
