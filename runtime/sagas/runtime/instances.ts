import type { Envelope } from '../../envelope/index.js';
import type { Queryable } from '../../store/database.js';
import type { PersistedSagaSnapshot, SagaStatus, SagaStepResult } from '../types.js';

/*
 * The SQL of saga instances, one function per operation (tables: migration 005-sagas). Every function
 * runs in the caller's transaction; the instance row lock taken by `lockInstance*` is what serializes
 * the transitions of one instance across processes.
 */

export interface InstanceRow {
  readonly id: string;
  readonly saga: string;
  readonly correlation_key: string;
  readonly correlation_id: string;
  readonly status: SagaStatus;
  readonly state: string;
  readonly snapshot: PersistedSagaSnapshot;
  readonly version: number;
  /** Seconds since the instance's last transition (by the database's clock, at this transaction's start). */
  readonly idle_seconds: number;
}

const INSTANCE_COLUMNS = 'id, saga, correlation_key, correlation_id, status, state, snapshot, version, extract(epoch from (now() - updated_at))::float8 as idle_seconds';

/** Records a message id for a saga; false when it was recorded before (a redelivery). */
export async function recordInbox(tx: Queryable, saga: string, messageId: string): Promise<boolean> {
  const { affectedRows } = await tx.query('insert into edaflow_saga_inbox (saga, message_id) values ($1, $2) on conflict do nothing', [saga, messageId]);
  return affectedRows > 0;
}

export async function linkInbox(tx: Queryable, saga: string, messageId: string, instanceId: string): Promise<void> {
  await tx.query('update edaflow_saga_inbox set instance_id = $3 where saga = $1 and message_id = $2', [saga, messageId, instanceId]);
}

export async function lockInstanceByKey(tx: Queryable, saga: string, correlationKey: string): Promise<InstanceRow | undefined> {
  const { rows } = await tx.query<InstanceRow>(`select ${INSTANCE_COLUMNS} from edaflow_saga_instances where saga = $1 and correlation_key = $2 for update`, [saga, correlationKey]);
  return rows[0];
}

/** `skipLocked`: undefined when another transaction holds the row (the timer poller moves on). */
export async function lockInstanceById(tx: Queryable, id: string, options: { skipLocked?: boolean } = {}): Promise<InstanceRow | undefined> {
  const { rows } = await tx.query<InstanceRow>(`select ${INSTANCE_COLUMNS} from edaflow_saga_instances where id = $1 for update${options.skipLocked ? ' skip locked' : ''}`, [id]);
  return rows[0];
}

/** Inserts a new instance; undefined when one with this correlation key exists (a concurrent start won). */
export async function insertInstance(
  tx: Queryable,
  instance: { id: string; saga: string; correlationKey: string; correlationId: string; fingerprint: string },
  result: SagaStepResult,
): Promise<InstanceRow | undefined> {
  const { rows } = await tx.query<InstanceRow>(
    `insert into edaflow_saga_instances (id, saga, correlation_key, correlation_id, status, state, snapshot, fingerprint)
     values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (saga, correlation_key) do nothing returning ${INSTANCE_COLUMNS}`,
    [instance.id, instance.saga, instance.correlationKey, instance.correlationId, result.status, result.state, JSON.stringify(result.snapshot), instance.fingerprint],
  );
  return rows[0];
}

/** Stores a transition of a locked instance; the version check is a second guard besides the lock. */
export async function updateInstance(tx: Queryable, instance: InstanceRow, result: SagaStepResult): Promise<void> {
  const { affectedRows } = await tx.query(
    `update edaflow_saga_instances set status = $3, state = $4, snapshot = $5, version = version + 1, updated_at = now() where id = $1 and version = $2`,
    [instance.id, instance.version, result.status, result.state, JSON.stringify(result.snapshot)],
  );
  if (affectedRows !== 1) throw new Error(`saga instance ${instance.id} changed under its lock (version ${instance.version})`);
}

export async function insertHistory(
  tx: Queryable,
  entry: { instanceId: string; version: number; from: string | undefined; to: string; status: SagaStatus; eventType: string; eventId: string | undefined },
): Promise<void> {
  await tx.query(
    'insert into edaflow_saga_history (instance_id, version, from_state, to_state, status, event_type, event_id) values ($1, $2, $3, $4, $5, $6, $7)',
    [entry.instanceId, entry.version, entry.from ?? null, entry.to, entry.status, entry.eventType, entry.eventId ?? null],
  );
}

export async function recordUnmatched(tx: Queryable, saga: string, envelope: Envelope, correlationKey: string | undefined): Promise<void> {
  await tx.query(
    'insert into edaflow_saga_unmatched (saga, message_id, type, correlation_key, envelope) values ($1, $2, $3, $4, $5) on conflict do nothing',
    [saga, envelope.id, envelope.type, correlationKey ?? null, JSON.stringify(envelope)],
  );
}

/** Starts or restarts (replaces) a timer, due `delayMs` from now on the database's clock. */
export async function scheduleTimer(tx: Queryable, instanceId: string, name: string, delayMs: number): Promise<void> {
  await tx.query(
    `insert into edaflow_saga_timers (instance_id, name, fire_at) values ($1, $2, now() + make_interval(secs => $3::double precision / 1000))
     on conflict (instance_id, name) do update set fire_at = excluded.fire_at`,
    [instanceId, name, delayMs],
  );
}

export async function cancelTimer(tx: Queryable, instanceId: string, name: string): Promise<void> {
  await tx.query('delete from edaflow_saga_timers where instance_id = $1 and name = $2', [instanceId, name]);
}

/** An instance ended: its timers are deleted and its invocations still pending are never run (their outcome could change nothing). */
export async function releaseEndedInstance(tx: Queryable, instanceId: string): Promise<void> {
  await tx.query('delete from edaflow_saga_timers where instance_id = $1', [instanceId]);
  await tx.query("update edaflow_saga_activities set status = 'cancelled', completed_at = now() where instance_id = $1 and status = 'pending'", [instanceId]);
}

/** Deletes a timer if it is (still) due; false when it was cancelled or rescheduled meanwhile. */
export async function takeDueTimer(tx: Queryable, instanceId: string, name: string): Promise<boolean> {
  const { affectedRows } = await tx.query('delete from edaflow_saga_timers where instance_id = $1 and name = $2 and fire_at <= now()', [instanceId, name]);
  return affectedRows > 0;
}

export async function dueTimers(db: Queryable, limit: number): Promise<{ instance_id: string; name: string }[]> {
  const { rows } = await db.query<{ instance_id: string; name: string }>('select instance_id, name from edaflow_saga_timers where fire_at <= now() order by fire_at limit $1', [limit]);
  return rows;
}

/** Milliseconds until the earliest timer is due (undefined: none). */
export async function msUntilNextTimer(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ ms: number | string | null }>('select extract(epoch from (min(fire_at) - now())) * 1000 as ms from edaflow_saga_timers');
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Math.max(0, Number(ms));
}
