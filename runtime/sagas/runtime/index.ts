export { startSagas, type SagaRuntime, type SagaRuntimeOptions } from './start.js';
export { listenedTypes } from './listens.js';
export { listInstances, showInstance, type InstanceSummary, type InstanceDetail } from './inspect.js';
