export { createOutbox, type Outbox, type OutboxOptions } from './outbox.js';
export { startOutboxRelay, RELAY_LEASE, type OutboxRelay, type OutboxRelayOptions } from './relay.js';
export { OUTBOX_CHANNEL } from './write-rows.js';
