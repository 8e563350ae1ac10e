import type { Migration } from './migration.js';

/**
 * The lookup of a queue claim (runtime/brokers/postgres/claim-queue.ts) as a function planned with
 * bitmap scans, sequential scans and sorts off. On a queue table whose statistics are stale (a burst
 * into a new queue, before autovacuum has analyzed it) the planner estimated a handful of ready rows
 * and chose a bitmap scan and a sort of every waiting message, so each claim read the whole backlog
 * (9.7 ms with 20,000 waiting, and growing) instead of the index's first rows (0.2 ms). A function's
 * SET holds only while it runs; its search_path is the schema it was made in (the tables' schema).
 */
export const migration: Migration = {
  id: '009-queue-claim-plan',
  statements: [
    `create or replace function edaflow_ready_queue_messages(queue_name text, max_rows integer) returns setof bigint
     language sql volatile
     set enable_bitmapscan = off set enable_seqscan = off set enable_sort = off set search_path from current
     as $$
       select id from edaflow_queue_messages
       where queue = queue_name and visible_at <= now() and (leased_until is null or leased_until <= now())
       order by visible_at, id
       limit max_rows
       for update skip locked
     $$`,
  ],
};
