export { streamModel, streamModels, type StreamModel, type JoinModel, type AggregateModel, type FilterModel, type WindowModel, type InputModel, type Side } from './model.js';
export { createProcessor, type StreamProcessor, type StreamSnapshot } from './processor.js';
export { type StepResult, type StreamRecord, type DropReason } from './record.js';
export { deterministicId } from '../envelope/index.js';
export { windowsOf, sessionsOf, type TimeWindow, type Session } from './windows.js';
export { startStreams, type Streams, type StreamsOptions } from './start.js';
export { StreamRunner, streamInbox } from './runner.js';
