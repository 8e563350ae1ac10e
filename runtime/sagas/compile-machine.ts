import { formatDuration, parseDuration, type Document, type RetryPolicy } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import { both, effect, guard, update, type Condition, type SagaAction, type SagaMachineConfig, type SagaStateConfig, type SagaTransition } from './config.js';
import { SAGA_TIMER } from './compile-steps.js';
import { ACTIVITY_DONE, ACTIVITY_FAILED, TIMER_FIRED } from './types.js';

type MachineSpec = NonNullable<Document.SagaDefinition['machine']>;
type StateSpec = NonNullable<MachineSpec['states'][string]>;
type ActionSpec = NonNullable<StateSpec['entry']>[number];
type TransitionSpec = NonNullable<StateSpec['always']>;
type TransitionItem = string | Exclude<TransitionSpec, string | unknown[]>;

/** Where the machine form goes when the saga times out or an activity fails: the user's `failed`, or one we add. */
export const MACHINE_FAILED = 'failed';

/**
 * The `machine` form as XState config. What differs from writing XState by hand:
 * - `when` is a JSONata guard over the context and the event; `assign` a template merged into the
 *   context, applied before the transition's `actions`;
 * - `send`, `emit` and `invoke` are recorded effects, never run inside XState;
 * - `after` is a durable timer: entering the state schedules `<state>.after.<delay>`, leaving it
 *   cancels it, and its firing (`edaflow.timer`) takes the transition (XState's own `after` does not
 *   survive a restore, statelyai/xstate#5331);
 * - an activity's result lands in `context.<activity>`; an activity that fails every attempt, or the
 *   saga's `timeout`, ends the saga in `failed`.
 */
export function compileMachine(sagaName: string, saga: Document.SagaDefinition, machine: MachineSpec, defaultRetry: RetryPolicy): SagaMachineConfig {
  const states: Record<string, SagaStateConfig> = {};
  for (const [name, state] of Object.entries(machine.states)) {
    if (state) states[name] = compileState(name, state, defaultRetry);
  }
  const sagaTimeoutMs = parseDuration(saga.timeout);
  const invokes = Object.values(machine.states).some((state) => state && actionsOf(state).some((action) => action.invoke !== undefined));
  const on: Record<string, SagaTransition[]> = {};
  const toFailed = `.${MACHINE_FAILED}`;
  if (invokes) {
    on[ACTIVITY_DONE] = [{ actions: [update({ kind: 'activityResult' })] }];
    on[ACTIVITY_FAILED] = [{ target: toFailed, actions: [update({ kind: 'fail' })] }];
  }
  if (sagaTimeoutMs !== undefined) {
    const reason = `the saga timed out after ${formatDuration(sagaTimeoutMs)}`;
    on[TIMER_FIRED] = [{ target: toFailed, guard: guard({ kind: 'timer', timer: SAGA_TIMER, label: `saga timeout ${formatDuration(sagaTimeoutMs)}` }), actions: [update({ kind: 'fail', reason })] }];
  }
  if (Object.keys(on).length > 0 && !states[MACHINE_FAILED]) states[MACHINE_FAILED] = { type: 'final' };
  if (states[machine.initial] === undefined) {
    throw new EdaflowError('EDA_SAGA_INVALID', `saga ${sagaName}: the initial state "${machine.initial}" is not one of its states`, { details: { saga: sagaName } });
  }
  return {
    id: sagaName,
    initial: machine.initial,
    ...(sagaTimeoutMs !== undefined ? { entry: [effect({ kind: 'schedule', timer: SAGA_TIMER, delayMs: sagaTimeoutMs })] } : {}),
    ...(Object.keys(on).length > 0 ? { on } : {}),
    states,
  };
}

function compileState(name: string, state: StateSpec, defaultRetry: RetryPolicy): SagaStateConfig {
  const compileActions = (actions: readonly ActionSpec[] | undefined): SagaAction[] => (actions ?? []).map((action) => compileAction(action, name, defaultRetry));
  const entry = compileActions(state.entry);
  const exit = compileActions(state.exit);
  const on: Record<string, SagaTransition[]> = {};
  for (const [event, transition] of Object.entries(state.on ?? {})) {
    if (transition !== undefined) on[event] = compileTransitions(transition, undefined, compileActions);
  }
  const timerFired: SagaTransition[] = [];
  for (const [delay, transition] of Object.entries(state.after ?? {})) {
    if (transition === undefined) continue;
    const delayMs = parseDuration(delay) ?? 0;
    const timer = `${name}.after.${delay}`;
    entry.push(effect({ kind: 'schedule', timer, delayMs }));
    exit.push(effect({ kind: 'cancel', timer }));
    timerFired.push(...compileTransitions(transition, { kind: 'timer', timer, label: `after ${formatDuration(delayMs)}` }, compileActions));
  }
  if (timerFired.length) on[TIMER_FIRED] = timerFired;
  return {
    ...(state.type === 'final' ? { type: 'final' as const } : {}),
    ...(entry.length ? { entry } : {}),
    ...(exit.length ? { exit } : {}),
    ...(Object.keys(on).length ? { on } : {}),
    ...(state.always !== undefined ? { always: compileTransitions(state.always, undefined, compileActions) } : {}),
  };
}

/** A transition, or guarded alternatives tried in order; `extra` (a timer) is required by each. */
function compileTransitions(spec: TransitionSpec, extra: Condition | undefined, compileActions: (actions: readonly ActionSpec[] | undefined) => SagaAction[]): SagaTransition[] {
  const items: TransitionItem[] = Array.isArray(spec) ? (spec as TransitionItem[]) : [spec as TransitionItem];
  return items.map((item): SagaTransition => {
    const transition = typeof item === 'string' ? { target: item } : item;
    const condition = both(extra, transition.when !== undefined ? { kind: 'when', expression: transition.when } : undefined);
    const actions = [
      ...(transition.assign !== undefined ? [update({ kind: 'assign', template: transition.assign })] : []),
      ...compileActions(transition.actions),
    ];
    return {
      ...(transition.target !== undefined ? { target: transition.target } : {}),
      ...(condition ? { guard: guard(condition) } : {}),
      ...(actions.length ? { actions } : {}),
    };
  });
}

function compileAction(action: ActionSpec, state: string, defaultRetry: RetryPolicy): SagaAction {
  if (action.send) return effect({ kind: 'send', command: action.send.command, ...(action.send.data !== undefined ? { data: action.send.data } : {}) });
  if (action.emit) return effect({ kind: 'emit', event: action.emit.event, ...(action.emit.data !== undefined ? { data: action.emit.data } : {}) });
  if (action.invoke) return effect({ kind: 'invoke', activity: action.invoke, step: state, compensation: false, retry: defaultRetry });
  return update({ kind: 'assign', template: action.assign ?? {} });
}

function actionsOf(state: StateSpec): ActionSpec[] {
  const fromTransitions = (spec: TransitionSpec | undefined): ActionSpec[] => {
    if (spec === undefined || typeof spec === 'string') return [];
    return (Array.isArray(spec) ? (spec as TransitionItem[]) : [spec]).flatMap((item) => (typeof item === 'string' ? [] : item.actions ?? []));
  };
  return [
    ...(state.entry ?? []),
    ...(state.exit ?? []),
    ...Object.values(state.on ?? {}).flatMap((spec) => fromTransitions(spec)),
    ...Object.values(state.after ?? {}).flatMap((spec) => fromTransitions(spec)),
    ...fromTransitions(state.always),
  ];
}
