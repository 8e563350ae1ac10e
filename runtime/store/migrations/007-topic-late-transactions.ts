import type { Migration } from './migration.js';

/**
 * A postgres-broker group's position in a partition also names the transactions that were still
 * running below it when it moved past them (`late`: transaction id → the position of its last row
 * read). Their rows, once committed, are read then, so one long transaction anywhere on the server
 * no longer holds every topic reader back (see runtime/store/commit-cursor.ts).
 */
export const migration: Migration = {
  id: '007-topic-late-transactions',
  statements: [`alter table edaflow_topic_groups add column if not exists late jsonb not null default '{}'::jsonb`],
};
