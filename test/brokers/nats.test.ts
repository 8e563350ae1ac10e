import { jetstreamManager, RetentionPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationRef, GroupSpec } from '../../runtime/brokers/adapter.js';
import { topicGroupDeadLetter } from '../../runtime/brokers/dead-letter.js';
import { NatsBroker } from '../../runtime/brokers/nats.js';
import { EdaflowError } from '../../runtime/errors/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { consume, eventually, NO_RETRY, ping, sleep, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';
import { startPrivateNatsServer } from './private-nats-server.js';

const URL = 'nats://127.0.0.1:4222';

/** NATS specifics the conformance suite does not pin down. */
describe('nats adapter', () => {
  const adapter = new NatsBroker('nats', { type: 'nats', servers: [URL] }, createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' }));

  beforeAll(async () => {
    await ensureServers(['nats']);
    await adapter.connect();
  });
  afterAll(() => adapter.close());

  async function topic(groups: readonly string[]): Promise<DestinationRef> {
    const destination: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
    const specs: GroupSpec[] = groups.map((group) => ({ destination, group, deadLetter: topicGroupDeadLetter(destination.name, group), retry: NO_RETRY }));
    await adapter.provision({ topics: [{ name: destination.name, partitions: 1 }], queues: [], groups: specs });
    return destination;
  }

  it('hands back what reaches a stopping subscriber\'s pull request once that pull has ended: to the next subscriber at once, delivered once more at most', async () => {
    const destination = await topic(['g']);
    const first = await consume(adapter, destination, 'g');
    await sleep(200); // its pull request now waits on the server
    const stopping = first.subscription.stop();
    await adapter.publish(destination, [ping(1)]);
    await stopping;
    expect(first.received).toEqual([]);
    const second = await consume(adapter, destination, 'g');
    await eventually(() => second.received.length === 1, 5_000, () => 'the message did not come back to the next subscriber');
    // Delivered once to the stopping pull, handed back after it ended: not into it again (each time a
    // delivery, until max_deliver), and not left to ack_wait.
    expect(second.received[0]!.attempt).toBe(2);
    await second.subscription.stop();
  });

  it('provisions idempotently and refuses a conflicting existing stream, naming the setting', async () => {
    const destination = await topic(['g']);
    await adapter.provision({ topics: [{ name: destination.name, partitions: 1 }], queues: [], groups: [] });
    const error = await adapter.provision({ topics: [{ name: destination.name, partitions: 1, retentionMs: 60_000 }], queues: [], groups: [] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EdaflowError);
    expect((error as EdaflowError).code).toBe('EDA_PROVISION_CONFLICT');
    expect((error as EdaflowError).message).toMatch(/max_age.*0.*60000/);

    const queue = uniqueName('queue');
    const nc = await connect({ servers: URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: `queue_${queue}`, subjects: [`edaflow.queue.${queue}`], retention: RetentionPolicy.Limits });
    } finally {
      await nc.close();
    }
    const conflict = await adapter.provision({ topics: [], queues: [{ name: queue, deadLetter: null, maxDeliveries: 5 }], groups: [] }).catch((e: unknown) => e);
    expect((conflict as EdaflowError).code).toBe('EDA_PROVISION_CONFLICT');
    expect((conflict as EdaflowError).message).toContain('retention');

    const missing = await adapter.publish({ kind: 'topic', name: uniqueName('never-provisioned') }, [ping(1)]).catch((e: unknown) => e);
    expect((missing as EdaflowError).code).toBe('EDA_UNKNOWN_TYPE');
  });

  it('acks go out at the end of the event-loop turn, and a close right after handling loses none (nothing waits for ack_wait)', async () => {
    const destination: DestinationRef = { kind: 'queue', name: uniqueName('acks') };
    const group: GroupSpec = { destination, group: 'workers', deadLetter: null, retry: NO_RETRY };
    await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: null, maxDeliveries: 5 }], groups: [group] });
    const consumer = new NatsBroker('nats-acks', { type: 'nats', servers: [URL] }, createLogger({ level: 'silent' }));
    await consumer.connect();
    let handled = 0;
    const waiters: [number, () => void][] = [];
    // Resolves at once when they were handled already (the publish's own await can outlast the handling).
    const handledAll = (count: number) => (handled >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push([count, resolve])));
    await consumer.subscribe({ ...group, prefetch: 50, concurrency: 10 }, async (delivery) => {
      await delivery.ack();
      handled++;
      for (const [count, resolve] of waiters) if (handled >= count) resolve();
    });
    let lag = -1;
    const settled = () => eventually(async () => (lag = await adapter.lag(group)) === 0, 5_000, () => `${lag} messages still unacknowledged (pending or awaiting an ack)`);
    await adapter.publish(destination, Array.from({ length: 50 }, (_, n) => ping(n)));
    await handledAll(50);
    await settled(); // the consumer still running: acks are not held for its stop
    await adapter.publish(destination, Array.from({ length: 50 }, (_, n) => ping(50 + n)));
    await handledAll(100);
    await consumer.close(); // at once: the last acks may still be waiting for the turn's end
    await settled();
  });

  it('holds a key while its message waits for a delayed retry; other keys go on', async () => {
    const destination = await topic(['ordered']);
    let failedOnce = false;
    const consumer = await consume(adapter, destination, 'ordered', {
      concurrency: 4,
      retry: { attempts: 3, backoff: 'fixed', delayMs: 500, maxDelayMs: 500, jitter: false },
      handler: async (envelope) => {
        if ((envelope.data as { n: number }).n === 0 && !failedOnce) {
          failedOnce = true;
          throw new Error('first attempt fails');
        }
      },
    });
    // Key a has fewer queued messages than the concurrency: KeyedLanes counts a task waiting for its
    // key's predecessor as running, so more of them would stall every key until the retry.
    await adapter.publish(destination, Array.from({ length: 7 }, (_, n) => ping(n, { key: n === 0 || n === 2 ? 'a' : 'b' })));
    await eventually(() => consumer.outcomes.filter((o) => o === 'handled').length === 7, 20_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    const sequence = (key: string): number[] => consumer.received.filter((r) => r.envelope.subject === key).map((r) => (r.envelope.data as { n: number }).n);
    expect(sequence('a')).toEqual([0, 0, 2]);
    expect(sequence('b')).toEqual([1, 3, 4, 5, 6]);
    const retried = consumer.received.filter((r) => (r.envelope.data as { n: number }).n === 0);
    expect(retried.map((r) => r.attempt)).toEqual([1, 2]);
    // Key b did not wait for key a's retry.
    const lastB = Math.max(...consumer.received.filter((r) => r.envelope.subject === 'b').map((r) => r.at));
    expect(lastB).toBeLessThan(retried[1]!.at);
    await consumer.subscription.stop();
  });

  it('retries a dead letter of a topic to the failing group only', async () => {
    const destination = await topic(['flaky', 'steady']);
    let broken = true;
    const flaky = await consume(adapter, destination, 'flaky', { handler: async () => { if (broken) throw new Error('down'); } });
    const steady = await consume(adapter, destination, 'steady');
    await adapter.publish(destination, [ping(1)]);
    await eventually(async () => (await adapter.deadLetters.count(flaky.deadLetter)) === 1, 20_000, () => 'not dead-lettered');
    broken = false;
    expect(await adapter.deadLetters.retryAll(flaky.deadLetter)).toBe(1);
    await eventually(() => flaky.outcomes.includes('handled'), 20_000, () => `flaky ${flaky.outcomes.join(',')}`);
    await sleep(500);
    expect(steady.received).toHaveLength(1);
    expect(await adapter.deadLetters.count(flaky.deadLetter)).toBe(0);
    await Promise.all([flaky.subscription.stop(), steady.subscription.stop()]);
  });

  it('purges dead letters older than a given age', async () => {
    const destination = await topic(['failing']);
    const consumer = await consume(adapter, destination, 'failing', { handler: async () => { throw new Error('always'); } });
    await adapter.publish(destination, [ping(1), ping(2)]);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 2, 20_000, () => 'not dead-lettered');
    await sleep(1_000);
    await adapter.publish(destination, [ping(3)]);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 3, 20_000, () => 'not dead-lettered');
    expect(await adapter.deadLetters.purge(consumer.deadLetter, { olderThanMs: 700 })).toBe(2);
    const [left] = await adapter.deadLetters.list(consumer.deadLetter);
    expect(JSON.parse(left!.body.toString())).toMatchObject({ n: 3 });
    expect(await adapter.deadLetters.purge(consumer.deadLetter)).toBe(1);
    await consumer.subscription.stop();
  });
});

