import type { RetryPolicy } from '../../definitions/index.js';
import type { Envelope } from '../../envelope/index.js';
import type { Queryable } from '../../store/database.js';
import type { InvokeEffect } from '../types.js';

/** One recorded `invoke`: pending until its outcome is fed back to the instance, then done or failed. */
export interface ActivityRow {
  readonly idempotency_key: string;
  readonly instance_id: string;
  readonly step: string;
  readonly compensation: boolean;
  readonly activity: string;
  readonly attempts: number;
  readonly input: { readonly context: Readonly<Record<string, unknown>>; readonly message?: Envelope };
  readonly retry: RetryPolicy;
  readonly timeout_ms: number | null;
}

/**
 * Records an invocation in the transition's transaction. Its idempotency key names the instance, the
 * step, compensation or not, and (from the second time the same step is invoked, e.g. a compensation
 * retried by an operator) the round: stable across the attempts of one invocation.
 */
export async function insertActivity(tx: Queryable, instanceId: string, effect: InvokeEffect): Promise<string> {
  const { rows } = await tx.query<{ round: number }>(
    'select coalesce(max(round), 0) + 1 as round from edaflow_saga_activities where instance_id = $1 and step = $2 and compensation = $3',
    [instanceId, effect.step, effect.compensation],
  );
  const round = Number(rows[0]!.round);
  const key = [instanceId, effect.step, ...(effect.compensation ? ['compensate'] : []), ...(round > 1 ? [String(round)] : [])].join(':');
  const input = { context: effect.context, ...(effect.message ? { message: effect.message } : {}) };
  await tx.query(
    `insert into edaflow_saga_activities (idempotency_key, instance_id, step, compensation, round, activity, status, input, retry, timeout_ms)
     values ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9)`,
    [key, instanceId, effect.step, effect.compensation, round, effect.activity, JSON.stringify(input), JSON.stringify(effect.retry), effect.timeoutMs ?? null],
  );
  return key;
}

/**
 * Claims up to `limit` due invocations for this process: counts the attempt and pushes the next
 * attempt out by the lease, so a process that dies mid-call leaves it to be claimed again once the
 * lease runs out (`skip locked`: two processes never claim the same row at once). The due rows are
 * found by `edaflow_due_saga_activities` (migration 010: from the index, whatever the statistics say).
 */
export async function claimActivities(db: Queryable, limit: number, leaseMs: number): Promise<ActivityRow[]> {
  const { rows } = await db.query<ActivityRow>(
    `update edaflow_saga_activities a
        set attempts = a.attempts + 1,
            next_attempt_at = now() + make_interval(secs => greatest(coalesce(a.timeout_ms, 0), $2::integer)::double precision / 1000)
      where a.idempotency_key = any (array(select edaflow_due_saga_activities($1)))
      returning a.idempotency_key, a.instance_id, a.step, a.compensation, a.activity, a.attempts, a.input, a.retry, a.timeout_ms`,
    [limit, leaseMs],
  );
  return rows;
}

/** Moves a failed attempt's retry to `delayMs` from now, keeping its error for `sagas show`. */
export async function retryActivityLater(db: Queryable, key: string, delayMs: number, error: string): Promise<void> {
  await db.query(
    `update edaflow_saga_activities set next_attempt_at = now() + make_interval(secs => $2::double precision / 1000), error = $3
      where idempotency_key = $1 and status = 'pending'`,
    [key, delayMs, error],
  );
}

/** Records the outcome; false when it was recorded already (another process finished it first). */
export async function finishActivity(tx: Queryable, key: string, outcome: { status: 'done'; result: unknown } | { status: 'failed'; error: string }): Promise<boolean> {
  const { affectedRows } = await tx.query(
    `update edaflow_saga_activities set status = $2, result = $3, error = $4, completed_at = now() where idempotency_key = $1 and status = 'pending'`,
    [key, outcome.status, outcome.status === 'done' ? JSON.stringify(outcome.result ?? null) : null, outcome.status === 'failed' ? outcome.error : null],
  );
  return affectedRows > 0;
}

/** Milliseconds until the earliest pending invocation is due (undefined: none). */
export async function msUntilNextActivity(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ ms: number | string | null }>(
    `select extract(epoch from (min(next_attempt_at) - now())) * 1000 as ms from edaflow_saga_activities where status = 'pending'`,
  );
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Math.max(0, Number(ms));
}
