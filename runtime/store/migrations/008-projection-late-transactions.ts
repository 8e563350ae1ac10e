import type { Migration } from './migration.js';

/**
 * A projection's checkpoint also names the transactions that were still running below its position
 * when it passed them (`late`: transaction id → position of its last event read), so its reader never
 * waits for a long transaction on the server (see runtime/store/commit-cursor.ts).
 */
export const migration: Migration = {
  id: '008-projection-late-transactions',
  statements: [`alter table edaflow_projection_checkpoints add column if not exists late jsonb not null default '{}'::jsonb`],
};
