import type { Queryable } from '../database.js';
import { migration as broker } from './001-broker.js';
import { migration as eventStore } from './002-event-store.js';
import { migration as projections } from './003-projections.js';
import { migration as http } from './004-http.js';
import { migration as sagas } from './005-sagas.js';
import { migration as streams } from './006-streams.js';
import { migration as topicLateTransactions } from './007-topic-late-transactions.js';
import { migration as projectionLateTransactions } from './008-projection-late-transactions.js';
import { migration as queueClaimPlan } from './009-queue-claim-plan.js';
import { migration as indexOrderedReads } from './010-index-ordered-reads.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

/** Every migration, in order. Add a file per change; never edit one that has shipped. */
export const MIGRATIONS: readonly Migration[] = [broker, eventStore, projections, http, sagas, streams, topicLateTransactions, projectionLateTransactions, queueClaimPlan, indexOrderedReads];

interface Migratable {
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
}

/**
 * Applies the migrations not yet recorded in `edaflow_migrations`, in one transaction. An advisory lock
 * makes processes starting together take turns (concurrent `create table if not exists` can collide).
 */
export async function migrate(database: Migratable, migrations: readonly Migration[] = MIGRATIONS): Promise<string[]> {
  return database.transaction(async (tx) => {
    await tx.query(`select pg_advisory_xact_lock(hashtext('edaflow_migrations'))`);
    await tx.query(`create table if not exists edaflow_migrations (id text primary key, applied_at timestamptz not null default now())`);
    const { rows } = await tx.query<{ id: string }>('select id from edaflow_migrations');
    const applied = new Set(rows.map((row) => row.id));
    const pending = migrations.filter((migration) => !applied.has(migration.id));
    for (const migration of pending) {
      for (const statement of migration.statements) await tx.query(statement);
      await tx.query('insert into edaflow_migrations (id) values ($1)', [migration.id]);
    }
    return pending.map((migration) => migration.id);
  });
}