/** The adapter when its server vanishes (a private server, killed): stopping and closing still end. */
describe('nats adapter during an outage', () => {
  it('stops a subscriber whose pull request can no longer end, and closes, within seconds', async () => {
    const server = await startPrivateNatsServer('');
    const broker = new NatsBroker('nats', { type: 'nats', servers: [server.url] }, createLogger({ level: process.env['EDAFLOW_LOG_LEVEL'] ?? 'silent' }));
    try {
      await broker.connect();
      const destination: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
      const group: GroupSpec = { destination, group: 'g', deadLetter: topicGroupDeadLetter(destination.name, 'g'), retry: NO_RETRY };
      await broker.provision({ topics: [{ name: destination.name, partitions: 1 }], queues: [], groups: [group] });
      const consumer = await consume(broker, destination, 'g');
      await sleep(200); // its pull request now waits on the server
      server.kill();
      await sleep(300);
      let started = Date.now();
      await consumer.subscription.stop();
      // The pull's expiry (2 s) and the grace after it (1 s), not the outage's length.
      expect(Date.now() - started).toBeLessThan(4_500);
      started = Date.now();
      await broker.close();
      expect(Date.now() - started).toBeLessThan(8_000);
    } finally {
      server.dispose();
    }
  }, 30_000);
});

