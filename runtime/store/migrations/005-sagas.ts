import type { Migration } from './migration.js';

/**
 * Durable saga instances (runtime/sagas/runtime). An instance row is locked (`for update`) by every
 * transaction that advances it, so two messages for one instance never both commit; `version` counts
 * its transitions. The inbox makes a redelivered message change nothing twice; timers carry an absolute
 * fire time (claimed with `skip locked`); activities record each `invoke` before it runs and its result
 * in the transaction that feeds it back, so a completed step is never invoked again. A message that
 * matches no instance is kept in `edaflow_saga_unmatched`, not dropped.
 */
export const migration: Migration = {
  id: '005-sagas',
  statements: [
    `create table if not exists edaflow_saga_instances (
      id text primary key,
      saga text not null,
      correlation_key text not null,
      correlation_id text not null,
      status text not null,
      state text not null,
      snapshot jsonb not null,
      fingerprint text not null,
      version integer not null default 1,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      unique (saga, correlation_key)
    )`,
    `create index if not exists edaflow_saga_instances_status on edaflow_saga_instances (status, saga)`,
    `create table if not exists edaflow_saga_history (
      id bigserial primary key,
      instance_id text not null,
      version integer not null,
      from_state text,
      to_state text not null,
      status text not null,
      event_type text not null,
      event_id text,
      at timestamptz not null default now()
    )`,
    `create index if not exists edaflow_saga_history_instance on edaflow_saga_history (instance_id, id)`,
    `create table if not exists edaflow_saga_inbox (
      saga text not null,
      message_id text not null,
      instance_id text,
      received_at timestamptz not null default now(),
      primary key (saga, message_id)
    )`,
    `create table if not exists edaflow_saga_timers (
      instance_id text not null,
      name text not null,
      fire_at timestamptz not null,
      primary key (instance_id, name)
    )`,
    `create index if not exists edaflow_saga_timers_due on edaflow_saga_timers (fire_at)`,
    `create table if not exists edaflow_saga_activities (
      idempotency_key text primary key,
      instance_id text not null,
      step text not null,
      compensation boolean not null,
      round integer not null,
      activity text not null,
      status text not null,
      attempts integer not null default 0,
      input jsonb not null,
      retry jsonb not null,
      timeout_ms integer,
      result jsonb,
      error text,
      next_attempt_at timestamptz not null default now(),
      created_at timestamptz not null default now(),
      completed_at timestamptz,
      unique (instance_id, step, compensation, round)
    )`,
    `create index if not exists edaflow_saga_activities_pending on edaflow_saga_activities (next_attempt_at) where status = 'pending'`,
    `create table if not exists edaflow_saga_unmatched (
      saga text not null,
      message_id text not null,
      type text not null,
      correlation_key text,
      envelope jsonb not null,
      received_at timestamptz not null default now(),
      primary key (saga, message_id)
    )`,
  ],
};
