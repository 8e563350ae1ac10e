/**
 * Raw NATS JetStream baseline: the same work-queue stream (file storage) and durable pull consumer
 * (explicit ack) the adapter creates, js.publish pipelined per batch (every publish ack awaited),
 * consumer.consume() with max_messages = prefetch, JSON.parse, ack() (as the adapter: a plain ack, no
 * confirmation awaited; a lost one means a redelivery). Its handler is synchronous: `concurrency` has
 * nothing to bound. It publishes with js.publish(), as a user of the client would; the adapter does not
 * (runtime/brokers/nats/publisher.ts: js.publish() captures a stack trace per message).
 */
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { toNatsHeaders } from '../../dist/runtime/brokers/nats/wire.js';
import { Acks, type Timing, chunks, rawMessages, type Workload } from './common.js';

export const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';

export async function raw(workload: Workload): Promise<Timing> {
  // As the adapter: no stack captured per request (each publish is one).
  const nc = await connect({ servers: [NATS_URL], noAsyncTraces: true });
  const stream = workload.name.replace(/[^A-Za-z0-9_-]/g, '_');
  const subject = `bench.${stream}`;
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: 1 });
    await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 10_000 });
    const js = jetstream(nc);
    const acks = new Acks(workload.messages, `nats raw ${stream}`, workload.timeoutMs);
    const messages = await (await js.consumers.get(stream, 'workers')).consume({ max_messages: workload.prefetch });
    const consuming = (async () => {
      for await (const message of messages) {
        JSON.parse(message.string());
        message.ack();
        acks.ack();
      }
    })();
    // The same message: the adapter's CloudEvents headers, a message id for the stream's dedup and the expected stream.
    const batches = chunks(rawMessages(workload, 'ce-').map(({ body, headers }, n) => ({
      body, options: headers ? { headers: toNatsHeaders(headers), msgID: `${stream}.${n}`, expect: { streamName: stream } } : undefined,
    })), workload.batch);
    acks.start();
    for (const batch of batches) await Promise.all(batch.map(({ body, options }) => js.publish(subject, body, options)));
    acks.published();
    const timing = await acks.done;
    await messages.close();
    await consuming;
    await jsm.streams.delete(stream);
    return timing;
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}

/** Deletes streams the edaflow side provisioned. */
export async function dropStreams(streams: readonly string[]): Promise<void> {
  const nc = await connect({ servers: [NATS_URL] });
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  } finally {
    await nc.drain().catch(() => nc.close());
  }
}
