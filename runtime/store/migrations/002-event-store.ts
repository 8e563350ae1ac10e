import type { Migration } from './migration.js';

/**
 * The event store (runtime/eventstore), its transactional outbox (runtime/outbox) and leases
 * (runtime/store/leases.ts).
 *
 * Events: one row per event, never updated. `position` is the global order of assignment; each row is
 * stamped with its writing transaction (`pg_current_xact_id()`), so readers of the whole log can stay
 * below the oldest running transaction and read in commit-safe (transaction id, position) order
 * (Emmett's rule). Unique (stream_id, version) is the optimistic-concurrency backstop; unique event_id
 * keeps one event from being stored twice. `metadata` holds the envelope's attributes except data.
 */
export const migration: Migration = {
  id: '002-event-store',
  statements: [
    `create table if not exists edaflow_events (
      position bigserial primary key,
      transaction_id xid8 not null default pg_current_xact_id(),
      stream_id text not null,
      stream_type text,
      version integer not null,
      event_id text not null,
      type text not null,
      data_version integer not null,
      data jsonb not null,
      metadata jsonb not null,
      created_at timestamptz not null default now(),
      constraint edaflow_events_stream_version unique (stream_id, version),
      constraint edaflow_events_event_id unique (event_id)
    )`,
    `create index if not exists edaflow_events_commit_order on edaflow_events (transaction_id, position)`,
    `create table if not exists edaflow_snapshots (
      stream_id text primary key,
      version integer not null,
      state jsonb not null,
      saved_at timestamptz not null default now()
    )`,
    `create table if not exists edaflow_outbox (
      id bigserial primary key,
      envelope jsonb not null,
      created_at timestamptz not null default now(),
      attempts integer not null default 0,
      last_error text,
      dead_at timestamptz
    )`,
    `create table if not exists edaflow_leases (
      name text primary key,
      owner text not null,
      expires_at timestamptz not null
    )`,
  ],
};
