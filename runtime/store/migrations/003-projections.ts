import type { Migration } from './migration.js';

/**
 * Projections: each projection's checkpoint (the last global event position it applied, or for a
 * projection fed from a topic the number of messages it applied), written in the same transaction as
 * its rows; and the inbox of message ids a topic-fed projection has applied, so a redelivered message
 * changes nothing twice.
 */
export const migration: Migration = {
  id: '003-projections',
  statements: [
    `create table if not exists edaflow_projection_checkpoints (
      name text primary key,
      position bigint not null default 0,
      updated_at timestamptz not null default now()
    )`,
    `create table if not exists edaflow_inbox (
      consumer text not null,
      message_id text not null,
      received_at timestamptz not null default now(),
      primary key (consumer, message_id)
    )`,
    `create index if not exists edaflow_inbox_received on edaflow_inbox (consumer, received_at)`,
  ],
};
