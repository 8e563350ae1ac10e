import type { Migration } from './migration.js';

/**
 * The outbox relay's read and the saga activity claim, as functions planned without bitmap scans,
 * sequential scans or sorts (as the queue claim, migration 009). Both tables fill and empty all day;
 * on stale statistics the planner read every waiting row and sorted them for each read of the first
 * hundred, so a backlog slowed its own draining. The outbox also gets an index of its pending rows:
 * rows set aside as dead stay (for operators) and must not be stepped over by every read. (Built in
 * the migration's transaction, which blocks outbox writes meanwhile: a moment, as dead rows are few.)
 */
export const migration: Migration = {
  id: '010-index-ordered-reads',
  statements: [
    `create index if not exists edaflow_outbox_pending on edaflow_outbox (id) where dead_at is null`,
    `create or replace function edaflow_pending_outbox(max_rows integer) returns table (id bigint, envelope jsonb, attempts integer)
     language sql stable
     set enable_bitmapscan = off set enable_seqscan = off set enable_sort = off set search_path from current
     as $$
       select o.id, o.envelope, o.attempts from edaflow_outbox as o where o.dead_at is null order by o.id limit max_rows
     $$`,
    `create or replace function edaflow_due_saga_activities(max_rows integer) returns setof text
     language sql volatile
     set enable_bitmapscan = off set enable_seqscan = off set enable_sort = off set search_path from current
     as $$
       select idempotency_key from edaflow_saga_activities
       where status = 'pending' and next_attempt_at <= now()
       order by next_attempt_at
       limit max_rows
       for update skip locked
     $$`,
  ],
};
