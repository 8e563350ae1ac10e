import { asList, formatDuration, parseDuration, retryPolicy, type Document, type RetryPolicy } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import { effect, guard, update, type Condition, type SagaAction, type SagaMachineConfig, type SagaStateConfig, type SagaTransition } from './config.js';
import { ACTIVITY_DONE, ACTIVITY_FAILED, RETRY_COMPENSATION, TIMER_FIRED } from './types.js';

type Step = NonNullable<Document.SagaDefinition['steps']>[number];

/** The states every steps-form saga has besides its steps. */
export const STEP_STATES = { compensating: 'compensating', completed: 'completed', failed: 'failed' } as const;
export const SAGA_TIMER = 'saga.timeout';
const COMPENSATE_PREFIX = 'compensate_';

export const compensationState = (step: string): string => `${COMPENSATE_PREFIX}${step}`;
export const isCompensationState = (state: string): boolean => state === STEP_STATES.compensating || state.startsWith(COMPENSATE_PREFIX);

/**
 * The `steps` form as a machine: one state per step, in order, then `completed`. A step that fails
 * (a failure reply, a failed activity, its timeout, the saga's timeout) records the reason and goes
 * to `compensating`, which picks the last completed step not yet compensated, in reverse step order,
 * runs its compensation in `compensate_<step>` and comes back; with none left it ends in `failed`.
 * `$saga.completed` in the context is what makes "only completed steps" hold.
 */
export function compileSteps(sagaName: string, saga: Document.SagaDefinition, steps: readonly Step[], defaultRetry: RetryPolicy): SagaMachineConfig {
  assertStateNames(sagaName, steps);
  const sagaTimeoutMs = parseDuration(saga.timeout);
  const sagaTimeout: SagaTransition | undefined = sagaTimeoutMs === undefined ? undefined : {
    target: STEP_STATES.compensating,
    guard: guard({ kind: 'timer', timer: SAGA_TIMER, label: `saga timeout ${formatDuration(sagaTimeoutMs)}` }),
    actions: [update({ kind: 'fail', reason: `the saga timed out after ${formatDuration(sagaTimeoutMs)}` })],
  };
  const states: Record<string, SagaStateConfig> = {};
  steps.forEach((step, index) => {
    const next = steps[index + 1]?.name ?? STEP_STATES.completed;
    states[step.name] = stepState(step, next, sagaTimeout, defaultRetry);
  });
  const compensable = steps.filter((step) => step.compensate !== undefined);
  states[STEP_STATES.compensating] = {
    always: [
      ...[...compensable].reverse().map((step): SagaTransition => ({ target: compensationState(step.name), guard: guard({ kind: 'needsCompensation', step: step.name }) })),
      { target: STEP_STATES.failed },
    ],
  };
  for (const step of compensable) states[compensationState(step.name)] = compensationStateConfig(step, defaultRetry);
  states[STEP_STATES.completed] = { type: 'final' };
  states[STEP_STATES.failed] = { type: 'final' };
  return {
    id: sagaName,
    initial: steps[0]!.name,
    ...(sagaTimeoutMs !== undefined ? { entry: [effect({ kind: 'schedule', timer: SAGA_TIMER, delayMs: sagaTimeoutMs })] } : {}),
    states,
  };
}

