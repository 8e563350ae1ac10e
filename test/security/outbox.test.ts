import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationRef, Subscription } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import type { Envelope } from '../../runtime/envelope/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { startMessaging, type Messaging } from '../../runtime/messaging/index.js';
import { createConsumer } from '../../runtime/pipeline/consumer.js';
import { createOutbox, startOutboxRelay } from '../../runtime/outbox/index.js';
import { SECURITY_ATTRIBUTES } from '../../runtime/security/index.js';
import type { Database } from '../../runtime/store/database.js';
import { eventually, NO_RETRY } from '../conformance/harness.js';
import { silent, testDatabase } from '../eventstore/setup.js';
import { definitionsOf, newKey } from './setup.js';

const SECURITY = `security: { encrypt: { keys: { k1: "\${KEY}" } }, sign: { keys: { s1: "\${SIGN_KEY}" } } }`;
const SCHEMA = `{ type: object, required: [card], properties: { card: { type: string } } }`;
const YAML = `
edaflow: 1
brokers: { db: { type: postgres }, mem: { type: memory } }
defaults: { broker: db }
topics:
  vault: { ${SECURITY} }
  remote: { broker: mem, ${SECURITY} }
events:
  Stored: { topic: vault, versions: { 1: { schema: ${SCHEMA} } } }
  Relayed: { topic: remote, versions: { 1: { schema: ${SCHEMA} } } }
`;

/**
 * Messages that never pass through an adapter's `publish`: the outbox writes a `postgres`-broker topic
 * in the caller's transaction, and its relay publishes the rest later. Both are sealed.
 */
describe('message security through the transactional outbox (embedded database)', () => {
  const db = testDatabase('embedded');
  let database: Database;
  let messaging: Messaging;

  beforeAll(async () => {
    database = await db.open();
    const definitions = await definitionsOf(YAML, { KEY: newKey(), SIGN_KEY: newKey() });
    messaging = await startMessaging({ definitions, logger: silent, database, dedup: new MemoryDedupStore() });
  }, 120_000);

  afterAll(async () => {
    await messaging?.stop();
    await database?.close();
    await db.destroy();
  });

  function consume(broker: string, destination: DestinationRef, type: string, handled: Envelope[]): Promise<Subscription> {
    const adapter = messaging.brokers.get(broker)!;
    const group = 'reader';
    const deadLetter = topicGroupDeadLetter(destination.name, group);
    const pipeline = createConsumer({
      name: group, group, origin: destination, accepts: new Set([type]), retry: NO_RETRY, timeoutMs: 10_000,
      headerPrefix: adapter.capabilities.headerPrefix, catalog: messaging.catalog, logger: silent, handle: async (envelope) => void handled.push(envelope),
    });
    return adapter.subscribe({ destination, group, deadLetter, retry: NO_RETRY, concurrency: 1, prefetch: 10, startAt: 'earliest' }, async (delivery) => void (await pipeline(delivery)));
  }

  it('seals messages written in the transaction and those the relay publishes; consumers get them decrypted', async () => {
    const stored: Envelope[] = [];
    const relayed: Envelope[] = [];
    const subscriptions = [await consume('db', { kind: 'topic', name: 'vault' }, 'Stored', stored), await consume('mem', { kind: 'topic', name: 'remote' }, 'Relayed', relayed)];
    const outbox = createOutbox({ publisher: messaging.publisher });
    const publisher = messaging.publisher;
    await database.transaction((tx) => outbox.write(tx, [publisher.envelopeOf('Stored', { card: '4111-stored' }), publisher.envelopeOf('Relayed', { card: '4111-relayed' })]));

    const { rows } = await database.query<{ headers: Record<string, string>; body: Buffer }>(`select headers, body from edaflow_topic_messages where topic = 'vault'`);
    expect(rows).toHaveLength(1);
    expect(Buffer.from(rows[0]!.body).toString()).not.toContain('4111');
    expect(rows[0]!.headers[`ce-${SECURITY_ATTRIBUTES.signature}`]).toBeDefined();
    const pending = await database.query<{ envelope: Envelope }>('select envelope from edaflow_outbox');
    expect(pending.rows.map((row) => row.envelope.type)).toEqual(['Relayed']);

    const relay = await startOutboxRelay({ database, publisher, logger: silent, pollIntervalMs: 100 });
    try {
      await eventually(() => stored.length === 1 && relayed.length === 1, 20_000, () => `stored ${stored.length}, relayed ${relayed.length}`);
    } finally {
      await relay.stop();
      for (const subscription of subscriptions) await subscription.stop();
    }
    expect(stored[0]!.data).toEqual({ card: '4111-stored' });
    expect(relayed[0]!.data).toEqual({ card: '4111-relayed' });
  }, 60_000);
});
