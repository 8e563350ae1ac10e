/**
 * The process the outbox crash test kills: opens PostgreSQL (the given schema) and RabbitMQ, appends
 * Shipped events (bound for a RabbitMQ topic, so through outbox rows) to the event store in a loop, and
 * runs the outbox relay. Prints `ready` once everything runs. In `drain` mode it appends nothing and
 * exits 0 once the relay has emptied the outbox.
 *
 *   node --import tsx test/outbox/crash-writer.ts <write|drain> <run id> <postgres url> <schema>
 */
import { createEnvelope } from '../../runtime/envelope/index.js';
import { createEventStore } from '../../runtime/eventstore/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createOutbox, startOutboxRelay } from '../../runtime/outbox/index.js';
import { openDatabase } from '../../runtime/store/database.js';
import { outboxDefinitions } from './setup.js';

const [mode, run, url, schema] = process.argv.slice(2);
if (!mode || !run || !url || !schema) throw new Error('usage: crash-writer <write|drain> <run id> <postgres url> <schema>');

const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'error', destination: { write: (line: string) => void process.stderr.write(line) } });
const database = await openDatabase({ type: 'postgres', url, schema });
const messaging = await startMessaging({ definitions: await outboxDefinitions(run), logger, database, dedup: new MemoryDedupStore() });
const store = createEventStore({ database, catalog: messaging.catalog, outbox: createOutbox({ publisher: messaging.publisher }) });
// A short lease: the next process takes over soon after this one is killed.
const relay = await startOutboxRelay({ database, publisher: messaging.publisher, logger, pollIntervalMs: 200, leaseMs: 1_500 });
process.stdout.write('ready\n');

if (mode === 'drain') {
  for (;;) {
    const { rows } = await database.query<{ n: number }>('select count(*)::int as n from edaflow_outbox');
    if (rows[0]!.n === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await relay.stop();
  await messaging.stop();
  await database.close();
  process.exit(0);
}

for (let n = 0; ; n++) {
  const stream = `parcel-${n % 20}`;
  const version = await store.streamVersion(stream);
  const events = Array.from({ length: 1 + (n % 3) }, (_, k) => createEnvelope('Shipped', { n: n * 10 + k }, 'outbox-test', { subject: stream }));
  await store.append(stream, events, { expectedVersion: version });
}
