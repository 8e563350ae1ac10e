import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationRef } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { createBroker } from '../../runtime/brokers/index.js';
import { KafkaBroker } from '../../runtime/brokers/kafka.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { KAFKA_BROKERS, KAFKA_TEST_OPTIONS } from '../conformance/adapters/kafka.js';
import { consume, eventually, NO_RETRY, ping, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

/** What only Kafka shows: partitions, the `ce_` binary binding, dead letters over an append-only log. */
describe('kafka adapter', () => {
  const logger = createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'error' });
  const adapter = new KafkaBroker('kafka', { type: 'kafka', brokers: KAFKA_BROKERS, clientId: 'edaflow-kafka-test' }, logger, KAFKA_TEST_OPTIONS);
  const kafka = new kafkajs.Kafka({ clientId: 'edaflow-kafka-test-plain', brokers: KAFKA_BROKERS, logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();

  beforeAll(async () => {
    await ensureServers(['kafka']);
    await adapter.connect();
    await admin.connect();
  }, 180_000);

  afterAll(async () => {
    await adapter.close();
    await admin.disconnect();
  });

  async function topic(partitions: number, groups: readonly string[] = []): Promise<DestinationRef> {
    const destination: DestinationRef = { kind: 'topic', name: uniqueName('kt') };
    await adapter.provision({ topics: [{ name: destination.name, partitions }], queues: [], groups: groups.map((group) => ({ destination, group, deadLetter: topicGroupDeadLetter(destination.name, group), retry: NO_RETRY })) });
    return destination;
  }

  it('provisions idempotently and refuses a topic whose partition count differs, naming both values', async () => {
    const destination = await topic(3, ['billing']);
    await topic(3); // a second, unrelated topic: provisioning the first again below must not touch it
    await adapter.provision({ topics: [{ name: destination.name, partitions: 3 }], queues: [], groups: [] });
    const attempt = adapter.provision({ topics: [{ name: destination.name, partitions: 5 }], queues: [], groups: [] });
    const error = await attempt.then(() => undefined, (failure: unknown) => failure);
    expect(isEdaflowError(error, 'EDA_PROVISION_CONFLICT'), String(error)).toBe(true);
    expect((error as Error).message).toMatch(new RegExp(`${destination.name}.*partitions 3.*declare 5`));
    const [metadata] = (await admin.fetchTopicMetadata({ topics: [destination.name] })).topics;
    expect(metadata!.partitions).toHaveLength(3);
  });

  it('refuses a topic whose declared retention differs from the existing one', async () => {
    const name = uniqueName('kt');
    await adapter.provision({ topics: [{ name, partitions: 1, retentionMs: 3_600_000 }], queues: [], groups: [] });
    await adapter.provision({ topics: [{ name, partitions: 1, retentionMs: 3_600_000 }], queues: [], groups: [] });
    const error = await adapter.provision({ topics: [{ name, partitions: 1, retentionMs: 60_000 }], queues: [], groups: [] }).then(() => undefined, (failure: unknown) => failure);
    expect(isEdaflowError(error, 'EDA_PROVISION_CONFLICT'), String(error)).toBe(true);
    expect((error as Error).message).toContain('retention.ms 3600000');
  });

  it('writes binary-mode CloudEvents a plain Kafka consumer can read: ce_ headers, the key, JSON data', async () => {
    const destination = await topic(2);
    const message = ping(9, { key: 'order-9' });
    await adapter.publish(destination, [message]);
    const reader = kafka.consumer({ groupId: uniqueName('plain'), maxWaitTimeInMs: 100 });
    await reader.connect();
    await reader.subscribe({ topics: [destination.name], fromBeginning: true });
    const seen: kafkajs.KafkaMessage[] = [];
    await reader.run({ eachMessage: async ({ message: received }) => void seen.push(received) });
    await eventually(() => seen.length === 1, 20_000, () => 'nothing read');
    await reader.disconnect();
    const headers = Object.fromEntries(Object.entries(seen[0]!.headers ?? {}).map(([name, value]) => [name, String(value)]));
    expect(headers).toMatchObject({ ce_id: message.envelope.id, ce_type: 'Ping', ce_source: 'conformance', ce_specversion: '1.0', ce_subject: 'order-9', ce_dataversion: '2', 'content-type': 'application/json' });
    expect(seen[0]!.key?.toString()).toBe('order-9');
    expect(JSON.parse(seen[0]!.value!.toString())).toEqual({ n: 9, label: 'ping 9' });
  });

  it('starts a group added to a topic with history at the end, not at the beginning', async () => {
    const destination = await topic(1);
    await adapter.publish(destination, [ping(1), ping(2)]);
    await adapter.provision({ topics: [{ name: destination.name, partitions: 1 }], queues: [], groups: [{ destination, group: 'late', deadLetter: null, retry: NO_RETRY }] });
    const late = await consume(adapter, destination, 'late');
    await adapter.publish(destination, [ping(3)]);
    await eventually(() => late.received.length >= 1, 20_000, () => 'nothing received');
    expect(late.received.map((r) => (r.envelope.data as { n: number }).n)).toEqual([3]);
    await late.subscription.stop();
  });

  it('holds a key behind its retried message: a retry never lets a later message of the key overtake', async () => {
    const destination = await topic(2, ['ordered']);
    let failed = false;
    const consumer = await consume(adapter, destination, 'ordered', {
      concurrency: 2,
      retry: { attempts: 3, backoff: 'fixed', delayMs: 300, maxDelayMs: 300, jitter: false },
      handler: async (envelope) => {
        if ((envelope.data as { n: number }).n === 0 && !failed) {
          failed = true;
          throw new Error('first attempt fails');
        }
      },
    });
    await adapter.publish(destination, Array.from({ length: 6 }, (_, n) => ping(n, { key: 'a' })));
    await eventually(() => consumer.outcomes.filter((o) => o === 'handled').length === 6, 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    expect(consumer.received.map((r) => [(r.envelope.data as { n: number }).n, r.attempt])).toEqual([[0, 1], [0, 2], [1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
    await consumer.subscription.stop();
  });

  it('lets a rebalance proceed during a long retry wait: the message stays uncommitted and comes again', async () => {
    const destination = await topic(2, ['patient']);
    let failures = 0;
    const options = {
      retry: { attempts: 5, backoff: 'fixed', delayMs: 30_000, maxDelayMs: 30_000, jitter: false } as const,
      handler: async (): Promise<void> => {
        if (failures++ === 0) throw new Error('first attempt fails, then a 30 s backoff');
      },
    };
    const first = await consume(adapter, destination, 'patient', options);
    await adapter.publish(destination, [ping(1, { key: 'x' })]);
    await eventually(() => first.outcomes.includes('retried'), 20_000, () => `outcomes ${first.outcomes.join(',')}`);
    const joining = Date.now();
    const second = await consume(adapter, destination, 'patient', options);
    // Without giving the message up, the join would wait for the backoff or the 10 s rebalance timeout.
    expect(Date.now() - joining).toBeLessThan(5_000);
    const handled = (): number => [...first.outcomes, ...second.outcomes].filter((o) => o === 'handled').length;
    await eventually(() => handled() === 1, 20_000, () => `first ${first.outcomes.join(',')}, second ${second.outcomes.join(',')}`);
    // The new owner starts counting again: attempts live in the process that holds the partition.
    expect([...first.received, ...second.received].map((r) => r.attempt)).toEqual([1, 1]);
    await Promise.all([first.subscription.stop(), second.subscription.stop()]);
  });

  it('removes dead letters from the middle by marker and from the head by moving the log start', async () => {
    const destination = await topic(1, ['broken']);
    const consumer = await consume(adapter, destination, 'broken', { handler: async () => Promise.reject(new Error('always')) });
    await adapter.publish(destination, [ping(0), ping(1), ping(2)]);
    const dlq = consumer.deadLetter;
    await eventually(async () => (await adapter.deadLetters.count(dlq)) === 3, 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    await consumer.subscription.stop();
    const letters = await adapter.deadLetters.list(dlq);
    expect(letters.map((letter) => letter.id)).toEqual(['0:0', '0:1', '0:2']);

    // The middle one: Kafka cannot delete it, so a marker hides it; the log keeps all three records.
    await adapter.deadLetters.purge(dlq, { olderThanMs: 60_000 }); // none that old
    expect(await adapter.deadLetters.count(dlq)).toBe(3);
    await adapter.deadLetters.retry(dlq, '0:1');
    expect(await adapter.deadLetters.count(dlq)).toBe(2);
    expect((await adapter.deadLetters.list(dlq)).map((letter) => letter.id)).toEqual(['0:0', '0:2']);
    expect(await admin.fetchTopicOffsets(dlq)).toEqual([expect.objectContaining({ low: '0', high: '3' })]);

    // The head: 0:0 and the hidden 0:1 form a run from the log start, so DeleteRecords drops both.
    await adapter.deadLetters.purge(dlq, { olderThanMs: 0 });
    expect(await adapter.deadLetters.count(dlq)).toBe(0);
    expect(await admin.fetchTopicOffsets(dlq)).toEqual([expect.objectContaining({ low: '3', high: '3' })]);
    expect(await adapter.deadLetters.list(dlq)).toEqual([]);
    // The retried letter went back to the topic once, with its metadata headers stripped.
    const origin = await admin.fetchTopicOffsets(destination.name);
    expect(origin).toEqual([expect.objectContaining({ high: '4' })]);
  });

  it('refuses to publish to a topic that was never provisioned instead of auto-creating it', async () => {
    const error = await adapter.publish({ kind: 'topic', name: uniqueName('never') }, [ping(1)]).then(() => undefined, (failure: unknown) => failure);
    expect(isEdaflowError(error, 'EDA_UNKNOWN_DESTINATION'), String(error)).toBe(true);
  }, 60_000);

  it('holds a fetch as the broker\'s `fetch` declares: under minBytes, a message waits for maxWait', async () => {
    const held = await createBroker('kafka', { type: 'kafka', brokers: KAFKA_BROKERS, clientId: 'edaflow-kafka-test-fetch', fetch: { minBytes: 1_000_000, maxWait: '1500ms' } }, { logger });
    await held.connect();
    try {
      const destination = await topic(1);
      const consumer = await consume(held, destination, 'held');
      await adapter.publish(destination, [ping(1)]);
      await eventually(() => consumer.received.length === 1, 15_000, () => 'the first message was not delivered');
      // The member fetched again as soon as it had handled the first message; with less than minBytes
      // there, the broker answers that fetch only when maxWait is over (with minBytes 1: at once).
      const sent = Date.now();
      await adapter.publish(destination, [ping(2)]);
      await eventually(() => consumer.received.length === 2, 15_000, () => 'the second message was not delivered');
      expect(consumer.received[1]!.at - sent).toBeGreaterThanOrEqual(1_000);
      await consumer.subscription.stop();
    } finally {
      await held.close();
    }
  }, 60_000);

  it('names an unsupported SASL mechanism before connecting', () => {
    const create = (): KafkaBroker => new KafkaBroker('secure', { type: 'kafka', brokers: KAFKA_BROKERS, sasl: { mechanism: 'GSSAPI', username: 'u', password: 'p' } }, logger);
    expect(create).toThrow(/SASL mechanism "GSSAPI" is not supported/);
  });
});
