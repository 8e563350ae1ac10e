import net from 'node:net';
import { ChangeMessageVisibilityCommand, CreateQueueCommand, GetQueueAttributesCommand, GetQueueUrlCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DestinationRef } from '../../runtime/brokers/adapter.js';
import { SqsBroker } from '../../runtime/brokers/sqs.js';
import { physicalName, Queues } from '../../runtime/brokers/sqs/queues.js';
import { createEnvelope, encodeBinary } from '../../runtime/envelope/index.js';
import { isEdaflowError } from '../../runtime/errors/index.js';
import { createLogger } from '../../runtime/observability/logger.js';
import { consume, eventually, NO_RETRY, ping, sleep, uniqueName } from '../conformance/harness.js';
import { ensureServers } from '../servers/servers.mjs';

const ENDPOINT = 'http://127.0.0.1:9324';
const logger = createLogger({ level: 'silent' });
const raw = new SQSClient({ region: 'us-east-1', endpoint: ENDPOINT, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const brokers: SqsBroker[] = [];

async function broker(settings: { waitTimeSeconds?: number; leaseSeconds?: number } = {}, endpoint = ENDPOINT): Promise<SqsBroker> {
  const adapter = new SqsBroker('sqs', { type: 'sqs', region: 'us-east-1', endpoint }, { logger }, { waitTimeSeconds: 1, ...settings });
  brokers.push(adapter);
  await adapter.connect();
  return adapter;
}

async function queue(adapter: SqsBroker, maxDeliveries = 10): Promise<DestinationRef> {
  const destination: DestinationRef = { kind: 'queue', name: uniqueName('sqs') };
  await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries }], groups: [] });
  return destination;
}

async function queueUrl(name: string): Promise<string> {
  return `${ENDPOINT}/000000000000/${physicalName(name)}`;
}

