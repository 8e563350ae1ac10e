import { asList } from '../../definitions/index.js';
import type { SagaMachine } from '../machine.js';
import { ACTIVITY_DONE, ACTIVITY_FAILED, RETRY_COMPENSATION, TIMER_FIRED } from '../types.js';

const RUNTIME_EVENTS = new Set<string>([TIMER_FIRED, ACTIVITY_DONE, ACTIVITY_FAILED, RETRY_COMPENSATION]);

/**
 * The message types a saga consumes: what starts it, what it correlates, and every event its
 * states handle (the runtime's own events excepted: those never travel over a broker).
 */
export function listenedTypes(machine: SagaMachine): Set<string> {
  const types = new Set<string>(asList(machine.definition.startedBy));
  for (const type of Object.keys(machine.definition.correlate ?? {})) types.add(type);
  const handled = [machine.config.on ?? {}, ...Object.values(machine.config.states).map((state) => state.on ?? {})];
  for (const on of handled) for (const type of Object.keys(on)) if (!RUNTIME_EVENTS.has(type)) types.add(type);
  return types;
}
