import type { Migration } from './migration.js';

/**
 * The `postgres` broker (runtime/brokers/postgres). Topics: an append-only log per topic and partition,
 * each row stamped with its writing transaction so readers stay below the oldest running one; per-group
 * positions per partition, leased to one consumer; delivery attempts of unsettled rows. Queues: rows
 * claimed with SKIP LOCKED under a lease, counted attempts, a visibility time for delayed retries.
 */
export const migration: Migration = {
  id: '001-broker',
  statements: [
    `create table if not exists edaflow_topics (
      name text primary key,
      partitions integer not null,
      retention_ms bigint
    )`,
    `create table if not exists edaflow_topic_messages (
      topic text not null,
      partition integer not null,
      position bigserial not null,
      transaction_id xid8 not null default pg_current_xact_id(),
      key text,
      headers jsonb not null,
      body bytea not null,
      created_at timestamptz not null default now(),
      primary key (topic, partition, transaction_id, position)
    )`,
    `create table if not exists edaflow_topic_groups (
      topic text not null,
      group_name text not null,
      partition integer not null,
      last_transaction_id xid8 not null default '0',
      last_position bigint not null default 0,
      owner text,
      leased_until timestamptz,
      primary key (topic, group_name, partition)
    )`,
    `create table if not exists edaflow_topic_attempts (
      topic text not null,
      group_name text not null,
      partition integer not null,
      transaction_id xid8 not null,
      position bigint not null,
      attempts integer not null,
      primary key (topic, group_name, partition, transaction_id, position)
    )`,
    `create table if not exists edaflow_queues (
      name text primary key,
      declared boolean not null,
      message_ttl_ms bigint,
      dead_letter text,
      max_deliveries integer
    )`,
    `create table if not exists edaflow_queue_messages (
      id bigserial primary key,
      queue text not null,
      key text,
      headers jsonb not null,
      body bytea not null,
      created_at timestamptz not null default now(),
      visible_at timestamptz not null default now(),
      leased_until timestamptz,
      attempts integer not null default 0
    )`,
    `create index if not exists edaflow_queue_messages_ready on edaflow_queue_messages (queue, visible_at, id)`,
  ],
};
