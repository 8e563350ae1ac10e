/**
 * The process the streams crash test kills: opens PostgreSQL (the given schema), the postgres broker
 * on it, and runs the crash test's streams. Prints `ready` once they run.
 *
 *   node --import tsx test/streams/crash-runner.ts <postgres url> <schema>
 */
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createOutbox } from '../../runtime/outbox/index.js';
import { openDatabase } from '../../runtime/store/database.js';
import { startStreams } from '../../runtime/streams/index.js';
import { crashDefinitions } from './crash.js';

const [url, schema] = process.argv.slice(2);
if (!url || !schema) throw new Error('usage: crash-runner <postgres url> <schema>');
const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'error', destination: { write: (line: string) => void process.stderr.write(line) } });
const definitions = await crashDefinitions();
const database = await openDatabase({ type: 'postgres', url, schema });
const messaging = await startMessaging({ definitions, logger, database, dedup: new MemoryDedupStore() });
// A short lease: the restarted process takes over soon after this one is killed.
const streams = await startStreams({ definitions, database, catalog: messaging.catalog, brokers: messaging.brokers, plan: messaging.plan, outbox: createOutbox({ publisher: messaging.publisher }), logger, leaseTtlMs: 1_000 });
for (;;) {
  if (streams.running().length === definitions.streams.size) break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
process.stdout.write('ready\n');
