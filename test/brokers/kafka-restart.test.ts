import { afterAll, describe, expect, it } from 'vitest';
import type { DestinationRef } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { KafkaBroker } from '../../runtime/brokers/kafka.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { KAFKA_BROKERS, KAFKA_TEST_OPTIONS } from '../conformance/adapters/kafka.js';
import { consume, eventually, NO_RETRY, ping, sleep, uniqueName } from '../conformance/harness.js';
import { ensureServers, stopServer } from '../servers/servers.mjs';

/**
 * Stops the project-run Kafka (SIGTERM, data kept) mid-stream and starts it again: the producer and the
 * consumer group reconnect by themselves, every acknowledged publish is consumed, and the group resumes
 * from its committed offsets (redelivering at most what was handled but not yet committed).
 */
describe('kafka: a broker restart mid-stream', () => {
  const adapter = new KafkaBroker('kafka', { type: 'kafka', brokers: KAFKA_BROKERS, clientId: 'edaflow-kafka-restart' }, createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' }), KAFKA_TEST_OPTIONS);

  afterAll(async () => {
    await ensureServers(['kafka']);
    await adapter.close();
  }, 180_000);

  it('loses no acknowledged message', async () => {
    await ensureServers(['kafka']);
    await adapter.connect();
    const destination: DestinationRef = { kind: 'topic', name: uniqueName('restart') };
    await adapter.provision({ topics: [{ name: destination.name, partitions: 3 }], queues: [], groups: [{ destination, group: 'survivor', deadLetter: topicGroupDeadLetter(destination.name, 'survivor'), retry: NO_RETRY }] });
    const consumer = await consume(adapter, destination, 'survivor', { concurrency: 3, prefetch: 10 });
    const total = 200;
    let restarted: Promise<unknown> | undefined;
    let publishFailures = 0;
    for (let n = 0; n < total; n++) {
      if (n === 60) {
        await stopServer('kafka');
        restarted = ensureServers(['kafka']); // starting in the background while publishes fail
      }
      // Only an acknowledged publish counts: a failed one is sent again, as a caller would.
      for (;;) {
        try {
          await adapter.publish(destination, [ping(n, { key: `k${n % 7}` })]);
          break;
        } catch {
          publishFailures++;
          await sleep(200);
        }
      }
    }
    await restarted;
    const seen = (): Set<number> => new Set(consumer.received.map((r) => (r.envelope.data as { n: number }).n));
    await eventually(() => seen().size === total, 120_000, () => `consumed ${seen().size} of ${total}`);
    expect([...seen()].sort((a, b) => a - b)).toEqual([...Array(total).keys()]);
    console.log(`kafka restart: ${publishFailures} failed publish attempts, ${consumer.received.length - total} redeliveries`);
    await consumer.subscription.stop();
  }, 240_000);
});
