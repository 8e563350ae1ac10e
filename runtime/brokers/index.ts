import type { BrokerConfig, BrokerType } from '../definitions/index.js';
import type { Logger } from '../observability/logger.js';
import type { Database } from '../store/database.js';
import type { BrokerAdapter } from './adapter.js';

export type * from './adapter.js';
export { topicGroupDeadLetter, deadLetterHeaders, readDeadLetterHeaders } from './dead-letter.js';

/** What an adapter may need besides its own settings. */
export interface BrokerDependencies {
  readonly logger: Logger;
  /** The `database` store, for the `postgres` broker. */
  readonly database?: Database;
}

/** Each broker's module (`./<type>.ts`) exports this. */
export interface BrokerModule<Type extends BrokerType = BrokerType> {
  createAdapter(name: string, config: Extract<BrokerConfig, { type: Type }>, dependencies: BrokerDependencies): BrokerAdapter;
}

/**
 * The adapter for a declared broker. Each broker's module is imported only when a definition uses it,
 * so a process on the embedded default never loads kafkajs, amqplib, nats or the AWS SDK.
 */
export async function createBroker(name: string, config: BrokerConfig, dependencies: BrokerDependencies): Promise<BrokerAdapter> {
  const module = (await import(`./${config.type}.js`)) as BrokerModule;
  return module.createAdapter(name, config as never, dependencies);
}
