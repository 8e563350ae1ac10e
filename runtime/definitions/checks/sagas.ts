import type { Entry } from '../merge.js';
import type { Path } from '../source.js';
import { closestName } from '../suggest.js';
import { CheckContext, isObject, namesAt } from './context.js';
import { checkEmit } from './references.js';

export function checkSagas(ctx: CheckContext): void {
  for (const saga of ctx.sound('sagas')) {
    for (const { name, path } of namesAt(saga.spec['startedBy'], ['startedBy'])) ctx.expect(name, ['events'], 'EDA_UNKNOWN_EVENT', saga, path);
    const correlate = saga.spec['correlate'];
    if (isObject(correlate)) for (const event of Object.keys(correlate)) ctx.expect(event, ['events'], 'EDA_UNKNOWN_EVENT', saga, ['correlate', event], 'key');
    const hasSteps = saga.spec['steps'] !== undefined;
    const hasMachine = saga.spec['machine'] !== undefined;
    if (hasSteps === hasMachine) {
      ctx.report('EDA_SAGA_FORM', hasSteps ? `saga "${saga.name}" has both \`steps\` and \`machine\`: keep one` : `saga "${saga.name}" needs \`steps\` (a sequence) or \`machine\` (a state machine)`, saga, [], 'key');
    }
    if (Array.isArray(saga.spec['steps'])) checkSteps(ctx, saga, saga.spec['steps']);
    if (isObject(saga.spec['machine'])) checkMachine(ctx, saga, saga.spec['machine']);
  }
}

function checkSteps(ctx: CheckContext, saga: Entry, steps: unknown[]): void {
  const seen = new Map<string, number>();
  steps.forEach((step, index) => {
    if (!isObject(step)) return;
    const path: Path = ['steps', index];
    const name = String(step['name']);
    if (seen.has(name)) ctx.report('EDA_SAGA_DUPLICATE_STEP', `step "${name}" is already step ${seen.get(name)! + 1} of this saga`, saga, [...path, 'name']);
    else seen.set(name, index);
    const actions = ['send', 'invoke', 'emit'].filter((key) => step[key] !== undefined);
    if (actions.length !== 1) {
      ctx.report('EDA_SAGA_STEP_FORM', actions.length ? `step "${name}" does ${actions.join(' and ')}: a step does exactly one of send, invoke or emit` : `step "${name}" does nothing: give it send, invoke or emit`, saga, path);
    }
    if (step['await'] !== undefined && step['send'] === undefined) ctx.report('EDA_AWAIT_WITHOUT_SEND', `step "${name}" awaits a reply but sends no command`, saga, [...path, 'await'], 'key');
    checkSend(ctx, saga, step['send'], [...path, 'send']);
    checkEmit(ctx, saga, step['emit'], [...path, 'emit']);
    const awaited = step['await'];
    if (isObject(awaited)) {
      for (const key of ['success', 'failure']) {
        for (const ref of namesAt(awaited[key], [...path, 'await', key])) ctx.expect(ref.name, ['events'], 'EDA_UNKNOWN_EVENT', saga, ref.path);
      }
    }
    const compensate = step['compensate'];
    if (isObject(compensate)) checkSend(ctx, saga, compensate['send'], [...path, 'compensate', 'send']);
  });
}

function checkSend(ctx: CheckContext, saga: Entry, send: unknown, path: Path): void {
  if (isObject(send)) ctx.expect(send['command'], ['commands'], 'EDA_UNKNOWN_COMMAND', saga, [...path, 'command']);
}

function checkMachine(ctx: CheckContext, saga: Entry, machine: Record<string, unknown>): void {
  if (!isObject(machine['states'])) return; // no `states`: the structure check reported it; nothing to check against
  const states = machine['states'];
  const names = Object.keys(states);
  const expectState = (target: unknown, path: Path): void => {
    if (typeof target !== 'string' || names.includes(target)) return;
    const hint = closestName(target, names);
    ctx.report('EDA_UNKNOWN_STATE', `unknown state "${target}"${hint ? ` — did you mean "${hint}"?` : ` (states: ${names.join(', ')})`}`, saga, path);
  };
  expectState(machine['initial'], ['machine', 'initial']);
  if (!Object.values(states).some((state) => isObject(state) && state['type'] === 'final')) {
    ctx.report('EDA_SAGA_NO_FINAL', `saga "${saga.name}" has no state with \`type: final\`, so no instance can finish`, saga, ['machine', 'states'], 'key');
  }
  for (const [stateName, state] of Object.entries(states)) {
    if (!isObject(state)) continue;
    const base: Path = ['machine', 'states', stateName];
    for (const key of ['entry', 'exit']) checkActions(ctx, saga, state[key], [...base, key]);
    if (isObject(state['on'])) {
      for (const [event, transition] of Object.entries(state['on'])) {
        ctx.expect(event, ['events'], 'EDA_UNKNOWN_EVENT', saga, [...base, 'on', event], 'key');
        checkTransition(ctx, saga, transition, [...base, 'on', event], expectState);
      }
    }
    if (isObject(state['after'])) for (const [delay, transition] of Object.entries(state['after'])) checkTransition(ctx, saga, transition, [...base, 'after', delay], expectState);
    if (state['always'] !== undefined) checkTransition(ctx, saga, state['always'], [...base, 'always'], expectState);
  }
}

function checkTransition(ctx: CheckContext, saga: Entry, transition: unknown, path: Path, expectState: (target: unknown, path: Path) => void): void {
  if (typeof transition === 'string') expectState(transition, path);
  else if (Array.isArray(transition)) transition.forEach((item, i) => checkTransition(ctx, saga, item, [...path, i], expectState));
  else if (isObject(transition)) {
    if (transition['target'] !== undefined) expectState(transition['target'], [...path, 'target']);
    checkActions(ctx, saga, transition['actions'], [...path, 'actions']);
  }
}

function checkActions(ctx: CheckContext, saga: Entry, actions: unknown, path: Path): void {
  if (!Array.isArray(actions)) return;
  actions.forEach((action, i) => {
    if (!isObject(action)) return;
    checkSend(ctx, saga, action['send'], [...path, i, 'send']);
    checkEmit(ctx, saga, action['emit'], [...path, i, 'emit']);
  });
}