/** Receives without settling, as a consumer that crashes right after the receive would. */
async function receiveRaw(name: string, visibility: number): Promise<ReceiveMessageCommandOutput> {
  return raw.send(new ReceiveMessageCommand({ QueueUrl: await queueUrl(name), VisibilityTimeout: visibility, WaitTimeSeconds: 1, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'], MessageSystemAttributeNames: ['All'] }));
}

beforeAll(async () => {
  await ensureServers(['sqs']);
}, 180_000);

afterAll(async () => {
  await Promise.all(brokers.map((adapter) => adapter.close()));
  raw.destroy();
});

describe('sqs broker', () => {
  it('declares that it has no topics and refuses them with EDA_TOPIC_ON_SQS', async () => {
    const adapter = await broker();
    expect(adapter.capabilities).toEqual({ headerPrefix: 'ce-', topics: false, brokerDelayedRetry: true, durable: true, topicHistory: true, lateAck: false });
    const topic: DestinationRef = { kind: 'topic', name: uniqueName('topic') };
    const refused = (error: unknown): boolean => isEdaflowError(error, 'EDA_TOPIC_ON_SQS');
    await expect(adapter.provision({ topics: [{ name: topic.name, partitions: 1 }], queues: [], groups: [] }).catch(refused)).resolves.toBe(true);
    await expect(adapter.publish(topic, [ping(1)]).catch(refused)).resolves.toBe(true);
    await expect(consume(adapter, topic, 'g').catch(refused)).resolves.toBe(true);
  });

  it('keeps a CloudEvent with many extensions, and its dead-letter metadata, within the 10-attribute limit', async () => {
    const adapter = await broker();
    const destination = await queue(adapter);
    const extensions = Object.fromEntries(Array.from({ length: 6 }, (_, n) => [`ext${n}`, `value ${n}`]));
    const envelope = {
      ...createEnvelope('Ping', { n: 1, label: 'one' }, 'conformance', { dataversion: 2, subject: 'k', causationid: 'cause-1', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }),
      extensions,
    };
    expect(Object.keys(encodeBinary(envelope, 'ce-').headers).length).toBeGreaterThan(10);
    const consumer = await consume(adapter, destination, 'workers', { handler: async () => Promise.reject(new Error('no')) });
    await adapter.publish(destination, [{ envelope }]);
    await eventually(async () => (await adapter.deadLetters.count(consumer.deadLetter)) === 1, 15_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    await consumer.subscription.stop();
    expect(consumer.received[0]!.envelope).toMatchObject({ id: envelope.id, subject: 'k', causationid: 'cause-1', correlationid: envelope.id, traceparent: envelope.traceparent, extensions });

    const [letter] = await adapter.deadLetters.list(consumer.deadLetter);
    expect(letter!.info).toMatchObject({ reason: 'failed', error: 'no', attempts: 1, origin: destination, group: 'workers' });
    expect(letter!.headers).toMatchObject({ 'ce-id': envelope.id, 'ce-ext5': 'value 5', 'ce-traceparent': envelope.traceparent });
    // On the wire: the core attributes one by one, everything else in one JSON attribute.
    const received = await receiveRaw(consumer.deadLetter, 0);
    const attributes = Object.keys(received.Messages?.[0]?.MessageAttributes ?? {}).sort();
    expect(attributes).toEqual(['ce-id', 'ce-source', 'ce-specversion', 'ce-subject', 'ce-time', 'ce-type', 'content-type', 'edaflow-headers']);
  });

  it('counts attempts on the server: a consumer that dies without settling leaves attempt 2 for the next one', async () => {
    // Its lease outlasts its 1 s stop, so the message is not received again (and released) before it goes.
    const crashing = await broker({ leaseSeconds: 3 });
    const destination = await queue(crashing);
    let seen = 0;
    // A delivery that is never settled is, for SQS, the same as a consumer killed mid-handler.
    const first = await crashing.subscribe({ destination, group: 'workers', deadLetter: `${destination.name}.dlq`, retry: NO_RETRY, concurrency: 1, prefetch: 1 }, async () => {
      seen++;
      throw new Error('process killed');
    });
    await crashing.publish(destination, [ping(1)]);
    await eventually(() => seen === 1, 10_000, () => 'first consumer saw nothing');
    await first.stop();
    await crashing.close();

    const restarted = await broker();
    const second = await consume(restarted, destination, 'workers');
    await eventually(() => second.received.length === 1, 15_000, () => 'not redelivered');
    expect(second.received[0]!.attempt).toBe(2);
    await second.subscription.stop();
  });

  it('extends the lease while a handler runs longer than the visibility timeout', async () => {
    const adapter = await broker({ leaseSeconds: 1 });
    const destination = await queue(adapter);
    const slow = await consume(adapter, destination, 'workers', { handler: async () => sleep(3_000) });
    const other = await consume(adapter, destination, 'workers');
    await adapter.publish(destination, [ping(1)]);
    await eventually(() => slow.outcomes.length + other.outcomes.length === 1, 15_000, () => 'not handled');
    await sleep(1_500);
    expect([...slow.received, ...other.received].map((r) => r.attempt)).toEqual([1]);
    await Promise.all([slow.subscription.stop(), other.subscription.stop()]);
  });

  it('upcasts and replays a dead letter to its origin queue (the topic cases, on a queue)', async () => {
    const adapter = await broker();
    const destination = await queue(adapter);
    let broken = true;
    const failing = await consume(adapter, destination, 'workers', {
      handler: async () => {
        if (broken) throw new Error('not yet');
      },
    });
    await adapter.publish(destination, [ping(5, { version: 1 })]);
    await eventually(async () => (await adapter.deadLetters.count(failing.deadLetter)) === 1, 15_000, () => `outcomes ${failing.outcomes.join(',')}`);
    expect(failing.received[0]!.envelope.data).toEqual({ n: 5, label: 'ping 5' });
    broken = false;
    const [letter] = await adapter.deadLetters.list(failing.deadLetter);
    await adapter.deadLetters.retry(failing.deadLetter, letter!.id);
    await eventually(() => failing.outcomes.includes('handled'), 15_000, () => `outcomes ${failing.outcomes.join(',')}`);
    expect(failing.received.at(-1)!.attempt).toBe(1);
    expect(await adapter.deadLetters.count(failing.deadLetter)).toBe(0);
    await failing.subscription.stop();
  });

  it('lists, retries and purges messages the RedrivePolicy moved without edaflow metadata', async () => {
    const adapter = await broker();
    const destination = await queue(adapter, 1);
    const dlq = `${destination.name}.dlq`;
    await adapter.publish(destination, [ping(1), ping(2)]);
    // maxReceiveCount = 1 + margin 3: the fifth receive finds the messages moved to the DLQ.
    for (let receive = 0; receive < 10 && (await adapter.deadLetters.count(dlq)) < 2; receive++) await receiveRaw(destination.name, 0);
    expect(await adapter.deadLetters.count(dlq)).toBe(2);
    const letters = await adapter.deadLetters.list(dlq);
    expect(letters.map((letter) => letter.info.origin)).toEqual([destination, destination]);
    expect(letters[0]!.info.error).toContain('RedrivePolicy');
    // Listing gives the messages back: listing again sees them both.
    expect((await adapter.deadLetters.list(dlq)).map((letter) => letter.id).sort()).toEqual(letters.map((letter) => letter.id).sort());
    await adapter.deadLetters.retry(dlq, letters[0]!.id);
    expect(await adapter.deadLetters.count(dlq)).toBe(1);
    expect(await adapter.deadLetters.purge(dlq, { olderThanMs: 60_000 })).toBe(0);
    expect(await adapter.deadLetters.purge(dlq)).toBe(1);
    expect(await adapter.deadLetters.count(dlq)).toBe(0);
    const back = await receiveRaw(destination.name, 30);
    expect(back.Messages).toHaveLength(1);
  });

  it('provisions idempotently and names a conflicting setting', async () => {
    const adapter = await broker();
    const destination = await queue(adapter, 3);
    await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries: 3 }], groups: [] });
    const conflict = await adapter.provision({ topics: [], queues: [{ name: destination.name, deadLetter: `${destination.name}.dlq`, maxDeliveries: 5 }], groups: [] }).catch((error: unknown) => error);
    expect(isEdaflowError(conflict, 'EDA_PROVISION_CONFLICT')).toBe(true);
    expect((conflict as Error).message).toMatch(/RedrivePolicy .*"maxReceiveCount":6/);
    // A queue made by hand without a RedrivePolicy lacks the safety net: also a conflict.
    const bare = uniqueName('sqs');
    await raw.send(new CreateQueueCommand({ QueueName: bare }));
    const missing = await adapter.provision({ topics: [], queues: [{ name: bare, deadLetter: `${bare}.dlq`, maxDeliveries: 3 }], groups: [] }).catch((error: unknown) => error);
    expect((missing as Error).message).toContain('exists with RedrivePolicy (none)');
  });

  it('compares the retention a server reports (ElasticMQ reports none, so this runs against a stub of AWS)', async () => {
    const awsLike = {
      send: async (command: object) => {
        if (command instanceof GetQueueUrlCommand) return { QueueUrl: 'https://sqs.eu-west-1.amazonaws.com/1/orders' };
        if (command instanceof GetQueueAttributesCommand) return { Attributes: { MessageRetentionPeriod: '3600' } };
        throw new Error(`unexpected ${command.constructor.name}`);
      },
    } as unknown as SQSClient;
    const queues = new Queues(awsLike, 'sqs');
    const provision = (messageTtlMs: number): Promise<void> => queues.provision({ topics: [], queues: [{ name: 'orders', deadLetter: null, maxDeliveries: 3, messageTtlMs }], groups: [] });
    await expect(provision(3_600_000)).resolves.toBeUndefined();
    await expect(provision(7_200_000)).rejects.toThrow('queue orders on broker sqs exists with MessageRetentionPeriod 3600, but the definitions declare 7200');
  });

  it('keeps consuming after the broker was unreachable, losing nothing acknowledged', async () => {
    const proxy = await tcpProxy(9324);
    const adapter = await broker({}, `http://127.0.0.1:${proxy.port}`);
    const destination = await queue(adapter);
    const consumer = await consume(adapter, destination, 'workers');
    await adapter.publish(destination, [ping(1)]);
    await eventually(() => consumer.received.length === 1, 10_000, () => 'first message not handled');
    await proxy.stop();
    await sleep(2_000);
    const direct = await broker();
    await direct.publish(destination, [ping(2), ping(3)]);
    await proxy.start();
    await eventually(() => consumer.received.length === 3, 30_000, () => `handled ${consumer.received.length}`);
    expect(consumer.received.map((r) => (r.envelope.data as { n: number }).n).sort()).toEqual([1, 2, 3]);
    await consumer.subscription.stop();
  }, 60_000);

  it('rounds a retry delay up to whole seconds, never shortening it', async () => {
    const adapter = await broker();
    const destination = await queue(adapter);
    await adapter.publish(destination, [ping(1)]);
    const [message] = (await receiveRaw(destination.name, 30)).Messages ?? [];
    await raw.send(new ChangeMessageVisibilityCommand({ QueueUrl: await queueUrl(destination.name), ReceiptHandle: message!.ReceiptHandle!, VisibilityTimeout: 0 }));
    const consumer = await consume(adapter, destination, 'workers', {
      retry: { attempts: 5, backoff: 'fixed', delayMs: 1_200, maxDelayMs: 1_200, jitter: false },
      handler: async (_envelope, context) => {
        if (context.attempt < 3) throw new Error('again');
      },
    });
    await eventually(() => consumer.received.length === 2, 15_000, () => 'no retry');
    expect(consumer.received.map((r) => r.attempt)).toEqual([2, 3]);
    expect(consumer.received[1]!.at - consumer.received[0]!.at).toBeGreaterThanOrEqual(1_900);
    await consumer.subscription.stop();
  });

  it('maps edaflow names to valid SQS queue names', () => {
    expect(physicalName('shipping.dlq')).toBe('shipping_dlq');
    expect(physicalName(physicalName('a.b'))).toBe('a_b');
    const long = physicalName(`${'x'.repeat(100)}.dlq`);
    expect(long).toHaveLength(80);
    expect(long).not.toBe(physicalName(`${'x'.repeat(100)}_dlq`));
  });

  it('accepts a message sent by a foreign producer with its own attributes', async () => {
    const adapter = await broker();
    const destination = await queue(adapter);
    const consumer = await consume(adapter, destination, 'workers');
    const wire = encodeBinary(ping(9).envelope, 'ce-');
    const MessageAttributes = Object.fromEntries(Object.entries(wire.headers).filter(([name]) => !['ce-correlationid'].includes(name)).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]));
    await raw.send(new SendMessageCommand({ QueueUrl: await queueUrl(destination.name), MessageBody: wire.body.toString(), MessageAttributes }));
    await eventually(() => consumer.received.length === 1, 10_000, () => `outcomes ${consumer.outcomes.join(',')}`);
    expect(consumer.received[0]!.envelope.data).toEqual({ n: 9, label: 'ping 9' });
    await consumer.subscription.stop();
  });
});

/** A TCP forwarder that can be stopped and started on the same port: an outage without touching the shared server. */
async function tcpProxy(target: number): Promise<{ port: number; stop(): Promise<void>; start(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let server: net.Server;
  let port = 0;
  const start = async (): Promise<void> => {
    server = net.createServer((client) => {
      const upstream = net.connect(target, '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  };
  await start();
  return {
    port,
    start,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
