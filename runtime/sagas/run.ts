import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { evaluateTemplate } from '../core/expressions.js';
import type { Envelope } from '../envelope/index.js';
import { EdaflowError } from '../errors/index.js';
import type { EffectSpec } from './config.js';
import { Evaluations, expressionScope, toJson } from './evaluations.js';
import { messageOf, statusOf, type SagaMachine } from './machine.js';
import type { PersistedSagaSnapshot, SagaContext, SagaEffect, SagaEvent, SagaStepResult } from './types.js';

/*
 * The pure core of a saga: (snapshot, event) -> (snapshot, effects). No I/O and no clock: the durable
 * runtime stores the snapshot and carries out the effects in one transaction, and turns `schedule`
 * delays into absolute fire times.
 */

interface RecordedAction {
  readonly type: string;
  readonly params?: unknown;
  readonly info: { readonly context: SagaContext; readonly event: { readonly type: string } };
}

/** Starts an instance from the message that starts it: evaluates `context`, enters the initial state. */
export async function start(machine: SagaMachine, message: Envelope): Promise<SagaStepResult> {
  const evaluated = toJson(await evaluateTemplate(machine.definition.context ?? {}, message));
  const context = { ...(isRecord(evaluated) ? evaluated : {}), ...(machine.form === 'steps' ? { $saga: { completed: [] } } : {}) };
  const [snapshot, actions] = await settle(machine, () => initialTransition(machine.logic, { context, message }));
  // XState turns an error thrown by an initial entry action or guard into an `error` snapshot.
  if (snapshot.status === 'error') throw new EdaflowError('EDA_SAGA_EXPRESSION', `saga ${machine.name} could not start: ${String((snapshot.error as Error | undefined)?.message ?? snapshot.error)}`, { cause: snapshot.error, details: { saga: machine.name } });
  return result(machine, snapshot, await resolveEffects(machine, actions), true);
}

/**
 * Advances an instance by one event. An event its state does not handle changes nothing
 * (`changed: false`, no effects); so does any event once the saga is final.
 */
export async function step(machine: SagaMachine, persisted: PersistedSagaSnapshot, event: SagaEvent): Promise<SagaStepResult> {
  const current = restore(machine, persisted);
  if (current.status !== 'active') return result(machine, current, [], false);
  const [next, actions] = await settle(machine, () => transition(machine.logic, current, event));
  return result(machine, next, await resolveEffects(machine, actions), next !== current);
}

/** A stored snapshot as XState's; a state the definition no longer has is an error, not a silent reset. */
export function restore(machine: SagaMachine, persisted: PersistedSagaSnapshot): AnyMachineSnapshot {
  try {
    return machine.logic.resolveState(persisted as Parameters<SagaMachine['logic']['resolveState']>[0]);
  } catch (error) {
    throw new EdaflowError('EDA_SAGA_SNAPSHOT', `saga ${machine.name}: the stored snapshot does not fit the definition: ${(error as Error).message}`, { cause: error, details: { saga: machine.name, value: persisted.value } });
  }
}

async function settle<T>(machine: SagaMachine, compute: () => T): Promise<T> {
  const evaluations = new Evaluations(machine.name);
  return evaluations.settle(() => {
    machine.session.evaluations = evaluations;
    try {
      return compute();
    } finally {
      machine.session.evaluations = undefined;
    }
  });
}

function result(machine: SagaMachine, snapshot: AnyMachineSnapshot, effects: SagaEffect[], changed: boolean): SagaStepResult {
  const persisted = toJson(machine.logic.getPersistedSnapshot(snapshot)) as PersistedSagaSnapshot;
  const state = String(snapshot.value);
  return { snapshot: persisted, state, context: persisted.context, status: statusOf(machine, state, snapshot.status === 'done', persisted.context), effects, changed };
}

/** The recorded `effect` actions, in XState's order, their templates evaluated with the context and event each saw. */
async function resolveEffects(machine: SagaMachine, actions: readonly unknown[]): Promise<SagaEffect[]> {
  const effects: SagaEffect[] = [];
  for (const action of actions as readonly RecordedAction[]) {
    if (action.type !== 'effect') continue;
    effects.push(await resolveEffect(machine, action.params as EffectSpec, action.info.context, messageOf(action.info.event)));
  }
  return effects;
}

async function resolveEffect(machine: SagaMachine, spec: EffectSpec, context: SagaContext, message: unknown): Promise<SagaEffect> {
  const { $saga: _bookkeeping, ...userContext } = context;
  const data = async (template: unknown): Promise<unknown> => {
    // No `data`: the data of the message being handled (DSL.md, `emit`).
    if (template === undefined) return isRecord(message) ? toJson(message['data']) ?? {} : {};
    try {
      return toJson(await evaluateTemplate(template, expressionScope(context, message)));
    } catch (error) {
      throw new EdaflowError('EDA_SAGA_EXPRESSION', `saga ${machine.name}: ${(error as Error).message}`, { cause: error, details: { saga: machine.name } });
    }
  };
  switch (spec.kind) {
    case 'send': return { kind: 'send', command: spec.command, data: await data(spec.data) };
    case 'emit': return { kind: 'emit', event: spec.event, data: await data(spec.data) };
    case 'invoke': return {
      kind: 'invoke',
      activity: spec.activity,
      step: spec.step,
      compensation: spec.compensation,
      context: userContext,
      ...(isEnvelope(message) ? { message } : {}),
      retry: spec.retry,
      ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
    };
    case 'schedule': return { kind: 'schedule', timer: spec.timer, delayMs: spec.delayMs };
    case 'cancel': return { kind: 'cancel', timer: spec.timer };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isEnvelope(value: unknown): value is Envelope {
  return isRecord(value) && value['specversion'] === '1.0' && typeof value['id'] === 'string';
}
