import { EdaflowError } from '../../errors/index.js';
import type { Queryable } from '../../store/database.js';
import type { SagaContext, SagaStatus } from '../types.js';

/** One line of `edaflow sagas list`. */
export interface InstanceSummary {
  readonly id: string;
  readonly saga: string;
  readonly status: SagaStatus;
  readonly state: string;
  readonly updatedAt: string;
}

export interface InstanceDetail extends InstanceSummary {
  readonly correlationKey: string;
  readonly version: number;
  readonly createdAt: string;
  readonly context: SagaContext;
  readonly history: readonly { readonly at: string; readonly from: string | null; readonly to: string; readonly status: string; readonly event: string; readonly eventId: string | null }[];
  readonly timers: readonly { readonly name: string; readonly fireAt: string }[];
  readonly activities: readonly { readonly key: string; readonly activity: string; readonly status: string; readonly attempts: number; readonly error: string | null }[];
}

const iso = (value: unknown): string => (value instanceof Date ? value.toISOString() : String(value));

/** Newest first; `statuses` narrows to those statuses. */
export async function listInstances(db: Queryable, options: { statuses?: readonly string[]; limit?: number } = {}): Promise<InstanceSummary[]> {
  const statuses = options.statuses?.length ? options.statuses : null;
  const { rows } = await db.query<{ id: string; saga: string; status: SagaStatus; state: string; updated_at: unknown }>(
    `select id, saga, status, state, updated_at from edaflow_saga_instances
      where $1::text[] is null or status = any($1::text[]) order by updated_at desc, id limit $2`,
    [statuses, options.limit ?? 1000],
  );
  return rows.map((row) => ({ id: row.id, saga: row.saga, status: row.status, state: row.state, updatedAt: iso(row.updated_at) }));
}

export async function showInstance(db: Queryable, id: string): Promise<InstanceDetail> {
  const { rows } = await db.query<{ id: string; saga: string; status: SagaStatus; state: string; correlation_key: string; version: number; created_at: unknown; updated_at: unknown; snapshot: { context: SagaContext } }>(
    'select id, saga, status, state, correlation_key, version, created_at, updated_at, snapshot from edaflow_saga_instances where id = $1',
    [id],
  );
  const row = rows[0];
  if (!row) throw new EdaflowError('EDA_SAGA_NOT_FOUND', `no saga instance ${id}`, { details: { id } });
  const history = await db.query<{ at: unknown; from_state: string | null; to_state: string; status: string; event_type: string; event_id: string | null }>(
    'select at, from_state, to_state, status, event_type, event_id from edaflow_saga_history where instance_id = $1 order by id',
    [id],
  );
  const timers = await db.query<{ name: string; fire_at: unknown }>('select name, fire_at from edaflow_saga_timers where instance_id = $1 order by fire_at', [id]);
  const activities = await db.query<{ idempotency_key: string; activity: string; status: string; attempts: number; error: string | null }>(
    'select idempotency_key, activity, status, attempts, error from edaflow_saga_activities where instance_id = $1 order by created_at',
    [id],
  );
  return {
    id: row.id,
    saga: row.saga,
    status: row.status,
    state: row.state,
    correlationKey: row.correlation_key,
    version: row.version,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    context: row.snapshot.context,
    history: history.rows.map((entry) => ({ at: iso(entry.at), from: entry.from_state, to: entry.to_state, status: entry.status, event: entry.event_type, eventId: entry.event_id })),
    timers: timers.rows.map((timer) => ({ name: timer.name, fireAt: iso(timer.fire_at) })),
    activities: activities.rows.map((activity) => ({ key: activity.idempotency_key, activity: activity.activity, status: activity.status, attempts: activity.attempts, error: activity.error })),
  };
}
