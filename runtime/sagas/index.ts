export { createSagaMachine, type SagaMachine, type StartInput } from './machine.js';
export { start, step, restore } from './run.js';
export { STEP_STATES, SAGA_TIMER, compensationState } from './compile-steps.js';
export { MACHINE_FAILED } from './compile-machine.js';
export type { SagaMachineConfig, SagaStateConfig, SagaTransition, SagaAction, Condition, ContextUpdate, EffectSpec } from './config.js';
export * from './types.js';
export { startSagas, listInstances, showInstance, type SagaRuntime, type SagaRuntimeOptions, type InstanceSummary, type InstanceDetail } from './runtime/index.js';
