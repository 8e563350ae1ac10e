import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerAdapter, Delivery, DestinationRef } from '../../runtime/brokers/adapter.js';
import { socketOptions } from '../../runtime/brokers/rabbitmq/connection.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { RABBITMQ_URL, rabbitmqUnderTest } from '../conformance/adapters/rabbitmq.js';
import { consume, eventually, NO_RETRY, ping, RUN, sleep, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

const run = promisify(execFile);

/** Drops the AMQP connections of one adapter (by the client name it announces), as a network failure would. */
async function dropConnections(adapterName: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', '-q', 'pid', 'client_properties']);
  const pids = stdout.split('\n').filter((line) => line.includes(`"edaflow:${adapterName}"`)).map((line) => line.split('\t')[0]!);
  for (const pid of pids) await run('rabbitmqctl', ['close_connection', pid, 'test: simulated failure']);
  return pids.length;
}

describe('rabbitmq adapter', () => {
  let adapter: BrokerAdapter;
  const adapterName = `rabbitmq-${RUN}`;

  beforeAll(async () => {
    await ensureServers(['rabbitmq']);
    adapter = rabbitmqUnderTest(adapterName);
    await adapter.connect();
  }, 180_000);

  afterAll(async () => {
    await adapter?.close();
  });

  async function queue(maxDeliveries = 10): Promise<DestinationRef> {
    const destination: DestinationRef = { kind: 'queue', name: uniqueName('rq') };
    await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries }], groups: [] });
    return destination;
  }

  it('turns Nagle off: coalesced acks and publish batches go out at once, not after the broker\'s delayed ACK', () => {
    // With Nagle on, bench:brokers published 4× slower with a consumer acking on the same connection.
    expect(socketOptions('any', { type: 'rabbitmq', url: RABBITMQ_URL })).toMatchObject({ noDelay: true, clientProperties: { connection_name: 'edaflow:any' } });
  });

  it('provisions idempotently and refuses a conflicting setting, naming it with both values', async () => {
    const destination = await queue(10);
    await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries: 10 }], groups: [] });
    const error = await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries: 5 }], groups: [] }).catch((e: unknown) => e);
    expect(isEdaflowError(error, 'EDA_PROVISION_CONFLICT')).toBe(true);
    expect((error as Error).message).toMatch(/x-delivery-limit.*5.*10/);
    // the adapter stays usable after the channel the conflict closed
    await adapter.publish(destination, [ping(1)]);
    expect(await adapter.deadLetters.count(`${destination.name}.dlq`)).toBe(0);
  });

  it('refuses to publish to a queue that was never provisioned', async () => {
    const error = await adapter.publish({ kind: 'queue', name: uniqueName('missing') }, [ping(1)]).catch((e: unknown) => e);
    expect(isEdaflowError(error, 'EDA_UNKNOWN_TYPE')).toBe(true);
  });

  it('counts attempts in the broker: a delivery lost with its connection comes back as the next attempt', async () => {
    const destination = await queue();
    const attempts: number[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const subscription = await adapter.subscribe({ destination, group: 'workers', deadLetter: `${destination.name}.dlq`, retry: NO_RETRY, concurrency: 2, prefetch: 2 }, async (delivery: Delivery) => {
      attempts.push(delivery.attempt);
      if (delivery.attempt === 1) return delivery.retry(100);
      if (delivery.attempt === 2) return held; // never settled: the connection drops under it
      await delivery.ack();
    });
    try {
      await adapter.publish(destination, [ping(1)]);
      await eventually(() => attempts.length === 2, 10_000, () => `attempts ${attempts.join(',')}`);
      expect(await dropConnections(adapterName)).toBeGreaterThan(0);
      await eventually(() => attempts.length === 3, 30_000, () => `attempts ${attempts.join(',')}`);
      expect(attempts).toEqual([1, 2, 3]);
    } finally {
      release();
      await subscription.stop();
    }
  }, 60_000);

  it('does not hold a short retry behind a long one (delay tiers)', async () => {
    const destination = await queue();
    // message 0 is retried after 5 s, message 1 after 200 ms: the second must not wait for the first
    const attempts: { n: number; attempt: number; at: number }[] = [];
    const start = Date.now();
    const subscription = await adapter.subscribe({ destination, group: 'workers', deadLetter: `${destination.name}.dlq`, retry: NO_RETRY, concurrency: 2, prefetch: 2 }, async (delivery) => {
      const n = (JSON.parse(delivery.body.toString()) as { n: number }).n;
      attempts.push({ n, attempt: delivery.attempt, at: Date.now() - start });
      if (delivery.attempt === 1) return delivery.retry(n === 0 ? 5_000 : 200);
      await delivery.ack();
    });
    await adapter.publish(destination, [ping(0), ping(1)]);
    await eventually(() => attempts.some((a) => a.n === 1 && a.attempt === 2), 4_000, () => JSON.stringify(attempts));
    await eventually(() => attempts.some((a) => a.n === 0 && a.attempt === 2), 10_000, () => JSON.stringify(attempts));
    const back = attempts.find((a) => a.n === 0 && a.attempt === 2)!;
    expect(back.at).toBeGreaterThanOrEqual(4_900);
    await subscription.stop();
  }, 30_000);

  it('lists without removing, retries all back to the origin, and purges by age', async () => {
    const destination = await queue();
    let broken = true;
    const consumer = await consume(adapter, destination, 'workers', {
      handler: async () => {
        if (broken) throw new Error('down');
      },
    });
    await adapter.publish(destination, [ping(1), ping(2), ping(3)]);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 3, 10_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    const listed = await adapter.deadLetters.list(consumer.deadLetter, { limit: 2 });
    expect(listed.map((l) => (JSON.parse(l.body.toString()) as { n: number }).n)).toEqual([1, 2]);
    expect(listed[0]!.info).toMatchObject({ reason: 'failed', error: 'down', origin: destination, group: 'workers' });
    expect(await adapter.deadLetters.count(consumer.deadLetter)).toBe(3);
    const again = await adapter.deadLetters.list(consumer.deadLetter);
    expect(again.map((l) => l.id)).toEqual([...listed.map((l) => l.id), again[2]!.id]);
    broken = false;
    expect(await adapter.deadLetters.retryAll(consumer.deadLetter)).toBe(3);
    await eventually(() => consumer.outcomes.filter((o) => o === 'handled').length === 3, 10_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    // replayed letters start over at attempt 1
    expect(consumer.received.slice(3).map((r) => r.attempt)).toEqual([1, 1, 1]);
    expect(await adapter.deadLetters.count(consumer.deadLetter)).toBe(0);

    broken = true;
    await adapter.publish(destination, [ping(4), ping(5)]);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 2, 10_000, () => 'not dead-lettered');
    expect(await adapter.deadLetters.purge(consumer.deadLetter, { olderThanMs: 60_000 })).toBe(0);
    await sleep(20);
    expect(await adapter.deadLetters.purge(consumer.deadLetter, { olderThanMs: 0 })).toBe(2);
    expect(await adapter.deadLetters.count(consumer.deadLetter)).toBe(0);
    await consumer.subscription.stop();
  }, 30_000);

  it('dead-letters a message the broker gave up on (x-delivery-limit) and can replay it', async () => {
    const destination = await queue(2);
    await adapter.publish(destination, [ping(9)]);
    // a consumer that keeps dying: nack with requeue, as a crashed process's channel would return it
    const connection = await amqp.connect(RABBITMQ_URL);
    try {
      const channel = await connection.createChannel();
      for (let n = 0; n < 3; n++) {
        const message = await channel.get(destination.name);
        if (message) channel.nack(message, false, true);
        await sleep(50);
      }
    } finally {
      await connection.close();
    }
    const dlq = `${destination.name}.dlq`;
    await eventually(async () => (await adapter.deadLetters.count(dlq)) === 1, 10_000, () => 'not dead-lettered by the broker');
    const [letter] = await adapter.deadLetters.list(dlq);
    expect(letter!.info.origin).toEqual(destination);
    expect(letter!.info.error).toContain('RabbitMQ');
    await adapter.deadLetters.retry(dlq, letter!.id);
    const consumer = await consume(adapter, destination, 'workers');
    await eventually(() => consumer.outcomes.includes('handled'), 10_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    expect(consumer.received[0]!.attempt).toBe(1);
    await consumer.subscription.stop();
  }, 30_000);
});