function stepState(step: Step, next: string, sagaTimeout: SagaTransition | undefined, defaultRetry: RetryPolicy): SagaStateConfig {
  const name = step.name;
  const timeoutMs = parseDuration(step.await?.timeout ?? step.timeout);
  const awaitsReply = step.send !== undefined && step.await !== undefined;
  const waits = awaitsReply || step.invoke !== undefined;
  const timerFired: SagaTransition[] = [];
  const entry: SagaAction[] = [stepAction(step, defaultRetry, timeoutMs)];
  const exit: SagaAction[] = [];
  if (waits && timeoutMs !== undefined) {
    const timer = `${name}.timeout`;
    entry.push(effect({ kind: 'schedule', timer, delayMs: timeoutMs }));
    exit.push(effect({ kind: 'cancel', timer }));
    timerFired.push(failure(name, { kind: 'timer', timer, label: `timeout ${formatDuration(timeoutMs)}` }, `step ${name} timed out after ${formatDuration(timeoutMs)}`));
  }
  if (!waits) {
    // A send without `await`, or an emit, is done once it is recorded (its outbox row commits with the
    // transition): the machine never rests here, so no timer can find it here.
    return { entry, always: [{ target: next, actions: [update({ kind: 'completeStep', step: name })] }] };
  }
  if (sagaTimeout) timerFired.push(sagaTimeout);
  const on: Record<string, SagaTransition[]> = timerFired.length ? { [TIMER_FIRED]: timerFired } : {};
  if (awaitsReply) {
    for (const event of asList(step.await!.success)) on[event] = [{ target: next, actions: [update({ kind: 'completeStep', step: name, keep: 'data' })] }];
    for (const event of asList(step.await!.failure)) on[event] = [failure(name)];
  } else {
    const thisStep: Condition = { kind: 'activity', step: name, compensation: false };
    on[ACTIVITY_DONE] = [{ target: next, guard: guard(thisStep), actions: [update({ kind: 'completeStep', step: name, keep: 'result' })] }];
    on[ACTIVITY_FAILED] = [failure(name, thisStep)];
  }
  return { entry, ...(exit.length ? { exit } : {}), on };
}

function stepAction(step: Step, defaultRetry: RetryPolicy, timeoutMs: number | undefined): SagaAction {
  if (step.send) return effect({ kind: 'send', command: step.send.command, ...(step.send.data !== undefined ? { data: step.send.data } : {}) });
  if (step.emit) return effect({ kind: 'emit', event: step.emit.event, ...(step.emit.data !== undefined ? { data: step.emit.data } : {}) });
  return effect({ kind: 'invoke', activity: step.invoke!, step: step.name, compensation: false, retry: retryPolicy(step.retry, defaultRetry), ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
}

/** Goes compensating, recording why (`reason` absent: taken from the event). */
function failure(step: string, condition?: Condition, reason?: string): SagaTransition {
  return {
    target: STEP_STATES.compensating,
    ...(condition ? { guard: guard(condition) } : {}),
    actions: [update({ kind: 'fail', step, ...(reason !== undefined ? { reason } : {}) })],
  };
}

/**
 * A compensating `send` is done once recorded. A compensating activity is awaited, so compensations
 * run strictly in reverse order; when it fails every attempt the saga is stuck (visible, not final)
 * until an operator's `edaflow.retry` runs it again.
 */
function compensationStateConfig(step: Step, defaultRetry: RetryPolicy): SagaStateConfig {
  const compensate = step.compensate!;
  const done = update({ kind: 'compensated', step: step.name });
  if (compensate.send) {
    return {
      entry: [effect({ kind: 'send', command: compensate.send.command, ...(compensate.send.data !== undefined ? { data: compensate.send.data } : {}) })],
      always: [{ target: STEP_STATES.compensating, actions: [done] }],
    };
  }
  const thisCompensation: Condition = { kind: 'activity', step: step.name, compensation: true };
  return {
    entry: [effect({ kind: 'invoke', activity: compensate.invoke!, step: step.name, compensation: true, retry: retryPolicy(step.retry, defaultRetry) })],
    on: {
      [ACTIVITY_DONE]: [{ target: STEP_STATES.compensating, guard: guard(thisCompensation), actions: [done] }],
      [ACTIVITY_FAILED]: [{ guard: guard(thisCompensation), actions: [update({ kind: 'stuck', step: step.name })] }],
      [RETRY_COMPENSATION]: [{ target: compensationState(step.name), reenter: true, guard: guard({ kind: 'stuck' }), actions: [update({ kind: 'unstuck' })] }],
    },
  };
}

function assertStateNames(sagaName: string, steps: readonly Step[]): void {
  const reserved = new Set<string>(Object.values(STEP_STATES));
  for (const step of steps) {
    if (reserved.has(step.name) || step.name.startsWith(COMPENSATE_PREFIX)) {
      throw new EdaflowError('EDA_SAGA_INVALID', `saga ${sagaName}: a step cannot be named "${step.name}": ${[...reserved].join(', ')} and ${COMPENSATE_PREFIX}* are the compiled machine's own states`, { details: { saga: sagaName, step: step.name } });
    }
  }
}
