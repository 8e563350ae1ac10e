export { createEventStore, type EventStoreOptions } from './event-store.js';
export { EVENTS_CHANNEL, type AppendOptions, type AppendResult, type EventStore, type ExpectedVersion, type LogCursor, type PagedEvent, type ReadAllOptions, type ReadAllPage, type RecordedEvent } from './types.js';
export { START as LOG_START } from '../store/commit-cursor.js';
