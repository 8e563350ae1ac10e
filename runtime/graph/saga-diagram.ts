import type { Condition, SagaMachineConfig, SagaTransition } from '../sagas/index.js';
import { ACTIVITY_DONE, ACTIVITY_FAILED, RETRY_COMPENSATION, TIMER_FIRED } from '../sagas/index.js';
import { mermaidId, stateLabel } from './mermaid.js';

/**
 * A compiled saga as a Mermaid `stateDiagram-v2`: every state, every transition labelled with what
 * takes it (an event, `after 10d`, `chargePayment done`, ...) and its guard in brackets. Transitions
 * of the whole machine (the saga's timeout, a failed activity) are drawn from each state they can
 * leave. States and transitions keep the definition's order, so the output is stable.
 */
export function sagaDiagram(config: SagaMachineConfig): string[] {
  const names = Object.keys(config.states);
  const ids = new Map(names.map((name) => [name, mermaidId(name)]));
  const id = (name: string): string => ids.get(name) ?? mermaidId(name);
  const lines = ['stateDiagram-v2'];
  for (const name of names) if (id(name) !== name) lines.push(`  state "${stateLabel(name)}" as ${id(name)}`);
  lines.push(`  [*] --> ${id(config.initial)}`);
  const edge = (from: string, transition: SagaTransition, event: string): void => {
    const target = transition.target === undefined ? from : transition.target.replace(/^\./, '');
    const label = transitionLabel(event, transition);
    lines.push(`  ${id(from)} --> ${id(target)}${label ? `: ${stateLabel(label)}` : ''}`);
  };
  for (const name of names) {
    const state = config.states[name]!;
    for (const [event, transitions] of Object.entries(state.on ?? {})) for (const transition of transitions) edge(name, transition, event);
    for (const transition of state.always ?? []) edge(name, transition, '');
    if (state.type === 'final') {
      lines.push(`  ${id(name)} --> [*]`);
      continue;
    }
    for (const [event, transitions] of Object.entries(config.on ?? {})) {
      for (const transition of transitions) if (transition.target !== undefined) edge(name, transition, event);
    }
  }
  return lines;
}

function transitionLabel(event: string, transition: SagaTransition): string {
  const conditions = flatten(transition.guard?.params);
  const timer = conditions.find((condition) => condition.kind === 'timer');
  const activity = conditions.find((condition) => condition.kind === 'activity');
  let trigger: string;
  if (event === TIMER_FIRED) trigger = timer?.label ?? 'timer';
  else if (event === ACTIVITY_DONE) trigger = activity ? `${activity.step} ${activity.compensation ? 'compensated' : 'done'}` : 'activity done';
  else if (event === ACTIVITY_FAILED) trigger = activity ? `${activity.step} ${activity.compensation ? 'compensation failed' : 'failed'}` : 'activity failed';
  else if (event === RETRY_COMPENSATION) trigger = 'retry';
  else trigger = event;
  const guards = conditions.flatMap((condition) => {
    if (condition.kind === 'when') return [condition.expression];
    if (condition.kind === 'needsCompensation') return [`${condition.step} completed`];
    if (condition.kind === 'stuck') return ['stuck'];
    return [];
  });
  return [trigger, ...guards.map((guard) => `[${guard}]`)].filter(Boolean).join(' ');
}

function flatten(condition: Condition | undefined): Condition[] {
  if (!condition) return [];
  return condition.kind === 'all' ? condition.conditions.flatMap(flatten) : [condition];
}
