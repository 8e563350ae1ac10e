import { createHash } from 'node:crypto';
import { assign, setup, type AnyStateMachine } from 'xstate';
import type { Definitions, Document } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import { compileMachine, MACHINE_FAILED } from './compile-machine.js';
import { compileSteps, isCompensationState } from './compile-steps.js';
import type { Condition, ContextUpdate, EffectSpec, SagaMachineConfig } from './config.js';
import { expressionScope, type Evaluations } from './evaluations.js';
import { ACTIVITY_FAILED, type SagaBookkeeping, type SagaContext, type SagaStatus } from './types.js';

/** A saga compiled once per process; `start` and `step` run it. */
export interface SagaMachine {
  readonly name: string;
  readonly definition: Document.SagaDefinition;
  readonly form: 'steps' | 'machine';
  /** The compiled XState config, as plain data. */
  readonly config: SagaMachineConfig;
  /** Changes whenever the definition does, so a snapshot of an older definition can be detected. */
  readonly fingerprint: string;
  /** @internal the XState machine; use `start` / `step`. */
  readonly logic: AnyStateMachine;
  /** @internal bound during one synchronous transition (see evaluations.ts). */
  readonly session: { evaluations: Evaluations | undefined };
}

/** What the initial transition receives: the evaluated `context` template and the starting message. */
export interface StartInput {
  readonly context: Record<string, unknown>;
  readonly message: unknown;
}

type MachineEvent = { readonly type: string; readonly [key: string]: unknown };
type Context = Record<string, unknown>;

/** Compiles a saga (`steps` or `machine` form) to an XState v5 machine whose transitions are pure. */
export function createSagaMachine(name: string, definition: Document.SagaDefinition, definitions: Pick<Definitions, 'defaults'>): SagaMachine {
  const retry = definitions.defaults.retry;
  let config: SagaMachineConfig;
  let form: SagaMachine['form'];
  if (definition.steps && !definition.machine) {
    config = compileSteps(name, definition, definition.steps, retry);
    form = 'steps';
  } else if (definition.machine && !definition.steps) {
    config = compileMachine(name, definition, definition.machine, retry);
    form = 'machine';
  } else {
    throw new EdaflowError('EDA_SAGA_INVALID', `saga ${name} needs exactly one of \`steps\` or \`machine\``, { details: { saga: name } });
  }
  const session: SagaMachine['session'] = { evaluations: undefined };
  const logic = buildLogic(name, config, session);
  const fingerprint = createHash('sha256').update(JSON.stringify(definition)).digest('hex').slice(0, 16);
  return { name, definition, form, config, fingerprint, logic, session };
}

/** The message the expressions of a transition see: the starting message for the initial one. */
export function messageOf(event: MachineEvent): unknown {
  return event.type === 'xstate.init' ? (event['input'] as StartInput | undefined)?.message : event;
}

function buildLogic(name: string, config: SagaMachineConfig, session: SagaMachine['session']): AnyStateMachine {
  const evaluations = (): Evaluations => {
    if (!session.evaluations) throw new EdaflowError('EDA_SAGA_EXPRESSION', `saga ${name}: a transition ran outside start/step`);
    return session.evaluations;
  };
  const check = (condition: Condition, context: Context, event: MachineEvent): boolean => {
    switch (condition.kind) {
      case 'when': return evaluations().guard(condition.expression, expressionScope(context, messageOf(event)));
      case 'timer': return event['timer'] === condition.timer;
      case 'activity': return event['step'] === condition.step && Boolean(event['compensation']) === condition.compensation;
      case 'needsCompensation': {
        const saga = bookkeeping(context);
        return saga.completed.includes(condition.step) && !(saga.compensated ?? []).includes(condition.step);
      }
      case 'stuck': return bookkeeping(context).stuck !== undefined;
      case 'all': return condition.conditions.every((each) => check(each, context, event));
    }
  };
  const machineSetup = setup({
    types: { context: {} as Context, events: {} as MachineEvent, input: {} as StartInput },
    guards: { check: ({ context, event }, params: Condition) => check(params, context, event) },
    actions: {
      // Recorded, never run: `transition` returns it with the context and event it saw (run.ts).
      effect: (_, _params: EffectSpec) => undefined,
      update: assign(({ context, event }, params: ContextUpdate) => applyUpdate(params, context, event, evaluations)),
    },
  });
  // The config is checked by our own types (config.ts); XState's generic config type cannot see its params.
  return machineSetup.createMachine({ ...(config as object), context: ({ input }: { input: StartInput }) => input.context } as Parameters<typeof machineSetup.createMachine>[0]);
}

function applyUpdate(update: ContextUpdate, context: Context, event: MachineEvent, evaluations: () => Evaluations): Context {
  const saga = bookkeeping(context);
  switch (update.kind) {
    case 'assign': return evaluations().template(update.template, expressionScope(context, messageOf(event)));
    case 'completeStep': {
      const kept = update.keep === 'data' ? event['data'] : update.keep === 'result' ? event['result'] : undefined;
      return { ...(kept !== undefined ? { [update.step]: kept } : {}), $saga: { ...saga, completed: [...saga.completed, update.step] } };
    }
    case 'fail': return { $saga: { ...saga, failure: { ...(update.step !== undefined ? { step: update.step } : {}), reason: update.reason ?? failureReason(event) } } };
    case 'compensated': return { $saga: { ...saga, compensated: [...(saga.compensated ?? []), update.step] } };
    case 'stuck': return { $saga: { ...saga, stuck: { step: update.step, error: String(event['error'] ?? 'the compensation failed') } } };
    case 'unstuck': {
      const { stuck: _stuck, ...rest } = saga;
      return { $saga: rest };
    }
    case 'activityResult': return typeof event['activity'] === 'string' ? { [event['activity']]: event['result'] } : {};
  }
}

/** Why a failure reply or a failed activity failed the saga, in words. */
function failureReason(event: MachineEvent): string {
  if (event.type === ACTIVITY_FAILED) return `activity ${String(event['activity'])} failed: ${String(event['error'] ?? 'unknown error')}`;
  const data = event['data'];
  const reason = data !== null && typeof data === 'object' ? (data as Record<string, unknown>)['reason'] : undefined;
  return typeof reason === 'string' ? `${event.type}: ${reason}` : event.type;
}

function bookkeeping(context: SagaContext): SagaBookkeeping {
  return context.$saga ?? { completed: [] };
}

/** A state name as the status sees it: final `failed` fails the saga, any other final state completes it. */
export function statusOf(machine: SagaMachine, state: string, done: boolean, context: SagaContext): SagaStatus {
  if (done) return state === MACHINE_FAILED ? 'failed' : 'completed';
  if (context.$saga?.stuck) return 'stuck';
  return machine.form === 'steps' && isCompensationState(state) ? 'compensating' : 'running';
}
