export { createEventStore, type EventStoreOptions } from './event-store.js';
export { EVENTS_CHANNEL, type AppendOptions, type AppendResult, type EventStore, type ExpectedVersion, type ReadAllOptions, type RecordedEvent } from './types.js';
