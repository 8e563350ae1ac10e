import type { HandlerFunctions } from '../../host/handlers-module.js';
import type { Database } from '../../store/database.js';
import { retryDelay, shouldRetry } from '../../pipeline/retry.js';
import { ACTIVITY_DONE, ACTIVITY_FAILED, type SagaEvent } from '../types.js';
import { claimActivities, finishActivity, msUntilNextActivity, retryActivityLater, type ActivityRow } from './activity-rows.js';
import { applyEvent, inTransaction, type TransitionContext } from './advance.js';
import { lockInstanceById } from './instances.js';

/** What an activity function receives (definitions/generated: ActivityInput, ActivityContext). */
type ActivityFunction = (
  input: { readonly sagaId: string; readonly context: Readonly<Record<string, unknown>>; readonly message?: unknown },
  context: { readonly idempotencyKey: string; readonly attempt: number; readonly signal: AbortSignal },
) => Promise<unknown>;

export interface ActivityWorkerOptions {
  readonly database: Database;
  readonly transitions: TransitionContext;
  readonly functions: HandlerFunctions;
  /** Invocations run at once by this process. */
  readonly concurrency: number;
  /** How long a claimed invocation is this process's before another may take it over (at least its timeout). */
  readonly leaseMs: number;
}

/**
 * Runs the recorded `invoke`s. Each runs only after the transition that recorded it committed (it is
 * read from the table), with its idempotency key; a failed attempt is retried per the effect's policy;
 * the outcome is recorded and fed back to the instance in one transaction, so once a completion is
 * recorded the invocation is never claimed again. After a crash, the claims of the dead process run out
 * and the invocations are claimed again (the activity sees the same key, a higher attempt).
 */
export class ActivityWorker {
  private readonly inFlight = new Map<string, AbortController>();
  private stopping = false;

  constructor(private readonly options: ActivityWorkerOptions, private readonly onSettled: () => void) {}

  /** One round: claims what fits in the free slots and starts it; resolves the delay until the next due invocation. */
  async round(): Promise<number | undefined> {
    const free = this.options.concurrency - this.inFlight.size;
    if (free <= 0 || this.stopping) return undefined;
    const claimed = await claimActivities(this.options.database, free, this.options.leaseMs);
    for (const row of claimed) this.launch(row);
    if (claimed.length === free) return 0;
    return msUntilNextActivity(this.options.database);
  }

  /** Aborts what runs; an aborted invocation stays pending and is claimed again, here or elsewhere. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const controller of this.inFlight.values()) controller.abort(new Error('the saga runtime is stopping'));
    while (this.inFlight.size) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private launch(row: ActivityRow): void {
    const controller = new AbortController();
    this.inFlight.set(row.idempotency_key, controller);
    void this.run(row, controller)
      .catch((error: unknown) => this.options.transitions.logger.error({ err: error, activity: row.activity, key: row.idempotency_key }, 'recording an activity outcome failed; it will be retried'))
      .finally(() => {
        this.inFlight.delete(row.idempotency_key);
        this.onSettled();
      });
  }

  private async run(row: ActivityRow, controller: AbortController): Promise<void> {
    const { database, transitions } = this.options;
    const timeout = row.timeout_ms !== null ? setTimeout(() => controller.abort(new Error(`activity ${row.activity} timed out after ${row.timeout_ms} ms`)), row.timeout_ms) : undefined;
    let outcome: { ok: true; result: unknown } | { ok: false; error: string };
    try {
      const activity = this.options.functions[row.activity] as unknown as ActivityFunction | undefined;
      if (typeof activity !== 'function') throw new Error(`the handlers module exports no activity ${row.activity}`);
      const result = await activity(
        { sagaId: row.instance_id, context: row.input.context, ...(row.input.message ? { message: row.input.message } : {}) },
        { idempotencyKey: row.idempotency_key, attempt: row.attempts, signal: controller.signal },
      );
      outcome = { ok: true, result };
    } catch (error) {
      outcome = { ok: false, error: error instanceof Error ? error.message : String(error) };
    } finally {
      clearTimeout(timeout);
    }
    if (this.stopping) {
      // Cut off by the shutdown, not failed: leave it pending for the next claim.
      if (!outcome.ok) return retryActivityLater(database, row.idempotency_key, 0, outcome.error);
    }
    if (!outcome.ok && shouldRetry(row.retry, row.attempts)) {
      transitions.logger.warn({ activity: row.activity, key: row.idempotency_key, attempt: row.attempts, error: outcome.error }, 'activity failed; retrying');
      return retryActivityLater(database, row.idempotency_key, retryDelay(row.retry, row.attempts), outcome.error);
    }
    const base = { activity: row.activity, step: row.step, compensation: row.compensation };
    const event: SagaEvent = outcome.ok ? { type: ACTIVITY_DONE, ...base, result: outcome.result ?? null } : { type: ACTIVITY_FAILED, ...base, error: outcome.error };
    await inTransaction(database, async (tx) => {
      // The instance lock first, as every transition takes it, so the two orders never deadlock.
      const instance = await lockInstanceById(tx, row.instance_id);
      const recorded = await finishActivity(tx, row.idempotency_key, outcome.ok ? { status: 'done', result: outcome.result } : { status: 'failed', error: outcome.error });
      if (!recorded || !instance) return;
      await applyEvent(tx, transitions, instance, event, { type: event.type, id: row.idempotency_key });
    });
  }
}
