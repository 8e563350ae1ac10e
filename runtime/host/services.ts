import type { BrokerAdapter } from '../brokers/adapter.js';
import type { Definitions } from '../definitions/index.js';
import type { MessageCatalog } from '../messages/catalog.js';
import type { MessagingPlan } from '../messaging/topology.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Outbox } from '../outbox/index.js';
import type { Database } from '../store/database.js';

/** What the runtime hands a component that consumes messages and writes through the outbox (sagas, streams). */
export interface DurableComponentOptions {
  readonly definitions: Definitions;
  readonly database: Database;
  readonly catalog: MessageCatalog;
  readonly brokers: ReadonlyMap<string, BrokerAdapter>;
  readonly plan: MessagingPlan;
  /** Where what the component sends and emits goes, in the transaction that handles its input. */
  readonly outbox: Outbox;
  readonly logger: Logger;
  readonly metrics?: Metrics;
}
