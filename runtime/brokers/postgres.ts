import { parseDuration } from '../definitions/index.js';
import { EdaflowError } from '../errors/index.js';
import type { BrokerModule } from './index.js';
import { PostgresBroker } from './postgres/broker.js';

export { PostgresBroker, type PostgresBrokerOptions } from './postgres/broker.js';

/** The `postgres` broker keeps its tables in the `database` store: it needs `dependencies.database`. */
export const createAdapter: BrokerModule<'postgres'>['createAdapter'] = (name, config, dependencies) => {
  if (!dependencies.database) throw new EdaflowError('EDA_STARTUP', `broker ${name} (postgres) needs the database store, and none was given`);
  const pollIntervalMs = config.pollInterval === undefined ? undefined : parseDuration(config.pollInterval);
  return new PostgresBroker(name, dependencies.database, { logger: dependencies.logger, ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}) });
};
