/**
 * Raw Kafka baseline with kafkajs: a topic with the same partitions, producer.send of each batch with
 * acks = -1 (as the adapter), one consumer group with eachMessage, partitionsConsumedConcurrently =
 * concurrency, JSON.parse, and kafkajs's own offset commits (autoCommit: committed after each batch of
 * eachMessage calls, the client's idiomatic coalescing; the adapter coalesces its commits too).
 * Both sides run kafkajs with edaflow's record codec (runtime/brokers/kafka/record-codec.ts: the same
 * bytes, much cheaper with headers), installed here before either side makes a request: one client
 * library for both, whichever side runs first.
 */
import kafkajs from 'kafkajs';
import { HEADER_PREFIX } from '../../dist/runtime/brokers/kafka/client.js';
import { installRecordCodec } from '../../dist/runtime/brokers/kafka/record-codec.js';
import { Acks, type Timing, chunks, rawMessages, type Workload } from './common.js';

/** Installs edaflow's record codec before any kafkajs request, so both sides of a benchmark use it; fails the benchmark when it cannot. */
export function codecForBothSides(bench: string): void {
  const codec = installRecordCodec();
  if (!codec.installed) throw new Error(`${bench} needs edaflow's record codec in kafkajs for both sides: ${codec.reason}`);
}

codecForBothSides('the Kafka bench');

export const KAFKA_BROKERS = [process.env['KAFKA_BROKERS'] ?? '127.0.0.1:9092'];
export const PARTITIONS = 6;
/** The conformance suite's short group timings (joins in milliseconds on one local broker), for both sides. */
export const GROUP_TIMINGS = { sessionTimeout: 6_000, heartbeatInterval: 200, rebalanceTimeout: 10_000, maxWaitTimeInMs: 100 };
/** fetch.min.bytes of both sides' consumers: BENCH_KAFKA_MIN_BYTES (1, Kafka's and kafkajs's default). */
export const MIN_BYTES = Number(process.env['BENCH_KAFKA_MIN_BYTES'] ?? 1);

export function kafkaClient(clientId: string): kafkajs.Kafka {
  return new kafkajs.Kafka({ clientId, brokers: KAFKA_BROKERS, logLevel: kafkajs.logLevel.NOTHING });
}

export async function raw(workload: Workload): Promise<Timing> {
  const kafka = kafkaClient('edaflow-bench-raw');
  const topic = workload.name;
  const admin = kafka.admin();
  await admin.connect();
  const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  const consumer = kafka.consumer({ groupId: `${topic}.raw`, allowAutoTopicCreation: false, ...GROUP_TIMINGS, minBytes: MIN_BYTES });
  try {
    await createTopic(admin, topic);
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const acks = new Acks(workload.messages, `kafka raw ${topic}`, workload.timeoutMs);
    const joined = new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, resolve));
    await consumer.run({
      partitionsConsumedConcurrently: workload.concurrency,
      eachMessage: async ({ message }) => {
        JSON.parse(message.value?.toString('utf8') ?? '');
        acks.ack();
      },
    });
    await joined;
    const batches = chunks(rawMessages(workload, HEADER_PREFIX).map(({ body, headers }) => ({ value: body, ...(headers ? { headers } : {}) })), workload.batch);
    acks.start();
    for (const batch of batches) await producer.send({ topic, acks: -1, messages: batch });
    acks.published();
    const timing = await acks.done;
    await consumer.stop();
    return timing;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await dropTopic(admin, topic, [`${topic}.raw`]);
    await admin.disconnect();
  }
}

/** Creates the topic and waits (bounded) until every partition has a leader: a loaded broker can take a while. */
async function createTopic(admin: kafkajs.Admin, topic: string): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: false });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    const partitions = metadata?.topics[0]?.partitions ?? [];
    if (partitions.length === PARTITIONS && partitions.every((partition) => partition.leader >= 0)) return;
    if (Date.now() > deadline) throw new Error(`kafka topic ${topic} has no leader for every partition after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function dropTopic(admin: kafkajs.Admin, topic: string, groups: readonly string[]): Promise<void> {
  await admin.deleteGroups([...groups]).catch(() => undefined);
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
}
