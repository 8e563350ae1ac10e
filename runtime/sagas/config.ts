import type { RetryPolicy } from '../definitions/index.js';

/*
 * The machine a saga compiles to, as plain data: XState v5 config whose every guard is
 * `{ type: 'check', params: Condition }` and every action `{ type: 'effect' | 'update', params }`.
 * Plain data is what `edaflow graph` draws and what tests inspect; machine.ts gives it behaviour.
 */

/** A side effect to record, its templates not yet evaluated (they are, after the transition). */
export type EffectSpec =
  | { readonly kind: 'send'; readonly command: string; readonly data?: unknown }
  | { readonly kind: 'emit'; readonly event: string; readonly data?: unknown }
  | { readonly kind: 'invoke'; readonly activity: string; readonly step: string; readonly compensation: boolean; readonly retry: RetryPolicy; readonly timeoutMs?: number }
  | { readonly kind: 'schedule'; readonly timer: string; readonly delayMs: number }
  | { readonly kind: 'cancel'; readonly timer: string };

/** A change to the context, applied inside the transition (XState `assign`). */
export type ContextUpdate =
  /** The DSL's `assign`: a template merged into the context. */
  | { readonly kind: 'assign'; readonly template: Readonly<Record<string, unknown>> }
  /** A step completed; `keep` stores the reply's data or the activity's result under the step's name. */
  | { readonly kind: 'completeStep'; readonly step: string; readonly keep?: 'data' | 'result' }
  /** `reason` absent: derived from the event (a failure reply, a failed activity). */
  | { readonly kind: 'fail'; readonly step?: string; readonly reason?: string }
  | { readonly kind: 'compensated'; readonly step: string }
  | { readonly kind: 'stuck'; readonly step: string }
  | { readonly kind: 'unstuck' }
  /** Machine form: an activity's result lands in `context.<activity name>`. */
  | { readonly kind: 'activityResult' };

export type Condition =
  | { readonly kind: 'when'; readonly expression: string }
  /** `label` is how the diagram names it, e.g. `after 10d`. */
  | { readonly kind: 'timer'; readonly timer: string; readonly label: string }
  | { readonly kind: 'activity'; readonly step: string; readonly compensation: boolean }
  /** The step completed and has not been compensated yet. */
  | { readonly kind: 'needsCompensation'; readonly step: string }
  | { readonly kind: 'stuck' }
  | { readonly kind: 'all'; readonly conditions: readonly Condition[] };

export type SagaAction = { readonly type: 'effect'; readonly params: EffectSpec } | { readonly type: 'update'; readonly params: ContextUpdate };

export interface SagaTransition {
  readonly target?: string;
  readonly guard?: { readonly type: 'check'; readonly params: Condition };
  readonly actions?: readonly SagaAction[];
  readonly reenter?: boolean;
}

export interface SagaStateConfig {
  readonly type?: 'final';
  readonly entry?: readonly SagaAction[];
  readonly exit?: readonly SagaAction[];
  readonly on?: Readonly<Record<string, readonly SagaTransition[]>>;
  readonly always?: readonly SagaTransition[];
}

export interface SagaMachineConfig {
  readonly id: string;
  readonly initial: string;
  readonly entry?: readonly SagaAction[];
  /** Transitions of the whole machine (targets are `.state`), tried after the current state's. */
  readonly on?: Readonly<Record<string, readonly SagaTransition[]>>;
  readonly states: Readonly<Record<string, SagaStateConfig>>;
}

export const effect = (params: EffectSpec): SagaAction => ({ type: 'effect', params });
export const update = (params: ContextUpdate): SagaAction => ({ type: 'update', params });
export const guard = (params: Condition): NonNullable<SagaTransition['guard']> => ({ type: 'check', params });

/** Both conditions (either may be absent). */
export function both(first: Condition | undefined, second: Condition | undefined): Condition | undefined {
  if (!first) return second;
  if (!second) return first;
  return { kind: 'all', conditions: [first, second] };
}
