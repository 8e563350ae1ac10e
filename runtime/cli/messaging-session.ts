import { formatDiagnostics, loadDefinitions, type Definitions } from '../definitions/index.js';
import { openCache } from '../idempotency/index.js';
import { startMessaging, type Messaging } from '../messaging/index.js';
import { createLogger } from '../observability/logger.js';
import { openDatabase, type Database } from '../store/database.js';

/** A failure the command reports in one line and exits with `exitCode`. */
export class CommandFailure extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/**
 * Loads the definitions strictly, connects to the brokers they use (opening the database when a
 * `postgres` broker needs it), runs `work`, and disconnects. Logs go to stderr at warn, so stdout stays
 * the command's own output. With `database: true` the database is opened whatever the brokers, and
 * given to `work`.
 */
export async function withMessaging<T>(dir: string, work: (messaging: Messaging, definitions: Definitions, database: Database | undefined) => Promise<T>, options: { database?: boolean } = {}): Promise<T> {
  const result = await loadDefinitions(dir, { mode: 'run' });
  if (result.unusable) throw new CommandFailure(result.unusable, 2);
  if (!result.definitions) throw new CommandFailure(formatDiagnostics(result.diagnostics, result.files, 'pretty'), 1);
  const definitions = result.definitions;
  const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'warn', destination: process.stderr });
  const usesDatabase = options.database === true || [...definitions.brokers.values()].some((broker) => broker.spec.type === 'postgres');
  let database: Database | undefined;
  const cache = openCache(definitions.stores.cache);
  try {
    if (usesDatabase) database = await openDatabase(definitions.stores.database);
    const messaging = await startMessaging({ definitions, logger, dedup: cache.dedup, ...(database ? { database } : {}) });
    try {
      return await work(messaging, definitions, database);
    } finally {
      await messaging.stop();
    }
  } finally {
    await cache.close();
    await database?.close();
  }
}
