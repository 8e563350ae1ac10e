import type { Migration } from './migration.js';

/**
 * Stream state (runtime/streams). One task row per stream holds its stream time, its fencing epoch
 * (bumped by each process that takes the stream's lease over; every transaction of the holder locks
 * the row and checks it, so a process that lost the lease can never commit again) and its counters.
 * The records a stream keeps — join buffers, the records of open windows — are rows of
 * `edaflow_stream_records`, added and removed in the transaction that handles the input message, with
 * its inbox row (`edaflow_inbox`, consumer `stream:<name>`) and its outputs (the outbox). Each input
 * topic's count of handled messages is the stream's position on it.
 */
export const migration: Migration = {
  id: '006-streams',
  statements: [
    `create table if not exists edaflow_stream_tasks (
      stream text primary key,
      epoch bigint not null default 0,
      owner text,
      stream_time bigint,
      handled bigint not null default 0,
      emitted bigint not null default 0,
      dropped jsonb not null default '{}'::jsonb,
      updated_at timestamptz not null default now()
    )`,
    `create table if not exists edaflow_stream_positions (
      stream text not null,
      topic text not null,
      handled bigint not null default 0,
      primary key (stream, topic)
    )`,
    `create table if not exists edaflow_stream_records (
      stream text not null,
      buffer_id text not null,
      side text not null,
      key text not null,
      time_ms bigint not null,
      matched boolean not null default false,
      envelope jsonb not null,
      primary key (stream, buffer_id)
    )`,
  ],
};
