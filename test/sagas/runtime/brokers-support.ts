import { randomUUID } from 'node:crypto';
import { basename, join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import amqp from 'amqplib';
import kafkajs from 'kafkajs';
import type { Topology } from '../../../runtime/brokers/adapter.js';
import { consumedQueue } from '../../../runtime/brokers/rabbitmq/wire.js';
import { diskFileSystem, loadDefinitions, type DefinitionsFileSystem, type Definitions } from '../../../runtime/definitions/index.js';
import { KAFKA_BROKERS } from '../../conformance/adapters/kafka.js';
import { RABBITMQ_URL } from '../../conformance/adapters/rabbitmq.js';
import { EXAMPLE_DIR } from './support.js';

export type ExampleBroker = 'rabbitmq' | 'nats' | 'kafka' | 'memory';

export const NATS_URL = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';

/** The example's topics and its queue: each run gets its own copies on the shared servers. */
const TOPICS = ['orders', 'inventory', 'payments', 'shipping-events', 'analytics'] as const;
const QUEUES = ['shipping'] as const;

/** The README's "Brokers" file: every topic and queue of the example on one broker named `main`. */
function brokersYaml(broker: ExampleBroker, run: string): string {
  const main = {
    rabbitmq: `{ type: rabbitmq, url: "${RABBITMQ_URL}" }`,
    nats: `{ type: nats, servers: ["${NATS_URL}"] }`,
    kafka: `{ type: kafka, brokers: ${JSON.stringify(KAFKA_BROKERS)}, clientId: saga-brokers-${run} }`,
    memory: '{ type: memory }',
  }[broker];
  return `edaflow: 1\nbrokers:\n  main: ${main}\ndefaults:\n  broker: main\n`;
}

/**
 * Renames the example's topics and queue to `<name>-<run>`: their declarations (two-space keys under
 * `topics:`/`queues:`) and every `topic:`, `from:` and `queue:` reference (with a `.dlq` suffix kept).
 * Kafka topics, JetStream streams and RabbitMQ queues outlive a run, so fixed names would hand one run's
 * leftover messages to the next (or share a consumer group with a concurrent run).
 */
function renameDestinations(yaml: string, run: string): string {
  const names = [...TOPICS, ...QUEUES].sort((a, b) => b.length - a.length).join('|');
  return yaml
    .replace(new RegExp(`^  (${names}):`, 'gm'), `  $1-${run}:`)
    .replace(new RegExp(`\\b(topic|from|queue): (${names})(\\.dlq)?(?![\\w-])`, 'g'), `$1: $2-${run}$3`);
}

/** The example definitions, moved to `broker` by an added brokers file, with this run's own destinations. */
export async function exampleOnBroker(broker: ExampleBroker, run: string): Promise<Definitions> {
  const brokersFile = join(EXAMPLE_DIR, `brokers-${run}.yaml`);
  const fileSystem: DefinitionsFileSystem = {
    list: (root) => [...diskFileSystem.list(root), brokersFile].sort(),
    read: (path) => (path === brokersFile ? brokersYaml(broker, run) : /\.ya?ml$/.test(basename(path)) ? renameDestinations(diskFileSystem.read(path), run) : diskFileSystem.read(path)),
  };
  const result = await loadDefinitions(EXAMPLE_DIR, { fileSystem });
  if (!result.definitions || result.errorCount) throw new Error(`the example on ${broker} is invalid: ${JSON.stringify(result.diagnostics, null, 2)}`);
  const definitions = result.definitions;
  // The renaming is textual: check it caught every declaration (a missed reference fails to load above).
  const declared = [...definitions.topics.keys(), ...definitions.queues.keys()].sort();
  const expected = [...TOPICS, ...QUEUES].map((name) => `${name}-${run}`).sort();
  if (JSON.stringify(declared) !== JSON.stringify(expected)) throw new Error(`renamed destinations ${declared.join(', ')}; expected ${expected.join(', ')}`);
  return definitions;
}

export function newRun(): string {
  return `sb${Date.now().toString(36)}${randomUUID().slice(0, 4)}`;
}

/**
 * Deletes what the run provisioned on the shared server (every name carries `run`): Kafka topics, groups
 * and JetStream streams by listing them, RabbitMQ exchanges and queues from the topology (RabbitMQ retry
 * queues expire by themselves).
 */
export async function removeRunDestinations(broker: ExampleBroker, run: string, topology: Topology | undefined): Promise<void> {
  if (broker === 'kafka') {
    const admin = new kafkajs.Kafka({ clientId: `saga-brokers-cleanup-${run}`, brokers: KAFKA_BROKERS, logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topics = (await admin.listTopics()).filter((topic) => topic.includes(run));
      if (topics.length) await admin.deleteTopics({ topics });
      // Consumer groups are named after their topics; emptied, they would otherwise linger for days.
      const groups = (await admin.listGroups()).groups.map((group) => group.groupId).filter((id) => id.includes(run));
      if (groups.length) await admin.deleteGroups(groups);
    } finally {
      await admin.disconnect();
    }
  } else if (broker === 'nats') {
    const connection = await connectNats({ servers: NATS_URL });
    try {
      const manager = await jetstreamManager(connection);
      for await (const name of manager.streams.names()) if (name.includes(run)) await manager.streams.delete(name);
    } finally {
      await connection.close();
    }
  } else if (broker === 'rabbitmq' && topology) {
    const connection = await amqp.connect(RABBITMQ_URL);
    try {
      const channel = await connection.createChannel();
      const queues = new Set<string>();
      for (const queue of topology.queues) [queue.name, queue.deadLetter].forEach((name) => name && queues.add(name));
      for (const group of topology.groups) [consumedQueue(group.destination, group.group), group.deadLetter].forEach((name) => name && queues.add(name));
      for (const queue of queues) await channel.deleteQueue(queue);
      for (const topic of topology.topics) await channel.deleteExchange(topic.name);
    } finally {
      await connection.close();
    }
  }
}
