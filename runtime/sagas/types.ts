import type { RetryPolicy } from '../definitions/index.js';
import type { Envelope } from '../envelope/index.js';

/** Events the runtime itself delivers to a saga instance, besides the broker's messages. */
export const TIMER_FIRED = 'edaflow.timer';
export const ACTIVITY_DONE = 'edaflow.activity.done';
export const ACTIVITY_FAILED = 'edaflow.activity.failed';
/** An operator's `retry` of a stuck compensation. */
export const RETRY_COMPENSATION = 'edaflow.retry';

/** A durable timer fell due. Delivered only while the timer is still scheduled (see SagaEffect `schedule`). */
export interface TimerFired {
  readonly type: typeof TIMER_FIRED;
  readonly timer: string;
}

/** Which invocation an activity outcome answers: it echoes the `invoke` effect's fields. */
export interface ActivityOutcome {
  readonly activity: string;
  readonly step?: string;
  readonly compensation?: boolean;
}

export interface ActivityDone extends ActivityOutcome {
  readonly type: typeof ACTIVITY_DONE;
  readonly result: unknown;
}

/** The activity failed every attempt of its retry policy. */
export interface ActivityFailed extends ActivityOutcome {
  readonly type: typeof ACTIVITY_FAILED;
  readonly error: string;
}

export interface RetryCompensation {
  readonly type: typeof RETRY_COMPENSATION;
}

export type RuntimeEvent = TimerFired | ActivityDone | ActivityFailed | RetryCompensation;

/** What advances a saga: a message (a CloudEvents envelope) or one of the runtime's own events. */
export type SagaEvent = Envelope | RuntimeEvent;

/**
 * A side effect a transition asks for. Nothing runs inside XState: the durable runtime carries these
 * out in the transaction that stores the new snapshot (outbox rows, timer rows, activity jobs).
 */
export type SagaEffect =
  | { readonly kind: 'send'; readonly command: string; readonly data: unknown }
  | { readonly kind: 'emit'; readonly event: string; readonly data: unknown }
  | InvokeEffect
  /**
   * Start (or restart: replace) the instance's timer of this name, due `delayMs` after the transition.
   * Timer names are unique per instance; a timer event is delivered only while its row exists, so a
   * `cancel` in the same transaction as a state's exit makes a late firing impossible.
   */
  | { readonly kind: 'schedule'; readonly timer: string; readonly delayMs: number }
  | { readonly kind: 'cancel'; readonly timer: string };

/** Call a typed activity; its outcome comes back as an `edaflow.activity.done` / `.failed` event. */
export interface InvokeEffect {
  readonly kind: 'invoke';
  readonly activity: string;
  /** The step (steps form) or state (machine form) that invoked it. */
  readonly step: string;
  readonly compensation: boolean;
  /** The saga's context when it was invoked (the activity's `input.context`). */
  readonly context: Readonly<Record<string, unknown>>;
  /** The message that led to it, when a message did (the activity's `input.message`). */
  readonly message?: Envelope;
  readonly retry: RetryPolicy;
  /** The step's deadline, also scheduled as a timer: an attempt running past it should be aborted. */
  readonly timeoutMs?: number;
}

/**
 * `running` and `compensating` wait for events; `stuck` waits for an operator (a compensation failed
 * every attempt); `completed` and `failed` are final.
 */
export type SagaStatus = 'running' | 'compensating' | 'stuck' | 'completed' | 'failed';

/** A snapshot as stored: plain JSON (XState's persisted snapshot), restorable by `step`. */
export type PersistedSagaSnapshot = Readonly<Record<string, unknown>> & { readonly value: unknown; readonly context: SagaContext };

/** The instance's data. `$saga` is edaflow's own bookkeeping (completed steps, failure, stuck compensation). */
export type SagaContext = Readonly<Record<string, unknown>> & { readonly $saga?: SagaBookkeeping };

export interface SagaBookkeeping {
  /** Steps that completed, in order (steps form): the ones a failure compensates. */
  readonly completed: readonly string[];
  /** Completed steps whose compensation has run. */
  readonly compensated?: readonly string[];
  readonly failure?: SagaFailure;
  /** A compensation that failed every attempt; the saga is `stuck` until `edaflow.retry`. */
  readonly stuck?: { readonly step: string; readonly error: string };
}

export interface SagaFailure {
  readonly reason: string;
  /** The step that failed, when one did (not for the whole-saga timeout). */
  readonly step?: string;
}

/** What one transition produced. */
export interface SagaStepResult {
  readonly snapshot: PersistedSagaSnapshot;
  /** The current state's name. */
  readonly state: string;
  readonly context: SagaContext;
  readonly status: SagaStatus;
  readonly effects: readonly SagaEffect[];
  /** False when the event matched no transition: nothing changed and there are no effects. */
  readonly changed: boolean;
}
