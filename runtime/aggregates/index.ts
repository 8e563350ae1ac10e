export { createCommandBus, MAX_CONFLICT_RETRIES, type CommandBus, type CommandBusOptions, type CommandResult } from './command-bus.js';
export { createAggregate, evolveAll, type Aggregate, type AggregateOptions, type AggregateState, type DecidedEvent, type DeciderFunction } from './decider.js';
export { loadState, type LoadedState } from './state.js';
