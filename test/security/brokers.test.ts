import { generateKeyPairSync } from 'node:crypto';
import amqp from 'amqplib';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerAdapter, DeadLetter, DestinationRef } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { PostgresBroker } from '../../runtime/brokers/postgres.js';
import { appendToTopic } from '../../runtime/brokers/postgres/append-to-topic.js';
import { publishOptions } from '../../runtime/brokers/rabbitmq/wire.js';
import { encodeBinary, type Envelope } from '../../runtime/envelope/index.js';
import { MemoryDedupStore } from '../../runtime/idempotency/dedup.js';
import { MessageCatalog } from '../../runtime/messages/catalog.js';
import { planMessaging, Publisher } from '../../runtime/messaging/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { createConsumer, type Outcome } from '../../runtime/pipeline/consumer.js';
import { adapters as kafkaAdapters, KAFKA_BROKERS } from '../conformance/adapters/kafka.js';
import { openTestEmbedded } from '../conformance/adapters/postgres.js';
import { RABBITMQ_URL, rabbitmqUnderTest } from '../conformance/adapters/rabbitmq.js';
import { eventually, NO_RETRY, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';
import { definitionsOf, HMAC_AND_AES, newKey, securedYaml } from './setup.js';

/** A broker under test, and a way to put bytes on one of its topics bypassing edaflow (a hostile producer). */
interface BrokerCase {
  readonly name: string;
  readonly servers: readonly string[];
  open(): Promise<{ adapter: BrokerAdapter; raw: (topic: string, headers: Record<string, string>, body: Buffer) => Promise<void> }>;
}

const CASES: readonly BrokerCase[] = [
  {
    name: 'postgres (PGlite, the default)',
    servers: [],
    async open() {
      const { database, dispose } = await openTestEmbedded();
      const broker = new PostgresBroker('postgres', database, { pollIntervalMs: 200 });
      const close = broker.close.bind(broker);
      broker.close = async () => {
        await close();
        await database.close();
        await dispose();
      };
      return { adapter: broker, raw: (topic, headers, body) => appendToTopic(database, topic, 1, [{ headers, body }]) };
    },
  },
  {
    name: 'kafka',
    servers: ['kafka'],
    async open() {
      const adapter = await kafkaAdapters[0]!.create();
      const producer = new kafkajs.Kafka({ clientId: 'edaflow-security-raw', brokers: KAFKA_BROKERS, logLevel: kafkajs.logLevel.NOTHING }).producer();
      await producer.connect();
      const close = adapter.close.bind(adapter);
      return {
        adapter: Object.assign(Object.create(adapter) as BrokerAdapter, { close: async () => (await producer.disconnect(), await close()) }),
        raw: async (topic, headers, body) => void (await producer.send({ topic, messages: [{ value: body, headers }] })),
      };
    },
  },
  {
    name: 'rabbitmq',
    servers: ['rabbitmq'],
    async open() {
      return {
        adapter: rabbitmqUnderTest(),
        raw: async (topic, headers, body) => {
          const connection = await amqp.connect(RABBITMQ_URL);
          try {
            const channel = await connection.createConfirmChannel();
            channel.publish(topic, '', body, publishOptions(headers, headers['cloudEvents:id'] ?? 'raw'));
            await channel.waitForConfirms();
          } finally {
            await connection.close();
          }
        },
      };
    },
  },
];

describe.each(CASES)('message security end to end on $name', (brokerCase) => {
  let adapter: BrokerAdapter;
  let raw: (topic: string, headers: Record<string, string>, body: Buffer) => Promise<void>;
  const env = { KEY_1: newKey(), KEY_2: newKey(), SIGN_KEY: newKey() };

  beforeAll(async () => {
    await ensureServers([...brokerCase.servers]);
    ({ adapter, raw } = await brokerCase.open());
    await adapter.connect();
  }, 180_000);

  afterAll(async () => {
    await adapter?.close();
  });

  it('hands the handler decrypted data; tampered, unsigned, undecryptable, oversize and malformed messages go to the DLQ with their reason, a replay is refused; none reaches the handler', async () => {
    const topic = uniqueName('secured');
    const destination: DestinationRef = { kind: 'topic', name: topic };
    const definitions = await definitionsOf(securedYaml(HMAC_AND_AES, topic), env);
    const catalog = MessageCatalog.build(definitions, {}, { replays: new MemoryDedupStore() });
    const plan = planMessaging(definitions);
    const publisher = new Publisher(definitions, catalog, plan, new Map([[plan.brokerOf(destination), adapter]]));
    const security = catalog.security.of(destination);
    // Another producer that has the signing key but an encryption key of its own under the same id.
    const stranger = MessageCatalog.build(await definitionsOf(securedYaml(HMAC_AND_AES, topic), { ...env, KEY_2: newKey() })).security.of(destination);

    const group = 'vault';
    const deadLetter = topicGroupDeadLetter(topic, group);
    await adapter.provision({ topics: [{ name: topic, partitions: 1 }], queues: [], groups: [{ destination, group, deadLetter, retry: NO_RETRY }] });
    const handled: Envelope[] = [];
    const outcomes: Outcome[] = [];
    const pipeline = createConsumer({
      name: group, group, origin: destination, accepts: new Set(['Secret']), retry: NO_RETRY, timeoutMs: 10_000,
      headerPrefix: adapter.capabilities.headerPrefix, catalog, logger: createLogger({ level: 'silent' }),
      handle: async (envelope) => void handled.push(envelope),
    });
    const subscription = await adapter.subscribe({ destination, group, deadLetter, retry: NO_RETRY, concurrency: 1, prefetch: 10 }, async (delivery) => void outcomes.push(await pipeline(delivery)));

    const prefix = adapter.capabilities.headerPrefix;
    const sealed = (n: number): Promise<Envelope> => security.seal(publisher.envelopeOf('Secret', { n, card: '4111 1111 1111 1111' }));
    await publisher.publish('Secret', { n: 1, card: '4111 1111 1111 1111' });
    const tampered = await sealed(2);
    const cipher = Buffer.from(tampered.data as string, 'base64');
    cipher[3] = cipher[3]! ^ 0xff;
    const tamperedEnvelope = { ...tampered, data: cipher.toString('base64') };
    await adapter.publish(destination, [{ envelope: tamperedEnvelope }]);
    const unsigned = publisher.envelopeOf('Secret', { n: 3 });
    await adapter.publish(destination, [{ envelope: unsigned }]);
    const undecryptable = await stranger.seal(publisher.envelopeOf('Secret', { n: 4 }));
    await adapter.publish(destination, [{ envelope: undecryptable }]);
    const original = await sealed(5);
    await adapter.publish(destination, [{ envelope: original }]);
    await eventually(() => handled.length === 2, 30_000, () => `handled ${handled.length} of 2, outcomes ${outcomes.join(', ')}`);
    await adapter.publish(destination, [{ envelope: original }]); // the same signed bytes again: a replay
    const oversize = await publisher.publish('Secret', { n: 6, note: 'x'.repeat(5_000) });
    const malformedId = `malformed-${topic}`;
    await raw(topic, { [`${prefix}id`]: malformedId, [`${prefix}source`]: 'evil', [`${prefix}type`]: 'Secret', [`${prefix}specversion`]: '1.0', 'content-type': 'application/json' }, Buffer.from('{"n": 7, '));
    await publisher.publish('Secret', { n: 8 });

    await eventually(() => outcomes.length === 9, 60_000, () => `outcomes so far: ${outcomes.join(', ')}`);
    await subscription.stop();
    expect(handled.map((envelope) => envelope.data)).toEqual([{ n: 1, card: '4111 1111 1111 1111' }, { n: 5, card: '4111 1111 1111 1111' }, { n: 8 }]);
    expect(handled.every((envelope) => envelope.extensions === undefined)).toBe(true);
    expect(outcomes.filter((outcome) => outcome === 'dead-lettered')).toHaveLength(5);
    expect(outcomes.filter((outcome) => outcome === 'duplicate')).toHaveLength(1); // the replay

    let letters: DeadLetter[] = [];
    await eventually(async () => (letters = await adapter.deadLetters.list(deadLetter, { limit: 20 })).length === 5, 30_000, () => `${letters.length} dead letters`);
    const byId = new Map(letters.map((letter) => [letter.headers[`${prefix}id`] ?? letter.headers[`${prefix}id`.toLowerCase()], letter]));
    const reasonOf = (id: string) => {
      const letter = byId.get(id);
      return letter && { reason: letter.info.reason, error: letter.info.error };
    };
    expect(reasonOf(tampered.id)).toEqual({ reason: 'rejected', error: expect.stringMatching(/^bad signature \(key "s1"\)/) });
    expect(reasonOf(unsigned.id)).toEqual({ reason: 'rejected', error: `unsigned message: topic ${topic} requires a hmac-sha256 signature` });
    expect(reasonOf(undecryptable.id)).toEqual({ reason: 'rejected', error: expect.stringMatching(/^undecryptable with key "k2"/) });
    expect(reasonOf(original.id)).toBeUndefined();
    expect(reasonOf(oversize.id)).toEqual({ reason: 'rejected', error: expect.stringMatching(new RegExp(`^payload of \\d+ bytes is over the limit of 4096 bytes \\(maxPayload of topic ${topic}\\)$`)) });
    expect(reasonOf(malformedId)).toEqual({ reason: 'malformed', error: expect.stringMatching(/^the body is not JSON/) });
    // The dead letter keeps the bytes as they arrived, for an operator to inspect.
    expect(byId.get(tampered.id)!.body.equals(encodeBinary(tamperedEnvelope, prefix).body)).toBe(true);
    expect(byId.get(malformedId)!.body.toString()).toBe('{"n": 7, ');
  }, 120_000);

  it('an Ed25519-signed queue: consumers holding only the public key handle what the producer signed and dead-letter a changed or forged message', async () => {
    const queue = uniqueName('signed');
    const destination: DestinationRef = { kind: 'queue', name: queue };
    const yaml = (keys: string) => `
edaflow: 1
queues:
  ${queue}: { security: { sign: { algorithm: ed25519, keys: { e1: ${keys} } } } }
commands:
  Pay: { queue: ${queue}, schema: { type: object, required: [amount], properties: { amount: { type: integer } } } }
`;
    const exported = (pair: ReturnType<typeof generateKeyPairSync>) => ({ PUBLIC: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(), PRIVATE: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });
    const keys = exported(generateKeyPairSync('ed25519'));
    const producerDefinitions = await definitionsOf(yaml('{ publicKey: "${PUBLIC}", privateKey: "${PRIVATE}" }'), keys);
    const producer = MessageCatalog.build(producerDefinitions);
    const consumer = MessageCatalog.build(await definitionsOf(yaml('{ publicKey: "${PUBLIC}" }'), { PUBLIC: keys.PUBLIC }));
    const forger = MessageCatalog.build(await definitionsOf(yaml('{ publicKey: "${PUBLIC}", privateKey: "${PRIVATE}" }'), exported(generateKeyPairSync('ed25519'))));
    const plan = planMessaging(producerDefinitions);
    const publisher = new Publisher(producerDefinitions, producer, plan, new Map([[plan.brokerOf(destination), adapter]]));

    const group = 'payer';
    const deadLetter = `${queue}.dlq`;
    await adapter.provision({ topics: [], queues: [{ name: queue, deadLetter, maxDeliveries: 3 }], groups: [{ destination, group, deadLetter, retry: NO_RETRY }] });
    const handled: Envelope[] = [];
    const outcomes: Outcome[] = [];
    const pipeline = createConsumer({
      name: group, group, origin: destination, accepts: new Set(['Pay']), retry: NO_RETRY, timeoutMs: 10_000,
      headerPrefix: adapter.capabilities.headerPrefix, catalog: consumer, logger: createLogger({ level: 'silent' }),
      handle: async (envelope) => void handled.push(envelope),
    });
    const subscription = await adapter.subscribe({ destination, group, deadLetter, retry: NO_RETRY, concurrency: 1, prefetch: 10 }, async (delivery) => void outcomes.push(await pipeline(delivery)));

    await publisher.send('Pay', { amount: 10 }, { subject: 'account-1' });
    const changed = await producer.security.of(destination).seal(publisher.envelopeOf('Pay', { amount: 20 }, { subject: 'account-1' }));
    await adapter.publish(destination, [{ envelope: { ...changed, subject: 'account-2' } }]);
    const forged = await forger.security.of(destination).seal(publisher.envelopeOf('Pay', { amount: 30 }));
    await adapter.publish(destination, [{ envelope: forged }]);
    await eventually(() => outcomes.length === 3, 60_000, () => `outcomes so far: ${outcomes.join(', ')}`);
    await subscription.stop();
    expect(handled.map((envelope) => envelope.data)).toEqual([{ amount: 10 }]);

    let letters: DeadLetter[] = [];
    await eventually(async () => (letters = await adapter.deadLetters.list(deadLetter, { limit: 10 })).length === 2, 30_000, () => `${letters.length} dead letters`);
    expect(letters.map((letter) => [letter.info.reason, letter.info.error.split(':')[0]])).toEqual([['rejected', 'bad signature (key "e1")'], ['rejected', 'bad signature (key "e1")']]);
  }, 120_000);
});
